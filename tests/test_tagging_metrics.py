"""Entity F1 (seqlab.metrics.tagging) against seqeval, the reference implementation, in both
modes (strict IOB2/IOBES, and the default conlleval-compatible one), on random tag sequences
(malformed ones included), hand-built edge cases and a small CoNLL file in tests/golden/."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval import metrics as sm
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, IOBES, Entities

from seqlab.data import read_conll
from seqlab.metrics import SpanError, TaggingScores, entities, entity_scores, wrong_spans

GOLDEN = Path(__file__).parent / "golden"
TYPES = ("PER", "LOC", "MISC")
IOB2_TAGS = ["O", *(f"{p}-{t}" for p in "BI" for t in TYPES)]
IOBES_TAGS = ["O", *(f"{p}-{t}" for p in "BIES" for t in TYPES)]
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


def corpora(alphabet: list[str]) -> st.SearchStrategy[tuple[list[list[str]], list[list[str]]]]:
    """(gold, predicted): random sentences over ``alphabet`` (so malformed ones too: I- after O,
    I-X after B-Y, ...), predicted the same lengths, sometimes a copy of gold with noise."""

    def pair(lengths: list[int]) -> st.SearchStrategy[tuple[list[list[str]], list[list[str]]]]:
        sentence = [st.lists(st.sampled_from(alphabet), min_size=n, max_size=n) for n in lengths]
        return st.tuples(st.tuples(*sentence), st.tuples(*sentence)).map(
            lambda gp: ([list(s) for s in gp[0]], [list(s) for s in gp[1]])
        )

    return st.lists(st.integers(0, 8), min_size=1, max_size=6).flatmap(pair)


def _seqeval(gold, predicted, **mode) -> dict:
    """seqeval's micro P/R/F1, accuracy and classification_report(output_dict=True)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning on zero divisions
        report = (
            sm.classification_report(gold, predicted, output_dict=True, **mode)
            if any(map(len, gold))
            else {}
        )
        return {
            "precision": sm.precision_score(gold, predicted, **mode),
            "recall": sm.recall_score(gold, predicted, **mode),
            "f1": sm.f1_score(gold, predicted, **mode),
            "accuracy": sm.accuracy_score(gold, predicted) if any(map(len, gold)) else 0.0,
            "report": report,
        }


def assert_equals_seqeval(gold, predicted, mode: str, scheme: str = "iob2") -> TaggingScores:
    """Our scores equal seqeval's within 1e-12, micro and per type (and the counts)."""
    if mode == "strict":
        theirs = _seqeval(
            gold, predicted, mode="strict", scheme=IOB2 if scheme == "iob2" else IOBES
        )
    else:
        theirs = _seqeval(gold, predicted)
    ours = entity_scores(gold, predicted, mode=mode, scheme=scheme)  # type: ignore[arg-type]
    for key in ("precision", "recall", "f1", "accuracy"):
        assert getattr(ours, key) == pytest.approx(float(theirs[key]), abs=1e-12), key
    report = {k: v for k, v in theirs["report"].items() if not k.endswith(" avg")}
    assert set(report) == set(ours.per_type)
    for kind, row in report.items():
        score = ours.per_type[kind]
        assert score.precision == pytest.approx(row["precision"], abs=1e-12)
        assert score.recall == pytest.approx(row["recall"], abs=1e-12)
        assert score.f1 == pytest.approx(row["f1-score"], abs=1e-12)
        assert score.support == row["support"]
    if report:
        micro = theirs["report"]["micro avg"]
        assert ours.n_gold == micro["support"]
        assert ours.f1 == pytest.approx(micro["f1-score"], abs=1e-12)
    return ours


@given(corpora(IOB2_TAGS))
@SETTINGS
def test_strict_iob2_equals_seqeval(corpus: tuple[list[list[str]], list[list[str]]]) -> None:
    assert_equals_seqeval(*corpus, mode="strict", scheme="iob2")


@given(corpora(IOBES_TAGS))
@SETTINGS
def test_strict_iobes_equals_seqeval(corpus: tuple[list[list[str]], list[list[str]]]) -> None:
    assert_equals_seqeval(*corpus, mode="strict", scheme="iobes")


@given(corpora(IOBES_TAGS))
@SETTINGS
def test_conlleval_mode_equals_seqeval_default(corpus) -> None:
    assert_equals_seqeval(*corpus, mode="conlleval")


@given(st.lists(st.sampled_from(IOBES_TAGS), max_size=12))
@SETTINGS
def test_entities_equal_seqeval_entities(tags: list[str]) -> None:
    # seqeval's get_entities gives inclusive ends, its strict Entities exclusive ones
    lenient = [(t, s, e + 1) for t, s, e in get_entities(tags)]
    assert entities(tags, mode="conlleval") == lenient
    strict = [(e.tag, e.start, e.end) for e in Entities([tags], IOBES).entities[0]]
    assert entities(tags, mode="strict", scheme="iobes") == strict
    if not any(t[0] in "ES" for t in tags):
        strict2 = [(e.tag, e.start, e.end) for e in Entities([tags], IOB2).entities[0]]
        assert entities(tags, mode="strict", scheme="iob2") == strict2


def test_hand_built_entities() -> None:
    tags = ["I-PER", "I-PER", "B-PER", "O", "B-LOC", "I-PER", "I-PER", "B-ORG"]
    assert entities(tags) == [("PER", 2, 3), ("LOC", 4, 5), ("ORG", 7, 8)]
    assert entities(tags, mode="conlleval") == [
        ("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("PER", 5, 7), ("ORG", 7, 8),
    ]  # fmt: skip
    iobes = ["S-PER", "B-LOC", "E-LOC", "B-ORG", "I-ORG", "O", "E-PER", "I-PER"]
    assert entities(iobes, scheme="iobes") == [("PER", 0, 1), ("LOC", 1, 3)]
    with pytest.raises(ValueError, match="iob2 scheme does not have"):
        entities(["S-PER"], scheme="iob2")
    with seqeval_raises():  # seqeval refuses it too
        Entities([["S-PER"]], IOB2).entities  # noqa: B018
    with pytest.raises(ValueError, match="is not a tag"):
        entities(["PER"])
    with pytest.raises(ValueError, match="mode"):
        entities(["O"], mode="lenient")  # type: ignore[arg-type]


def seqeval_raises():
    return pytest.raises(ValueError, match="Invalid token")


def test_edge_cases_match_seqeval_zero_division_conventions() -> None:
    gold = [["B-PER", "I-PER", "O"], ["B-LOC"]]
    nothing = [["O", "O", "O"], ["O"]]
    for mode in ("strict", "conlleval"):
        empty = assert_equals_seqeval(gold, nothing, mode)  # no prediction: P = 0 by convention
        assert (empty.precision, empty.recall, empty.f1, empty.n_predicted) == (0, 0, 0, 0)
        none = assert_equals_seqeval(nothing, nothing, mode)  # no entity anywhere: all 0
        assert (none.precision, none.recall, none.f1, none.accuracy) == (0, 0, 0, 1)
        spurious = assert_equals_seqeval(nothing, gold, mode)  # only false positives
        assert spurious.per_type["PER"].support == 0 and spurious.per_type["PER"].predicted == 1
        perfect = assert_equals_seqeval(gold, gold, mode)
        assert (perfect.precision, perfect.recall, perfect.f1) == (1, 1, 1)
        assert_equals_seqeval([[]], [[]], mode)  # an empty sentence
    assert entity_scores([], []).to_dict()["f1"] == 0


def test_mismatched_lengths_name_the_sentence() -> None:
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0"):
        wrong_spans([["O"]], [[]])


def _golden() -> tuple[list[list[str]], list[list[str]]]:
    sentences = read_conll(GOLDEN / "tagging_gold_pred.conll", tag_column=2)
    predicted = read_conll(GOLDEN / "tagging_gold_pred.conll", tag_column=3)
    return [list(s.tags) for s in sentences], [list(s.tags) for s in predicted]


@pytest.mark.parametrize(
    "mode,counts",
    [("strict", (14, 11, 6)), ("conlleval", (14, 16, 10))],  # counted by hand, see the file
)
def test_golden_conll_file(mode: str, counts: tuple[int, int, int]) -> None:
    gold, predicted = _golden()
    scores = assert_equals_seqeval(gold, predicted, mode)
    n_gold, n_predicted, n_correct = counts
    assert (scores.n_gold, scores.n_predicted, scores.n_correct) == counts
    assert scores.precision == n_correct / n_predicted
    assert scores.recall == n_correct / n_gold
    assert scores.n_tokens == 58 and scores.accuracy == 48 / 58  # 10 tags differ
    table = scores.format_table()
    for kind in ("LOC", "MISC", "ORG", "PER", "micro avg"):
        assert kind in table
    assert f"{100 * scores.f1:6.2f}" in table.splitlines()[-1]
    as_dict = scores.to_dict()
    assert as_dict["f1"] == pytest.approx(100 * scores.f1)
    assert as_dict["per_type"]["LOC"]["support"] == 4
    assert as_dict["per_type"]["LOC"]["recall"] == pytest.approx(100 * 3 / 4)


def test_wrong_spans_are_the_false_positives_and_negatives() -> None:
    gold, predicted = _golden()
    for mode in ("strict", "conlleval"):
        errors = wrong_spans(gold, predicted, mode=mode)  # type: ignore[arg-type]
        scores = entity_scores(gold, predicted, mode=mode)  # type: ignore[arg-type]
        missed = [e for e in errors if e.kind == "missed"]
        assert len(missed) == scores.n_gold - scores.n_correct
        assert len(errors) - len(missed) == scores.n_predicted - scores.n_correct
    errors = wrong_spans(gold, predicted)
    assert errors[:2] == [
        SpanError(0, 6, 7, "LOC", "missed"),  # Helsinki, tagged ORG
        SpanError(0, 6, 7, "ORG", "spurious"),
    ]
    assert errors[-1] == SpanError(5, 1, 2, "MISC", "spurious")
