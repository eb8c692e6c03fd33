"""Sequence classifiers: a whole sequence in, one class out (the course's Emojify, week 2).

Two architectures, registered as kind ``"classifier"``:

* ``"average"`` (:class:`AverageClassifier`, Emojify v1): the mean of the token embeddings,
  then a softmax layer::

      avg = (1/n) Σ_i e<i>,        z = W avg + b,        ŷ = softmax(z)

  The logit of class c is linear in the embeddings, so token i's exact share of it is
  ``W[c] · e<i> / n`` and the shares sum to ``z[c] - b[c]`` (:meth:`AverageClassifier.
  contributions`). Word order does not matter: "not happy" and "happy not" read the same.

* ``"rnn"`` (:class:`RNNClassifier`, Emojify v2): embeddings → LSTM → dropout → LSTM →
  dropout → softmax, generalised: ``cell`` lstm or gru, ``num_layers``, ``bidirectional``,
  and ``pooling`` of the top layer's activations a<1..n> into one vector:
  ``"last"`` (the course's: a<n>, and a←<1> for the backward direction), ``"max"``
  (element-wise max over the real steps), ``"mean"`` (their mean) or ``"max-mean"`` (both,
  concatenated). Input is token ids through an embedding table, or numeric feature vectors
  (B, T, F) through a linear projection x<t> = W_in f<t> + b_in (sensor streams, any
  many-to-one problem). With ``bigram_buckets`` > 0 the softmax layer also reads a bag of
  bigrams, as fastText's (Joulin et al. 2017, "Bag of Tricks"): each pair of neighbouring
  tokens is hashed into one of ``bigram_buckets`` learned G-vectors g<t>, averaged over the
  real steps and concatenated to the pooled RNN summary,
  ``z = W [pool(a<1..n>); (1/n) Σ_t g<t>] + b``: the RNN reads order and negation, the bag
  remembers many local phrases cheaply (IMDB reviews: ``benchmarks/classify.py``).

Padding never changes a prediction: the average is taken over the real tokens only, and the
RNN runs on the padded batch with each direction reading its real steps first
(:class:`PaddedRNN`: padding never reaches them) and pooling masked to the real steps.
Tested in ``tests/test_classifier.py``: a text alone and in a batch with longer ones gives the
same probabilities (1e-6), the average's logits and contributions against a NumPy
computation, each pooling against a loop over the examples run alone through ``torch.nn``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab._validate import from_fields
from seqlab.models.registry import register_model
from seqlab.models.rnn_architectures import RNNConfig, make_rnn
from seqlab.nn._sequence import reverse_time
from seqlab.nn.recurrent import Impl
from seqlab.shapes import format_shape

__all__ = [
    "AverageClassifier",
    "ClassifierConfig",
    "PaddedRNN",
    "Pooling",
    "RNNClassifier",
    "bigram_ids",
]

Pooling = Literal["last", "max", "mean", "max-mean"]
Cell = Literal["lstm", "gru"]
_BIGRAM_PRIME = 1_000_003  # hash multiplier of bigram_ids (ids stay far below 2^63 / it)


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    """Shape of a sequence classifier (both architectures; ``"average"`` reads only
    ``num_classes``, ``vocab_size``, ``embedding_dim``, ``dropout``, ``pad_id`` and
    ``freeze_embedding``)."""

    num_classes: int  # C: classes predicted
    vocab_size: int = 0  # V: token ids read (0 when the input is numeric features)
    input_features: int = 0  # F: width of numeric input vectors (0 when the input is tokens)
    embedding_dim: int = 50  # E: token embedding (or feature projection) width
    hidden_size: int = 128  # H: recurrent units per direction
    num_layers: int = 2  # L: stacked recurrent layers (the course's v2 has 2)
    cell: Cell = "lstm"  # recurrent cell: "lstm" or "gru"
    bidirectional: bool = False  # also read right to left (D = 2)
    pooling: Pooling = "last"  # top activations -> one vector: last, max, mean, max-mean
    dropout: float = 0.0  # between recurrent layers and before the softmax layer
    pad_id: int = 0  # padding id of token input (its embedding row is zero)
    freeze_embedding: bool = False  # keep the embedding table fixed (pretrained vectors)
    impl: Impl = "auto"  # how the recurrence runs (same function): auto, fused, bptt, loop
    bigram_buckets: int = 0  # "rnn", > 0: a bag of hashed bigram embeddings beside the RNN
    bigram_dim: int = 32  # G: width of a bigram embedding (with bigram_buckets > 0)

    def __post_init__(self) -> None:
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {self.num_classes!r}")
        if (self.vocab_size > 0) == (self.input_features > 0):
            raise ValueError(
                "give exactly one of vocab_size (token input) and input_features (numeric "
                f"input), got {self.vocab_size} and {self.input_features}"
            )
        if self.vocab_size < 0 or self.input_features < 0:
            raise ValueError("vocab_size and input_features must be >= 0")
        if self.pooling not in get_args(Pooling):
            raise ValueError(f"pooling must be one of {get_args(Pooling)}, got {self.pooling!r}")
        if self.cell not in get_args(Cell):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {self.cell!r}")
        if self.vocab_size and not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} not in [0, {self.vocab_size})")
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}")
        if self.bigram_buckets < 0 or self.bigram_dim < 1:
            raise ValueError(
                f"bigram_buckets must be >= 0 and bigram_dim >= 1, got {self.bigram_buckets} "
                f"and {self.bigram_dim}"
            )
        if self.bigram_buckets and self.input_features:
            raise ValueError("bigram_buckets needs token input (vocab_size), not features")
        self.rnn_config()  # validates the recurrent part (sizes, dropout, impl)

    @property
    def num_directions(self) -> int:
        """D: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def summary_size(self) -> int:
        """Width of the vector the softmax layer reads: D·H (2·D·H for max-mean), plus G
        with the bigram bag."""
        width = self.num_directions * self.hidden_size
        pooled = 2 * width if self.pooling == "max-mean" else width
        return pooled + (self.bigram_dim if self.bigram_buckets else 0)

    def rnn_config(self) -> RNNConfig:
        return RNNConfig(
            cell=self.cell,
            input_size=self.embedding_dim,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout if self.num_layers > 1 else 0.0,
            impl=self.impl,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifierConfig:
        return from_fields(cls, d)


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """True at the real steps of each padded sequence.

    Shape:
        lengths: (B,) -> (B, T)
    """
    positions = torch.arange(steps, device=lengths.device)  # (T,)
    return positions[None, :] < lengths[:, None]  # (B, T)


def bigram_ids(input: Tensor, buckets: int, start: int) -> Tensor:
    """The hashed bucket of each step's bigram (token t-1, token t); step 0 pairs with
    ``start``: (p · prev + token) mod ``buckets``, p = 1,000,003.

    Shape:
        input: (B, T) -> (B, T)
    """
    prev = torch.cat([torch.full_like(input[:, :1], start), input[:, :-1]], dim=1)  # (B, T)
    return (prev * _BIGRAM_PRIME + input) % buckets  # (B, T)


def _check_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    batch, steps = x.shape[0], x.shape[1]
    if lengths.shape != (batch,) or lengths.is_floating_point():
        raise ValueError(
            f"expected lengths of shape (B={batch},) integers, got "
            f"{format_shape(tuple(lengths.shape))} {lengths.dtype}"
        )
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise ValueError(
            f"lengths must lie in [1, T={steps}], got min {int(lengths.min())}, "
            f"max {int(lengths.max())}"
        )
    return lengths.to(x.device)


class _Classifier(nn.Module):
    """What both architectures share: the input layer (embedding or projection), the
    checks, and ``forward = from_embeddings(embed(input))``."""

    config: ClassifierConfig
    embedding: nn.Embedding | None

    def _make_input(self, config: ClassifierConfig) -> None:
        self.config = config
        self.embedding = None
        self.projection: nn.Linear | None = None
        if config.vocab_size:
            self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, config.pad_id)
            self.embedding.weight.requires_grad_(not config.freeze_embedding)
        else:
            self.projection = nn.Linear(config.input_features, config.embedding_dim)

    def embed(self, input: Tensor) -> Tensor:
        """The vectors the network reads: token embeddings e<t> or projected features.

        Shape:
            input: (B, T) ids or (B, T, F) features -> (B, T, E)
        """
        c = self.config
        if self.embedding is not None:
            if input.dim() != 2 or input.is_floating_point() or input.shape[1] == 0:
                raise ValueError(
                    f"expected token ids of shape (B, T), got {input.dtype} "
                    f"{format_shape(tuple(input.shape))}"
                )
            return self.embedding(input)  # (B, T, E)
        assert self.projection is not None
        if input.dim() != 3 or input.shape[-1] != c.input_features or input.shape[1] == 0:
            raise ValueError(
                f"expected features of shape (B, T, F={c.input_features}), got "
                f"{format_shape(tuple(input.shape))}"
            )
        # x<t> = W_in f<t> + b_in
        return self.projection(input.float())  # (B, T, E)

    def from_embeddings(self, x: Tensor, lengths: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, input: Tensor, lengths: Tensor) -> Tensor:
        """Logits of each sequence's class (apply softmax for probabilities).

        Shape:
            input: (B, T) ids or (B, T, F) features, lengths: (B,) -> logits (B, C)
        """
        x = self.embed(input)  # (B, T, E)
        return self.from_embeddings(x, lengths)  # (B, C)


@register_model("classifier", "average")
class AverageClassifier(_Classifier):
    """The course's Emojify v1: softmax(W · mean(e<1..n>) + b) (see the module docstring)."""

    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        if not config.vocab_size:
            raise ValueError("the average classifier reads tokens: give vocab_size")
        self._make_input(config)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.embedding_dim, config.num_classes)  # W (C, E), b (C,)

    def from_embeddings(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Logits from embedded tokens, averaged over each sequence's real tokens.

        Shape:
            x: (B, T, E), lengths: (B,) -> logits (B, C)
        """
        lengths = _check_lengths(x, lengths)
        mask = length_mask(lengths, x.shape[1]).unsqueeze(-1)  # (B, T, 1)
        # avg = (1/n) Σ_i e<i>
        avg = (x * mask).sum(dim=1) / lengths[:, None].to(x.dtype)  # (B, E)
        # z = W avg + b
        return self.head(self.drop(avg))  # (B, C)

    def contributions(self, x: Tensor, lengths: Tensor, classes: Tensor) -> Tensor:
        """Each token's exact share of its sequence's logit of ``classes``: W[c] · e<i> / n
        (zero at padding); a row sums to z[c] - b[c].

        Shape:
            x: (B, T, E), lengths: (B,), classes: (B,) -> (B, T)
        """
        lengths = _check_lengths(x, lengths)
        w = self.head.weight[classes]  # (B, E)
        share = torch.einsum("bte,be->bt", x, w) / lengths[:, None].to(x.dtype)  # (B, T)
        return share * length_mask(lengths, x.shape[1])  # (B, T)


class PaddedRNN(nn.Module):
    """A deep (bidirectional) RNN run on right-padded batches, exactly as if each sequence
    were run alone.

    torch's CPU kernels are many times slower on a ``PackedSequence`` than on a padded
    batch (``docs/classification.md`` has the figures), so the batch stays padded and
    padding is kept away from the real steps instead: each layer and direction is a
    one-layer :mod:`seqlab.nn` module; the forward one reads the padded batch (its padding
    comes after the real steps, so it never reaches them) and the backward one reads each
    sequence reversed within its own length (:func:`seqlab.nn._sequence.reverse_time`), so
    its padding comes last too. Outputs at padded steps are meaningless and must be masked.
    """

    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        self.config = config
        d, hidden = config.num_directions, config.hidden_size
        self.layers = nn.ModuleList(
            nn.ModuleList(
                make_rnn(
                    replace(
                        config,
                        input_size=config.input_size if k == 0 else d * hidden,
                        num_layers=1,
                        bidirectional=False,
                        dropout=0.0,
                    ),
                    batch_first=False,
                )
                for _ in range(d)
            )
            for k in range(config.num_layers)
        )

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """The top layer's activations at every step and its final states [a→<n>; a←<1>].

        Shape:
            x: (B, T, E), lengths: (B,) -> output (B, T, D*H) (meaningless at padded
            steps), final (B, D*H)
        """
        lens = lengths.to(x.device)
        batch = x.shape[0]
        layer_input = x.transpose(0, 1)  # (T, B, E)
        finals: list[Tensor] = []
        for k, directions in enumerate(self.layers):
            outs, finals = [], []
            for d, rnn in enumerate(directions):
                xin = layer_input if d == 0 else reverse_time(layer_input, lens)  # (T, B, ·)
                out, _ = rnn(xin)  # (T, B, H)
                # the state after each sequence's last real step (forward: a→<n>; backward:
                # a←<1>, read last in the reversed order)
                finals.append(out[lens - 1, torch.arange(batch, device=x.device)])  # (B, H)
                outs.append(out if d == 0 else reverse_time(out, lens))  # (T, B, H)
            layer_input = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]  # (T, B, D*H)
            if self.training and self.config.dropout > 0 and k < len(self.layers) - 1:
                layer_input = F.dropout(layer_input, self.config.dropout, training=True)
        return layer_input.transpose(0, 1), torch.cat(finals, dim=-1)  # (B, T, D*H), (B, D*H)


@register_model("classifier", "rnn")
class RNNClassifier(_Classifier):
    """The course's Emojify v2 and its generalisations (see the module docstring)."""

    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self._make_input(config)
        self.rnn = PaddedRNN(config.rnn_config())
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.summary_size, config.num_classes)
        self.bigrams: nn.Embedding | None = None
        if config.bigram_buckets:
            self.bigrams = nn.Embedding(config.bigram_buckets, config.bigram_dim)
            nn.init.normal_(self.bigrams.weight, 0.0, 0.01)

    def embed(self, input: Tensor) -> Tensor:
        """Token embeddings e<t>, followed with the bigram bag by the embedding g<t> of the
        bigram ending at t (so that ``explain`` credits each token with both).

        Shape:
            input: (B, T) ids or (B, T, F) features -> (B, T, E), or (B, T, E + G)
        """
        x = super().embed(input)  # (B, T, E)
        if self.bigrams is None:
            return x
        c = self.config
        grams = self.bigrams(bigram_ids(input, c.bigram_buckets, c.pad_id))  # (B, T, G)
        return torch.cat([x, grams], dim=-1)  # (B, T, E + G)

    def pool(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The RNN over each sequence's real steps, pooled into one vector.

        Shape:
            x: (B, T, E), lengths: (B,) -> (B, D*H), or (B, 2*D*H) for max-mean
        """
        lengths = _check_lengths(x, lengths)
        c = self.config
        seq, final = self.rnn(x, lengths)  # (B, T, D*H), (B, D*H)
        if c.pooling == "last":
            return final  # [a→<n>; a←<1>]
        mask = length_mask(lengths, x.shape[1]).unsqueeze(-1)  # (B, T, 1)
        seq = seq * mask  # padded steps: zeros
        parts = []
        if c.pooling in ("max", "max-mean"):
            # max_t a<t> over the real steps
            parts.append(seq.masked_fill(~mask, float("-inf")).amax(dim=1))  # (B, D*H)
        if c.pooling in ("mean", "max-mean"):
            # (1/n) Σ_t a<t> over the real steps
            parts.append(seq.sum(dim=1) / lengths[:, None].to(seq.dtype))  # (B, D*H)
        return torch.cat(parts, dim=-1)  # (B, D*H) or (B, 2*D*H)

    def from_embeddings(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Logits from embedded inputs.

        Shape:
            x: (B, T, E), or (B, T, E + G) with the bigram bag, lengths: (B,) -> logits (B, C)
        """
        if self.bigrams is None:
            # ŷ = softmax(W_y pool(a<1..n>) + b_y), softmax left to the loss
            return self.head(self.drop(self.pool(x, lengths)))  # (B, C)
        e = self.config.embedding_dim
        words, grams = x[..., :e], x[..., e:]  # (B, T, E), (B, T, G)
        pooled = self.pool(words, lengths)  # (B, P); lengths checked
        mask = length_mask(lengths.to(x.device), x.shape[1]).unsqueeze(-1)  # (B, T, 1)
        # bag = (1/n) Σ_t g<t> over the real steps; ŷ = softmax(W_y [pool; bag] + b_y)
        bag = (grams * mask).sum(dim=1) / lengths.to(x.device)[:, None].to(x.dtype)  # (B, G)
        return self.head(self.drop(torch.cat([pooled, bag], dim=-1)))  # (B, C)
