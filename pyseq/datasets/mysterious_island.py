"""Jules Verne, *The Mysterious Island* (Project Gutenberg EBook #1268), bundled with pyseq
(data/mysterious_island.txt.gz, the whole Gutenberg file with its licence; see
data/PROVENANCE.md). The text of the classic character-level LSTM language-model exercise."""

from __future__ import annotations

from ._files import bundled_text

START_MARKER = "THE MYSTERIOUS ISLAND"
END_MARKER = "End of the Project Gutenberg"


def load_raw():
    """The whole bundled file as a str (Gutenberg header and licence included, BOM removed)."""
    return bundled_text("mysterious_island.txt").lstrip("\ufeff")


def load_text():
    """The book: from the start marker "THE MYSTERIOUS ISLAND" (included) up to the end marker
    "End of the Project Gutenberg" (excluded): 1,112,350 characters, 80 distinct, LF line ends."""
    raw = load_raw()
    start = raw.find(START_MARKER)
    end = raw.find(END_MARKER, start)
    return raw[start:end]


__all__ = ["load_text", "load_raw", "START_MARKER", "END_MARKER"]
