"""Classification metrics against scikit-learn (the oracle), on hypothesis-random label lists
that leave classes out of the truth or the predictions, plus hand-built golden cases.

Each number equals scikit-learn's ``accuracy_score``, ``precision_recall_fscore_support``,
``f1_score(average="macro")`` and ``confusion_matrix`` with ``zero_division=0``, and the text
table equals ``classification_report``'s character for character.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.metrics import ClassificationReport, classification_report, confusion_matrix

metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed")

LABELS = ["ant", "bee", "cat", "dog", "eel"]


@st.composite
def label_lists(draw: st.DrawFn) -> tuple[list[str], list[str], list[str] | None]:
    """(true, predicted, labels or None): the two lists may each miss some classes, and the
    given labels may hold a class that neither list has."""
    n = draw(st.integers(1, 40))
    true_pool = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=5, unique=True))
    pred_pool = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=5, unique=True))
    true = draw(st.lists(st.sampled_from(true_pool), min_size=n, max_size=n))
    pred = draw(st.lists(st.sampled_from(pred_pool), min_size=n, max_size=n))
    labels = None
    if draw(st.booleans()):
        labels = draw(st.permutations(LABELS))  # every class, in a random order
    return true, pred, labels


def assert_equals_sklearn(
    report: ClassificationReport, true: list[str], pred: list[str], labels: list[str]
) -> None:
    """Every number of ``report`` equals scikit-learn's, over ``labels`` in that order."""
    assert list(report.labels) == labels
    assert report.n == len(true)
    assert report.accuracy == pytest.approx(metrics.accuracy_score(true, pred), abs=1e-12)
    p, r, f, s = metrics.precision_recall_fscore_support(
        true, pred, labels=labels, zero_division=0, average=None
    )
    got = np.array([[c.precision, c.recall, c.f1, c.support] for c in report.per_class.values()])
    np.testing.assert_allclose(got, np.stack([p, r, f, s], axis=1), atol=1e-12)
    macro = metrics.f1_score(true, pred, labels=labels, average="macro", zero_division=0)
    assert report.macro_f1 == pytest.approx(macro, abs=1e-12)
    weighted = metrics.f1_score(true, pred, labels=labels, average="weighted", zero_division=0)
    assert report.weighted_f1 == pytest.approx(weighted, abs=1e-12)
    np.testing.assert_array_equal(
        report.confusion, metrics.confusion_matrix(true, pred, labels=labels)
    )
    text = metrics.classification_report(
        true, pred, labels=labels, target_names=labels, zero_division=0, digits=3
    )
    # scikit-learn prints the supports as floats ("1.0") when a label is absent from the
    # truth: right-aligned, "  1" is the same cell
    text = re.sub(r" (\d+)\.0$", r"   \1", text, flags=re.MULTILINE)
    assert report.format_table(digits=3) == text


@pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn: "a single label was found"
@given(case=label_lists())
@settings(max_examples=100, deadline=None, derandomize=True)
def test_equals_scikit_learn_on_random_labels(
    case: tuple[list[str], list[str], list[str] | None],
) -> None:
    true, pred, labels = case
    report = classification_report(true, pred, labels=labels)
    assert_equals_sklearn(report, true, pred, labels or sorted(set(true) | set(pred)))


def test_golden_three_classes() -> None:
    #          truth: a a a b b c        predictions: a a b b c a
    report = classification_report(list("aaabbc"), list("aabbca"))
    np.testing.assert_array_equal(report.confusion, [[2, 1, 0], [0, 1, 1], [1, 0, 0]])
    a, b, c = (report.per_class[k] for k in "abc")
    # a: tp 2, fp 1 (c->a), fn 1 (a->b): P 2/3, R 2/3, F1 2/3
    assert (a.precision, a.recall, a.f1, a.support) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    # b: tp 1, fp 1 (a->b), fn 1 (b->c): P 1/2, R 1/2, F1 1/2
    assert (b.precision, b.recall, b.f1, b.support) == pytest.approx((0.5, 0.5, 0.5, 2))
    # c: tp 0: P, R, F1 all 0
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 1)
    assert report.accuracy == pytest.approx(3 / 6)
    assert report.macro_f1 == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


@pytest.mark.parametrize(
    ("true", "pred", "labels", "accuracy", "macro_f1"),
    [
        (["x"], ["x"], None, 1.0, 1.0),  # one class, all right
        (["x", "x"], ["y", "y"], None, 0.0, 0.0),  # all wrong: x never predicted, y never true
        (["x", "y"], ["x", "y"], ["x", "y", "z"], 1.0, 2 / 3),  # z absent: F1 0 still counts
        (["x", "x", "y"], ["x", "x", "x"], None, 2 / 3, 0.4),  # F1(x) = 4/5, F1(y) = 0
    ],
)
def test_degenerate_cases(
    true: list[str], pred: list[str], labels: list[str] | None, accuracy: float, macro_f1: float
) -> None:
    report = classification_report(true, pred, labels=labels)
    assert report.accuracy == pytest.approx(accuracy)
    assert report.macro_f1 == pytest.approx(macro_f1)


def test_to_dict_is_json() -> None:
    report = classification_report(["0", "1", "1"], ["0", "0", "1"], labels=["1", "0"])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["labels"] == ["1", "0"]
    assert data["confusion"] == [[1, 1], [0, 1]]
    assert data["per_class"]["0"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert data["n"] == 3 and data["accuracy"] == pytest.approx(2 / 3)
    assert data["macro_f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("true", "pred", "labels", "message"),
    [
        (["a"], ["a", "b"], None, "differ in length: 1 and 2"),
        ([], [], None, "no labels to score"),
        (["a"], ["b"], ["a"], r"predicted labels hold 'b', which is not among the labels \['a'\]"),
        (["c"], ["a"], ["a"], "true labels hold 'c'"),
        (["a"], ["a"], ["a", "a"], "labels repeat a class"),
    ],
)
def test_errors(true: list[str], pred: list[str], labels: list[str] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_report(true, pred, labels=labels)


def test_confusion_matrix_orders_rows_by_labels() -> None:
    m = confusion_matrix(["b", "a", "b"], ["a", "a", "b"], ["b", "a"])
    np.testing.assert_array_equal(m, [[1, 1], [0, 1]])
    assert m.dtype == np.int64
