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

Files (:meth:`KeyedVectors.save` / :meth:`KeyedVectors.load`) are word2vec text
(``"word2vec"``), word2vec binary (``"word2vec-binary"``) and GloVe text (``"glove"``), plain
or gzip, as gensim reads and writes them; :mod:`seqlab.embeddings.vector_files` reads, writes
and detects them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch

from seqlab._io import PathLike, atomic_write_text
from seqlab.data.vocab import PAD, Vocab
from seqlab.embeddings.vector_files import VectorFormat, _read, write_vectors

__all__ = ["AnalogyMethod", "KeyedVectors", "OOVError", "OOVPolicy", "VectorFormat"]

AnalogyMethod = Literal["3cosadd", "3cosmul"]
OOVPolicy = Literal["zeros", "random", "mean", "error"]

# ε of 3CosMul, Levy & Goldberg (2014), section 6: "ε = 0.001 is used to prevent division by 0".
COSMUL_EPSILON = 1e-3


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
        the input words are excluded from the answer. ``topn=None`` ranks every word (gensim
        returns the unsorted array of every similarity instead); ``topn`` below 1 returns
        ``[]``, as gensim does (the CLI's ``--topn`` refuses it). ``restrict_vocab=N`` searches
        the first N words only. Same results as gensim's ``KeyedVectors.most_similar``.
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
        seqlab honours it). ``topn`` as in :meth:`most_similar`: below 1 gives ``[]``.
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

    def save(self, path: PathLike, format: VectorFormat = "word2vec") -> Path:
        """Write the vectors atomically in ``format``; the path
        (:func:`~seqlab.embeddings.vector_files.write_vectors`).

        Text values are written with 9 significant digits, which reads back to the same
        float32. A path ending in ``.gz`` is gzip-compressed. ``ValueError`` for a word
        holding whitespace.
        """
        return write_vectors(path, self.index_to_key, self.vectors, format)

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
        """Read a word2vec text/binary or GloVe text file (plain or gzip)
        (:func:`~seqlab.embeddings.vector_files.read_vectors`).

        ``format="auto"`` detects it: a first line of two integers is a word2vec header (then
        the first record tells text from binary); otherwise the file is GloVe text.
        ``limit=N`` reads only the first N vectors (and stops reading the file there).
        Raises :class:`~seqlab._io.DataError` naming the file and line for a missing, empty or
        malformed file: ragged rows, a dimension count that disagrees with the header or the
        first row, non-numeric values, fewer (or more) vectors than the header says, a
        truncated binary file, bytes that are not UTF-8.
        """
        words, matrix = _read(path, format, limit)  # = read_vectors, for the warnings' stacklevel
        return cls._owned(words, matrix)
