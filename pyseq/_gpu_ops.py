"""The GPU side of the ops in pyseq.ops that have CUDA kernels (attention, LSTM, GRU, SimpleRNN,
conv1d, 1-D pooling).

Each function receives pyseq._cuda and the op's bound arguments (see ``_device.gpu_aware``),
parses the options as the CPU op does, turns the GPU arrays into pyseq DeviceBuffers, calls the
kernel and returns the results as arrays of the first input's library.
"""

import numpy as np

from . import _device
from .ops import _flag, _real


def _buffers(cuda, op, args, names):
    return [None if args[n] is None else _device.to_device_buffer(cuda, op, n, args[n]) for n in names]


def _saved(op, saved, cls):
    if not isinstance(saved, cls):
        raise TypeError(f"[{op}] saved must be the object returned by the GPU "
                        f"{op.replace('_backward', '_forward')}, got {type(saved).__name__}")
    return saved


def attention_forward(cuda, a):
    op = "attention_forward"
    causal = _flag(op, "causal", a["causal"])
    if _flag(op, "return_scores", a["return_scores"]):
        raise NotImplementedError(f"[{op}] return_scores is not supported by the CUDA backend yet")
    q, k, v, key_mask, attn_mask = _buffers(cuda, op, a, ("q", "k", "v", "key_mask", "attn_mask"))
    scale = a["scale"]
    if scale is None:
        d = q.shape[-1] if len(q.shape) >= 1 else 1
        scale = 1.0 / np.sqrt(d) if d > 0 else 1.0
    scale = _real(op, "scale", scale)
    dropout = _real(op, "dropout", a["dropout"])
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"[{op}] dropout must be in [0, 1), got {dropout!r}")
    seed = a["seed"]
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**63)) if dropout > 0 else 0
    elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"[{op}] seed must be an int or None, got {type(seed).__name__}")
    elif not 0 <= int(seed) < 2**64:
        raise ValueError(f"[{op}] seed must be in [0, 2**64), got {int(seed)}")
    o, state = cuda.attention_forward(q, k, v, scale, causal, key_mask, attn_mask, dropout, int(seed))
    return _device.like(o, a["q"]), _device.GpuSaved(state, a["q"])


def attention_backward(cuda, a):
    op = "attention_backward"
    saved = _saved(op, a["saved"], _device.GpuSaved)
    (do,) = _buffers(cuda, op, a, ("do",))
    return tuple(_device.like(g, saved.like) for g in cuda.attention_backward(do, saved.state))


def lstm_forward(cuda, a):
    op = "lstm_forward"
    reverse = _flag(op, "reverse", a["reverse"])
    zero_output = _flag(op, "zero_output_for_mask", a["zero_output_for_mask"])
    bufs = _buffers(cuda, op, a, ("x", "kernel", "recurrent_kernel", "bias", "h0", "c0", "mask",
                                  "recurrent_dropout_mask"))
    x, kernel, recurrent, bias, h0, c0, mask, drop = bufs
    y, h, c, state = cuda.lstm_forward(x, kernel, recurrent, bias, h0, c0, mask, reverse,
                                       zero_output, drop)
    like = a["x"]
    return _device.like(y, like), _device.like(h, like), _device.like(c, like), _device.GpuSaved(state, like)


def lstm_backward(cuda, a):
    op = "lstm_backward"
    saved = _saved(op, a["saved"], _device.GpuSaved)
    dy, dh, dc = _buffers(cuda, op, a, ("dy", "dh_T", "dc_T"))
    return tuple(_device.like(g, saved.like) for g in cuda.lstm_backward(dy, dh, dc, saved.state))


def gru_forward(cuda, a):
    op = "gru_forward"
    if not _flag(op, "reset_after", a["reset_after"]):
        raise NotImplementedError(f"[{op}] the CUDA backend has reset_after=True only (Keras's default); "
                                  "pass NumPy arrays for reset_after=False")
    reverse = _flag(op, "reverse", a["reverse"])
    zero_output = _flag(op, "zero_output_for_mask", a["zero_output_for_mask"])
    x, kernel, recurrent, bias, h0, mask, drop = _buffers(
        cuda, op, a, ("x", "kernel", "recurrent_kernel", "bias", "h0", "mask", "recurrent_dropout_mask"))
    y, h, state = cuda.gru_forward(x, kernel, recurrent, bias, h0, mask, reverse, zero_output, drop)
    like = a["x"]
    return _device.like(y, like), _device.like(h, like), _device.GpuSaved(state, like)


def gru_backward(cuda, a):
    op = "gru_backward"
    saved = _saved(op, a["saved"], _device.GpuSaved)
    dy, dh = _buffers(cuda, op, a, ("dy", "dh_T"))
    return tuple(_device.like(g, saved.like) for g in cuda.gru_backward(dy, dh, saved.state))


# The CUDA kernel's activation codes (csrc/cuda/cuda_ops.h RnnActivation); None is "linear".
_RNN_ACTIVATIONS = {"tanh": 0, "relu": 1, "sigmoid": 2, "linear": 3}


def rnn_forward(cuda, a):
    op = "rnn_forward"
    activation = "linear" if a["activation"] is None else a["activation"]
    if not isinstance(activation, str):
        raise TypeError(f"[{op}] activation must be a str (tanh, relu, sigmoid, linear) or None, got "
                        f"{type(activation).__name__}")
    if activation not in _RNN_ACTIVATIONS:
        raise ValueError(f"[{op}] activation must be one of tanh, relu, sigmoid, linear, got '{activation}'")
    reverse = _flag(op, "reverse", a["reverse"])
    zero_output = _flag(op, "zero_output_for_mask", a["zero_output_for_mask"])
    x, kernel, recurrent, bias, h0, mask, drop = _buffers(
        cuda, op, a, ("x", "kernel", "recurrent_kernel", "bias", "h0", "mask", "recurrent_dropout_mask"))
    y, h, state = cuda.rnn_forward(x, kernel, recurrent, bias, h0, _RNN_ACTIVATIONS[activation], mask,
                                   reverse, zero_output, drop)
    like = a["x"]
    return _device.like(y, like), _device.like(h, like), _device.GpuSaved(state, like)


def rnn_backward(cuda, a):
    op = "rnn_backward"
    saved = _saved(op, a["saved"], _device.GpuSaved)
    dy, dh = _buffers(cuda, op, a, ("dy", "dh_T"))
    return tuple(_device.like(g, saved.like) for g in cuda.rnn_backward(dy, dh, saved.state))


# ---- conv1d and pooling: options parsed as the CPU bindings do (csrc/bindings/window_options.h)

def _int_option(op, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"[{op}] {name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < 1:
        raise ValueError(f"[{op}] {name} must be at least 1, got {value}")
    if value > 2**31 - 1:
        raise ValueError(f"[{op}] {name} must be at most {2**31 - 1}, got {value}")
    return value


def _padding(op, value, allow_causal):
    allowed = "'valid', 'same' or 'causal'" if allow_causal else "'valid' or 'same'"
    if not isinstance(value, str):
        raise TypeError(f"[{op}] padding must be a str, {allowed}, got {type(value).__name__}")
    lower = value.lower()
    if lower in ("valid", "same") or (allow_causal and lower == "causal"):
        return lower
    raise ValueError(f"[{op}] padding must be {allowed}, got '{value}'")


def conv1d_forward(cuda, a):
    op = "conv1d_forward"
    stride, dilation, groups = (_int_option(op, n, a[n]) for n in ("stride", "dilation", "groups"))
    padding = _padding(op, a["padding"], True)
    x, kernel, bias = _buffers(cuda, op, a, ("x", "kernel", "bias"))
    y, state = cuda.conv1d_forward(x, kernel, bias, stride, padding, dilation, groups)
    return _device.like(y, a["x"]), _device.GpuSaved(state, a["x"])


def conv1d_backward(cuda, a):
    op = "conv1d_backward"
    saved = _saved(op, a["saved"], _device.GpuSaved)
    (dy,) = _buffers(cuda, op, a, ("dy",))
    return tuple(_device.like(g, saved.like) for g in cuda.conv1d_backward(dy, saved.state))


def _pool_forward(kind):
    op = f"{kind}_pool1d_forward"

    def forward(cuda, a):
        pool = _int_option(op, "pool_size", a["pool_size"])
        strides = pool if a["strides"] is None else _int_option(op, "strides", a["strides"])
        padding = _padding(op, a["padding"], False)
        (x,) = _buffers(cuda, op, a, ("x",))
        y, state = cuda.pool1d_forward(kind, x, pool, strides, padding)
        return _device.like(y, a["x"]), _device.GpuSaved(state, a["x"])
    return forward


def _global_pool_forward(kind):
    op = f"global_{kind}_pool1d_forward"

    def forward(cuda, a):
        x, mask = _buffers(cuda, op, a, ("x", "mask"))
        y, state = cuda.global_pool1d_forward(kind, x, mask)
        return _device.like(y, a["x"]), _device.GpuSaved(state, a["x"])
    return forward


def _pool_backward(name):
    op = f"{name}_backward"

    def backward(cuda, a):
        saved = _saved(op, a["saved"], _device.GpuSaved)
        (dy,) = _buffers(cuda, op, a, ("dy",))
        return tuple(_device.like(g, saved.like) for g in cuda.pool1d_backward(op, dy, saved.state))
    return backward


max_pool1d_forward, avg_pool1d_forward = _pool_forward("max"), _pool_forward("avg")
global_max_pool1d_forward, global_avg_pool1d_forward = _global_pool_forward("max"), _global_pool_forward("avg")
max_pool1d_backward, avg_pool1d_backward = _pool_backward("max_pool1d"), _pool_backward("avg_pool1d")
global_max_pool1d_backward = _pool_backward("global_max_pool1d")
global_avg_pool1d_backward = _pool_backward("global_avg_pool1d")
