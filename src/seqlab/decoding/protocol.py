"""The decoding step protocol, the hypothesis record and the course's length normalisation.

Greedy search, sampling, beam search and the beam-search error analysis work on any model
that exposes two methods (docs/architecture.md, "Shared pieces a task uses"):

* ``step(tokens, state) -> (log_probs, state)`` — read one token per row (the previous output
  y<t-1>, or ``<BOS>`` at the first step) and return log P(y<t> | x, y<1..t-1>) over the
  vocabulary and the state after that step;
* ``reorder_state(state, index) -> state`` — the state's batch rows picked by ``index``
  (rows may repeat): beam search uses it to expand B rows to B·K beams and to follow its
  back-pointers, and every search uses it to drop the rows that have finished.

The initial state is the model's business (``init_state(...)``: a language model takes a
batch size, a seq2seq model the encoded source); the searches take that state as it is.

A hypothesis is scored with the course's normalised log-likelihood

    score(y) = (1 / Ty^α) · Σ_{t=1..Ty} log P(y<t> | x, y<1..t-1>)

where Ty counts the tokens the model emitted, ``<EOS>`` included when the hypothesis ended
with it (α = 0: the raw sum; α = 1: the mean per token; the course suggests α ≈ 0.7).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from seqlab.data.batching import map_tensors
from seqlab.shapes import format_shape

__all__ = [
    "Hypothesis",
    "State",
    "StepModel",
    "check_row_index",
    "check_search_args",
    "check_step_tokens",
    "memory_rows",
    "normalized_score",
    "row_caps",
    "select_rows",
    "state_device",
]

State = Any  # whatever the model's step carries: None, a tensor, or a nest of tensors


@runtime_checkable
class StepModel(Protocol):
    """A model that decodes one token at a time (see the module docstring)."""

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """log P(next token) after reading ``tokens``, and the new state.

        Shape:
            tokens: (B,) int64 -> log_probs (B, V), state with B rows
        """
        ...

    def reorder_state(self, state: State, index: Tensor) -> State:
        """The state's batch rows ``index`` (in that order, repeats allowed).

        Shape:
            state with B rows, index: (B',) int64 -> state with B' rows
        """
        ...


@dataclass(frozen=True)
class Hypothesis:
    """One decoded output sequence and how the model scores it."""

    tokens: list[int]  # emitted ids, without <BOS> and without the closing <EOS>
    log_prob: float  # Σ_t log P(y<t> | x, y<1..t-1>) in nats, <EOS> included when finished
    score: float  # log_prob / Ty^α (the normalised log-likelihood the search ranks by)
    finished: bool  # True when the model emitted <EOS>; False when cut at max_length

    @property
    def length(self) -> int:
        """Ty: the emitted tokens, ``<EOS>`` included when finished."""
        return len(self.tokens) + int(self.finished)


def normalized_score(log_prob: float, length: int, alpha: float) -> float:
    """The course's normalised log-likelihood (1 / Ty^α) · Σ log P.

    >>> normalized_score(-6.0, 4, 0.5)
    -3.0
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    return log_prob / length**alpha


def check_step_tokens(tokens: Tensor, batch: int) -> None:
    """A ``ValueError`` unless ``tokens`` are one id per row of a batch of ``batch``: the
    check at the start of a model's ``step``.

    Shape:
        tokens: (B,) int
    """
    if tokens.shape != (batch,) or tokens.is_floating_point():
        raise ValueError(
            f"expected tokens of shape (B={batch},) ids, "
            f"got {format_shape(tuple(tokens.shape))} {tokens.dtype}"
        )


def check_row_index(index: Tensor) -> None:
    """A ``ValueError`` unless ``index`` is a 1-D tensor of row ids: the check at the start
    of a model's ``reorder_state``.

    Shape:
        index: (B',) int
    """
    if index.dim() != 1 or index.is_floating_point():
        raise ValueError(
            f"expected index of shape (B',) ids, got {format_shape(tuple(index.shape))} "
            f"{index.dtype}"
        )


def memory_rows(sources: Tensor | None, batch: int, index: Tensor) -> tuple[Tensor, bool]:
    """Which source each row reads after ``reorder_state(index)``, and whether the encoder
    memory may stay where it is.

    ``sources`` (B,): the row of ``init_state``'s batch whose memory each current row holds
    (``None``: row i holds source i). After the reorder, row j reads source
    ``sources[index[j]]``; when that is ``sources[j]`` for every row (beams reordered within
    their sentence, as in most beam-search steps), every memory row already holds what its
    row reads, and the memory (encoder outputs, cross-attention keys/values, source mask)
    needs no copy. Otherwise the model gathers it with ``index`` as every other tensor.

    >>> memory_rows(None, 4, torch.tensor([1, 0, 2, 3]))
    (tensor([1, 0, 2, 3]), False)
    >>> memory_rows(torch.tensor([0, 0, 1, 1]), 4, torch.tensor([1, 0, 2, 2]))
    (tensor([0, 0, 1, 1]), True)

    Shape:
        sources: (B,) or None, index: (B',) -> (B',), bool
    """
    before = sources if sources is not None else torch.arange(batch, device=index.device)  # (B,)
    after = before.index_select(0, index.to(before.device))  # (B',)
    return after, after.shape == before.shape and torch.equal(after, before)


def select_rows(state: State, index: Tensor, dim: int = 0) -> State:
    """Every tensor in ``state`` indexed by ``index`` along ``dim``; the nest keeps its form.

    Handles ``None``, tensors, tuples (named ones too), lists, mappings and dataclass
    instances, nested to any depth. Anything else (ints, strings, ...) is shared by all rows
    and returned as is. A model whose state holds tensors with the batch on different
    dimensions calls this once per part.

    Shape:
        tensors (..., B at dim, ...), index: (B',) -> (..., B' at dim, ...)
    """
    return map_tensors(state, lambda t: t.index_select(dim, index.to(t.device)))


def _first_tensor(state: State) -> Tensor | None:
    if isinstance(state, Tensor):
        return state
    if isinstance(state, Mapping):
        state = list(state.values())
    elif dataclasses.is_dataclass(state) and not isinstance(state, type):
        state = [getattr(state, f.name) for f in dataclasses.fields(state)]
    if isinstance(state, (tuple, list)):
        for part in state:
            found = _first_tensor(part)
            if found is not None:
                return found
    return None


def state_device(model: object, state: State) -> torch.device:
    """Where the search's token tensors go: the state's device, else the model's, else CPU."""
    found = _first_tensor(state)
    if found is not None:
        return found.device
    if isinstance(model, torch.nn.Module):
        for param in model.parameters():
            return param.device
    return torch.device("cpu")


def row_caps(max_length: int, max_lengths: Sequence[int] | None, batch_size: int) -> list[int]:
    """Each row's length cap: ``min(max_length, max_lengths[i])`` (``max_length`` for every
    row when ``max_lengths`` is None); a ValueError on a wrong count or a cap below 1.

    >>> row_caps(10, [3, 12], 2)
    [3, 10]
    """
    if max_lengths is None:
        return [max_length] * batch_size
    caps = [int(c) for c in max_lengths]
    if len(caps) != batch_size:
        raise ValueError(f"max_lengths has {len(caps)} caps for a batch of {batch_size}")
    if caps and min(caps) < 1:
        raise ValueError(f"every max_lengths cap must be >= 1, got {min(caps)}")
    return [min(max_length, c) for c in caps]


def check_search_args(*, batch_size: int, max_length: int, alpha: float) -> None:
    """ValueError on a batch size or max_length below 1, or a negative α."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (0: raw sum, 1: mean per token), got {alpha}")
