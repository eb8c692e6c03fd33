"""Image captioning with visual attention: Show, Attend and Tell (Xu et al. 2015).

The course's encoder–decoder with the encoder swapped for a convolutional network::

    encoder:  image (3, H, W) → CNN → a grid of g × g regions a<1> … a<R> (R = g², width C)
    decoder:  e<t,r> = vᵀ tanh(W_s h<t-1> + W_a a<r> + b),   α<t,·> = softmax_r(e<t,·>)
              β<t> = σ(w_β · h<t-1> + b_β)                  (the paper's gating scalar)
              z<t> = β<t> Σ_r α<t,r> a<r>                     (the context)
              h<t>, c<t> = LSTM([E y<t-1>; z<t>], (h<t-1>, c<t-1>))
              ŷ<t> = softmax(W_y [h<t>; z<t>] + b_y)
    start:    h<0> = tanh(W_h ā + b_h),  c<0> = tanh(W_c ā + b_c),  ā = (1/R) Σ_r a<r>

The CNN is small and trained from scratch: blocks of 3×3 convolution, ReLU and 2×2 max
pooling (``channels`` gives each block's width; three blocks turn a 32 × 32 image into a
4 × 4 grid), and a learned embedding of each region's position is added to its features so
the decoder can say "above" and "to the left of" (a convolution alone sees no position).

With ``backbone="resnet18"`` (or ``"resnet34"``) the encoder is instead torchvision's ResNet
trunk (:mod:`seqlab.models.backbones`, its weights loaded from a file on disk): images are
normalised with ImageNet's mean and standard deviation inside the encoder, the regions are
the cells of the last feature map (a 32-pixel stride: g = image_size / 32), each projected
to the decoder's width (C = H) by a learned ``W_p a + b_p`` before its position is added::

    a<r> = W_p ResNet((x − μ) / σ)<r> + b_p + p<r>

``freeze_backbone`` (the default) keeps the backbone's weights as loaded: no gradient reaches
them, and its BatchNorm layers stay in eval mode (their running statistics are not updated)
even while the rest of the network trains.
The attention is :class:`seqlab.nn.attention.BahdanauAttention`, the LSTM
:class:`seqlab.nn.cells.LSTMCell`.

Decoding protocol (:mod:`seqlab.decoding.protocol`): ``init_state(images)`` runs the CNN
once and precomputes the attention keys; ``step(tokens, state)`` reads y<t-1> and returns
log P(y<t> | y<<t>, image) and the next :class:`CaptionState` (``attention``: α<t,·>);
``reorder_state`` selects batch rows. ``forward`` is teacher forcing over the same step.

Tested in ``tests/test_caption_model.py``: one step recomputed by hand from these equations
with ``torch.nn.LSTMCell`` equals the model, stepping equals teacher forcing, a padded batch
equals its captions alone, greedy search equals beam search of width 1; in
``tests/test_caption_backbone.py``: the backbone's regions recomputed with torchvision's
ResNet and ImageNet normalisation, a frozen backbone gets no gradient and keeps its
BatchNorm statistics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab._validate import from_fields
from seqlab.decoding.protocol import check_row_index, check_step_tokens, select_rows
from seqlab.models.backbones import BACKBONES, ResNet, build_backbone, imagenet_normalize
from seqlab.models.registry import register_model
from seqlab.nn.attention import BahdanauAttention
from seqlab.nn.cells import LSTMCell
from seqlab.shapes import format_shape

__all__ = ["CaptionModel", "CaptionModelConfig", "CaptionState"]


@dataclass(frozen=True, kw_only=True)
class CaptionModelConfig:
    """Shape of a captioning network."""

    vocab_size: int  # V: caption vocabulary (ids the decoder reads and predicts)
    image_size: int = 32  # H = W: images are this many pixels square
    channels: tuple[int, ...] = (32, 64, 128)  # width of each conv block; the last is C
    embedding_dim: int = 32  # E: width of a word embedding
    hidden_size: int = 128  # H: the LSTM's state width
    attention_dim: int = 64  # A: hidden width of the attention's scoring network
    dropout: float = 0.0  # dropout on word embeddings and before the output layer
    pad_id: int = 0  # padding id in caption batches (zero embedding, ignored by the loss)
    backbone: str | None = None  # None: the small CNN; "resnet18"/"resnet34": torchvision's
    freeze_backbone: bool = True  # backbone weights stay as loaded, its BatchNorm in eval mode

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        for name in ("vocab_size", "image_size", "embedding_dim", "hidden_size", "attention_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not self.channels or any(not isinstance(c, int) or c <= 0 for c in self.channels):
            raise ValueError(f"channels must be positive ints, got {self.channels!r}")
        if self.backbone is not None:
            if self.backbone not in BACKBONES:
                raise ValueError(
                    f"unknown backbone {self.backbone!r}; known: {', '.join(BACKBONES)}"
                )
            if self.image_size % ResNet.reduction:
                raise ValueError(
                    f"image_size {self.image_size} must be a multiple of {ResNet.reduction} "
                    f"with backbone {self.backbone} (one region per {ResNet.reduction} pixels)"
                )
        elif self.image_size % 2 ** len(self.channels):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2^{len(self.channels)} "
                f"(one 2x2 pooling per conv block)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} not in [0, {self.vocab_size})")

    @property
    def grid(self) -> int:
        """g: the encoder's grid is g × g regions."""
        if self.backbone is not None:
            return self.image_size // ResNet.reduction
        return self.image_size // 2 ** len(self.channels)

    @property
    def feature_dim(self) -> int:
        """C: the width of a region (the last conv block's, or H after a backbone)."""
        return self.channels[-1] if self.backbone is None else self.hidden_size

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaptionModelConfig:
        d = dict(d)
        if "channels" in d:
            d["channels"] = tuple(d["channels"])
        return from_fields(cls, d)


@dataclass(frozen=True, eq=False)
class CaptionState:
    """The decoder's state between steps; every tensor carries the batch in dim 0."""

    hidden: Tensor  # (B, H): h<t>
    cell: Tensor  # (B, H): c<t>
    features: Tensor  # (B, R, C): a<r>, the attention's values
    keys: Tensor  # (B, R, A): W_a a<r> + b, precomputed once
    mask: Tensor  # (B, R) bool: every region is attended (True)
    attention: Tensor | None = None  # (B, R): the last step's α<t,·>; None before a step

    @property
    def batch_size(self) -> int:
        return self.hidden.shape[0]


@register_model("captioner", "rnn")
class CaptionModel(nn.Module):
    """CNN encoder + LSTM decoder with attention over image regions (module docstring)."""

    config_class = CaptionModelConfig

    def __init__(self, config: CaptionModelConfig) -> None:
        super().__init__()
        self.config = c = config
        if c.backbone is None:
            blocks: list[nn.Module] = []
            width = 3
            for out in c.channels:
                blocks += [nn.Conv2d(width, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
                width = out
            self.cnn = nn.Sequential(*blocks)
        else:
            self.backbone = build_backbone(c.backbone)
            self.project = nn.Linear(self.backbone.out_channels, c.feature_dim)  # W_p, b_p
            self.backbone.requires_grad_(not c.freeze_backbone)
        width = c.feature_dim
        regions = c.grid**2
        self.position = nn.Parameter(torch.zeros(regions, width))  # (R, C)
        nn.init.normal_(self.position, std=0.1)
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, c.pad_id)
        self.init_h = nn.Linear(width, c.hidden_size)  # W_h, b_h
        self.init_c = nn.Linear(width, c.hidden_size)  # W_c, b_c
        self.attention = BahdanauAttention(c.hidden_size, width, c.attention_dim)
        self.gate = nn.Linear(c.hidden_size, 1)  # w_β, b_β
        self.cell = LSTMCell(c.embedding_dim + width, c.hidden_size)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size + width, c.vocab_size)  # W_y, b_y

    def train(self, mode: bool = True) -> CaptionModel:
        """Training or eval mode; a frozen backbone stays in eval mode (BatchNorm uses and
        keeps its loaded running statistics)."""
        super().train(mode)
        if self.config.backbone is not None and self.config.freeze_backbone:
            self.backbone.eval()
        return self

    # -- encoder -------------------------------------------------------------------------
    def encode(self, images: Tensor) -> Tensor:
        """The region features a<r>: the CNN's grid, flattened row by row, plus positions.

        Shape:
            images: (B, 3, H, W) floats in [0, 1] -> (B, R, C), R = g², row-major
        """
        c = self.config
        expected = (3, c.image_size, c.image_size)
        if (
            images.dim() != 4
            or tuple(images.shape[1:]) != expected
            or not images.is_floating_point()
        ):
            raise ValueError(
                f"expected images of shape (B, 3, {c.image_size}, {c.image_size}) floats in "
                f"[0, 1], got {format_shape(tuple(images.shape))} {images.dtype}"
            )
        if c.backbone is None:
            grid = self.cnn(images - 0.5)  # (B, C, g, g)
            regions = grid.flatten(2).transpose(1, 2)  # (B, R, C)
        else:
            grid = self.backbone(imagenet_normalize(images))  # (B, 512, g, g)
            regions = self.project(grid.flatten(2).transpose(1, 2))  # (B, R, 512) -> (B, R, C)
        return regions + self.position  # (B, R, C)

    # -- the decoding step protocol ------------------------------------------------------
    def init_state(self, images: Tensor) -> CaptionState:
        """Encode the images once; the decoder's state before its first step.

        Shape:
            images: (B, 3, H, W) -> CaptionState for B captions
        """
        features = self.encode(images)  # (B, R, C)
        mean = features.mean(dim=1)  # (B, C): ā
        h0 = torch.tanh(self.init_h(mean))  # (B, H): h<0> = tanh(W_h ā + b_h)
        c0 = torch.tanh(self.init_c(mean))  # (B, H): c<0> = tanh(W_c ā + b_c)
        keys = self.attention.project_keys(features)  # (B, R, A)
        mask = torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)  # (B, R)
        return CaptionState(h0, c0, features, keys, mask)

    def _advance(self, emb: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState]:
        """Read one embedded y<t-1>; return [h<t>; z<t>] and the next state.

        Shape:
            emb: (B, E) -> features (B, H + C)
        """
        # α<t,·> = softmax_r(vᵀ tanh(W_s h<t-1> + W_a a<r> + b)),  Σ_r α<t,r> a<r>
        context, alphas = self.attention(
            state.hidden, state.keys, state.features, state.mask, keys_projected=True
        )  # (B, C), (B, R)
        beta = torch.sigmoid(self.gate(state.hidden))  # (B, 1): β<t> = σ(w_β · h<t-1> + b_β)
        z = beta * context  # (B, C)
        h, c = self.cell(torch.cat([emb, z], dim=-1), (state.hidden, state.cell))  # (B, H) x 2
        new = replace(state, hidden=h, cell=c, attention=alphas)
        return torch.cat([h, z], dim=-1), new  # (B, H + C)

    def step(self, tokens: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState]:
        """Read y<t-1> for each caption; return log P(y<t> | y<<t>, image) and the new state.

        Shape:
            tokens: (B,) ids -> log_probs (B, V), state (``state.attention``: (B, R))
        """
        batch = state.batch_size
        check_step_tokens(tokens, batch)
        emb = self.drop(self.embedding(tokens))  # (B, E)
        features, state = self._advance(emb, state)  # (B, H + C)
        # ŷ<t> = softmax(W_y [h<t>; z<t>] + b_y)
        return F.log_softmax(self.head(self.drop(features)), dim=-1), state  # (B, V)

    def reorder_state(self, state: CaptionState, index: Tensor) -> CaptionState:
        """Select (and repeat) batch rows, e.g. for beam search.

        Shape:
            index: (B',) ids into the batch -> a state for B' captions
        """
        check_row_index(index)
        return select_rows(state, index)  # every tensor: (B, ...) -> (B', ...)

    # -- training ------------------------------------------------------------------------
    def forward(
        self, images: Tensor, tgt_in: Tensor, *, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Teacher forcing: logits of y<t> at every step, reading the true y<t-1>.

        ``tgt_in[:, 0]`` is the start token. Returns ``logits``, or ``(logits, attention)``
        with ``return_attention``.

        Shape:
            images: (B, 3, H, W), tgt_in: (B, S) ids -> logits (B, S, V) [, attention (B, S, R)]
        """
        if tgt_in.dim() != 2 or tgt_in.is_floating_point() or tgt_in.shape[1] == 0:
            raise ValueError(
                f"expected tgt_in ids of shape (B, S) with S >= 1, "
                f"got {format_shape(tuple(tgt_in.shape))} {tgt_in.dtype}"
            )
        if tgt_in.shape[0] != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {tgt_in.shape[0]} captions")
        state = self.init_state(images)
        embedded = self.drop(self.embedding(tgt_in))  # (B, S, E)
        features, alphas = [], []
        for t in range(tgt_in.shape[1]):
            feats, state = self._advance(embedded[:, t], state)  # (B, H + C)
            features.append(feats)
            assert state.attention is not None
            alphas.append(state.attention)  # (B, R)
        logits = self.head(self.drop(torch.stack(features, dim=1)))  # (B, S, H + C) -> (B, S, V)
        if return_attention:
            return logits, torch.stack(alphas, dim=1)  # (B, S, R)
        return logits

    def loss(
        self, images: Tensor, tgt_in: Tensor, tgt_out: Tensor, *, label_smoothing: float = 0.0
    ) -> Tensor:
        """Mean cross-entropy over the non-pad target tokens.

        Shape:
            images: (B, 3, H, W), tgt_in: (B, S), tgt_out: (B, S) -> ()
        """
        if tgt_out.shape != tgt_in.shape or tgt_out.is_floating_point():
            raise ValueError(
                f"expected tgt_out ids of shape {format_shape(tuple(tgt_in.shape))} (as tgt_in), "
                f"got {format_shape(tuple(tgt_out.shape))} {tgt_out.dtype}"
            )
        logits = self(images, tgt_in)
        assert isinstance(logits, Tensor)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),  # (B*S, V)
            tgt_out.reshape(-1),  # (B*S,)
            ignore_index=self.config.pad_id,
            label_smoothing=label_smoothing,
        )
