"""Greedy search and teacher-forced scoring over the step protocol.

* :func:`greedy_search` picks ŷ<t> = argmax_y P(y | x, ŷ<1..t-1>) at every step (the course's
  "pick the most likely word, one at a time" baseline, which beam search improves on);
* :func:`sequence_log_prob` scores given outputs y* by teacher forcing:
  log P(y* | x) = Σ_t log P(y*<t> | x, y*<1..t-1>), ``<EOS>`` included.

Sampling (:func:`seqlab.decoding.sample_search`) shares greedy search's loop
(:mod:`seqlab.decoding.stepwise`). Both are batched: each row stops at its own ``<EOS>``
(finished rows leave the batch via the model's ``reorder_state``), and a padded batch scores
exactly as its rows alone. Tested in ``tests/test_decoding.py`` against hand-built score
tables and brute force.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from seqlab.decoding.protocol import Hypothesis, State, StepModel, state_device
from seqlab.decoding.sampling import sample_next
from seqlab.decoding.stepwise import decode_stepwise
from seqlab.shapes import check_shape

__all__ = ["greedy_search", "sequence_log_prob"]


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
    on_token: Callable[[int, int], None] | None = None,
    max_lengths: Sequence[int] | None = None,
) -> list[Hypothesis]:
    """The arg-max token at every step, for each of ``batch_size`` rows of ``state``.

    A row stops at ``<EOS>`` (``finished=True``) or after ``max_length`` tokens
    (``finished=False``; row i after ``min(max_length, max_lengths[i])`` when
    ``max_lengths`` is given). ``alpha`` only sets each hypothesis' ``score`` (as in
    :func:`seqlab.decoding.beam_search`); it does not change the tokens. ``banned_ids`` are
    never chosen (e.g. ``<UNK>``). ``device`` is where the token tensors live (default: the
    state's, else the model's). The model's mode is left as it is: call ``model.eval()``
    first to decode without dropout. ``on_token(row, token)`` sees every token as it is
    chosen (``eos_id`` included), to stream the output.

    Shape:
        state with B rows -> B hypotheses
    """

    def choose(log_probs: Tensor) -> Tensor:
        if not banned_ids:
            return log_probs.argmax(dim=1)  # (B,)
        return sample_next(log_probs, banned=banned_ids, greedy=True)  # (B,)

    return decode_stepwise(
        model,
        state,
        choose,
        batch_size=batch_size,
        bos_id=bos_id,
        eos_id=eos_id,
        max_length=max_length,
        alpha=alpha,
        device=device,
        on_token=on_token,
        max_lengths=max_lengths,
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
