"""A recurrent language model: P(y<1>, …, y<T>) = Π_t P(y<t> | y<1>, …, y<t-1>).

The course's model: each step reads the previous token x<t> = y<t-1> (its embedding), updates
the activation a<t> with an RNN/GRU/LSTM cell, and predicts ŷ<t> = softmax(W_ya a<t> + b_y)
over the vocabulary. Training minimises the cross-entropy −Σ_t log ŷ<t>[y<t>]; sampling draws
ŷ<t> and feeds it back. The first step reads ``<EOS>``: a sequence starts where the previous
one ended (as char-rnn's newline and the course's zero vector x<1>).

Works at character or word level (the vocabulary decides). Exposes the decoding step protocol
of :mod:`seqlab.decoding.protocol` (``init_state``, ``step``) so sampling and beam search serve
it. Tested: stepping equals the full forward pass, and the step protocol's log-probabilities
sum to the sequence score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab._validate import from_fields
from seqlab.decoding.protocol import select_rows
from seqlab.models.registry import register_model
from seqlab.models.rnn_architectures import RNNConfig, make_rnn
from seqlab.shapes import check_shape

__all__ = ["LMConfig", "RNNLanguageModel"]

State = Any  # the RNN's (L*D, B, H) state, or (h, c) for the LSTM; None = zeros


@dataclass(frozen=True, kw_only=True)
class LMConfig:
    """Shape of a recurrent language model."""

    vocab_size: int  # V: tokens the model reads and predicts
    cell: str = "lstm"  # "rnn", "gru" or "lstm"
    embedding_dim: int = 64  # E: width of a token's embedding x<t>
    hidden_size: int = 256  # H: width of the activation a<t>
    num_layers: int = 2  # L: stacked recurrent layers
    dropout: float = 0.0  # dropout on embeddings, between layers and before the softmax
    reset_after: bool = True  # GRU only: False is the course's original GRU
    peephole: bool = False  # LSTM only: peephole connections
    impl: str = "auto"  # how the recurrence runs (same function): auto, fused, bptt, loop

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size}")
        self.rnn_config()  # validates the recurrent part

    def rnn_config(self) -> RNNConfig:
        return RNNConfig(
            cell=self.cell,  # type: ignore[arg-type]
            input_size=self.embedding_dim,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            dropout=self.dropout,
            reset_after=self.reset_after,
            peephole=self.peephole,
            impl=self.impl,  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LMConfig:
        return from_fields(cls, d)


@register_model("language_model", "rnn")
class RNNLanguageModel(nn.Module):
    """Embedding → deep RNN → linear softmax layer, over a token vocabulary."""

    config_class = LMConfig

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.rnn = make_rnn(config.rnn_config(), batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, tokens: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Logits of the next token after each position.

        Shape:
            tokens: (B, T) int -> logits (B, T, V), state as the RNN's
        """
        if tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"expected token ids of shape (B, T), got {tuple(tokens.shape)} {tokens.dtype}"
            )
        x = self.drop(self.embedding(tokens))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)

    def loss(self, inputs: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
        """Mean cross-entropy of ``targets`` given ``inputs`` (teacher forcing).

        Shape:
            inputs, targets: (B, T) -> ()
        """
        check_shape(targets, tuple(inputs.shape), "targets")
        logits, _ = self(inputs)  # (B, T, V)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index
        )

    # -- the decoding step protocol ------------------------------------------------------
    def init_state(self, batch_size: int) -> State:
        """The state before the first step (zeros: a<0> = 0)."""
        del batch_size
        return None

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """Read one token per sequence; return log P(next token) and the new state.

        Shape:
            tokens: (B,) -> log_probs (B, V), state
        """
        check_shape(tokens, ("B",), "tokens")
        logits, state = self(tokens[:, None], state)  # (B, 1, V)
        return logits[:, 0].log_softmax(dim=-1), state  # (B, V)

    def reorder_state(self, state: State, index: Tensor) -> State:
        """The state's batch rows ``index`` (beam search's expand and back-pointers).

        Shape:
            state (L*D, B, H) or its (h, c) pair, index: (B',) -> (L*D, B', H) or the pair
        """
        return select_rows(state, index, dim=1)  # None (zeros) stays None
