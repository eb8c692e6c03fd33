"""Entity-level precision, recall and F1 for sequence tagging (named entities, chunks).

An entity is a ``(type, start, end_exclusive)`` span read from a tag sequence in one of two
modes, the two modes of seqeval (Nakayama 2018), against which ``tests/test_tagging_metrics.py``
checks every number:

* ``"strict"`` — seqeval's ``mode="strict"`` with ``scheme=IOB2`` (or ``IOBES``): an entity is
  exactly ``B-X I-X*`` (IOB2) or ``B-X I-X* E-X`` / ``S-X`` (IOBES); any other tag run is no
  entity, so a prediction that starts with ``I-X`` finds nothing. ``E-``/``S-`` tags in IOB2
  input are a ValueError.
* ``"conlleval"`` — seqeval's default mode, compatible with the CoNLL shared tasks' conlleval
  script: lenient, an ``I-X`` after ``O`` or after another type starts an entity
  (:func:`seqlab.data.conll.tag_spans`); ``scheme`` is not used (all of B/I/E/S are read).

A predicted entity is correct when its type, start and end all equal a gold entity's.
Precision = correct / predicted, recall = correct / gold, F1 = 2PR / (P + R), each 0 when its
denominator is 0 (seqeval's ``zero_division="warn"`` value), micro-averaged over entities;
accuracy is the fraction of tokens whose tag equals the gold tag.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from seqlab._validate import check_choice
from seqlab.data.conll import Span, tag_spans

__all__ = [
    "EntityMode",
    "SpanError",
    "TaggingScores",
    "TypeScore",
    "entities",
    "entity_scores",
    "wrong_spans",
]

EntityMode = Literal["strict", "conlleval"]
StrictScheme = Literal["iob2", "iobes"]


def entities(
    tags: Sequence[str], *, mode: EntityMode = "strict", scheme: StrictScheme = "iob2"
) -> list[Span]:
    """The entities ``(type, start, end_exclusive)`` of one tag sequence, in order.

    >>> entities(["B-PER", "I-PER", "O", "I-LOC"])
    [('PER', 0, 2)]
    >>> entities(["B-PER", "I-PER", "O", "I-LOC"], mode="conlleval")
    [('PER', 0, 2), ('LOC', 3, 4)]
    """
    check_choice("mode", mode, get_args(EntityMode))
    check_choice("scheme", scheme, get_args(StrictScheme))
    if mode == "conlleval":
        return tag_spans(tags, "iobes")  # reads every prefix, as seqeval's default mode does
    spans = tag_spans(tags, scheme)  # validates the tags and the prefixes of the scheme
    if scheme == "iob2":
        return [s for s in spans if tags[s[1]].startswith("B-")]
    return [s for s in spans if _strict_iobes(tags, *s)]


def _strict_iobes(tags: Sequence[str], kind: str, start: int, end: int) -> bool:
    """True when ``tags[start:end]`` is ``S-X`` or ``B-X I-X* E-X`` (the span was read
    leniently, so its inner tags are ``I-X``: an ``E-X`` or ``S-X`` would have closed it)."""
    if end - start == 1:
        return tags[start] == f"S-{kind}"
    return tags[start] == f"B-{kind}" and tags[end - 1] == f"E-{kind}"


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, or 0.0 when the denominator is 0 (seqeval's convention)."""
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    """2PR / (P + R), or 0.0 when P + R = 0, computed as seqeval does (from P and R)."""
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


@dataclass(frozen=True)
class TypeScore:
    """Scores of one entity type (fractions in [0, 1])."""

    precision: float  # correct / predicted
    recall: float  # correct / support
    f1: float  # harmonic mean of precision and recall
    support: int  # gold entities of this type
    predicted: int  # predicted entities of this type
    correct: int  # predicted entities equal to a gold one

    @classmethod
    def of(cls, support: int, predicted: int, correct: int) -> TypeScore:
        """The scores from the three counts."""
        precision, recall = _ratio(correct, predicted), _ratio(correct, support)
        return cls(precision, recall, _f1(precision, recall), support, predicted, correct)

    def to_dict(self) -> dict[str, float | int]:
        """Percentages and counts."""
        return {
            "precision": 100 * self.precision,
            "recall": 100 * self.recall,
            "f1": 100 * self.f1,
            "support": self.support,
            "predicted": self.predicted,
            "correct": self.correct,
        }


@dataclass(frozen=True)
class TaggingScores:
    """Entity scores of a corpus: micro averages, token accuracy and one row per type.

    Fractions in [0, 1]; :meth:`to_dict` gives percentages (what ``seqlab tag score --json``
    prints) and :meth:`format_table` a table to read.
    """

    precision: float  # micro: n_correct / n_predicted
    recall: float  # micro: n_correct / n_gold
    f1: float  # micro: 2PR / (P + R)
    accuracy: float  # tokens whose predicted tag equals the gold tag / n_tokens
    per_type: dict[str, TypeScore] = field(default_factory=dict)  # sorted by type name
    n_gold: int = 0  # gold entities
    n_predicted: int = 0  # predicted entities
    n_correct: int = 0  # correct predicted entities
    n_tokens: int = 0  # tokens scored
    mode: str = "strict"  # how entities were read: "strict" or "conlleval"

    def to_dict(self) -> dict[str, Any]:
        """``precision``, ``recall``, ``f1``, ``accuracy`` in percent, the counts, the mode and
        ``per_type``: ``{type: {precision, recall, f1 (percent), support, predicted,
        correct}}``."""
        return {
            "precision": 100 * self.precision,
            "recall": 100 * self.recall,
            "f1": 100 * self.f1,
            "accuracy": 100 * self.accuracy,
            "n_gold": self.n_gold,
            "n_predicted": self.n_predicted,
            "n_correct": self.n_correct,
            "n_tokens": self.n_tokens,
            "mode": self.mode,
            "per_type": {kind: score.to_dict() for kind, score in self.per_type.items()},
        }

    def format_table(self) -> str:
        """A per-type table in percent, as seqeval's ``classification_report`` prints it, with
        a micro-average row and conlleval's summary line above it."""
        width = max([len("micro avg"), *map(len, self.per_type)])
        head = f"{'':<{width}}  {'precision':>9}  {'recall':>6}  {'f1':>6}  {'support':>7}"
        head += f"  {'predicted':>9}  {'correct':>7}"

        def row(name: str, p: float, r: float, f: float, s: int, n: int, c: int) -> str:
            return (
                f"{name:<{width}}  {100 * p:9.2f}  {100 * r:6.2f}  {100 * f:6.2f}  {s:7d}"
                f"  {n:9d}  {c:7d}"
            )

        summary = (
            f"processed {self.n_tokens} tokens with {self.n_gold} entities; found "
            f"{self.n_predicted}; correct {self.n_correct} ({self.mode} mode); "
            f"accuracy {100 * self.accuracy:.2f}%"
        )
        rows = [row(kind, *_fields(score)) for kind, score in self.per_type.items()]
        micro = row(
            "micro avg", self.precision, self.recall, self.f1,
            self.n_gold, self.n_predicted, self.n_correct,
        )  # fmt: skip
        return "\n".join([summary, "", head, *rows, "", micro])


def _fields(score: TypeScore) -> tuple[float, float, float, int, int, int]:
    return (
        score.precision, score.recall, score.f1, score.support, score.predicted, score.correct,
    )  # fmt: skip


def _check_lengths(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> None:
    """ValueError naming the first sentence whose gold and predicted lengths differ."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted ones")


def entity_scores(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    *,
    mode: EntityMode = "strict",
    scheme: StrictScheme = "iob2",
) -> TaggingScores:
    """Entity precision, recall, F1 (micro and per type) and token accuracy of ``predicted``
    against ``gold`` (lists of sentences' tags); see the module docstring for the modes.

    ValueError when the number of sentences or a sentence's length differs (naming it) or a
    tag is malformed.
    """
    _check_lengths(gold, predicted)
    gold_spans = Counter[tuple[int, Span]]()
    predicted_spans = Counter[tuple[int, Span]]()
    n_tokens = same = 0
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        gold_spans.update((i, s) for s in entities(g, mode=mode, scheme=scheme))
        predicted_spans.update((i, s) for s in entities(p, mode=mode, scheme=scheme))
        n_tokens += len(g)
        same += sum(a == b for a, b in zip(g, p, strict=True))
    correct = gold_spans & predicted_spans
    per_type: dict[str, TypeScore] = {}
    for kind in sorted({s[0] for _, s in gold_spans} | {s[0] for _, s in predicted_spans}):

        def count(spans: Counter[tuple[int, Span]], kind: str = kind) -> int:
            return sum(n for (_, s), n in spans.items() if s[0] == kind)

        per_type[kind] = TypeScore.of(count(gold_spans), count(predicted_spans), count(correct))
    n_gold, n_predicted, n_correct = (
        sum(c.values()) for c in (gold_spans, predicted_spans, correct)
    )
    precision, recall = _ratio(n_correct, n_predicted), _ratio(n_correct, n_gold)
    return TaggingScores(
        precision=precision,
        recall=recall,
        f1=_f1(precision, recall),
        accuracy=_ratio(same, n_tokens),
        per_type=per_type,
        n_gold=n_gold,
        n_predicted=n_predicted,
        n_correct=n_correct,
        n_tokens=n_tokens,
        mode=mode,
    )


@dataclass(frozen=True)
class SpanError:
    """One entity that is wrong: a gold entity not predicted exactly (``"missed"``, a false
    negative) or a predicted entity that is not a gold one (``"spurious"``, a false positive).
    A predicted entity with the right span but the wrong type is one of each."""

    sentence: int  # index of the sentence in the corpus
    start: int  # first token
    end: int  # one past the last token
    type: str  # entity type
    kind: Literal["missed", "spurious"]  # false negative or false positive


def wrong_spans(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    *,
    mode: EntityMode = "strict",
    scheme: StrictScheme = "iob2",
) -> list[SpanError]:
    """Every missed and spurious entity of ``predicted`` against ``gold`` (lists of sentences'
    tags), sorted by sentence, start, end and kind (``"missed"`` first); the entities are read
    as :func:`entity_scores` reads them, so ``n_gold - n_correct`` of them are missed and
    ``n_predicted - n_correct`` spurious.
    """
    _check_lengths(gold, predicted)
    errors: list[SpanError] = []
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        gold_set = set(entities(g, mode=mode, scheme=scheme))
        predicted_set = set(entities(p, mode=mode, scheme=scheme))
        errors += [SpanError(i, s, e, t, "missed") for t, s, e in gold_set - predicted_set]
        errors += [SpanError(i, s, e, t, "spurious") for t, s, e in predicted_set - gold_set]
    return sorted(errors, key=lambda x: (x.sentence, x.start, x.end, x.kind, x.type))
