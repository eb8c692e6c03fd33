"""One search driver for every generating task: greedy, sampling or beam search over many
inputs, in batches.

A task hands :func:`search` its model (the step protocol), a function that builds the
initial state of some of its inputs, and a :class:`SearchConfig`; the driver cuts the inputs
into batches, runs the chosen search on each, and returns every input's n-best list (one
hypothesis for greedy search and sampling). Translators, language models and the coming
captioner and music models share it, so the argument checks and the dispatch live here once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from seqlab._validate import check_positive_int, is_number, require
from seqlab.decoding.beam import EarlyStopping, beam_search, check_early_stopping
from seqlab.decoding.greedy import greedy_search
from seqlab.decoding.protocol import Hypothesis, State, StepModel
from seqlab.decoding.sampling import sample_search

__all__ = ["Sampling", "SearchConfig", "search"]


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """Draw each token from the model's softmax instead of searching."""

    temperature: float = 1.0  # softmax(z / T): T < 1 sharpens, T > 1 flattens
    top_k: int | None = None  # keep only the k most probable tokens
    top_p: float | None = None  # keep the smallest set of tokens with mass >= p
    generator: torch.Generator | None = None  # the same generator state draws the same tokens


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """Which search, and its limits."""

    max_length: int  # tokens drawn per output at most (<EOS> excluded)
    # a per-input cap, fairseq's max_len_a / max_len_b: input i's output stops after
    # min(max_length, floor(a·|x_i| + b)) tokens (|x_i| from search's source_lengths);
    # None: max_length for every input. Greedy search, sampling and beam search alike
    max_length_a: float | None = None
    max_length_b: float = 0.0  # b of the per-input cap (ignored while max_length_a is None)
    beam_size: int = 1  # K: 1 is greedy search (or sampling), more is beam search
    n_best: int = 1  # candidates kept per input (<= beam_size)
    alpha: float = 0.7  # length normalisation: score = log P / Ty^alpha
    # when a beam's row stops: "never" exact, True once n_best ended, False transformers'
    # heuristic (see seqlab.decoding.beam_search)
    early_stopping: EarlyStopping = "never"
    sampling: Sampling | None = None  # draw instead of search (beam_size must be 1)
    banned_ids: tuple[int, ...] = ()  # never emitted (e.g. <UNK>); greedy and sampling only
    batch_size: int = 128  # inputs decoded together

    def __post_init__(self) -> None:
        check_positive_int("max_length", self.max_length)
        check_positive_int("batch_size", self.batch_size)
        require(
            isinstance(self.beam_size, int) and self.beam_size >= 1,
            f"beam_size must be >= 1, got {self.beam_size!r}",
        )
        require(
            isinstance(self.n_best, int) and 1 <= self.n_best <= self.beam_size,
            f"need beam_size >= 1 and 1 <= n_best <= beam_size, got "
            f"beam_size={self.beam_size}, n_best={self.n_best}",
        )
        require(
            is_number(self.alpha) and self.alpha >= 0,
            f"alpha must be >= 0 (0: raw sum, 1: mean per token), got {self.alpha!r}",
        )
        check_early_stopping(self.early_stopping)
        require(
            self.max_length_a is None or (is_number(self.max_length_a) and self.max_length_a >= 0),
            f"max_length_a must be None or >= 0, got {self.max_length_a!r}",
        )
        require(
            is_number(self.max_length_b),
            f"max_length_b must be a number, got {self.max_length_b!r}",
        )
        require(
            self.sampling is None or self.beam_size == 1,
            "sampling draws one output per input: use beam_size=1",
        )
        require(
            not self.banned_ids or self.beam_size == 1,
            "banned_ids apply to greedy search and sampling (beam_size=1)",
        )

    def length_caps(self, source_lengths: Sequence[int]) -> list[int]:
        """Each input's length cap: min(max_length, floor(a·|x| + b)), at least 1
        (``max_length`` for all without ``max_length_a``).

        >>> SearchConfig(max_length=50, max_length_a=1.5, max_length_b=10).length_caps([4, 40])
        [16, 50]
        """
        a = self.max_length_a
        if a is None:
            return [self.max_length] * len(source_lengths)
        b = self.max_length_b
        return [min(self.max_length, max(1, math.floor(a * n + b))) for n in source_lengths]


@torch.no_grad()
def search(
    model: StepModel,
    init_state: Callable[[Sequence[int]], State],
    n: int,
    config: SearchConfig,
    *,
    bos_id: int,
    eos_id: int,
    on_token: Callable[[int, int], None] | None = None,
    source_lengths: Sequence[int] | None = None,
) -> list[list[Hypothesis]]:
    """Decode ``n`` inputs: ``init_state(indices)`` gives the initial state of the inputs
    ``indices`` (a batch of at most ``config.batch_size``); returns each input's n-best list,
    best first (one hypothesis for greedy search and sampling).

    ``on_token(index, token)`` streams greedy search and sampling: it is called for every
    token as it is chosen for input ``index`` (``eos_id`` too, when it ends that output; an
    output cut at ``max_length`` ends without it). Beam search has no streaming (its best
    hypothesis is known only at the end): ``on_token`` with ``beam_size > 1`` is an error.

    ``source_lengths`` (|x| of each input, e.g. in source tokens) sets each input's cap
    with ``config.max_length_a`` (:meth:`SearchConfig.length_caps`); it is required then.

    The model's mode is left as it is: put it in eval mode first to decode without dropout.
    """
    require(n >= 0, f"n must be >= 0, got {n}")
    require(
        on_token is None or config.beam_size == 1,
        "on_token streams greedy search and sampling only (beam_size=1)",
    )
    caps = None
    if config.max_length_a is not None:
        require(
            source_lengths is not None and len(source_lengths) == n,
            f"max_length_a needs source_lengths, one per input ({n})",
        )
        caps = config.length_caps(source_lengths)  # type: ignore[arg-type]
    common: dict[str, Any] = {"bos_id": bos_id, "eos_id": eos_id, "max_length": config.max_length}
    out: list[list[Hypothesis]] = []
    for start in range(0, n, config.batch_size):
        rows = list(range(start, min(n, start + config.batch_size)))
        state = init_state(rows)
        if caps is not None:
            common["max_lengths"] = caps[rows[0] : rows[-1] + 1]
        if config.beam_size > 1:
            out += beam_search(
                model,
                state,
                batch_size=len(rows),
                beam_size=config.beam_size,
                n_best=config.n_best,
                alpha=config.alpha,
                early_stopping=config.early_stopping,
                **common,
            )
            continue
        one_at_a_time: dict[str, Any] = {
            "batch_size": len(rows),
            "alpha": config.alpha,
            "banned_ids": config.banned_ids,
            "on_token": None if on_token is None else _offset(on_token, start),
            **common,
        }
        s = config.sampling
        if s is None:
            best = greedy_search(model, state, **one_at_a_time)
        else:
            best = sample_search(
                model,
                state,
                temperature=s.temperature,
                top_k=s.top_k,
                top_p=s.top_p,
                generator=s.generator,
                **one_at_a_time,
            )
        out += [[h] for h in best]
    return out


def _offset(on_token: Callable[[int, int], None], start: int) -> Callable[[int, int], None]:
    """``on_token`` for a batch whose row 0 is input ``start``."""

    def call(row: int, token: int) -> None:
        on_token(start + row, token)

    return call
