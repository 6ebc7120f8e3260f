"""Data sets: loaders for Keras's IMDb and Reuters files (read from a local path, never
downloaded) and for the real data bundled with pyseq (``data/``, see ``data/PROVENANCE.md``):

- ``mysterious_island``: Jules Verne's *The Mysterious Island* (Project Gutenberg), as text;
- ``kor_eng``: 3,798 English-Korean sentence pairs (Tatoeba, CC-BY 2.0 FR);
- ``temperatures``: daily minimum temperatures, Melbourne 1981-1990;
- ``air_passengers``: monthly international airline passengers 1949-1960.

Import the submodule you need, e.g. ``from pyseq.datasets import mysterious_island``.
"""

__all__ = ["imdb", "reuters", "mysterious_island", "kor_eng", "temperatures", "air_passengers"]
