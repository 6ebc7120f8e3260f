"""Keras-shaped layers on pyseq's kernels (see :mod:`pyseq.layers.base` for the protocol)."""

from .base import Layer, Variable

__all__ = ["Layer", "Variable"]
