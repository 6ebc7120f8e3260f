"""Where an op runs: GPU arrays go to the CUDA backend (pyseq._cuda), NumPy arrays to the CPU.

An input is a GPU array when it has ``__cuda_array_interface__`` (CuPy, PyTorch CUDA tensors,
Numba) or a DLPack device of type CUDA. The ops in :mod:`pyseq.ops` are wrapped by
:func:`gpu_aware`: with no GPU array among the arguments the CPU op runs exactly as before;
with GPU arrays every array argument must be one (TypeError naming the op otherwise), and the
results come back as arrays of the inputs' library, on the device, without a host copy.
"""

import functools
import inspect

import numpy as np

from . import _core

_BUILD_HINT = "reinstall with pip install . -Ccmake.define.PYSEQ_CUDA=ON"
_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged


def is_gpu_array(x):
    """Whether x is an array in GPU memory (CUDA Array Interface or a CUDA DLPack device)."""
    if type(x) is np.ndarray or x is None:
        return False
    if _torch_cuda(x):
        return True
    try:
        if hasattr(x, "__cuda_array_interface__"):
            return True
    except Exception:  # noqa: BLE001 - some libraries raise instead of lacking the attribute
        return False
    dev = getattr(x, "__dlpack_device__", None)
    if dev is None:
        return False
    try:
        return int(dev()[0]) in _DLPACK_CUDA
    except Exception:  # noqa: BLE001
        return False


def _torch_cuda(x):
    # PyTorch tensors that require grad refuse __cuda_array_interface__; ask them directly.
    return type(x).__module__.startswith("torch") and getattr(x, "is_cuda", False) is True


class GpuSaved:
    """The saved state of a GPU forward: the kernel's (opaque, on the device) and the first input,
    whose library backward's gradients are returned in."""

    __slots__ = ("state", "like")

    def __init__(self, state, like):
        self.state, self.like = state, like

    def __getattr__(self, name):  # seed, dropout, lse, ... of the kernel's saved state
        return getattr(object.__getattribute__(self, "state"), name)


def _is_saved_on_gpu(x):
    return type(x) is GpuSaved


def _is_array_like(x):
    # Host arrays (NumPy, lists, CPU tensors); scalars, strings and None are options, not arrays.
    if x is None or isinstance(x, (np.generic, str, bytes, int, float, complex)):
        return False
    return isinstance(x, (np.ndarray, list, tuple)) or hasattr(x, "__array__") or \
        hasattr(x, "__array_interface__")


def cuda_module(op):
    """pyseq._cuda, or RuntimeError naming the build option when pyseq was built without it."""
    if not _core.build_info()["cuda"]:
        raise RuntimeError(f"[{op}] got GPU arrays, but pyseq was built without CUDA; {_BUILD_HINT} "
                           "(needs nvcc and cuBLAS), or pass NumPy arrays to run on the CPU")
    try:
        from . import _cuda
    except ImportError as exc:
        raise RuntimeError(f"[{op}] pyseq was built with CUDA, but its CUDA module could not be "
                           f"loaded: {exc}") from exc
    return _cuda


def _interface(op, name, x):
    """(ptr, shape, strides, typestr, stream) of a GPU array."""
    if _torch_cuda(x):
        x = x.detach()
    if not hasattr(x, "__cuda_array_interface__"):
        x = _from_dlpack(op, name, x)
    cai = x.__cuda_array_interface__
    if cai.get("mask") is not None:
        raise TypeError(f"[{op}] {name} is a masked GPU array; pass an unmasked one")
    ptr = cai["data"][0] or 0
    stream = cai.get("stream") or 0
    strides = cai.get("strides")
    return x, ptr, tuple(int(s) for s in cai["shape"]), \
        None if strides is None else tuple(int(s) for s in strides), cai["typestr"], int(stream)


def _from_dlpack(op, name, x):
    # A DLPack-only array (no CUDA Array Interface): view it through a library that has both.
    for lib in ("cupy", "torch"):
        try:
            mod = __import__(lib)
            return mod.from_dlpack(x)
        except ImportError:
            continue
    raise TypeError(f"[{op}] {name} is a DLPack CUDA array without __cuda_array_interface__; "
                    "pyseq reads those through CuPy or PyTorch, and neither is installed")


def to_device_buffer(cuda, op, name, x):
    """A GPU array as a contiguous pyseq DeviceBuffer (a view, or a copy when strided)."""
    owner, ptr, shape, strides, typestr, stream = _interface(op, name, x)
    return cuda.from_interface(op, ptr, shape, strides, typestr, owner, stream)


def like(buf, x):
    """A pyseq DeviceBuffer as an array of x's library, sharing its memory (no copy)."""
    if buf is None or not hasattr(buf, "__cuda_array_interface__"):
        return buf
    root = type(x).__module__.split(".")[0]
    if root == "torch":
        import torch
        return torch.as_tensor(buf, device=x.device)
    if root == "cupy":
        import cupy
        return cupy.asarray(buf)
    if root == "numba":
        from numba import cuda as numba_cuda
        return numba_cuda.as_cuda_array(buf)
    return buf  # any other library reads __cuda_array_interface__ from the buffer itself


def gpu_aware(cpu_op, gpu_op=None):
    """Wrap an op of pyseq.ops: GPU arguments go to ``gpu_op(cuda, bound_arguments)`` (None: the
    family has no CUDA kernel yet), everything else to ``cpu_op`` unchanged."""
    name = cpu_op.__name__
    signature = inspect.signature(cpu_op)

    @functools.wraps(cpu_op)
    def op(*args, **kwargs):
        if not any(map(_on_gpu, args)) and not any(map(_on_gpu, kwargs.values())):
            return cpu_op(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        host = [k for k, v in bound.arguments.items() if not _on_gpu(v) and _is_array_like(v)]
        if host:
            gpu = [k for k, v in bound.arguments.items() if _on_gpu(v)]
            raise TypeError(f"[{name}] inputs must all be GPU arrays or all host (NumPy) arrays, got "
                            f"{', '.join(gpu)} on the GPU and {', '.join(host)} on the host")
        cuda = cuda_module(name)
        if gpu_op is None:
            raise NotImplementedError(f"[{name}] the CUDA backend has no kernel for this op yet; "
                                      "pass NumPy arrays to run it on the CPU")
        bound.apply_defaults()
        return gpu_op(cuda, bound.arguments)

    return op


def _on_gpu(x):
    return is_gpu_array(x) or _is_saved_on_gpu(x)
