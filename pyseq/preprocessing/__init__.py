"""Preprocessing with Keras semantics: ``text`` (Tokenizer, text_to_word_sequence, one_hot,
hashing_trick) and ``sequence`` (pad_sequences, make_windows). The hot loops are compiled
(``_text``, Cython)."""

from . import sequence, text
from .sequence import make_windows, pad_sequences
from .text import Tokenizer, text_to_word_sequence

__all__ = ["sequence", "text", "Tokenizer", "text_to_word_sequence", "pad_sequences", "make_windows"]
