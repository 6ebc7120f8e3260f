"""The optimizer base: clipping, learning rate (float or schedule), weight decay, iterations,
per-variable slots; subclasses give ``update_step`` with Keras 3's arithmetic, in place."""

import numpy as np

from .schedules import LearningRateSchedule


def _positive_or_none(name, v):
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
        raise ValueError(f"[optimizer] {name} must be a positive number or None, got {v!r}")
    return None if v is None else float(v)


class Optimizer:
    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        unknown = set(kwargs) - {"use_ema", "ema_momentum", "ema_overwrite_frequency",
                                 "loss_scale_factor", "gradient_accumulation_steps"}
        if unknown:
            raise TypeError(f"[{type(self).__name__}] unexpected argument(s): {sorted(unknown)}")
        if kwargs.get("use_ema") or kwargs.get("gradient_accumulation_steps"):
            raise ValueError(f"[{type(self).__name__}] use_ema and gradient_accumulation_steps "
                             "are not supported by pyseq")
        self.name = name or type(self).__name__.lower()
        self.weight_decay = weight_decay
        self.clipnorm = _positive_or_none("clipnorm", clipnorm)
        self.clipvalue = _positive_or_none("clipvalue", clipvalue)
        self.global_clipnorm = _positive_or_none("global_clipnorm", global_clipnorm)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(f"[{type(self).__name__}] give clipnorm or global_clipnorm, not both")
        self.learning_rate = learning_rate
        self.iterations = 0
        self._slots = {}
        self._exclude = set()

    # -- learning rate ---------------------------------------------------------------------
    @property
    def learning_rate(self):
        if isinstance(self._learning_rate, LearningRateSchedule) or callable(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if not (isinstance(value, LearningRateSchedule) or callable(value)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                raise TypeError(f"[{type(self).__name__}] learning_rate must be a float or a "
                                f"schedule, got {value!r}")
            value = float(value)
        self._learning_rate = value

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        for v in var_list or []:
            self._exclude.add(id(v))
        self._exclude_names = list(var_names or [])

    # -- state -----------------------------------------------------------------------------
    def slot(self, var, name):
        """A zero-initialised array shaped like ``var`` kept for this optimizer."""
        key = (id(var), name)
        s = self._slots.get(key)
        if s is None:
            s = np.zeros_like(var.value)
            self._slots[key] = s
        return s

    # -- applying gradients ----------------------------------------------------------------
    def _clip(self, grads):
        if self.clipnorm:
            out = []
            for g in grads:
                if g is None:
                    out.append(g)
                    continue
                norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
                out.append(g * g.dtype.type(self.clipnorm / max(norm, self.clipnorm))
                           if norm > 0 else g)
            return out
        if self.global_clipnorm:
            norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64))
                                     for g in grads if g is not None)))
            scale = self.global_clipnorm * min(1.0 / norm if norm > 0 else np.inf,
                                               1.0 / self.global_clipnorm)
            return [None if g is None else g * g.dtype.type(scale) for g in grads]
        if self.clipvalue:
            v = self.clipvalue
            return [None if g is None else np.clip(g, -v, v) for g in grads]
        return grads

    def apply(self, grads, trainable_variables):
        """Update the variables in place from ``grads`` (NumPy arrays aligned with them)."""
        grads = list(grads)
        variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(f"[{type(self).__name__}.apply] got {len(grads)} gradients for "
                             f"{len(variables)} variables")
        for g, v in zip(grads, variables):
            if g is not None and np.shape(g) != v.shape:
                raise ValueError(f"[{type(self).__name__}.apply] gradient of shape "
                                 f"{np.shape(g)} for {v.name} of shape {v.shape}")
        grads = [None if g is None else np.asarray(g, dtype=v.dtype)
                 for g, v in zip(grads, variables)]
        grads = self._clip(grads)
        lr = self.learning_rate
        if self.weight_decay:
            names = getattr(self, "_exclude_names", [])
            for g, v in zip(grads, variables):
                if g is None or id(v) in self._exclude or any(n in v.name for n in names):
                    continue
                v.value -= v.value * v.dtype.type(self.weight_decay * lr)
        for g, v in zip(grads, variables):
            if g is not None:
                self.update_step(g, v, lr)
        # Keras: a variable's constraint projects it after the update
        for g, v in zip(grads, variables):
            if g is not None and getattr(v, "constraint", None) is not None:
                v.assign(v.constraint(v.value))
        self.iterations += 1

    def apply_gradients(self, grads_and_vars):
        """Keras's form: ``apply_gradients(zip(grads, variables))``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self.iterations

    def update_step(self, gradient, variable, learning_rate):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "learning_rate": self._learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}
