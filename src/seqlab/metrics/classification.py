"""Classification scores: accuracy, per-class precision / recall / F1, macro F1, confusion.

For each class c, from the confusion matrix M (rows: true class, columns: predicted):

    tp = M[c, c],  fp = Σ_i M[i, c] − tp,  fn = Σ_j M[c, j] − tp
    precision = tp / (tp + fp),  recall = tp / (tp + fn),  F1 = 2·tp / (2·tp + fp + fn)

each 0 when its denominator is 0 — scikit-learn's ``zero_division=0``. Macro F1 is the
unweighted mean of the classes' F1 over every class in ``labels`` (by default every label seen
in the truth or the predictions, sorted), so a class that is never predicted counts with F1 0.
Accuracy is the fraction of exact matches. ``tests/test_classification_metrics.py`` checks
every number against scikit-learn's ``accuracy_score``, ``precision_recall_fscore_support``,
``f1_score(average="macro")`` and ``confusion_matrix``. NumPy only, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ClassScore", "ClassificationReport", "classification_report", "confusion_matrix"]


@dataclass(frozen=True)
class ClassScore:
    """The scores of one class."""

    precision: float  # tp / (tp + fp), 0 when the class is never predicted
    recall: float  # tp / (tp + fn), 0 when the class never occurs
    f1: float  # 2 tp / (2 tp + fp + fn), 0 when both are 0
    support: int  # how many examples truly belong to the class


@dataclass(frozen=True, eq=False)
class ClassificationReport:
    """Accuracy, macro F1, per-class scores and the confusion matrix of a set of predictions.

    Shape:
        confusion: (C, C) int64, rows = true class, columns = predicted class, in ``labels``
        order
    """

    labels: tuple[str, ...]  # the classes, in the order of the confusion matrix
    accuracy: float  # fraction of predictions equal to the truth
    macro_f1: float  # unweighted mean of the per-class F1
    per_class: dict[str, ClassScore]  # label -> its scores
    confusion: np.ndarray  # (C, C) counts: confusion[i, j] = true labels[i] predicted labels[j]
    n: int  # number of examples

    @property
    def weighted_f1(self) -> float:
        """The per-class F1 averaged with the supports as weights (scikit-learn's
        ``average="weighted"``)."""
        support = sum(s.support for s in self.per_class.values())
        if support == 0:
            return 0.0
        return sum(s.f1 * s.support for s in self.per_class.values()) / support

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: labels, n, accuracy, macro_f1, per_class, confusion (lists)."""
        return {
            "labels": list(self.labels),
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": {
                label: {
                    "precision": s.precision,
                    "recall": s.recall,
                    "f1": s.f1,
                    "support": s.support,
                }
                for label, s in self.per_class.items()
            },
            "confusion": self.confusion.tolist(),
        }

    def format_table(self, digits: int = 2) -> str:
        """A text table, character for character scikit-learn's ``classification_report``:
        precision, recall, F1 and support per class, then accuracy, macro and weighted
        averages."""
        heads = ("precision", "recall", "f1-score", "support")
        width = max(len("weighted avg"), digits, *(len(label) for label in self.labels))
        lines = [f"{'':>{width}} " + "".join(f" {h:>9}" for h in heads), ""]

        def row(name: str, values: Sequence[float], support: int) -> str:
            cells = "".join(f" {v:>9.{digits}f}" for v in values)
            return f"{name:>{width}} {cells} {support:>9}"

        for label in self.labels:
            s = self.per_class[label]
            lines.append(row(label, (s.precision, s.recall, s.f1), s.support))
        lines.append("")
        gap = f" {'':>9}" * 2
        lines.append(f"{'accuracy':>{width}} {gap} {self.accuracy:>9.{digits}f} {self.n:>9}")
        scores = list(self.per_class.values())
        support = np.array([s.support for s in scores], dtype=np.float64)  # (C,)
        table = np.array([[s.precision, s.recall, s.f1] for s in scores])  # (C, 3)
        lines.append(row("macro avg", table.mean(axis=0), self.n))
        weighted = support @ table / support.sum() if support.sum() else np.zeros(3)  # (3,)
        lines.append(row("weighted avg", weighted, self.n))
        return "\n".join(lines) + "\n"


def _check(true: Sequence[str], predicted: Sequence[str]) -> None:
    """The two lists are non-empty and of the same length."""
    if len(true) != len(predicted):
        raise ValueError(
            f"true and predicted labels differ in length: {len(true)} and {len(predicted)}"
        )
    if len(true) == 0:
        raise ValueError("no labels to score")


def confusion_matrix(
    true: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> np.ndarray:
    """Counts ``M[i, j]`` of examples whose true label is ``labels[i]`` and predicted label
    ``labels[j]``; a label not in ``labels`` is a ValueError.

    Shape:
        returns (C, C) int64, C = len(labels)
    """
    _check(true, predicted)
    index = {label: i for i, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError(f"labels repeat a class: {list(labels)}")
    for name, values in (("true", true), ("predicted", predicted)):
        unknown = sorted(set(values) - index.keys())
        if unknown:
            raise ValueError(
                f"{name} labels hold {unknown[0]!r}, which is not among the labels {list(labels)}"
            )
    t = np.array([index[v] for v in true], dtype=np.int64)  # (N,)
    p = np.array([index[v] for v in predicted], dtype=np.int64)  # (N,)
    c = len(labels)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)  # (C, C)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_report(
    true: Sequence[str], predicted: Sequence[str], *, labels: Sequence[str] | None = None
) -> ClassificationReport:
    """Score ``predicted`` labels against the ``true`` ones.

    ``labels`` fixes the classes and their order (every true and predicted label must be
    among them; a class in ``labels`` that never occurs gets zeros and still counts in the
    macro F1); by default the sorted set of labels in ``true`` and ``predicted``.
    """
    _check(true, predicted)
    classes = tuple(sorted(set(true) | set(predicted)) if labels is None else labels)
    m = confusion_matrix(true, predicted, classes)  # (C, C)
    tp = np.diag(m).astype(np.float64)  # (C,)
    predicted_count = m.sum(axis=0)  # (C,) tp + fp
    support = m.sum(axis=1)  # (C,) tp + fn
    precision = _ratio(tp, predicted_count)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, predicted_count + support)  # 2tp / (2tp + fp + fn)
    per_class = {
        label: ClassScore(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, label in enumerate(classes)
    }
    return ClassificationReport(
        labels=classes,
        accuracy=float(tp.sum() / len(true)),
        macro_f1=float(f1.mean()),
        per_class=per_class,
        confusion=m,
        n=len(true),
    )
