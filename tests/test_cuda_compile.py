"""Every CUDA source of csrc/cuda/ compiles with nvcc for the architectures PYSEQ_CUDA=ON builds
(sm_80 and sm_90 machine code, sm_90 PTX), warnings as errors. And what of the CUDA code can run
on the host does, compiled by nvcc: the attention dropout generator draws the CPU kernel's mask,
the attention kernels' block functions (on a one-thread host executor), the conv1d and pooling
kernels' element functions, and the recurrent families' step updates (driven in the CUDA host
code's order) match the float64 reference. Needs nvcc only, no GPU; skipped with the reason when nvcc (or, for gemm.cu, cuBLAS's headers) is missing."""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from dataclasses import replace

from hypothesis import example, given, settings

from pyseq import _core, reference

import test_attention as cpu_attention
import test_conv1d as cpu_conv1d
import test_gru as cpu_gru
import test_lstm as cpu_lstm
import test_simple_rnn as cpu_rnn
import test_pool1d as cpu_pool1d
from helpers import assert_all_close, assert_close, make_mask

CUDA_DIR = Path(__file__).resolve().parent.parent / "csrc" / "cuda"
SOURCES = sorted(CUDA_DIR.glob("*.cu"))
NEEDS_CUBLAS = {"gemm.cu"}  # the only file that includes cuBLAS's headers
# The architectures of CMakeLists.txt's PYSEQ_CUDA_ARCHITECTURES ("80-real;90").
ARCHS = ["-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=[sm_90,compute_90]"]
FLAGS = ["-std=c++17", "-O3", "--Werror", "all-warnings", "-Xcompiler", "-Wall,-Werror"]


def find_nvcc():
    found = shutil.which("nvcc")
    if found:
        return found
    default = Path("/usr/local/cuda/bin/nvcc")
    return str(default) if default.exists() else None


def find_cublas_include(nvcc):
    """The folder holding cublas_v2.h: the toolkit's, or the nvidia-cublas wheel's."""
    toolkit = Path(nvcc).resolve().parent.parent
    for inc in (toolkit / "include", toolkit / "targets" / "x86_64-linux" / "include"):
        if (inc / "cublas_v2.h").exists():
            return inc
    try:
        import nvidia.cu13 as wheel
        inc = Path(list(wheel.__path__)[0]) / "include"
        if (inc / "cublas_v2.h").exists():
            return inc
    except ImportError:
        pass
    return None


NVCC = find_nvcc()
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc not found (neither on PATH nor at /usr/local/cuda/bin)")


def compile_one(source, out_dir, include=None):
    cmd = [NVCC, *FLAGS, *ARCHS, "-c", str(source), "-o", str(Path(out_dir) / (source.stem + ".o"))]
    if include is not None:
        cmd[1:1] = ["-I", str(include)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return source.name, proc.returncode, proc.stdout + proc.stderr


def test_sources_exist():
    names = {s.name for s in SOURCES}
    assert {"attention.cu", "lstm.cu", "gemm.cu", "memory.cu", "device.cu"} <= names, names


def test_cuda_sources_compile(tmp_path):
    sources = [s for s in SOURCES if s.name not in NEEDS_CUBLAS]
    # One nvcc per file, as many at once as there are cores (each runs ptxas for two architectures).
    with ThreadPoolExecutor(max_workers=max(1, min(len(sources), os.cpu_count() or 1))) as pool:
        results = list(pool.map(lambda s: compile_one(s, tmp_path), sources))
    failures = [f"{name}: exit {rc}\n{log}" for name, rc, log in results if rc != 0]
    assert not failures, "\n".join(failures)
    for name, _, log in results:
        assert "warning" not in log.lower(), f"{name}:\n{log}"


@pytest.mark.parametrize("name", sorted(NEEDS_CUBLAS))
def test_cublas_sources_compile(name, tmp_path):
    include = find_cublas_include(NVCC)
    if include is None:
        pytest.skip("cuBLAS headers not found (toolkit without cuBLAS, and no nvidia-cublas wheel "
                    f"importable by {sys.executable})")
    _, rc, log = compile_one(CUDA_DIR / name, tmp_path, include)
    assert rc == 0, log
    assert "warning" not in log.lower(), log


def build_host_check(name, folder):
    """Compile tests/<name>.cu into an executable for the host (no GPU needed); its path."""
    exe = Path(folder) / name
    source = Path(__file__).resolve().parent / f"{name}.cu"
    proc = subprocess.run([NVCC, "-std=c++17", "-O2", "--Werror", "all-warnings", str(source), "-o", str(exe)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return exe


def host_check_runner(name, tmp_path_factory):
    """tests/<name>.cu compiled once, as run(int64 header, float64 arrays (None left out)) -> its flat
    float64 output; the executable reads its input file and writes its output file."""
    folder = tmp_path_factory.mktemp(name)
    exe = build_host_check(name, folder)

    def run(header, arrays):
        inp, out = folder / "in.bin", folder / "out.bin"
        with open(inp, "wb") as fh:
            fh.write(np.asarray(header, np.int64).tobytes())
            for a in arrays:
                if a is not None:
                    fh.write(np.ascontiguousarray(a, np.float64).tobytes())
        subprocess.run([str(exe), str(inp), str(out)], check=True)
        return np.fromfile(out, np.float64)
    return run


def test_dropout_generator_is_the_cpu_kernels(tmp_path):
    exe = build_host_check("cuda_dropout_check", tmp_path)
    for seed, shape, p in ((0, (1, 1, 1, 1), 0.5), (12345, (2, 3, 17, 33), 0.3),
                           (2**64 - 1, (1, 2, 5, 130), 0.9), (7, (2, 1, 3, 4), 0.0)):
        out = subprocess.run([str(exe), str(seed), *map(str, shape), repr(p)], capture_output=True,
                             text=True, check=True).stdout
        keep = np.frombuffer(out.encode(), dtype=np.uint8).reshape(shape) == ord("1")
        np.testing.assert_array_equal(keep, _core.attention_dropout_mask(seed, *shape, p), err_msg=f"{seed} {p}")
        if 0 < p < 1 and keep.size > 100:  # the comparison is not between two constant masks
            assert 0 < keep.mean() < 1


# ------------------------------------------------------------------------------------------------
# conv1d and pooling: the kernels' element functions, run on the host
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def window_check(tmp_path_factory):
    """Run tests/cuda_window_check.cu (compiled once): (mode, sizes, float64 arrays) -> flat output."""
    check = host_check_runner("cuda_window_check", tmp_path_factory)

    def run(mode, sizes, arrays):
        header = np.zeros(16, np.int64)
        header[0] = mode
        header[1:1 + len(sizes)] = sizes
        return check(header, arrays)
    return run


def split(flat, *shapes):
    out, at = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        out.append(flat[at:at + n].reshape(shape))
        at += n
    assert at == flat.size
    return out


@settings(max_examples=60)
@given(p=cpu_conv1d.problems())
@example(p=cpu_conv1d.Problem(2, 17, 6, 9, 5, np.float64, stride=3, padding="same", dilation=2, groups=3))
@example(p=cpu_conv1d.Problem(1, 4, 2, 2, 7, np.float64, stride=5, padding="causal", dilation=3))
def test_conv1d_element_functions_match_reference(window_check, p):
    inputs, dy = cpu_conv1d.build(p)
    opts = cpu_conv1d.options(p)
    y_r, cache = reference.conv1d_forward(inputs["x"], inputs["kernel"], inputs["bias"], **opts)
    if dy is None:
        dy = np.ones(y_r.shape)
    dx_r, dk_r, _ = reference.conv1d_backward(dy, cache)
    T_out, pad_left = reference._window_padding(p.T, p.span, p.stride, p.padding)
    sizes = [p.B, p.T, p.C, p.F, p.K, T_out, 1 if T_out == 1 else p.stride, p.dilation, p.groups, pad_left,
             int(p.with_bias)]
    arrays = [inputs["x"], inputs["kernel"]] + ([inputs["bias"]] if p.with_bias else []) + [dy]
    y, dx, dk = split(window_check(0, sizes, arrays), y_r.shape, dx_r.shape, dk_r.shape)
    for name, got, want in (("y", y, y_r), ("dx", dx, dx_r), ("dkernel", dk, dk_r)):
        assert_close(got, want, np.float64, f"{p}\n  {name}")


POOL_MODES = {"max_pool1d": 1, "avg_pool1d": 2, "global_max_pool1d": 3, "global_avg_pool1d": 4}


@settings(max_examples=60)
@given(p=cpu_pool1d.problems())
@example(p=cpu_pool1d.Problem("max_pool1d", 2, 10, 3, np.float64, pool_size=4, strides=1, padding="same", ties=True))
@example(p=cpu_pool1d.Problem("avg_pool1d", 2, 3, 4, np.float64, pool_size=7, padding="same"))
@example(p=cpu_pool1d.Problem("avg_pool1d", 2, 10, 3, np.float64, pool_size=2, strides=5))
@example(p=cpu_pool1d.Problem("global_max_pool1d", 3, 6, 4, np.float64, mask="fully_masked_rows", ties=True))
def test_pool1d_element_functions_match_reference(window_check, p):
    rng = np.random.default_rng(p.seed)
    x = rng.integers(-2, 3, size=(p.B, p.T, p.C)).astype(np.float64) if p.ties else rng.standard_normal((p.B, p.T, p.C))
    mask = make_mask(rng, p.B, p.T, p.mask) if p.op in cpu_pool1d.GLOBAL else None
    y_r, cache = cpu_pool1d.run(reference, p, x, mask)
    dy = rng.standard_normal(y_r.shape)
    (dx_r,) = getattr(reference, p.op + "_backward")(dy, cache)
    if p.op in cpu_pool1d.GLOBAL:
        sizes = [p.B, p.T, p.C, 0, 0, 0, 0, int(mask is not None)]
    else:
        strides = p.pool_size if p.strides is None else p.strides
        T_out, pad_left = reference._window_padding(p.T, p.pool_size, strides, p.padding)
        sizes = [p.B, p.T, p.C, T_out, p.pool_size, strides, pad_left, 0]
    arrays = [x] + ([mask] if mask is not None else []) + [dy]
    y, dx = split(window_check(POOL_MODES[p.op], sizes, arrays), y_r.shape, dx_r.shape)
    assert_close(y, y_r, np.float64, f"{p}\n  y")
    assert_close(dx, dx_r, np.float64, f"{p}\n  dx")


# ------------------------------------------------------------------------------------------------
# LSTM, GRU, SimpleRNN: the step kernels' updates (rnn_cells.cuh), run on the host
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rnn_check(tmp_path_factory):
    """Run tests/cuda_rnn_check.cu (compiled once): (sizes, float64 arrays) -> flat output."""
    return host_check_runner("cuda_rnn_check", tmp_path_factory)


RNN_ACTIVATION_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2, "linear": 3, None: 3}


def check_rnn_cells(run, mode, p, inputs, up, out_names, grad_names, fwd, bwd, fwd_opts):
    """The host run of the CUDA step updates against reference.<family>_forward/backward."""
    names = ("bias", "h0", "c0", "mask", "recurrent_dropout_mask")
    present = [inputs.get(n) is not None for n in names]
    sizes = [mode, p.B, p.T, p.I, p.H, int(p.reverse), int(p.zero_output_for_mask),
             RNN_ACTIVATION_CODES[fwd_opts.get("activation", "tanh")], *map(int, present)]
    ups = tuple(up) + (None,) * (3 - len(up))
    sizes += [int(u is not None) for u in ups]
    arrays = [inputs["x"], inputs["kernel"], inputs["recurrent_kernel"]] + [inputs.get(n) for n in names] + list(ups)
    positional = [inputs[k] for k in ("x", "kernel", "recurrent_kernel", "bias", "h0")] + \
        ([inputs.get("c0")] if mode == 0 else [])
    *outs_r, cache = fwd(*positional, mask=inputs["mask"], recurrent_dropout_mask=inputs["recurrent_dropout_mask"],
                         reverse=p.reverse, zero_output_for_mask=p.zero_output_for_mask, **fwd_opts)
    grads_r = bwd(*up, cache)
    shapes = [np.shape(a) for a in tuple(outs_r) + tuple(grads_r)]
    got = split(run(sizes, arrays), *shapes)
    n = len(outs_r)
    assert_all_close(tuple(got[:n]), tuple(outs_r), np.float64, out_names, prefix=f"{p}\n  ")
    assert_all_close(tuple(got[n:]), tuple(grads_r), np.float64, grad_names, prefix=f"{p}\n  ")


def float64_problem(p, **changes):
    return replace(p, dtype=np.float64, noncontiguous=False, **changes)


@settings(max_examples=40)
@given(p=cpu_lstm.problems().map(float64_problem))
@example(p=cpu_lstm.Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5))
@example(p=cpu_lstm.Problem(5, 7, 3, 2, np.float64, mask="leading_masked", zero_output_for_mask=True, upstream="dy"))
@example(p=cpu_lstm.Problem(2, 6, 3, 4, np.float64, mask="random", with_bias=False, with_h0=False, with_c0=False))
def test_lstm_step_updates_match_reference(rnn_check, p):
    inputs, up = cpu_lstm.build(p)
    check_rnn_cells(rnn_check, 0, p, inputs, up, cpu_lstm.OUT_NAMES, ("dx", "dkernel", "drecurrent_kernel", "dbias",
                    "dh0", "dc0"), reference.lstm_forward, reference.lstm_backward, {})


@settings(max_examples=40)
@given(p=cpu_gru.problems().map(lambda p: float64_problem(p, reset_after=True)))
@example(p=cpu_gru.Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5))
@example(p=cpu_gru.Problem(5, 7, 3, 2, np.float64, mask="leading_masked", zero_output_for_mask=True, upstream="dy"))
def test_gru_step_updates_match_reference(rnn_check, p):
    inputs, up = cpu_gru.build(p)
    check_rnn_cells(rnn_check, 1, p, inputs, up, ("y", "h_T"), ("dx", "dkernel", "drecurrent_kernel", "dbias", "dh0"),
                    reference.gru_forward, reference.gru_backward, dict(reset_after=True))


@settings(max_examples=40)
@given(p=cpu_rnn.problems().map(float64_problem))
@example(p=cpu_rnn.Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5,
                           activation="relu"))
@example(p=cpu_rnn.Problem(4, 5, 3, 2, np.float64, mask="random", activation=None, zero_output_for_mask=True))
def test_simple_rnn_step_updates_match_reference(rnn_check, p):
    inputs, up = cpu_rnn.build(p)
    check_rnn_cells(rnn_check, 2, p, inputs, up, ("y", "h_T"), ("dx", "dkernel", "drecurrent_kernel", "dbias", "dh0"),
                    reference.rnn_forward, reference.rnn_backward, dict(activation=p.activation))


# ------------------------------------------------------------------------------------------------
# attention: the kernels' block functions on the host executor
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attention_check(tmp_path_factory):
    """Run tests/cuda_attention_check.cu (compiled once): (header, float64 arrays) -> flat output."""
    return host_check_runner("cuda_attention_check", tmp_path_factory)


def check_attention_blocks(run, p, tile):
    inputs = cpu_attention.build(replace(p, dtype=np.float64, noncontiguous=False))
    opts = cpu_attention.options(p, inputs)
    q, k, v, do = (inputs[n] for n in ("q", "k", "v", "do"))
    if do is None:
        do = np.zeros((p.B, p.Lq, p.N, p.Dv))
    scale = 1.0 / np.sqrt(p.D) if p.scale is None else p.scale
    o_r, cache = reference.attention_forward(q, k, v, **opts)
    grads_r = reference.attention_backward(do, cache)
    # the log-sum-exp the kernel saves: of the scaled, masked scores, +inf for fully masked rows
    s = scale * np.einsum("bind,bjnd->bnij", q, k)
    allowed = reference._attention_allowed(p.B, p.Lq, p.Lk, p.causal, opts["key_mask"], opts["attn_mask"])
    with np.errstate(divide="ignore"):
        m = np.max(np.where(allowed, s, -np.inf), axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        total = np.where(allowed, np.exp(s - m), 0.0).sum(axis=-1)
        lse_r = np.where(total > 0, m[..., 0] + np.log(total), np.inf)
    header = np.zeros(16, np.int64)
    header[:10] = [p.B, p.N, p.Lq, p.Lk, p.D, p.Dv, int(p.causal), int(opts["key_mask"] is not None),
                   int(opts["attn_mask"] is not None), tile]
    header.view(np.uint64)[10] = opts["seed"] or 0
    arrays = [np.array([opts["dropout"]]), np.array([scale]), q, k, v, do] + \
        [m for m in (opts["key_mask"], opts["attn_mask"]) if m is not None]
    o, lse, dq, dk, dv = split(run(header, arrays), o_r.shape, lse_r.shape, *(g.shape for g in grads_r))
    assert np.array_equal(np.isinf(lse), np.isinf(lse_r)), f"{p}: fully masked rows differ"
    finite = np.isfinite(lse_r)
    assert_close(lse[finite], lse_r[finite], np.float64, f"{p} tile {tile}\n  lse")
    assert_all_close((o, dq, dk, dv), (o_r,) + tuple(grads_r), np.float64, ("o", "dq", "dk", "dv"),
                     prefix=f"{p} tile {tile}\n  ")


@settings(max_examples=60)
@given(p=cpu_attention.problems())
@example(p=cpu_attention.Problem(1, 1, 1, 1, 1, 1, np.float64, causal=True, mask="all_masked"))
@example(p=cpu_attention.Problem(2, 3, 9, 13, 8, 3, np.float64, causal=True, mask="key+attn", dropout=0.6))
@example(p=cpu_attention.Problem(3, 1, 13, 5, 17, 2, np.float64, causal=True, mask="attn_full_rows"))
@example(p=cpu_attention.Problem(2, 2, 7, 11, 3, 16, np.float64, mask="key_full_rows", scale=-0.7, dropout=0.2))
def test_attention_blocks_match_reference(attention_check, p):
    check_attention_blocks(attention_check, p, tile=(8, 16, 32, 64)[p.seed % 4])


@pytest.mark.parametrize("L", [7, 8, 9, 16, 17, 33])  # around the tiles of 8 and 16 rows
@pytest.mark.parametrize("causal", [False, True])
def test_attention_blocks_tile_boundaries(attention_check, L, causal):
    for tile in (8, 16):
        check_attention_blocks(attention_check, cpu_attention.Problem(1, 2, L, L + 3, 5, 4, np.float64, causal=causal,
                                                                      mask="key", dropout=0.25, seed=L), tile)
        check_attention_blocks(attention_check, cpu_attention.Problem(1, 1, L + 2, L, 4, 6, np.float64, causal=causal,
                                                                      seed=L + 1), tile)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_blocks_carry_nan_scores_into_their_rows(attention_check, causal):
    # As the CPU kernels and PyTorch: a NaN in a query makes its row of o, lse and dq NaN; a NaN
    # in a key makes the rows of every query that sees it NaN; the other rows stay finite.
    rng = np.random.default_rng(3)
    B, N, Lq, Lk, D, Dv, tile = 1, 2, 21, 27, 8, 5, 8
    q, k = (rng.standard_normal((B, L, N, D)) for L in (Lq, Lk))
    v, do = rng.standard_normal((B, Lk, N, Dv)), rng.standard_normal((B, Lq, N, Dv))
    q[0, 5, 0, 3] = np.nan   # query 5 of head 0: every score NaN
    k[0, 12, 1, 2] = np.nan  # key 12 of head 1: NaN for every query that sees it
    header = np.zeros(16, np.int64)
    header[:10] = [B, N, Lq, Lk, D, Dv, int(causal), 0, 0, tile]
    arrays = [np.array([0.0]), np.array([1.0 / np.sqrt(D)]), q, k, v, do]
    o, lse, dq, _, _ = split(attention_check(header, arrays), (B, Lq, N, Dv), (B, N, Lq), (B, Lq, N, D),
                             (B, Lk, N, D), (B, Lk, N, Dv))
    nan_rows = np.zeros((Lq, N), bool)
    nan_rows[5, 0] = True
    nan_rows[12 if causal else 0:, 1] = True
    assert np.isnan(o[0]).all(axis=-1)[nan_rows].all() and np.isfinite(o[0][~nan_rows]).all()
    assert np.isnan(lse[0].T[nan_rows]).all() and np.isfinite(lse[0].T[~nan_rows]).all()
    assert np.isnan(dq[0]).all(axis=-1)[nan_rows].all()
    assert np.isfinite(dq[0, :, 0][~nan_rows[:, 0]]).all()


def test_gemm_row_major_mapping(tmp_path):
    # gemm.cu's row-major to column-major translation, through a column-major product on the host
    exe = build_host_check("cuda_gemm_check", tmp_path)
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr
