"""Text to integer sequences with the semantics of the classic Keras ``Tokenizer``.

The classic ``keras.preprocessing.text`` API (removed in Keras 3): ``Tokenizer``,
``text_to_word_sequence``, ``one_hot`` and ``hashing_trick``. Results are the ones Keras gives
for the same arguments: the same tokens, the same ``word_index`` (counts descending, ties in
first-seen order, index 0 reserved, ``oov_token`` at index 1), the same matrices. Tokenising
and counting run in the compiled ``pyseq.preprocessing._text``.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections import OrderedDict, defaultdict
from operator import itemgetter

import numpy as np

from . import _text

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MATRIX_MODES = ("binary", "count", "tfidf", "freq")


def _check_str(caller, name, value):
    if not isinstance(value, str):
        raise TypeError(f"[{caller}] {name} must be a str, got {type(value).__name__}")


def text_to_word_sequence(input_text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Split a text into words: lower-case it (``lower``), turn every character of ``filters``
    into ``split``, split on ``split`` and drop empty pieces."""
    _check_str("text_to_word_sequence", "input_text", input_text)
    _check_str("text_to_word_sequence", "filters", filters)
    _check_str("text_to_word_sequence", "split", split)
    if not split:
        raise ValueError("[text_to_word_sequence] split must be a non-empty str, got ''")
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in input_text.split(split) if w]


def hashing_trick(text, n, hash_function=None, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Words of ``text`` as indices in [1, n) through a hash: ``hash_function(w) % (n - 1) + 1``.

    ``hash_function`` None is Python's ``hash`` (salted per process unless PYTHONHASHSEED is
    set: not stable across runs); ``"md5"`` is stable."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"[hashing_trick] n must be an int >= 2, got {n!r}")
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        def hash_function(w):
            return int(hashlib.md5(w.encode()).hexdigest(), 16)
    elif not callable(hash_function):
        raise TypeError(f"[hashing_trick] hash_function must be None, 'md5' or callable, "
                        f"got {hash_function!r}")
    words = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    return [hash_function(w) % (n - 1) + 1 for w in words]


def one_hot(input_text, n, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """``hashing_trick`` with Python's ``hash`` (Keras's ``one_hot``: indices in [1, n), not a
    one-hot matrix; collisions are possible)."""
    return hashing_trick(input_text, n, hash_function=hash, filters=filters, lower=lower, split=split)


class Tokenizer:
    """Vectorise texts into integer sequences or matrices (the classic Keras ``Tokenizer``).

    Args:
        num_words: keep only the words with index < num_words when converting (None: all).
            Fitting always records every word.
        filters: characters removed from texts (each one becomes a separator). Not used with
            ``char_level``.
        lower: lower-case the texts first.
        split: the word separator (a non-empty str).
        char_level: every character is a token.
        oov_token: if given, it takes index 1 and stands for every word outside the vocabulary
            (unknown, or index >= num_words) in ``texts_to_sequences``.

        analyzer: a callable str -> list of str tokens used instead of lower/filters/split
            (its tokens are not lower-cased); lists of tokens still are.

    A text is a str, or a list of str tokens (taken as they are, lower-cased if ``lower``).

    Attributes (as Keras): ``word_counts`` (OrderedDict word -> count, first-seen order),
    ``word_docs`` (word -> number of documents containing it), ``word_index`` (word -> index
    from 1, by count descending, ties in first-seen order), ``index_word``, ``index_docs``
    (index -> document count) and ``document_count``.
    """

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None, analyzer=None, document_count=0, **kwargs):
        if kwargs:
            raise TypeError(f"[Tokenizer] unexpected keyword arguments: {sorted(kwargs)}")
        if num_words is not None and (isinstance(num_words, bool)
                                      or not isinstance(num_words, (int, np.integer))
                                      or num_words < 0):
            raise ValueError(f"[Tokenizer] num_words must be None or an int >= 0, got {num_words!r}")
        _check_str("Tokenizer", "filters", filters)
        _check_str("Tokenizer", "split", split)
        if not split:
            raise ValueError("[Tokenizer] split must be a non-empty str, got ''")
        if analyzer is not None and not callable(analyzer):
            raise TypeError(f"[Tokenizer] analyzer must be None or callable, got {type(analyzer).__name__}")
        self.analyzer = analyzer
        self.num_words = None if num_words is None else int(num_words)
        self.filters = filters
        self.lower = bool(lower)
        self.split = split
        self.char_level = bool(char_level)
        self.oov_token = oov_token
        self.document_count = document_count
        self.word_counts = OrderedDict()
        self.word_docs = defaultdict(int)
        self.index_docs = defaultdict(int)
        self.word_index = {}
        self.index_word = {}

    # -- fitting -------------------------------------------------------------------------------

    def _as_list(self, texts, caller):
        if isinstance(texts, str):
            raise TypeError(f"[Tokenizer.{caller}] texts must be a list of texts, got one str "
                            "(wrap it in a list)")
        try:
            return texts if type(texts) is list else list(texts)
        except TypeError:
            raise TypeError(f"[Tokenizer.{caller}] texts must be an iterable of texts, "
                            f"got {type(texts).__name__}") from None

    def _prepared(self, texts, caller):
        """(texts for the Lexicon, lower flag): with a multi-character split the words are found
        here in Python (the compiled tokeniser splits on one character)."""
        texts = self._as_list(texts, caller)
        if self.char_level or (len(self.split) == 1 and self.analyzer is None):
            return texts, self.lower
        out = []
        for i, t in enumerate(texts):
            if isinstance(t, str):
                if self.analyzer is not None:
                    words = self.analyzer(t)
                    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                        raise TypeError(f"[Tokenizer.{caller}] analyzer must return a list of str, "
                                        f"got {type(words).__name__} for text {i}")
                    out.append(words)
                else:
                    out.append(text_to_word_sequence(t, self.filters, self.lower, self.split))
            elif isinstance(t, list):
                if not all(isinstance(w, str) for w in t):
                    raise TypeError(f"[Tokenizer.{caller}] a text given as a list must hold str "
                                    f"tokens, got {t!r:.60} in text {i}")
                out.append([w.lower() if self.lower else w for w in t])
            else:
                raise TypeError(f"[Tokenizer.{caller}] texts must be str (or lists of str "
                                f"tokens), got {type(t).__name__} at position {i}")
        return out, False

    def _lexicon(self):
        sep = self.split if len(self.split) == 1 else ""
        return _text.Lexicon(self.filters, sep)

    def fit_on_texts(self, texts):
        """Count the words of ``texts`` (added to earlier fits) and rebuild the word index."""
        texts, lower = self._prepared(texts, "fit_on_texts")
        lex = self._lexicon()
        lex.count(texts, lower, self.char_level)
        self.document_count += len(texts)
        words, counts, docs = lex.counted()
        word_counts, word_docs = self.word_counts, self.word_docs
        for w, c, d in zip(words, counts, docs):
            word_counts[w] = word_counts.get(w, 0) + c
            word_docs[w] += d
        self._build_index()

    def _build_index(self):
        wcounts = sorted(self.word_counts.items(), key=itemgetter(1), reverse=True)  # stable
        vocab = [] if self.oov_token is None else [self.oov_token]
        vocab.extend(w for w, _ in wcounts)
        # index 0 is reserved (padding); dict() keeps the last index of a repeated word, as Keras
        self.word_index = dict(zip(vocab, range(1, len(vocab) + 1)))
        self.index_word = {i: w for w, i in self.word_index.items()}
        for w, c in self.word_docs.items():
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences):
        """Count, for each index, the number of sequences containing it (for ``tfidf`` when the
        tokenizer was fitted on sequences instead of texts)."""
        sequences = self._as_list(sequences, "fit_on_sequences")
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    # -- texts -> sequences ---------------------------------------------------------------------

    def _encoder(self):
        """texts -> sequences with the current word_index, loaded once (O(vocabulary))."""
        lex = self._lexicon()
        lex.set_values(self.word_index)
        oov_value = self.word_index.get(self.oov_token)

        def encode(texts, lower):
            return lex.encode(texts, lower, self.char_level, self.num_words or 0, oov_value,
                              self.oov_token is not None)
        return encode

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices (unknown words dropped, or ``oov_token``'s index;
        with ``num_words``, indices >= num_words likewise)."""
        texts, lower = self._prepared(texts, "texts_to_sequences")
        encode = self._encoder()
        # Building millions of list items would trigger the cyclic GC over and over (it scans
        # the young lists each time); lists of ints form no cycles, so pause it meanwhile.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            return encode(texts, lower)
        finally:
            if paused:
                gc.enable()

    def texts_to_sequences_generator(self, texts):
        """``texts_to_sequences`` one text at a time."""
        encode = self._encoder()
        for t in self._as_list(texts, "texts_to_sequences_generator"):
            one, lower = self._prepared([t], "texts_to_sequences_generator")
            yield encode(one, lower)[0]

    def sequences_to_texts(self, sequences):
        """Each sequence of indices back to a str of words joined by spaces."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """``sequences_to_texts`` one sequence at a time."""
        num_words = self.num_words
        oov_index = self.word_index.get(self.oov_token)
        for seq in self._as_list(sequences, "sequences_to_texts"):
            words = []
            for num in seq:
                word = self.index_word.get(num)
                if word is not None:
                    if num_words and num >= num_words:
                        if oov_index is not None:
                            words.append(self.index_word[oov_index])
                    else:
                        words.append(word)
                elif self.oov_token is not None:
                    words.append(self.index_word[oov_index])
            yield " ".join(words)

    # -- matrices -------------------------------------------------------------------------------

    def texts_to_matrix(self, texts, mode="binary"):
        """(len(texts), num_words) float64 matrix of the texts (see ``sequences_to_matrix``)."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """(len(sequences), num_words) float64 matrix; column j for word index j (j >= num_words
        ignored). mode: "binary" (1 if present), "count", "freq" (count / len(sequence)),
        "tfidf" ((1 + log count) * log(1 + document_count / (1 + documents with j))).

        num_words is the tokenizer's, or len(word_index) + 1 without one."""
        if mode not in MATRIX_MODES:
            raise ValueError(f"[Tokenizer.sequences_to_matrix] mode must be one of "
                             f"{MATRIX_MODES}, got {mode!r}")
        if self.num_words:
            num_words = self.num_words
        elif self.word_index:
            num_words = len(self.word_index) + 1
        else:
            raise ValueError("[Tokenizer.sequences_to_matrix] give num_words to the Tokenizer, "
                             "or fit it on some data first")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("[Tokenizer.sequences_to_matrix] fit the Tokenizer on some data "
                             "before using mode 'tfidf'")
        sequences = self._as_list(sequences, "sequences_to_matrix")
        x = np.zeros((len(sequences), num_words))
        for i, seq in enumerate(sequences):
            seq = np.asarray(seq)
            if seq.size == 0:
                continue
            if seq.ndim != 1 or not np.issubdtype(seq.dtype, np.integer):
                raise ValueError(f"[Tokenizer.sequences_to_matrix] sequences must be 1-D lists of "
                                 f"int indices, got {seq.dtype} of shape {seq.shape} at position {i}")
            if seq.min() < 0:
                raise ValueError(f"[Tokenizer.sequences_to_matrix] indices must be >= 0, got "
                                 f"{int(seq.min())} at position {i}")
            kept = seq[seq < num_words]
            if kept.size == 0:
                continue
            js, counts = np.unique(kept, return_counts=True)
            if mode == "count":
                x[i, js] = counts
            elif mode == "freq":
                x[i, js] = counts / len(seq)
            elif mode == "binary":
                x[i, js] = 1
            else:
                df = np.array([self.index_docs.get(int(j), 0) for j in js], dtype=np.float64)
                x[i, js] = (1 + np.log(counts)) * np.log(1 + self.document_count / (1 + df))
        return x

    # -- serialisation ----------------------------------------------------------------------------

    def get_config(self):
        """The tokenizer's settings and state, JSON-encoded where Keras does so."""
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs):
        """A JSON string of the tokenizer (``tokenizer_from_json`` reads it back)."""
        return json.dumps({"class_name": self.__class__.__name__, "config": self.get_config()},
                          **kwargs)


def tokenizer_from_json(json_string):
    """The Tokenizer saved by ``Tokenizer.to_json``."""
    config = json.loads(json_string).get("config")
    if not isinstance(config, dict):
        raise ValueError("[tokenizer_from_json] expected the JSON written by Tokenizer.to_json")
    config = dict(config)
    word_counts = json.loads(config.pop("word_counts"), object_pairs_hook=OrderedDict)
    word_docs = json.loads(config.pop("word_docs"))
    index_docs = {int(k): v for k, v in json.loads(config.pop("index_docs")).items()}
    index_word = {int(k): v for k, v in json.loads(config.pop("index_word")).items()}
    word_index = json.loads(config.pop("word_index"))
    tok = Tokenizer(**config)
    tok.word_counts = word_counts
    tok.word_docs = defaultdict(int, word_docs)
    tok.index_docs = defaultdict(int, index_docs)
    tok.word_index = word_index
    tok.index_word = index_word
    return tok


__all__ = ["Tokenizer", "tokenizer_from_json", "text_to_word_sequence", "one_hot",
           "hashing_trick", "DEFAULT_FILTERS"]
