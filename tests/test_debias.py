"""Hard debiasing (Bolukbasi et al. 2016): planted vectors with a known bias axis, NumPy oracles.

Properties:
- the bias direction equals NumPy's average of normalised differences ("average") and the
  top right singular vector of the centred pairs ("pca", sign-invariant), and a planted axis;
- neutralized words have zero projection on g; gender-specific words are untouched;
- equalized pairs are symmetric: opposite cosines with g, equal distances to every
  neutralized word, equal components orthogonal to g; golden values for both formulas;
- DirectBias drops from its planted value to ~0; the report matches its own vectors.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from seqlab.embeddings.debias import (
    DEFAULT_NEUTRAL_WORDS,
    bias_direction,
    debias,
    definitional_pairs,
    equalize_pair,
    equalize_pairs,
    gender_specific_words,
    neutralize,
)
from seqlab.embeddings.keyed_vectors import KeyedVectors

E = 8
DEFINITIONAL = [("she", "he"), ("woman", "man"), ("girl", "boy"), ("mother", "father")]
EQUALIZE = [("actress", "actor"), ("grandmother", "grandfather")]
SPECIFIC = ["beard", "bride", "she", "he", "woman", "man", "girl", "boy", "mother", "father"]
NEUTRAL = ["receptionist", "engineer", "nurse", "doctor", "homemaker", "programmer"]
FILLER = [f"w{i}" for i in range(40)]


def assert_close(actual: np.ndarray, expected: np.ndarray, atol: float = 1e-6) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def planted(seed: int = 0) -> KeyedVectors:
    """Vectors whose definitional pairs differ only along axis 0: g = +e_0 exactly.

    Each pair is ``c + t e_0`` (female) and ``c - t e_0`` (male) with ``c`` orthogonal to
    e_0, so both words have the same norm and every normalised difference is e_0.
    """
    rng = np.random.default_rng(seed)
    words, rows = [], []
    for a, b in DEFINITIONAL:
        c = rng.normal(size=E)
        c[0] = 0.0
        t = rng.uniform(0.5, 1.5)
        words += [a, b]
        rows += [c + t * np.eye(E)[0], c - t * np.eye(E)[0]]
    for w in [*EQUALIZE[0], *EQUALIZE[1], "beard", "bride", *NEUTRAL, *FILLER]:
        v = rng.normal(size=E)
        v[0] += 1.5 if w in ("receptionist", "nurse", "homemaker", "actress") else 0.0
        words.append(w)
        rows.append(v)
    return KeyedVectors(words, np.array(rows))


def run(kv: KeyedVectors, **kw):
    kw.setdefault("definitional", DEFINITIONAL)
    kw.setdefault("equalize", EQUALIZE)
    kw.setdefault("gender_specific", SPECIFIC)
    kw.setdefault("neutral_words", NEUTRAL)
    kw.setdefault("analogies", False)
    return debias(kv, **kw)


# ----------------------------------------------------------------------- bias direction


@pytest.mark.parametrize("method", ["average", "pca"])
def test_planted_axis_is_recovered(method: str) -> None:
    g = bias_direction(planted(), DEFINITIONAL, method=method)  # type: ignore[arg-type]
    assert_close(g, np.eye(E)[0], atol=1e-6)  # points from male to female, unit length


def random_pairs_kv(seed: int = 3) -> KeyedVectors:
    rng = np.random.default_rng(seed)
    words = [w for pair in DEFINITIONAL for w in pair]
    return KeyedVectors(words, rng.normal(size=(len(words), E)))


def test_average_direction_matches_numpy() -> None:
    kv = random_pairs_kv()
    unit = kv.vectors / np.linalg.norm(kv.vectors, axis=1, keepdims=True)
    diffs = np.array([unit[2 * i] - unit[2 * i + 1] for i in range(len(DEFINITIONAL))])
    expected = (diffs / np.linalg.norm(diffs, axis=1, keepdims=True)).mean(axis=0)
    g = bias_direction(kv, DEFINITIONAL, method="average")
    assert_close(g, expected / np.linalg.norm(expected))
    # without normalisation the raw vectors' differences are used
    raw = np.array([kv.vectors[2 * i] - kv.vectors[2 * i + 1] for i in range(4)], dtype=float)
    expected_raw = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).mean(axis=0)
    g_raw = bias_direction(kv, DEFINITIONAL, method="average", normalize=False)
    assert_close(g_raw, expected_raw / np.linalg.norm(expected_raw))


def test_pca_direction_matches_numpy_svd_up_to_sign() -> None:
    kv = random_pairs_kv()
    unit = kv.vectors.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    rows = []
    for i in range(len(DEFINITIONAL)):
        mu = (unit[2 * i] + unit[2 * i + 1]) / 2
        rows += [unit[2 * i] - mu, unit[2 * i + 1] - mu]
    centred = np.array(rows)
    centred -= centred.mean(axis=0)  # a no-op here, as in a PCA library
    top = np.linalg.svd(centred)[2][0]
    g = bias_direction(kv, DEFINITIONAL, method="pca")
    assert abs(float(g @ top)) == pytest.approx(1.0, abs=1e-9)
    # the sign follows the pairs' orientation (second word -> first word)
    assert float(sum(unit[2 * i] - unit[2 * i + 1] for i in range(4)) @ g) > 0
    # and it is not the average direction on generic vectors (the test can tell them apart)
    assert abs(float(g @ bias_direction(kv, DEFINITIONAL, method="average"))) < 0.999


def test_no_definitional_pair_in_vocabulary_is_a_clear_error() -> None:
    kv = KeyedVectors(["a", "b", "c"], np.eye(3))
    with pytest.raises(ValueError, match="none of the definitional pairs"):
        bias_direction(kv, [("she", "he")])


# ----------------------------------------------------------------- pure formulas (golden)


def test_neutralize_removes_exactly_the_component_along_g() -> None:
    g = np.array([2.0, 0.0, 0.0])  # not unit: the formula divides by ||g||^2
    e = np.array([[3.0, 1.0, -2.0], [-1.0, 4.0, 0.5]])
    assert_close(neutralize(e, g), np.array([[0.0, 1.0, -2.0], [0.0, 4.0, 0.5]]), atol=1e-12)
    assert_close(neutralize(e[0], g), np.array([0.0, 1.0, -2.0]), atol=1e-12)


def test_equalize_golden_values_course_and_paper() -> None:
    # unit vectors e1 = (0.6, 0.8), e2 = (-0.8, 0.6), g = (1, 0), worked by hand:
    # mu = (-0.1, 0.7), mu_B = (-0.1, 0), mu_perp = (0, 0.7), sqrt(1 - 0.49) = sqrt(0.51)
    # e1B - mu_B = (0.7, 0); course denominator ||e1 - mu|| = ||(0.7, 0.1)|| = sqrt(0.5)
    e1, e2, g = np.array([0.6, 0.8]), np.array([-0.8, 0.6]), np.array([1.0, 0.0])
    c1, c2 = equalize_pair(e1, e2, g, formula="course")
    x = math.sqrt(0.51) * 0.7 / math.sqrt(0.5)
    assert_close(c1, np.array([x, 0.7]), atol=1e-12)
    assert_close(c2, np.array([-x, 0.7]), atol=1e-12)
    p1, p2 = equalize_pair(e1, e2, g, formula="paper")  # denominator ||e1B - mu_B|| = 0.7
    assert_close(p1, np.array([math.sqrt(0.51), 0.7]), atol=1e-12)
    assert_close(p2, np.array([-math.sqrt(0.51), 0.7]), atol=1e-12)
    assert np.linalg.norm(p1) == pytest.approx(1.0) and np.linalg.norm(p2) == pytest.approx(1.0)


# ------------------------------------------------------------------------ full debias


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("method", ["average", "pca"])
@pytest.mark.parametrize("formula", ["course", "paper"])
def test_planted_debias_properties(method: str, formula: str, normalize: bool) -> None:
    kv = planted()
    out, report = run(kv, method=method, equalize_formula=formula, normalize=normalize)
    g = np.eye(E)[0]
    assert_close(np.array(report.bias_direction), g)
    y = out.vectors.astype(np.float64)
    x = kv.vectors.astype(np.float64)
    if normalize:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    specific = set(SPECIFIC)
    eq_words = {w for pair in EQUALIZE for w in pair}
    neutralized = [w for w in kv.index_to_key if w not in specific and w not in eq_words]
    rows = kv.indices(neutralized)

    # neutralized: zero projection on g, the rest of the vector kept (up to the norm)
    assert np.abs(y[rows] @ g).max() < 1e-6
    expected = x[rows] - np.outer(x[rows] @ g, g)
    if normalize:
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        assert_close(np.linalg.norm(y[rows], axis=1), np.ones(len(rows)))
    assert_close(y[rows], expected)

    # gender-specific words outside the equalize pairs: untouched
    kept = kv.indices(SPECIFIC)
    assert_close(y[kept], x[kept])

    # equalized pairs: opposite projections, equal distance to every neutralized word
    for a, b in EQUALIZE:
        ya, yb = out[a].astype(np.float64), out[b].astype(np.float64)
        assert float(ya @ g) == pytest.approx(-float(yb @ g), abs=1e-6)
        assert abs(float(ya @ g)) > 1e-3  # they still differ along g
        assert_close(ya - (ya @ g) * g, yb - (yb @ g) * g)  # same part orthogonal to g
        da = np.linalg.norm(y[rows] - ya, axis=1)
        db = np.linalg.norm(y[rows] - yb, axis=1)
        assert_close(da, db, atol=1e-5)
        if formula == "paper" and normalize:
            assert np.linalg.norm(ya) == pytest.approx(1.0, abs=1e-6)

    # the input is not modified
    assert_close(kv.vectors, planted().vectors, atol=0)


def test_direct_bias_before_positive_after_zero_and_report_is_consistent() -> None:
    kv = planted()
    out, report = run(kv)
    g = np.array(report.bias_direction)
    unit_before = kv[NEUTRAL] / np.linalg.norm(kv[NEUTRAL], axis=1, keepdims=True)
    expected_before = float(np.mean(np.abs(unit_before @ g)))
    assert report.direct_bias_before == pytest.approx(expected_before, abs=1e-6)
    assert report.direct_bias_before > 0.2  # planted: receptionist, nurse, homemaker lean +e_0
    assert report.direct_bias_after is not None and report.direct_bias_after < 1e-6
    assert [n.word for n in report.neutral] == NEUTRAL
    for n in report.neutral:
        v = out[n.word]
        assert n.cos_after == pytest.approx(float(v @ g / np.linalg.norm(v)), abs=1e-6)
    assert {(p.first, p.second) for p in report.equalized} == set(EQUALIZE)
    for p in report.equalized:
        assert p.cos_first == pytest.approx(-p.cos_second, abs=1e-6)
        assert p.distance_gap < 1e-5
    assert report.n_neutralized == len(kv) - len(SPECIFIC) - 4
    assert report.n_gender_specific == len(SPECIFIC)
    assert report.analogy_before is None and report.restrict_vocab is None


def test_report_formats_and_serialises() -> None:
    _, report = run(planted(), neutral_words=[*NEUTRAL, "zebra"])
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["missing_words"] == ["zebra"] and len(d["neutral"]) == len(NEUTRAL)
    text = report.format()
    for needle in ("receptionist", "DirectBias", "actress / actor", "zebra", "'average'"):
        assert needle in text, needle


def test_missing_pairs_are_skipped_and_named() -> None:
    _, report = run(planted(), definitional=[*DEFINITIONAL, ("queen", "king")])
    assert report.definitional_pairs == tuple(DEFINITIONAL)
    assert {"queen", "king"} <= set(report.missing_words)


def test_case_variants_of_equalize_pairs_and_lowercase_fallback() -> None:
    rng = np.random.default_rng(1)
    words = ["mary", "john", "Dad", "Mom", "dad", "mom", "x", "y", "z"]
    kv = KeyedVectors(words, rng.normal(size=(len(words), 5)))
    _, report = debias(
        kv,
        definitional=[("Mary", "John")],  # matched lower-cased
        equalize=[("dad", "mom")],  # tried as dad/mom, Dad/Mom, DAD/MOM
        gender_specific=[],
        neutral_words=["x", "y", "z"],
        analogies=False,
    )
    assert report.definitional_pairs == (("mary", "john"),)
    assert [(p.first, p.second) for p in report.equalized] == [("dad", "mom"), ("Dad", "Mom")]


def test_analogy_accuracy_before_and_after_on_a_questions_file(tmp_path) -> None:
    from seqlab.embeddings.evaluate import evaluate_analogies

    # a : b :: c : d planted as d = c + (b - a) in a vocabulary of filler words
    rng = np.random.default_rng(2)
    base = {w: rng.normal(size=E) for w in ["paris", "france", "rome", "berlin", *FILLER]}
    base["italy"] = base["rome"] + base["france"] - base["paris"]
    base["germany"] = base["berlin"] + base["france"] - base["paris"]
    kv = KeyedVectors(list(base), np.array(list(base.values())))
    questions = tmp_path / "questions.txt"
    questions.write_text(": capital\nparis france rome italy\nparis france berlin germany\n")
    out, report = debias(
        kv, definitional=[("paris", "france")], neutral_words=["w0"], analogies=questions
    )
    assert report.analogy_before == pytest.approx(
        evaluate_analogies(kv, questions, restrict_vocab=30000).accuracy
    )
    assert report.analogy_after == pytest.approx(
        evaluate_analogies(out, questions, restrict_vocab=30000).accuracy
    )
    assert report.restrict_vocab == 30000 and report.analogy_coverage == pytest.approx(1.0)


# Four dimensions: gender (she - he), profession, person, place. she/he define g = e_0;
# doctor and nurse lean male and female along it, teacher female; actress/actor are kept.
HAND = {
    "she": (1.0, 0.0, 1.0, 0.0),
    "he": (-1.0, 0.0, 1.0, 0.0),
    "queen": (1.0, 0.0, -1.0, 0.0),
    "king": (-1.0, 0.0, -1.0, 0.0),
    "actress": (1.0, 0.3, 0.0, 0.0),
    "actor": (-1.0, 0.3, 0.0, 0.0),
    "doctor": (-0.8, 1.0, 0.0, 0.0),
    "nurse": (0.8, 1.0, 0.0, 0.0),
    "teacher": (0.9, 1.0, 0.3, 0.0),
    "hospital": (0.0, 1.0, 0.0, 1.0),
    "school": (0.0, 1.0, 0.3, 1.0),
}
HAND_SPECIFIC = ["she", "he", "queen", "king", "actress", "actor"]
# (question, 3CosAdd's answer before, after), worked out by hand:
# 1. he:she :: doctor:? before, nurse (cos 0.99; actress 0.88). After, doctor and nurse are
#    both e_1, the target (sqrt 2, 1, 0, 0) is nearest actress (0.95; nurse 0.58): wrong.
# 2. he:she :: king:? the target is queen's own direction, before and after: right.
# 3. doctor:hospital :: teacher:? before, the target keeps teacher's and doctor's gender
#    parts (+1.28 along e_0): actress (0.87; school 0.61). After, school (0.996): right.
# 4. she:he :: nurse:? before doctor (0.99), after actor (0.95; doctor 0.58), as in 1.
HAND_QUESTIONS = [
    ("he she doctor nurse", "nurse", "actress"),
    ("he she king queen", "queen", "queen"),
    ("doctor hospital teacher school", "actress", "school"),
    ("she he nurse doctor", "doctor", "actor"),
]


def cosadd(words: list[str], x: np.ndarray, a: str, b: str, c: str) -> str:
    """3CosAdd by brute force: the word, not a, b or c, nearest unit(b) - unit(a) + unit(c)."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    row = {w: unit[i] for i, w in enumerate(words)}
    scores = unit @ (row[b] - row[a] + row[c])
    return max((w for w in words if w not in (a, b, c)), key=lambda w: scores[words.index(w)])


def test_hand_built_analogies_known_accuracy_before_and_after(tmp_path) -> None:
    """3/4 of the questions right before, 2/4 after, with known answers: the report's
    figures, a brute-force NumPy 3CosAdd on the vectors (before, and with e_0 removed from
    every neutral word by hand) and the hand-worked answers all agree."""
    words = list(HAND)
    x = np.array([HAND[w] for w in words])
    kv = KeyedVectors(words, x)
    questions = tmp_path / "questions.txt"
    questions.write_text(": hand\n" + "\n".join(q for q, _, _ in HAND_QUESTIONS) + "\n")
    out, report = debias(
        kv,
        definitional=[("she", "he")],
        equalize=[],
        gender_specific=HAND_SPECIFIC,
        neutral_words=["doctor", "nurse", "teacher"],
        analogies=questions,
    )
    hand = x.copy()
    hand[[w not in HAND_SPECIFIC for w in words], 0] = 0.0  # neutralize along g = e_0
    hand /= np.linalg.norm(hand, axis=1, keepdims=True)
    assert_close(np.asarray(out.vectors), hand)  # the debiased vectors are the hand ones
    for question, before, after in HAND_QUESTIONS:
        a, b, c, _ = question.split()
        assert (cosadd(words, x, a, b, c), cosadd(words, hand, a, b, c)) == (before, after)
    assert report.analogy_before == 3 / 4 and report.analogy_after == 2 / 4
    assert report.analogy_coverage == 1.0
    assert [(n.word, round(n.cos_after, 9)) for n in report.neutral] == [
        ("doctor", 0.0),
        ("nurse", 0.0),
        ("teacher", 0.0),
    ]
    assert report.neutral[0].cos_before == pytest.approx(-0.8 / math.hypot(0.8, 1.0))


# -------------------------------------------------------------------------- shipped lists


def test_shipped_lists_are_the_papers() -> None:
    pairs = definitional_pairs()
    assert len(pairs) == 10 and ("she", "he") in pairs and ("Mary", "John") in pairs
    assert ("gal", "guy") in pairs
    eq = equalize_pairs()
    assert len(eq) == 52 and ("grandfather", "grandmother") in eq and ("king", "queen") in eq
    specific = gender_specific_words()
    assert len(specific) == 218 and len(set(specific)) == 218
    assert list(specific) == sorted(specific) and "actress" in specific
    assert "receptionist" in DEFAULT_NEUTRAL_WORDS and "receptionist" not in specific
    assert not set(DEFAULT_NEUTRAL_WORDS) & set(specific)
