"""The GPU side of the ops in pyseq.ops that have CUDA kernels (attention, LSTM, GRU, SimpleRNN,
conv1d, 1-D pooling).

Each function receives pyseq._cuda and the op's bound arguments (see ``_device.gpu_aware``),
parses the options as the CPU op does, turns the GPU arrays into pyseq DeviceBuffers, calls the
kernel and returns the results as arrays of the first input's library.
"""

import numpy as np

from . import _device
from .ops import _attention_scalars, _flag


def _buffers(cuda, op, args, names):
    return [None if args[n] is None else _device.to_device_buffer(cuda, op, n, args[n]) for n in names]


def _saved(op, saved, cls):
    if not isinstance(saved, cls):
        raise TypeError(f"[{op}] saved must be the object returned by the GPU "
                        f"{op.replace('_backward', '_forward')}, got {type(saved).__name__}")
    return saved


def _results(outputs, state, like):
    """A forward's outputs as arrays of ``like``'s library, then its saved state."""
    return tuple(_device.like(o, like) for o in outputs) + (_device.GpuSaved(state, like),)


def _backward(cuda, op, a, upstream, kernel):
    """Every backward: check saved, turn the upstream gradients (names) into buffers, run
    kernel(*upstream, state) and return its gradients as arrays of the forward's library."""
    saved = _saved(op, a["saved"], _device.GpuSaved)
    grads = kernel(*_buffers(cuda, op, a, upstream), saved.state)
    return tuple(_device.like(g, saved.like) for g in grads)


def _recurrent_inputs(cuda, op, a, extra=()):
    """reverse, zero_output_for_mask and the buffers of x, kernel, recurrent_kernel, bias, h0,
    *extra, mask, recurrent_dropout_mask: what the recurrent forwards parse alike."""
    reverse = _flag(op, "reverse", a["reverse"])
    zero_output = _flag(op, "zero_output_for_mask", a["zero_output_for_mask"])
    names = ("x", "kernel", "recurrent_kernel", "bias", "h0", *extra, "mask", "recurrent_dropout_mask")
    return reverse, zero_output, _buffers(cuda, op, a, names)


def attention_forward(cuda, a):
    op = "attention_forward"
    causal = _flag(op, "causal", a["causal"])
    if _flag(op, "return_scores", a["return_scores"]):
        raise NotImplementedError(f"[{op}] return_scores is not supported by the CUDA backend yet")
    q, k, v, key_mask, attn_mask = _buffers(cuda, op, a, ("q", "k", "v", "key_mask", "attn_mask"))
    scale, dropout, seed = _attention_scalars(op, lambda: q.shape, a["scale"], a["dropout"], a["seed"])
    o, state = cuda.attention_forward(q, k, v, scale, causal, key_mask, attn_mask, dropout, seed)
    return _results((o,), state, a["q"])


def attention_backward(cuda, a):
    return _backward(cuda, "attention_backward", a, ("do",), cuda.attention_backward)


def lstm_forward(cuda, a):
    reverse, zero_output, bufs = _recurrent_inputs(cuda, "lstm_forward", a, ("c0",))
    x, kernel, recurrent, bias, h0, c0, mask, drop = bufs
    *outs, state = cuda.lstm_forward(x, kernel, recurrent, bias, h0, c0, mask, reverse, zero_output, drop)
    return _results(outs, state, a["x"])


def lstm_backward(cuda, a):
    return _backward(cuda, "lstm_backward", a, ("dy", "dh_T", "dc_T"), cuda.lstm_backward)


def gru_forward(cuda, a):
    op = "gru_forward"
    if not _flag(op, "reset_after", a["reset_after"]):
        raise NotImplementedError(f"[{op}] the CUDA backend has reset_after=True only (Keras's default); "
                                  "pass NumPy arrays for reset_after=False")
    reverse, zero_output, (x, kernel, recurrent, bias, h0, mask, drop) = _recurrent_inputs(cuda, op, a)
    *outs, state = cuda.gru_forward(x, kernel, recurrent, bias, h0, mask, reverse, zero_output, drop)
    return _results(outs, state, a["x"])


def gru_backward(cuda, a):
    return _backward(cuda, "gru_backward", a, ("dy", "dh_T"), cuda.gru_backward)


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
    reverse, zero_output, (x, kernel, recurrent, bias, h0, mask, drop) = _recurrent_inputs(cuda, op, a)
    *outs, state = cuda.rnn_forward(x, kernel, recurrent, bias, h0, _RNN_ACTIVATIONS[activation], mask,
                                    reverse, zero_output, drop)
    return _results(outs, state, a["x"])


def rnn_backward(cuda, a):
    return _backward(cuda, "rnn_backward", a, ("dy", "dh_T"), cuda.rnn_backward)


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
    return _results((y,), state, a["x"])


def conv1d_backward(cuda, a):
    return _backward(cuda, "conv1d_backward", a, ("dy",), cuda.conv1d_backward)


def _pool_forward(kind):
    op = f"{kind}_pool1d_forward"

    def forward(cuda, a):
        pool = _int_option(op, "pool_size", a["pool_size"])
        strides = pool if a["strides"] is None else _int_option(op, "strides", a["strides"])
        padding = _padding(op, a["padding"], False)
        (x,) = _buffers(cuda, op, a, ("x",))
        y, state = cuda.pool1d_forward(kind, x, pool, strides, padding)
        return _results((y,), state, a["x"])
    return forward


def _global_pool_forward(kind):
    op = f"global_{kind}_pool1d_forward"

    def forward(cuda, a):
        x, mask = _buffers(cuda, op, a, ("x", "mask"))
        y, state = cuda.global_pool1d_forward(kind, x, mask)
        return _results((y,), state, a["x"])
    return forward


def _pool_backward(name):
    op = f"{name}_backward"

    def backward(cuda, a):
        return _backward(cuda, op, a, ("dy",), lambda dy, state: cuda.pool1d_backward(op, dy, state))
    return backward


max_pool1d_forward, avg_pool1d_forward = _pool_forward("max"), _pool_forward("avg")
global_max_pool1d_forward, global_avg_pool1d_forward = _global_pool_forward("max"), _global_pool_forward("avg")
max_pool1d_backward, avg_pool1d_backward = _pool_backward("max_pool1d"), _pool_backward("avg_pool1d")
global_max_pool1d_backward = _pool_backward("global_max_pool1d")
global_avg_pool1d_backward = _pool_backward("global_avg_pool1d")
