"""A BiLSTM(-CRF) sequence tagger: one tag per word (many-to-many, Tx = Ty).

The network of Lample et al. 2016 ("Neural Architectures for Named Entity Recognition"):
each word w<t> is represented by

    x<t> = [ e_word(lower(w<t>)) ; e_case(shape(w<t>)) ; char(w<t>) ]

a word embedding (looked up lower-cased; pretrained GloVe/word2vec rows, frozen or
fine-tuned, see :mod:`seqlab.models.embedding`), a small embedding of the word's casing
(:func:`case_feature`: lower, UPPER, Title, digits ...; the lower-cased lookup loses it) and,
optionally, character-level features: a character BiLSTM's two final states (Lample et al.)
or a character CNN max-pooled over the word (Ma & Hovy 2016). A bidirectional LSTM reads the
sentence, a linear layer turns [a→<t>; a←<t>] into the tag scores P[t, :] (the emissions),
with dropout on x<t> and on the LSTM's output:

    P[t] = W_p · dropout(BiLSTM(dropout(x))<t>) + b_p                     (C scores)

Output layer, one of two:

* softmax: ``P(y<t> | x) = softmax(P[t])``, trained with the token cross-entropy, decoded
  by ``argmax`` at each step;
* CRF (:class:`seqlab.nn.CRF`): ``p(y | x) = exp(s(x, y)) / Z(x)`` with ``s(x, y) = start[y_1]
  + Σ_t P[t, y_t] + Σ_t A[y_{t-1}, y_t] + end[y_n]``, trained with ``-log p(y | x)``, decoded
  by Viterbi (optionally constrained to well-formed IOB2/IOBES paths: :meth:`TaggerModel.
  constrain_to`).

Padding never changes a prediction: every sentence is packed by its length (the LSTM never
reads a padded step), characters beyond a word's end are masked out of the CNN's max (and
packed for the char BiLSTM), and the CRF masks padded steps. Tested in
``tests/test_tagger.py`` (a sentence alone or batched with longer ones gets identical tags).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab._validate import check_choice, from_fields
from seqlab.models.registry import register_model
from seqlab.nn import CRF, LSTM
from seqlab.shapes import check_shape

__all__ = [
    "CASES",
    "CharEncoder",
    "TaggerBatch",
    "TaggerModel",
    "TaggerModelConfig",
    "case_feature",
]

CharEncoder = Literal["none", "cnn", "lstm"]
# The casing classes of case_feature (id 0 is padding).
CASES = ("<pad>", "lower", "upper", "title", "numeric", "has_digit", "mixed", "other")


def case_feature(word: str) -> int:
    """The casing class of ``word`` (an index into :data:`CASES`, never 0): what a lower-cased
    word lookup forgets (Collobert et al. 2011; Chiu & Nichols 2016).

    >>> [CASES[case_feature(w)] for w in ("the", "EU", "Peter", "1996", "B52", "iPod", ",")]
    ['lower', 'upper', 'title', 'numeric', 'has_digit', 'mixed', 'other']
    """
    if word.isdigit():
        return 4
    if any(c.isdigit() for c in word):
        return 5
    if not any(c.isalpha() for c in word):
        return 7
    if word.islower():
        return 1
    if word.isupper():
        return 2
    if word[0].isupper() and (len(word) == 1 or word[1:].islower() or not word[1:].isalpha()):
        return 3
    return 6


@dataclass(frozen=True, kw_only=True)
class TaggerModelConfig:
    """Shape of a BiLSTM(-CRF) tagger."""

    vocab_size: int  # V: words (lower-cased) in the word vocabulary, specials included
    num_tags: int  # C: tags the network scores
    char_vocab_size: int = 2  # characters in the character vocabulary (<PAD>, <UNK> ...)
    word_dim: int = 100  # E: width of a word embedding (the vectors' width when pretrained)
    case_dim: int = 8  # width of the casing-class embedding (0: no case feature)
    char_encoder: CharEncoder = "cnn"  # character features: "cnn", "lstm" (BiLSTM) or "none"
    char_dim: int = 30  # width of a character embedding
    char_hidden: int = 50  # CNN filters, or the char BiLSTM's hidden size per direction
    char_kernel: int = 3  # CNN window (characters, odd)
    hidden_size: int = 200  # H: the sentence BiLSTM's hidden size per direction
    num_layers: int = 1  # L: stacked sentence BiLSTM layers
    dropout: float = 0.5  # on the word representation x<t> and on the BiLSTM output
    crf: bool = True  # a CRF output layer (else softmax, argmax decoding)
    frozen_vectors: bool = False  # rows with a pretrained vector stay fixed (the rest train)
    pad_id: int = 0  # the word and character vocabularies' <PAD> id

    def __post_init__(self) -> None:
        check_choice("char_encoder", self.char_encoder, get_args(CharEncoder))
        for name in ("vocab_size", "num_tags", "char_vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("word_dim", "char_dim", "char_hidden", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.case_dim < 0:
            raise ValueError(f"case_dim must be >= 0, got {self.case_dim}")
        if self.char_kernel < 1 or self.char_kernel % 2 == 0:
            raise ValueError(f"char_kernel must be odd and >= 1, got {self.char_kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def char_features(self) -> int:
        """Width of a word's character features (0 without them)."""
        if self.char_encoder == "none":
            return 0
        return self.char_hidden * (2 if self.char_encoder == "lstm" else 1)

    @property
    def input_size(self) -> int:
        """Width of x<t>: word embedding + case embedding + character features."""
        return self.word_dim + self.case_dim + self.char_features

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaggerModelConfig:
        return from_fields(cls, d)


@dataclass(frozen=True)
class TaggerBatch:
    """A padded batch of sentences, what :class:`TaggerModel` reads."""

    words: Tensor  # (B, T) word ids, <PAD> after each sentence's end
    chars: Tensor  # (B, T, W) character ids of each word, <PAD> after the word's end
    cases: Tensor  # (B, T) casing classes (0 at padded steps)
    lengths: Tensor  # (B,) words per sentence (>= 1), on the CPU or the model's device
    tags: Tensor | None = None  # (B, T) gold tag ids (any id at padded steps), for the loss


class _CharCNN(nn.Module):
    """Character CNN (Ma & Hovy 2016): embed, convolve, max over the word's characters."""

    def __init__(self, config: TaggerModelConfig) -> None:
        super().__init__()
        self.pad_id = config.pad_id
        self.embedding = nn.Embedding(
            config.char_vocab_size, config.char_dim, padding_idx=config.pad_id
        )
        self.conv = nn.Conv1d(
            config.char_dim, config.char_hidden, config.char_kernel, padding=config.char_kernel // 2
        )

    def forward(self, chars: Tensor) -> Tensor:
        """Shape: chars (N, W) -> (N, F); a word without characters gets zeros."""
        mask = chars != self.pad_id  # (N, W)
        x = self.embedding(chars).transpose(1, 2)  # (N, Ec, W); <PAD> rows are zero
        h = self.conv(x)  # (N, F, W): the zero <PAD> rows act as the conv's zero padding
        h = h.masked_fill(~mask[:, None, :], float("-inf"))  # (N, F, W)
        out = h.max(dim=2).values  # (N, F)
        return out.masked_fill(~mask.any(dim=1, keepdim=True), 0.0)  # (N, F)


class _CharLSTM(nn.Module):
    """Character BiLSTM (Lample et al. 2016): [a→<last char>; a←<first char>] of each word."""

    def __init__(self, config: TaggerModelConfig) -> None:
        super().__init__()
        self.pad_id = config.pad_id
        self.embedding = nn.Embedding(
            config.char_vocab_size, config.char_dim, padding_idx=config.pad_id
        )
        self.rnn = LSTM(config.char_dim, config.char_hidden, batch_first=True, bidirectional=True)

    def forward(self, chars: Tensor) -> Tensor:
        """Shape: chars (N, W) -> (N, 2*Hc); a word without characters gets zeros."""
        lengths = (chars != self.pad_id).sum(dim=1)  # (N,)
        out = chars.new_zeros(chars.shape[0], 2 * self.rnn.hidden_size, dtype=torch.float)
        real = lengths > 0  # (N,)
        if not bool(real.any()):
            return out  # (N, 2*Hc)
        x = self.embedding(chars[real])  # (N', W, Ec)
        packed = pack_padded_sequence(
            x, lengths[real].cpu(), batch_first=True, enforce_sorted=False
        )
        _, (h_n, _) = self.rnn(packed)  # (2, N', Hc)
        out = out.to(h_n.dtype)
        out[real] = torch.cat([h_n[0], h_n[1]], dim=1)  # (N', 2*Hc)
        return out  # (N, 2*Hc)


@register_model("tagger", "rnn")
class TaggerModel(nn.Module):
    """Word (+ case, + character) features → BiLSTM → linear → softmax or CRF."""

    config_class = TaggerModelConfig

    def __init__(self, config: TaggerModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.word_dim, padding_idx=c.pad_id)
        # With frozen_vectors, rows that have a pretrained vector are read from
        # `frozen_embedding` (no gradient) and the others from `embedding` (trained).
        self.frozen_embedding: nn.Embedding | None = None
        if c.frozen_vectors:
            self.frozen_embedding = nn.Embedding(c.vocab_size, c.word_dim, padding_idx=c.pad_id)
            self.frozen_embedding.weight.requires_grad_(False)
        self.register_buffer("pretrained", torch.zeros(c.vocab_size, dtype=torch.bool))
        self.case_embedding = (
            nn.Embedding(len(CASES), c.case_dim, padding_idx=0) if c.case_dim else None
        )
        self.chars: nn.Module | None = None
        if c.char_encoder == "cnn":
            self.chars = _CharCNN(c)
        elif c.char_encoder == "lstm":
            self.chars = _CharLSTM(c)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = LSTM(
            c.input_size,
            c.hidden_size,
            c.num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(2 * c.hidden_size, c.num_tags)
        self.crf = CRF(c.num_tags) if c.crf else None

    # -- pretrained vectors ----------------------------------------------------------------
    @torch.no_grad()
    def set_vectors(self, weight: Tensor, has_vector: Tensor) -> None:
        """Start the word embedding from ``weight`` (V, E); ``has_vector`` (V,) marks the rows
        that are pretrained (kept fixed when the config says ``frozen_vectors``)."""
        check_shape(weight, (self.config.vocab_size, self.config.word_dim), "weight")
        check_shape(has_vector, (self.config.vocab_size,), "has_vector")
        self.embedding.weight.copy_(weight)
        self.pretrained.copy_(has_vector.bool())
        if self.frozen_embedding is not None:
            self.frozen_embedding.weight.copy_(weight)

    def constrain_to(self, tag_names: list[str], scheme: Literal["iob2", "iobes"]) -> None:
        """CRF only: decode only well-formed ``scheme`` paths over ``tag_names`` (id order)."""
        if self.crf is not None:
            self.crf.constrain_to(tag_names, scheme)

    # -- the network -----------------------------------------------------------------------
    def _words(self, words: Tensor) -> Tensor:
        """Shape: (B, T) -> (B, T, E)."""
        x = self.embedding(words)  # (B, T, E)
        if self.frozen_embedding is not None:
            fixed = self.frozen_embedding(words)  # (B, T, E)
            x = torch.where(self.pretrained[words][..., None], fixed, x)  # (B, T, E)
        return x

    def emissions(self, batch: TaggerBatch) -> Tensor:
        """The tag scores P of every word.

        Shape:
            words, cases (B, T), chars (B, T, W), lengths (B,) -> (B, T, C); the rows of
            padded steps are meaningless (masked by the loss and the decoders)
        """
        words, lengths = batch.words, batch.lengths
        if words.dim() != 2:
            raise ValueError(f"expected word ids of shape (B, T), got {tuple(words.shape)}")
        b, t = words.shape
        parts = [self._words(words)]  # (B, T, E)
        if self.case_embedding is not None:
            parts.append(self.case_embedding(batch.cases))  # (B, T, Ecase)
        if self.chars is not None:
            check_shape(batch.chars, (f"B={b}", f"T={t}", "W"), "chars")
            feats = self.chars(batch.chars.reshape(b * t, -1))  # (B*T, Fc)
            parts.append(feats.reshape(b, t, -1))  # (B, T, Fc)
        x = self.drop(torch.cat(parts, dim=-1))  # (B, T, E + Ecase + Fc)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)  # (B, T, 2H)
        # P[t] = W_p a<t> + b_p
        return self.head(self.drop(out))  # (B, T, C)

    def forward(self, batch: TaggerBatch) -> Tensor:
        """Alias of :meth:`emissions`. Shape: (B, T) ... -> (B, T, C)."""
        return self.emissions(batch)

    @staticmethod
    def mask(lengths: Tensor, steps: int) -> Tensor:
        """Shape: lengths (B,) -> (B, T) bool, True on real words."""
        return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]  # (B, T)

    def loss(self, batch: TaggerBatch) -> Tensor:
        """Mean loss per word: the CRF's ``-log p(y | x)`` summed over the sentences and
        divided by the words, or the softmax's token cross-entropy.

        Shape:
            batch with tags (B, T) -> ()
        """
        if batch.tags is None:
            raise ValueError("the batch has no tags to compute a loss against")
        check_shape(batch.tags, tuple(batch.words.shape), "tags")
        emissions = self.emissions(batch)  # (B, T, C)
        mask = self.mask(batch.lengths.to(emissions.device), emissions.shape[1])  # (B, T)
        if self.crf is not None:
            return self.crf(emissions, batch.tags, mask, reduction="token_mean")
        # -Σ_t log softmax(P[t])[y_t] / n over the real words
        return F.cross_entropy(emissions[mask], batch.tags[mask])  # (N, C) -> ()

    @torch.no_grad()
    def decode(self, batch: TaggerBatch) -> list[list[int]]:
        """The best tag ids of each sentence (Viterbi with the CRF, else argmax per word), as
        lists of each sentence's length."""
        emissions = self.emissions(batch)  # (B, T, C)
        mask = self.mask(batch.lengths.to(emissions.device), emissions.shape[1])  # (B, T)
        if self.crf is not None:
            return self.crf.decode_lists(emissions, mask)
        best = emissions.argmax(dim=-1).tolist()  # (B, T)
        return [row[:n] for row, n in zip(best, batch.lengths.tolist(), strict=True)]
