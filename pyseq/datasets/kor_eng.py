"""English-Korean sentence pairs from Tatoeba (ManyThings "kor.txt"), bundled with pyseq
(data/kor_eng.tsv.gz: ``english<TAB>korean<TAB>attribution``, 3,798 pairs, CC-BY 2.0 France;
each line's attribution names its Tatoeba sentences and authors, see data/PROVENANCE.md)."""

from __future__ import annotations

from ._files import bundled_text


def _rows():
    return [line.split("\t") for line in bundled_text("kor_eng.tsv").split("\n") if line]


def load_pairs():
    """(english, korean): two lists of 3,798 str, pair i is (english[i], korean[i]), file order."""
    rows = _rows()
    return [r[0] for r in rows], [r[1] for r in rows]


def load_attributions():
    """The CC-BY attribution of each pair, in the order of ``load_pairs``."""
    return [r[2] for r in _rows()]


__all__ = ["load_pairs", "load_attributions"]
