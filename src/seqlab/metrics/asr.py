"""Word and character error rates with their alignment, equal to jiwer's
(tests/test_asr_metrics.py).

    WER = (S + D + I) / N        N = words in the reference (S + D + hits)

counted over the minimum-edit alignment of the reference and the hypothesis (Levenshtein,
every edit costing 1); several sentences sum their counts before dividing (a corpus rate,
not a mean of sentence rates). CER is the same over characters, spaces included.

Text is split as jiwer's default transforms split it: for words, runs of two or more
whitespace characters become one space, the ends are stripped and the text is split on
spaces; for characters, the ends are stripped and every character counts.

**Empty references**, as jiwer: when the references hold no words at all, the rate is the
number of insertions (0 for an empty hypothesis too), not a division by zero.

**Which alignment** when several have the minimum number of edits: the one rapidfuzz's
``Levenshtein.opcodes`` (jiwer's) gives. The common prefix and suffix are matches; in
between, tracing back from the end, a deletion is taken when it is on a best path, else an
insertion when the diagonal step cannot be better, else the diagonal (a hit or a
substitution).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AlignmentChunk",
    "ErrorReport",
    "align",
    "cer",
    "char_errors",
    "format_alignment",
    "wer",
    "word_errors",
]

Op = Literal["equal", "substitute", "delete", "insert"]
_SPACES = re.compile(r"\s\s+")  # jiwer's RemoveMultipleSpaces


@dataclass(frozen=True)
class AlignmentChunk:
    """A run of one kind of edit: ``reference[ref_start:ref_end]`` against
    ``hypothesis[hyp_start:hyp_end]``."""

    kind: Op  # equal, substitute, delete (reference only) or insert (hypothesis only)
    ref_start: int
    ref_end: int
    hyp_start: int
    hyp_end: int


@dataclass(frozen=True)
class ErrorReport:
    """The counts over every sentence, and each sentence's tokens and alignment."""

    hits: int
    substitutions: int
    deletions: int
    insertions: int
    references: list[list[str]]  # the tokens (words or characters) of each reference
    hypotheses: list[list[str]]
    alignments: list[list[AlignmentChunk]]

    @property
    def errors(self) -> int:
        """S + D + I."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """(S + D + I) / N; the number of insertions when the references are empty."""
        n = self.hits + self.substitutions + self.deletions
        return self.errors / n if n else float(self.insertions)


def _edit_table(ref: Sequence[str], hyp: Sequence[str]) -> list[list[int]]:
    """d[i][j]: the fewest edits turning ref[:i] into hyp[:j]."""
    d = [[j for j in range(len(hyp) + 1)]]
    for i, r in enumerate(ref, 1):
        row = [i]
        for j, h in enumerate(hyp, 1):
            row.append(min(d[i - 1][j] + 1, row[j - 1] + 1, d[i - 1][j - 1] + (r != h)))
        d.append(row)
    return d


def _edits(ref: Sequence[str], hyp: Sequence[str]) -> list[Op]:
    """One edit per step from the start, choosing among best paths as rapidfuzz does."""
    head = 0
    while head < min(len(ref), len(hyp)) and ref[head] == hyp[head]:
        head += 1
    tail = 0
    while tail < min(len(ref), len(hyp)) - head and ref[-1 - tail] == hyp[-1 - tail]:
        tail += 1
    mid_ref, mid_hyp = ref[head : len(ref) - tail], hyp[head : len(hyp) - tail]
    d = _edit_table(mid_ref, mid_hyp)
    i, j = len(mid_ref), len(mid_hyp)
    back: list[Op] = []
    while i and j:
        if d[i][j] == d[i - 1][j] + 1:
            back.append("delete")
            i -= 1
        elif j > 1 and d[i - 1][j - 1] == d[i][j - 1] + 1:
            back.append("insert")
            j -= 1
        else:
            back.append("equal" if mid_ref[i - 1] == mid_hyp[j - 1] else "substitute")
            i, j = i - 1, j - 1
    back += ["delete"] * i + ["insert"] * j
    return ["equal"] * head + back[::-1] + ["equal"] * tail


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> list[AlignmentChunk]:
    """The minimum-edit alignment of two token sequences, as runs of one kind of edit.

    >>> [c.kind for c in align(["a", "b", "c"], ["a", "x", "c", "d"])]
    ['equal', 'substitute', 'equal', 'insert']
    """
    chunks: list[AlignmentChunk] = []
    i = j = 0
    for op in _edits(reference, hypothesis):
        di, dj = int(op != "insert"), int(op != "delete")
        last = chunks[-1] if chunks else None
        if last is not None and last.kind == op:
            chunks[-1] = AlignmentChunk(op, last.ref_start, i + di, last.hyp_start, j + dj)
        else:
            chunks.append(AlignmentChunk(op, i, i + di, j, j + dj))
        i, j = i + di, j + dj
    return chunks


def _words(text: str) -> list[str]:
    return [w for w in _SPACES.sub(" ", text).strip().split(" ") if w]


def _chars(text: str) -> list[str]:
    return list(text.strip())


def _report(
    reference: str | Sequence[str], hypothesis: str | Sequence[str], split: str
) -> ErrorReport:
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses: give one each")
    tokenize = _words if split == "words" else _chars
    ref_tokens, hyp_tokens = [tokenize(r) for r in refs], [tokenize(h) for h in hyps]
    alignments = [align(r, h) for r, h in zip(ref_tokens, hyp_tokens, strict=True)]
    counts = dict.fromkeys(("equal", "substitute", "delete", "insert"), 0)
    for chunk in (c for sentence in alignments for c in sentence):
        counts[chunk.kind] += max(chunk.ref_end - chunk.ref_start, chunk.hyp_end - chunk.hyp_start)
    return ErrorReport(
        hits=counts["equal"],
        substitutions=counts["substitute"],
        deletions=counts["delete"],
        insertions=counts["insert"],
        references=ref_tokens,
        hypotheses=hyp_tokens,
        alignments=alignments,
    )


def word_errors(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> ErrorReport:
    """Word-level counts and alignments of one sentence or several (lists of equal length)."""
    return _report(reference, hypothesis, "words")


def char_errors(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> ErrorReport:
    """Character-level counts and alignments of one sentence or several."""
    return _report(reference, hypothesis, "chars")


def wer(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """The word error rate (S + D + I) / N.

    >>> wer("the cat sat", "the cat sat down")
    0.3333333333333333
    """
    return word_errors(reference, hypothesis).rate


def cer(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """The character error rate (spaces are characters).

    >>> cer("abcd", "abd")
    0.25
    """
    return char_errors(reference, hypothesis).rate


def format_alignment(
    ref: Sequence[str], hyp: Sequence[str], chunks: Sequence[AlignmentChunk]
) -> str:
    """Three aligned lines: REF, HYP and the edit of each column (S, D, I; blank for a hit).

    >>> ref, hyp = "a bb c d".split(), "a c d e".split()
    >>> print(format_alignment(ref, hyp, align(ref, hyp)))
    REF: a bb c d *
    HYP: a *  c d e
         . D  . . I
    """
    cols: list[tuple[str, str, str]] = []
    for c in chunks:
        refs, hyps = ref[c.ref_start : c.ref_end], hyp[c.hyp_start : c.hyp_end]
        mark = {"equal": ".", "substitute": "S", "delete": "D", "insert": "I"}[c.kind]
        for k in range(max(len(refs), len(hyps))):
            r = refs[k] if k < len(refs) else "*"
            h = hyps[k] if k < len(hyps) else "*"
            cols.append((r, h, mark))
    widths = [max(len(r), len(h), 1) for r, h, _ in cols]
    lines = [
        "REF: " + " ".join(r.ljust(w) for (r, _, _), w in zip(cols, widths, strict=True)),
        "HYP: " + " ".join(h.ljust(w) for (_, h, _), w in zip(cols, widths, strict=True)),
        "     " + " ".join(m.ljust(w) for (_, _, m), w in zip(cols, widths, strict=True)),
    ]
    return "\n".join(line.rstrip() for line in lines)
