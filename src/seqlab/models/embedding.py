"""Pretrained word vectors (GloVe, word2vec) as a model's ``nn.Embedding``, with an OOV policy.

A classifier or tagger reads token ids of its own :class:`~seqlab.data.vocab.Vocab`; its
first layer can start from vectors trained elsewhere (the course's 50-d GloVe in Emojify).
:func:`pretrained_embedding` builds the table row by row in the vocabulary's id order:

* a token with a vector gets a copy of it; with ``lowercase=True`` a token missing as
  written is looked up lower-cased too (GloVe 6B is uncased: ``"Happy"`` -> ``"happy"``);
* a token without one gets, per ``oov``: ``"random"`` (normal, with the mean and standard
  deviation of the known vectors' entries, seeded), ``"zero"`` (a zero row) or ``"mean"``
  (the mean known vector);
* ``<PAD>`` is a zero row and the embedding's ``padding_idx``; the other special tokens
  (``<UNK>`` ...) follow the policy.

``freeze=True`` keeps the table fixed during training (the course's Emojify models),
``freeze=False`` fine-tunes it. :func:`embedding_coverage` says how much of a vocabulary the
vectors cover (worth printing: a low coverage means the tokenisation does not match the
vectors'). Tested in ``tests/test_classifier.py`` against a row-by-row NumPy construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from seqlab.data.vocab import Vocab
from seqlab.embeddings.keyed_vectors import KeyedVectors

__all__ = [
    "Coverage",
    "OOVInit",
    "embedding_coverage",
    "load_vectors",
    "pretrained_embedding",
    "stack_vectors",
]

OOVInit = Literal["random", "zero", "mean"]


@dataclass(frozen=True)
class Coverage:
    """How many of a vocabulary's (non-special) tokens have a pretrained vector."""

    tokens: int  # non-special tokens in the vocabulary
    found: int  # ... with a vector as written
    found_lowercased: int  # ... found only lower-cased (lowercase=True)
    missing: tuple[str, ...]  # the tokens without a vector, in id order

    @property
    def ratio(self) -> float:
        """Share of the tokens with a vector (1.0 for an empty vocabulary)."""
        return (self.found + self.found_lowercased) / self.tokens if self.tokens else 1.0

    def __str__(self) -> str:
        return (
            f"{self.found + self.found_lowercased}/{self.tokens} tokens have a vector "
            f"({self.ratio:.1%})"
        )


def _rows(tokens: Sequence[str], vectors: KeyedVectors, lowercase: bool) -> np.ndarray:
    """Each token's row in ``vectors`` (-1: none); lower-cased as a fallback."""
    get = vectors.key_to_index.get
    rows = [get(t, get(t.lower(), -1) if lowercase else -1) for t in tokens]
    return np.array(rows, dtype=np.int64)  # (n,)


def embedding_coverage(vocab: Vocab, vectors: KeyedVectors, *, lowercase: bool = False) -> Coverage:
    """How much of ``vocab`` (special tokens left out) ``vectors`` covers."""
    tokens = [t for t in vocab.tokens if t not in vocab.specials]
    rows = _rows(tokens, vectors, lowercase)
    exact = sum(t in vectors for t in tokens)
    missing = tuple(t for t, r in zip(tokens, rows, strict=True) if r < 0)
    return Coverage(len(tokens), exact, len(tokens) - exact - len(missing), missing)


def pretrained_embedding(
    vocab: Vocab,
    vectors: KeyedVectors,
    *,
    freeze: bool,
    oov: OOVInit = "random",
    lowercase: bool = False,
    seed: int = 0,
) -> nn.Embedding:
    """An ``nn.Embedding`` of ``len(vocab)`` rows of width ``vectors.vector_size``, row i
    the vector of token i (see the module docstring for unknown and special tokens).

    Raises ``ValueError`` for an unknown ``oov`` or when no token has a vector.

    Shape:
        weight: (V, E), V = len(vocab), E = vectors.vector_size
    """
    if oov not in get_args(OOVInit):
        raise ValueError(f"oov must be one of {list(get_args(OOVInit))}, got {oov!r}")
    rows = _rows(vocab.tokens, vectors, lowercase)  # (V,)
    pad = vocab.pad_id
    if pad is not None:
        rows[pad] = -1
    known = rows >= 0  # (V,)
    if not known.any():
        raise ValueError(
            f"none of the vocabulary's {len(vocab)} tokens has a pretrained vector "
            "(a tokenisation or lower-casing mismatch?)"
        )
    weight = np.zeros((len(vocab), vectors.vector_size), dtype=np.float32)  # (V, E)
    ref = vectors.vectors[rows[known]]  # (k, E)
    weight[known] = ref
    fill = ~known  # (V,)
    if pad is not None:
        fill[pad] = False  # <PAD> stays a zero row
    if oov == "mean":
        weight[fill] = ref.mean(axis=0)
    elif oov == "random":
        rng = np.random.default_rng(seed)
        draw = rng.normal(ref.mean(), ref.std(), size=(int(fill.sum()), vectors.vector_size))
        weight[fill] = draw.astype(np.float32)
    emb = nn.Embedding(len(vocab), vectors.vector_size, padding_idx=pad)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(weight))
    emb.weight.requires_grad_(not freeze)
    return emb


def load_vectors(paths: Sequence[str | Path]) -> KeyedVectors:
    """Word vectors read from one or more files (word2vec text/binary or GloVe, gzip ok).

    Files of the same dimension are merged in order: a word in several keeps its first
    vector. Files of different dimensions are stacked side by side, as Flair's stacked
    embeddings: a word's vector is the concatenation of its vector from each dimension's
    group, in the order the groups first appear, with zeros where a group lacks the word
    (e.g. 50-d GloVe beside 100-d word2vec trained on the task's domain: 150-d vectors).
    A bad file is a :class:`~seqlab._io.DataError` naming it (and the line).

    Shape:
        vectors: (V, E), E = the sum of the groups' dimensions
    """
    if not paths:
        raise ValueError("no vector file given")
    groups: dict[int, tuple[list[str], list[np.ndarray], set[str]]] = {}
    for path in paths:
        kv = KeyedVectors.load(path)
        words, blocks, seen = groups.setdefault(kv.vector_size, ([], [], set()))
        keep = [i for i, w in enumerate(kv.index_to_key) if w not in seen]
        words += [kv.index_to_key[i] for i in keep]
        seen.update(kv.index_to_key)
        blocks.append(kv.vectors[keep])  # (k, E_g)
    merged = [KeyedVectors(words, np.concatenate(blocks)) for words, blocks, _ in groups.values()]
    return merged[0] if len(merged) == 1 else stack_vectors(merged)


def stack_vectors(groups: Sequence[KeyedVectors]) -> KeyedVectors:
    """The vectors of each group side by side: row w is [v_1(w); ...; v_g(w)], zeros where
    group i lacks w; words in the order first met (group 1's first).

    Shape:
        groups[i].vectors: (V_i, E_i) -> vectors (V, Σ E_i), V = |∪ words|
    """
    index: dict[str, int] = {}
    for g in groups:
        for w in g.index_to_key:
            index.setdefault(w, len(index))
    out = np.zeros((len(index), sum(g.vector_size for g in groups)), dtype=np.float32)  # (V, ΣE)
    col = 0
    for g in groups:
        rows = np.fromiter((index[w] for w in g.index_to_key), np.int64, len(g.index_to_key))
        out[rows, col : col + g.vector_size] = g.vectors  # (V_i, E_i) into its columns
        col += g.vector_size
    return KeyedVectors(list(index), out)
