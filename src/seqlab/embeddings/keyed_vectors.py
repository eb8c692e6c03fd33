"""Frozen word vectors: lookup, cosine similarity, analogies, and the files other tools read.

:class:`KeyedVectors` is the trained-embedding object every seqlab trainer returns and every
downstream user reads: a vocabulary (``index_to_key``) and a read-only matrix ``vectors`` of
shape (V, E), the model's embedding matrix E of the course. It does no training.

Similarity is cosine similarity, ``cos(u, v) = u·v / (|u| |v|)``. Queries follow gensim's
``KeyedVectors`` (the reference the tests compare against):

* :meth:`KeyedVectors.most_similar` averages the unit vectors of the positive words and the
  negated unit vectors of the negative words, normalises the mean and ranks every word by
  cosine similarity to it. **The input words are never returned** (gensim's convention, also
  that of word2vec's ``word-analogy`` tool).
* :meth:`KeyedVectors.analogy` answers a:b :: c:? (``analogy("man", "woman", "king")`` ->
  ``queen``) with 3CosAdd, ``argmax_d cos(d, b - a + c)`` on unit vectors (Mikolov et al.
  2013), or 3CosMul, ``argmax_d cos'(d, b) cos'(d, c) / (cos'(d, a) + ε)`` with cosines shifted
  to [0, 1] as ``cos' = (1 + cos) / 2`` (Levy & Goldberg 2014, eq. 4 and footnote 7). The paper
  uses ε = 0.001, seqlab's default; gensim 4.4's ``most_similar_cosmul`` uses ε = 1e-6
  (``epsilon=1e-6`` reproduces it exactly). a, b and c are excluded from the answers.
* ``restrict_vocab=N`` searches only the first N words (the most frequent ones when the
  vocabulary is sorted by count, as word2vec files are).

Unknown words raise :class:`OOVError` (a ``KeyError`` whose message is one readable line
naming every missing word), never a bare ``KeyError``.

Files (:meth:`KeyedVectors.save` / :meth:`KeyedVectors.load`), as gensim reads and writes them:

* ``"word2vec"``: text; a header line ``V E``, then one line per word: the word and E numbers,
  separated by single spaces.
* ``"word2vec-binary"``: the header line ``V E\\n``, then per word its UTF-8 bytes, a space and
  E little-endian float32 values (4E bytes); a newline after each vector (as the original C
  tool writes) is accepted when reading and not written.
* ``"glove"``: text like ``"word2vec"`` without the header line (Stanford GloVe's files).

``format="auto"`` reads the first line: two integers make a header (then the first record
tells text from binary), anything else is a GloVe file. Words are UTF-8. A ``.gz`` file is read
and written gzip-compressed. Malformed files raise :class:`~seqlab._io.DataError` naming the
file and line. Duplicate words keep the first vector (as gensim does) with a warning.
"""

from __future__ import annotations

import gzip
import io
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Literal, get_args

import numpy as np
import torch

from seqlab._io import DataError, PathLike, atomic_write_bytes, atomic_write_text
from seqlab.data.vocab import PAD, Vocab

__all__ = ["AnalogyMethod", "KeyedVectors", "OOVError", "OOVPolicy", "VectorFormat"]

VectorFormat = Literal["word2vec", "word2vec-binary", "glove"]
AnalogyMethod = Literal["3cosadd", "3cosmul"]
OOVPolicy = Literal["zeros", "random", "mean", "error"]

# ε of 3CosMul, Levy & Goldberg (2014), section 6: "ε = 0.001 is used to prevent division by 0".
COSMUL_EPSILON = 1e-3

_HEADER_RE = re.compile(rb"\s*(\d+)[ \t]+(\d+)\s*")
_GZIP_MAGIC = b"\x1f\x8b"
_READ_BLOCK = 1 << 22  # bytes read at a time from a vectors file (4 MiB)
_LOAD_HINT = "check the file is a word2vec (text or binary) or GloVe vectors file"


class OOVError(KeyError):
    """Words missing from the vocabulary.

    ``words`` lists them (in query order, without repeats); ``str()`` is one readable line:

    >>> str(OOVError(["xyzzy"], vocab_size=12345))
    "not in the vocabulary: 'xyzzy' (12,345 words; lookups are case-sensitive)"
    """

    def __init__(self, words: Iterable[str], *, vocab_size: int, case_sensitive: bool = True):
        self.words: list[str] = list(dict.fromkeys(words))
        self.vocab_size = vocab_size
        case = "lookups are case-sensitive" if case_sensitive else "lookups ignore case"
        listed = ", ".join(repr(w) for w in self.words[:20])
        more = f" and {len(self.words) - 20} more" if len(self.words) > 20 else ""
        self.message = f"not in the vocabulary: {listed}{more} ({vocab_size:,} words; {case})"
        super().__init__(self.message)

    def __str__(self) -> str:
        """The plain message (``KeyError`` would quote it)."""
        return self.message


def _as_word_list(words: str | Iterable[str] | None) -> list[str]:
    """A single word or an iterable of words as a list (gensim accepts both)."""
    if words is None:
        return []
    if isinstance(words, str):
        return [words]
    out = list(words)
    for w in out:
        if not isinstance(w, str):
            raise TypeError(f"words must be strings, got {w!r}")
    return out


def _top(scores: np.ndarray, k: int | None, exclude: Iterable[int]) -> list[int]:
    """Indices of the ``k`` highest ``scores`` not in ``exclude``: score descending, then index.

    ``k=None`` ranks every index.
    """
    skip = set(exclude)
    n = scores.shape[0]  # (R,)
    want = n if k is None else min(n, k + len(skip))
    if want < n:
        cand = np.argpartition(-scores, want - 1)[:want]  # (want,)
    else:
        cand = np.arange(n)
    order = cand[np.lexsort((cand, -scores[cand]))]  # (want,) score desc, ties by index
    picked = [int(i) for i in order if int(i) not in skip]
    return picked if k is None else picked[:k]


def _embedding(
    weight: np.ndarray,  # (n, E) the rows, copied
    *,
    freeze: bool,
    padding_idx: int | None = None,
) -> torch.nn.Embedding:
    """An ``nn.Embedding`` holding a copy of ``weight`` (trainable unless ``freeze``)."""
    table = torch.from_numpy(weight)  # (n, E)
    emb = torch.nn.Embedding(*table.shape, padding_idx=padding_idx, dtype=table.dtype)
    with torch.no_grad():
        emb.weight.copy_(table)
    emb.weight.requires_grad_(not freeze)
    return emb


class KeyedVectors:
    """Words and their vectors, frozen: lookup, similarity, analogies, file I/O.

    ``KeyedVectors(words, vectors, counts=None)``: ``words`` are distinct non-empty strings,
    ``vectors`` a (V, E) array (copied to a read-only float32 matrix), ``counts`` the optional
    corpus counts of the words (kept as int64, e.g. for frequency-sorted output).

    >>> kv = KeyedVectors(["a", "b"], np.array([[1.0, 0.0], [1.0, 1.0]]))
    >>> kv["b"].tolist(), round(kv.similarity("a", "b"), 4)
    ([1.0, 1.0], 0.7071)
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        *,
        counts: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        matrix = np.array(vectors, dtype=np.float32, copy=True, order="C")  # (V, E)
        self._init(list(words), matrix, counts)

    def _init(
        self,
        words: list[str],
        matrix: np.ndarray,
        counts: Sequence[int] | np.ndarray | None,
    ) -> None:
        """Check and store an owned (V, E) float32 matrix (no copy)."""
        if matrix.ndim != 2:
            raise ValueError(f"expected vectors of shape (V, E), got {tuple(matrix.shape)}")
        if matrix.shape[0] != len(words):
            raise ValueError(f"{len(words)} words but {matrix.shape[0]} vectors")
        for w in words:
            if not isinstance(w, str) or not w:
                raise TypeError(f"words must be non-empty strings, got {w!r}")
        key_to_index = {w: i for i, w in enumerate(words)}
        if len(key_to_index) != len(words):
            seen: set[str] = set()
            dups = [w for w in words if w in seen or seen.add(w)]  # type: ignore[func-returns-value]
            raise ValueError(f"duplicate words: {dups[:10]}")
        if counts is not None:
            counts = np.array(counts, dtype=np.int64)  # (V,)
            if counts.shape != (len(words),):
                raise ValueError(f"{len(words)} words but counts of shape {counts.shape}")
            counts.flags.writeable = False
        matrix.flags.writeable = False
        self.index_to_key: list[str] = words
        self.key_to_index: dict[str, int] = key_to_index
        self.vectors: np.ndarray = matrix  # (V, E) float32, read-only
        self.counts: np.ndarray | None = counts  # (V,) int64 or None
        self._unit: np.ndarray | None = None

    @classmethod
    def _owned(
        cls, words: list[str], matrix: np.ndarray, counts: np.ndarray | None = None
    ) -> KeyedVectors:
        """Wrap a freshly made float32 matrix without copying it."""
        kv = cls.__new__(cls)
        kv._init(words, np.ascontiguousarray(matrix, dtype=np.float32), counts)
        return kv

    # ------------------------------------------------------------------------------- lookup

    @property
    def vector_size(self) -> int:
        """E, the number of dimensions."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __contains__(self, word: object) -> bool:
        return word in self.key_to_index

    def __iter__(self) -> Iterator[str]:
        return iter(self.index_to_key)

    def __repr__(self) -> str:
        head = ", ".join(repr(w) for w in self.index_to_key[:5])
        more = ", ..." if len(self) > 5 else ""
        return f"KeyedVectors(V={len(self)}, E={self.vector_size}, words=[{head}{more}])"

    def get_index(self, word: str) -> int:
        """The row of ``word``; :class:`OOVError` if it is not in the vocabulary."""
        try:
            return self.key_to_index[word]
        except (KeyError, TypeError):
            raise OOVError([word], vocab_size=len(self)) from None

    def indices(self, words: Iterable[str]) -> np.ndarray:
        """Rows of ``words`` as int64; one :class:`OOVError` naming every missing word."""
        words = list(words)
        get = self.key_to_index.get
        found = [get(w, -1) for w in words]
        missing = [w for w, i in zip(words, found, strict=True) if i < 0]
        if missing:
            raise OOVError(missing, vocab_size=len(self))
        return np.array(found, dtype=np.int64)  # (n,)

    def __getitem__(self, words: str | Sequence[str]) -> np.ndarray:
        """``kv["king"]`` -> (E,) vector; ``kv[["a", "b"]]`` -> (2, E) matrix (read-only)."""
        if isinstance(words, str):
            return self.vectors[self.get_index(words)]  # (E,)
        return self.vectors[self.indices(words)]  # (n, E)

    @property
    def unit_vectors(self) -> np.ndarray:
        """The vectors scaled to unit L2 norm, (V, E) float32, read-only; zero rows stay zero."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)  # (V, 1)
            unit = self.vectors / np.maximum(norms, np.finfo(np.float32).tiny)  # (V, E)
            unit = unit.astype(np.float32, copy=False)
            unit.flags.writeable = False
            self._unit = unit
        return self._unit

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of the vectors of ``a`` and ``b``."""
        i, j = self.indices([a, b])
        u = self.unit_vectors
        return float(np.dot(u[i], u[j]))

    # ------------------------------------------------------------------------------ queries

    def _search_end(self, restrict_vocab: int | None) -> int:
        """How many leading rows a query searches."""
        if restrict_vocab is None:
            return len(self)
        if restrict_vocab < 1:
            raise ValueError(f"restrict_vocab must be a positive integer, got {restrict_vocab}")
        return min(int(restrict_vocab), len(self))

    def most_similar(
        self,
        positive: str | Sequence[str] = (),
        negative: str | Sequence[str] = (),
        topn: int | None = 10,
        restrict_vocab: int | None = None,
    ) -> list[tuple[str, float]]:
        """The ``topn`` words closest (cosine) to the mean of ``positive`` minus ``negative``.

        The mean is that of the words' unit vectors (negative ones negated), itself normalised;
        the input words are excluded from the answer. ``topn=None`` ranks every word.
        ``restrict_vocab=N`` searches the first N words only. Same results as gensim's
        ``KeyedVectors.most_similar``.
        """
        pos, neg = _as_word_list(positive), _as_word_list(negative)
        if not pos and not neg:
            raise ValueError("most_similar needs at least one positive or negative word")
        if topn is not None and topn < 1:
            return []
        idx = self.indices(pos + neg)  # (n,)
        weights = np.array([1.0] * len(pos) + [-1.0] * len(neg), dtype=np.float32)  # (n,)
        unit = self.unit_vectors
        # mean = sum_i w_i u_i / sum_i |w_i|, then scaled to unit length (gensim's convention)
        mean = weights @ unit[idx] / len(idx)  # (n,) x (n, E) -> (E,)
        norm = float(np.linalg.norm(mean))
        if norm > 0:
            mean = mean / norm
        end = self._search_end(restrict_vocab)
        scores = unit[:end] @ mean  # (R, E) x (E,) -> (R,)
        best = _top(scores, topn, idx.tolist())
        return [(self.index_to_key[i], float(scores[i])) for i in best]

    def most_similar_cosmul(
        self,
        positive: str | Sequence[str] = (),
        negative: str | Sequence[str] = (),
        topn: int | None = 10,
        restrict_vocab: int | None = None,
        *,
        epsilon: float = COSMUL_EPSILON,
    ) -> list[tuple[str, float]]:
        """The ``topn`` words d maximising ``prod_pos cos'(d, p) / (prod_neg cos'(d, n) + ε)``.

        ``cos' = (1 + cos) / 2`` lies in [0, 1] (Levy & Goldberg 2014). With ``positive=[b, c]``
        and ``negative=[a]`` this is 3CosMul. Input words are excluded. gensim's
        ``most_similar_cosmul`` is this with ``epsilon=1e-6`` (and it ignores restrict_vocab;
        seqlab honours it).
        """
        pos, neg = _as_word_list(positive), _as_word_list(negative)
        if not pos:
            raise ValueError("most_similar_cosmul needs at least one positive word")
        if topn is not None and topn < 1:
            return []
        pos_idx, neg_idx = self.indices(pos), self.indices(neg)
        unit = self.unit_vectors
        end = self._search_end(restrict_vocab)
        pos_sims = (1.0 + unit[:end] @ unit[pos_idx].T) / 2.0  # (R, E) x (E, P) -> (R, P)
        neg_sims = (1.0 + unit[:end] @ unit[neg_idx].T) / 2.0  # (R, E) x (E, N) -> (R, N)
        scores = pos_sims.prod(axis=1) / (neg_sims.prod(axis=1) + epsilon)  # (R,)
        best = _top(scores, topn, [*pos_idx.tolist(), *neg_idx.tolist()])
        return [(self.index_to_key[i], float(scores[i])) for i in best]

    def analogy(
        self,
        a: str,
        b: str,
        c: str,
        *,
        method: AnalogyMethod = "3cosadd",
        topn: int = 1,
        restrict_vocab: int | None = None,
        epsilon: float = COSMUL_EPSILON,
    ) -> list[tuple[str, float]]:
        """Answers to a:b :: c:? (``analogy("man", "woman", "king")`` -> ``[("queen", ...)]``).

        ``method="3cosadd"``: ``most_similar(positive=[b, c], negative=[a])``;
        ``"3cosmul"``: ``most_similar_cosmul(positive=[b, c], negative=[a], epsilon=...)``.
        a, b and c are never answers. Unknown words raise one :class:`OOVError` naming them
        in the order a, b, c.
        """
        self.indices([a, b, c])  # OOVError in the question's order (the search takes b, c, a)
        if method == "3cosadd":
            return self.most_similar([b, c], [a], topn=topn, restrict_vocab=restrict_vocab)
        if method == "3cosmul":
            return self.most_similar_cosmul(
                [b, c], [a], topn=topn, restrict_vocab=restrict_vocab, epsilon=epsilon
            )
        raise ValueError(f"method must be one of {list(get_args(AnalogyMethod))}, got {method!r}")

    def with_vectors(self, new: np.ndarray) -> KeyedVectors:
        """The same words (and counts) with another (V, E') matrix (copied, float32)."""
        matrix = np.array(new, dtype=np.float32, copy=True, order="C")  # (V, E')
        if matrix.ndim != 2 or matrix.shape[0] != len(self):
            raise ValueError(
                f"expected vectors of shape ({len(self)}, E), got {tuple(matrix.shape)}"
            )
        return type(self)._owned(list(self.index_to_key), matrix, self.counts)

    # ---------------------------------------------------------------------------- embedding

    def to_embedding(
        self,
        vocab: Vocab | Sequence[str] | None = None,
        *,
        oov: OOVPolicy = "zeros",
        freeze: bool = True,
        seed: int = 0,
    ) -> torch.nn.Embedding:
        """The embedding matrix as a ``torch.nn.Embedding`` (rows in ``vocab``'s id order).

        ``vocab=None`` takes every word in this object's order. For a ``Vocab`` or a list of
        tokens, row i is the vector of token i; a token without a vector gets, per ``oov``:
        ``"zeros"``; ``"random"``, normal with the mean and standard deviation of the known
        vectors' entries (seeded by ``seed``); ``"mean"``, the mean known vector; ``"error"``,
        an :class:`OOVError` naming the missing tokens. A ``Vocab``'s special tokens are never
        errors: ``<PAD>`` is a zero row and the embedding's ``padding_idx``, the others follow
        the policy (zeros under ``"error"``). ``freeze=True`` makes the weight not trainable.
        """
        if oov not in get_args(OOVPolicy):
            raise ValueError(f"oov must be one of {list(get_args(OOVPolicy))}, got {oov!r}")
        if vocab is None:
            return _embedding(np.array(self.vectors), freeze=freeze)  # (V, E)
        specials: tuple[str, ...] = vocab.specials if isinstance(vocab, Vocab) else ()
        tokens = list(vocab.tokens if isinstance(vocab, Vocab) else vocab)
        get = self.key_to_index.get
        rows = np.array([get(t, -1) for t in tokens], dtype=np.int64)  # (n,)
        known = rows >= 0  # (n,)
        missing = [t for t, k in zip(tokens, known, strict=True) if not k and t not in specials]
        if oov == "error" and missing:
            raise OOVError(missing, vocab_size=len(self))
        if not known.any():
            raise ValueError("none of the vocabulary's tokens has a vector")
        weight = np.zeros((len(tokens), self.vector_size), dtype=np.float32)  # (n, E)
        weight[known] = self.vectors[rows[known]]
        fill = ~known  # (n,)
        pad_idx = vocab.pad_id if isinstance(vocab, Vocab) and PAD not in self else None
        if pad_idx is not None:
            fill[pad_idx] = False
        if oov == "mean":
            weight[fill] = self.vectors[rows[known]].mean(axis=0)
        elif oov == "random":
            ref = self.vectors[rows[known]]  # (k, E)
            rng = np.random.default_rng(seed)
            draw = rng.normal(ref.mean(), ref.std(), size=(int(fill.sum()), self.vector_size))
            weight[fill] = draw.astype(np.float32)
        return _embedding(weight, freeze=freeze, padding_idx=pad_idx)

    # -------------------------------------------------------------------------------- files

    def _check_savable(self, separators: str) -> None:
        """``ValueError`` if a word holds a character that would break the file's fields."""
        for w in self.index_to_key:
            if any(ch in w for ch in separators) or w != w.strip():
                raise ValueError(
                    f"word {w!r} contains whitespace; text vector files cannot hold it"
                )

    def save(self, path: PathLike, format: VectorFormat = "word2vec") -> Path:
        """Write the vectors atomically in ``format`` (see the module docstring); the path.

        Text values are written with 9 significant digits, which reads back to the same
        float32. A path ending in ``.gz`` is gzip-compressed.
        """
        if format not in get_args(VectorFormat):
            raise ValueError(
                f"format must be one of {list(get_args(VectorFormat))}, got {format!r}"
            )
        self._check_savable(" \t\n\r\x0b\x0c")
        dest = Path(path)
        v, e = self.vectors.shape
        parts: list[bytes] = []
        if format != "glove":
            parts.append(f"{v} {e}\n".encode())
        if format == "word2vec-binary":
            le = self.vectors.astype("<f4", copy=False)  # (V, E)
            for word, row in zip(self.index_to_key, le, strict=True):
                parts.append(word.encode("utf-8") + b" " + row.tobytes())
        else:
            fmt = " ".join(["%.9g"] * e)
            for word, row in zip(self.index_to_key, self.vectors.tolist(), strict=True):
                parts.append(f"{word} {fmt % tuple(row)}\n".encode())
        data = b"".join(parts)
        if dest.suffix == ".gz":
            data = gzip.compress(data, compresslevel=6, mtime=0)
        return atomic_write_bytes(dest, data)

    def save_projector(self, folder: PathLike) -> tuple[Path, Path]:
        """TensorBoard projector files ``vectors.tsv`` and ``metadata.tsv`` in ``folder``.

        ``vectors.tsv``: one row of tab-separated values per word; ``metadata.tsv``: the words,
        one per line in the same order, no header (a single-column metadata file has none).
        The folder is created if needed. Returns ``(vectors_path, metadata_path)``.
        """
        for w in self.index_to_key:
            if "\t" in w or "\n" in w or "\r" in w:
                raise ValueError(f"word {w!r} contains a tab or line break; TSV cannot hold it")
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        fmt = "\t".join(["%.9g"] * self.vector_size)
        rows = "".join(fmt % tuple(r) + "\n" for r in self.vectors.tolist())
        vec_path = atomic_write_text(out / "vectors.tsv", rows)
        meta_path = atomic_write_text(out / "metadata.tsv", "".join(w + "\n" for w in self))
        return vec_path, meta_path

    @classmethod
    def load(
        cls,
        path: PathLike,
        format: VectorFormat | Literal["auto"] = "auto",
        limit: int | None = None,
    ) -> KeyedVectors:
        """Read a word2vec text/binary or GloVe text file (plain or ``.gz``).

        ``format="auto"`` detects it: a first line of two integers is a word2vec header (then
        the first record tells text from binary); otherwise the file is GloVe text.
        ``limit=N`` reads only the first N vectors (and stops reading the file there).
        Raises :class:`~seqlab._io.DataError` naming the file and line for a missing, empty or
        malformed file: ragged rows, a dimension count that disagrees with the header or the
        first row, non-numeric values, fewer (or more) vectors than the header says, a
        truncated binary file, bytes that are not UTF-8.
        """
        choices = (*get_args(VectorFormat), "auto")
        if format not in choices:
            raise ValueError(f"format must be one of {list(choices)}, got {format!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive number of vectors, got {limit}")
        file = Path(path)
        with _open_vectors(file) as fin:
            words, matrix = _VectorReader(file, fin, format, limit).read()
        return cls._owned(words, matrix)


# -------------------------------------------------------------------------------- reading


def _open_vectors(file: Path) -> IO[bytes]:
    """A binary handle on ``file`` (gunzipped when it starts with the gzip magic bytes)."""
    try:
        handle: IO[bytes] = open(file, "rb")
    except FileNotFoundError:
        raise DataError(file, "no such file", hint="check the path") from None
    except IsADirectoryError:
        raise DataError(file, "is a directory", hint="give the path of a vectors file") from None
    except PermissionError:
        raise DataError(file, "permission denied", hint="check the file's permissions") from None
    except OSError as err:
        raise DataError(file, f"cannot read it ({err.strerror})", hint="check the path") from None
    with handle:
        magic = handle.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(file, "rb")
    return open(file, "rb")


def _is_number(token: bytes) -> bool:
    """Whether ``float`` reads ``token``."""
    try:
        float(token)
    except ValueError:
        return False
    return True


class _VectorReader:
    """One pass over a vectors file: header detection, bulk parsing, errors with line numbers."""

    def __init__(self, file: Path, fin: IO[bytes], format: str, limit: int | None) -> None:
        self.file = file
        self.fin = fin
        self.format = format
        self.limit = limit
        self.buf = b""  # bytes read but not yet consumed
        self.eof = False

    def error(self, problem: str, line: int | None, hint: str = _LOAD_HINT) -> DataError:
        """A :class:`DataError` about this file."""
        return DataError(self.file, problem, hint=hint, line=line)

    def fill(self, need: int) -> bool:
        """Read until ``buf`` holds ``need`` bytes or the file ends; whether it holds them."""
        while len(self.buf) < need and not self.eof:
            try:
                block = self.fin.read(max(_READ_BLOCK, need - len(self.buf)))
            except (OSError, EOFError) as err:
                raise self.error(f"cannot read it ({err})", None, "check the file") from None
            if not block:
                self.eof = True
            self.buf += block
        return len(self.buf) >= need

    def first_line(self) -> bytes | None:
        """The first line (without its newline) of what is left, or None if none ends soon."""
        start = 0
        while True:
            nl = self.buf.find(b"\n", start)
            if nl >= 0:
                return self.buf[:nl]
            if self.eof:
                return self.buf if self.buf else None
            start = len(self.buf)
            if start > (1 << 24):
                return None
            self.fill(len(self.buf) + _READ_BLOCK)

    def read(self) -> tuple[list[str], np.ndarray]:
        """Words and the (V, E) float32 matrix."""
        self.fill(1)
        if not self.buf.strip():
            self.fill(1 << 16)
            if not self.buf.strip() and self.eof:
                raise self.error("file is empty", None, "give a file with vectors in it")
        first = self.first_line() or b""
        header = _HEADER_RE.fullmatch(first)
        fmt = self.format
        if fmt == "auto":
            fmt = "glove" if header is None else self._detect_after_header(first, header)
        if fmt == "glove":
            if b"\0" in first:
                raise self.error(
                    "binary data in a text vectors file",
                    1,
                    "a word2vec binary file starts with a 'V E' header line; is this one cut?",
                )
            return self._read_text(None, None, first_line_no=1)
        if header is None:
            raise self.error(
                f"expected a header line 'V E' (two integers), got {first[:60]!r}",
                1,
                "use format='glove' for a file without a header, or format='auto'",
            )
        count, dim = int(header.group(1)), int(header.group(2))
        if dim < 1:
            raise self.error(f"header gives {dim} dimensions", 1)
        self.buf = self.buf[len(first) + 1 :]
        if fmt == "word2vec-binary":
            return self._read_binary(count, dim)
        return self._read_text(count, dim, first_line_no=2)

    def _detect_after_header(self, first: bytes, header: re.Match[bytes]) -> str:
        """``"word2vec"`` if the record after the header parses as text, else binary."""
        dim = int(header.group(2))
        rest = self.buf[len(first) + 1 :]
        if not rest.strip() and self.eof:
            return "word2vec"
        nl = rest.find(b"\n")
        line = rest[:nl] if nl >= 0 else (rest if self.eof else None)
        if line is None:
            return "word2vec-binary"
        parts = line.split()
        if len(parts) != dim + 1:
            return "word2vec-binary"
        try:
            parts[0].decode("utf-8")
            [float(x) for x in parts[1:]]
        except ValueError:
            return "word2vec-binary"
        return "word2vec"

    # ------------------------------------------------------------------------------ text

    def _lines(self, first_line_no: int) -> Iterable[tuple[int, list[bytes]]]:
        """(line number, lines) batches of complete lines, streamed."""
        line_no = first_line_no
        while True:
            self.fill(_READ_BLOCK)
            if not self.buf:
                return
            cut = self.buf.rfind(b"\n")
            if cut < 0 or self.eof:
                chunk, self.buf = self.buf, b""
            else:
                chunk, self.buf = self.buf[: cut + 1], self.buf[cut + 1 :]
            lines = chunk.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            yield line_no, lines
            line_no += len(lines)

    def _read_text(
        self, count: int | None, dim: int | None, *, first_line_no: int
    ) -> tuple[list[str], np.ndarray]:
        """Parse text rows (a word, then ``dim`` numbers) in bulk batches, checking each row."""
        limit = self.limit if self.limit is not None else -1
        if count is not None and limit >= 0:
            limit = min(limit, count)
        words: list[str] = []
        blocks: list[np.ndarray] = []
        last_line = first_line_no - 1
        done = False
        # where the row width was fixed: the header, or the first row of the file
        width_from = "from the header" if dim is not None else None
        for start_no, lines in self._lines(first_line_no):
            heads: list[bytes] = []
            rests: list[bytes] = []
            line_nos: list[int] = []
            for offset, line in enumerate(lines):
                line_no = start_no + offset
                last_line = line_no
                parts = line.split(None, 1)
                if not parts:
                    continue  # blank lines carry nothing
                if len(parts) == 1 or not parts[1].strip():
                    raise self.error("row has a word but no numbers", line_no)
                heads.append(parts[0])
                rests.append(parts[1])
                line_nos.append(line_no)
                if count is not None and len(words) + len(heads) > count:
                    raise self.error(
                        f"header says {count} vectors but more rows follow them",
                        line_no,
                        "fix the header's first number or remove the extra rows",
                    )
                if len(words) + len(heads) == limit:
                    done = True
                    break
            if rests:
                width_from = width_from or f"from line {line_nos[0]}"
                block = self._parse_rows(rests, line_nos, dim, width_from)  # (n, E)
                dim = block.shape[1]
                blocks.append(block)
                words.extend(self._decode_words(heads, line_nos))
            if done:
                break
        if dim is None:
            raise self.error("no vectors in the file", None, "give a file with vectors in it")
        if count is not None and len(words) < (count if limit < 0 else limit):
            raise self.error(
                f"header says {count} vectors, the file holds only {len(words)}",
                last_line,
                "the file may be cut short; fix the header's first number or the rows",
            )
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)
        return self._dedupe(words, matrix)

    def _decode_words(self, heads: list[bytes], line_nos: list[int]) -> list[str]:
        """The words of a batch as text; a :class:`DataError` naming a non-UTF-8 word's line."""
        try:
            return b"\n".join(heads).decode("utf-8").split("\n")
        except UnicodeDecodeError:
            for head, line_no in zip(heads, line_nos, strict=True):
                try:
                    head.decode("utf-8")
                except UnicodeDecodeError:
                    raise self.error("word is not valid UTF-8", line_no) from None
            raise

    def _parse_rows(
        self, rests: list[bytes], line_nos: list[int], dim: int | None, width_from: str
    ) -> np.ndarray:
        """The numbers of a batch of rows as a (n, E) float32 block.

        ``dim`` is the width fixed by the header or an earlier batch (``None``: the first row
        of this batch fixes it); ``width_from`` says where it was fixed, for the message. The
        fast path is NumPy's C parser; if it fails (or the width is wrong), the rows are
        parsed one by one to name the first bad line and value.
        """
        try:
            values = np.loadtxt(
                io.BytesIO(b"\n".join(rests)), dtype=np.float32, ndmin=2, comments=None
            )  # (n, E)
            if values.shape[0] == len(rests) and (dim is None or values.shape[1] == dim):
                return values
        except ValueError:
            pass
        rows: list[list[float]] = []
        for rest, line_no in zip(rests, line_nos, strict=True):
            tokens = rest.split()
            if dim is None:
                dim = len(tokens)
            if len(tokens) != dim:
                raise self.error(
                    f"row has {len(tokens)} values, expected {dim} ({width_from})",
                    line_no,
                    "every row must hold a word and the same number of values",
                )
            try:
                rows.append([float(t) for t in tokens])
            except ValueError:
                bad = next(t for t in tokens if not _is_number(t))
                raise self.error(
                    f"value {bad.decode('utf-8', 'replace')!r} is not a number", line_no
                ) from None
        return np.array(rows, dtype=np.float32)  # (n, E)

    def _dedupe(self, words: list[str], matrix: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Keep the first of repeated words (gensim does), warning once."""
        index: dict[str, int] = {}
        for i, w in enumerate(words):
            index.setdefault(w, i)
        if len(index) == len(words):
            return words, matrix
        keep = np.array(sorted(index.values()), dtype=np.int64)
        warnings.warn(
            f"{self.file}: {len(words) - len(index)} repeated word(s) "
            f"(first: {next(w for i, w in enumerate(words) if index[w] != i)!r}); "
            "kept the first vector of each",
            stacklevel=5,
        )
        return [words[i] for i in keep], matrix[keep]

    # ---------------------------------------------------------------------------- binary

    def _read_binary(self, count: int, dim: int) -> tuple[list[str], np.ndarray]:
        """Parse ``count`` binary records (word, space, ``dim`` float32 values)."""
        n = count if self.limit is None else min(count, self.limit)
        width = 4 * dim
        matrix = np.empty((n, dim), dtype=np.float32)  # (V, E)
        words: list[str] = []
        consumed = 0  # bytes of the body consumed before the current buffer
        pos = 0
        for k in range(n):
            space = self.buf.find(b" ", pos)
            while space < 0 or len(self.buf) < space + 1 + width:
                if self.eof:
                    raise self.error(
                        f"truncated: the header says {count} vectors, the file ends in "
                        f"vector {k + 1} (byte {consumed + len(self.buf) + 1} of the body)",
                        None,
                        "the file was cut short; download or write it again",
                    )
                self.buf = self.buf[pos:]
                consumed += pos
                pos = 0
                self.fill(len(self.buf) + _READ_BLOCK)
                space = self.buf.find(b" ", pos)
            raw = self.buf[pos:space].lstrip(b"\n")
            try:
                word = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self.error(
                    f"word of vector {k + 1} is not valid UTF-8 ({raw[:40]!r})", None
                ) from None
            if not word:
                raise self.error(f"vector {k + 1} has an empty word", None)
            words.append(word)
            matrix[k] = np.frombuffer(self.buf, dtype="<f4", count=dim, offset=space + 1)
            pos = space + 1 + width
        if self.limit is None or self.limit >= count:
            self.buf = self.buf[pos:]
            self.fill(1)
            if self.buf.strip():
                raise self.error(
                    f"header says {count} vectors but more data follows them",
                    None,
                    "fix the header's first number",
                )
        return self._dedupe(words, matrix)
