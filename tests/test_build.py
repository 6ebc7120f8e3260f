"""The package as built: build_info, thread and SIMD controls, the CUDA stub, where the BLAS comes
from, and that the portable code path holds no AVX instructions."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import pyseq
from pyseq import _core, ops, reference

from helpers import (LSTM_GRAD_NAMES, assert_all_close, call_lstm_forward, make_lstm_inputs,
                     make_lstm_upstream)


def test_build_info_keys_and_types():
    info = pyseq.build_info()
    assert info["version"] == pyseq.__version__
    for key in ("compiler", "blas", "blas_version", "cuda_info", "simd"):
        assert isinstance(info[key], str) and info[key]
    assert isinstance(info["openmp"], bool)
    assert isinstance(info["cuda"], bool)
    assert info["simd"] in info["simd_available"]
    assert "baseline" in info["simd_available"]
    assert info["num_threads"] == pyseq.get_num_threads()


def test_blas_is_loaded_from_the_installed_wheel():
    import scipy_openblas32

    if pyseq.build_info()["blas"] != "scipy-openblas32":
        pytest.skip("built against another BLAS")
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "libscipy_openblas.so" in line}
    assert paths, "libscipy_openblas.so is not mapped"
    wheel_lib = os.path.realpath(scipy_openblas32.get_lib_dir())
    assert all(os.path.realpath(p).startswith(wheel_lib) for p in paths), paths


@pytest.fixture
def restore_threads():
    n = pyseq.get_num_threads()
    yield
    pyseq.set_num_threads(n)


def test_set_num_threads(restore_threads):
    pyseq.set_num_threads(1)
    assert pyseq.get_num_threads() == 1
    assert pyseq.build_info()["num_threads"] == 1
    pyseq.set_num_threads(3)
    assert pyseq.get_num_threads() == 3


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                      ("2", TypeError), (True, TypeError), (None, TypeError)])
def test_set_num_threads_rejects_bad_values(bad, exc, restore_threads):
    with pytest.raises(exc, match=r"^\[set_num_threads\]"):
        pyseq.set_num_threads(bad)


def test_cuda_stub_names_the_option():
    if pyseq.build_info()["cuda"]:
        pytest.skip("this build has CUDA")
    with pytest.raises(RuntimeError, match="PYSEQ_CUDA=ON"):
        _core.cuda_device_count()


def test_unknown_tuning_modes_are_refused():
    with pytest.raises(ValueError, match=r"^\[set_rnn_split\].*got 'rows'"):
        _core.set_rnn_split("rows")
    with pytest.raises(ValueError, match=r"^\[set_step_product\].*got 'mkl'"):
        _core.set_step_product("mkl")


def test_unknown_simd_level_is_refused():
    with pytest.raises(ValueError, match=r"^\[set_simd\].*got 'sse9'"):
        _core.set_simd("sse9")


def _lstm_against_reference(rng, B, T, I, H, dtype):
    inputs = make_lstm_inputs(rng, B, T, I, H, dtype, mask="random", dropout_p=0.3)
    up = make_lstm_upstream(rng, B, T, H, dtype)
    y, h, c, saved = call_lstm_forward(ops.lstm_forward, inputs, reverse=True)
    grads = ops.lstm_backward(*up, saved)
    yr, hr, cr, cache = call_lstm_forward(reference.lstm_forward, inputs, reverse=True)
    grads_ref = reference.lstm_backward(*up, cache)
    assert_all_close((y, h, c) + tuple(grads), (yr, hr, cr) + tuple(grads_ref), dtype,
                     ("y", "h_T", "c_T") + LSTM_GRAD_NAMES)


@pytest.mark.parametrize("level", _core.build_info()["simd_available"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_simd_level_matches_the_reference(level, dtype):
    previous = _core.get_simd()
    try:
        _core.set_simd(level)
        assert pyseq.build_info()["simd"] == level
        rng = np.random.default_rng(7)
        for B, T, I, H in [(3, 5, 4, 7), (2, 9, 3, 67), (1, 4, 5, 129)]:
            _lstm_against_reference(rng, B, T, I, H, dtype)
    finally:
        _core.set_simd(previous)


@pytest.mark.parametrize("product", ["packed", "blas"])
@pytest.mark.parametrize("split", ["batch", "units"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_thread_split_and_step_product_matches_the_reference(split, product, threads,
                                                                   restore_threads):
    previous = _core.get_rnn_split(), _core.get_step_product()
    try:
        _core.set_rnn_split(split)
        _core.set_step_product(product)
        pyseq.set_num_threads(threads)
        rng = np.random.default_rng(threads)
        # rows around the micro-kernel's row block (6 or 8) and columns around its panel width
        for B, T, I, H in [(1, 6, 3, 64), (5, 7, 4, 50), (4, 3, 6, 24), (9, 4, 5, 33),
                           (17, 3, 2, 70)]:
            for dtype in (np.float32, np.float64):
                _lstm_against_reference(rng, B, T, I, H, dtype)
    finally:
        _core.set_rnn_split(previous[0])
        _core.set_step_product(previous[1])


def test_backward_with_a_different_thread_count_than_forward(restore_threads):
    """Forward's gate layout follows its thread count; backward must read it whatever its own."""
    previous = _core.get_rnn_split()
    rng = np.random.default_rng(3)
    B, T, I, H = 2, 5, 3, 48
    inputs = make_lstm_inputs(rng, B, T, I, H, np.float64, mask="random")
    up = make_lstm_upstream(rng, B, T, H, np.float64)
    try:
        _core.set_rnn_split("units")
        pyseq.set_num_threads(3)
        _, _, _, saved = call_lstm_forward(ops.lstm_forward, inputs)
        pyseq.set_num_threads(1)
        grads = ops.lstm_backward(*up, saved)
    finally:
        _core.set_rnn_split(previous)
    _, _, _, cache = call_lstm_forward(reference.lstm_forward, inputs)
    assert_all_close(grads, reference.lstm_backward(*up, cache), np.float64, LSTM_GRAD_NAMES)


def test_portable_path_has_no_avx_instructions():
    """Only code in the avx2/avx512 namespaces may use VEX/EVEX instructions: anything else runs
    on every x86-64 CPU. Guards against header code shared between the ISA builds."""
    objdump = shutil.which("objdump")
    if objdump is None or os.uname().machine != "x86_64":
        pytest.skip("needs objdump on x86-64")
    out = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", _core.__file__],
                         capture_output=True, text=True, check=True).stdout
    offenders = {}
    name = None
    for line in out.splitlines():
        if line.endswith(">:") and "<" in line:
            name = line
            continue
        parts = line.split("\t")
        if len(parts) < 2 or name is None:
            continue
        mnemonic = parts[1].split(" ")[0]
        if mnemonic.startswith("v") and mnemonic not in ("verr", "verw"):
            if "avx2::" not in name and "avx512::" not in name:
                offenders[name] = offenders.get(name, 0) + 1
    assert not offenders, f"AVX instructions outside the ISA builds: {offenders}"


def test_concurrent_calls_from_python_threads_match_serial_ones():
    """The GIL is released for the whole kernel: several Python threads may be inside pyseq at
    once, each with its own team and scratch memory; results equal the serial ones."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    jobs = []
    for B, T, I, H in [(1, 30, 5, 64), (9, 20, 7, 33), (33, 12, 4, 40), (4, 25, 6, 96)] * 2:
        inputs = make_lstm_inputs(rng, B, T, I, H, np.float32, mask="random")
        jobs.append((inputs, make_lstm_upstream(rng, B, T, H, np.float32)))

    def run(job):
        inputs, up = job
        y, h, c, saved = call_lstm_forward(ops.lstm_forward, inputs)
        return (y, h, c) + tuple(ops.lstm_backward(*up, saved))

    serial = [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(run, jobs))
    for got, want in zip(concurrent, serial):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
