"""Checks the recurrent families' kernel tests (test_simple_rnn.py, test_gru.py, test_lstm.py) share:
output types, repeated backward from one saved, thread-count and tuning changes, concurrent calls."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest
from hypothesis import strategies as st

import pyseq
from pyseq import _core, ops, reference

from helpers import (MASK_KINDS, assert_all_close, assert_close, assert_unchanged, copy_inputs,
                     make_noncontiguous)


@pytest.fixture
def restore_tuning():
    """Put the thread count, step-loop split, step product and SIMD level back after the test."""
    saved = pyseq.get_num_threads(), _core.get_rnn_split(), _core.get_step_product(), _core.get_simd()
    yield
    pyseq.set_num_threads(saved[0])
    _core.set_rnn_split(saved[1])
    _core.set_step_product(saved[2])
    _core.set_simd(saved[3])


def assert_typed_outputs(names, arrays, dtype, expected_shapes):
    """Every output and gradient is an ndarray of the inputs' dtype and the expected shape."""
    for name, a in zip(names, arrays):
        assert isinstance(a, np.ndarray), f"{name} is {type(a).__name__}, not an ndarray"
        assert a.dtype == dtype, f"{name} has dtype {a.dtype}, inputs were {dtype}"
        assert a.shape == expected_shapes[name], f"{name} has shape {a.shape}, expected {expected_shapes[name]}"


def assert_backward_repeatable(backward, up, saved, grad_names):
    """saved serves any number of backwards: the same gradients each time, also after a backward
    with every upstream gradient None (which gives zeros)."""
    g1 = backward(*up, saved)
    g2 = backward(*up, saved)
    g_none = backward(*(None for _ in up), saved)
    g3 = backward(*up, saved)
    for name, a, b, c in zip(grad_names, g1, g2, g3):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: second backward differs")
        np.testing.assert_array_equal(a, c, err_msg=f"{name}: backward after a None-upstream backward differs")
    for name, z in zip(grad_names, g_none):
        assert not np.any(z), f"{name} is not zero for None upstream gradients"


def assert_forward_deterministic(forward_outputs, names):
    """``forward_outputs()`` (no arguments) twice gives bit-identical ``names`` outputs."""
    a, b = forward_outputs(), forward_outputs()
    for name, u, v in zip(names, a, b):
        np.testing.assert_array_equal(u, v, err_msg=name)


def assert_thread_count_does_not_matter(run, names, dtype):
    """``run()`` (forward and backward) with 1 and with 2 threads agrees to the dtype's tolerance;
    the thread count is put back afterwards."""
    n0 = pyseq.get_num_threads()
    results = {}
    try:
        for n in (1, 2):
            pyseq.set_num_threads(n)
            assert pyseq.get_num_threads() == n
            results[n] = run()
    finally:
        pyseq.set_num_threads(n0)
    assert pyseq.get_num_threads() == n0
    for name, a, b in zip(names, results[1], results[2]):
        assert_close(b, a, dtype, f"{name}: 2 threads vs 1 thread")


def assert_concurrent_matches_serial(run, jobs, workers=4):
    """The GIL is released for the whole kernel: ``run(job)`` from several Python threads at once
    (each call with its own team and scratch) equals the serial results bit for bit."""
    serial = [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        concurrent = list(pool.map(run, jobs))
    for got, want in zip(concurrent, serial):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def check_op_against_oracle(op, call, inputs, up, opts, *, out_names, grad_names, upstream_names,
                            expected_shapes, dtype, factor=1.0, prefix=""):
    """Run ``ops.<op>_forward/_backward`` and the float64 oracle ``reference.<op>_*`` on the same
    inputs (``call(fn, inputs, **opts)`` calls a forward); check the kernel's output types, every
    output and gradient against the oracle, and that no input was modified. Returns the kernel's
    (outputs, gradients, saved)."""
    before = copy_inputs(inputs)
    up_before = copy_inputs(dict(zip(upstream_names, up)))

    *outs, saved = call(getattr(ops, f"{op}_forward"), inputs, **opts)
    grads = getattr(ops, f"{op}_backward")(*up, saved)

    dt = np.dtype(dtype)
    assert len(grads) == len(grad_names)
    assert_typed_outputs(out_names + grad_names, tuple(outs) + tuple(grads), dt, expected_shapes)

    *outs_r, cache = call(getattr(reference, f"{op}_forward"), inputs, **opts)
    grads_r = getattr(reference, f"{op}_backward")(*up, cache)
    assert_all_close(tuple(outs), tuple(outs_r), dt, out_names, factor=factor, prefix=prefix)
    assert_all_close(grads, grads_r, dt, grad_names, factor=factor, prefix=prefix)

    assert_unchanged(before, inputs, f"{op}_forward/backward")
    assert_unchanged(up_before, dict(zip(upstream_names, up)), f"{op}_backward")
    return tuple(outs), grads, saved


# ------------------------------------------------------------------------------------------------
# Problems for the property tests: what every family draws; each adds its own options
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecurrentProblem:
    """One kernel-vs-oracle case; families subclass it to add their options (all defaulted)."""
    B: int
    T: int
    I: int  # noqa: E741
    H: int
    dtype: type
    mask: str = "none"
    reverse: bool = False
    zero_output_for_mask: bool = False
    with_bias: bool = True
    with_h0: bool = True
    dropout_p: Optional[float] = None
    noncontiguous: bool = False
    upstream: str = "all"
    seed: int = 0


def draw_common_fields(draw, *, sizes, dtypes, upstream_kinds):
    """The RecurrentProblem fields drawn by a family's hypothesis strategy, as keyword arguments."""
    return dict(
        B=draw(st.sampled_from(sizes)),
        T=draw(st.integers(1, 12)),
        I=draw(st.sampled_from(sizes)),
        H=draw(st.sampled_from(sizes)),
        dtype=draw(st.sampled_from(dtypes)),
        mask=draw(st.sampled_from(MASK_KINDS)),
        reverse=draw(st.booleans()),
        zero_output_for_mask=draw(st.booleans()),
        with_bias=draw(st.booleans()),
        with_h0=draw(st.booleans()),
        dropout_p=draw(st.sampled_from([None, 0.25, 0.5])),
        noncontiguous=draw(st.booleans()),
        upstream=draw(st.sampled_from(list(upstream_kinds))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def strided_if_asked(p, inputs, up, rng):
    """The Problem's inputs and upstream gradients, made non-contiguous when it asks for that
    (non-array entries such as GRU's reset_after are passed through)."""
    if not p.noncontiguous:
        return inputs, up
    inputs = {k: (make_noncontiguous(v, rng) if isinstance(v, np.ndarray) or v is None else v)
              for k, v in inputs.items()}
    return inputs, tuple(make_noncontiguous(u, rng) for u in up)
