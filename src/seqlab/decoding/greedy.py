"""Greedy search, ancestral sampling and teacher-forced scoring over the step protocol.

* :func:`greedy_search` picks ŷ<t> = argmax_y P(y | x, ŷ<1..t-1>) at every step (the course's
  "pick the most likely word, one at a time" baseline, which beam search improves on);
* :func:`sample_search` draws ŷ<t> from the model's softmax (with temperature, top-k, top-p
  and banned ids from :mod:`seqlab.decoding.sampling`): the course's novel-sequence sampling;
* :func:`sequence_log_prob` scores given outputs y* by teacher forcing:
  log P(y* | x) = Σ_t log P(y*<t> | x, y*<1..t-1>), ``<EOS>`` included.

All three are batched: each row stops at its own ``<EOS>`` (finished rows leave the batch via
the model's ``reorder_state``), and a padded batch scores exactly as its rows alone. Tested
in ``tests/test_decoding.py`` against hand-built score tables and brute force.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from seqlab.decoding.protocol import (
    Hypothesis,
    State,
    StepModel,
    normalized_score,
    state_device,
)
from seqlab.decoding.sampling import sample_next
from seqlab.shapes import check_shape

__all__ = ["greedy_search", "sample_search", "sequence_log_prob"]


def check_search_args(*, batch_size: int, max_length: int, alpha: float) -> None:
    """ValueError on a batch size or max_length below 1, or a negative α."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (0: raw sum, 1: mean per token), got {alpha}")


def _decode_one_by_one(
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
) -> list[Hypothesis]:
    """Feed back one chosen token per row until ``<EOS>`` or ``max_length`` tokens."""
    check_search_args(batch_size=batch_size, max_length=max_length, alpha=alpha)
    dev = torch.device(device) if device is not None else state_device(model, state)
    rows = list(range(batch_size))  # original row of each live batch row
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=dev)  # (B,)
    out: list[list[int]] = [[] for _ in range(batch_size)]
    log_prob = [0.0] * batch_size
    finished = [False] * batch_size
    for t in range(1, max_length + 1):
        log_probs, state = model.step(tokens, state)  # (B', V)
        check_shape(log_probs, (len(rows), "V"), "log_probs")
        tokens = choose(log_probs).to(dev)  # (B',)
        picked = log_probs.gather(1, tokens[:, None])[:, 0].double()  # (B',)
        keep: list[int] = []
        for i, (tok, lp) in enumerate(zip(tokens.tolist(), picked.tolist(), strict=True)):
            row = rows[i]
            log_prob[row] += lp
            if tok == eos_id:
                finished[row] = True
            else:
                out[row].append(tok)
                keep.append(i)
        if not keep or t == max_length:
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


@torch.no_grad()
def greedy_search(
    model: StepModel,
    state: State,
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    alpha: float = 0.7,
    banned_ids: Sequence[int] = (),
    device: torch.device | str | None = None,
) -> list[Hypothesis]:
    """The arg-max token at every step, for each of ``batch_size`` rows of ``state``.

    A row stops at ``<EOS>`` (``finished=True``) or after ``max_length`` tokens
    (``finished=False``). ``alpha`` only sets each hypothesis' ``score`` (as in
    :func:`seqlab.decoding.beam_search`); it does not change the tokens. ``banned_ids`` are
    never chosen (e.g. ``<UNK>``). ``device`` is where the token tensors live (default: the
    state's, else the model's). The model's mode is left as it is: call ``model.eval()``
    first to decode without dropout.

    Shape:
        state with B rows -> B hypotheses
    """

    def choose(log_probs: Tensor) -> Tensor:
        if not banned_ids:
            return log_probs.argmax(dim=1)  # (B,)
        return sample_next(log_probs, banned=banned_ids, greedy=True)  # (B,)

    return _decode_one_by_one(
        model,
        state,
        choose,
        batch_size=batch_size,
        bos_id=bos_id,
        eos_id=eos_id,
        max_length=max_length,
        alpha=alpha,
        device=device,
    )


@torch.no_grad()
def sample_search(
    model: StepModel,
    state: State,
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    banned_ids: Sequence[int] = (),
    generator: torch.Generator | None = None,
    alpha: float = 0.7,
    device: torch.device | str | None = None,
) -> list[Hypothesis]:
    """One sampled sequence per row: ŷ<t> ~ softmax(log P(· | x, ŷ<1..t-1>) / temperature).

    ``top_k``, ``top_p`` and ``banned_ids`` filter each step's distribution as
    :func:`seqlab.decoding.sample_next` does. A hypothesis' ``log_prob`` is the model's own
    (unfiltered, temperature 1) log-probability of the drawn tokens. The same ``generator``
    state gives the same samples.

    Shape:
        state with B rows -> B hypotheses
    """

    def draw(log_probs: Tensor) -> Tensor:
        return sample_next(
            log_probs,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            banned=banned_ids,
            generator=generator,
        )  # (B,)

    return _decode_one_by_one(
        model,
        state,
        draw,
        batch_size=batch_size,
        bos_id=bos_id,
        eos_id=eos_id,
        max_length=max_length,
        alpha=alpha,
        device=device,
    )


def sequence_log_prob(
    model: StepModel,
    state: State,
    targets: Sequence[Sequence[int]],
    *,
    bos_id: int,
    eos_id: int,
    with_eos: bool | Sequence[bool] = True,
    device: torch.device | str | None = None,
) -> Tensor:
    """log P(y* | x) = Σ_t log P(y*<t> | x, y*<1..t-1>) for each row's target, teacher-forced.

    ``targets`` hold the output ids without ``<BOS>``/``<EOS>``; the closing ``<EOS>`` is
    scored too unless ``with_eos`` is False for that row (an unfinished hypothesis). Rows
    are padded to the longest one; a padded step reads ``<EOS>`` and adds nothing to its row,
    so the batch scores each row exactly as alone. Gradients flow when enabled.

    Shape:
        state with B rows, B targets -> (B,) float64
    """
    batch = len(targets)
    if batch == 0:
        raise ValueError("targets is empty: give one target sequence per row of the state")
    flags = [with_eos] * batch if isinstance(with_eos, bool) else list(with_eos)
    if len(flags) != batch:
        raise ValueError(f"with_eos has {len(flags)} flags for {batch} targets")
    dev = torch.device(device) if device is not None else state_device(model, state)
    seqs = [[*map(int, y)] + [eos_id] * f for y, f in zip(targets, flags, strict=True)]
    width = max(len(s) for s in seqs)
    if width == 0:
        return torch.zeros(batch, dtype=torch.float64, device=dev)
    gold = torch.full((batch, width), eos_id, dtype=torch.long)  # (B, S)
    mask = torch.zeros((batch, width), dtype=torch.bool)  # (B, S)
    for row, seq in enumerate(seqs):
        gold[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = True
    gold, mask = gold.to(dev), mask.to(dev)
    inputs = torch.cat([torch.full((batch, 1), bos_id, device=dev), gold[:, :-1]], 1)  # (B, S)
    total = torch.zeros(batch, dtype=torch.float64, device=dev)  # (B,)
    for t in range(width):
        log_probs, state = model.step(inputs[:, t], state)  # (B, V)
        check_shape(log_probs, (batch, "V"), "log_probs")
        picked = log_probs.gather(1, gold[:, t, None])[:, 0].double()  # (B,)
        total = total + torch.where(mask[:, t], picked, torch.zeros_like(picked))
    return total
