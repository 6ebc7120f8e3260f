"""Argument checks and shape arithmetic shared by Conv1D and the 1-D pooling layers."""

import numpy as np


def positive_int(layer, name, value):
    """An int >= 1 from an int or a 1-tuple (Keras accepts both), else ValueError naming it."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"[{layer}] {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"[{layer}] {name} must be a positive integer, got {value!r}")
    return int(value)


def padding_mode(layer, value, allowed):
    mode = value.lower() if isinstance(value, str) else value
    if mode not in allowed:
        raise ValueError(f"[{layer}] padding must be one of {', '.join(map(repr, allowed))}, "
                         f"got {value!r}")
    return mode


def data_format(layer, value):
    if value is None:
        return "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"[{layer}] data_format must be 'channels_last' or 'channels_first', "
                         f"got {value!r}")
    return value


def check_rank3(layer, shape):
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(f"[{layer}] expects inputs of rank 3 (batch, steps, channels), "
                         f"got shape {shape}")
    return shape


def output_length(T, window, stride, padding):
    """T' for a window of ``window`` steps (span, dilation included), as TensorFlow/Keras."""
    if T is None:
        return None
    if padding == "valid":
        return (T - window) // stride + 1 if T >= window else 0
    if padding == "same":
        return -(-T // stride)
    return (T - 1) // stride + 1  # causal


def to_channels_last(x, fmt):
    # channels_first is served by a transposed view (the ops accept any strides).
    return x if fmt == "channels_last" else np.swapaxes(x, 1, 2)
