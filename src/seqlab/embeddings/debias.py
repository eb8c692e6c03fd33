"""Hard debiasing of word embeddings: bias direction, neutralize, equalize.

Bolukbasi, Chang, Zou, Saligrama, Kalai (2016), "Man is to Computer Programmer as Woman is to
Homemaker? Debiasing Word Embeddings", NeurIPS, as taught in the course's programming exercise
("Operations on word vectors — debiasing").

Steps, in the course's notation (``g`` the bias direction, ``e_w`` a word's vector):

1. **Bias direction** ``g`` from definitional pairs (woman–man, she–he, ...):

   * ``"average"`` (the course): ``g = mean_i (e_ai - e_bi) / ||e_ai - e_bi||``;
   * ``"pca"`` (the paper): the first principal component of the centred pairs, i.e. the top
     right singular vector of the rows ``e_ai - mu_i`` and ``e_bi - mu_i`` with
     ``mu_i = (e_ai + e_bi) / 2``; its sign is chosen so that it points from the second word of
     each pair to the first (``sum_i (e_ai - e_bi) . g > 0``), like ``"average"``.

   Both are returned as unit vectors (neutralize and equalize only use ``g / ||g||^2``, so the
   scale of ``g`` does not matter).

2. **Neutralize** every word that is not gender-specific (and not in an equalize pair):
   ``e_debiased = e - (e . g / ||g||^2) g``.

3. **Equalize** each pair (actor–actress, grandfather–grandmother, ...) so that both words are
   equally far from every neutralized word and differ only along ``g``::

       mu      = (e_w1 + e_w2) / 2
       mu_B    = (mu . g / ||g||^2) g
       mu_perp = mu - mu_B
       e_wiB   = (e_wi . g / ||g||^2) g
       course: e_wiB' = sqrt(|1 - ||mu_perp||^2|) (e_wiB - mu_B) / ||(e_wi - mu_perp) - mu_B||
       paper:  e_wiB' = sqrt(|1 - ||mu_perp||^2|) (e_wiB - mu_B) / ||e_wiB - mu_B||
       e_i     = e_wiB' + mu_perp

   The course's denominator is the norm of the whole difference ``e_wi - mu``; the paper's is
   the norm of its component along ``g`` (so the paper's result has unit length). Both are
   symmetric: ``cos(e_1, g) = -cos(e_2, g)`` and ``||e_1 - n|| = ||e_2 - n||`` for every
   neutralized ``n``. Select with ``equalize_formula``; the default is the course's.

**Normalisation.** With ``normalize=True`` (the default, as the paper and the course's
updated exercise do) every vector is scaled to unit length first, every computation runs on
the unit vectors, neutralized vectors are scaled back to unit length afterwards (as the
paper's code does), and the returned vectors are these unit vectors. The equalize formula
assumes unit vectors (the ``1 - ||mu_perp||^2``); with ``normalize=False`` the raw vectors
are used and equalize keeps the course's ``|...|`` so it stays finite.

The definitional pairs, equalize pairs and gender-specific words default to the paper's
published lists, shipped in ``seqlab/data/files`` (see the README there). As in the paper's
code, each equalize pair is tried in lower, title and upper case and used where both words
are in the vocabulary; a word of a list is matched exactly, or lower-cased when the exact
form is missing (``Mary`` -> ``mary`` in an uncased vocabulary); gender-specific words are
matched case-insensitively. As in the paper's code, every word outside the gender-specific
list and the equalize pairs is neutralized, definitional words included (``mary``, ``john``).

Tested (``tests/test_debias.py``) on planted vectors with an analytically known bias axis,
and against NumPy computations of the average direction and of the PCA direction (SVD).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from seqlab.embeddings.keyed_vectors import KeyedVectors

__all__ = [
    "DEFAULT_NEUTRAL_WORDS",
    "DebiasReport",
    "EqualizedPair",
    "NeutralWordBias",
    "bias_direction",
    "debias",
    "definitional_pairs",
    "equalize_pair",
    "equalize_pairs",
    "gender_specific_words",
    "neutralize",
]

Method = Literal["average", "pca"]
EqualizeFormula = Literal["course", "paper"]
Pair = tuple[str, str]

# Words that should carry no gender: the paper's most "she"- and "he"-leaning occupations
# (Figure 1), the course exercise's examples, and a few more professions.
DEFAULT_NEUTRAL_WORDS: tuple[str, ...] = (
    "receptionist",
    "homemaker",
    "nurse",
    "librarian",
    "socialite",
    "hairdresser",
    "nanny",
    "bookkeeper",
    "stylist",
    "housekeeper",
    "maestro",
    "skipper",
    "protege",
    "philosopher",
    "captain",
    "architect",
    "financier",
    "warrior",
    "broadcaster",
    "magician",
    "engineer",
    "programmer",
    "doctor",
    "scientist",
    "surgeon",
    "pilot",
    "teacher",
    "singer",
    "lipstick",
    "guns",
    "science",
    "arts",
    "literature",
    "technology",
    "fashion",
    "computer",
)

# A bias direction needs at least one pair whose two vectors differ by more than this.
_EPS = 1e-12


def _load_list(name: str) -> Any:
    """A shipped JSON word list from ``seqlab/data/files``."""
    data = resources.files("seqlab.data").joinpath("files", name).read_text(encoding="utf-8")
    return json.loads(data)


def definitional_pairs() -> tuple[Pair, ...]:
    """The paper's 10 definitional pairs ``(female, male)``: she–he, woman–man, Mary–John ..."""
    return tuple((a, b) for a, b in _load_list("debias_definitional_pairs.json"))


def equalize_pairs() -> tuple[Pair, ...]:
    """The paper's 52 equalize pairs (monastery–convent, grandfather–grandmother, ...)."""
    return tuple((a, b) for a, b in _load_list("debias_equalize_pairs.json"))


def gender_specific_words() -> tuple[str, ...]:
    """The paper's 218 seed gender-specific words (left untouched by neutralize)."""
    return tuple(_load_list("debias_gender_specific.json"))


# ---------------------------------------------------------------------------- pure functions


def _unit(v: np.ndarray) -> np.ndarray:
    """``v / ||v||`` along the last axis (zero rows stay zero)."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def _direction(first: np.ndarray, second: np.ndarray, method: Method) -> np.ndarray:
    """Unit bias direction from the vectors of P pairs, ``first`` and ``second`` of shape (P, E)."""
    if first.shape != second.shape or first.ndim != 2 or first.shape[0] == 0:
        raise ValueError(
            f"expected two (P, E) arrays with P >= 1, got {first.shape}, {second.shape}"
        )
    diff = first - second  # (P, E)
    if not np.any(np.linalg.norm(diff, axis=1) > _EPS):
        raise ValueError("every definitional pair has two equal vectors: no bias direction")
    if method == "average":
        # g = mean_i (e_ai - e_bi) / ||e_ai - e_bi||
        g = _unit(diff).mean(axis=0)  # (E,)
    elif method == "pca":
        mu = (first + second) / 2  # (P, E)
        centred = np.concatenate([first - mu, second - mu])  # (2P, E), mean zero
        # first principal component = top right singular vector of the centred rows
        g = np.linalg.svd(centred, full_matrices=False)[2][0]  # (E,)
        if float(diff.sum(axis=0) @ g) < 0:  # orient second -> first, like "average"
            g = -g
    else:
        raise ValueError(f"unknown bias-direction method {method!r}: use 'average' or 'pca'")
    norm = float(np.linalg.norm(g))
    if norm <= _EPS:
        raise ValueError("the definitional pairs' differences cancel out: no bias direction")
    return g / norm


def neutralize(e: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Remove the component along ``g``: ``e - (e . g / ||g||^2) g``.

    ``e`` is one vector ``(E,)`` or a batch ``(N, E)``; returns a new array of the same shape.
    """
    g = np.asarray(g, dtype=np.float64)
    # e_biascomponent = (e . g / ||g||^2) g
    e = np.asarray(e, dtype=np.float64)
    coef = (e @ g) / float(g @ g)  # (N,) or ()
    return e - np.multiply.outer(coef, g)  # (N, E)


def equalize_pair(
    e1: np.ndarray, e2: np.ndarray, g: np.ndarray, *, formula: EqualizeFormula = "course"
) -> tuple[np.ndarray, np.ndarray]:
    """Equalize two vectors ``(E,)`` about the bias direction ``g`` (see the module docstring).

    Returns ``(e_1, e_2)``: equal components orthogonal to ``g`` (their mean's ``mu_perp``) and
    opposite components along ``g``. Assumes unit-length inputs, as the formula does.
    """
    if formula not in ("course", "paper"):
        raise ValueError(f"unknown equalize formula {formula!r}: use 'course' or 'paper'")
    e1 = np.asarray(e1, dtype=np.float64)
    e2 = np.asarray(e2, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    gg = float(g @ g)
    mu = (e1 + e2) / 2  # mu = (e_w1 + e_w2) / 2
    mu_b = (mu @ g) / gg * g  # mu_B = (mu . g / ||g||^2) g
    mu_perp = mu - mu_b  # mu_perp = mu - mu_B
    scale = math.sqrt(abs(1.0 - float(mu_perp @ mu_perp)))  # sqrt(|1 - ||mu_perp||^2|)
    out = []
    for e in (e1, e2):
        e_b = (e @ g) / gg * g  # e_wiB = (e_wi . g / ||g||^2) g
        if formula == "course":
            denom = float(np.linalg.norm((e - mu_perp) - mu_b))  # ||(e_wi - mu_perp) - mu_B||
        else:
            denom = float(np.linalg.norm(e_b - mu_b))  # ||e_wiB - mu_B||
        if denom <= _EPS:  # both words project alike on g: put them at +-g, first one at +g
            sign = 1.0 if not out else -1.0
            corrected = scale * sign * g / math.sqrt(gg)
        else:
            corrected = scale * (e_b - mu_b) / denom  # corrected e_wiB
        out.append(corrected + mu_perp)  # e_i = corrected e_wiB + mu_perp
    return out[0], out[1]


# ------------------------------------------------------------------------- vocabulary helpers


def _resolve(word: str, index: dict[str, int]) -> int | None:
    """Row of ``word``: exact, else lower-cased; ``None`` when neither is in the vocabulary."""
    if word in index:
        return index[word]
    return index.get(word.lower())


def _resolve_pairs(
    pairs: Iterable[Sequence[str]], index: dict[str, int], *, case_variants: bool
) -> tuple[list[tuple[int, int]], list[str]]:
    """Row pairs present in the vocabulary (deduplicated, in order) and the missing words."""
    found: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    missing: list[str] = []
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"a word pair must have two words, got {list(pair)!r}")
        a, b = str(pair[0]), str(pair[1])
        if case_variants:  # the paper's code: lower, title and upper case
            variants = [(f(a), f(b)) for f in (str.lower, str.title, str.upper)]
            rows = [(index[x], index[y]) for x, y in variants if x in index and y in index]
        else:
            ia, ib = _resolve(a, index), _resolve(b, index)
            rows = [(ia, ib)] if ia is not None and ib is not None else []
        if not rows:
            missing.extend(w for w in (a, b) if _resolve(w, index) is None)
        for row in rows:
            if row not in seen and row[0] != row[1]:
                seen.add(row)
                found.append(row)
    return found, missing


def bias_direction(
    kv: KeyedVectors,
    pairs: Iterable[Sequence[str]] | None = None,
    *,
    method: Method = "average",
    normalize: bool = True,
) -> np.ndarray:
    """The unit bias direction ``g`` (float64, shape ``(E,)``) from definitional ``pairs``.

    ``pairs`` default to the paper's definitional pairs; pairs with a word missing from the
    vocabulary are skipped (``ValueError`` if none is left). With ``normalize`` the word
    vectors are scaled to unit length first.
    """
    g, _, _ = _bias_direction(kv, _as_matrix(kv, normalize), pairs, method)
    return g


def _as_matrix(kv: KeyedVectors, normalize: bool) -> np.ndarray:
    """The vectors as float64 ``(V, E)``, unit rows when ``normalize``."""
    x = np.asarray(kv.vectors, dtype=np.float64)  # (V, E)
    return _unit(x) if normalize else x.copy()


def _bias_direction(
    kv: KeyedVectors,
    x: np.ndarray,
    pairs: Iterable[Sequence[str]] | None,
    method: Method,
) -> tuple[np.ndarray, list[Pair], list[str]]:
    """(g, pairs used, missing words) from the working matrix ``x``."""
    rows, missing = _resolve_pairs(
        definitional_pairs() if pairs is None else pairs, kv.key_to_index, case_variants=False
    )
    if not rows:
        raise ValueError(
            "none of the definitional pairs is in the vocabulary "
            f"(missing: {', '.join(missing[:10])}) — give pairs of words the vectors know"
        )
    first = x[[a for a, _ in rows]]  # (P, E)
    second = x[[b for _, b in rows]]  # (P, E)
    words = kv.index_to_key
    used = [(words[a], words[b]) for a, b in rows]
    return _direction(first, second, method), used, missing


# ------------------------------------------------------------------------------------- report


@dataclass(frozen=True, kw_only=True)
class NeutralWordBias:
    """How much one neutral word leans along the bias direction, before and after."""

    word: str  # the neutral word (e.g. "receptionist")
    cos_before: float  # cos(e_w, g) in the input vectors
    cos_after: float  # cos(e_w, g) in the debiased vectors (0 once neutralized)


@dataclass(frozen=True, kw_only=True)
class EqualizedPair:
    """The symmetry of one equalized pair in the debiased vectors."""

    first: str  # first word of the pair (as found in the vocabulary)
    second: str  # second word of the pair
    cos_first: float  # cos(e_first, g) after
    cos_second: float  # cos(e_second, g) after: equal magnitude, opposite sign
    distance_gap: float  # max over neutralized neutral words n of | ||e_1-n|| - ||e_2-n|| |


@dataclass(frozen=True, kw_only=True)
class DebiasReport:
    """What :func:`debias` did and how the bias measures changed."""

    method: str  # bias-direction method: "average" (course) or "pca" (paper)
    equalize_formula: str  # "course" or "paper" (see the module docstring)
    normalized: bool  # vectors scaled to unit length before debiasing
    definitional_pairs: tuple[Pair, ...]  # the pairs g was computed from
    bias_direction: tuple[float, ...]  # g, unit length
    missing_words: tuple[str, ...]  # list words not in the vocabulary (skipped)
    n_neutralized: int  # words whose component along g was removed
    n_gender_specific: int  # gender-specific words left untouched
    neutral: tuple[NeutralWordBias, ...]  # neutral words found in the vocabulary
    direct_bias_before: float | None  # DirectBias_1 = mean |cos(w, g)| over neutral words
    direct_bias_after: float | None  # the same on the debiased vectors (~0)
    equalized: tuple[EqualizedPair, ...]  # symmetry of each equalized pair
    analogy_before: float | None  # analogy accuracy before (None: not evaluated)
    analogy_after: float | None  # analogy accuracy after
    analogy_coverage: float | None  # share of questions answerable in restrict_vocab
    restrict_vocab: int | None  # most frequent words searched by the analogy evaluation

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    def format(self) -> str:
        """A readable before/after table."""
        lines = [
            f"Debiasing (Bolukbasi et al. 2016): bias direction {self.method!r} from "
            f"{len(self.definitional_pairs)} definitional pairs; vectors "
            + ("normalised to unit length" if self.normalized else "not normalised"),
            f"neutralized {self.n_neutralized:,} words, kept {self.n_gender_specific:,} "
            f"gender-specific words, equalized {len(self.equalized)} pairs "
            f"({self.equalize_formula} formula)",
        ]
        if self.missing_words:
            shown = ", ".join(self.missing_words[:8])
            more = f" and {len(self.missing_words) - 8} more" if len(self.missing_words) > 8 else ""
            lines.append(f"not in the vocabulary (skipped): {shown}{more}")
        if self.neutral:
            lines += ["", f"{'neutral word':<16} {'cos(w, g) before':>16} {'after':>9}"]
            for n in sorted(self.neutral, key=lambda n: n.cos_before):
                lines.append(f"{n.word:<16} {n.cos_before:>+16.3f} {n.cos_after:>+9.3f}")
            lines.append(
                f"DirectBias (c=1, mean |cos(w, g)| over {len(self.neutral)} neutral words): "
                f"{_fmt(self.direct_bias_before)} -> {_fmt(self.direct_bias_after)}"
            )
        if self.equalized:
            lines += [
                "",
                f"{'equalized pair':<28} {'cos(a, g)':>9} {'cos(b, g)':>9} "
                f"{'max |d(a,n)-d(b,n)|':>20}",
            ]
            for p in self.equalized:
                pair = f"{p.first} / {p.second}"
                lines.append(
                    f"{pair:<28} {p.cos_first:>+9.3f} {p.cos_second:>+9.3f} {p.distance_gap:>20.2e}"
                )
        if self.analogy_before is not None and self.analogy_after is not None:
            lines += [
                "",
                f"analogy accuracy (restrict_vocab {self.restrict_vocab:,}, coverage "
                f"{_pct(self.analogy_coverage)}): {_pct(self.analogy_before)} -> "
                f"{_pct(self.analogy_after)}",
            ]
        return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _cos_to(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """cos(x_i, g) for rows ``x`` (N, E) and a unit ``g`` (0 for zero rows)."""
    return _unit(x) @ g  # (N,)


# ------------------------------------------------------------------------------------ debias


def debias(
    kv: KeyedVectors,
    *,
    method: Method = "average",
    definitional: Iterable[Sequence[str]] | None = None,
    equalize: Iterable[Sequence[str]] | None = None,
    gender_specific: Iterable[str] | None = None,
    neutral_words: Iterable[str] | None = None,
    equalize_formula: EqualizeFormula = "course",
    normalize: bool = True,
    analogies: bool | str | os.PathLike[str] = True,
    restrict_vocab: int = 30000,
) -> tuple[KeyedVectors, DebiasReport]:
    """Hard-debias ``kv``: neutralize neutral words, equalize pairs; report before/after.

    Args:
        kv: the word vectors (not modified).
        method: bias direction, ``"average"`` (course) or ``"pca"`` (paper).
        definitional: pairs defining the bias (default: the paper's 10 pairs).
        equalize: pairs to equalize (default: the paper's 52 pairs, in three cases each).
        gender_specific: words left untouched (default: the paper's 218 seed words).
        neutral_words: words the report measures (default :data:`DEFAULT_NEUTRAL_WORDS`).
        equalize_formula: ``"course"`` or ``"paper"`` (see the module docstring).
        normalize: scale vectors to unit length first (and return unit vectors).
        analogies: evaluate analogy accuracy before and after on the shipped questions-words
            (``True``), on this questions file (a path), or not at all (``False``).
        restrict_vocab: most frequent words searched by the analogy evaluation.

    Returns:
        ``(debiased vectors, report)``; the vectors keep ``kv``'s words and order.
    """
    if equalize_formula not in ("course", "paper"):
        raise ValueError(f"unknown equalize formula {equalize_formula!r}: use 'course' or 'paper'")
    x = _as_matrix(kv, normalize)  # (V, E)
    g, used, missing = _bias_direction(kv, x, definitional, method)  # (E,)
    index = kv.key_to_index
    words = kv.index_to_key

    eq_rows, eq_missing = _resolve_pairs(
        equalize_pairs() if equalize is None else equalize, index, case_variants=True
    )
    specific = {
        w.lower() for w in (gender_specific_words() if gender_specific is None else gender_specific)
    }
    equalized_rows = {r for pair in eq_rows for r in pair}
    keep = np.array([w.lower() in specific for w in words], dtype=bool)  # (V,)
    to_neutralize = ~keep
    to_neutralize[list(equalized_rows)] = False
    untouched = keep.copy()  # gender-specific words outside the equalize pairs
    untouched[list(equalized_rows)] = False

    y = x.copy()  # (V, E)
    # e_debiased = e - (e . g / ||g||^2) g
    y[to_neutralize] = neutralize(x[to_neutralize], g)
    if normalize:
        y[to_neutralize] = _unit(y[to_neutralize])
    for a, b in eq_rows:
        y[a], y[b] = equalize_pair(x[a], x[b], g, formula=equalize_formula)

    y = y.astype(np.float32).astype(np.float64)  # measure what is returned (float32)
    neutral_list = list(DEFAULT_NEUTRAL_WORDS if neutral_words is None else neutral_words)
    neutral_rows = [(w, _resolve(w, index)) for w in neutral_list]
    present = [(w, r) for w, r in neutral_rows if r is not None]
    missing_all = missing + eq_missing + [w for w, r in neutral_rows if r is None]
    rows = [r for _, r in present]
    before = _cos_to(x[rows], g) if rows else np.zeros(0)
    after = _cos_to(y[rows], g) if rows else np.zeros(0)
    neutral = tuple(
        NeutralWordBias(word=words[r], cos_before=float(b), cos_after=float(a))
        for (_, r), b, a in zip(present, before, after, strict=True)
    )

    neutralized_rows = [r for r in rows if to_neutralize[r]]
    equalized = []
    for a, b in eq_rows:
        cos_a, cos_b = _cos_to(y[[a, b]], g)
        gap = 0.0
        if neutralized_rows:
            n = y[neutralized_rows]  # (N, E)
            gap = float(
                np.max(np.abs(np.linalg.norm(y[a] - n, axis=1) - np.linalg.norm(y[b] - n, axis=1)))
            )
        equalized.append(
            EqualizedPair(
                first=words[a],
                second=words[b],
                cos_first=float(cos_a),
                cos_second=float(cos_b),
                distance_gap=gap,
            )
        )

    debiased = kv.with_vectors(y.astype(np.float32))  # exact: y holds float32 values
    analogy_before = analogy_after = coverage = None
    if analogies is not False:
        from seqlab.embeddings.evaluate import evaluate_analogies

        path = None if analogies is True else analogies
        res_before = evaluate_analogies(kv, path, restrict_vocab=restrict_vocab)
        res_after = evaluate_analogies(debiased, path, restrict_vocab=restrict_vocab)
        analogy_before, analogy_after = res_before.accuracy, res_after.accuracy
        coverage = res_before.coverage

    report = DebiasReport(
        method=method,
        equalize_formula=equalize_formula,
        normalized=normalize,
        definitional_pairs=tuple(used),
        bias_direction=tuple(float(v) for v in g),
        missing_words=tuple(dict.fromkeys(missing_all)),
        n_neutralized=int(to_neutralize.sum()),
        n_gender_specific=int(untouched.sum()),
        neutral=neutral,
        direct_bias_before=float(np.mean(np.abs(before))) if rows else None,
        direct_bias_after=float(np.mean(np.abs(after))) if rows else None,
        equalized=tuple(equalized),
        analogy_before=analogy_before,
        analogy_after=analogy_after,
        analogy_coverage=coverage,
        restrict_vocab=restrict_vocab if analogies is not False else None,
    )
    return debiased, report
