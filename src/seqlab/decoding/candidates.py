"""A search's outputs as text: :class:`Candidate`, what a generating task hands its user.

:func:`seqlab.decoding.search` returns :class:`~seqlab.decoding.protocol.Hypothesis` records
(ids and scores); a task turns each into a :class:`Candidate` with its tokens and text through
:meth:`Candidate.from_hypothesis` (the task's vocabulary decodes, its joiner joins).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from seqlab.decoding.protocol import Hypothesis

__all__ = ["Candidate"]


@dataclass(frozen=True)
class Candidate:
    """One output of the search, as text."""

    text: str  # the output, detokenised
    tokens: list[str]  # its tokens (no <SOS>/<EOS>)
    log_prob: float  # log P(y | x) in nats, <EOS> included when finished
    score: float  # log_prob / Ty^α, what beam search ranks by
    finished: bool  # False when cut at the length cap

    @classmethod
    def from_hypothesis(
        cls,
        hyp: Hypothesis,
        decode: Callable[[Sequence[int]], list[str]],
        join: Callable[[list[str]], str],
    ) -> Candidate:
        """``hyp`` with its ids decoded to tokens and the tokens joined into text."""
        tokens = decode(hyp.tokens)
        return cls(join(tokens), tokens, float(hyp.log_prob), float(hyp.score), bool(hyp.finished))

    def to_dict(self) -> dict[str, Any]:
        """The text and scores, for JSON."""
        return {
            "text": self.text,
            "log_prob": self.log_prob,
            "score": self.score,
            "finished": self.finished,
        }
