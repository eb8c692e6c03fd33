"""A CTC speech recognizer: convolutional front-end, bidirectional GRU or LSTM, characters.

The network reads log-mel frames x<1..T> and scores, at every output frame, each character
and the CTC blank:

    h = ReLU(Conv1d(x))               (conv_layers times; the first strided_layers stride s)
    a = BiRNN(h)                      (GRU or LSTM, both directions concatenated)
    y<t'> = log_softmax(W a<t'> + b)  (C = characters + blank scores)

so T' = ceil(T / s^strided_layers) output frames.

Padding never changes an output: frames beyond an item's length are zeroed before every
convolution (which then reads the zeros its own padding would) and the recurrent layers
read each item packed by its length. ``tests/test_speech_task.py`` checks that an item
alone and batched beside longer ones gets the same log-probabilities.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab._validate import check_choice, check_positive_int, from_fields
from seqlab.models.registry import register_model
from seqlab.nn import GRU, LSTM

__all__ = ["SpeechCTC", "SpeechCTCConfig"]

Cell = Literal["gru", "lstm"]


@dataclass(frozen=True, kw_only=True)
class SpeechCTCConfig:
    """Shape of the CTC speech network."""

    num_classes: int = 2  # C: characters + the blank (set from the vocabulary when built)
    n_features: int = 40  # F: log-mel bands per input frame
    conv_channels: int = 128  # channels of each front-end convolution
    conv_layers: int = 2  # convolutions in the front-end
    kernel_size: int = 5  # frames each convolution reads (odd)
    stride: int = 2  # time stride of the first `strided_layers` convolutions (others: 1)
    strided_layers: int = 1  # how many convolutions stride (time reduction stride ** this)
    cell: Cell = "gru"  # the recurrent layers: "gru" or "lstm"
    hidden_size: int = 128  # H: hidden size per direction
    num_layers: int = 2  # stacked bidirectional layers
    dropout: float = 0.1  # after the front-end and between recurrent layers
    blank: int = 0  # the blank's class id

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, get_args(Cell))
        for name in ("num_classes", "n_features", "conv_channels", "conv_layers", "stride"):
            check_positive_int(name, getattr(self, name))
        for name in ("hidden_size", "num_layers"):
            check_positive_int(name, getattr(self, name))
        if not 0 <= self.strided_layers <= self.conv_layers:
            raise ValueError(
                f"strided_layers must be in [0, conv_layers={self.conv_layers}], "
                f"got {self.strided_layers}"
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.blank < self.num_classes:
            raise ValueError(f"blank must be in [0, {self.num_classes}), got {self.blank}")

    @property
    def reduction(self) -> int:
        """How many input frames one output frame spans (stride ** strided_layers)."""
        return self.stride**self.strided_layers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeechCTCConfig:
        return from_fields(cls, d)


def _mask_frames(x: Tensor, lengths: Tensor) -> Tensor:
    """``x`` with the frames at or beyond each item's length set to zero.

    Shape:
        x: (B, C, T), lengths: (B,) -> (B, C, T)
    """
    keep = torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None]  # (B, T)
    return x * keep[:, None, :]  # (B, C, T)


def _conv_length(conv: nn.Conv1d, lengths: Tensor) -> Tensor:
    """Frames out of ``conv`` for ``lengths`` frames in: ``floor((L + 2p - k) / s) + 1``,
    at least 1 (k odd, p = k // 2)."""
    pad, k, s = conv.padding[0], conv.kernel_size[0], conv.stride[0]
    return ((lengths + 2 * pad - k) // s + 1).clamp_min(1)  # type: ignore[operator]


@register_model("speech", "ctc")
class SpeechCTC(nn.Module):
    """Conv front-end → BiGRU/BiLSTM → per-frame character log-probabilities (module doc)."""

    config_class = SpeechCTCConfig

    def __init__(self, config: SpeechCTCConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.convs = nn.ModuleList(
            nn.Conv1d(
                c.n_features if i == 0 else c.conv_channels,
                c.conv_channels,
                c.kernel_size,
                stride=c.stride if i < c.strided_layers else 1,
                padding=c.kernel_size // 2,
            )
            for i in range(c.conv_layers)
        )
        rnn = GRU if c.cell == "gru" else LSTM
        self.rnn = rnn(
            c.conv_channels,
            c.hidden_size,
            c.num_layers,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
            bidirectional=True,
        )
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(2 * c.hidden_size, c.num_classes)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Output frames for inputs of ``lengths`` frames: each convolution maps L to
        ``floor((L + 2p - k) / s) + 1`` (p = k // 2).

        Shape:
            lengths: (B,) -> (B,)
        """
        out = torch.as_tensor(lengths, dtype=torch.long)
        for conv in self.convs:
            out = _conv_length(conv, out)
        return out

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Log-probabilities of the classes at every output frame, and their lengths.

        Shape:
            features: (B, T, F), lengths: (B,) -> log_probs (B, T', C), out_lengths (B,)
        """
        x = features.transpose(1, 2)  # (B, F, T)
        lengths = lengths.to(x.device)
        for conv in self.convs:
            x = _mask_frames(x, lengths)  # (B, F|K, T)
            x = torch.relu(conv(x))  # (B, K, T/s)
            lengths = _conv_length(conv, lengths)
        h = self.drop(x.transpose(1, 2))  # (B, T', K)
        packed = pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        a, _ = self.rnn(packed)
        a, _ = pad_packed_sequence(a, batch_first=True, total_length=h.shape[1])  # (B, T', 2H)
        logits = self.out(self.drop(a))  # (B, T', C)
        return logits.log_softmax(-1), lengths
