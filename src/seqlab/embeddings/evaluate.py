"""Intrinsic evaluation of word vectors: the Google analogy set and word-similarity benchmarks.

Both follow gensim's ``KeyedVectors.evaluate_word_analogies`` / ``evaluate_word_pairs`` (the
convention of word2vec's ``compute-accuracy``), and the tests check that the numbers are equal:

* Only the first ``restrict_vocab`` words of the vocabulary (300,000 by default; the most
  frequent ones in a count-sorted file) are used. With ``case_insensitive=True`` every word is
  upper-cased before lookup, and a word with several casings takes the vector of the first
  one in vocabulary order (the most frequent).
* A question (or pair) with a word outside that vocabulary is **skipped**, counted in
  ``skipped`` / ``oov_pairs``, and left out of the accuracy (or correlation); ``coverage`` is the
  fraction of questions answered.
* Analogy a:b :: c:d is right when the best word for a:b :: c:? is d (a, b and c excluded; with
  ``case_insensitive``, also any casing of them). ``method="3cosadd"`` is gensim's (and
  word2vec's); ``"3cosmul"`` uses Levy & Goldberg's objective (gensim has none for evaluation).

Analogies are answered in batches: one matrix product per block of questions of a section,
not one search per question. Spearman's rho is the Pearson correlation of the ranks, with tied
values given their average rank (as ``scipy.stats.spearmanr``), computed with NumPy.

The question and pair files shipped with seqlab (``questions-words.txt``, ``wordsim353.tsv``,
``simlex999.txt``) are described, with their sources and licences, in
``seqlab/data/files/README.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from seqlab._io import DataError, PathLike
from seqlab.data.text import read_text
from seqlab.embeddings.keyed_vectors import COSMUL_EPSILON, AnalogyMethod, KeyedVectors

__all__ = [
    "AnalogyResult",
    "SectionScore",
    "SimilarityResult",
    "evaluate_analogies",
    "evaluate_similarity",
    "pearson",
    "rankdata",
    "spearman",
]

SimilarityDataset = Literal["wordsim353", "simlex999"]

_SHIPPED_PAIRS: dict[str, str] = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
_QUESTIONS = "questions-words.txt"
# Elements of one (q, R) score block of a batched analogy search (64 MiB of float32).
_BLOCK_ELEMENTS = 1 << 24
# gensim takes the 5 best answers after dropping the 3 input words, then the first whose
# upper-cased form is not an input word (another casing of one may be among them).
_CANDIDATES = 5


@contextmanager
def _shipped(name: str) -> Iterator[Path]:
    """A real path to the shipped data file ``name``."""
    ref = resources.files("seqlab.data").joinpath("files", name)
    with resources.as_file(ref) as path:
        yield Path(path)


def _lookup(kv: KeyedVectors, restrict_vocab: int | None, case_insensitive: bool) -> dict[str, int]:
    """Word (upper-cased if case-insensitive) -> row, among the first ``restrict_vocab`` words.

    The first casing in vocabulary order wins, as in gensim.
    """
    if restrict_vocab is not None and restrict_vocab < 1:
        raise ValueError(f"restrict_vocab must be a positive integer, got {restrict_vocab}")
    keys = kv.index_to_key[:restrict_vocab]
    table: dict[str, int] = {}
    for i, word in enumerate(keys):
        table.setdefault(word.upper() if case_insensitive else word, i)
    return table


# ------------------------------------------------------------------------------- analogies


@dataclass(frozen=True, kw_only=True)
class SectionScore:
    """One section of an analogy set (``: capital-common-countries``)."""

    name: str  # the section's name, from its ": name" line
    correct: int  # questions answered right
    total: int  # questions answered (all four words in the vocabulary)
    skipped: int  # questions skipped because a word is out of the vocabulary

    @property
    def accuracy(self) -> float:
        """``correct / total``; 0.0 for a section with no question answered (gensim's value)."""
        return self.correct / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "correct": self.correct,
            "total": self.total,
            "skipped": self.skipped,
            "accuracy": self.accuracy,
        }


@dataclass(frozen=True, kw_only=True)
class AnalogyResult:
    """Accuracy on an analogy set, per section and overall, with what was skipped."""

    sections: tuple[SectionScore, ...]  # per section, in file order
    method: str  # "3cosadd" or "3cosmul"
    restrict_vocab: int | None  # only the first N words were used (None: all)
    case_insensitive: bool  # words were upper-cased before lookup
    path: str  # the question file

    @property
    def correct(self) -> int:
        """Questions answered right, all sections."""
        return sum(s.correct for s in self.sections)

    @property
    def total(self) -> int:
        """Questions answered (no out-of-vocabulary word), all sections."""
        return sum(s.total for s in self.sections)

    @property
    def skipped(self) -> int:
        """Questions skipped for an out-of-vocabulary word."""
        return sum(s.skipped for s in self.sections)

    @property
    def questions(self) -> int:
        """All questions in the file."""
        return self.total + self.skipped

    @property
    def accuracy(self) -> float:
        """``correct / total`` over every answered question (0.0 if none)."""
        return self.correct / self.total if self.total else 0.0

    @property
    def coverage(self) -> float:
        """Fraction of the questions answered (not skipped)."""
        return self.total / self.questions if self.questions else 0.0

    def _group(self, syntactic: bool) -> tuple[int, int]:
        """(correct, total) of the syntactic (``gram*``) or the semantic sections."""
        chosen = [s for s in self.sections if s.name.startswith("gram") == syntactic]
        return sum(s.correct for s in chosen), sum(s.total for s in chosen)

    @property
    def semantic_accuracy(self) -> float:
        """Accuracy over the semantic sections (names not starting with ``gram``)."""
        c, t = self._group(False)
        return c / t if t else 0.0

    @property
    def syntactic_accuracy(self) -> float:
        """Accuracy over the syntactic sections (``gram1-adjective-to-adverb`` ...)."""
        c, t = self._group(True)
        return c / t if t else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: settings, overall numbers and every section."""
        return {
            "path": self.path,
            "method": self.method,
            "restrict_vocab": self.restrict_vocab,
            "case_insensitive": self.case_insensitive,
            "correct": self.correct,
            "total": self.total,
            "skipped": self.skipped,
            "questions": self.questions,
            "accuracy": self.accuracy,
            "coverage": self.coverage,
            "semantic_accuracy": self.semantic_accuracy,
            "syntactic_accuracy": self.syntactic_accuracy,
            "sections": [s.to_dict() for s in self.sections],
        }

    def format(self) -> str:
        """A readable table: one row per section, the semantic/syntactic split, the total."""
        width = max([len(s.name) for s in self.sections] + [len("semantic"), 7])
        head = (
            f"{'section':<{width}}  {'correct':>7}  {'total':>6}  {'accuracy':>8}  {'skipped':>7}"
        )
        rows = [head, "-" * len(head)]

        def row(name: str, correct: int, total: int, skipped: int) -> str:
            acc = f"{100 * correct / total:7.2f}%" if total else f"{'—':>8}"
            return f"{name:<{width}}  {correct:>7,}  {total:>6,}  {acc}  {skipped:>7,}"

        for s in self.sections:
            rows.append(row(s.name, s.correct, s.total, s.skipped))
        rows.append("-" * len(head))
        for label, syn in (("semantic", False), ("syntactic", True)):
            chosen = [s for s in self.sections if s.name.startswith("gram") == syn]
            if chosen:
                c, t = self._group(syn)
                rows.append(row(label, c, t, sum(s.skipped for s in chosen)))
        rows.append(row("total", self.correct, self.total, self.skipped))
        limit = f"the first {self.restrict_vocab:,} words" if self.restrict_vocab else "all words"
        case = "case-insensitive" if self.case_insensitive else "case-sensitive"
        rows.append(
            f"method {self.method}; vocabulary: {limit}, {case}; coverage "
            f"{100 * self.coverage:.1f}% of {self.questions:,} questions "
            f"({self.skipped:,} skipped for out-of-vocabulary words)"
        )
        return "\n".join(rows)


def _read_questions(path: Path) -> list[tuple[str, list[tuple[int, list[str]]]]]:
    """Sections of a ``questions-words.txt`` file: (name, [(line, [a, b, c, d]), ...])."""
    sections: list[tuple[str, list[tuple[int, list[str]]]]] = []
    for line_no, line in enumerate(read_text(path).split("\n"), start=1):
        if line.startswith(": "):
            sections.append((line.lstrip(": ").strip(), []))
            continue
        words = line.split()
        if not words:
            continue
        if not sections:
            raise DataError(
                path,
                "question before any section header",
                hint="start the file with a line ': section-name'",
                line=line_no,
            )
        if len(words) != 4:
            raise DataError(
                path,
                f"expected 4 words (a b c d for a:b :: c:d), got {len(words)}",
                hint="write one analogy per line, or ': name' to start a section",
                line=line_no,
            )
        sections[-1][1].append((line_no, words))
    if not sections:
        raise DataError(path, "no section header (': name') found", hint="check the file", line=1)
    return sections


def _best_candidates(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row of (q, R) ``scores``, the columns of the ``k`` best: (q, k), best first."""
    r = scores.shape[1]
    k = min(k, r)
    if k < r:
        cand = np.argpartition(scores, r - k, axis=1)[:, r - k :]  # (q, k)
    else:
        cand = np.broadcast_to(np.arange(r), scores.shape).copy()  # (q, R)
    cand_scores = np.take_along_axis(scores, cand, axis=1)  # (q, k)
    order = np.lexsort((cand, -cand_scores), axis=1)  # (q, k) score desc, then column
    return np.take_along_axis(cand, order, axis=1)  # (q, k)


def _answer_block(
    unit: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    ic: np.ndarray,
    method: str,
    epsilon: float,
) -> np.ndarray:
    """Candidate answers (q, 8) for questions a:b :: c:? with rows ``ia, ib, ic`` (each (q,))."""
    if method == "3cosadd":
        mean = (unit[ib] + unit[ic] - unit[ia]) / 3.0  # (q, E)
        norms = np.linalg.norm(mean, axis=1, keepdims=True)  # (q, 1)
        mean = mean / np.where(norms > 0, norms, 1.0)  # (q, E)
        scores = mean @ unit.T  # (q, E) x (E, R) -> (q, R)
    else:
        sa = (1.0 + unit[ia] @ unit.T) / 2.0  # (q, E) x (E, R) -> (q, R)
        sb = (1.0 + unit[ib] @ unit.T) / 2.0  # (q, R)
        sc = (1.0 + unit[ic] @ unit.T) / 2.0  # (q, R)
        scores = sb * sc / (sa + epsilon)  # (q, R)
    return _best_candidates(scores, _CANDIDATES + 3)  # (q, 8)


def evaluate_analogies(
    kv: KeyedVectors,
    path: PathLike | None = None,
    *,
    restrict_vocab: int | None = 300000,
    method: AnalogyMethod = "3cosadd",
    case_insensitive: bool = True,
    epsilon: float = COSMUL_EPSILON,
) -> AnalogyResult:
    """Accuracy of ``kv`` on an analogy file (``path=None``: the shipped Google analogy set).

    The file has ``: section`` lines, each followed by questions ``a b c d`` (a:b :: c:d).
    See the module docstring for the vocabulary restriction, case handling and skipping; with
    ``method="3cosadd"`` the numbers equal gensim's ``evaluate_word_analogies``. ``epsilon`` is
    3CosMul's ε. A malformed file raises :class:`~seqlab._io.DataError` naming the line.
    """
    if method not in get_args(AnalogyMethod):
        raise ValueError(f"method must be one of {list(get_args(AnalogyMethod))}, got {method!r}")
    if path is None:
        with _shipped(_QUESTIONS) as shipped:
            sections = _read_questions(shipped)
            shown = str(shipped)
    else:
        sections = _read_questions(Path(path))
        shown = str(path)
    table = _lookup(kv, restrict_vocab, case_insensitive)
    end = len(kv) if restrict_vocab is None else min(restrict_vocab, len(kv))
    unit = kv.unit_vectors[:end]  # (R, E)
    block = max(1, _BLOCK_ELEMENTS // max(end, 1))
    keys = kv.index_to_key
    scores: list[SectionScore] = []
    for name, questions in sections:
        known: list[list[str]] = []
        skipped = 0
        for _, words in questions:
            q = [w.upper() for w in words] if case_insensitive else words
            if all(w in table for w in q):
                known.append(q)
            else:
                skipped += 1
        correct = 0
        for start in range(0, len(known), block):
            chunk = known[start : start + block]
            rows = np.array([[table[w] for w in q[:3]] for q in chunk], dtype=np.int64)  # (q, 3)
            cand = _answer_block(unit, rows[:, 0], rows[:, 1], rows[:, 2], method, epsilon)
            for j, (a, b, c, expected) in enumerate(chunk):
                inputs = set(rows[j].tolist())
                best = [i for i in cand[j].tolist() if i not in inputs][:_CANDIDATES]
                predicted = None
                for i in best:
                    predicted = keys[i].upper() if case_insensitive else keys[i]
                    if predicted not in (a, b, c):
                        break
                correct += predicted == expected
        scores.append(SectionScore(name=name, correct=correct, total=len(known), skipped=skipped))
    return AnalogyResult(
        sections=tuple(scores),
        method=method,
        restrict_vocab=restrict_vocab,
        case_insensitive=case_insensitive,
        path=shown,
    )


# ------------------------------------------------------------------------------ similarity


def rankdata(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, ties given their average rank (float64, (n,))."""
    x = np.asarray(values, dtype=np.float64).ravel()  # (n,)
    n = x.size
    order = np.argsort(x, kind="mergesort")  # (n,)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    ranked = x[order]  # (n,)
    first = np.r_[True, ranked[1:] != ranked[:-1]]  # (n,) start of each group of ties
    group = np.cumsum(first)[inverse]  # (n,) group number of each value, 1-based
    bounds = np.r_[np.nonzero(first)[0], n]  # (g + 1,) start of each group, then n
    # ranks bounds[g-1]+1 .. bounds[g] share the group; their mean is (lo + hi + 1) / 2
    return 0.5 * (bounds[group] + bounds[group - 1] + 1)  # (n,)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of two equal-length samples (NaN if either is constant)."""
    a = np.asarray(x, dtype=np.float64) - np.mean(x)  # (n,)
    b = np.asarray(y, dtype=np.float64) - np.mean(y)  # (n,)
    denom = math.sqrt(float(a @ a) * float(b @ b))
    if denom == 0.0:
        return math.nan
    return max(-1.0, min(1.0, float(a @ b) / denom))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson's r of the average ranks (NaN if either sample is constant)."""
    return pearson(rankdata(x), rankdata(y))


@dataclass(frozen=True, kw_only=True)
class SimilarityResult:
    """Agreement of cosine similarity with human similarity judgements."""

    dataset: str  # "wordsim353", "simlex999" or the path of a pair file
    spearman: float  # Spearman's rho, model vs human scores (NaN if undefined)
    pearson: float  # Pearson's r, model vs human scores (NaN if undefined)
    pairs: int  # pairs scored (both words in the vocabulary)
    oov_pairs: int  # pairs skipped for an out-of-vocabulary word
    restrict_vocab: int | None  # only the first N words were used (None: all)
    case_insensitive: bool  # words were upper-cased before lookup

    @property
    def oov_ratio(self) -> float:
        """Fraction of the pairs skipped."""
        n = self.pairs + self.oov_pairs
        return self.oov_pairs / n if n else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (an undefined correlation is ``None``)."""

        def num(v: float) -> float | None:
            return None if math.isnan(v) else v

        return {
            "dataset": self.dataset,
            "spearman": num(self.spearman),
            "pearson": num(self.pearson),
            "pairs": self.pairs,
            "oov_pairs": self.oov_pairs,
            "oov_ratio": self.oov_ratio,
            "restrict_vocab": self.restrict_vocab,
            "case_insensitive": self.case_insensitive,
        }

    def format(self) -> str:
        """One readable line."""
        return (
            f"{self.dataset}: Spearman {self.spearman:.4f}, Pearson {self.pearson:.4f} "
            f"on {self.pairs:,} pairs ({self.oov_pairs:,} skipped for out-of-vocabulary words)"
        )


def _read_pairs(path: Path) -> list[tuple[int, str, str, float]]:
    """(line, word1, word2, score) of a pair file; ``#`` lines are comments."""
    pairs: list[tuple[int, str, str, float]] = []
    for line_no, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            parts = line.split()
        if len(parts) != 3:
            raise DataError(
                path,
                f"expected 3 fields (word1, word2, score), got {len(parts)}",
                hint="write 'word1<TAB>word2<TAB>score' per line; '#' starts a comment",
                line=line_no,
            )
        try:
            score = float(parts[2])
        except ValueError:
            raise DataError(
                path, f"score {parts[2].strip()!r} is not a number", hint="fix it", line=line_no
            ) from None
        pairs.append((line_no, parts[0].strip(), parts[1].strip(), score))
    if not pairs:
        raise DataError(path, "no word pairs in the file", hint="give a file with pairs in it")
    return pairs


def evaluate_similarity(
    kv: KeyedVectors,
    dataset: SimilarityDataset | PathLike = "wordsim353",
    *,
    restrict_vocab: int | None = 300000,
    case_insensitive: bool = True,
) -> SimilarityResult:
    """Spearman (and Pearson) correlation of cosine similarity with human scores.

    ``dataset`` is ``"wordsim353"`` or ``"simlex999"`` (shipped) or the path of a file of
    ``word1<TAB>word2<TAB>score`` lines (``#`` lines are comments). Pairs with a word outside
    the first ``restrict_vocab`` words are skipped and counted. Equal to gensim's
    ``evaluate_word_pairs``. ``ValueError`` if no pair can be scored.
    """
    if isinstance(dataset, str) and dataset in _SHIPPED_PAIRS:
        with _shipped(_SHIPPED_PAIRS[dataset]) as shipped:
            pairs = _read_pairs(shipped)
        name = dataset
    else:
        pairs = _read_pairs(Path(dataset))
        name = str(dataset)
    table = _lookup(kv, restrict_vocab, case_insensitive)
    unit = kv.unit_vectors
    gold: list[float] = []
    rows: list[tuple[int, int]] = []
    oov = 0
    for _, w1, w2, score in pairs:
        a, b = (w1.upper(), w2.upper()) if case_insensitive else (w1, w2)
        if a in table and b in table:
            rows.append((table[a], table[b]))
            gold.append(score)
        else:
            oov += 1
    if not rows:
        raise ValueError(
            f"{name}: none of the {len(pairs)} pairs has both words in the vocabulary "
            f"({len(kv):,} words; restrict_vocab={restrict_vocab}, "
            f"case_insensitive={case_insensitive})"
        )
    idx = np.array(rows, dtype=np.int64)  # (n, 2)
    model = np.einsum("ne,ne->n", unit[idx[:, 0]], unit[idx[:, 1]])  # (n, E) . (n, E) -> (n,)
    human = np.array(gold, dtype=np.float64)  # (n,)
    return SimilarityResult(
        dataset=name,
        spearman=spearman(human, model),
        pearson=pearson(human, model),
        pairs=len(rows),
        oov_pairs=oov,
        restrict_vocab=restrict_vocab,
        case_insensitive=case_insensitive,
    )
