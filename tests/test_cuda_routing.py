"""Where pyseq.ops sends its inputs (pyseq/_device.py), testable without a GPU: fake GPU arrays
exposing ``__cuda_array_interface__`` (or a CUDA DLPack device) route to the CUDA backend, NumPy
inputs run the CPU kernels unchanged, mixed inputs are refused, and a pyseq built without CUDA
says how to get it."""

import numpy as np
import pytest

import pyseq
from pyseq import _device, ops

from helpers import LSTM_POSITIONAL, make_lstm_inputs

BUILT_WITH_CUDA = pyseq.build_info()["cuda"]


class FakeCudaArray:
    """Looks like a GPU array (CUDA Array Interface v3) but points at no device memory."""

    def __init__(self, shape, typestr="<f4"):
        self.shape = tuple(shape)
        self.__cuda_array_interface__ = {"version": 3, "shape": self.shape, "typestr": typestr,
                                         "data": (0x7F0000000000, False), "strides": None,
                                         "stream": None}


class FakeDLPackCuda:
    """A DLPack-only array that says it lives on CUDA device 0."""

    shape = (2, 3, 4)

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):  # pragma: no cover - never consumed in these tests
        raise AssertionError("pyseq must not read a fake array")


class FakeDLPackCpu(FakeDLPackCuda):
    def __dlpack_device__(self):
        return (1, 0)


def lstm_numpy(dtype=np.float32):
    return make_lstm_inputs(np.random.default_rng(0), 2, 3, 4, 5, dtype, mask="random")


def attention_numpy(dtype=np.float32):
    rng = np.random.default_rng(1)
    return [rng.standard_normal(s).astype(dtype) for s in ((2, 5, 3, 4), (2, 6, 3, 4), (2, 6, 3, 2))]


# ------------------------------------------------------------------------------------------------
# What counts as a GPU array
# ------------------------------------------------------------------------------------------------


def test_gpu_array_detection():
    assert _device.is_gpu_array(FakeCudaArray((2, 3)))
    assert _device.is_gpu_array(FakeDLPackCuda())
    assert not _device.is_gpu_array(FakeDLPackCpu())
    assert not _device.is_gpu_array(np.zeros(3))
    assert not _device.is_gpu_array(None)
    assert not _device.is_gpu_array([1.0, 2.0])
    assert not _device.is_gpu_array(3.0)


def test_torch_cpu_tensors_are_not_gpu_arrays():
    torch = pytest.importorskip("torch")
    assert not _device.is_gpu_array(torch.zeros(3))
    assert not _device.is_gpu_array(torch.zeros(3, requires_grad=True))


# ------------------------------------------------------------------------------------------------
# NumPy inputs: the CPU op, unchanged
# ------------------------------------------------------------------------------------------------


def test_every_op_is_wrapped_and_keeps_its_signature_and_doc():
    import inspect
    for name in ops.__all__:
        op = getattr(ops, name)
        assert hasattr(op, "__wrapped__"), name
        assert op.__name__ == name and op.__doc__ == op.__wrapped__.__doc__
        assert inspect.signature(op) == inspect.signature(op.__wrapped__)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_lstm_runs_the_cpu_op_bit_for_bit(dtype):
    inputs = lstm_numpy(dtype)
    args = [inputs[k] for k in LSTM_POSITIONAL]
    kw = dict(mask=inputs["mask"], reverse=True)
    y, h, c, saved = ops.lstm_forward(*args, **kw)
    y0, h0, c0, saved0 = ops.lstm_forward.__wrapped__(*args, **kw)
    for a, b in ((y, y0), (h, h0), (c, c0)):
        assert type(a) is np.ndarray and a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert type(saved) is type(saved0)
    dy = np.ones_like(y)
    for a, b in zip(ops.lstm_backward(dy, None, None, saved), ops.lstm_backward.__wrapped__(dy, None, None, saved0)):
        assert type(a) is np.ndarray
        np.testing.assert_array_equal(a, b)


def test_numpy_attention_runs_the_cpu_op_bit_for_bit():
    q, k, v = attention_numpy()
    o, saved = ops.attention_forward(q, k, v, causal=True, dropout=0.3, seed=5)
    o0, saved0 = ops.attention_forward.__wrapped__(q, k, v, causal=True, dropout=0.3, seed=5)
    np.testing.assert_array_equal(o, o0)
    for a, b in zip(ops.attention_backward(o, saved), ops.attention_backward.__wrapped__(o, saved0)):
        np.testing.assert_array_equal(a, b)


def test_numpy_errors_are_the_cpu_errors():
    q, k, v = attention_numpy()
    with pytest.raises(ValueError, match=r"\[attention_forward\] k must be"):
        ops.attention_forward(q, k[:, :, :2], v)
    with pytest.raises(TypeError, match=r"\[lstm_backward\] saved"):
        ops.lstm_backward(None, None, None, object())


# ------------------------------------------------------------------------------------------------
# Mixed host and GPU inputs
# ------------------------------------------------------------------------------------------------


def test_mixed_inputs_name_the_op_and_the_arguments():
    q, k, v = attention_numpy()
    with pytest.raises(TypeError, match=r"\[attention_forward\] inputs must all be GPU arrays or all host"
                                        r".*q on the GPU and k, v on the host"):
        ops.attention_forward(FakeCudaArray(q.shape), k, v)
    with pytest.raises(TypeError, match=r"\[attention_forward\].*key_mask on the host"):
        ops.attention_forward(*(FakeCudaArray(a.shape) for a in (q, k, v)),
                              key_mask=np.ones((2, 6), bool))
    inputs = lstm_numpy()
    args = [inputs[k] for k in LSTM_POSITIONAL]
    args[2] = FakeCudaArray(args[2].shape)
    with pytest.raises(TypeError, match=r"\[lstm_forward\].*recurrent_kernel on the GPU"):
        ops.lstm_forward(*args)
    with pytest.raises(TypeError, match=r"\[conv1d_forward\].*kernel on the GPU and x on the host"):
        ops.conv1d_forward(np.zeros((1, 5, 2), np.float32), FakeCudaArray((3, 2, 4)))


def test_numpy_scalars_and_options_are_not_host_arrays():
    # Options such as a NumPy float scale or a padding name do not make a GPU call "mixed".
    q = FakeCudaArray((2, 5, 3, 4))
    call = lambda: ops.attention_forward(q, q, q, scale=np.float32(0.5), dropout=np.float64(0.1),  # noqa: E731
                                         seed=np.int64(3))
    expected = RuntimeError if not BUILT_WITH_CUDA else (RuntimeError, ValueError)
    with pytest.raises(expected, match=r"\[attention_forward\]") as info:
        call()
    assert "host" not in str(info.value)
    with pytest.raises(expected, match=r"\[conv1d_forward\]") as info:
        ops.conv1d_forward(FakeCudaArray((1, 5, 2)), FakeCudaArray((3, 2, 4)), None, stride=np.int32(2),
                           padding="same")
    assert "host" not in str(info.value)


def test_gpu_saved_state_with_a_numpy_gradient_is_mixed():
    saved = _device.GpuSaved(object(), FakeCudaArray((2, 3, 5)))
    with pytest.raises(TypeError, match=r"\[lstm_backward\].*saved on the GPU and dy on the host"):
        ops.lstm_backward(np.zeros((2, 3, 5), np.float32), None, None, saved)
    with pytest.raises(TypeError, match=r"\[attention_backward\].*do on the host"):
        ops.attention_backward(np.zeros((2, 5, 3, 2), np.float32), saved)


# ------------------------------------------------------------------------------------------------
# GPU inputs to a pyseq built without CUDA (the default build)
# ------------------------------------------------------------------------------------------------


def gpu_calls():
    """One call per op family with fake GPU arrays (shapes valid for the op)."""
    x3 = FakeCudaArray((2, 7, 4))
    yield "lstm_forward", lambda: ops.lstm_forward(x3, FakeCudaArray((4, 20)), FakeCudaArray((5, 20)), None)
    yield "gru_forward", lambda: ops.gru_forward(x3, FakeCudaArray((4, 15)), FakeCudaArray((5, 15)), None)
    yield "rnn_forward", lambda: ops.rnn_forward(x3, FakeCudaArray((4, 5)), FakeCudaArray((5, 5)), None)
    yield "attention_forward", lambda: ops.attention_forward(
        FakeCudaArray((2, 5, 3, 4)), FakeCudaArray((2, 6, 3, 4)), FakeCudaArray((2, 6, 3, 2)))
    yield "attention_forward", lambda: ops.attention_forward(FakeDLPackCuda(), FakeDLPackCuda(), FakeDLPackCuda())
    yield "conv1d_forward", lambda: ops.conv1d_forward(x3, FakeCudaArray((3, 4, 6)))
    yield "max_pool1d_forward", lambda: ops.max_pool1d_forward(x3, 2)
    yield "avg_pool1d_forward", lambda: ops.avg_pool1d_forward(x3, 2)
    yield "global_avg_pool1d_forward", lambda: ops.global_avg_pool1d_forward(x3)
    yield "dense_forward", lambda: ops.dense_forward(FakeCudaArray((2, 3)), FakeCudaArray((3, 4)))
    yield "lstm_backward", lambda: ops.lstm_backward(FakeCudaArray((2, 7, 5)), None, None,
                                                     _device.GpuSaved(object(), x3))


@pytest.mark.skipif(BUILT_WITH_CUDA, reason="this pyseq was built with CUDA")
@pytest.mark.parametrize("op,call", list(gpu_calls()), ids=[name for name, _ in gpu_calls()])
def test_gpu_input_without_cuda_build_names_the_option(op, call):
    with pytest.raises(RuntimeError, match=rf"\[{op}\] got GPU arrays, but pyseq was built without "
                                           r"CUDA; reinstall with pip install \. -Ccmake\.define\.PYSEQ_CUDA=ON"):
        call()


@pytest.mark.skipif(not BUILT_WITH_CUDA, reason="this pyseq was built without CUDA")
def test_cuda_build_routes_fake_arrays_to_the_cuda_module():
    # A CUDA build reaches pyseq._cuda, which asks the driver about the fake pointer: on a machine
    # without a GPU (or with one, for a pointer into nowhere) that fails with an error naming the op.
    from pyseq import _cuda  # noqa: F401 - the module loads without a GPU
    with pytest.raises((RuntimeError, ValueError), match=r"\[attention_forward\]"):
        ops.attention_forward(FakeCudaArray((2, 5, 3, 4)), FakeCudaArray((2, 6, 3, 4)),
                              FakeCudaArray((2, 6, 3, 2)))
    with pytest.raises(NotImplementedError, match=r"\[dense_forward\] the CUDA backend has no kernel"):
        ops.dense_forward(FakeCudaArray((2, 3)), FakeCudaArray((3, 4)))


@pytest.mark.skipif(not BUILT_WITH_CUDA, reason="this pyseq was built without CUDA")
def test_cuda_build_keeps_import_and_build_info_working_without_a_gpu():
    info = pyseq.build_info()
    assert info["cuda"] is True and isinstance(info["cuda_devices"], int)
    assert "CUDA runtime" in info["cuda_info"]
