"""Keras ``MultiHeadAttention``: NumPy projections around one fused attention call.

The query/key/value projections are single (B·L, dim) x (dim, N·D) products whose results,
reshaped without a copy, are the (B, L, N, D) layout ``ops.attention_forward`` takes; the
output projection reads the op's (B, Lq, N, Dv) result the same way. Weights and their order
are Keras's: query kernel (dim, N, key_dim) and bias (N, key_dim), the same for key, value
(value_dim), then the output kernel (N, value_dim, *output_shape) and bias (*output_shape).

A query row that sees no key (its query masked, or every key masked) follows Keras 3: with
dropout 0 and no returned scores Keras takes its fused path, which weighs all keys equally
(the mean of the values); otherwise its explicit masked softmax gives zeros.

Regularizers and constraints are Keras's: kernel_* and bias_* apply to all four projections,
and ``activity_regularizer`` penalises each projection's output (Q, K, V and the layer's output,
each divided by the batch size), as Keras passes it to its four dense sublayers.
"""

import math

import numpy as np

from .. import ops
from .. import regularizers as _regularizers
from . import _regularization as _reg
from ._keras_args import pop_keras_only
from .base import Layer

__all__ = ["MultiHeadAttention"]


def _shape_of(t):
    """A shape from a tensor, an array, or a shape (the engine passes shapes for tensors)."""
    if isinstance(t, tuple) and all(d is None or isinstance(d, (int, np.integer)) for d in t):
        return t
    return tuple(t.shape) if hasattr(t, "shape") else tuple(np.shape(t))


def _rows_with_keys(B, Lq, Lk, k_mask, attn, causal):
    """(B, Lq) bool: query rows that see at least one key under the masks (attn already holds
    any sliding window). Without an attention mask this stays O(B * (Lq + Lk))."""
    if attn is not None:
        allowed = attn
        if k_mask is not None:
            allowed = allowed & k_mask[:, None, :]
        if causal:
            allowed = allowed & np.tril(np.ones((Lq, Lk), bool))
        return allowed.any(axis=-1)
    if k_mask is None:
        return np.ones((B, Lq), bool)        # causal alone always leaves key 0
    if causal:                               # row i sees keys 0..min(i, Lk - 1)
        seen = np.logical_or.accumulate(k_mask, axis=1)
        return seen[:, np.minimum(np.arange(Lq), Lk - 1)]
    return np.broadcast_to(k_mask.any(axis=1)[:, None], (B, Lq)).copy()


class MultiHeadAttention(Layer):
    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", seed=None, sliding_window=None, use_gate=False,
                 **kwargs):
        opts = _reg.pop_weight_options("MultiHeadAttention", kwargs, ("kernel", "bias"))
        # Keras hands activity_regularizer to the projections, not to the layer itself
        self._activity_regularizer = _reg.resolve(
            "MultiHeadAttention", "activity_regularizer", kwargs.pop("activity_regularizer", None),
            "regularizer")
        super().__init__(**pop_keras_only("MultiHeadAttention", kwargs))
        _reg.set_weight_options(self, opts)
        n = "MultiHeadAttention"
        if sliding_window is not None and (isinstance(sliding_window, bool) or
                                           not isinstance(sliding_window, (int, np.integer)) or
                                           sliding_window < 1):
            raise ValueError(f"[{n}] sliding_window must be a positive integer or None, "
                             f"got {sliding_window!r}")
        self.sliding_window = None if sliding_window is None else int(sliding_window)
        self.use_gate = bool(use_gate)
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"[{n}] {name} must be a positive integer, got {value!r}")
        if value_dim is not None and (isinstance(value_dim, bool) or
                                      not isinstance(value_dim, (int, np.integer)) or
                                      value_dim < 1):
            raise ValueError(f"[{n}] value_dim must be a positive integer or None, "
                             f"got {value_dim!r}")
        dropout = float(dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"[{n}] dropout must be in [0, 1), got {dropout}")
        axes = attention_axes
        if isinstance(axes, (int, np.integer)):
            axes = (int(axes),)
        if axes is not None and tuple(axes) not in ((1,), (-2,)):
            raise ValueError(f"[{n}] only attention over the sequence axis is supported "
                             f"(attention_axes None, 1 or (1,)), got {attention_axes!r}")
        if isinstance(output_shape, (list, tuple, int, np.integer)) and not output_shape:
            output_shape = None  # Keras reads a false one (0, ()) as "the query's feature size"
        if output_shape is not None:
            output_shape = ((int(output_shape),) if isinstance(output_shape, (int, np.integer))
                            else tuple(int(d) for d in output_shape))
            if not output_shape or min(output_shape) < 1:
                raise ValueError(f"[{n}] output_shape must be a positive int or a tuple of "
                                 f"them, got {output_shape!r}")
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout = dropout
        self.use_bias = bool(use_bias)
        self._output_shape = output_shape
        self.attention_axes = attention_axes  # None, 1 or (1,): the sequence axis
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    # -- calling and building with three inputs --------------------------------------------
    def __call__(self, query, value=None, key=None, **kwargs):
        # Keras's signature mha(query, value, key=None, ...): value and key travel by keyword
        # (the engine builds with value_shape/key_shape and fills value_mask/key_mask).
        if value is None:
            raise TypeError("[MultiHeadAttention] needs value: call it as mha(query, value) or "
                            "mha(query, value, key)")
        if key is not None:
            kwargs["key"] = key
        return super().__call__(query, value=value, **kwargs)

    def _check_shapes(self, query_shape, value_shape, key_shape):
        n = "MultiHeadAttention"
        key_shape = value_shape if key_shape is None else key_shape
        for name, s in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(s) != 3:
                raise ValueError(f"[{n}] {name} must be of rank 3 (batch, steps, features), "
                                 f"got shape {tuple(s)}")
        if value_shape[1] is not None and key_shape[1] is not None and \
                value_shape[1] != key_shape[1]:
            raise ValueError(f"[{n}] value and key must have the same number of steps, got "
                             f"{tuple(value_shape)} and {tuple(key_shape)}")
        return tuple(query_shape), tuple(value_shape), tuple(key_shape)

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            raise ValueError("[MultiHeadAttention] build needs the value's shape: call the "
                             "layer as mha(query, value) or build(query_shape, value_shape)")
        q, v, k = self._check_shapes(query_shape, value_shape, key_shape)
        N, Dk, Dv = self.num_heads, self.key_dim, self.value_dim
        out = self._output_shape or (q[-1],)
        self._dims = (q[-1], k[-1], v[-1])

        def dense(name, dim, heads_dim):
            kernel = self.add_weight(f"{name}/kernel", (dim, N, heads_dim),
                                     self.kernel_initializer, options="kernel")
            bias = (self.add_weight(f"{name}/bias", (N, heads_dim), self.bias_initializer,
                                    options="bias")
                    if self.use_bias else None)
            return kernel, bias
        self.query_kernel, self.query_bias = dense("query", q[-1], Dk)
        self.key_kernel, self.key_bias = dense("key", k[-1], Dk)
        if self.use_gate:  # Keras builds the gate between key and value (its weight order)
            self.gate_kernel, self.gate_bias = dense("gate", q[-1], Dv)
        self.value_kernel, self.value_bias = dense("value", v[-1], Dv)
        self.output_kernel = self.add_weight("attention_output/kernel", (N, Dv, *out),
                                             self.kernel_initializer, options="kernel")
        self.output_bias = (self.add_weight("attention_output/bias", out, self.bias_initializer,
                                            options="bias")
                            if self.use_bias else None)
        self.built = True

    def compute_output_shape(self, query_shape, value=None, key=None,
                             return_attention_scores=False, **call_kwargs):
        value_shape = _shape_of(value) if value is not None else query_shape
        q, v, k = self._check_shapes(query_shape, value_shape,
                                     None if key is None else _shape_of(key))
        out = q[:-1] + (self._output_shape or (q[-1],))
        if return_attention_scores:
            return [out, (q[0], self.num_heads, q[1], k[1])]
        return out

    def compute_mask(self, inputs, mask=None, **call_kwargs):
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        if call_kwargs.get("return_attention_scores"):
            return [mask, None]
        return mask

    # -- forward / backward ----------------------------------------------------------------
    def _project(self, x, kernel, bias):
        # On pyseq's BLAS (ops.dense_*), not NumPy's: a second BLAS thread pool left spinning
        # after a NumPy product slows the attention kernel that follows.
        B, L, dim = x.shape
        W = kernel.value
        y, saved = ops.dense_forward(x.reshape(B * L, dim), W.reshape(dim, -1),
                                     None if bias is None else bias.value.reshape(-1))
        return y.reshape(B, L, W.shape[1], W.shape[2]), saved  # a view: the (B, L, N, D) layout

    def forward(self, inputs, *, training=False, mask=None, value=None, key=None,
                attention_mask=None, return_attention_scores=False, use_causal_mask=False,
                query_mask=None, value_mask=None, key_mask=None):
        n = "MultiHeadAttention"
        query = np.asarray(inputs, dtype=self.dtype)
        if value is None:
            raise TypeError(f"[{n}] needs value")
        value = np.asarray(value, dtype=self.dtype)
        key_given = key is not None
        key = np.asarray(key, dtype=self.dtype) if key_given else value
        self._check_shapes(query.shape, value.shape, key.shape)
        for name, x, dim in (("query", query, self._dims[0]), ("value", value, self._dims[2]),
                             ("key", key, self._dims[1])):
            if x.shape[-1] != dim:
                raise ValueError(f"[{n}] was built for {name} features {dim}, got {name} of "
                                 f"shape {x.shape}")
        B, Lq, _ = query.shape
        Lk = key.shape[1]
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        q_mask = query_mask if query_mask is not None else mask
        q_mask = None if q_mask is None else self._step_mask("query_mask", q_mask, (B, Lq))
        k_mask = None
        for name, m in (("value_mask", value_mask), ("key_mask", key_mask)):
            if m is not None:
                m = self._step_mask(name, m, (B, Lk))
                k_mask = m if k_mask is None else k_mask & m
        attn = None
        if attention_mask is not None:
            attn = np.asarray(attention_mask).astype(bool, copy=False)
            if attn.ndim == 4 and attn.shape[1] == 1:
                attn = attn[:, 0]  # (B, 1, Lq, Lk): one mask for every head, as Keras takes it
            try:
                attn = np.broadcast_to(attn, (B, Lq, Lk))
            except ValueError:
                raise ValueError(f"[{n}] attention_mask must be (batch, {Lq}, {Lk}) or "
                                 f"broadcast to it, got {attn.shape}") from None
        if self.sliding_window is not None:
            # Keras's band: query i sees keys j with |i - j| < sliding_window
            steps = np.arange(Lq)[:, None] - np.arange(Lk)[None, :]
            band = np.abs(steps) < self.sliding_window
            attn = np.broadcast_to(band, (B, Lq, Lk)) if attn is None else attn & band

        Q, q_saved = self._project(query, self.query_kernel, self.query_bias)
        K, k_saved = self._project(key, self.key_kernel, self.key_bias)
        V, v_saved = self._project(value, self.value_kernel, self.value_bias)
        drop = training and self.dropout > 0
        res = ops.attention_forward(
            Q, K, V, scale=1.0 / math.sqrt(self.key_dim), causal=bool(use_causal_mask),
            key_mask=k_mask, attn_mask=attn, dropout=self.dropout if drop else 0.0,
            seed=int(self._rng.integers(0, 2**63)) if drop else None,
            return_scores=bool(return_attention_scores))
        if return_attention_scores:
            O, scores, saved = res
        else:
            (O, saved), scores = res, None
        if q_mask is not None:
            # A masked query row attends to nothing (zeros), as Keras's masked softmax gives.
            O = O * q_mask[:, :, None, None]
            if scores is not None:
                scores = scores * q_mask[:, None, :, None]
        uniform = None
        if self.dropout == 0 and not return_attention_scores:
            # Keras's default path (its fused dot_product_attention, taken without dropout and
            # without returned scores) gives a row with no visible key -- a masked query, or
            # every key masked -- equal weights on all keys: the mean of the values.
            uniform = ~_rows_with_keys(B, Lq, Lk, k_mask, attn, bool(use_causal_mask))
            if q_mask is not None:
                uniform |= ~q_mask
            if uniform.any():
                O = np.where(uniform[:, :, None, None], V.mean(axis=1)[:, None], O)
            else:
                uniform = None
        gate = g_saved = O_pre = None
        if self.use_gate:
            # Keras: the attention output times sigmoid(query projection) before the output
            G, g_saved = self._project(query, self.gate_kernel, self.gate_bias)
            gate = 1.0 / (1.0 + np.exp(-G))
            O_pre, O = O, O * gate
        Wo = self.output_kernel.value
        out_dims = Wo.shape[2:]
        O2 = O.reshape(B * Lq, -1)
        y, o_saved = ops.dense_forward(
            O2, Wo.reshape(O2.shape[1], -1),
            None if self.output_bias is None else self.output_bias.value.reshape(-1))
        y = y.reshape(B, Lq, *out_dims)
        act = None
        if self._activity_regularizer is not None:
            act = (Q, K, V, y)
            # in the order Keras's layer.losses lists its four sublayers' (last built first)
            _reg.record_activity(self, self._activity_regularizer, [y, V, K, Q])
        cache = (query, key, value, key_given, Q, K, (q_saved, k_saved, v_saved, o_saved),
                 saved, (q_mask, uniform), scores, (gate, g_saved, O_pre), act)
        return ([y, scores] if return_attention_scores else y), cache

    @staticmethod
    def _step_mask(name, m, shape):
        m = np.asarray(m).astype(bool, copy=False)
        if m.shape != shape:
            raise ValueError(f"[MultiHeadAttention] {name} must be (batch, steps) = {shape}, "
                             f"got {m.shape}")
        return m

    def _project_back(self, x, dY, kernel, bias, dense_saved, grads):
        B, L, dim = x.shape
        dx, dW, db = ops.dense_backward(dY.reshape(B * L, -1), dense_saved)
        grads.append((kernel, dW.reshape(kernel.shape)))
        if bias is not None:
            grads.append((bias, db.reshape(bias.shape)))
        return dx.reshape(x.shape)

    def backward(self, cache, d_outputs):
        query, key, value, key_given, Q, K, dense_saved, saved, masks, scores, gating, act = cache
        q_mask, uniform = masks
        q_saved, k_saved, v_saved, o_saved = dense_saved
        if isinstance(d_outputs, (list, tuple)):
            dy, d_scores = d_outputs
        else:
            dy, d_scores = d_outputs, None
        B, Lq, _ = query.shape
        Wo = self.output_kernel.value
        if dy is None:
            dy = np.zeros((B, Lq) + Wo.shape[2:], self.dtype)
        if act is not None:
            dy = self._activity_grad(act[3], dy)
        d2 = np.asarray(dy, self.dtype).reshape(B * Lq, -1)
        dO2, dWo, dbo = ops.dense_backward(d2, o_saved)
        out_grads = [(self.output_kernel, dWo.reshape(Wo.shape))]
        if self.output_bias is not None:
            out_grads.append((self.output_bias, dbo.reshape(self.output_bias.shape)))
        dO = dO2.reshape(B, Lq, self.num_heads, self.value_dim)
        gate, g_saved, O_pre = gating
        dgate_pre = None
        if gate is not None:
            dgate_pre = dO * O_pre * gate * (1.0 - gate)   # through sigmoid
            dO = dO * gate
        dV_uniform = None
        if uniform is not None:
            # those rows are the mean of V over the keys: each key gets 1/Lk of their gradient
            rows = uniform[:, :, None, None]
            dV_uniform = np.sum(np.where(rows, dO, 0), axis=1, keepdims=True) / K.shape[1]
            dO = np.where(rows, 0, dO)
        if q_mask is not None:
            dO = dO * q_mask[:, :, None, None]
        dQ, dK, dV = ops.attention_backward(dO, saved)
        if dV_uniform is not None:
            dV = dV + dV_uniform
        if d_scores is not None:
            # Through the returned weights P: dS = P * (dP - rowsum(dP * P)), S = scale Q·K.
            d_scores = np.asarray(d_scores, self.dtype)
            dS = scores * (d_scores - np.sum(d_scores * scores, axis=-1, keepdims=True))
            dS *= 1.0 / math.sqrt(self.key_dim)
            dQ = dQ + np.einsum("bnqk,bknd->bqnd", dS, K)
            dK = dK + np.einsum("bnqk,bqnd->bknd", dS, Q)
        if act is not None:
            dQ, dK, dV = (self._activity_grad(t, d) for t, d in zip(act[:3], (dQ, dK, dV)))
        grads = []
        dquery = self._project_back(query, dQ, self.query_kernel, self.query_bias, q_saved, grads)
        if dgate_pre is not None:
            dquery = dquery + self._project_back(query, dgate_pre, self.gate_kernel,
                                                 self.gate_bias, g_saved, grads)
        dkey = self._project_back(key, dK, self.key_kernel, self.key_bias, k_saved, grads)
        dvalue = self._project_back(value, dV, self.value_kernel, self.value_bias, v_saved,
                                    grads)
        d_args = {"inputs": dquery}
        if key_given:
            d_args["value"], d_args["key"] = dvalue, dkey
        else:
            d_args["value"] = dvalue + dkey
        return d_args, grads + out_grads

    def _activity_grad(self, t, d):
        return _reg.add_activity_grads(self, self._activity_regularizer, t, d)

    def get_config(self):
        config = super().get_config()
        config["activity_regularizer"] = _regularizers.serialize(self._activity_regularizer)
        config.update(num_heads=self.num_heads, key_dim=self.key_dim, value_dim=self.value_dim,
                      dropout=self.dropout, use_bias=self.use_bias,
                      output_shape=self._output_shape, attention_axes=self.attention_axes,
                      kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer, seed=self.seed,
                      sliding_window=self.sliding_window, use_gate=self.use_gate)
        return config
