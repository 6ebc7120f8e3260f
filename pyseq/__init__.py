"""pyseq: fused C++ sequence-layer kernels with a NumPy API.

The functional ops live in :mod:`pyseq.ops`; :mod:`pyseq.reference` holds the float64 NumPy
oracle every kernel is tested against.
"""

# The BLAS the extension links: importing the wheel loads libscipy_openblas into the process
# before _core needs it (the extension's RPATH points at the same file as a second way in).
try:
    import scipy_openblas32 as _blas_wheel  # noqa: F401
except ImportError:  # an MKL build has no such dependency
    _blas_wheel = None

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - depends on how pyseq was found
    import os as _os
    raise ImportError(
        "pyseq's compiled extension (pyseq._core) could not be loaded from "
        f"{_os.path.dirname(__file__)}: {exc}. If that folder is a source checkout, install "
        "pyseq with `pip install .` and run Python from another directory (or `pytest tests`)."
    ) from exc
from . import ops

# --- Keras-shaped API (branch wip-layers) ---------------------------------------------------
from . import activations, initializers, layers, losses, metrics, optimizers  # noqa: E402
from . import callbacks, models  # noqa: E402
from .layers import Input  # noqa: E402
from .models import Model, Sequential  # noqa: E402
# --- end of wip-layers block ----------------------------------------------------------------
# --- wip-compat: keras.utils / keras.preprocessing are there after `import keras` ---------
from . import preprocessing, utils  # noqa: E402
# --- end of wip-compat block ----------------------------------------------------------------

__version__ = _core.build_info()["version"]


def build_info():
    """How this pyseq was built and what it uses at run time, as a dict.

    Keys: version, compiler, openmp, openmp_version, blas, blas_version, cuda, cuda_devices,
    cuda_info, simd (the instruction set in use), simd_available, num_threads.
    """
    return _core.build_info()


def set_num_threads(n):
    """Set the number of threads used by pyseq's kernels: OpenMP and the BLAS together."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"[set_num_threads] n must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads():
    """The number of threads pyseq's kernels use (OpenMP and the BLAS)."""
    return _core.get_num_threads()


__all__ = ["ops", "build_info", "set_num_threads", "get_num_threads", "__version__",
           "activations", "initializers", "layers", "losses", "metrics", "optimizers",
           "callbacks", "models", "Input", "Model", "Sequential"]

# --- regularizers and constraints (branch wip-regular) --------------------------------------
from . import constraints, regularizers  # noqa: E402

__all__ += ["constraints", "regularizers"]
# --- end of wip-regular block ---------------------------------------------------------------
