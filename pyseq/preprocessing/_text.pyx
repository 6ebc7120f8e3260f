# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Hot loops of pyseq.preprocessing, compiled with Cython.

- ``Lexicon``: tokenise texts straight from the str's buffer (no per-token Python objects) into
  ids of an open-addressing hash table keyed by the token's code points; count words and the
  documents they appear in (``Tokenizer.fit_on_texts``), or map tokens to the values of a
  word -> index mapping (``Tokenizer.texts_to_sequences``).
- ``pad_rows``: copy lists/tuples of Python numbers into a pre-filled (N, maxlen) matrix.
- ``windows_into``: copy strided windows of a (T, row) byte matrix.

Callers in ``text.py`` / ``sequence.py`` validate arguments; these functions trust them.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.math cimport isfinite
from libc.string cimport memcpy, memset
from libcpp.vector cimport vector

cdef extern from "Python.h":
    ctypedef struct PyObject
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)
    bint PyUnicode_Check(object)
    bint PyUnicode_IS_ASCII(object)
    bint PyList_CheckExact(object)
    bint PyTuple_CheckExact(object)
    object PyList_New(Py_ssize_t)
    void PyList_SET_ITEM(object, Py_ssize_t, PyObject*)
    PyObject* PyList_GET_ITEM(object, Py_ssize_t)
    PyObject* PyTuple_GET_ITEM(object, Py_ssize_t)
    Py_ssize_t PyList_GET_SIZE(object)
    Py_ssize_t PyTuple_GET_SIZE(object)
    void Py_INCREF(PyObject*)
    bint PyLong_CheckExact(PyObject*)
    bint PyFloat_CheckExact(PyObject*)
    long long PyLong_AsLongLongAndOverflow(PyObject*, int*)
    double PyFloat_AS_DOUBLE(PyObject*)

cimport cython

cdef extern from *:
    """
    /* The value of an int that fits one digit, read in place (no call): CPython's layout before
       3.12, its PyUnstable_Long_* API from 3.12. Returns 0 for other ints. */
    static inline int pyseq_compact_int(PyObject* o, long long* v) {
    #if PY_VERSION_HEX >= 0x030C0000
        if (PyUnstable_Long_IsCompact((PyLongObject*)o)) {
            *v = (long long)PyUnstable_Long_CompactValue((PyLongObject*)o);
            return 1;
        }
        return 0;
    #else
        Py_ssize_t size = Py_SIZE(o);
        if (size == 0) { *v = 0; return 1; }
        if (size == 1) { *v = (long long)((PyLongObject*)o)->ob_digit[0]; return 1; }
        if (size == -1) { *v = -(long long)((PyLongObject*)o)->ob_digit[0]; return 1; }
        return 0;
    #endif
    }
    """
    bint pyseq_compact_int(PyObject* o, long long* v) noexcept nogil


cdef uint64_t FNV_OFFSET = 14695981039346656037ULL
cdef uint64_t FNV_PRIME = 1099511628211ULL

# the code units of a str's buffer, by PyUnicode kind (1, 2 or 4 bytes per character)
ctypedef fused char_t:
    uint8_t
    uint16_t
    uint32_t


cdef inline uint64_t _slot_hash(uint64_t h) noexcept nogil:
    # FNV-1a's low bits are weak for short keys: finish with a murmur-style mix
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    return h


cdef inline uint32_t _fold(uint32_t c, const uint32_t* lower) noexcept nogil:
    # lower: NULL (no case folding) or Lexicon.lower_map, valid for the characters of the text
    return lower[c] if lower != NULL else c


cdef uint32_t LOWER_UNKNOWN = 0xFFFFFFFF   # lower_map: not looked up yet
cdef uint32_t LOWER_COMPLEX = 0xFFFFFFFE   # lower() of it is not one character (or context-dependent)


cdef struct Stat:
    int64_t count      # occurrences
    int64_t docs       # documents containing the token
    int64_t last_doc   # stamp of the last document that counted it


cdef struct Slot:     # 8 bytes: the table stays small enough for the cache
    uint32_t tag       # the token hash's high half (the low bits chose the slot)
    int32_t id         # -1: empty


@cython.final
cdef class Lexicon:
    """Tokens (by code points) -> dense ids in first-seen order, with counts and document counts.

    Lexicon(filters, split): ``split`` is one character (or empty); every character of
    ``filters`` and ``split`` separates tokens (Keras: filters are translated to ``split``, then
    the text is split on it and empty pieces dropped, which is the same as taking maximal runs
    of the other characters).
    """

    cdef vector[uint32_t] chars        # every token's code points, back to back
    cdef vector[Py_ssize_t] start      # token k is chars[start[k]:start[k+1]]
    cdef vector[uint64_t] hashes       # per token
    cdef vector[Slot] slots            # hash table (power-of-two size)
    cdef vector[Stat] stats            # per token
    cdef vector[uint32_t] lower_map    # code point < 65536 -> its str.lower(), filled lazily
    cdef vector[int64_t] values        # per token: the mapping's value (encode mode)
    cdef list words                    # per token: the str
    cdef list objects                  # per token: the mapping's value object (encode mode)
    cdef uint8_t delim_lo[256]
    cdef vector[uint32_t] delim_hi
    cdef int64_t stamp

    def __cinit__(self, str filters, str split):
        cdef uint32_t c
        memset(self.delim_lo, 0, 256)
        for ch in filters + split:
            c = ord(ch)
            if c < 256:
                self.delim_lo[c] = 1
            else:
                self.delim_hi.push_back(c)
        self.start.push_back(0)
        cdef Slot empty
        empty.tag = 0
        empty.id = -1
        self.slots.assign(1024, empty)
        self.words = []
        self.objects = []
        self.stamp = 0

    def __len__(self):
        return len(self.words)

    cdef inline bint _is_delim(self, uint32_t c) noexcept nogil:
        if c < 256:
            return self.delim_lo[c]
        for k in range(self.delim_hi.size()):
            if self.delim_hi[k] == c:
                return True
        return False

    cdef void _grow(self) noexcept:
        cdef size_t cap = self.slots.size() * 2
        cdef uint64_t mask = cap - 1
        cdef size_t pos
        cdef int64_t k
        cdef Slot empty
        empty.tag = 0
        empty.id = -1
        self.slots.assign(cap, empty)
        for k in range(<int64_t>self.hashes.size()):
            pos = _slot_hash(self.hashes[k]) & mask
            while self.slots[pos].id >= 0:
                pos = (pos + 1) & mask
            self.slots[pos].tag = <uint32_t>(self.hashes[k] >> 32)
            self.slots[pos].id = <int32_t>k

    cdef const uint32_t* _lower_table(self, object text, int kind, const void* data,
                                      Py_ssize_t n) except? NULL:
        """lower_map when it lower-cases every character of text as str.lower() would (one
        character each, none context-dependent), else NULL: the caller lowers a copy."""
        cdef Py_ssize_t i
        cdef uint32_t c
        if kind == 4:
            return NULL
        if self.lower_map.size() == 0:
            self.lower_map.assign(65536, LOWER_UNKNOWN)
            for i in range(128):
                self.lower_map[i] = i + 32 if 65 <= i <= 90 else i
        if PyUnicode_IS_ASCII(text):
            return self.lower_map.data()
        for i in range(n):
            c = (<const uint8_t*>data)[i] if kind == 1 else (<const uint16_t*>data)[i]
            if self.lower_map[c] == LOWER_UNKNOWN:
                low = chr(c).lower()
                # U+03A3 (capital sigma) lowers by its context (final sigma)
                self.lower_map[c] = ord(low) if len(low) == 1 and c != 0x3A3 else LOWER_COMPLEX
            if self.lower_map[c] == LOWER_COMPLEX:
                return NULL
        return self.lower_map.data()

    cdef int _scan(self, object text, int mode, bint lower, bint add, vector[int64_t]& out) except -1:
        """Append the ids of text's tokens to out. mode 0: words, 1: characters, 2: whole str."""
        cdef const uint32_t* fold = NULL
        cdef int kind = PyUnicode_KIND(text)
        cdef const void* data = PyUnicode_DATA(text)
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
        if lower:
            fold = self._lower_table(text, kind, data, n)
            if fold == NULL:
                text = text.lower()
                kind = PyUnicode_KIND(text)
                data = PyUnicode_DATA(text)
                n = PyUnicode_GET_LENGTH(text)
        if kind == 1:
            return _scan_units(self, <const uint8_t*>data, n, mode, fold, add, out)
        if kind == 2:
            return _scan_units(self, <const uint16_t*>data, n, mode, fold, add, out)
        return _scan_units(self, <const uint32_t*>data, n, mode, fold, add, out)

    cdef int _scan_text(self, object text, Py_ssize_t position, bint lower, bint char_level,
                        bint add, vector[int64_t]& out, str caller) except -1:
        """Tokens of one document as Keras sees it: a list of tokens, or a str."""
        if isinstance(text, list):
            for tok in text:
                if not PyUnicode_Check(tok):
                    raise TypeError(f"[{caller}] a text given as a list must hold str tokens, "
                                    f"got {type(tok).__name__} in text {position}")
                self._scan(tok, 2, lower, add, out)
        elif PyUnicode_Check(text):
            self._scan(text, 1 if char_level else 0, lower, add, out)
        else:
            raise TypeError(f"[{caller}] texts must be str (or lists of str tokens), "
                            f"got {type(text).__name__} at position {position}")
        return 0

    def count(self, list texts, bint lower, bint char_level):
        """Count every token of ``texts``: occurrences and documents (Tokenizer.fit_on_texts)."""
        cdef vector[int64_t] ids
        cdef Py_ssize_t i, j
        cdef int64_t k
        for i in range(len(texts)):
            ids.clear()
            self._scan_text(texts[i], i, lower, char_level, True, ids, "Tokenizer.fit_on_texts")
            self.stamp += 1
            for j in range(<Py_ssize_t>ids.size()):
                k = ids[j]
                self.stats[k].count += 1
                if self.stats[k].last_doc != self.stamp:
                    self.stats[k].last_doc = self.stamp
                    self.stats[k].docs += 1

    def counted(self):
        """(words, counts, document counts), in first-seen order."""
        return (self.words, [self.stats[k].count for k in range(self.stats.size())],
                [self.stats[k].docs for k in range(self.stats.size())])

    def set_values(self, dict mapping):
        """Load a word -> int mapping (Tokenizer.word_index) for ``encode``; non-str keys can
        never match a token and are left out."""
        cdef vector[int64_t] ids
        for word, value in mapping.items():
            if not PyUnicode_Check(word):
                continue
            if isinstance(value, bool) or not hasattr(value, "__index__"):
                raise TypeError(f"[Tokenizer.texts_to_sequences] word_index values must be ints, "
                                f"got {type(value).__name__} for {word!r}")
            ids.clear()
            self._scan(word, 2, False, True, ids)
            if <size_t>ids[0] >= self.values.size():
                self.values.push_back(0)
                self.objects.append(None)
            self.values[ids[0]] = value.__index__()
            self.objects[ids[0]] = value

    def encode(self, list texts, bint lower, bint char_level, int64_t num_words,
               oov_value, bint has_oov_token):
        """Keras's texts_to_sequences on the loaded mapping. num_words <= 0: no limit. A word at
        or above num_words becomes oov_value when that is not None, else is dropped; an unknown
        word becomes oov_value when the tokenizer has an oov_token, else is dropped."""
        cdef vector[int64_t] ids
        cdef Py_ssize_t i, j, m, kept
        cdef int64_t k
        cdef PyObject* oov = <PyObject*>oov_value
        cdef PyObject* item
        cdef bint oov_index = oov_value is not None
        cdef list result = [None] * len(texts)
        for i in range(len(texts)):
            ids.clear()
            self._scan_text(texts[i], i, lower, char_level, False, ids,
                            "Tokenizer.texts_to_sequences")
            # code: k >= 0 keep objects[k]; -1 the oov value; -2 drop
            kept = 0
            for j in range(<Py_ssize_t>ids.size()):
                k = ids[j]
                if k >= 0:
                    if num_words > 0 and self.values[k] >= num_words:
                        k = -1 if oov_index else -2
                elif not has_oov_token:
                    k = -2
                ids[j] = k
                kept += k != -2
            out = PyList_New(kept)
            m = 0
            for j in range(<Py_ssize_t>ids.size()):
                k = ids[j]
                if k == -2:
                    continue
                item = PyList_GET_ITEM(self.objects, k) if k >= 0 else oov
                Py_INCREF(item)
                PyList_SET_ITEM(out, m, item)
                m += 1
            result[i] = out
        return result


cdef int64_t _lookup(Lexicon lex, const char_t* tok, Py_ssize_t n, uint64_t h,
                     const uint32_t* fold, bint add) except -2:
    """Id of the token tok[:n] (hash h of its folded code points); a new id when ``add``, else
    -1 when absent."""
    cdef uint64_t mask = lex.slots.size() - 1
    cdef size_t pos = _slot_hash(h) & mask
    cdef int64_t k
    cdef Py_ssize_t s, j
    cdef bint same
    while True:
        k = lex.slots[pos].id
        if k < 0:
            break
        if lex.slots[pos].tag == <uint32_t>(h >> 32) and lex.start[k + 1] - lex.start[k] == n:
            s = lex.start[k]
            same = True
            for j in range(n):
                if lex.chars[s + j] != _fold(tok[j], fold):
                    same = False
                    break
            if same:
                return k
        pos = (pos + 1) & mask
    if not add:
        return -1
    k = <int64_t>lex.hashes.size()
    s = <Py_ssize_t>lex.chars.size()
    for j in range(n):
        lex.chars.push_back(_fold(tok[j], fold))
    lex.start.push_back(<Py_ssize_t>lex.chars.size())
    lex.hashes.push_back(h)
    cdef Stat zero
    zero.count = 0
    zero.docs = 0
    zero.last_doc = 0
    lex.stats.push_back(zero)
    lex.words.append(PyUnicode_FromKindAndData(4, lex.chars.data() + s, n))
    if k >= 2147483647:
        raise OverflowError("[Tokenizer] more than 2**31 - 1 distinct tokens")
    lex.slots[pos].tag = <uint32_t>(h >> 32)
    lex.slots[pos].id = <int32_t>k
    if 2 * lex.hashes.size() > lex.slots.size():
        lex._grow()
    return k


cdef int _scan_units(Lexicon lex, const char_t* data, Py_ssize_t n, int mode, const uint32_t* fold,
                     bint add, vector[int64_t]& out) except -1:
    cdef Py_ssize_t i = 0, b
    cdef uint32_t c
    cdef uint64_t h
    if mode == 2:
        h = FNV_OFFSET
        for i in range(n):
            h = (h ^ _fold(data[i], fold)) * FNV_PRIME
        out.push_back(_lookup(lex, data, n, h, fold, add))
        return 0
    if mode == 1:
        for i in range(n):
            h = (FNV_OFFSET ^ _fold(data[i], fold)) * FNV_PRIME
            out.push_back(_lookup(lex, data + i, 1, h, fold, add))
        return 0
    while i < n:
        c = data[i]
        if lex._is_delim(_fold(c, fold)):
            i += 1
            continue
        b = i
        h = FNV_OFFSET
        while True:
            h = (h ^ _fold(c, fold)) * FNV_PRIME
            i += 1
            if i >= n:
                break
            c = data[i]
            if lex._is_delim(_fold(c, fold)):
                break
        out.push_back(_lookup(lex, data + b, i - b, h, fold, add))
    return 0


# ---------------------------------------------------------------------------------------------
# padding
# ---------------------------------------------------------------------------------------------

ctypedef fused out_t:
    int32_t
    int64_t
    float
    double


cdef inline bint _convert(PyObject* item, out_t* dst) noexcept:
    """Store a Python int/float exactly as np.asarray(..., dtype) would; False when unsure."""
    cdef int overflow = 0
    cdef long long v
    cdef double d
    if PyLong_CheckExact(item):
        if not pyseq_compact_int(item, &v):
            v = PyLong_AsLongLongAndOverflow(item, &overflow)
            if overflow:
                return False
        if out_t is int32_t:
            if v < -2147483648LL or v > 2147483647LL:
                return False
        elif out_t is float:
            if v < -16777216LL or v > 16777216LL:  # beyond 2**24 float32 rounding may differ
                return False
        elif out_t is double:
            if v < -9007199254740992LL or v > 9007199254740992LL:
                return False
        dst[0] = <out_t>v
        return True
    if out_t is float or out_t is double:
        if PyFloat_CheckExact(item):
            d = PyFloat_AS_DOUBLE(item)
            if out_t is float:
                if isfinite(d) and (d > 3.4028234663852886e38 or d < -3.4028234663852886e38):
                    return False  # finite but overflows float32: NumPy warns; leave it to NumPy
            dst[0] = <out_t>d
            return True
    return False


def pad_rows(out_t[:, ::1] out, list sequences, Py_ssize_t maxlen, bint truncate_pre,
             bint pad_pre):
    """Copy each list/tuple sequence (truncated to maxlen) into its row of the pre-filled out.

    Returns the indices of rows left for the caller (not a list/tuple, or holding an item that
    is not a plain int/float representable exactly); such a row may be partly written."""
    cdef Py_ssize_t i, k, n, take, first, dst
    cdef PyObject* item
    cdef bint is_list
    cdef list left = []
    for i in range(len(sequences)):
        s = sequences[i]
        is_list = PyList_CheckExact(s)
        if not is_list and not PyTuple_CheckExact(s):
            left.append(i)
            continue
        n = PyList_GET_SIZE(s) if is_list else PyTuple_GET_SIZE(s)
        if n == 0:
            continue
        take = n if n < maxlen else maxlen
        first = n - take if truncate_pre else 0
        dst = maxlen - take if pad_pre else 0
        for k in range(take):
            item = PyList_GET_ITEM(s, first + k) if is_list else PyTuple_GET_ITEM(s, first + k)
            if not _convert(item, &out[i, dst + k]):
                left.append(i)
                break
    return left


def lengths(list sequences):
    """len() of every sequence, or the index of the first without one (as -1 - index)."""
    cdef Py_ssize_t i, n = len(sequences)
    cdef list out = [None] * n
    for i in range(n):
        s = sequences[i]
        if PyList_CheckExact(s):
            out[i] = PyList_GET_SIZE(s)
        elif PyTuple_CheckExact(s):
            out[i] = PyTuple_GET_SIZE(s)
        else:
            try:
                out[i] = len(s)
            except TypeError:
                return -1 - i
    return out


# ---------------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------------

def windows_into(const uint8_t[:, ::1] src, uint8_t[:, ::1] x, uint8_t[:, ::1] y,
                 Py_ssize_t window, Py_ssize_t horizon, Py_ssize_t stride):
    """x[i] = src[i*stride : i*stride+window] (flattened bytes), y[i] = src[i*stride+window+horizon-1].

    src: (T, R) bytes of the series' rows; x: (N, window*R); y: (N, R)."""
    cdef Py_ssize_t i, s, R = src.shape[1], N = x.shape[0]
    if R == 0 or N == 0:
        return
    with nogil:
        for i in range(N):
            s = i * stride
            memcpy(&x[i, 0], &src[s, 0], window * R)
            memcpy(&y[i, 0], &src[s + window + horizon - 1, 0], R)
