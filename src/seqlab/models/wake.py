"""Trigger-word networks: the course's model and a smaller streaming variant.

Both read log-mel frames ``(B, T, F)`` and give one logit per output step ``(B, Ty)``
(P(trigger word just ended) = σ(logit)), with Ty = ⌊(T − k) / s⌋ + 1 for the convolution's
kernel k and stride s ("valid" padding, as the course's Keras ``Conv1D``).

* ``("wake", "rnn")`` — :class:`WakeModel`, the course's: Conv1D(C, k, s) → BN → ReLU →
  dropout → GRU(H) → dropout → BN → GRU(H) → dropout → BN → dropout → dense σ per step. The
  GRUs are :class:`seqlab.nn.GRU` (unidirectional, so the network is causal too): in eval
  mode (batch norm an affine map per step) :meth:`WakeModel.stream` runs it chunk by chunk,
  carrying the frames of an unfinished window and both GRU states.
* ``("wake", "streaming")`` — :class:`StreamingWakeModel`: Conv1D → BN → ReLU → one GRU →
  dense. Its look-back is fixed: each step sees its k frames and the GRU state. It runs
  chunk by chunk with :meth:`StreamingWakeModel.stream` carrying (the k − s frames the next
  window shares, the GRU state).

Both stream through the same two methods, ``init_state(batch)`` and ``stream(chunk, state)
-> (logits, state)``; in eval mode the chunks' outputs equal the full forward's.

Both hold the feature normalisation (per-band mean and standard deviation of the training
frames) as buffers, so a saved model reads raw log-mel frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from seqlab._validate import from_fields
from seqlab.models.registry import register_model
from seqlab.nn import GRU

__all__ = [
    "StreamState",
    "StreamingWakeModel",
    "WakeModel",
    "WakeModelConfig",
    "WakeModelState",
]


@dataclass(frozen=True, kw_only=True)
class WakeModelConfig:
    """A trigger-word network's sizes; ``("wake", "rnn")`` and ``("wake", "streaming")``."""

    input_size: int = 40  # F: log-mel bands per frame
    conv_channels: int = 196  # C: Conv1D filters (course: 196)
    kernel_size: int = 15  # k: frames per convolution window (course: 15)
    stride: int = 4  # s: frames between output steps (course: 4)
    hidden_size: int = 128  # H: GRU units (course: 128)
    dropout: float = 0.2  # dropout rate (the course's Keras Dropout(0.8) drops 80%)

    def __post_init__(self) -> None:
        sizes = (self.input_size, self.conv_channels, self.kernel_size, self.stride)
        if min(sizes) < 1 or self.hidden_size < 1:
            raise ValueError(f"sizes must be >= 1, got {self}")
        if self.stride > self.kernel_size:
            raise ValueError(f"stride {self.stride} must be <= kernel_size {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WakeModelConfig:
        return from_fields(cls, d)

    def output_steps(self, frames: int) -> int:
        """Ty for T input frames (0 when T < k)."""
        return max(0, (frames - self.kernel_size) // self.stride + 1)


class _Base(nn.Module):
    """The normalisation buffers, the input check and the convolution front end."""

    config_class = WakeModelConfig

    def __init__(self, config: WakeModelConfig) -> None:
        super().__init__()
        self.config = config
        f = config.input_size
        self.register_buffer("feature_mean", torch.zeros(f))  # (F,)
        self.register_buffer("feature_std", torch.ones(f))  # (F,)
        self.conv = nn.Conv1d(f, config.conv_channels, config.kernel_size, config.stride)
        self.conv_bn = nn.BatchNorm1d(config.conv_channels)

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Per-band mean and standard deviation of the training frames, ``(F,)`` each."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(1e-5))

    def _front(self, frames: Tensor) -> Tensor:
        """Normalise, Conv1D → BN → ReLU.

        Shape:
            frames: (B, T, F) -> (B, Ty, C)
        """
        if frames.dim() != 3 or frames.shape[-1] != self.config.input_size:
            raise ValueError(
                f"expected frames of shape (B, T, {self.config.input_size}), "
                f"got {tuple(frames.shape)}"
            )
        x = (frames - self.feature_mean) / self.feature_std  # (B, T, F)
        x = self.conv(x.transpose(1, 2))  # (B, F, T) -> (B, C, Ty)
        return torch.relu(self.conv_bn(x)).transpose(1, 2)  # (B, Ty, C)


def _bn_steps(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """Batch norm over the features of every step: (B, Ty, H) -> (B, Ty, H)."""
    return bn(x.transpose(1, 2)).transpose(1, 2)  # (B, H, Ty) -> (B, Ty, H)


@dataclass
class WakeModelState:
    """What :meth:`WakeModel.stream` carries between chunks."""

    frames: Tensor  # (B, r, F): frames read but not yet under a whole window (r < k)
    h1: Tensor | None  # (1, B, H): the first GRU's state (None before the first step)
    h2: Tensor | None  # (1, B, H): the second GRU's


@register_model("wake", "rnn")
class WakeModel(_Base):
    """The course's trigger-word model (see the module docstring)."""

    def __init__(self, config: WakeModelConfig) -> None:
        super().__init__(config)
        h = config.hidden_size
        self.drop = nn.Dropout(config.dropout)
        self.gru1 = GRU(config.conv_channels, h, batch_first=True)
        self.bn1 = nn.BatchNorm1d(h)
        self.gru2 = GRU(h, h, batch_first=True)
        self.bn2 = nn.BatchNorm1d(h)
        self.out = nn.Linear(h, 1)

    def forward(self, frames: Tensor) -> Tensor:
        """Logits of "the trigger word just ended" per output step.

        Shape:
            frames: (B, T, F) -> (B, Ty)
        """
        return self._steps(frames, None, None)[0]  # (B, Ty)

    def _steps(
        self, frames: Tensor, h1: Tensor | None, h2: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The network over ``frames`` from the GRU states ``h1``, ``h2`` (None: zeros):
        the logits of every whole window and both GRUs' last states.

        Shape:
            frames: (B, T, F), h1/h2: (1, B, H) -> (B, Ty), (1, B, H), (1, B, H)
        """
        x, h1 = self.gru1(self.drop(self._front(frames)), h1)  # (B, Ty, C) -> (B, Ty, H)
        x, h2 = self.gru2(_bn_steps(self.bn1, self.drop(x)), h2)  # (B, Ty, H)
        x = self.drop(_bn_steps(self.bn2, self.drop(x)))  # (B, Ty, H)
        return self.out(x).squeeze(-1), h1, h2  # (B, Ty, 1) -> (B, Ty)

    def init_state(self, batch: int = 1) -> WakeModelState:
        """The state before the first chunk."""
        empty = self.feature_mean.new_zeros(batch, 0, self.config.input_size)  # (B, 0, F)
        return WakeModelState(empty, None, None)

    def stream(self, chunk: Tensor, state: WakeModelState) -> tuple[Tensor, WakeModelState]:
        """:meth:`forward` over the frames so far, for the output steps whose windows they
        complete, carrying both GRU states. Call it in eval mode: the network is causal
        (unidirectional GRUs, batch norm with running statistics an affine map per step),
        so the chunks' outputs then equal the full forward's.

        Shape:
            chunk: (B, t, F) -> (B, n) with n = the new whole windows
        """
        frames = torch.cat([state.frames, chunk], dim=1)  # (B, r + t, F)
        n = self.config.output_steps(frames.shape[1])
        if n == 0:  # no whole window yet
            return frames.new_zeros(frames.shape[0], 0), replace(state, frames=frames)  # (B, 0)
        logits, h1, h2 = self._steps(frames, state.h1, state.h2)  # (B, n)
        rest = frames[:, n * self.config.stride :]  # (B, r', F), r' < k
        return logits, WakeModelState(rest, h1, h2)


@dataclass
class StreamState:
    """What :meth:`StreamingWakeModel.stream` carries between chunks."""

    frames: Tensor  # (B, r, F): frames read but not yet under a whole window (r < k)
    hidden: Tensor | None  # (1, B, H): the GRU state (None before the first step)


@register_model("wake", "streaming")
class StreamingWakeModel(_Base):
    """Conv1D → BN → ReLU → dropout → GRU → dropout → dense: runnable chunk by chunk."""

    def __init__(self, config: WakeModelConfig) -> None:
        super().__init__(config)
        self.drop = nn.Dropout(config.dropout)
        self.gru = GRU(config.conv_channels, config.hidden_size, batch_first=True)
        self.out = nn.Linear(config.hidden_size, 1)

    def _steps(self, frames: Tensor, hidden: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Shape: frames (B, T, F), hidden (1, B, H) -> (B, Ty), (1, B, H)."""
        if self.config.output_steps(frames.shape[1]) == 0:  # no whole window yet
            return frames.new_zeros(frames.shape[0], 0), hidden  # (B, 0)
        x = self.drop(self._front(frames))  # (B, Ty, C)
        y, h = self.gru(x, hidden)  # (B, Ty, H), (1, B, H)
        return self.out(self.drop(y)).squeeze(-1), h  # (B, Ty)

    def forward(self, frames: Tensor) -> Tensor:
        """Shape: frames (B, T, F) -> (B, Ty)."""
        return self._steps(frames, None)[0]

    def init_state(self, batch: int = 1) -> StreamState:
        """The state before the first chunk."""
        f = self.config.input_size
        return StreamState(self.feature_mean.new_zeros(batch, 0, f), None)

    def stream(self, chunk: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """The logits of the output steps whose windows the frames so far complete.

        Shape:
            chunk: (B, t, F) -> (B, n) with n = the new whole windows
        """
        s = self.config.stride
        frames = torch.cat([state.frames, chunk], dim=1)  # (B, r + t, F)
        n = self.config.output_steps(frames.shape[1])
        logits, hidden = self._steps(frames, state.hidden)  # (B, n)
        rest = frames[:, n * s :] if n else frames  # (B, r', F), r' < k
        return logits, StreamState(rest, hidden)
