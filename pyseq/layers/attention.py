"""Keras ``Attention`` (Luong-style): dot scores on the fused attention op, concat in NumPy.

Called as ``attention([query, value])`` or ``attention([query, value, key])`` with
``mask=[query_mask, value_mask]``; inputs (batch, steps, dim), or with more leading batch axes
(batch, ..., steps, dim) as Keras's matmuls allow. Differences from Keras, both deliberate: a
query row whose keys are all masked gives zeros (Keras's dot path gives the mean of the
values), and so does a masked query row (as Keras).
"""

import numpy as np

from .. import ops
from .._random import seeded_rng
from .base import Layer, number_arg

__all__ = ["Attention", "AdditiveAttention"]


def _masks(mask, n):
    if mask is None:
        return None, None
    if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
        raise ValueError(f"[Attention] mask must be a list [query_mask, value_mask], got "
                         f"{type(mask).__name__}")
    q_mask, v_mask = mask[0], mask[1]
    return (None if q_mask is None else np.asarray(q_mask, bool),
            None if v_mask is None else np.asarray(v_mask, bool))


def _masked_softmax(scores, allowed):
    """Softmax over the last axis where ``allowed``; rows with nothing allowed are zeros."""
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    e = np.exp(scores - top)
    total = np.sum(e, axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1)


class Attention(Layer):
    supports_masking = True
    _takes_list = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"[Attention] score_mode must be 'dot' or 'concat', "
                             f"got {score_mode!r}")
        dropout = number_arg("Attention", "dropout", dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"[Attention] dropout must be in [0, 1), got {dropout}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        self._rng = seeded_rng(self.name, seed)
        self.scale = self.concat_score_weight = None

    @staticmethod
    def _split_shapes(input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not isinstance(input_shape[0], (list, tuple)) or not 2 <= len(input_shape) <= 3:
            raise ValueError(f"[Attention] must be called on a list [query, value] or "
                             f"[query, value, key], got input shape {input_shape!r}")
        shapes = [tuple(s) for s in input_shape]
        return shapes[0], shapes[1], shapes[2] if len(shapes) == 3 else shapes[1]

    def _validate(self, input_shape):
        q, v, k = self._split_shapes(input_shape)
        for name, s in (("query", q), ("value", v), ("key", k)):
            # Keras's matmuls take leading batch axes too: (batch, ..., steps, dim)
            if len(s) < 3 or len(s) != len(q):
                raise ValueError(f"[Attention] {name} must be of rank 3 (batch, steps, dim) or "
                                 f"more, the rank of the query, got shape {s}")
        if any(a is not None and b is not None and a != b
               for s in (v, k) for a, b in zip(q[:-2], s[:-2])):
            raise ValueError(f"[Attention] query, value and key must agree on the batch axes "
                             f"(all before the steps), got {q}, {v} and {k}")
        if q[-1] is not None and k[-1] is not None and q[-1] != k[-1]:
            raise ValueError(f"[Attention] query and key must have the same last dimension, "
                             f"got {q} and {k}")
        if k[-2] is not None and v[-2] is not None and k[-2] != v[-2]:
            raise ValueError(f"[Attention] key and value must have the same number of steps, "
                             f"got {k} and {v}")
        return q, v, k

    def build(self, input_shape):
        self._validate(input_shape)
        if self.use_scale:
            self.scale = self._scalar_weight("scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self._scalar_weight("concat_score_weight")
        self.built = True

    def _scalar_weight(self, name):
        return self.add_weight(name, (), "ones")  # 0-d, as Keras

    def compute_output_shape(self, input_shape, return_attention_scores=False, **call_kwargs):
        q, v, k = self._validate(input_shape)
        out = (*q[:-1], v[-1])
        return [out, (*q[:-1], k[-2])] if return_attention_scores else out

    def compute_mask(self, inputs, mask=None, **call_kwargs):
        q_mask, _ = _masks(mask, len(inputs))
        if call_kwargs.get("return_attention_scores"):
            return [q_mask, None]
        return q_mask

    # -- forward / backward ----------------------------------------------------------------
    def forward(self, inputs, *, training=False, mask=None, return_attention_scores=False,
                use_causal_mask=False):
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ValueError("[Attention] must be called on a list [query, value] or "
                             "[query, value, key]")
        arrays = [np.asarray(a, dtype=self.dtype) for a in inputs]
        self._validate([a.shape for a in arrays])
        lead = arrays[0].shape[:-2]  # batch axes, one or more: folded into one for the work
        arrays = [a.reshape(-1, *a.shape[-2:]) for a in arrays]
        q, v = arrays[0], arrays[1]
        k = arrays[2] if len(arrays) == 3 else v
        q_mask, v_mask = _masks(mask, len(arrays))
        for name, m, a in (("query_mask", q_mask, q), ("value_mask", v_mask, v)):
            if m is not None:
                if m.shape != (*lead, a.shape[1]):
                    raise ValueError(f"[{type(self).__name__}] {name} must be (batch, steps) = "
                                     f"{(*lead, a.shape[1])}, got {m.shape}")
        q_mask = None if q_mask is None else q_mask.reshape(-1, q.shape[1])
        v_mask = None if v_mask is None else v_mask.reshape(-1, v.shape[1])
        drop = training and self.dropout > 0
        if self.score_mode == "dot":
            o, scores, cache = self._dot_forward(q, k, v, v_mask, use_causal_mask, drop,
                                                 return_attention_scores)
        else:
            o, scores, cache = self._concat_forward(q, k, v, v_mask, use_causal_mask, drop)
        if q_mask is not None:
            o = o * q_mask[..., None]
        o = o.reshape(*lead, *o.shape[1:])
        out = [o, scores.reshape(*lead, *scores.shape[1:])] if return_attention_scores else o
        return out, (cache, q, k, q_mask, len(arrays), lead)

    def backward(self, cache, d_outputs):
        inner, q, k, q_mask, n_inputs, lead = cache
        if isinstance(d_outputs, (list, tuple)):
            do, d_scores = d_outputs
        else:
            do, d_scores = d_outputs, None
        if do is None:
            do = np.zeros(inner["o_shape"], self.dtype)
        else:
            do = np.asarray(do, dtype=self.dtype).reshape(inner["o_shape"])
        if d_scores is not None:
            d_scores = np.asarray(d_scores, dtype=self.dtype)
            d_scores = d_scores.reshape(-1, *d_scores.shape[-2:])
        if q_mask is not None:
            do = do * q_mask[..., None]
        if self.score_mode == "dot":
            dq, dk, dv, grads = self._dot_backward(inner, q, k, do, d_scores)
        else:
            dq, dk, dv, grads = self._concat_backward(inner, q, k, do, d_scores)
        d_inputs = [dq, dv, dk] if n_inputs == 3 else [dq, dv + dk]
        d_inputs = [d.reshape(*lead, *d.shape[1:]) for d in d_inputs]
        return {"inputs": d_inputs}, grads

    # dot: the fused op on (B, L, 1, D) views (one head)
    def _dot_forward(self, q, k, v, v_mask, causal, drop, want_scores):
        s = self.scale.value if self.use_scale else None
        # A trainable scale multiplies q (one (B,Tq,D) product) so that its gradient is the
        # sum of q * dq_scaled, exact even at scale 0.
        q_in = q * s if s is not None else q
        seed = int(self._rng.integers(0, 2**63)) if drop else None
        res = ops.attention_forward(q_in[:, :, None, :], k[:, :, None, :], v[:, :, None, :],
                                    scale=1.0, causal=bool(causal), key_mask=v_mask,
                                    dropout=self.dropout if drop else 0.0, seed=seed,
                                    return_scores=bool(want_scores))
        if want_scores:
            o, scores, saved = res
            scores = scores[:, 0]
        else:
            (o, saved), scores = res, None
        o = o[:, :, 0, :]
        return o, scores, dict(saved=saved, q_in=q_in, scores=scores, o_shape=o.shape)

    def _dot_backward(self, inner, q, k, do, d_scores):
        dq4, dk4, dv4 = ops.attention_backward(do[:, :, None, :], inner["saved"])
        dq_in, dk, dv = dq4[:, :, 0, :], dk4[:, :, 0, :], dv4[:, :, 0, :]
        if d_scores is not None:
            # Gradient through the returned weights: softmax backward on the materialised P.
            P = inner["scores"]
            dS = P * (d_scores - np.sum(d_scores * P, axis=-1, keepdims=True))
            dq_in = dq_in + dS @ k
            dk = dk + np.swapaxes(dS, 1, 2) @ inner["q_in"]
        grads = []
        if self.use_scale:
            s = self.scale.value
            grads.append((self.scale, np.asarray(np.sum(dq_in * q), self.dtype)))
            dq = dq_in * s
        else:
            dq = dq_in
        return dq, dk, dv, grads

    # concat: scores = c * sum_d tanh(s * (q_i + k_j)), in NumPy (no dot product to fuse)
    def _concat_scores(self, q, k):
        """(B, Tq, Tv) scores and what their backward needs."""
        s = self.scale.value if self.use_scale else np.asarray(1.0, self.dtype)
        c = self.concat_score_weight.value
        u = q[:, :, None, :] + k[:, None, :, :]          # (B, Tq, Tv, D)
        th = np.tanh(s * u)
        return c * np.sum(th, axis=-1), (u, th)

    def _concat_score_backward(self, dS, aux):
        """dq, dk and the weights' gradients from dL/dscores."""
        u, th = aux
        c = self.concat_score_weight.value
        s = self.scale.value if self.use_scale else np.asarray(1.0, self.dtype)
        grads = []
        dc = np.asarray(np.sum(dS * np.sum(th, axis=-1)), self.dtype)
        dpre = (dS * c)[..., None] * (1 - th * th)      # d(s * u)
        du = dpre * s
        if self.use_scale:
            grads.append((self.scale, np.asarray(np.sum(dpre * u), self.dtype)))
        grads.append((self.concat_score_weight, dc))
        return np.sum(du, axis=2), np.sum(du, axis=1), grads

    def _concat_forward(self, q, k, v, v_mask, causal, drop):
        S, aux = self._concat_scores(q, k)
        allowed = None
        if v_mask is not None:
            allowed = np.broadcast_to(v_mask[:, None, :], S.shape)
        if causal:
            tri = np.tril(np.ones(S.shape[1:], bool))
            allowed = tri[None] if allowed is None else allowed & tri
        P = _masked_softmax(S, allowed)
        keep = None
        Pd = P
        if drop:
            keep = (self._rng.random(P.shape) >= self.dropout) / np.asarray(1 - self.dropout,
                                                                            self.dtype)
            Pd = P * keep
        o = Pd @ v
        return o, P, dict(aux=aux, P=P, Pd=Pd, keep=keep, v=v, o_shape=o.shape)

    def _concat_backward(self, inner, q, k, do, d_scores):
        P, Pd, keep, v = (inner[n] for n in ("P", "Pd", "keep", "v"))
        dv = np.swapaxes(Pd, 1, 2) @ do
        dP = do @ np.swapaxes(v, 1, 2)
        if keep is not None:
            dP = dP * keep
        if d_scores is not None:
            dP = dP + d_scores
        dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))
        dq, dk, grads = self._concat_score_backward(dS, inner["aux"])
        return dq, dk, dv, grads

    def get_config(self):
        config = super().get_config()
        config.update(use_scale=self.use_scale, score_mode=self.score_mode,
                      dropout=self.dropout, seed=self.seed)
        return config


class AdditiveAttention(Attention):
    """Keras ``AdditiveAttention`` (Bahdanau): scores sum(scale * tanh(q_i + k_j)) over the
    features, with a learned ``scale`` of shape (dim,) when use_scale (the default); masks,
    causal masking, dropout and returned scores as in Attention."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        kwargs.pop("score_mode", None)  # in a config written by Attention.get_config
        super().__init__(use_scale=use_scale, score_mode="concat", dropout=dropout, **kwargs)

    def build(self, input_shape):
        q, _, _ = self._validate(input_shape)
        if self.use_scale:
            if q[-1] is None:
                raise ValueError(f"[AdditiveAttention] needs a known feature size, got query "
                                 f"shape {q}")
            self.scale = self.add_weight("scale", (q[-1],), "glorot_uniform")
        self.built = True

    def _concat_scores(self, q, k):
        th = np.tanh(q[:, :, None, :] + k[:, None, :, :])  # (B, Tq, Tv, D)
        w = th * self.scale.value if self.use_scale else th
        return np.sum(w, axis=-1), th

    def _concat_score_backward(self, dS, th):
        du = dS[..., None] * (1 - th * th)
        grads = []
        if self.use_scale:
            grads.append((self.scale, np.sum(dS[..., None] * th, axis=(0, 1, 2))
                          .astype(self.dtype)))
            du *= self.scale.value
        return np.sum(du, axis=2), np.sum(du, axis=1), grads

    def get_config(self):
        config = super().get_config()
        config.pop("score_mode")
        return config
