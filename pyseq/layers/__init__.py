"""Keras-shaped layers on pyseq's kernels (see :mod:`pyseq.layers.base` for the protocol)."""

from .base import Layer, Variable

__all__ = ["Layer", "Variable"]

# -- sequence layers (recurrent, convolutional, pooling, attention) ---------------------------
from .recurrent import GRU, LSTM, SimpleRNN  # noqa: E402
from .bidirectional import Bidirectional  # noqa: E402

__all__ += ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]
# -- end of sequence layers --------------------------------------------------------------------
