"""Keras-shaped layers on pyseq's kernels (see :mod:`pyseq.layers.base` for the protocol)."""

from .base import Layer, Variable

__all__ = ["Layer", "Variable"]

# --- core, merging, reshaping, embedding, normalization, wrappers (branch wip-layers) -------
from ._call import SymbolicTensor  # noqa: E402
from .core import Activation, Dense, Dropout, Input, InputLayer, SpatialDropout1D  # noqa: E402
from .embedding import Embedding  # noqa: E402
from .merging import (Add, Average, Concatenate, Multiply, Subtract, add, average,  # noqa: E402
                      concatenate, multiply, subtract)
from .normalization import BatchNormalization, LayerNormalization  # noqa: E402
from .reshaping import Flatten, RepeatVector, Reshape  # noqa: E402
from .wrappers import TimeDistributed  # noqa: E402

__all__ += ["SymbolicTensor", "Activation", "Dense", "Dropout", "Input", "InputLayer",
            "SpatialDropout1D", "Embedding", "Add", "Average", "Concatenate", "Multiply",
            "Subtract", "add", "average", "concatenate", "multiply", "subtract",
            "BatchNormalization", "LayerNormalization", "Flatten", "RepeatVector", "Reshape",
            "TimeDistributed"]
# --- end of wip-layers block ----------------------------------------------------------------
