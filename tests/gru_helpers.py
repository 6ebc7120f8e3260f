"""Random GRU problems and the GRU call convention, for tests/test_gru*.py (the shared
tolerances, masks and layouts come from helpers.py)."""

import numpy as np

from helpers import make_dropout_mask, make_mask

GRU_POSITIONAL = ("x", "kernel", "recurrent_kernel", "bias", "h0")
GRU_OPTIONS = ("mask", "reverse", "zero_output_for_mask", "recurrent_dropout_mask", "reset_after")
GRU_GRAD_NAMES = ("dx", "dkernel", "drecurrent_kernel", "dbias", "dh0")
GRU_OUT_NAMES = ("y", "h_T")


def gru_bias_shape(H, reset_after):
    return (2, 3 * H) if reset_after else (3 * H,)


def make_gru_inputs(rng, B, T, I, H, dtype, *, reset_after=True, mask="none", with_bias=True,  # noqa: E741
                    with_h0=True, dropout_p=None):
    """Random inputs for ``gru_forward`` as a dict of its argument names (reset_after included).

    Weights are scaled like a sensibly initialised layer, so that float32 errors stay bounded.
    """
    dtype = np.dtype(dtype)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(dtype)

    return dict(
        x=normal((B, T, I), 1.0),
        kernel=normal((I, 3 * H), 1.0 / np.sqrt(I)),
        recurrent_kernel=normal((H, 3 * H), 1.0 / np.sqrt(H)),
        bias=normal(gru_bias_shape(H, reset_after), 0.5) if with_bias else None,
        h0=normal((B, H), 0.5) if with_h0 else None,
        mask=make_mask(rng, B, T, mask),
        recurrent_dropout_mask=None if dropout_p is None else make_dropout_mask(rng, B, H, dropout_p, dtype),
        reset_after=reset_after,
    )


def make_gru_upstream(rng, B, T, H, dtype, *, which=("dy", "dh_T")):
    """Random upstream gradients (dy, dh_T); those not named in ``which`` are None."""
    shapes = dict(dy=(B, T, H), dh_T=(B, H))
    return tuple(rng.standard_normal(shapes[k]).astype(dtype) if k in which else None
                 for k in ("dy", "dh_T"))


def call_gru_forward(fn, inputs, **options):
    """``fn(x, kernel, recurrent_kernel, bias, h0, **keyword options)`` from an inputs dict."""
    kw = {k: inputs[k] for k in GRU_OPTIONS if k in inputs}
    kw.update(options)
    return fn(*(inputs[k] for k in GRU_POSITIONAL), **kw)
