"""pyseq.ops.<family>_forward_tokens (LSTM, GRU in both forms, SimpleRNN on x = table[ids], x
never formed) and <family>_backward on its saved, against the float64 oracle
reference.<family>_forward_tokens / <family>_backward_tokens."""

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pyseq import _core, ops, reference

from gru_helpers import make_gru_inputs
from helpers import (assert_all_close, assert_unchanged, copy_inputs, make_lstm_inputs,
                     make_noncontiguous, make_rnn_inputs, numeric_gradients)
from rnn_checks import (RecurrentProblem, assert_backward_repeatable,
                        assert_thread_count_does_not_matter, draw_common_fields, restore_tuning)  # noqa: F401

DTYPES = [np.float32, np.float64]
SIZES = [1, 2, 3, 5, 7, 13, 17, 31]
ID_DTYPES = ["int32", "int64", "uint8", "int16", "uint32"]
OPTIONS = ("mask", "reverse", "zero_output_for_mask", "recurrent_dropout_mask")


@dataclass(frozen=True)
class Family:
    name: str        # ops.<name>_forward_tokens, ops.<name>_backward
    states: tuple    # names of the state outputs / initial states
    make: object     # make_<family>_inputs(rng, B, T, I, H, dtype, **options)
    extra: dict = field(default_factory=dict)  # keyword options of this variant

    @property
    def out_names(self):
        return ("y",) + tuple(f"{s}_T" for s in self.states)

    @property
    def grad_names(self):
        return ("d_table", "dkernel", "drecurrent_kernel", "dbias") + tuple(f"d{s}0" for s in self.states)

    @property
    def positional(self):
        return ("ids", "table", "kernel", "recurrent_kernel", "bias") + tuple(f"{s}0" for s in self.states)


FAMILIES = {
    "lstm": Family("lstm", ("h", "c"), make_lstm_inputs),
    "gru": Family("gru", ("h",), make_gru_inputs, {"reset_after": True}),
    "gru_reset_before": Family("gru", ("h",), make_gru_inputs, {"reset_after": False}),
    "rnn_tanh": Family("rnn", ("h",), make_rnn_inputs, {"activation": "tanh"}),
    "rnn_relu": Family("rnn", ("h",), make_rnn_inputs, {"activation": "relu"}),
    "rnn_linear": Family("rnn", ("h",), make_rnn_inputs, {"activation": None}),
}


@dataclass(frozen=True)
class Problem(RecurrentProblem):
    family: str = "lstm"
    V: int = 3
    id_dtype: str = "int64"


UPSTREAM = {"all": "all", "none": "none", "dy": "dy", "states": "states"}


@st.composite
def problems(draw):
    return Problem(**draw_common_fields(draw, sizes=SIZES, dtypes=DTYPES, upstream_kinds=UPSTREAM),
                   family=draw(st.sampled_from(sorted(FAMILIES))),
                   V=draw(st.sampled_from([1, 2, 3, 7, 64, 300])),
                   id_dtype=draw(st.sampled_from(ID_DTYPES)))


def build(p):
    """(family, inputs dict, upstream tuple) for a Problem."""
    fam = FAMILIES[p.family]
    rng = np.random.default_rng(p.seed)
    V = min(p.V, 255) if p.id_dtype == "uint8" else p.V
    kw = dict(mask=p.mask, with_bias=p.with_bias, with_h0=p.with_h0, dropout_p=p.dropout_p)
    if "reset_after" in fam.extra:
        kw["reset_after"] = fam.extra["reset_after"]
    inputs = fam.make(rng, p.B, p.T, p.I, p.H, p.dtype, **kw)
    inputs.pop("reset_after", None)
    inputs.pop("x")
    inputs["ids"] = rng.integers(0, V, (p.B, p.T)).astype(p.id_dtype)
    inputs["table"] = rng.standard_normal((V, p.I)).astype(p.dtype)
    shapes = {"dy": (p.B, p.T, p.H)} | {f"d{s}_T": (p.B, p.H) for s in fam.states}
    names = list(shapes)
    chosen = {"all": names, "none": [], "dy": ["dy"], "states": names[1:]}[p.upstream]
    up = tuple(rng.standard_normal(shapes[k]).astype(p.dtype) if k in chosen else None for k in names)
    if p.noncontiguous:
        inputs = {k: (make_noncontiguous(v, rng) if isinstance(v, np.ndarray) else v)
                  for k, v in inputs.items()}
        up = tuple(make_noncontiguous(u, rng) for u in up)
    return fam, inputs, up


def call(fn, fam, inputs, **options):
    kw = {k: inputs[k] for k in OPTIONS if k in inputs}
    kw.update(fam.extra)
    kw.update(options)
    return fn(*(inputs[k] for k in fam.positional), **kw)


def run(fam, inputs, up, **opts):
    *outs, saved = call(getattr(ops, f"{fam.name}_forward_tokens"), fam, inputs, **opts)
    return tuple(outs), getattr(ops, f"{fam.name}_backward")(*up, saved), saved


def check_against_reference(p):
    fam, inputs, up = build(p)
    before, up_before = copy_inputs(inputs), copy_inputs(dict(enumerate(up)))
    opts = dict(reverse=p.reverse, zero_output_for_mask=p.zero_output_for_mask)
    outs, grads, _ = run(fam, inputs, up, **opts)
    *outs_r, cache = call(getattr(reference, f"{fam.name}_forward_tokens"), fam, inputs, **opts)
    grads_r = getattr(reference, f"{fam.name}_backward_tokens")(*up, cache)
    dt = np.dtype(p.dtype)
    V = inputs["table"].shape[0]
    assert grads[0].shape == (V, p.I) and grads[0].dtype == dt
    assert outs[0].shape == (p.B, p.T, p.H) and outs[0].dtype == dt
    assert_all_close(outs, tuple(outs_r), dt, fam.out_names, prefix=f"{p}\n  ")
    assert_all_close(grads, grads_r, dt, fam.grad_names, prefix=f"{p}\n  ")
    assert_unchanged(before, inputs, f"{fam.name}_forward_tokens/backward")
    assert_unchanged(up_before, dict(enumerate(up)), f"{fam.name}_backward")


@given(p=problems())
@example(p=Problem(1, 1, 1, 1, np.float32, V=1))
@example(p=Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5,
                   V=300, family="gru_reset_before"))
@example(p=Problem(7, 9, 13, 17, np.float32, mask="right_padded", zero_output_for_mask=True,
                   noncontiguous=True, id_dtype="uint8", upstream="dy", family="rnn_relu"))
def test_tokens_match_reference(p):
    check_against_reference(p)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,T,I,H,V", [(64, 6, 33, 129, 20), (2, 30, 8, 257, 5), (33, 50, 70, 65, 11)])
def test_tokens_large(B, T, I, H, V, dtype, family):  # noqa: E741
    # chunked gate layouts (H large against B), both thread splits of the step loop
    check_against_reference(Problem(B, T, I, H, dtype, V=V, mask="random", reverse=True,
                                    dropout_p=0.25, seed=B + H, family=family))


@pytest.mark.parametrize("split", ["batch", "units"])
@pytest.mark.parametrize("step_product", ["packed", "blas"])
def test_tokens_every_split_and_step_product(split, step_product, restore_tuning):  # noqa: F811
    _core.set_rnn_split(split)
    _core.set_step_product(step_product)
    for family in FAMILIES:
        for dtype in DTYPES:
            check_against_reference(Problem(16, 7, 9, 40, dtype, V=6, mask="random",
                                            dropout_p=0.5, seed=7, family=family))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tokens_equal_the_op_on_gathered_rows(family):
    fam, inputs, up = build(Problem(8, 11, 6, 10, np.float32, V=4, mask="random", seed=9, family=family))
    outs, grads, _ = run(fam, inputs, up)
    x_inputs = dict(inputs, x=inputs["table"][inputs["ids"]])
    positional = ("x",) + fam.positional[2:]
    *outs_x, saved = getattr(ops, f"{fam.name}_forward")(*(x_inputs[k] for k in positional),
                                                          mask=inputs["mask"], **fam.extra)
    dx, *rest = getattr(ops, f"{fam.name}_backward")(*up, saved)
    for a, b in zip(outs, outs_x):
        np.testing.assert_array_equal(a, b)  # the same projection rows, gathered instead of multiplied
    d_table = np.zeros_like(inputs["table"])
    np.add.at(d_table, inputs["ids"], dx)
    assert_all_close(grads, (d_table, *rest), np.dtype(np.float32), fam.grad_names)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tokens_backward_repeatable_and_threads(family):
    p = Problem(17, 20, 31, 65, np.float64, V=9, mask="random", reverse=True, dropout_p=0.25,
                seed=5, family=family)
    fam, inputs, up = build(p)
    *_, saved = call(getattr(ops, f"{fam.name}_forward_tokens"), fam, inputs, reverse=True)
    assert_backward_repeatable(getattr(ops, f"{fam.name}_backward"), up, saved, fam.grad_names)

    def both():
        outs, grads, _ = run(fam, inputs, up, reverse=True)
        return outs + tuple(grads)

    assert_thread_count_does_not_matter(both, fam.out_names + fam.grad_names, np.float64)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tokens_gradients_match_finite_differences(family):
    fam, inputs, up = build(Problem(3, 4, 3, 2, np.float64, V=3, dropout_p=0.5, seed=6, family=family))
    inputs["mask"] = np.array([[0, 0, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)

    def loss(inp):
        outs = call(getattr(ops, f"{fam.name}_forward_tokens"), fam, inp)[:-1]
        return float(sum(np.sum(o * u) for o, u in zip(outs, up) if u is not None))

    _, grads, _ = run(fam, inputs, up)
    for name, g, num in zip(fam.grad_names, grads, numeric_gradients(loss, inputs, fam.positional[1:])):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"{family} {name}")


# ------------------------------------------------------------------------------------------------
# Bad input: ValueError / TypeError naming the op
# ------------------------------------------------------------------------------------------------

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def good(family, dtype=np.float32, B=2, T=3, V=5, I=4, H=3):  # noqa: E741
    G = GATES[family]
    rng = np.random.default_rng(0)
    args = dict(ids=rng.integers(0, V, (B, T)), table=rng.standard_normal((V, I)).astype(dtype),
                kernel=np.zeros((I, G * H), dtype), recurrent_kernel=np.zeros((H, G * H), dtype),
                bias=None, h0=None)
    if family == "lstm":
        args["c0"] = None
    return args


BAD = [
    ("ids", lambda G: np.zeros((2, 3), np.float32), TypeError, r"ids must be an integer array"),
    ("ids", lambda G: np.full((2, 3), 5), ValueError, r"ids must be in \[0, 5\), got values in \[5, 5\]"),
    ("ids", lambda G: np.full((2, 3), -1), ValueError, r"ids must be in \[0, 5\)"),
    ("ids", lambda G: np.zeros(6, np.int64), ValueError, r"ids .*\(B, T\)"),
    ("ids", lambda G: np.zeros((2, 0), np.int64), ValueError, r"steps T"),
    ("table", lambda G: np.zeros((5, 4), np.int32), TypeError, r"table"),
    ("table", lambda G: np.zeros((5, 4, 1), np.float32), ValueError, r"table .*\(V, I\)"),
    ("table", lambda G: np.zeros((0, 4), np.float32), ValueError, r"table rows V"),
    ("table", lambda G: np.zeros((5, 3), np.float32), ValueError, r"kernel"),
    ("kernel", lambda G: np.zeros((4, 3 * G), np.float64), TypeError, r"kernel"),
    ("recurrent_kernel", lambda G: np.zeros((3, 3 * G + 1), np.float32), ValueError, r"recurrent_kernel"),
    ("bias", lambda G: np.zeros(11, np.float32), ValueError, r"bias"),
    ("h0", lambda G: np.zeros((3, 3), np.float32), ValueError, r"h0"),
]


@pytest.mark.parametrize("family", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("name,value,exc,pattern", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_tokens_bad_input(family, name, value, exc, pattern):
    args = good(family)
    args[name] = value(GATES[family])
    op = f"{family}_forward_tokens"
    with pytest.raises(exc, match=r"^\[" + op + r"\] .*(" + pattern + ")"):
        getattr(ops, op)(*args.values())


@pytest.mark.parametrize("family", ["lstm", "gru", "rnn"])
def test_tokens_bad_mask_and_backward_upstream(family):
    args = good(family)
    op = f"{family}_forward_tokens"
    with pytest.raises(ValueError, match=r"^\[" + op + r"\] mask"):
        getattr(ops, op)(*args.values(), mask=np.ones((2, 4), bool))
    *_, saved = getattr(ops, op)(*args.values())
    with pytest.raises(ValueError, match=r"^\[" + family + r"_backward\] dy"):
        getattr(ops, f"{family}_backward")(np.zeros((2, 3, 4), np.float32), *([None] * (len(args) - 5)), saved)
    if family == "rnn":
        with pytest.raises(ValueError, match=r"^\[rnn_forward_tokens\] activation"):
            ops.rnn_forward_tokens(*args.values(), activation="softsign")
