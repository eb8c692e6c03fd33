"""seqlab.embeddings.evaluate: analogy accuracy and word-similarity correlation.

Peer agreement: per-section counts equal gensim's evaluate_word_analogies (on the shipped
Google set and on small files written here), Spearman/Pearson equal gensim's
evaluate_word_pairs, NumPy ranks and Spearman equal scipy's. Golden: a planted toy set whose
right answers are known by construction. Consistency: batched 3CosMul evaluation equals one
KeyedVectors.analogy call per question.

Without gensim or scipy only the comparisons with them are skipped (``gensim_keyed_vectors``,
``scipy_stats``): the golden and consistency tests need neither.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from seqlab._io import DataError
from seqlab.embeddings import KeyedVectors, evaluate_analogies, evaluate_similarity
from seqlab.embeddings.evaluate import rankdata, spearman

SHIPPED = {
    "questions-words.txt": "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
    "wordsim353.tsv": "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
    "simlex999.txt": "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
}


def shipped(name: str) -> Path:
    """Path of a data file shipped in the package."""
    return Path(str(resources.files("seqlab.data").joinpath("files", name)))


def gensim_keyed_vectors() -> Any:
    """gensim's KeyedVectors class, the oracle. Called inside a test: that test alone is skipped
    without gensim (a failure under CI=true, see conftest.py)."""
    return pytest.importorskip("gensim.models.keyedvectors").KeyedVectors


def scipy_stats() -> ModuleType:
    """scipy.stats, the oracle of ranks and Spearman; skips the calling test without scipy."""
    return pytest.importorskip("scipy.stats")


def to_gensim(kv: KeyedVectors) -> Any:
    """The same vectors in a gensim KeyedVectors."""
    g = gensim_keyed_vectors()(kv.vector_size)
    g.add_vectors(list(kv.index_to_key), np.array(kv.vectors))
    return g


def assert_same_as_gensim(kv: KeyedVectors, path: Path, restrict: int, case: bool) -> None:
    """Per-section correct and answered counts, and the overall accuracy, equal gensim's."""
    ours = evaluate_analogies(kv, path, restrict_vocab=restrict, case_insensitive=case)
    score, sections = to_gensim(kv).evaluate_word_analogies(
        str(path), restrict_vocab=restrict, case_insensitive=case
    )
    ref = [
        (s["section"], len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections
    ]
    assert [(s.name, s.correct, s.total) for s in ours.sections] == ref[:-1]
    assert (ours.correct, ours.total) == ref[-1][1:]
    assert ours.accuracy == pytest.approx(score, abs=1e-12)


# ------------------------------------------------------------------------- planted toy


def planted() -> KeyedVectors:
    """Lower-case words; queen = king - man + woman (+ noise), italy = rome + (france - paris)."""
    rng = np.random.default_rng(11)
    e = 24
    vecs = {w: rng.standard_normal(e) for w in ["man", "king", "boy", "paris", "rome"]}
    gender, country = rng.standard_normal(e), rng.standard_normal(e)
    vecs["woman"] = vecs["man"] + gender
    vecs["queen"] = vecs["king"] + gender + 0.05 * rng.standard_normal(e)
    vecs["girl"] = vecs["boy"] + gender + 0.05 * rng.standard_normal(e)
    vecs["france"] = vecs["paris"] + country
    vecs["italy"] = vecs["rome"] + country + 0.05 * rng.standard_normal(e)
    for i in range(80):
        vecs[f"x{i}"] = rng.standard_normal(e)
    words = list(vecs)
    return KeyedVectors(words, np.array([vecs[w] for w in words]))


TOY = """\
: family
man woman king queen
Man Woman King Queen
man woman boy girl
king queen boy girl
man woman king girl

: capitals
paris france rome italy
rome italy paris france
paris france atlantis italy
: lost
atlantis mu lemuria hyperborea
"""


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_planted_toy_set_golden(tmp_path: Path, method: str) -> None:
    path = tmp_path / "toy.txt"
    path.write_text(TOY, encoding="utf-8")
    result = evaluate_analogies(planted(), path, method=method)  # type: ignore[arg-type]
    got = [(s.name, s.correct, s.total, s.skipped) for s in result.sections]
    # "man woman king girl" is answered (queen) and wrong; atlantis is unknown.
    assert got == [("family", 4, 5, 0), ("capitals", 2, 2, 1), ("lost", 0, 0, 1)]
    assert (result.correct, result.total, result.skipped, result.questions) == (6, 7, 2, 9)
    assert result.accuracy == pytest.approx(6 / 7) and result.coverage == pytest.approx(7 / 9)
    sensitive = evaluate_analogies(planted(), path, method=method, case_insensitive=False)  # type: ignore[arg-type]
    assert (sensitive.sections[0].correct, sensitive.sections[0].total) == (3, 4)
    assert sensitive.sections[0].skipped == 1


@pytest.mark.parametrize("case", [True, False])
@pytest.mark.parametrize("restrict", [300000, 40])
def test_toy_set_equals_gensim(tmp_path: Path, case: bool, restrict: int) -> None:
    path = tmp_path / "toy.txt"
    path.write_text(TOY, encoding="utf-8")
    assert_same_as_gensim(planted(), path, restrict, case)


def test_other_casing_of_an_input_word_is_not_an_answer(tmp_path: Path) -> None:
    """'King' (a near copy of 'king') ranks first for x1:x2 :: king:?; case-insensitive
    evaluation skips it, as gensim does, and takes the next word, queen."""
    toy = planted()
    rng = np.random.default_rng(0)
    king = toy["king"] + 0.01 * rng.standard_normal(toy.vector_size)
    kv = KeyedVectors([*toy.index_to_key, "King"], np.vstack([toy.vectors, king]))
    path = tmp_path / "q.txt"
    path.write_text(": s\nx1 x2 king queen\n", encoding="utf-8")
    assert kv.analogy("x1", "x2", "king", topn=2)[0][0] == "King"
    assert evaluate_analogies(kv, path, case_insensitive=False).correct == 0
    assert evaluate_analogies(kv, path).correct == 1
    for case in (True, False):
        assert_same_as_gensim(kv, path, 300000, case)


@functools.cache
def question_vectors(seed: int) -> KeyedVectors:
    """Vectors for the shipped set's words, some planted to answer right, some casings doubled.

    In each section some pairs (x, y) get y = x + offset + noise, so accuracy is neither 0 nor
    1; lower-cased copies of 300 words come later in the vocabulary (case-insensitive lookup
    must take the first casing); 10% of the words are left out (skipped questions).
    """
    rng = np.random.default_rng(seed)
    text = shipped("questions-words.txt").read_text(encoding="utf-8")
    words = sorted(
        {w for line in text.splitlines() if not line.startswith(":") for w in line.split()}
    )
    words = [w for w in words if rng.random() < 0.9]
    e = 32
    vecs = {w: rng.standard_normal(e) for w in words}
    offset = np.zeros(e)
    for line in text.splitlines():
        if line.startswith(":"):
            offset = 1.5 * rng.standard_normal(e)
            continue
        a, b, c, d = line.split()
        for x, y in ((a, b), (c, d)):
            if x in vecs and y in vecs and rng.random() < 0.05:
                vecs[y] = vecs[x] + offset + 0.3 * rng.standard_normal(e)
    rng.shuffle(words)
    extra = [w.lower() for w in words[:300] if w.lower() not in vecs]
    for w in extra:
        vecs[w] = rng.standard_normal(e)
    order = words + extra
    return KeyedVectors(order, np.array([vecs[w] for w in order]))


@pytest.mark.parametrize(("case", "restrict"), [(True, 300000), (False, 700)])
def test_shipped_set_equals_gensim(case: bool, restrict: int) -> None:
    kv = question_vectors(0)
    path = shipped("questions-words.txt")
    assert_same_as_gensim(kv, path, restrict, case)
    result = evaluate_analogies(kv, restrict_vocab=restrict, case_insensitive=case)
    assert result.questions == 19544 and len(result.sections) == 14
    assert 0.05 < result.accuracy < 0.95  # planted: a test of real answers, not all-wrong
    # skipped, counted independently: questions with a word outside the first `restrict`
    known = {w.upper() if case else w for w in kv.index_to_key[:restrict]}
    skipped = sum(
        not all((w.upper() if case else w) in known for w in line.split())
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.startswith(":")
    )
    assert result.skipped == skipped
    assert result.coverage == pytest.approx((19544 - skipped) / 19544)


def test_batched_3cosmul_equals_one_analogy_per_question(tmp_path: Path) -> None:
    kv = question_vectors(1)
    text = shipped("questions-words.txt").read_text(encoding="utf-8")
    questions = [ln for ln in text.splitlines() if not ln.startswith(":")]
    parts = [questions[:400], questions[8000:8400]]
    path = tmp_path / "q.txt"
    path.write_text("".join(f": s{i}\n" + "\n".join(p) + "\n" for i, p in enumerate(parts)))
    result = evaluate_analogies(kv, path, method="3cosmul", case_insensitive=False)
    for section, part in zip(result.sections, parts, strict=True):
        correct = total = 0
        for line in part:
            a, b, c, d = line.split()
            if all(w in kv for w in (a, b, c, d)):
                total += 1
                correct += kv.analogy(a, b, c, method="3cosmul")[0][0] == d
        assert (section.correct, section.total) == (correct, total)
        assert correct > 0


def test_result_dict_and_table() -> None:
    result = evaluate_analogies(question_vectors(0), restrict_vocab=700, method="3cosmul")
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["questions"] == 19544 and len(data["sections"]) == 14
    assert data["correct"] == sum(s["correct"] for s in data["sections"])
    table = result.format()
    assert "capital-common-countries" in table and "gram9-plural-verbs" in table
    assert "the first 700 words" in table and "skipped" in table
    semantic = [s for s in result.sections if not s.name.startswith("gram")]
    assert result.semantic_accuracy == pytest.approx(
        sum(s.correct for s in semantic) / sum(s.total for s in semantic)
    )


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("a b c d\n", 1, "before any section"),
        (": s\na b c d\na b c\n", 3, "expected 4 words"),
        ("", None, "empty"),
    ],
)
def test_malformed_question_files(
    tmp_path: Path, content: str, line: int | None, message: str
) -> None:
    path = tmp_path / "q.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        evaluate_analogies(planted(), path)
    assert info.value.line == line and message in str(info.value)


# --------------------------------------------------------------------------- similarity


@pytest.mark.parametrize(
    ("dataset", "file"), [("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")]
)
@pytest.mark.parametrize("case", [True, False])
def test_similarity_equals_gensim(dataset: str, file: str, case: bool) -> None:
    rng = np.random.default_rng(4)
    path = shipped(file)
    pairs = [
        ln.split("\t")[:2]
        for ln in path.read_text(encoding="utf-8").splitlines()
        if not ln.startswith("#")
    ]
    words = sorted({w for p in pairs for w in p})
    words = [w for w in words if rng.random() < 0.85] + [w.upper() for w in words[:40]]
    words = list(dict.fromkeys(words))
    kv = KeyedVectors(words, rng.standard_normal((len(words), 16)))
    ours = evaluate_similarity(kv, dataset, case_insensitive=case)  # type: ignore[arg-type]
    pearson, rho, oov_percent = to_gensim(kv).evaluate_word_pairs(str(path), case_insensitive=case)
    assert ours.spearman == pytest.approx(rho[0], abs=1e-9)
    assert ours.pearson == pytest.approx(pearson[0], abs=1e-6)
    assert 100 * ours.oov_ratio == pytest.approx(oov_percent, abs=1e-12)
    assert ours.pairs + ours.oov_pairs == len(pairs) and ours.oov_pairs > 0


PLANTED_PAIRS = [
    ("man", "woman"),
    ("king", "queen"),
    ("paris", "france"),
    ("x1", "x2"),
    ("man", "x3"),
]


def planted_pairs_file(kv: KeyedVectors, path: Path) -> list[str]:
    """A custom pairs file: the planted pairs scored 10 x their cosine, then 'man woman 5.0'
    (space-separated, a tie in the vectors' cosines) and an OOV pair; returns its lines."""
    lines = ["# word1\tword2\tscore"]
    lines += [f"{a}\t{b}\t{10 * kv.similarity(a, b):.6f}" for a, b in PLANTED_PAIRS]
    lines += ["man woman 5.0", "ghost\tman\t1"]  # space-separated, and an OOV pair
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_custom_file_spearman_equals_scipy(tmp_path: Path) -> None:
    kv = planted()
    path = tmp_path / "pairs.tsv"
    planted_pairs_file(kv, path)
    rho = scipy_stats().spearmanr(
        [*(10 * kv.similarity(a, b) for a, b in PLANTED_PAIRS), 5.0],
        [*(kv.similarity(a, b) for a, b in PLANTED_PAIRS), kv.similarity("man", "woman")],
    )[0]
    assert evaluate_similarity(kv, path).spearman == pytest.approx(rho, abs=1e-12)


def test_similarity_of_planted_pairs_and_custom_file(tmp_path: Path) -> None:
    """A file whose human scores are the true cosines gives rho = 1 (ties in gold included)."""
    kv = planted()
    path = tmp_path / "pairs.tsv"
    lines = planted_pairs_file(kv, path)
    result = evaluate_similarity(kv, path)
    assert (result.pairs, result.oov_pairs) == (6, 1)
    assert -1.0 < result.spearman < 1.0  # "man woman 5.0" breaks the perfect order
    exact = tmp_path / "exact.tsv"
    exact.write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    assert evaluate_similarity(kv, exact).spearman == pytest.approx(1.0)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["pairs"] == 6 and data["dataset"] == str(path)


def test_similarity_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("# c\na\tb\t1\na\tb\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        evaluate_similarity(planted(), bad)
    assert info.value.line == 3
    bad.write_text("man\twoman\thigh\n", encoding="utf-8")
    with pytest.raises(DataError, match="'high' is not a number"):
        evaluate_similarity(planted(), bad)
    bad.write_text("ghost\tspirit\t3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="none of the 1 pairs"):
        evaluate_similarity(planted(), bad)


@pytest.mark.parametrize("seed", range(5))
def test_rank_and_spearman_equal_scipy(seed: int) -> None:
    stats = scipy_stats()
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, size=40).astype(float)  # many ties
    y = x + rng.integers(0, 4, size=40)
    np.testing.assert_array_equal(rankdata(x), stats.rankdata(x))
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert np.isnan(spearman(np.ones(5), np.arange(5.0)))


def test_shipped_files_are_the_documented_ones() -> None:
    readme = shipped("README.md").read_text(encoding="utf-8")
    for name, digest in SHIPPED.items():
        assert hashlib.sha256(shipped(name).read_bytes()).hexdigest() == digest
        assert digest in readme and f"`{name}`" in readme
