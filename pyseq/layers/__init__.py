"""Keras-shaped layers on pyseq's kernels (see :mod:`pyseq.layers.base` for the protocol)."""

from .base import Layer, Variable

__all__ = ["Layer", "Variable"]

# --- core, merging, reshaping, embedding, normalization, wrappers (branch wip-layers) -------
from ._call import SymbolicTensor  # noqa: E402
from .core import Activation, Dense, Dropout, Input, InputLayer, Masking, SpatialDropout1D  # noqa: E402
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
            "TimeDistributed", "Masking"]
# --- end of wip-layers block ----------------------------------------------------------------

# --- sequence layers: recurrent, convolutional, pooling, attention (branch wip-seqlayers) ---
from .recurrent import GRU, LSTM, SimpleRNN  # noqa: E402
from .bidirectional import Bidirectional  # noqa: E402
from .convolutional import Conv1D  # noqa: E402
from .pooling import (AveragePooling1D, AvgPool1D, GlobalAveragePooling1D,  # noqa: E402
                      GlobalAvgPool1D, GlobalMaxPool1D, GlobalMaxPooling1D, MaxPool1D,
                      MaxPooling1D)
from .attention import Attention  # noqa: E402
from .multi_head_attention import MultiHeadAttention  # noqa: E402

__all__ += ["SimpleRNN", "LSTM", "GRU", "Bidirectional", "Conv1D", "MaxPooling1D",
            "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D", "MaxPool1D",
            "AvgPool1D", "GlobalMaxPool1D", "GlobalAvgPool1D", "Attention", "MultiHeadAttention"]
# --- end of wip-seqlayers block -------------------------------------------------------------

# --- more Keras layers (branch wip-compat) --------------------------------------------------
from .activation_layers import ELU, Identity, LeakyReLU, PReLU, ReLU, Softmax  # noqa: E402
from .attention import AdditiveAttention  # noqa: E402
from .conv_transpose import Conv1DTranspose  # noqa: E402
from .merging import Dot, Maximum, Minimum, dot, maximum, minimum  # noqa: E402
from .noise import GaussianDropout, GaussianNoise  # noqa: E402
from .normalization import RMSNormalization, UnitNormalization  # noqa: E402
from .reshaping1d import Cropping1D, Permute, UpSampling1D, ZeroPadding1D  # noqa: E402
from .rnn_cells import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells  # noqa: E402
from .separable_conv import DepthwiseConv1D, SeparableConv1D  # noqa: E402

__all__ += ["AdditiveAttention", "Dot", "dot", "ELU", "Identity", "LeakyReLU", "PReLU", "ReLU", "Softmax", "Maximum", "Minimum",
            "maximum", "minimum", "GaussianDropout", "GaussianNoise", "Cropping1D", "Permute",
            "UpSampling1D", "ZeroPadding1D", "RMSNormalization", "UnitNormalization",
            "DepthwiseConv1D", "SeparableConv1D", "Conv1DTranspose", "RNN", "GRUCell",
            "LSTMCell", "SimpleRNNCell", "StackedRNNCells"]
# --- end of wip-compat block ----------------------------------------------------------------

# --- GroupNormalization, AlphaDropout (branch wip-groupnorm) ----------------------------------
from .group_normalization import GroupNormalization  # noqa: E402
from .noise import AlphaDropout  # noqa: E402

__all__ += ["GroupNormalization", "AlphaDropout"]
# --- end of wip-groupnorm block ---------------------------------------------------------------
