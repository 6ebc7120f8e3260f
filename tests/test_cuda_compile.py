"""Every CUDA source of csrc/cuda/ compiles with nvcc for the architectures PYSEQ_CUDA=ON builds
(sm_80 and sm_90 machine code, sm_90 PTX), warnings as errors; and the CUDA kernels' dropout
generator, compiled by nvcc and run on the host, draws the CPU kernel's mask. Needs nvcc only, no
GPU; skipped with the reason when nvcc (or, for gemm.cu, cuBLAS's headers) is missing."""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pyseq import _core

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


def test_dropout_generator_is_the_cpu_kernels(tmp_path):
    exe = tmp_path / "cuda_dropout_check"
    source = Path(__file__).resolve().parent / "cuda_dropout_check.cu"
    proc = subprocess.run([NVCC, "-std=c++17", "-O2", "--Werror", "all-warnings", str(source), "-o", str(exe)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for seed, shape, p in ((0, (1, 1, 1, 1), 0.5), (12345, (2, 3, 17, 33), 0.3),
                           (2**64 - 1, (1, 2, 5, 130), 0.9), (7, (2, 1, 3, 4), 0.0)):
        out = subprocess.run([str(exe), str(seed), *map(str, shape), repr(p)], capture_output=True,
                             text=True, check=True).stdout
        keep = np.frombuffer(out.encode(), dtype=np.uint8).reshape(shape) == ord("1")
        np.testing.assert_array_equal(keep, _core.attention_dropout_mask(seed, *shape, p), err_msg=f"{seed} {p}")
        if 0 < p < 1 and keep.size > 100:  # the comparison is not between two constant masks
            assert 0 < keep.mean() < 1
