"""Which of several human references an output is compared with (beam-search error analysis).

When an input has several correct outputs (a scene described in other words, a sentence with
several translations), the error analysis of :mod:`seqlab.decoding.error_analysis` needs one
y* per input. :func:`closest_references` picks, for each input, the reference the output
equals; else the one the model scores highest, length-normalised as the search scores
((1 / Ty^α) · Σ log P), among those it can emit (a reference holding ``unk_id`` only when
every one does); else the first. All candidates are scored in one teacher-forced batch
(:func:`seqlab.decoding.sequence_log_prob`), the initial state's rows repeated with the
model's ``reorder_state``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqlab.decoding.greedy import sequence_log_prob
from seqlab.decoding.protocol import Hypothesis, State, StepModel, normalized_score, state_device

__all__ = ["closest_references"]


def closest_references(
    model: StepModel,
    state: State,
    outputs: Sequence[Hypothesis],
    references: Sequence[Sequence[Sequence[int]]],
    *,
    bos_id: int,
    eos_id: int,
    alpha: float = 0.7,
    unk_id: int | None = None,
) -> list[int]:
    """For each of the B inputs, the index of the reference to compare its output with.

    ``state`` is the model's initial state of the B inputs; ``references[i]`` holds input
    i's references as id lists (no ``<BOS>``/``<EOS>``).

    Shape:
        state with B rows, B outputs, B lists of references -> B indices
    """
    if len(outputs) != len(references) or any(not refs for refs in references):
        raise ValueError("give one output and at least one reference per input")
    chosen = [0] * len(references)
    flat: list[tuple[int, int, list[int]]] = []  # (input, reference index, ids)
    for i, (out, refs) in enumerate(zip(outputs, references, strict=True)):
        same = [
            k
            for k, y in enumerate(refs)
            if list(y) == list(out.tokens) and out.finished and unk_id not in y
        ]
        if same or len(refs) == 1:
            chosen[i] = same[0] if same else 0
            continue
        flat += [(i, k, [int(t) for t in y]) for k, y in enumerate(refs)]
    if not flat:
        return chosen
    dev = state_device(model, state)
    rows = torch.tensor([i for i, _, _ in flat], device=dev)  # (N,)
    log_p = sequence_log_prob(
        model,
        model.reorder_state(state, rows),
        [y for _, _, y in flat],
        bos_id=bos_id,
        eos_id=eos_id,
    ).tolist()
    best: dict[int, float] = {}
    for (i, k, y), lp in zip(flat, log_p, strict=True):
        # a reference the model cannot emit loses to any it can
        score = normalized_score(lp, len(y) + 1, alpha) - (1e9 if unk_id in y else 0.0)
        if i not in best or score > best[i]:
            best[i], chosen[i] = score, k
    return chosen
