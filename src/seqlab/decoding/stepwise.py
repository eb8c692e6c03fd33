"""The loop that greedy search and sampling share: feed back one chosen token per row until
``<EOS>`` or its length cap, dropping finished rows from the batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from seqlab.decoding.protocol import (
    Hypothesis,
    State,
    StepModel,
    check_search_args,
    normalized_score,
    row_caps,
    state_device,
)
from seqlab.shapes import check_shape

__all__ = ["decode_stepwise"]


def decode_stepwise(
    model: StepModel,
    state: State,
    choose: Callable[[Tensor], Tensor],
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    alpha: float,
    device: torch.device | str | None,
    on_token: Callable[[int, int], None] | None = None,
    max_lengths: Sequence[int] | None = None,
) -> list[Hypothesis]:
    """Feed back ``choose(log_probs)`` per row until ``<EOS>`` or ``max_length`` tokens
    (row i: ``min(max_length, max_lengths[i])`` when ``max_lengths`` is given).

    ``on_token(row, token)``, if given, is called for every token as it is chosen (in the
    order chosen; ``eos_id`` too, when it ends a row), so that callers can stream the output.

    Shape:
        state with B rows, choose: (B', V) -> (B',) -> B hypotheses
    """
    check_search_args(batch_size=batch_size, max_length=max_length, alpha=alpha)
    dev = torch.device(device) if device is not None else state_device(model, state)
    caps = row_caps(max_length, max_lengths, batch_size)
    rows = list(range(batch_size))  # original row of each live batch row
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=dev)  # (B,)
    out: list[list[int]] = [[] for _ in range(batch_size)]
    log_prob = [0.0] * batch_size
    finished = [False] * batch_size
    for t in range(1, max(caps) + 1):
        log_probs, state = model.step(tokens, state)  # (B', V)
        check_shape(log_probs, (len(rows), "V"), "log_probs")
        tokens = choose(log_probs).to(dev)  # (B',)
        picked = log_probs.gather(1, tokens[:, None])[:, 0].double()  # (B',)
        keep: list[int] = []
        for i, (tok, lp) in enumerate(zip(tokens.tolist(), picked.tolist(), strict=True)):
            row = rows[i]
            log_prob[row] += lp
            if on_token is not None:
                on_token(row, tok)
            if tok == eos_id:
                finished[row] = True
            else:
                out[row].append(tok)
                if t < caps[row]:
                    keep.append(i)
        if not keep:
            break
        if len(keep) < len(rows):  # drop the finished rows from the batch
            index = torch.tensor(keep, dtype=torch.long, device=dev)  # (B'',)
            state = model.reorder_state(state, index)
            tokens = tokens[index]  # (B'',)
            rows = [rows[i] for i in keep]
    return [
        Hypothesis(
            out[r],
            log_prob[r],
            normalized_score(log_prob[r], len(out[r]) + int(finished[r]), alpha),
            finished[r],
        )
        for r in range(batch_size)
    ]
