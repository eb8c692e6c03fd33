"""A linear-chain CRF layer (:class:`CRF`), the output layer of a BiLSTM-CRF tagger.

A thin holder of parameters around :mod:`seqlab.functional.crf`, which has the equations
(Lafferty et al. 2001; Lample et al. 2016). Parameter names and shapes are pytorch-crf's
(``torchcrf.CRF``), so a ``state_dict`` loads into either; the one difference is the sign:
:meth:`CRF.forward` returns the NEGATIVE log-likelihood, a loss to minimise, where
``torchcrf.CRF.forward`` returns the log-likelihood (and defaults to ``reduction="sum"``,
this one to ``"mean"``). Tested in ``tests/test_crf.py`` against torchcrf and brute force.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from seqlab.functional.crf import crf_nll, transition_mask, viterbi_decode

__all__ = ["CRF", "Reduction"]

Reduction = Literal["mean", "sum", "none", "token_mean"]


class CRF(nn.Module):
    """Linear-chain conditional random field over ``num_tags`` tags.

    Args:
        num_tags: C, the number of tags.
        batch_first: inputs are ``(B, T, ...)`` (True, the default) or ``(T, B, ...)``.

    Parameters (pytorch-crf's names): ``start_transitions`` (C,) the score of starting in a
    tag, ``end_transitions`` (C,) of ending in it, ``transitions`` (C, C) where
    ``transitions[i, j]`` is the score of moving from tag ``i`` to tag ``j``; all drawn from
    U(-0.1, 0.1) as pytorch-crf does.

    :meth:`constrain` forbids transitions at decoding time (a Viterbi path never takes them);
    the constraint is a non-persistent buffer, so the ``state_dict`` stays pytorch-crf's.

    Shape:
        emissions: (B, T, C), tags: (B, T) long, mask: (B, T) bool (left-aligned,
        ``mask[:, 0]`` all True; None means all True) -> NLL () or (B,) for
        ``reduction="none"``. With ``batch_first=False`` every (B, T) is (T, B).
    """

    def __init__(self, num_tags: int, *, batch_first: bool = True) -> None:
        super().__init__()
        if not isinstance(num_tags, int) or num_tags <= 0:
            raise ValueError(f"num_tags must be a positive integer, got {num_tags!r}")
        self.num_tags = num_tags
        self.batch_first = batch_first
        self.start_transitions = nn.Parameter(torch.empty(num_tags))  # (C,)
        self.end_transitions = nn.Parameter(torch.empty(num_tags))  # (C,)
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # (C, C)
        # Forbidden moves at decoding time (all allowed until constrain() is called).
        self.register_buffer("allowed", torch.ones(num_tags, num_tags, dtype=torch.bool),
                             persistent=False)  # fmt: skip
        self.register_buffer("start_allowed", torch.ones(num_tags, dtype=torch.bool),
                             persistent=False)  # fmt: skip
        self.register_buffer("end_allowed", torch.ones(num_tags, dtype=torch.bool),
                             persistent=False)  # fmt: skip
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every transition score from U(-0.1, 0.1) (pytorch-crf's initialisation)."""
        for parameter in (self.start_transitions, self.end_transitions, self.transitions):
            nn.init.uniform_(parameter, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, batch_first={self.batch_first}"

    def _batch_first(
        self, emissions: Tensor, tags: Tensor | None, mask: Tensor | None
    ) -> tuple[Tensor, Tensor | None, Tensor]:
        """Inputs as (B, T, C), (B, T), (B, T) bool, the mask filled in when None."""
        if emissions.dim() != 3 or emissions.size(2) != self.num_tags:
            raise ValueError(
                f"expected emissions of shape (B, T, {self.num_tags}), got {tuple(emissions.shape)}"
            )
        if not self.batch_first:
            emissions = emissions.transpose(0, 1)  # (B, T, C)
            tags = None if tags is None else tags.transpose(0, 1)  # (B, T)
            mask = None if mask is None else mask.transpose(0, 1)  # (B, T)
        if mask is None:
            mask = torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        return emissions, tags, mask.bool()

    def forward(
        self,
        emissions: Tensor,
        tags: Tensor,
        mask: Tensor | None = None,
        reduction: Reduction = "mean",
    ) -> Tensor:
        """Negative log-likelihood ``log Z(x) - s(x, y)`` of the tag paths ``tags``.

        ``reduction``: ``"mean"`` over sequences (the default), ``"sum"``, ``"none"`` (one
        per sequence) or ``"token_mean"`` (the sum divided by the number of real tokens).
        """
        if reduction not in ("mean", "sum", "none", "token_mean"):
            raise ValueError(
                f"reduction must be 'mean', 'sum', 'none' or 'token_mean', got {reduction!r}"
            )
        emissions, tags, mask = self._batch_first(emissions, tags, mask)
        if tags is None:
            raise ValueError("tags are required: the NLL scores the gold tag sequence")
        nll = crf_nll(
            emissions,
            tags,
            mask,
            self.start_transitions,
            self.end_transitions,
            self.transitions,
        )  # (B,) fmt: skip
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        if reduction == "mean":
            return nll.mean()
        return nll.sum() / mask.sum()

    def constrain(
        self,
        allowed: Tensor,
        start_allowed: Tensor | None = None,
        end_allowed: Tensor | None = None,
    ) -> CRF:
        """Forbid, at decoding, the transitions where ``allowed`` (C, C) is False, starting
        in tags where ``start_allowed`` (C,) is False and ending where ``end_allowed`` is.

        See :func:`seqlab.functional.crf.transition_mask` (or :meth:`constrain_to`). The
        likelihood (:meth:`forward`) is unchanged. Returns ``self``.
        """
        num_tags = self.num_tags
        start_allowed = (
            torch.ones(num_tags, dtype=torch.bool) if start_allowed is None else start_allowed
        )
        end_allowed = torch.ones(num_tags, dtype=torch.bool) if end_allowed is None else end_allowed
        for name, value, shape in (
            ("allowed", allowed, (num_tags, num_tags)),
            ("start_allowed", start_allowed, (num_tags,)),
            ("end_allowed", end_allowed, (num_tags,)),
        ):
            if tuple(value.shape) != shape:
                raise ValueError(f"expected {name} of shape {shape}, got {tuple(value.shape)}")
            getattr(self, name).copy_(value.bool())
        return self

    def constrain_to(
        self, tag_names: Sequence[str], scheme: Literal["iob2", "iobes"] = "iob2"
    ) -> CRF:
        """:meth:`constrain` to the well-formed sequences of ``scheme`` over ``tag_names``
        (tag id -> name), e.g. no ``O -> I-PER`` in IOB2. Returns ``self``."""
        if len(tag_names) != self.num_tags:
            raise ValueError(f"{len(tag_names)} tag names for a CRF of {self.num_tags} tags")
        return self.constrain(*transition_mask(tag_names, scheme))

    def _viterbi(self, emissions: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """Best paths (B, T) and the mask (B, T), batch first, constraints applied."""
        emissions, _, mask = self._batch_first(emissions, None, mask)
        forbidden = float("-inf")
        tags, _ = viterbi_decode(
            emissions,
            mask,
            self.start_transitions.masked_fill(~self.start_allowed, forbidden),  # (C,)
            self.end_transitions.masked_fill(~self.end_allowed, forbidden),  # (C,)
            self.transitions.masked_fill(~self.allowed, forbidden),  # (C, C)
        )  # (B, T)
        return tags, mask

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """The best tag path of each sequence (Viterbi), 0 at padded positions.

        Shape:
            emissions (B, T, C), mask (B, T) -> (B, T) long; (T, B) when not batch_first.
        """
        tags, _ = self._viterbi(emissions, mask)  # (B, T)
        return tags if self.batch_first else tags.transpose(0, 1)

    @torch.no_grad()
    def decode_lists(self, emissions: Tensor, mask: Tensor | None = None) -> list[list[int]]:
        """The best tag path of each sequence as a list of its real length (what
        ``torchcrf.CRF.decode`` returns)."""
        tags, mask = self._viterbi(emissions, mask)  # (B, T), (B, T)
        lengths = mask.sum(dim=1).tolist()
        return [row[:n] for row, n in zip(tags.tolist(), lengths, strict=True)]
