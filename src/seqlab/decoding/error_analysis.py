"""Beam-search error analysis: is the search or the model at fault? (course, week 3).

For an example whose output ŷ (what the algorithm produced) differs from a human reference
y*, the course compares the model's probabilities of both under the same scoring the search
used (here the normalised log-likelihood (1 / Ty^α) · Σ log P of
:mod:`seqlab.decoding.protocol`):

* P(y* | x) > P(ŷ | x): the model prefers y*, yet the search returned ŷ — **beam search** is
  at fault (a wider beam may help);
* P(y* | x) ≤ P(ŷ | x): the model prefers the worse output — the **model** (the RNN) is at
  fault (more data, regularisation, another architecture).

An exact match is "correct". A reference with a word outside the model's vocabulary (an
``unk_id`` among its ids) is never "correct" and always the **model**'s fault: the model
cannot emit that word, whatever the search does (comparing ids alone would count an output
``<UNK> !`` as matching the reference "Filez !"). :func:`analyze_errors` scores both
sequences by teacher forcing (one batched :func:`seqlab.decoding.sequence_log_prob` call, so
y* and ŷ are scored alike);
:func:`format_table` prints the course's table with the share of errors each side causes;
:func:`write_csv` saves every row.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from seqlab._io import atomic_write_text
from seqlab.decoding.greedy import sequence_log_prob
from seqlab.decoding.protocol import (
    Hypothesis,
    State,
    StepModel,
    normalized_score,
    state_device,
)

__all__ = ["ErrorAnalysis", "ErrorRow", "Verdict", "analyze_errors", "format_table", "write_csv"]

Verdict = Literal["correct", "search", "model"]

_FAULT_LABEL = {"correct": "-", "search": "beam search (B)", "model": "RNN model (R)"}
CSV_COLUMNS = (
    "source",
    "reference",
    "hypothesis",
    "reference_log_prob",
    "hypothesis_log_prob",
    "reference_score",
    "hypothesis_score",
    "verdict",
    "reference_oov",
)


@dataclass(frozen=True)
class ErrorRow:
    """One example of the analysis."""

    source: str | None  # the input x as text, when given
    reference: list[int]  # y*: the human output ids (no <BOS>/<EOS>)
    hypothesis: list[int]  # ŷ: the algorithm's output ids (no <BOS>/<EOS>)
    reference_text: str  # y* as text (the ids joined by spaces without a decoder)
    hypothesis_text: str  # ŷ as text
    reference_log_prob: float  # log P(y* | x), <EOS> included
    hypothesis_log_prob: float  # log P(ŷ | x), <EOS> included when ŷ finished
    reference_score: float  # log P(y* | x) / Ty*^α
    hypothesis_score: float  # log P(ŷ | x) / Tŷ^α
    verdict: Verdict  # "correct" (ŷ = y*), "search" (beam search at fault) or "model"
    reference_oov: bool = False  # y* has a word outside the vocabulary: the model's fault


@dataclass(frozen=True)
class ErrorAnalysis:
    """Every example's verdict, and the shares of each."""

    rows: tuple[ErrorRow, ...]  # one per example, in input order
    alpha: float  # the length-normalisation exponent both sequences were scored with

    def count(self, verdict: Verdict) -> int:
        return sum(row.verdict == verdict for row in self.rows)

    @property
    def errors(self) -> int:
        """Examples whose output differs from the reference."""
        return len(self.rows) - self.count("correct")

    def fraction(self, verdict: Verdict) -> float:
        """Share of all examples with this verdict (0 when there are none)."""
        return self.count(verdict) / len(self.rows) if self.rows else 0.0

    def error_share(self, verdict: Literal["search", "model"]) -> float:
        """Share of the errors attributed to ``verdict`` (0 when there is no error)."""
        return self.count(verdict) / self.errors if self.errors else 0.0

    @classmethod
    def concat(cls, parts: Sequence[ErrorAnalysis]) -> ErrorAnalysis:
        """One analysis from analyses of consecutive batches (all with the same α)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        if len({p.alpha for p in parts}) != 1:
            raise ValueError("the analyses were scored with different alpha values")
        return cls(tuple(row for p in parts for row in p.rows), parts[0].alpha)


def _as_output(hyp: Hypothesis | Sequence[int]) -> tuple[list[int], bool]:
    if isinstance(hyp, Hypothesis):
        return list(hyp.tokens), hyp.finished
    return [int(t) for t in hyp], True


def analyze_errors(
    model: StepModel,
    state: State,
    hypotheses: Sequence[Hypothesis | Sequence[int]],
    references: Sequence[Sequence[int]],
    *,
    bos_id: int,
    eos_id: int,
    alpha: float = 0.7,
    sources: Sequence[str] | None = None,
    decode: Callable[[list[int]], str] | None = None,
    device: torch.device | str | None = None,
    unk_id: int | None = None,
    reference_texts: Sequence[str] | None = None,
) -> ErrorAnalysis:
    """Attribute each wrong output to the search or the model.

    ``state`` is the model's initial state for the B examples (as given to
    :func:`seqlab.decoding.beam_search`); ``hypotheses`` are the algorithm's outputs (a
    :class:`Hypothesis`, or plain ids taken as finished) and ``references`` the human ones.
    ``alpha`` must be the search's. ``decode`` turns ids into text for the table (default:
    ids joined by spaces); ``reference_texts`` shows the references as given instead (their
    ids may have lost words to ``<UNK>``). A reference holding ``unk_id`` is a model error.

    Shape:
        state with B rows, B hypotheses, B references -> B rows
    """
    batch = len(references)
    if len(hypotheses) != batch:
        raise ValueError(f"{len(hypotheses)} hypotheses for {batch} references")
    if sources is not None and len(sources) != batch:
        raise ValueError(f"{len(sources)} sources for {batch} references")
    if reference_texts is not None and len(reference_texts) != batch:
        raise ValueError(f"{len(reference_texts)} reference texts for {batch} references")
    if batch == 0:
        return ErrorAnalysis((), alpha)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    show = decode if decode is not None else (lambda ids: " ".join(map(str, ids)))
    refs = [[int(t) for t in y] for y in references]
    outs = [_as_output(h) for h in hypotheses]
    # score y* (rows 0..B-1) and ŷ (rows B..2B-1) in one teacher-forced batch
    dev = torch.device(device) if device is not None else state_device(model, state)
    twice = torch.arange(batch, device=dev).repeat(2)  # (2B,)
    log_p = sequence_log_prob(
        model,
        model.reorder_state(state, twice),
        refs + [tokens for tokens, _ in outs],
        bos_id=bos_id,
        eos_id=eos_id,
        with_eos=[True] * batch + [finished for _, finished in outs],
        device=dev,
    ).tolist()
    rows = []
    for i, (ref, (hyp, finished)) in enumerate(zip(refs, outs, strict=True)):
        ref_lp, hyp_lp = log_p[i], log_p[batch + i]
        ref_score = normalized_score(ref_lp, len(ref) + 1, alpha)
        hyp_score = normalized_score(hyp_lp, len(hyp) + int(finished), alpha)
        oov = unk_id is not None and unk_id in ref
        verdict: Verdict
        if oov:
            verdict = "model"  # y* has a word the model cannot emit
        elif hyp == ref and finished:
            verdict = "correct"
        elif ref_score > hyp_score:
            verdict = "search"  # the model prefers y*: the search missed it
        else:
            verdict = "model"  # the model prefers (or ties with) the wrong output
        rows.append(
            ErrorRow(
                source=None if sources is None else sources[i],
                reference=ref,
                hypothesis=hyp,
                reference_text=show(ref) if reference_texts is None else reference_texts[i],
                hypothesis_text=show(hyp),
                reference_log_prob=ref_lp,
                hypothesis_log_prob=hyp_lp,
                reference_score=ref_score,
                hypothesis_score=hyp_score,
                verdict=verdict,
                reference_oov=oov,
            )
        )
    return ErrorAnalysis(tuple(rows), alpha)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(
    analysis: ErrorAnalysis, *, max_rows: int = 20, max_width: int = 40, errors_only: bool = False
) -> str:
    """The course's error-analysis table and the share of errors on each side.

    Columns: Human (y*) | Algorithm (ŷ) | P(y*|x) | P(ŷ|x) | At fault, where the P columns
    are the normalised log-likelihoods the verdict compares. Only the first ``max_rows``
    examples are listed (texts clipped to ``max_width`` characters; ``errors_only``: only the
    wrong ones); the totals count all.
    """
    listed = [r for r in analysis.rows if not errors_only or r.verdict != "correct"]
    header = ("Human (y*)", "Algorithm (ŷ)", "P(y*|x)", "P(ŷ|x)", "At fault")
    body = [
        (
            _clip(r.reference_text, max_width),
            _clip(r.hypothesis_text, max_width),
            f"{r.reference_score:.4f}",
            f"{r.hypothesis_score:.4f}",
            _FAULT_LABEL[r.verdict] + (" *" if r.reference_oov else ""),
        )
        for r in listed[: max(max_rows, 0)]
    ]
    widths = [max(len(line[c]) for line in [header, *body]) for c in range(len(header))]
    numeric = (False, False, True, True, False)

    def fmt(line: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(line, widths, numeric, strict=True)
        ]
        return " | ".join(cells).rstrip()

    lines = [fmt(header), "-+-".join("-" * w for w in widths)]
    lines += [fmt(line) for line in body]
    hidden = len(listed) - len(body)
    if hidden > 0:
        lines.append(f"... {hidden} more rows")
    n, errors = len(analysis.rows), analysis.errors
    lines += [
        "",
        f"P(·|x): length-normalised log-likelihood (1/Ty^α)·Σ log P, α = {analysis.alpha:g}",
        f"examples: {n}   correct: {analysis.count('correct')} "
        f"({analysis.fraction('correct'):.1%})   errors: {errors}",
        f"at fault: beam search {analysis.count('search')} "
        f"({analysis.error_share('search'):.1%} of errors), "
        f"RNN model {analysis.count('model')} ({analysis.error_share('model'):.1%} of errors)",
    ]
    oov = sum(r.reference_oov for r in analysis.rows)
    if oov:
        lines.append(
            f"* y* has a word outside the model's vocabulary ({oov} examples): the model's fault"
        )
    return "\n".join(lines) + "\n"


def write_csv(analysis: ErrorAnalysis, path: str | os.PathLike[str]) -> Path:
    """Write one CSV line per example (columns :data:`CSV_COLUMNS`), atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in analysis.rows:
        writer.writerow(
            (
                "" if r.source is None else r.source,
                r.reference_text,
                r.hypothesis_text,
                repr(r.reference_log_prob),
                repr(r.hypothesis_log_prob),
                repr(r.reference_score),
                repr(r.hypothesis_score),
                r.verdict,
                str(r.reference_oov).lower(),
            )
        )
    return atomic_write_text(path, buffer.getvalue())
