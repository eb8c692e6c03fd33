"""BLEU (Papineni et al., 2002), computed as sacreBLEU computes it, only faster.

For a corpus of hypotheses :math:`h_s` with references :math:`r_{s,1..K}`:

* modified (clipped) n-gram precision, n = 1..N (N = 4)::

      p_n = Σ_s Σ_g min(count_h(g), max_k count_{r_k}(g)) / Σ_s Σ_g count_h(g)

  (a hypothesis n-gram is credited at most as often as it occurs in one reference: "the the
  the the the the the" against "the cat is on the mat" has p_1 = 2/7);
* brevity penalty, with c = Σ_s |h_s| and r = Σ_s (the reference length closest to |h_s|;
  ties go to the shorter reference)::

      BP = 1 if c ≥ r else exp(1 − r / c)        (BP = 0 when c = 0)

* BLEU = BP · exp(Σ_n (1/N) log p_n), reported ×100 like sacreBLEU (precisions in percent).

Smoothing (Chen & Cherry 2014, "A Systematic Comparison of Smoothing Techniques for
Sentence-Level BLEU"), applied when an order has no match: ``exp`` (NIST / mteval-v13a:
the k-th zero precision becomes 1 / (2^k · total_n)), ``floor`` (zero precisions become
ε / total_n, ε = 0.1), ``add-k`` (orders n ≥ 2 become (m_n + k) / (t_n + k), k = 1) and
``none``. With ``effective_order`` the geometric mean runs only over the orders the
hypothesis has n-grams for (sacreBLEU's sentence-BLEU default). A corpus with no matching
unigram or n-gram at all scores 0 whatever the smoothing (as in sacreBLEU).

Tokenizers (:mod:`seqlab.metrics.tokenizers`) reimplement the mteval definitions: ``13a``
(mteval-v13a.pl, WMT's default), ``intl`` (mteval-v14 ``--international-tokenization``:
Unicode punctuation and symbols), ``char`` (every non-space character a token) and ``none``
(split on whitespace).

Tested against sacreBLEU 2.x (``tests/test_bleu.py``): counts, totals and lengths equal,
scores within 1e-8, on golden cases, sacreBLEU's degenerate cases and random corpora.

Speed: the corpus is tokenized as one string (one ``str.translate`` and three regular
expressions with literal replacements; the rare lines whose punctuation needs the full
mteval rules go through them one by one). Small corpora are counted sentence by sentence in
plain Python (set intersections where no n-gram repeats, Counters otherwise), so that
``seqlab bleu`` starts as fast as sacreBLEU's CLI: NumPy is not imported. Large ones go to
:mod:`seqlab.metrics._bleu_numpy`, which counts every sentence at once with integer keys
(a dense re-ranking per order keeps the keys exact, so there are no hash collisions) and
``np.bincount``; "large" is smaller when NumPy is already imported than when importing it
is part of the bill.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Literal

from seqlab._version import __version__
from seqlab.metrics.tokenizers import TOKENIZERS, Tokenize, _prepare, _tokenize_prepared, tokenize

__all__ = [
    "SMOOTH_DEFAULTS",
    "TOKENIZERS",
    "BLEUConfig",
    "BLEUScore",
    "BLEUStatistics",
    "bleu_statistics",
    "compute_bleu",
    "corpus_bleu",
    "sentence_bleu",
    "tokenize",
]

SmoothMethod = Literal["exp", "floor", "add-k", "none"]

# default smoothing value per method (None: the method takes no value)
SMOOTH_DEFAULTS: dict[str, float | None] = {"exp": None, "floor": 0.1, "add-k": 1, "none": None}

# sacreBLEU floors log(0) to this number (so an unsmoothed zero precision gives BLEU = 0)
_LOG_ZERO = -9999999999.0
# The vectorised counter (seqlab.metrics._bleu_numpy) takes over from this many sentences x
# streams (hypotheses + references) when NumPy is already imported, and from _COLD when
# importing it (~0.1 s) is part of the cost: below _COLD, the Python counter finishes before
# NumPy is imported (measured with one reference stream, fresh processes, AMD EPYC)
_SMALL = 64
_COLD = 10_000


# ---------------------------------------------------------------------- n-gram statistics


# a tokenized stream: every token end to end, and each segment's length (-1: no segment)
Stream = tuple[list[str], list[int]]
# per-sentence statistics, one tuple per sentence (tuples: the garbage collector soon stops
# walking them, which lists of a large corpus would make it do again and again)
Rows = list[tuple[int, ...]]


def _closest(hyp_len: int, ref_lens: Sequence[int]) -> int:
    """The reference length closest to the hypothesis length; ties go to the shorter."""
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def _segments(stream: Stream) -> list[list[str] | None]:
    """A tokenized stream cut into its segments (None where a segment is missing)."""
    flat, lens = stream
    out: list[list[str] | None] = []
    start = 0
    for n in lens:
        out.append(None if n < 0 else flat[start : start + n])
        start += max(n, 0)
    return out


def _grams(tokens: list[str], n: int) -> list[Any]:
    """The n-grams of a sentence in order: the tokens themselves when n = 1, else tuples."""
    if n == 1:
        return tokens
    return list(zip(*(tokens[i:] for i in range(n)), strict=False))


def _clipped(hyp: list[str], refs: list[list[str]], n: int) -> int:
    """Σ_g min(count_h(g), max_k count_{r_k}(g)) over the n-grams g of one hypothesis."""
    grams = _grams(hyp, n)
    distinct = set(grams)
    if len(distinct) == len(grams):  # count_h(g) = 1: the n-grams found in some reference
        if len(refs) == 1:
            return len(distinct.intersection(_grams(refs[0], n)))
        return len(distinct.intersection(chain.from_iterable(_grams(r, n) for r in refs)))
    best: dict[Any, int] = {}  # max_k count_{r_k}(g)
    for r in refs:
        for g, c in Counter(_grams(r, n)).items():
            if c > best.get(g, 0):
                best[g] = c
    return sum([min(c, best.get(g, 0)) for g, c in Counter(grams).items()])


def _count_python(hyp: Stream, refs: list[Stream], order: int) -> tuple[Rows, list[int]]:
    """Clipped matches (S, N) and closest-reference lengths (S,), sentence by sentence (the
    small-input path, and the plain statement of the algorithm)."""
    hyps = _segments(hyp)
    ref_segments = [_segments(r) for r in refs]
    correct: Rows = []  # (S, N)
    ref_len: list[int] = []  # (S,)
    for s, h in enumerate(hyps):
        if h is None:  # only reference streams may lack a segment
            raise ValueError(f"hypothesis {s + 1} is missing")
        rs: list[list[str]] = [r[s] for r in ref_segments if r[s] is not None]  # type: ignore[misc]
        ref_len.append(_closest(len(h), [len(r) for r in rs]))
        row = [0] * order
        for n in range(1, min(order, len(h)) + 1):
            row[n - 1] = _clipped(h, rs, n)
            if row[n - 1] == 0:  # an (n+1)-gram matches only if its n-gram prefix does
                break
        correct.append(tuple(row))
    return correct, ref_len


def _count(hyp: Stream, refs: list[Stream], order: int) -> tuple[Rows, list[int]]:
    """:func:`_count_python`, or the vectorised counter where it is faster."""
    size = len(hyp[1]) * (len(refs) + 1)
    if size < (_SMALL if "numpy" in sys.modules else _COLD):
        return _count_python(hyp, refs, order)
    from seqlab.metrics._bleu_numpy import count_numpy

    return count_numpy(hyp, refs, order)


# ------------------------------------------------------------------------------- scoring


def compute_bleu(
    counts: Sequence[int],
    totals: Sequence[int],
    sys_len: int,
    ref_len: int,
    *,
    smooth_method: SmoothMethod = "exp",
    smooth_value: float | None = None,
    effective_order: bool = False,
) -> tuple[float, list[float], float]:
    """BLEU from its sufficient statistics: ``(score, precisions, bp)``, in percent.

    ``counts[n-1]`` are the clipped n-gram matches, ``totals[n-1]`` the hypothesis n-grams;
    N = ``len(counts)``. The arithmetic follows sacreBLEU's step by step, so the score is
    the same number, not merely a close one.
    """
    if smooth_method not in SMOOTH_DEFAULTS:
        raise ValueError(
            f"unknown smoothing method {smooth_method!r}; choose exp, floor, add-k or none"
        )
    value = SMOOTH_DEFAULTS[smooth_method] if smooth_value is None else smooth_value
    order = len(counts)
    # BP = 1 if c >= r else exp(1 - r/c); 0 when the hypotheses are empty
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * order
    if not any(counts):  # no match at all: 0 whatever the smoothing
        return 0.0, precisions, bp
    correct = list(counts)
    total = list(totals)
    halvings = 1.0  # exp smoothing: 2^k for the k-th order without a match
    used = order
    for n in range(1, order + 1):
        if smooth_method == "add-k" and n > 1:  # p_n = (m_n + k) / (t_n + k)
            correct[n - 1] += value  # type: ignore[operator]
            total[n - 1] += value  # type: ignore[operator]
        if total[n - 1] == 0:
            break
        if effective_order:
            used = n
        if correct[n - 1] == 0:
            if smooth_method == "exp":  # p_n = 1 / (2^k t_n)
                halvings *= 2
                precisions[n - 1] = 100.0 / (halvings * total[n - 1])
            elif smooth_method == "floor":  # p_n = eps / t_n
                precisions[n - 1] = 100.0 * value / total[n - 1]  # type: ignore[operator]
        else:  # p_n = m_n / t_n
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    # BLEU = BP * exp(sum_n log(p_n) / N)
    logs = [math.log(p) if p != 0.0 else _LOG_ZERO for p in precisions[:used]]
    return bp * math.exp(sum(logs) / used), precisions, bp


@dataclass(frozen=True, kw_only=True)
class BLEUConfig:
    """How BLEU is computed; everything its signature records."""

    tokenize: Tokenize = "13a"  # 13a (WMT's mteval-v13a), intl, char or none
    lowercase: bool = False  # lowercase hypotheses and references first
    smooth_method: SmoothMethod = "exp"  # exp, floor, add-k or none
    smooth_value: float | None = None  # floor's epsilon / add-k's k; None: 0.1 / 1
    max_ngram_order: int = 4  # N: precisions p_1..p_N
    effective_order: bool = False  # average only over orders the hypothesis has n-grams for

    def __post_init__(self) -> None:
        if self.tokenize not in TOKENIZERS:
            raise ValueError(
                f"unknown tokenizer {self.tokenize!r}; choose one of {', '.join(TOKENIZERS)}"
            )
        if self.smooth_method not in SMOOTH_DEFAULTS:
            raise ValueError(
                f"unknown smoothing method {self.smooth_method!r}; choose exp, floor, add-k or none"
            )
        if self.smooth_value is not None and not self.smooth_value >= 0:
            raise ValueError(f"smooth_value must be >= 0, got {self.smooth_value}")
        if self.max_ngram_order < 1:
            raise ValueError(f"max_ngram_order must be >= 1, got {self.max_ngram_order}")

    def signature(self, nrefs: int | str, *, short: bool = False) -> str:
        """sacreBLEU's signature format, with seqlab's version.

        >>> BLEUConfig().signature(1)
        'nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:seqlab-0.1.0'
        """
        smooth = self.smooth_method
        default = SMOOTH_DEFAULTS[smooth]
        if default is not None:
            smooth += f"[{(default if self.smooth_value is None else self.smooth_value):.2f}]"
        fields = (
            ("nrefs", "#", nrefs),
            ("case", "c", "lc" if self.lowercase else "mixed"),
            ("eff", "e", "yes" if self.effective_order else "no"),
            ("tok", "tok", self.tokenize),
            ("smooth", "s", smooth),
            ("version", "v", f"seqlab-{__version__}"),
        )
        return "|".join(f"{abbr if short else name}:{value}" for name, abbr, value in fields)


@dataclass(frozen=True, kw_only=True)
class BLEUScore:
    """A BLEU score with the statistics that explain it (sacreBLEU's ``BLEUScore``).

    ``counts`` are the clipped matches before any smoothing (sacreBLEU's add-k reports them
    with k added).
    """

    score: float  # BLEU x 100
    counts: list[int]  # clipped n-gram matches, n = 1..N
    totals: list[int]  # hypothesis n-grams, n = 1..N
    precisions: list[float]  # p_n x 100, after smoothing
    bp: float  # brevity penalty
    sys_len: int  # c: hypothesis tokens
    ref_len: int  # r: closest-reference tokens
    signature: str = ""  # sacreBLEU-style signature
    name: str = field(default="BLEU")  # metric name in the formatted line

    @property
    def ratio(self) -> float:
        """c / r (0 when r = 0)."""
        return self.sys_len / self.ref_len if self.ref_len else 0.0

    def format(self, width: int = 2, *, signature: bool = True) -> str:
        """``BLEU|sig = 61.34 87.4/71.0/56.8/45.6 (BP = 0.969 ratio = 0.969 hyp_len = ...)``"""
        head = f"{self.name}|{self.signature}" if signature and self.signature else self.name
        prec = "/".join(f"{p:.1f}" for p in self.precisions)
        return (
            f"{head} = {self.score:.{width}f} {prec} (BP = {self.bp:.3f} ratio = "
            f"{self.ratio:.3f} hyp_len = {self.sys_len:d} ref_len = {self.ref_len:d})"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: sacreBLEU's keys (name, score, signature and its fields) and the
        statistics."""
        out: dict[str, object] = {"name": self.name, "score": self.score}
        out["signature"] = self.signature
        for part in self.signature.split("|") if self.signature else ():
            key, _, value = part.partition(":")
            out[key] = value
        out.update(
            counts=list(self.counts),
            totals=list(self.totals),
            precisions=list(self.precisions),
            bp=self.bp,
            ratio=self.ratio,
            sys_len=self.sys_len,
            ref_len=self.ref_len,
        )
        return out

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True, kw_only=True)
class BLEUStatistics:
    """Per-sentence sufficient statistics: everything BLEU needs, nothing it does not.

    Plain Python ints, a tuple per sentence (``numpy.array(stats.correct)`` for an array).
    """

    correct: Rows  # (S, N) clipped n-gram matches
    total: Rows  # (S, N) hypothesis n-grams
    sys_len: list[int]  # (S,) hypothesis length
    ref_len: list[int]  # (S,) closest reference length
    ref_lens: Rows  # (S, K) every reference's length (-1: no reference in that stream)
    nrefs: int | str  # references per sentence, or "var" if it varies
    tokenize: Tokenize  # tokenizer used
    lowercase: bool  # lowercased first
    max_ngram_order: int = 4  # N: the width of correct and total

    def __len__(self) -> int:
        return len(self.sys_len)

    def _config(self, smooth_method: str, smooth_value: float | None, eff: bool) -> BLEUConfig:
        return BLEUConfig(
            tokenize=self.tokenize,
            lowercase=self.lowercase,
            smooth_method=smooth_method,  # type: ignore[arg-type]
            smooth_value=smooth_value,
            max_ngram_order=self.max_ngram_order,
            effective_order=eff,
        )

    def corpus_score(
        self,
        *,
        smooth_method: SmoothMethod = "exp",
        smooth_value: float | None = None,
        effective_order: bool = False,
    ) -> BLEUScore:
        """Corpus BLEU: statistics summed over sentences, then one score."""
        config = self._config(smooth_method, smooth_value, effective_order)
        order = self.max_ngram_order
        return _score(
            list(map(sum, zip(*self.correct, strict=True))) or [0] * order,  # Σ_s, per n
            list(map(sum, zip(*self.total, strict=True))) or [0] * order,
            sum(self.sys_len),
            sum(self.ref_len),
            config,
            config.signature(self.nrefs),
        )

    def sentence_scores(
        self,
        *,
        smooth_method: SmoothMethod = "exp",
        smooth_value: float | None = None,
        effective_order: bool = True,
    ) -> list[BLEUScore]:
        """Sentence BLEU of every sentence (effective order by default, as sacreBLEU)."""
        config = self._config(smooth_method, smooth_value, effective_order)
        signature = config.signature(self.nrefs)
        return [
            _score(list(c), list(t), h, r, config, signature)
            for c, t, h, r in zip(self.correct, self.total, self.sys_len, self.ref_len, strict=True)
        ]


def _score(
    counts: list[int], totals: list[int], c: int, r: int, config: BLEUConfig, signature: str
) -> BLEUScore:
    """One :class:`BLEUScore` from summed statistics."""
    score, precisions, bp = compute_bleu(
        counts,
        totals,
        c,
        r,
        smooth_method=config.smooth_method,
        smooth_value=config.smooth_value,
        effective_order=config.effective_order,
    )
    return BLEUScore(
        score=score,
        counts=counts,
        totals=totals,
        precisions=precisions,
        bp=bp,
        sys_len=c,
        ref_len=r,
        signature=signature,
    )


def bleu_statistics(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]],
    *,
    tokenize: Tokenize = "13a",
    lowercase: bool = False,
    max_ngram_order: int = 4,
) -> BLEUStatistics:
    """Tokenize and count: the per-sentence statistics of a corpus.

    ``references`` is a list of reference *streams*, each as long as ``hypotheses`` (as in
    sacreBLEU); a ``None`` entry means that sentence has no reference in that stream.
    """
    BLEUConfig(tokenize=tokenize, max_ngram_order=max_ngram_order)  # validates
    if isinstance(hypotheses, str) or any(isinstance(r, str) for r in references):
        raise TypeError("hypotheses must be a sequence of strings and references a list of them")
    if not references:
        raise ValueError("no references: give at least one reference stream")
    for k, stream in enumerate(references):
        if len(stream) != len(hypotheses):
            raise ValueError(
                f"reference stream {k + 1} has {len(stream)} segments "
                f"but there are {len(hypotheses)} hypotheses"
            )
    hyp = _tokenize_prepared(_prepare(hypotheses, lowercase), tokenize)
    refs: list[Stream] = []
    for stream in references:
        present = [r for r in stream if r is not None]
        flat, got = _tokenize_prepared(_prepare(present, lowercase), tokenize)  # type: ignore[arg-type]
        it = iter(got)
        refs.append((flat, [-1 if r is None else next(it) for r in stream]))
    ref_lens = list(zip(*(r[1] for r in refs), strict=True))  # (S, K)
    if all(-1 not in r[1] for r in refs):  # no None: every sentence has every reference
        per_sentence = [len(refs)] if ref_lens else []  # the distinct counts
    else:
        per_sentence = [len(lens) - lens.count(-1) for lens in ref_lens]  # (S,) references
    if 0 in per_sentence:
        s = per_sentence.index(0)
        raise ValueError(f"hypothesis {s + 1} has no reference (every stream gives None)")
    correct, ref_len = _count(hyp, refs, max_ngram_order)
    sys_len = hyp[1]  # (S,)
    # total_n = max(|h| - n + 1, 0), computed once per distinct length
    rows = {c: tuple(max(c - n, 0) for n in range(max_ngram_order)) for c in set(sys_len)}
    total = [rows[c] for c in sys_len]  # (S, N)
    distinct = set(per_sentence)
    return BLEUStatistics(
        correct=correct,
        total=total,
        sys_len=sys_len,
        ref_len=ref_len,
        ref_lens=ref_lens,
        nrefs=distinct.pop() if len(distinct) == 1 else ("var" if distinct else len(refs)),
        tokenize=tokenize,
        lowercase=lowercase,
        max_ngram_order=max_ngram_order,
    )


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]],
    *,
    tokenize: Tokenize = "13a",
    lowercase: bool = False,
    smooth_method: SmoothMethod = "exp",
    smooth_value: float | None = None,
    max_ngram_order: int = 4,
    effective_order: bool = False,
) -> BLEUScore:
    """Corpus BLEU of ``hypotheses`` against reference streams (sacreBLEU's ``corpus_bleu``).

    >>> round(corpus_bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]).score, 9)
    100.0
    """
    BLEUConfig(
        tokenize=tokenize,
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        max_ngram_order=max_ngram_order,
    )  # validates before any work
    if len(hypotheses) == 0:
        raise ValueError("no hypotheses: BLEU of an empty corpus is undefined")
    stats = bleu_statistics(
        hypotheses,
        references,
        tokenize=tokenize,
        lowercase=lowercase,
        max_ngram_order=max_ngram_order,
    )
    return stats.corpus_score(
        smooth_method=smooth_method, smooth_value=smooth_value, effective_order=effective_order
    )


def sentence_bleu(
    hypothesis: str,
    references: Sequence[str],
    *,
    tokenize: Tokenize = "13a",
    lowercase: bool = False,
    smooth_method: SmoothMethod = "exp",
    smooth_value: float | None = None,
    max_ngram_order: int = 4,
    effective_order: bool = True,
) -> BLEUScore:
    """BLEU of one hypothesis against its references (sacreBLEU's ``sentence_bleu``:
    effective order by default)."""
    if not isinstance(hypothesis, str) or isinstance(references, str):
        raise TypeError("sentence_bleu takes a string and a list of reference strings")
    return corpus_bleu(
        [hypothesis],
        [[r] for r in references],
        tokenize=tokenize,
        lowercase=lowercase,
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        max_ngram_order=max_ngram_order,
        effective_order=effective_order,
    )
