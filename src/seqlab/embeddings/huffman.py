"""Huffman tree over word counts, for word2vec's hierarchical softmax.

Hierarchical softmax (Morin & Bengio 2005; Mikolov et al. 2013, "Distributed Representations of
Words and Phrases and their Compositionality") replaces the V-way softmax by V-1 binary
decisions along a word's path from the root of a binary tree. With a Huffman tree the expected
path length is minimal, and frequent words get short codes.

The construction is word2vec.c's ``CreateBinaryTree``: with the leaves sorted by count
(descending), two queues (leaves from the back, new inner nodes in creation order) always yield
the two lightest nodes in O(V). The lighter of the two gets bit 0, the heavier bit 1. Inner node
``a`` (created at step ``a``) is row ``a`` of the output matrix ``syn1`` (V-1 rows); the root is
row ``V - 2``. Tested against a heapq reference for the optimal cost (tests/test_word2vec.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HuffmanTree", "build_huffman"]


@dataclass(frozen=True, kw_only=True)
class HuffmanTree:
    """Codes and paths of every word, padded to the longest code.

    ``codes[w, :lengths[w]]`` are word ``w``'s bits from the root down; ``points[w, j]`` is the
    inner node (row of ``syn1``) whose binary decision produces bit ``codes[w, j]``.
    """

    codes: np.ndarray  # (V, L) uint8 bits, root first; padding is 0
    points: np.ndarray  # (V, L) int32 inner-node ids in [0, V-2], root first; padding is 0
    lengths: np.ndarray  # (V,) int32 code length of each word (>= 1)


def build_huffman(counts: np.ndarray) -> HuffmanTree:
    """Build the Huffman tree of ``counts`` (any order; ids are positions in ``counts``).

    Raises ValueError for fewer than two words or negative counts.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1:
        raise ValueError(f"expected counts of shape (V,), got {counts.shape}")
    n_words = counts.shape[0]
    if n_words < 2:
        raise ValueError(f"a Huffman tree needs at least 2 words, got {n_words}")
    if (counts < 0).any():
        raise ValueError("counts must be non-negative")
    order = np.argsort(-counts, kind="stable")  # leaf position -> word id, heaviest first
    n_nodes = 2 * n_words - 1
    weight = np.empty(n_nodes, dtype=np.int64)  # leaves 0..V-1 (sorted), inner nodes V..2V-2
    weight[:n_words] = counts[order]
    w = weight.tolist()  # Python ints: the loop below is scalar work
    par = [0] * n_nodes
    bits = [0] * n_nodes
    pos1 = n_words - 1  # next (lightest) unused leaf, moving towards the heaviest
    pos2 = n_words  # next unused inner node, in creation (= non-decreasing weight) order
    for a in range(n_words - 1):
        new = n_words + a
        picked = []
        for _ in range(2):
            if pos1 >= 0 and (pos2 >= new or w[pos1] < w[pos2]):
                picked.append(pos1)
                pos1 -= 1
            else:
                picked.append(pos2)
                pos2 += 1
        w[new] = w[picked[0]] + w[picked[1]]
        par[picked[0]] = new
        par[picked[1]] = new
        bits[picked[1]] = 1  # the heavier child gets 1, as in word2vec.c
    root = n_nodes - 1
    # Depth of every node, top-down (a parent is always created after its children).
    depth = np.zeros(n_nodes, dtype=np.int64)
    for node in range(root - 1, -1, -1):
        depth[node] = depth[par[node]] + 1
    max_len = int(depth[:n_words].max())
    # Path of every node from the root: the parent's path plus the parent itself.
    node_codes = np.zeros((n_nodes, max_len), dtype=np.uint8)
    node_points = np.zeros((n_nodes, max_len), dtype=np.int32)
    for node in range(root - 1, -1, -1):
        p = par[node]
        d = depth[p]
        if d:
            node_codes[node, :d] = node_codes[p, :d]
            node_points[node, :d] = node_points[p, :d]
        node_codes[node, d] = bits[node]
        node_points[node, d] = p - n_words  # inner node id = row of syn1
    codes = np.zeros((n_words, max_len), dtype=np.uint8)
    points = np.zeros((n_words, max_len), dtype=np.int32)
    lengths = np.zeros(n_words, dtype=np.int32)
    codes[order] = node_codes[:n_words]
    points[order] = node_points[:n_words]
    lengths[order] = depth[:n_words]
    return HuffmanTree(codes=codes, points=points, lengths=lengths)
