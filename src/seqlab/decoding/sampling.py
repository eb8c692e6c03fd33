"""Sampling: the next token (temperature, top-k, nucleus (top-p), banned tokens) and whole
sequences (:func:`sample_search`, the course's novel-sequence sampling).

The course samples a novel sequence one token at a time, drawing ŷ<t> from the model's
softmax and feeding it back as x<t+1>. These functions turn a step's logits into that draw:

* temperature T: softmax(z / T) — T < 1 sharpens, T > 1 flattens, T → 0 is greedy;
* top-k: keep the k most probable tokens (Fan et al. 2018);
* top-p: keep the smallest set of most probable tokens whose mass reaches p (Holtzman et
  al. 2020), always at least one;
* banned ids (e.g. ``<UNK>``, as the course recommends) get probability 0.

Same semantics as HF ``generate``'s ``TemperatureLogitsWarper``/``TopKLogitsWarper``/
``TopPLogitsWarper``; tested against brute-force enumeration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from seqlab.decoding.protocol import Hypothesis, State, StepModel
from seqlab.decoding.stepwise import decode_stepwise

__all__ = ["filter_logits", "sample_next", "sample_search", "seeded_generator"]


def filter_logits(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    banned: Sequence[int] = (),
) -> Tensor:
    """Scaled logits with filtered-out tokens at −inf.

    Shape:
        logits: (B, V) -> (B, V)
    """
    if logits.dim() != 2:
        raise ValueError(f"expected logits of shape (B, V), got {tuple(logits.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature} (use greedy decoding)")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    z = logits.float() / temperature  # (B, V)
    if banned:
        z = z.index_fill(1, torch.as_tensor(list(banned), device=z.device), float("-inf"))
    if top_k is not None and top_k < z.shape[1]:
        kth = z.topk(top_k, dim=1).values[:, -1:]  # (B, 1)
        z = z.masked_fill(z < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_z, order = z.sort(dim=1, descending=True)  # (B, V)
        probs = sorted_z.softmax(dim=1)
        # drop a token when the mass before it already reaches p (the first always stays)
        before = probs.cumsum(dim=1) - probs  # (B, V)
        drop_sorted = before >= top_p
        drop = drop_sorted.scatter(1, order, drop_sorted)  # back to vocabulary order
        z = z.masked_fill(drop, float("-inf"))
    return z


def sample_next(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    banned: Sequence[int] = (),
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one token per row of ``logits`` (or take the arg max with ``greedy``).

    Shape:
        logits: (B, V) -> (B,)
    """
    z = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p, banned=banned)
    if not torch.isfinite(z).any(dim=1).all():
        raise ValueError("every token is filtered out: relax top_k/top_p or the banned list")
    if greedy:
        return z.argmax(dim=1)  # (B,)
    probs = z.softmax(dim=1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)


def seeded_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (``None``: a fresh random seed), so the
    same seed draws the same samples."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    return generator


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
    on_token: Callable[[int, int], None] | None = None,
    max_lengths: Sequence[int] | None = None,
) -> list[Hypothesis]:
    """One sampled sequence per row: ŷ<t> ~ softmax(log P(· | x, ŷ<1..t-1>) / temperature).

    ``top_k``, ``top_p`` and ``banned_ids`` filter each step's distribution as
    :func:`seqlab.decoding.sample_next` does. A hypothesis' ``log_prob`` is the model's own
    (unfiltered, temperature 1) log-probability of the drawn tokens. The same ``generator``
    state gives the same samples. ``on_token(row, token)`` sees every token as it is drawn
    (``eos_id`` included), to stream the output. ``max_lengths`` caps row i at
    ``min(max_length, max_lengths[i])`` tokens (e.g. the per-source caps of
    :meth:`seqlab.decoding.SearchConfig.length_caps`).

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

    return decode_stepwise(
        model,
        state,
        draw,
        batch_size=batch_size,
        bos_id=bos_id,
        eos_id=eos_id,
        max_length=max_length,
        alpha=alpha,
        device=device,
        on_token=on_token,
        max_lengths=max_lengths,
    )
