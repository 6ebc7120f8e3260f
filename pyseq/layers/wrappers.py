"""TimeDistributed: a layer applied to every time step (as one call over B*T rows)."""

import numpy as np

from .base import Layer, serialize
from .core import check_rank
from .normalization import BatchNormalization


class TimeDistributed(Layer):
    """Applies ``layer`` to each slice x[:, t]; the inner layer sees (B*T, ...) in one call."""

    _nested_layer_keys = ("layer",)

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"[{self.name}] wraps a Layer, got {type(layer).__name__}")
        self.layer = self.track(layer)

    def get_config(self):
        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    def build(self, input_shape):
        check_rank(self, input_shape, min_rank=3)
        self.layer._maybe_build((input_shape[0],) + tuple(input_shape[2:]))

    def compute_output_shape(self, input_shape, **kwargs):
        check_rank(self, input_shape, min_rank=3)
        inner = self.layer.compute_output_shape((input_shape[0],) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def _per_step(self, training):
        # BatchNormalization in training normalises over its batch: Keras's TimeDistributed calls
        # it once per step (per-step statistics, one moving-average update per step), so it runs
        # step by step here too; every other layer treats rows alike and sees all B*T at once.
        return training and self.layer.trainable and isinstance(self.layer, BatchNormalization)

    def forward(self, inputs, *, training=False, mask=None):
        x = inputs
        if x.ndim < 3:
            raise ValueError(f"[{self.name}] (TimeDistributed) expects inputs of rank >= 3, got "
                             f"shape {x.shape}")
        B, T = x.shape[:2]
        mask = None if mask is None else np.asarray(mask)
        if self._per_step(training):
            steps = [self.layer.forward(x[:, t], training=training,
                                        mask=None if mask is None else mask[:, t])
                     for t in range(T)]
            y = np.stack([y_t for y_t, _ in steps], axis=1)
            return y, ([c for _, c in steps], x.shape, None)
        inner = {}
        if mask is not None and mask.ndim > 2:
            # Keras hands each step's mask slice to the inner layer (an Embedding's 3-D mask
            # reaches a TimeDistributed(LSTM) as one (B, W) mask per step); here all steps at once
            inner["mask"] = mask.reshape((B * T,) + mask.shape[2:])
        y, cache = self.layer.forward(x.reshape((B * T,) + x.shape[2:]), training=training,
                                      **inner)
        return y.reshape((B, T) + y.shape[1:]), (cache, x.shape, y.shape)

    def backward(self, cache, d_outputs):
        inner, in_shape, out_shape = cache
        if d_outputs is None:
            return {}, []
        if out_shape is None:  # step by step (see _per_step): the weights' gradients add up
            total, dxs = {}, []
            for t, step_cache in enumerate(inner):
                d_args, grads = self.layer.backward(step_cache, d_outputs[:, t])
                dxs.append(d_args.get("inputs"))
                for var, g in grads:
                    total[id(var)] = (var, g if id(var) not in total else total[id(var)][1] + g)
            dx = None if any(d is None for d in dxs) else np.stack(dxs, axis=1)
            return {"inputs": dx}, list(total.values())
        d_args, grads = self.layer.backward(inner, d_outputs.reshape(out_shape))
        dx = d_args.get("inputs")
        return {"inputs": None if dx is None else dx.reshape(in_shape)}, grads
