"""Keras ``MultiHeadAttention``: NumPy projections around one fused attention call.

The query/key/value projections are single (B·L, dim) x (dim, N·D) products whose results,
reshaped without a copy, are the (B, L, N, D) layout ``ops.attention_forward`` takes; the
output projection reads the op's (B, Lq, N, Dv) result the same way. Weights and their order
are Keras's: query kernel (dim, N, key_dim) and bias (N, key_dim), the same for key, value
(value_dim), then the output kernel (N, value_dim, *output_shape) and bias (*output_shape).

Inputs of rank 4 or more attend over Keras's ``attention_axes`` (default: every axis between the
batch and the features): the other axes join the batch and the attention axes flatten into one
sequence (``_Layout``), so the same fused call serves. An attention_mask may carry a heads axis,
(B, N, T, S); one that differs between heads runs the heads as separate batch rows.
use_causal_mask and sliding_window need rank-3 inputs (Keras builds them from axis 1 alone).

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
from .._random import seeded_rng
from .. import regularizers as _regularizers
from . import _regularization as _reg
from ._keras_args import pop_keras_only
from .base import Layer, number_arg

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


class _Layout:
    """Keras's attention over any ``attention_axes`` as the op's (B'', L, Nh, X) layout.

    A projection (B, *middle, N, X) becomes (B', L, N, X): the middle axes that are not
    attention axes join the batch (B' = B times their sizes) and the attention axes, in
    attention_axes order, flatten into L. With an attention mask that differs between heads
    (``per_head``) the heads join the batch as well: (B' * N, L, 1, X). The op's scores
    (B'', Nh, Lq, Lk) are then a reshape of Keras's (B, *batch-like sizes, N, *query attention
    sizes, *key attention sizes). A rank-3 input without per-head masks maps onto itself.
    """

    def __init__(self, axes, q_shape, k_shape, N, per_head):
        middle = len(q_shape) - 2
        self.order = [a for a in range(1, middle + 1) if a not in axes] + list(axes)
        self.batch = [int(q_shape[0])] + [int(q_shape[a]) for a in self.order[:-len(axes)]]
        self.sizes = {"q": [int(q_shape[a]) for a in axes], "k": [int(k_shape[a]) for a in axes]}
        self.N, self.per_head = N, per_head

    def _lengths(self, side):
        return int(np.prod(self.batch)), int(np.prod(self.sizes[side]))

    def flat(self, X, side):
        """(B, *middle, N, x) -> (B'', L, Nh, x)."""
        nd = X.ndim
        Bp, L = self._lengths(side)
        X = X.transpose([0] + self.order + [nd - 2, nd - 1]).reshape(Bp, L, self.N, -1)
        if self.per_head:
            X = X.transpose(0, 2, 1, 3).reshape(Bp * self.N, L, 1, -1)
        return X

    def unflat(self, X, side):
        """The inverse of :meth:`flat`."""
        Bp, L = self._lengths(side)
        if self.per_head:
            X = X.reshape(Bp, self.N, L, -1).transpose(0, 2, 1, 3)
        X = X.reshape(*self.batch, *self.sizes[side], self.N, -1)
        nd = X.ndim
        return X.transpose(np.argsort([0] + self.order + [nd - 2, nd - 1]))

    def steps(self, m, side):
        """A (B, *middle) step mask as (B'', L)."""
        Bp, L = self._lengths(side)
        m = m.transpose([0] + self.order).reshape(Bp, L)
        return np.repeat(m, self.N, axis=0) if self.per_head else m

    def scores_shape(self, heads):
        return (*self.batch, heads, *self.sizes["q"], *self.sizes["k"])

    def scores(self, S):
        """The op's (B'', Nh, Lq, Lk) scores in Keras's layout."""
        return S.reshape(self.scores_shape(self.N))

    def flat_scores(self, S):
        Bp, Lq = self._lengths("q")
        return S.reshape(Bp * self.N if self.per_head else Bp, 1 if self.per_head else self.N,
                         Lq, self._lengths("k")[1])


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
        dropout = number_arg(n, "dropout", dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"[{n}] dropout must be in [0, 1), got {dropout}")
        axes = (attention_axes,) if isinstance(attention_axes, (int, np.integer)) \
            else attention_axes
        if axes is not None and (not isinstance(axes, (list, tuple)) or not all(
                isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes)):
            raise ValueError(f"[{n}] attention_axes must be None, an int, or a list or tuple "
                             f"of ints, got {attention_axes!r}")
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
        self.attention_axes = attention_axes  # checked against the query's rank at build
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.seed = seed
        self._rng = seeded_rng(self.name, seed)

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
            if len(s) < 3 or len(s) != len(query_shape):
                raise ValueError(f"[{n}] {name} must be of rank 3 (batch, steps, features) or "
                                 f"more, the rank of the query, got shape {tuple(s)}")
        if any(a is not None and b is not None and a != b
               for a, b in zip(value_shape[1:-1], key_shape[1:-1])):
            raise ValueError(f"[{n}] value and key must have the same number of steps, got "
                             f"{tuple(value_shape)} and {tuple(key_shape)}")
        self._attention_axes(len(query_shape))
        return tuple(query_shape), tuple(value_shape), tuple(key_shape)

    def _attention_axes(self, rank):
        """The query's attention axes, normalised as Keras does: None means every axis between
        the batch and the features; a negative axis counts back from the heads axis that the
        projection inserts (so -2 is the last axis before the features)."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        axes = self.attention_axes
        axes = (axes,) if isinstance(axes, (int, np.integer)) else axes
        axes = tuple(int(a) + rank if a < 0 else int(a) for a in axes)
        if not axes or len(set(axes)) != len(axes) or not all(1 <= a <= rank - 2 for a in axes):
            raise ValueError(f"[MultiHeadAttention] attention_axes must be distinct axes between "
                             f"the batch and the features of the rank-{rank} query (1 .. "
                             f"{rank - 2}, or {-rank + 1} .. -2), got {self.attention_axes!r}")
        return axes

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
            axes = self._attention_axes(len(q))
            batch = [q[a] for a in range(1, len(q) - 1) if a not in axes]
            return [out, (q[0], *batch, self.num_heads, *(q[a] for a in axes),
                          *(k[a] for a in axes))]
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
        W = kernel.value
        y, saved = ops.dense_forward(x.reshape(-1, x.shape[-1]), W.reshape(W.shape[0], -1),
                                     None if bias is None else bias.value.reshape(-1))
        return y.reshape(*x.shape[:-1], W.shape[1], W.shape[2]), saved  # (B, L, N, D), a view

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
        if query.shape[0] != key.shape[0] or query.shape[0] != value.shape[0]:
            raise ValueError(f"[{n}] query, value and key must have the same batch size, got "
                             f"{query.shape}, {value.shape} and {key.shape}")
        rank = query.ndim
        axes = self._attention_axes(rank)
        for a in range(1, rank - 1):
            if a not in axes and query.shape[a] != key.shape[a]:
                raise ValueError(f"[{n}] query and key must agree on axis {a}, which is not an "
                                 f"attention axis, got {query.shape} and {key.shape}")
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        q_mask = query_mask if query_mask is not None else mask
        q_mask = None if q_mask is None else self._step_mask("query_mask", q_mask,
                                                             query.shape[:-1])
        k_mask = None
        for name, m in (("value_mask", value_mask), ("key_mask", key_mask)):
            if m is not None:
                m = self._step_mask(name, m, key.shape[:-1])
                k_mask = m if k_mask is None else k_mask & m
        attn = None
        if attention_mask is not None:
            attn = np.asarray(attention_mask).astype(bool, copy=False)
            if rank == 3 and attn.ndim == 4 and attn.shape[1] == 1:
                attn = attn[:, 0]  # (B, 1, Lq, Lk): one mask for every head, as Keras takes it
        causal = bool(use_causal_mask)
        if rank == 3 and (attn is None or attn.ndim <= 3):
            layout = _Layout((1,), query.shape, key.shape, self.num_heads, False)
            attn = self._sequence_masks(attn, query.shape[1], key.shape[1], query.shape[0])
        else:
            layout, attn = self._general_masks(attn, axes, query.shape, key.shape, causal)
            causal = False  # folded into attn
        q_mask = None if q_mask is None else layout.steps(q_mask, "q")
        k_mask = None if k_mask is None else layout.steps(k_mask, "k")

        Q, q_saved = self._project(query, self.query_kernel, self.query_bias)
        K, k_saved = self._project(key, self.key_kernel, self.key_bias)
        V, v_saved = self._project(value, self.value_kernel, self.value_bias)
        Qf, Kf, Vf = layout.flat(Q, "q"), layout.flat(K, "k"), layout.flat(V, "k")
        Bf, Lq, Lk = Qf.shape[0], Qf.shape[1], Kf.shape[1]
        drop = training and self.dropout > 0
        res = ops.attention_forward(
            Qf, Kf, Vf, scale=1.0 / math.sqrt(self.key_dim), causal=causal,
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
        if rank == 3 and self.dropout == 0 and not return_attention_scores:
            # Keras's default path (its fused dot_product_attention, taken for rank-3 inputs
            # without dropout and without returned scores) gives a row with no visible key -- a
            # masked query, or every key masked -- equal weights on all keys: the mean of the
            # values.
            uniform = ~_rows_with_keys(Bf, Lq, Lk, k_mask, attn, causal)
            if q_mask is not None:
                uniform |= ~q_mask
            if uniform.any():
                O = np.where(uniform[:, :, None, None], Vf.mean(axis=1)[:, None], O)
            else:
                uniform = None
        O = layout.unflat(O, "q")
        gate = g_saved = O_pre = None
        if self.use_gate:
            # Keras: the attention output times sigmoid(query projection) before the output
            G, g_saved = self._project(query, self.gate_kernel, self.gate_bias)
            gate = 1.0 / (1.0 + np.exp(-G))
            O_pre, O = O, O * gate
        Wo = self.output_kernel.value
        out_dims = Wo.shape[2:]
        O2 = O.reshape(-1, Wo.shape[0] * Wo.shape[1])
        y, o_saved = ops.dense_forward(
            O2, Wo.reshape(O2.shape[1], -1),
            None if self.output_bias is None else self.output_bias.value.reshape(-1))
        y = y.reshape(*query.shape[:-1], *out_dims)
        act = None
        if self._activity_regularizer is not None:
            act = (Q, K, V, y)
            # in the order Keras's layer.losses lists its four sublayers' (last built first)
            _reg.record_activity(self, self._activity_regularizer, [y, V, K, Q])
        cache = (query, key, value, key_given, Qf, Kf, (q_saved, k_saved, v_saved, o_saved),
                 saved, (q_mask, uniform, layout), scores, (gate, g_saved, O_pre), act)
        if scores is not None:
            scores = layout.scores(scores)
        return ([y, scores] if return_attention_scores else y), cache

    def _sequence_masks(self, attn, Lq, Lk, B):
        """A rank-3 call's attention_mask (and sliding window) as (B, Lq, Lk), or None."""
        if attn is not None:
            try:
                attn = np.broadcast_to(attn, (B, Lq, Lk))
            except ValueError:
                raise ValueError(f"[MultiHeadAttention] attention_mask must be (batch, {Lq}, "
                                 f"{Lk}) or broadcast to it, got {attn.shape}") from None
        if self.sliding_window is not None:
            # Keras's band: query i sees keys j with |i - j| < sliding_window
            steps = np.arange(Lq)[:, None] - np.arange(Lk)[None, :]
            band = np.abs(steps) < self.sliding_window
            attn = np.broadcast_to(band, (B, Lq, Lk)) if attn is None else attn & band
        return attn

    def _general_masks(self, attn, axes, q_shape, k_shape, causal):
        """The layout and the flat attention mask of a call with inputs of rank 4 or more, or
        with an attention_mask that has a heads axis: Keras's rules, in which a mask with fewer
        axes than the scores gains them just before the heads axis."""
        n = "MultiHeadAttention"
        N = self.num_heads
        if len(q_shape) > 3 and (causal or self.sliding_window is not None):
            raise ValueError(f"[{n}] use_causal_mask and sliding_window need rank-3 inputs "
                             f"(batch, steps, features), got a query of shape {q_shape}")
        head_axis = len(q_shape) - 1 - len(axes)
        per_head = False
        if attn is not None:
            rank = head_axis + 1 + 2 * len(axes)
            while attn.ndim < rank:
                attn = np.expand_dims(attn, -2 * len(axes) - 1)
            per_head = attn.ndim == rank and attn.shape[head_axis] != 1 and N > 1
        layout = _Layout(axes, q_shape, k_shape, N, per_head)
        if attn is not None:
            shape = layout.scores_shape(N if per_head else 1)
            try:
                attn = np.broadcast_to(attn, shape)
            except ValueError:
                raise ValueError(f"[{n}] attention_mask must broadcast to {shape} (batch, "
                                 f"other axes, heads, query and key attention axes), got "
                                 f"{attn.shape}") from None
            Bf, Lq = layout._lengths("q")
            attn = attn.reshape((Bf * N if per_head else Bf), Lq, layout._lengths("k")[1])
        Lq, Lk = int(np.prod(layout.sizes["q"])), int(np.prod(layout.sizes["k"]))
        extra = None
        if causal:
            extra = np.tril(np.ones((Lq, Lk), bool))
        if self.sliding_window is not None:
            band = np.abs(np.arange(Lq)[:, None] - np.arange(Lk)[None, :]) < self.sliding_window
            extra = band if extra is None else extra & band
        if extra is not None:
            attn = np.broadcast_to(extra, (layout._lengths("q")[0], Lq, Lk)) if attn is None \
                else attn & extra
        return layout, attn

    @staticmethod
    def _step_mask(name, m, shape):
        m = np.asarray(m).astype(bool, copy=False)
        if m.shape != shape:
            raise ValueError(f"[MultiHeadAttention] {name} must be (batch, steps) = "
                             f"{tuple(shape)}, got {m.shape}")
        return m

    def _project_back(self, x, dY, kernel, bias, dense_saved, grads):
        dx, dW, db = ops.dense_backward(dY.reshape(-1, kernel.shape[1] * kernel.shape[2]),
                                        dense_saved)
        grads.append((kernel, dW.reshape(kernel.shape)))
        if bias is not None:
            grads.append((bias, db.reshape(bias.shape)))
        return dx.reshape(x.shape)

    def backward(self, cache, d_outputs):
        query, key, value, key_given, Q, K, dense_saved, saved, masks, scores, gating, act = cache
        q_mask, uniform, layout = masks
        q_saved, k_saved, v_saved, o_saved = dense_saved
        if isinstance(d_outputs, (list, tuple)):
            dy, d_scores = d_outputs
        else:
            dy, d_scores = d_outputs, None
        Wo = self.output_kernel.value
        if dy is None:
            dy = np.zeros(query.shape[:-1] + Wo.shape[2:], self.dtype)
        if act is not None:
            dy = self._activity_grad(act[3], dy)
        d2 = np.asarray(dy, self.dtype).reshape(-1, int(np.prod(Wo.shape[2:])))
        dO2, dWo, dbo = ops.dense_backward(d2, o_saved)
        out_grads = [(self.output_kernel, dWo.reshape(Wo.shape))]
        if self.output_bias is not None:
            out_grads.append((self.output_bias, dbo.reshape(self.output_bias.shape)))
        dO = dO2.reshape(*query.shape[:-1], self.num_heads, self.value_dim)
        gate, g_saved, O_pre = gating
        dgate_pre = None
        if gate is not None:
            dgate_pre = dO * O_pre * gate * (1.0 - gate)   # through sigmoid
            dO = dO * gate
        dO = layout.flat(dO, "q")
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
            d_scores = layout.flat_scores(np.asarray(d_scores, self.dtype))
            dS = scores * (d_scores - np.sum(d_scores * scores, axis=-1, keepdims=True))
            dS *= 1.0 / math.sqrt(self.key_dim)
            dQ = dQ + np.einsum("bnqk,bknd->bqnd", dS, K)
            dK = dK + np.einsum("bnqk,bqnd->bknd", dS, Q)
        dQ, dK, dV = layout.unflat(dQ, "q"), layout.unflat(dK, "k"), layout.unflat(dV, "k")
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
