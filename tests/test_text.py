"""pyseq.preprocessing.text: the classic Keras Tokenizer's semantics.

Keras 3 no longer ships the Tokenizer, so the oracle is ``KerasTokenizer`` below, a plain
transcription of the classic algorithm (str.lower, str.translate of the filters to the split,
str.split, dict counting, a stable sort by count), and hand-computed cases pin every option and
matrix mode to concrete numbers.
"""

import math
from collections import OrderedDict, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyseq.preprocessing.text import (
    DEFAULT_FILTERS,
    Tokenizer,
    hashing_trick,
    one_hot,
    text_to_word_sequence,
    tokenizer_from_json,
)

# --------------------------------------------------------------------------------------------
# oracle: the classic algorithm, plainly
# --------------------------------------------------------------------------------------------


def oracle_words(text, filters, lower, split):
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class KerasTokenizer:
    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None):
        self.num_words, self.filters, self.lower, self.split = num_words, filters, lower, split
        self.char_level, self.oov_token = char_level, oov_token
        self.word_counts = OrderedDict()
        self.word_docs = defaultdict(int)
        self.index_docs = defaultdict(int)
        self.document_count = 0
        self.word_index, self.index_word = {}, {}

    def _seq(self, text):
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return list(text)
        return oracle_words(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        for text in texts:
            self.document_count += 1
            seq = self._seq(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        wcounts = list(self.word_counts.items())
        wcounts.sort(key=lambda x: x[1], reverse=True)
        vocab = [] if self.oov_token is None else [self.oov_token]
        vocab.extend(w for w, _ in wcounts)
        self.word_index = dict(zip(vocab, range(1, len(vocab) + 1)))
        self.index_word = {c: w for w, c in self.word_index.items()}
        for w, c in self.word_docs.items():
            self.index_docs[self.word_index[w]] = c

    def texts_to_sequences(self, texts):
        out = []
        oov = self.word_index.get(self.oov_token)
        for text in texts:
            vect = []
            for w in self._seq(text):
                i = self.word_index.get(w)
                if i is not None:
                    if self.num_words and i >= self.num_words:
                        if oov is not None:
                            vect.append(oov)
                    else:
                        vect.append(i)
                elif self.oov_token is not None:
                    vect.append(oov)
            out.append(vect)
        return out

    def sequences_to_matrix(self, sequences, mode):
        n = self.num_words or len(self.word_index) + 1
        x = np.zeros((len(sequences), n))
        for i, seq in enumerate(sequences):
            counts = defaultdict(int)
            for j in seq:
                if j < n:
                    counts[j] += 1
            for j, c in counts.items():
                if mode == "count":
                    x[i][j] = c
                elif mode == "freq":
                    x[i][j] = c / len(seq)
                elif mode == "binary":
                    x[i][j] = 1
                else:
                    x[i][j] = (1 + np.log(c)) * np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
        return x


def assert_same_state(tok, ref):
    assert list(tok.word_counts.items()) == list(ref.word_counts.items())
    assert dict(tok.word_docs) == dict(ref.word_docs)
    assert tok.word_index == ref.word_index
    assert list(tok.word_index.items()) == list(ref.word_index.items())
    assert tok.index_word == ref.index_word
    assert dict(tok.index_docs) == dict(ref.index_docs)
    assert tok.document_count == ref.document_count


# --------------------------------------------------------------------------------------------
# hand-computed cases
# --------------------------------------------------------------------------------------------

TEXTS = ["The cat sat.", "the dog, the cat!"]


def test_word_index_by_count_ties_first_seen():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    assert list(tok.word_counts.items()) == [("the", 3), ("cat", 2), ("sat", 1), ("dog", 1)]
    assert tok.word_index == {"the": 1, "cat": 2, "sat": 3, "dog": 4}
    assert tok.index_word == {1: "the", 2: "cat", 3: "sat", 4: "dog"}
    assert dict(tok.word_docs) == {"the": 2, "cat": 2, "sat": 1, "dog": 1}
    assert dict(tok.index_docs) == {1: 2, 2: 2, 3: 1, 4: 1}
    assert tok.document_count == 2
    tok = Tokenizer()
    tok.fit_on_texts(["b a", "a b c c"])  # all three counted twice: first-seen order
    assert list(tok.word_index) == ["b", "a", "c"]


def test_oov_token_takes_index_one():
    tok = Tokenizer(oov_token="<unk>")
    tok.fit_on_texts(TEXTS)
    assert tok.word_index == {"<unk>": 1, "the": 2, "cat": 3, "sat": 4, "dog": 5}
    assert tok.texts_to_sequences(["the bird sat"]) == [[2, 1, 4]]
    assert Tokenizer().texts_to_sequences(["the bird"]) == [[]]  # unfitted: nothing known
    plain = Tokenizer()
    plain.fit_on_texts(TEXTS)
    assert plain.texts_to_sequences(["the bird sat", ""]) == [[1, 3], []]


def test_num_words_keeps_indices_below_it():
    tok = Tokenizer(num_words=3)
    tok.fit_on_texts(TEXTS)
    assert tok.word_index["dog"] == 4  # fitting keeps every word
    assert tok.texts_to_sequences(["the cat sat dog"]) == [[1, 2]]
    assert tok.sequences_to_texts([[1, 2, 3, 4, 9]]) == ["the cat"]
    tok = Tokenizer(num_words=3, oov_token="<unk>")
    tok.fit_on_texts(TEXTS)
    assert tok.texts_to_sequences(["the cat sat zebra"]) == [[2, 1, 1, 1]]
    assert tok.sequences_to_texts([[2, 3, 9]]) == ["the <unk> <unk>"]


def test_sequences_to_texts():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    assert tok.sequences_to_texts([[1, 2, 3, 4, 9], []]) == ["the cat sat dog", ""]
    assert list(tok.sequences_to_texts_generator([[4, 1]])) == ["dog the"]


def test_options_filters_lower_split():
    tok = Tokenizer(filters="")
    tok.fit_on_texts(["Hi, there"])
    assert list(tok.word_index) == ["hi,", "there"]
    tok = Tokenizer(lower=False)
    tok.fit_on_texts(["The the"])
    assert tok.word_index == {"The": 1, "the": 2}
    tok = Tokenizer(split=",")  # ',' separates, the space no longer does
    tok.fit_on_texts(["a b,c"])
    assert list(tok.word_index) == ["a b", "c"]
    tok = Tokenizer(split="--")  # a multi-character split: '-' (a filter) becomes "--" too
    tok.fit_on_texts(["x--y z-w"])
    assert list(tok.word_index) == ["x", "y z", "w"]
    assert tok.texts_to_sequences(["w--x"]) == [[3, 1]]
    tok = Tokenizer(filters="—")  # a filter beyond Latin-1
    tok.fit_on_texts(["a—b c"])
    assert list(tok.word_index) == ["a", "b", "c"]


def test_char_level_ignores_filters():
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(["aBa! "])
    assert list(tok.word_counts.items()) == [("a", 2), ("b", 1), ("!", 1), (" ", 1)]
    assert tok.texts_to_sequences(["ab?"]) == [[1, 2]]
    assert tok.sequences_to_texts([[1, 2]]) == ["a b"]  # joined by spaces, as Keras


def test_texts_as_token_lists():
    tok = Tokenizer()
    tok.fit_on_texts([["Hello", "World", "hello"], "world peace"])
    assert list(tok.word_counts.items()) == [("hello", 2), ("world", 2), ("peace", 1)]
    assert tok.texts_to_sequences([["WORLD", "x, y"]]) == [[2]]


def test_analyzer_replaces_lower_filters_split():
    tok = Tokenizer(analyzer=lambda t: t.split("|"))
    tok.fit_on_texts(["A|b|A", ["C", "c"]])
    assert list(tok.word_counts.items()) == [("A", 2), ("b", 1), ("c", 2)]  # analyzer tokens kept as they are
    assert tok.texts_to_sequences(["b|A|zz"]) == [[3, 1]]
    assert list(tok.texts_to_sequences_generator(["b|A", "c"])) == [[3, 1], [2]]
    with pytest.raises(TypeError, match=r"\[Tokenizer.fit_on_texts\] analyzer must return a list of str"):
        Tokenizer(analyzer=len).fit_on_texts(["abc"])
    with pytest.raises(TypeError, match=r"\[Tokenizer\] analyzer"):
        Tokenizer(analyzer="split")


def test_fits_accumulate():
    tok = Tokenizer()
    tok.fit_on_texts(["a b"])
    tok.fit_on_texts(["b c", "b"])
    assert list(tok.word_counts.items()) == [("a", 1), ("b", 3), ("c", 1)]
    assert tok.word_index == {"b": 1, "a": 2, "c": 3}
    assert dict(tok.word_docs) == {"a": 1, "b": 3, "c": 1}
    assert tok.document_count == 3


def test_oov_token_seen_in_texts_as_keras():
    # Keras lists the oov token first and again by its count; dict() keeps the later index
    tok = Tokenizer(oov_token="unk")
    tok.fit_on_texts(["unk a a"])
    assert tok.word_index == {"unk": 3, "a": 2}
    assert tok.index_word == {3: "unk", 2: "a"}
    assert tok.texts_to_sequences(["a zz"]) == [[2, 3]]


def test_unicode_lowering_as_str_lower():
    texts = ["ÉCOLE école", "ΟΔΟΣ οδός", "İstanbul ISTANBUL", "😀 Smile, 😀!", "Straße STRASSE"]
    tok, ref = Tokenizer(), KerasTokenizer()
    tok.fit_on_texts(texts)
    ref.fit_on_texts(texts)
    assert_same_state(tok, ref)
    assert tok.word_counts["école"] == 2
    assert "οδος" in tok.word_counts  # final sigma, as str.lower()
    assert "i̇stanbul" in tok.word_counts  # İ lowers to two code points
    assert tok.texts_to_sequences(texts) == ref.texts_to_sequences(texts)


def test_matrix_modes_hand_computed():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)  # the:1 cat:2 sat:3 dog:4, 5 columns
    m = {mode: tok.texts_to_matrix(["the the cat"], mode=mode)[0] for mode in
         ("binary", "count", "freq", "tfidf")}
    np.testing.assert_array_equal(m["binary"], [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(m["count"], [0, 2, 1, 0, 0])
    np.testing.assert_allclose(m["freq"], [0, 2 / 3, 1 / 3, 0, 0], rtol=1e-15)
    idf = math.log(1 + 2 / (1 + 2))  # "the" and "cat" are each in both documents
    np.testing.assert_allclose(m["tfidf"], [0, (1 + math.log(2)) * idf, idf, 0, 0], rtol=1e-15)
    assert tok.texts_to_matrix(["the the cat"]).dtype == np.float64
    # num_words cuts the columns; freq still divides by the whole sequence's length
    tok = Tokenizer(num_words=3)
    tok.fit_on_texts(TEXTS)
    np.testing.assert_allclose(tok.sequences_to_matrix([[1, 3, 4, 1]], mode="freq"), [[0, 0.5, 0]])
    np.testing.assert_array_equal(tok.sequences_to_matrix([[], [9]], mode="count"), np.zeros((2, 3)))


def test_fit_on_sequences_and_tfidf():
    tok = Tokenizer(num_words=4)
    tok.fit_on_sequences([[1, 2, 2], [2, 3]])
    assert tok.document_count == 2
    assert dict(tok.index_docs) == {1: 1, 2: 2, 3: 1}
    x = tok.sequences_to_matrix([[2, 2, 3]], mode="tfidf")
    expect = [0, 0, (1 + math.log(2)) * math.log(1 + 2 / 3), math.log(1 + 2 / 2)]
    np.testing.assert_allclose(x[0], expect, rtol=1e-15)


def test_json_round_trip():
    tok = Tokenizer(num_words=5, oov_token="<unk>")
    tok.fit_on_texts(TEXTS)
    back = tokenizer_from_json(tok.to_json())
    assert_same_state(back, tok)
    assert back.texts_to_sequences(["the cat zebra"]) == tok.texts_to_sequences(["the cat zebra"])
    back.fit_on_texts(["dog dog dog dog"])
    assert back.word_index["dog"] == 2


def test_text_to_word_sequence_and_hashing():
    assert text_to_word_sequence("Hello, World!\tAgain") == ["hello", "world", "again"]
    assert text_to_word_sequence("a-b", filters="", split="-") == ["a", "b"]
    a = hashing_trick("the cat the", 10, hash_function="md5")
    assert a[0] == a[2] and all(1 <= v < 10 for v in a)
    import hashlib
    assert a[1] == int(hashlib.md5(b"cat").hexdigest(), 16) % 9 + 1
    assert hashing_trick("x y", 7, hash_function=len) == [2, 2]
    assert len(one_hot("one two three", 5)) == 3


# --------------------------------------------------------------------------------------------
# properties against the oracle
# --------------------------------------------------------------------------------------------

ALPHABET = "aAbBcC éÉİΣσ,.!'\t\n—😀-"
texts_st = st.lists(st.one_of(st.text(alphabet=ALPHABET, max_size=30),
                              st.lists(st.text(alphabet="aAbBΣ😀 ", max_size=4), max_size=4)),
                    max_size=8)


@settings(max_examples=150)
@given(fit=texts_st, other=texts_st, num_words=st.sampled_from([None, 0, 1, 2, 4]),
       lower=st.booleans(), char_level=st.booleans(), oov=st.sampled_from([None, "<oov>", "a"]),
       split=st.sampled_from([" ", ",", "--", "é"]),
       filters=st.sampled_from([DEFAULT_FILTERS, "", "—é"]))
def test_matches_classic_tokenizer(fit, other, num_words, lower, char_level, oov, split, filters):
    kw = dict(num_words=num_words, lower=lower, char_level=char_level, oov_token=oov, split=split,
              filters=filters)
    tok, ref = Tokenizer(**kw), KerasTokenizer(**kw)
    tok.fit_on_texts(fit)
    ref.fit_on_texts(fit)
    assert_same_state(tok, ref)
    seqs = tok.texts_to_sequences(other + fit)
    assert seqs == ref.texts_to_sequences(other + fit)
    if tok.word_index or num_words:
        for mode in ("binary", "count", "freq", "tfidf"):
            if mode == "tfidf" and not tok.document_count:
                continue
            np.testing.assert_allclose(tok.sequences_to_matrix(seqs, mode=mode),
                                       ref.sequences_to_matrix(seqs, mode), rtol=1e-14)


@given(st.lists(st.text(alphabet="ab cAB,", max_size=20), max_size=5))
def test_inputs_not_modified(texts):
    copy = list(texts)
    tok = Tokenizer()
    tok.fit_on_texts(texts)
    tok.texts_to_sequences(texts)
    assert texts == copy


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


def test_bad_inputs_name_the_function():
    tok = Tokenizer()
    with pytest.raises(TypeError, match=r"\[Tokenizer.fit_on_texts\].*one str"):
        tok.fit_on_texts("just one text")
    with pytest.raises(TypeError, match=r"\[Tokenizer.fit_on_texts\].*got int at position 1"):
        tok.fit_on_texts(["ok", 3])
    with pytest.raises(TypeError, match=r"\[Tokenizer.fit_on_texts\].*str tokens"):
        tok.fit_on_texts([["ok", None]])
    with pytest.raises(TypeError, match=r"\[Tokenizer.texts_to_sequences\]"):
        tok.texts_to_sequences([None])
    with pytest.raises(TypeError, match=r"\[Tokenizer.fit_on_texts\].*iterable"):
        tok.fit_on_texts(5)
    with pytest.raises(ValueError, match=r"\[Tokenizer\] split"):
        Tokenizer(split="")
    with pytest.raises(ValueError, match=r"\[Tokenizer\] num_words"):
        Tokenizer(num_words=-1)
    with pytest.raises(TypeError, match=r"\[Tokenizer\] filters"):
        Tokenizer(filters=None)
    with pytest.raises(TypeError, match=r"\[Tokenizer\] unexpected"):
        Tokenizer(analyser=str.split)
    with pytest.raises(ValueError, match=r"\[Tokenizer.sequences_to_matrix\] give num_words"):
        tok.sequences_to_matrix([[1]])
    tok.fit_on_texts(["a b"])
    with pytest.raises(ValueError, match=r"\[Tokenizer.sequences_to_matrix\] mode"):
        tok.sequences_to_matrix([[1]], mode="onehot")
    with pytest.raises(ValueError, match=r"\[Tokenizer.sequences_to_matrix\] indices must be >= 0"):
        tok.sequences_to_matrix([[1, -1]])
    with pytest.raises(ValueError, match=r"\[Tokenizer.sequences_to_matrix\] sequences must be 1-D"):
        tok.sequences_to_matrix([[0.5]])
    with pytest.raises(ValueError, match=r"\[Tokenizer.sequences_to_matrix\] fit the Tokenizer"):
        Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf")
    tok.word_index["c"] = "three"
    with pytest.raises(TypeError, match=r"\[Tokenizer.texts_to_sequences\] word_index values"):
        tok.texts_to_sequences(["c"])
    with pytest.raises(ValueError, match=r"\[hashing_trick\] n"):
        hashing_trick("a", 1)
    with pytest.raises(TypeError, match=r"\[text_to_word_sequence\] input_text"):
        text_to_word_sequence(None)
