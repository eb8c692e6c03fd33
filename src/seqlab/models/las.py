"""Listen, Attend and Spell (Chan, Jaitly, Le & Vinyals 2016): attention speech recognition.

The course's other route from audio to text: instead of CTC's per-frame labels, an encoder
(the *listener*) reads the log-mel frames x<1..T> and an attention decoder (the *speller*)
writes the transcript one character at a time, like a translator::

    listener: h⁰ = BiRNN(x)                                  (T frames, width 2H)
              hˡ<u> = BiRNN([hˡ⁻¹<2u-1>; hˡ⁻¹<2u>])           (pyramid: each layer halves time)
              h = hᴸ⁻¹                                          U = ceil(T / 2^(L-1)) frames
    speller:  s<i>, m<i> = LSTM([E y<i-1>; c<i-1>], (s<i-1>, m<i-1>))
              e<i,u> = vᵀ tanh(W_s s<i> + W_h h<u> + b),  α<i,·> = softmax_u(e<i,·>)
                       (+ W_f f<i,u> inside the tanh, f<i> = F * α<i-1>: location-aware)
              c<i> = Σ_u α<i,u> h<u>
              P(y<i> | x, y<<i>) = softmax(W_y tanh(W_o [s<i>; c<i>] + b_o) + b_y)
    start:    s<0> = m<0> = 0, c<0> = 0, y<0> = <SOS>

The listener is the paper's pyramidal BiLSTM (``cell="gru"`` for a BiGRU): before each layer
above the first, consecutive pairs of frames are concatenated (an odd last frame is paired
with zeros), so the speller attends over U ≪ T frames. As in the paper the speller's state
s<i> is the attention's query (the score uses the state after reading y<i-1>, not before),
and the attention is additive (:class:`seqlab.nn.attention.BahdanauAttention`, the paper's
"MLP" attention); the cell is :class:`seqlab.nn.cells.LSTMCell`.

``attention="location"`` makes the attention location-aware, as in Chorowski,
Bahdanau, Serdyuk, Cho & Bengio (2015), "Attention-Based Models for Speech Recognition"
(their eq. 5-9): k filters F of width r convolve the previous weights α<i-1> (zero-padded
at both ends) into location features f<i,u> ∈ Rᵏ, whose projection W_f f<i,u> joins the
energy, so the speller knows where it read last and moves on from there. The first step
reads α<0> uniform over the item's frames. The default stays the LAS paper's content-only
attention (``"content"``), which sees only what a frame says: on the tests' tone-word
sequences it learned as well or better in the same steps (``docs/speech.md``).

``ctc_weight`` = λ > 0 trains the listener with CTC as well (Kim, Hori & Watanabe 2017,
"Joint CTC-attention based end-to-end speech recognition using multi-task learning"): a
linear layer reads h<u> and scores the characters and a blank (``<PAD>``'s id) at every
listener frame, and the loss is ``(1 - λ) CE + λ CTC``. CTC's alignment is monotonic, so
the listener learns to place each character in time, which is what keeps the attention from
jumping back and looping. :class:`JointCTCDecoder` also decodes with it (Watanabe, Hori,
Kim, Hershey & Hayashi 2017, "Hybrid CTC/Attention Architecture for End-to-End Speech
Recognition", Algorithm 2): each step's score of a character c after a prefix g is

    (1 - μ) ln P_att(c | x, g) + μ (ln ψ(g c) - ln ψ(g)),   ψ(<EOS> after g) = P_ctc(g | x)

where ψ(h) is CTC's prefix probability (every labelling that starts with h), so a
transcript is scored ``(1 - μ) ln P_att + μ ln P_ctc`` in the end. CTC knows when the
speech has run out, which the attention alone does not: once g covers the recording,
P_ctc(g | x) beats every longer prefix and ``<EOS>`` wins.

Padding never changes an output: the listener reads each item packed by its length (the
zeros beyond it are what a lone item's odd frame is paired with) and the attention gives the
frames beyond an item's U no weight.

Decoding protocol (:mod:`seqlab.decoding.protocol`): ``init_state(features, lengths)`` runs
the listener once and projects the attention keys; ``step(tokens, state)`` reads y<i-1> and
returns log P(y<i> | x, y<<i>) and the next :class:`LASState` (``attention``: α<i,·>);
``reorder_state`` selects batch rows. ``forward`` is teacher forcing over the same step, so
greedy search, beam search and the beam error analysis of :mod:`seqlab.decoding` serve it.

Tested in ``tests/test_las.py``: the equations (both attentions) against a plain
re-implementation over torch.nn modules, stepping equals teacher forcing, a padded batch
equals its items alone, the pyramid's lengths, greedy search equals beam search of width 1,
and a small model learns synthetic tone words.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab._validate import check_choice, check_positive_int, from_fields
from seqlab.decoding.protocol import check_row_index, check_step_tokens, select_rows
from seqlab.functional.ctc import CTCInfeasibleWarning, ctc_loss
from seqlab.models.registry import register_model
from seqlab.nn import GRU, LSTM
from seqlab.nn.attention import BahdanauAttention
from seqlab.nn.cells import LSTMCell
from seqlab.shapes import format_shape

__all__ = [
    "JointCTCDecoder",
    "JointState",
    "LASConfig",
    "LASState",
    "ListenAttendSpell",
    "LocationFeatures",
]

Cell = Literal["gru", "lstm"]
Attention = Literal["content", "location"]


@dataclass(frozen=True, kw_only=True)
class LASConfig:
    """Shape of a Listen, Attend and Spell network."""

    vocab_size: int = 4  # V: characters + <PAD>, <SOS>, <EOS> (set from the vocabulary)
    n_features: int = 40  # F: log-mel bands per input frame
    cell: Cell = "lstm"  # the listener's recurrent layers: "lstm" (the paper's) or "gru"
    hidden_size: int = 128  # H: listener hidden size per direction (h is 2H wide)
    num_layers: int = 3  # listener layers: one plain, then num_layers - 1 pyramidal ones
    embedding_dim: int = 32  # E: width of a character embedding
    decoder_size: int = 256  # the speller LSTM's state width
    attention_dim: int = 128  # A: hidden width of the attention's scoring network
    attention: Attention = "content"  # "content": the LAS paper's, the frames' content only;
    # "location": the energy also reads F * α<i-1> (Chorowski et al. 2015)
    location_channels: int = 10  # k: filters F convolving α<i-1> ("location" only)
    location_kernel: int = 15  # r: their width in listener frames (odd; "location" only)
    dropout: float = 0.1  # between listener layers, on embeddings and before the output
    pad_id: int = 0  # padding id in target batches (zero embedding, ignored by the loss;
    # the blank of the CTC loss)
    ctc_weight: float = 0.0  # λ: loss = (1 - λ) CE + λ CTC over the listener frames (0: none)

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, get_args(Cell))
        check_choice("attention", self.attention, get_args(Attention))
        for name in ("vocab_size", "n_features", "hidden_size", "num_layers", "embedding_dim"):
            check_positive_int(name, getattr(self, name))
        for name in ("decoder_size", "attention_dim", "location_channels"):
            check_positive_int(name, getattr(self, name))
        if self.location_kernel < 1 or self.location_kernel % 2 == 0:
            raise ValueError(f"location_kernel must be odd and >= 1, got {self.location_kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.ctc_weight < 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1), got {self.ctc_weight}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} not in [0, {self.vocab_size})")

    @property
    def reduction(self) -> int:
        """How many input frames one listener frame spans (2 ** (num_layers - 1))."""
        return 2 ** (self.num_layers - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LASConfig:
        """The config saved by :meth:`to_dict` (one saved before ``attention`` existed is
        content-only: its weights have no location filters; one saved before ``ctc_weight``
        has no CTC layer)."""
        return from_fields(cls, {"attention": "content", "ctc_weight": 0.0, **d})


@dataclass(frozen=True, eq=False)
class LASState:
    """The speller's state between steps; every tensor carries the batch in dim 0."""

    hidden: Tensor  # (B, D): s<i>
    cell: Tensor  # (B, D): m<i>, the LSTM's memory
    context: Tensor  # (B, 2H): c<i>, read by the next step
    values: Tensor  # (B, U, 2H): the listener's h<u>
    keys: Tensor  # (B, U, A): W_h h<u> + b, projected once
    mask: Tensor  # (B, U) bool: True on the frames of each item
    attention: Tensor | None = None  # (B, U): the last step's α<i,·>; None before a step
    # (a location-aware step then reads α<0>, uniform over each item's frames)

    @property
    def batch_size(self) -> int:
        return self.hidden.shape[0]


def _pair_frames(x: Tensor) -> Tensor:
    """Consecutive frames side by side: [x<2u-1>; x<2u>], an odd last frame with zeros.

    Shape:
        x: (B, T, W) -> (B, ceil(T / 2), 2W)
    """
    if x.shape[1] % 2:
        x = F.pad(x, (0, 0, 0, 1))  # (B, T + 1, W)
    return x.reshape(x.shape[0], x.shape[1] // 2, 2 * x.shape[2])  # (B, T/2, 2W)


class LocationFeatures(nn.Module):
    """The location term of Chorowski et al.'s energy: W_f f<i,u> with f<i> = F * α<i-1>.

    ``filters.weight`` is F (k, 1, r), convolved over the frames with r // 2 zeros at each
    end and no bias; ``proj.weight`` is W_f (A, k).

    Shape:
        previous: (B, U) α<i-1> -> (B, U, A)
    """

    def __init__(self, channels: int, kernel_size: int, attention_dim: int) -> None:
        super().__init__()
        self.filters = nn.Conv1d(1, channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.proj = nn.Linear(channels, attention_dim, bias=False)  # W_f

    def forward(self, previous: Tensor) -> Tensor:
        f = self.filters(previous[:, None, :])  # (B, 1, U) -> (B, k, U): f<i> = F * α<i-1>
        return self.proj(f.transpose(1, 2))  # (B, U, k) -> (B, U, A): W_f f<i,u>


@register_model("speech", "las")
class ListenAttendSpell(nn.Module):
    """Pyramidal BiRNN listener + attention LSTM speller over characters (module doc)."""

    config_class = LASConfig

    def __init__(self, config: LASConfig) -> None:
        super().__init__()
        self.config = c = config
        rnn = LSTM if c.cell == "lstm" else GRU
        self.listener = nn.ModuleList(
            rnn(c.n_features if i == 0 else 4 * c.hidden_size, c.hidden_size,
                batch_first=True, bidirectional=True)
            for i in range(c.num_layers)
        )  # fmt: skip
        width = 2 * c.hidden_size
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, c.pad_id)
        self.cell = LSTMCell(c.embedding_dim + width, c.decoder_size)
        self.attention = BahdanauAttention(c.decoder_size, width, c.attention_dim)
        self.location = (
            LocationFeatures(c.location_channels, c.location_kernel, c.attention_dim)
            if c.attention == "location"
            else None
        )
        self.mix = nn.Linear(c.decoder_size + width, c.decoder_size)  # W_o, b_o
        self.head = nn.Linear(c.decoder_size, c.vocab_size)  # W_y, b_y
        self.ctc_head = nn.Linear(width, c.vocab_size) if c.ctc_weight > 0 else None
        self.drop = nn.Dropout(c.dropout)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Listener frames U for inputs of ``lengths`` frames: each pyramidal layer maps L
        to ceil(L / 2).

        Shape:
            lengths: (B,) -> (B,)
        """
        out = torch.as_tensor(lengths, dtype=torch.long)
        for _ in range(self.config.num_layers - 1):
            out = (out + 1) // 2
        return out

    # -- listener ------------------------------------------------------------------------
    def listen(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """The listener's h<1..U> of each item (zeros beyond its U) and the U's.

        Shape:
            features: (B, T, F), lengths: (B,) -> h (B, U, 2H), out_lengths (B,)
        """
        c = self.config
        if features.dim() != 3 or features.shape[-1] != c.n_features:
            raise ValueError(
                f"expected features of shape (B, T, F={c.n_features}), "
                f"got {format_shape(tuple(features.shape))}"
            )
        if lengths.shape != features.shape[:1]:
            raise ValueError(
                f"expected lengths of shape (B={features.shape[0]},), "
                f"got {format_shape(tuple(lengths.shape))}"
            )
        x, lengths = features, lengths.to("cpu", torch.long)
        for i, rnn in enumerate(self.listener):
            if i:
                x = _pair_frames(self.drop(x))  # (B, T, 2H) -> (B, ceil(T/2), 4H)
                lengths = (lengths + 1) // 2
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = rnn(packed)
            x, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, U, 2H)
        return x, lengths.to(features.device)

    # -- the decoding step protocol ------------------------------------------------------
    def init_state(self, features: Tensor, lengths: Tensor) -> LASState:
        """Listen once; the speller's state before its first step.

        Shape:
            features: (B, T, F), lengths: (B,) -> LASState for B transcripts
        """
        values, out_lengths = self.listen(features, lengths)  # (B, U, 2H), (B,)
        batch, frames = values.shape[:2]
        mask = torch.arange(frames, device=values.device)[None, :] < out_lengths[:, None]  # (B, U)
        zeros = values.new_zeros(batch, self.config.decoder_size)  # (B, D): s<0> = m<0> = 0
        keys = self.attention.project_keys(values)  # (B, U, A)
        return LASState(zeros, zeros, values.new_zeros(batch, values.shape[2]), values, keys, mask)

    def _advance(self, emb: Tensor, state: LASState) -> tuple[Tensor, LASState]:
        """Read one embedded y<i-1>; return the output layer's input and the next state.

        Shape:
            emb: (B, E) -> (B, D)
        """
        # s<i>, m<i> = LSTM([E y<i-1>; c<i-1>], (s<i-1>, m<i-1>))
        s, m = self.cell(torch.cat([emb, state.context], dim=-1), (state.hidden, state.cell))
        # α<i,·> = softmax_u(vᵀ tanh(W_s s<i> + W_h h<u> + b [+ W_f f<i,u>])),
        # c<i> = Σ_u α<i,u> h<u>
        keys = state.keys  # (B, U, A): W_h h<u> + b
        if self.location is not None:
            previous = state.attention
            if previous is None:  # α<0>: uniform over each item's frames
                mask = state.mask.to(keys.dtype)  # (B, U)
                previous = mask / mask.sum(1, keepdim=True)  # (B, U)
            keys = keys + self.location(previous)  # (B, U, A)
        context, alphas = self.attention(
            s, keys, state.values, state.mask, keys_projected=True
        )  # (B, 2H), (B, U)
        mixed = torch.tanh(self.mix(torch.cat([s, context], dim=-1)))  # (B, D + 2H) -> (B, D)
        return self.drop(mixed), replace(state, hidden=s, cell=m, context=context, attention=alphas)

    def step(self, tokens: Tensor, state: LASState) -> tuple[Tensor, LASState]:
        """Read y<i-1> for each transcript; return log P(y<i> | x, y<<i>) and the new state.

        Shape:
            tokens: (B,) ids -> log_probs (B, V), state (``state.attention``: (B, U))
        """
        batch = state.batch_size
        check_step_tokens(tokens, batch)
        mixed, state = self._advance(self.drop(self.embedding(tokens)), state)  # (B, D)
        return F.log_softmax(self.head(mixed), dim=-1), state  # (B, V)

    def reorder_state(self, state: LASState, index: Tensor) -> LASState:
        """Select (and repeat) batch rows, e.g. for beam search.

        Shape:
            index: (B',) ids into the batch -> a state for B' transcripts
        """
        check_row_index(index)
        return select_rows(state, index)  # every tensor: (B, ...) -> (B', ...)

    # -- training ------------------------------------------------------------------------
    def forward(
        self, features: Tensor, lengths: Tensor, tgt_in: Tensor, *, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Teacher forcing: logits of y<i> at every step, reading the true y<i-1>
        (``tgt_in[:, 0]`` is ``<SOS>``). Returns ``logits``, or ``(logits, attention)``.

        Shape:
            features: (B, T, F), lengths: (B,), tgt_in: (B, S) ids
            -> logits (B, S, V) [, attention (B, S, U)]
        """
        state = self.init_state(features, lengths)
        logits, alphas = self._teacher_forced(state, features, tgt_in)  # (B, S, V), (B, S, U)
        return (logits, alphas) if return_attention else logits

    def _teacher_forced(
        self, state: LASState, features: Tensor, tgt_in: Tensor
    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward`'s logits and attention from the listener's ``state``.

        Shape:
            features: (B, T, F), tgt_in: (B, S) -> (B, S, V), (B, S, U)
        """
        if tgt_in.dim() != 2 or tgt_in.is_floating_point() or tgt_in.shape[1] == 0:
            raise ValueError(
                f"expected tgt_in ids of shape (B, S) with S >= 1, "
                f"got {format_shape(tuple(tgt_in.shape))} {tgt_in.dtype}"
            )
        if tgt_in.shape[0] != features.shape[0]:
            raise ValueError(f"{features.shape[0]} recordings but {tgt_in.shape[0]} transcripts")
        embedded = self.drop(self.embedding(tgt_in))  # (B, S, E)
        outputs, alphas = [], []
        for i in range(tgt_in.shape[1]):
            mixed, state = self._advance(embedded[:, i], state)  # (B, D)
            outputs.append(mixed)
            alphas.append(state.attention)
        logits = self.head(torch.stack(outputs, dim=1))  # (B, S, D) -> (B, S, V)
        return logits, torch.stack(alphas, dim=1)  # type: ignore[arg-type]  # (B, S, U)

    def loss(self, features: Tensor, lengths: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> Tensor:
        """Mean cross-entropy over the non-pad target characters (``</s>`` included); with
        ``ctc_weight`` λ > 0, ``(1 - λ) CE + λ CTC`` (:meth:`ctc_loss`).

        Shape:
            features: (B, T, F), lengths: (B,), tgt_in: (B, S), tgt_out: (B, S) -> ()
        """
        if tgt_out.shape != tgt_in.shape or tgt_out.is_floating_point():
            raise ValueError(
                f"expected tgt_out ids of shape {format_shape(tuple(tgt_in.shape))} (as tgt_in), "
                f"got {format_shape(tuple(tgt_out.shape))} {tgt_out.dtype}"
            )
        state = self.init_state(features, lengths)
        logits, _ = self._teacher_forced(state, features, tgt_in)  # (B, S, V)
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),  # (B*S, V)
            tgt_out.reshape(-1),  # (B*S,)
            ignore_index=self.config.pad_id,
        )
        weight = self.config.ctc_weight
        if weight == 0:
            return ce
        return (1 - weight) * ce + weight * self._ctc(state, tgt_in[:, 1:])

    def ctc_loss(self, features: Tensor, lengths: Tensor, targets: Tensor) -> Tensor:
        """The listener's CTC loss (``ctc_weight`` > 0 only): ``-ln P_ctc(y | x)`` over the
        listener frames, blank ``pad_id``, each item's divided by its length, averaged over
        the batch (``F.ctc_loss``'s "mean"; an item with fewer frames than its transcript
        needs counts zero).

        Shape:
            features: (B, T, F), lengths: (B,), targets: (B, S) characters, padded -> ()
        """
        return self._ctc(self.init_state(features, lengths), targets)

    def _ctc(self, state: LASState, targets: Tensor) -> Tensor:
        """CTC over ``state``'s listener frames (:meth:`ctc_loss`).

        Shape:
            targets: (B, S) padded with pad_id -> ()
        """
        if self.ctc_head is None:
            raise ValueError("this model has no CTC layer (ctc_weight is 0)")
        pad = self.config.pad_id
        log_probs = F.log_softmax(self.ctc_head(state.values), dim=-1)  # (B, U, V)
        with warnings.catch_warnings():  # the few infeasible items count zero (docstring)
            warnings.simplefilter("ignore", CTCInfeasibleWarning)
            return ctc_loss(
                log_probs.transpose(0, 1), targets, state.mask.sum(1), (targets != pad).sum(1),
                blank=pad, zero_infinity=True, impl="torch",
            )  # fmt: skip  # (U, B, V) -> ()


@dataclass(frozen=True, eq=False)
class JointState:
    """:class:`JointCTCDecoder`'s state: the speller's, and CTC's forward variables of the
    prefix read so far; every tensor carries the batch in dim 0."""

    las: LASState  # the speller's state
    log_probs: Tensor  # (B, U, V): CTC's ln y<u>_k over the listener frames (-inf beyond U_b)
    forward: Tensor  # (B, U, 2): ln r_n(u), ln r_b(u) of the prefix g (ends in a label / blank)
    psi: Tensor  # (B,): ln ψ(g), the prefix probability (0 for the empty prefix)
    last: Tensor  # (B,): g's last label (-1 for the empty prefix)
    next_forward: Tensor  # (B, V, U, 2): the forward variables of every g c (for the next step)
    next_psi: Tensor  # (B, V): ln ψ(g c)
    frames: Tensor  # (B,): U_b, listener frames of each recording

    @property
    def batch_size(self) -> int:
        return self.psi.shape[0]


class JointCTCDecoder:
    """Decoding with the speller and the listener's CTC layer together (module docstring):
    a step model (``init_state`` / ``step`` / ``reorder_state``) for the shared search driver.

    ``weight`` is μ; ``eos_id`` the end token, scored with P_ctc(g | x); ``sos_id`` the
    start token, read first. The model needs a CTC layer (``ctc_weight > 0`` in training);
    its blank is ``pad_id``. ``<PAD>`` and ``<SOS>`` are never proposed.
    """

    def __init__(self, model: ListenAttendSpell, weight: float, *, sos_id: int, eos_id: int):
        if model.ctc_head is None:
            raise ValueError("joint CTC decoding needs a model trained with a CTC layer "
                             "(ctc_weight > 0)")  # fmt: skip
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"the joint CTC weight must be in (0, 1], got {weight}")
        self.model, self.weight = model, weight
        self.sos_id, self.eos_id, self.blank = sos_id, eos_id, model.config.pad_id

    def init_state(self, features: Tensor, lengths: Tensor) -> JointState:
        """Listen once; CTC's posteriors over the listener frames; the empty prefix.

        Shape:
            features: (B, T, F), lengths: (B,) -> JointState for B transcripts
        """
        las = self.model.init_state(features, lengths)
        assert self.model.ctc_head is not None
        lp = F.log_softmax(self.model.ctc_head(las.values), dim=-1)  # (B, U, V)
        lp = lp.masked_fill(~las.mask[:, :, None], float("-inf"))  # (B, U, V)
        batch, frames, vocab = lp.shape
        ninf = lp.new_full((batch, frames), float("-inf"))  # (B, U)
        # the empty prefix: r_n = 0 (ln), r_b(u) = Σ_{τ<=u} ln y<τ>_blank
        forward = torch.stack([ninf, lp[:, :, self.blank].cumsum(1)], dim=-1)  # (B, U, 2)
        psi = lp.new_zeros(batch)  # (B,): ψ(∅) = 1
        last = torch.full((batch,), -1, dtype=torch.long, device=lp.device)  # (B,)
        empty = forward.new_zeros(batch, vocab, frames, 2)  # (B, V, U, 2): set by step
        return JointState(las, lp, forward, psi, last, empty, lp.new_zeros(batch, vocab),
                          las.mask.sum(1))  # fmt: skip

    def _extend(self, state: JointState) -> tuple[Tensor, Tensor]:
        """CTC's forward variables and prefix probability of g c for every label c
        (Watanabe et al. 2017, Algorithm 2), with ψ(g <EOS>) = P_ctc(g | x).

        Shape:
            -> forward (B, V, U, 2), psi (B, V)
        """
        lp, (rn, rb) = state.log_probs, state.forward.unbind(-1)  # (B, U, V), (B, U) x 2
        batch, frames, vocab = lp.shape
        ninf = float("-inf")
        labels = torch.arange(vocab, device=lp.device)  # (V,)
        same = labels[None, :] == state.last[:, None]  # (B, V): c is g's last label
        # Φ(u) = r_b^g(u) + r_n^g(u), without r_n when c repeats g's last label
        phi = torch.where(same[:, :, None], rb[:, None, :],
                          torch.logaddexp(rb, rn)[:, None, :])  # fmt: skip  # (B, V, U)
        y = lp.transpose(1, 2)  # (B, V, U): ln y<u>_c
        new_n = lp.new_full((batch, vocab, frames), ninf)  # (B, V, U)
        new_b = lp.new_full((batch, vocab, frames), ninf)  # (B, V, U)
        start = state.last < 0  # (B,): g is empty, so c may start at frame 0
        new_n[:, :, 0] = torch.where(start[:, None], y[:, :, 0], ninf)  # (B, V)
        psi = new_n[:, :, 0].clone()  # (B, V)
        blank = lp[:, :, self.blank]  # (B, U)
        for u in range(1, frames):
            # r_n^h(u) = (r_n^h(u-1) ⊕ Φ(u-1)) y<u>_c
            # r_b^h(u) = (r_b^h(u-1) ⊕ r_n^h(u-1)) y<u>_blank
            new_n[:, :, u] = torch.logaddexp(new_n[:, :, u - 1], phi[:, :, u - 1]) + y[:, :, u]
            new_b[:, :, u] = (torch.logaddexp(new_b[:, :, u - 1], new_n[:, :, u - 1])
                              + blank[:, u, None])  # fmt: skip
            psi = torch.logaddexp(psi, phi[:, :, u - 1] + y[:, :, u])  # ψ += Φ(u-1) y<u>_c
        index = (state.frames - 1).clamp_min(0)[:, None]  # (B, 1): the last frame U_b - 1
        full = torch.logaddexp(rn.gather(1, index), rb.gather(1, index))[:, 0]  # (B,)
        psi[:, self.eos_id] = full  # ψ(g <EOS>) = P_ctc(g | x)
        psi[:, self.blank] = ninf
        psi[:, self.sos_id] = ninf
        return torch.stack([new_n, new_b], dim=-1), psi  # (B, V, U, 2), (B, V)

    def step(self, tokens: Tensor, state: JointState) -> tuple[Tensor, JointState]:
        """Read the chosen y<i-1> (``<SOS>`` first); return each next label's joint score
        ``(1 - μ) ln P_att(c) + μ (ln ψ(g c) - ln ψ(g))`` and the new state.

        Shape:
            tokens: (B,) -> scores (B, V), state
        """
        att, las = self.model.step(tokens, state.las)  # (B, V)
        if bool((tokens != self.sos_id).any()):  # g grows by the token just read
            rows = torch.arange(len(tokens), device=tokens.device)  # (B,)
            grown = tokens != self.sos_id  # (B,)
            forward = torch.where(grown[:, None, None], state.next_forward[rows, tokens],
                                  state.forward)  # fmt: skip  # (B, U, 2)
            psi = torch.where(grown, state.next_psi[rows, tokens], state.psi)  # (B,)
            last = torch.where(grown, tokens, state.last)  # (B,)
            state = replace(state, forward=forward, psi=psi, last=last)
        next_forward, next_psi = self._extend(state)  # (B, V, U, 2), (B, V)
        ctc = next_psi - state.psi[:, None]  # (B, V)
        ctc = ctc.masked_fill(ctc.isnan(), float("-inf"))  # -inf - -inf: impossible either way
        scores = (1 - self.weight) * att + self.weight * ctc  # (B, V)
        return scores, replace(state, las=las, next_forward=next_forward, next_psi=next_psi)

    def reorder_state(self, state: JointState, index: Tensor) -> JointState:
        """Select (and repeat) batch rows, e.g. for beam search.

        Shape:
            index: (B',) -> a state for B' transcripts
        """
        check_row_index(index)
        las = self.model.reorder_state(state.las, index)
        rows = {name: getattr(state, name).index_select(0, index.to(state.psi.device))
                for name in ("log_probs", "forward", "psi", "last", "next_forward", "next_psi",
                             "frames")}  # fmt: skip
        return JointState(las=las, **rows)
