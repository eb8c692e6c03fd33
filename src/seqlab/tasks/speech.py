"""``SpeechRecognizer``: speech recognition over characters (course week 3), CTC or
Listen, Attend and Spell.

Each recording becomes log-mel frames (25 ms windows every 10 ms, ``n_mels`` bands, each
band normalised to zero mean and unit variance over the utterance), computed once and kept
in memory. The registry's ``("speech", "ctc")`` network (:mod:`seqlab.models.speech`)
scores characters and the blank at every output frame; training minimises the CTC loss
(:func:`seqlab.functional.ctc_loss`, the ``F.ctc_loss`` fast path) over length-bucketed
batches. Before training the task checks that every transcript fits its recording after
the front-end's time reduction (:func:`seqlab.functional.ctc_feasible`) and names the items
that do not. Decoding is greedy or prefix beam search, optionally fused with a character
language model from ``seqlab lm train`` and/or held to the words of a lexicon.

With ``arch="las"`` the network is instead the registry's ``("speech", "las")``
(:mod:`seqlab.models.las`): a pyramidal BiLSTM listener and an attention speller that writes
the characters between ``<SOS>`` and ``<EOS>``; training minimises the teacher-forced
cross-entropy, and greedy and beam search come from the shared search driver
(:func:`seqlab.decoding.search`), each recording capped at ``floor(max_chars_per_frame · U)
+ 5`` characters (U: its listener frames); a model trained with a CTC layer can decode
jointly with it (``joint_ctc``). Word times then come from the attention (each character at
the listener frame it attends to most).

A trained model is a directory: ``config.json``, ``model.safetensors``, ``vocab.json`` (the
characters; ``<PAD>``, id 0, is CTC's blank; LAS adds ``<SOS>`` and ``<EOS>``),
``metrics.jsonl``, ``loss_curve.png``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from seqlab.audio import log_mel
from seqlab.data.batching import bucketed_batches, hold_out, pad
from seqlab.data.speech import Utterance, read_speech, resampled, spec_augment
from seqlab.data.vocab import EOS, PAD, SOS, Vocab
from seqlab.decoding import ErrorAnalysis, Hypothesis, SearchConfig, analyze_errors, search
from seqlab.decoding.ctc import Lexicon, ShallowFusion, ctc_beam_search, ctc_greedy_decode
from seqlab.functional.ctc import ctc_feasible, ctc_loss, ctc_min_input_lengths
from seqlab.metrics.asr import cer, wer
from seqlab.models.las import JointCTCDecoder, LASConfig, ListenAttendSpell
from seqlab.models.speech import SpeechCTC, SpeechCTCConfig
from seqlab.tasks.base import Preset, Task, TaskConfig
from seqlab.train import TrainConfig

__all__ = [
    "LAS_PRESET",
    "PRESET",
    "Alignment",
    "SpeechConfig",
    "SpeechRecognizer",
    "Transcript",
]

_SEARCH_BATCH = 32  # recordings LAS decodes together
_CAP_SLACK = 5  # LAS: characters allowed beyond max_chars_per_frame · U
Encoded = tuple[Tensor, list[int]]  # features (T, F), label ids
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # features, lengths, targets, target lengths


@dataclass(frozen=True, kw_only=True)
class SpeechConfig(TaskConfig):
    """How the recognizer reads audio; saved as ``config.json`` with the network's."""

    task: ClassVar[str] = "speech"
    model_kind: ClassVar[str] = "speech"

    arch: str = "ctc"  # the network in the model registry: "ctc" or "las"
    model: SpeechCTCConfig | LASConfig  # the network (classes and n_features set when built)
    sample_rate: int = 8000  # recordings are resampled to this rate (Hz)
    n_mels: int = 40  # log-mel bands per frame
    window_ms: float = 25.0  # analysis window
    hop_ms: float = 10.0  # frame step
    batch_size: int = 32  # utterances per step
    freq_mask: int = 0  # SpecAugment: two masks of up to this many bands per item (0: none;
    # off by default: in a 20-minute CPU budget it cost 20 points of isolated accuracy)
    time_mask: int = 0  # ... and two of up to this many frames (0: none; e.g. 8 and 10)
    valid_fraction: float = 0.1  # every k-th training utterance held out for validation
    corpus: str = ""  # where the training audio came from
    max_output_length: int = 0  # LAS: characters decoded at most (0: set when built)
    max_chars_per_frame: float = 0.0  # LAS: a recording of U listener frames is decoded to
    # at most floor(this · U) + 5 characters (0: set when built, 1.5 times the training
    # transcripts' most; a model saved before it: max_output_length for every recording)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("sample_rate", "n_mels", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("freq_mask", "time_mask"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.hop_ms <= self.window_ms:
            raise ValueError(f"need 0 < hop_ms <= window_ms, got {self.hop_ms}, {self.window_ms}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        if self.max_output_length < 0:
            raise ValueError(f"max_output_length must be >= 0, got {self.max_output_length}")
        if self.max_chars_per_frame < 0:
            raise ValueError(f"max_chars_per_frame must be >= 0, got {self.max_chars_per_frame}")

    @property
    def hop_length(self) -> int:
        """Samples between frames."""
        return round(self.sample_rate * self.hop_ms / 1000)


# `seqlab speech train --data DIR`: FSDD digits (and digit sequences) on a CPU. The first
# convolution strides 3, not 2: the GRUs read a third of the frames, so a step costs ~0.55
# of one at stride 2 and 4 CPU minutes gave 1,542 steps against 855 and 97.7% of isolated
# digits against 93.7% (docs/speech.md); FSDD's shortest "three" still fits (6 frames)
PRESET: Preset[SpeechConfig] = Preset(
    config=SpeechConfig(model=SpeechCTCConfig(stride=3)),
    train=TrainConfig(max_steps=3000, lr=2e-3, warmup_steps=100, schedule="cosine", eval_every=250),
)
# `seqlab speech train --arch las`: the same budget; the attention speller wants a lower rate.
LAS_PRESET: Preset[SpeechConfig] = Preset(
    config=SpeechConfig(arch="las", model=LASConfig()),
    train=TrainConfig(max_steps=3000, lr=1e-3, warmup_steps=100, schedule="cosine", eval_every=250),
)


@dataclass(frozen=True)
class Transcript:
    """One recording's transcript and its words' times (from the greedy CTC alignment)."""

    text: str  # the decoded characters
    words: list[dict[str, Any]]  # {"word", "start", "end"} in seconds

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "words": self.words}


@dataclass(frozen=True)
class Alignment:
    """How the network read one recording, for ``seqlab speech transcribe --plot``: CTC's
    per-frame posteriors, or LAS's attention of each output character over the frames."""

    text: str  # the transcript
    frame_seconds: float  # seconds one output (CTC) or listener (LAS) frame spans
    labels: list[str]  # CTC: every class (labels[blank] is the blank); LAS: output characters
    posteriors: Tensor | None = None  # CTC: (T', C) probabilities of every class per frame
    attention: Tensor | None = None  # LAS: (S, U) α of each output character (</s> last)
    blank: int = 0  # CTC: the blank's class id


class _SpeechTrainable:
    """Length-bucketed batches (SpecAugment masks on the training ones when the config asks
    for them), the network's loss
    (CTC, or LAS's cross-entropy); validation loss, CER and WER (greedy)."""

    def __init__(self, task: SpeechRecognizer, train: list[Encoded], valid: list[Encoded]):
        self.task, self.model = task, task.model
        self.train_rows, self.valid_rows = train, valid
        self.lengths = [len(x) for x, _ in train]

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        del epoch
        c = self.task.config
        for rows in bucketed_batches(self.lengths, c.batch_size, generator):
            feats, lengths, targets, target_lengths = self.task._batch(
                [self.train_rows[j] for j in rows]
            )
            if c.freq_mask or c.time_mask:
                feats = spec_augment(
                    feats, lengths, generator, freq_width=c.freq_mask, time_width=c.time_mask
                )  # (B, T, F)
            yield feats, lengths, targets, target_lengths

    def batches_per_epoch(self) -> int:
        return -(-len(self.train_rows) // self.task.config.batch_size)

    def training_loss(self, batch: Batch) -> tuple[Tensor, int]:
        return self.task._loss(batch), len(batch[1])

    def validate(self) -> dict[str, float]:
        if not self.valid_rows:
            return {}
        losses, hyps = [], []
        for i in range(0, len(self.valid_rows), 64):
            batch = self.task._batch(self.valid_rows[i : i + 64])
            losses.append(self.task._loss(batch).item() * len(batch[1]))
            hyps += self.task._greedy(batch[0], batch[1])
        refs = [self.task._text(y) for _, y in self.valid_rows]
        return {"loss": sum(losses) / len(refs), "cer": cer(refs, hyps), "wer": wer(refs, hyps)}


class SpeechRecognizer(Task):
    """A speech recognizer (CTC or LAS): features, network, character vocabulary (module
    doc)."""

    config_class = SpeechConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {"vocab": ("vocab.json", Vocab)}
    what = "speech recognizer"
    command = "seqlab speech train"

    model: SpeechCTC | ListenAttendSpell
    config: SpeechConfig
    vocab: Vocab

    # -- data ---------------------------------------------------------------------------
    @classmethod
    def prepare_data(cls, data: str | Path | Sequence[Utterance]) -> list[Utterance]:
        """A manifest file, an FSDD folder, or utterances."""
        if isinstance(data, (str, Path)):
            return read_speech(data)
        return list(data)

    def features(self, samples: Tensor, sample_rate: int | None = None) -> Tensor:
        """Normalised log-mel frames of one recording at ``sample_rate`` (default: the
        config's; another rate is resampled).

        Shape:
            samples: (N,) -> (T, n_mels)
        """
        return _features(samples, sample_rate or self.config.sample_rate, self.config)

    @classmethod
    def build(
        cls, data: Sequence[Utterance], config: SpeechConfig
    ) -> tuple[SpeechRecognizer, tuple[list[Encoded], list[Encoded]]]:
        """A fresh recognizer whose characters are the transcripts'; CTC refuses transcripts
        that do not fit their recordings (feasibility) before training starts."""
        if not data:
            raise ValueError("no utterances to train on")
        texts = [u.text for u in data]
        if isinstance(config.model, LASConfig):
            vocab = Vocab.build(texts, level="char", specials=(PAD, SOS, EOS))
            model: Any = replace(config.model, vocab_size=len(vocab), n_features=config.n_mels)
            cap = config.max_output_length or 2 * max(len(t) for t in texts) + 10
            config = replace(config, model=model, max_output_length=cap)
        else:
            vocab = Vocab.build(texts, level="char", specials=(PAD,))
            model = replace(config.model, num_classes=len(vocab), n_features=config.n_mels, blank=0)
            config = replace(config, model=model)
        task = cls(cls.build_model(config), config, vocab=vocab)
        encoded = [task._encode(u) for u in data]
        if isinstance(task.model, SpeechCTC):
            task.check_feasible(encoded, [u.name or f"item {i}" for i, u in enumerate(data)])
        elif not config.max_chars_per_frame:
            frames = task.model.output_lengths(torch.tensor([len(x) for x, _ in encoded]))  # (N,)
            rate = max(len(y) / int(u) for (_, y), u in zip(encoded, frames, strict=True))
            task.config = replace(config, max_chars_per_frame=round(1.5 * rate, 4))
        train, valid = hold_out(encoded, config.valid_fraction, min_total=20)
        return task, (train, valid)

    def check_feasible(self, encoded: Sequence[Encoded], names: Sequence[str]) -> None:
        """``ValueError`` naming the items whose transcript needs more output frames (its
        length plus its adjacent repeats) than the front-end leaves of the recording."""
        frames = self.model.output_lengths(torch.tensor([len(x) for x, _ in encoded]))  # (N,)
        targets = [y for _, y in encoded]
        ok = ctc_feasible(targets, frames)  # (N,)
        if bool(ok.all()):
            return
        need = ctc_min_input_lengths(targets)  # (N,)
        bad = [i for i in range(len(encoded)) if not ok[i]]
        shown = ", ".join(
            f"{names[i]} ({int(frames[i])} frames < {int(need[i])} needed)" for i in bad[:3]
        )
        raise ValueError(
            f"{len(bad)} of {len(encoded)} utterances are too short for their transcripts "
            f"after the front-end's {self.config.model.reduction}x time reduction: {shown}"
            f"{' ...' if len(bad) > 3 else ''} — use a smaller stride or fewer conv layers, "
            "or drop those items"
        )

    def trainable(
        self, encoded: tuple[list[Encoded], list[Encoded]], data: Any
    ) -> _SpeechTrainable:
        return _SpeechTrainable(self, *encoded)

    # -- the network over batches ----------------------------------------------------------
    def _encode(self, u: Utterance) -> Encoded:
        return self.features(u.samples, u.sample_rate), self.vocab.encode(list(u.text))

    def _batch(self, rows: Sequence[Encoded]) -> Batch:
        lengths = torch.tensor([len(x) for x, _ in rows])  # (B,)
        feats = torch.nn.utils.rnn.pad_sequence([x for x, _ in rows], batch_first=True)  # (B, T, F)
        targets, target_lengths = pad([y for _, y in rows], 0)  # (B, S), (B,)
        return feats, lengths, targets, target_lengths

    def _loss(self, batch: Batch) -> Tensor:
        feats, lengths, targets, target_lengths = (t.to(self.device) for t in batch)
        if isinstance(self.model, ListenAttendSpell):
            return self.model.loss(feats, lengths, *self._speller_targets(targets, target_lengths))
        log_probs, out_lengths = self.model(feats, lengths)  # (B, T', C), (B,)
        return ctc_loss(
            log_probs.transpose(0, 1), targets, out_lengths, target_lengths, impl="torch"
        )  # (T', B, C) -> ()

    def _speller_targets(self, targets: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """LAS's teacher-forcing input ``<SOS> y`` and output ``y <EOS>`` (pads after).

        Shape:
            targets: (B, S) padded with <PAD> = 0, lengths: (B,) -> (B, S + 1), (B, S + 1)
        """
        tgt_in = torch.nn.functional.pad(targets, (1, 0), value=self.vocab.sos_id)  # (B, S + 1)
        tgt_out = torch.nn.functional.pad(targets, (0, 1), value=0)  # (B, S + 1)
        tgt_out[torch.arange(len(lengths), device=targets.device), lengths] = self.vocab.eos_id
        return tgt_in, tgt_out

    def _log_probs(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        with self.eval_mode():
            return self.model(feats.to(self.device), lengths.to(self.device))

    def _greedy(self, feats: Tensor, lengths: Tensor) -> list[str]:
        """Greedy transcripts of a padded batch.

        Shape:
            feats: (B, T, F), lengths: (B,)
        """
        if isinstance(self.model, ListenAttendSpell):
            return [self._text(ids) for ids in self._spell(feats, lengths, 1)]
        log_probs, out_lengths = self._log_probs(feats, lengths)  # (B, T', C)
        return [self._text(ids) for ids in ctc_greedy_decode(log_probs, out_lengths)]

    def _spell(
        self, feats: Tensor, lengths: Tensor, beam: int, joint_ctc: float = 0.0
    ) -> list[list[int]]:
        """LAS: the best character ids of each recording (greedy for ``beam`` 1).

        Shape:
            feats: (B, T, F), lengths: (B,)
        """
        return [h.tokens for h in self._searched(feats, lengths, beam, joint_ctc=joint_ctc)]

    def _searched(
        self, feats: Tensor, lengths: Tensor, beam: int, alpha: float = 0.7, joint_ctc: float = 0.0
    ) -> list[Hypothesis]:
        """LAS: each recording's best hypothesis from the shared search driver (greedy for
        ``beam`` 1, else beam search ranking by ``log P / Ty^alpha``); with ``joint_ctc`` μ
        > 0 the steps score ``(1 - μ) ln P_att + μ`` CTC's prefix-score gain
        (:class:`~seqlab.models.las.JointCTCDecoder`).

        Shape:
            feats: (B, T, F), lengths: (B,)
        """
        las = self.model
        if not isinstance(las, ListenAttendSpell):
            raise TypeError("the search decodes LAS models only")
        ends = {"sos_id": self.vocab.sos_id, "eos_id": self.vocab.eos_id}
        model: Any = JointCTCDecoder(las, joint_ctc, **ends) if joint_ctc else las
        feats, lengths = feats.to(self.device), lengths.to(self.device)
        rate = self.config.max_chars_per_frame or None  # per recording: floor(rate · U) + 5
        config = SearchConfig(
            max_length=self.config.max_output_length or 100, beam_size=beam, alpha=alpha,
            batch_size=_SEARCH_BATCH, max_length_a=rate, max_length_b=_CAP_SLACK,
        )  # fmt: skip
        frames = las.output_lengths(lengths.cpu()).tolist()  # U of each recording

        def start(rows: Sequence[int]) -> Any:
            index = torch.tensor(list(rows), device=self.device)  # (b,)
            longest = int(lengths[index].max())
            return model.init_state(feats[index, :longest], lengths[index])  # (b, T, F)

        with self.eval_mode():
            found = search(
                model, start, len(lengths), config, bos_id=self.vocab.sos_id,
                eos_id=self.vocab.eos_id, source_lengths=frames,
            )  # fmt: skip
        return [row[0] for row in found]

    def _text(self, ids: Sequence[int]) -> str:
        """Labels to text, runs of spaces as one, none at the ends."""
        return " ".join(self.vocab.join(self.vocab.decode(ids, skip_specials=True)).split())

    # -- transcribing and evaluating ----------------------------------------------------------
    def transcribe(
        self,
        audio: Sequence[Tensor | str | Path],
        *,
        sample_rate: int | None = None,
        beam_size: int = 1,
        lm: Task | None = None,
        lm_weight: float = 0.5,
        insertion_bonus: float = 0.0,
        lexicon: Sequence[str] | None = None,
        joint_ctc: float = 0.0,
    ) -> list[Transcript]:
        """Transcripts of recordings (files, or sample tensors at ``sample_rate``): greedy
        with ``beam_size=1``, else beam search (CTC's prefix beam search, or the shared
        driver's for LAS); CTC can fuse ``lm`` (a character
        :class:`~seqlab.tasks.LanguageModel`) with weight ``lm_weight``, and spell only the
        words of ``lexicon`` (words joined by spaces; the prefix beam search, so give a
        ``beam_size`` of 8 or more: with 1 it keeps one prefix). LAS trained with a CTC
        layer (``ctc_weight``) can decode jointly with it, weight ``joint_ctc``
        (:class:`~seqlab.models.las.JointCTCDecoder`)."""
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        feats = [self._read(a, sample_rate) for a in audio]
        if isinstance(self.model, ListenAttendSpell):
            if lm is not None or lexicon is not None:
                what = "language-model fusion (--lm)" if lm is not None else "a lexicon (--lexicon)"
                raise ValueError(f"{what} works with CTC models, not LAS")
            spelled = self._spell_each(feats, beam_size, joint_ctc)
            return [self._spelled(f, ids) for f, ids in zip(feats, spelled, strict=True)]
        if joint_ctc:
            raise ValueError("joint CTC decoding (--joint-ctc) is for LAS models trained with "
                             "--ctc-weight; a CTC model decodes with CTC alone")  # fmt: skip
        fusion = self._fusion(lm, lm_weight) if lm is not None else None
        words = self.lexicon(lexicon) if lexicon is not None else None
        return [self._decode(f, beam_size, fusion, insertion_bonus, words) for f in feats]

    def lexicon(self, words: Sequence[str]) -> Lexicon:
        """The CTC decoder's :class:`~seqlab.decoding.ctc.Lexicon` of ``words`` (each word's
        characters; the space separates words). ``ValueError`` naming a word with a
        character the model does not know, or with a space."""
        if not words:
            raise ValueError("the lexicon has no words")
        labels = []
        for word in words:
            unknown = sorted({c for c in word if c not in self.vocab or c in self.vocab.specials})
            if not word or " " in word or unknown:
                why = f"characters {unknown} the model does not know" if unknown else "no word"
                raise ValueError(f"lexicon word {word!r}: {why}")
            labels.append(self.vocab.encode(list(word)))
        return Lexicon(labels, separator=self.vocab[" "] if " " in self.vocab else None)

    def _read(self, audio: Tensor | str | Path, sample_rate: int | None) -> Tensor:
        """The features of samples at ``sample_rate``, or of an audio file.

        Shape:
            audio: (N,) or a path -> (T, n_mels)
        """
        if isinstance(audio, Tensor):
            return self.features(audio, sample_rate)
        from seqlab.audio import read_audio

        return self.features(*read_audio(audio, sample_rate=self.config.sample_rate))

    def _spell_each(
        self, feats: Sequence[Tensor], beam: int, joint_ctc: float = 0.0
    ) -> list[list[int]]:
        """LAS: the best character ids of each recording's features.

        Shape:
            feats: N tensors (T_n, F) -> N id lists
        """
        lengths = torch.tensor([len(f) for f in feats])  # (N,)
        padded = torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True)  # (N, T, F)
        return self._spell(padded, lengths, beam, joint_ctc)

    def _speller_attention(self, feats: Tensor, ids: Sequence[int]) -> Tensor:
        """LAS: α of each output character, ``</s>`` last, over the listener frames.

        Shape:
            feats: (T, F), ids: S characters -> (S + 1, U)
        """
        tgt_in = torch.tensor([[self.vocab.sos_id, *ids]], device=self.device)  # (1, S + 1)
        with self.eval_mode():
            _, alphas = self.model(
                feats[None].to(self.device), torch.tensor([len(feats)]), tgt_in,
                return_attention=True,
            )  # fmt: skip  # (1, S + 1, U)
        return alphas[0].cpu()  # (S + 1, U)

    def _spelled(self, feats: Tensor, ids: list[int]) -> Transcript:
        """LAS: a transcript, each word from the listener frame its first character attends
        to most to the frame after the one its last character does (in seconds).

        Shape:
            feats: (T, F), ids: S characters
        """
        text = self._text(ids)
        chars = self.vocab.decode(ids)
        if not text or "".join(chars) != text:  # nothing, or spaces at the ends or doubled
            return Transcript(text, [])
        frames = self._speller_attention(feats, ids)[:-1].argmax(-1).tolist()  # (S,)
        seconds = self.config.model.reduction * self.config.hop_ms / 1000  # per listener frame
        words, start = [], 0
        for end in [*(i for i, ch in enumerate(chars) if ch == " "), len(chars)]:
            span = frames[start:end]
            words.append({"word": text[start:end], "start": round(min(span) * seconds, 3),
                          "end": round((max(span) + 1) * seconds, 3)})  # fmt: skip
            start = end + 1
        return Transcript(text, words)

    def alignment(
        self, audio: Tensor | str | Path, *, sample_rate: int | None = None, beam_size: int = 1
    ) -> Alignment:
        """How the network reads one recording (a file, or samples at ``sample_rate``): the
        transcript with CTC's per-frame class posteriors, or with LAS's attention of each
        output character (``</s>`` last) over the listener frames."""
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        feats = self._read(audio, sample_rate)  # (T, F)
        seconds = self.config.model.reduction * self.config.hop_ms / 1000
        if isinstance(self.model, ListenAttendSpell):
            (ids,) = self._spell_each([feats], beam_size)
            chars = [*self.vocab.decode(ids), EOS]
            attention = self._speller_attention(feats, ids)  # (S + 1, U)
            return Alignment(self._text(ids), seconds, chars, attention=attention)
        log_probs, _ = self._log_probs(feats[None], torch.tensor([len(feats)]))  # (1, T', C)
        text = self._decode(feats, beam_size, None, 0.0, None).text
        return Alignment(
            text, seconds, list(self.vocab.tokens), posteriors=log_probs[0].exp().cpu(), blank=0
        )  # (T', C)

    def _decode(
        self,
        feats: Tensor,
        beam: int,
        fusion: ShallowFusion | None,
        bonus: float,
        lexicon: Lexicon | None,
    ) -> Transcript:
        log_probs, _ = self._log_probs(feats[None], torch.tensor([len(feats)]))  # (1, T', C)
        lp = log_probs[0].cpu()  # (T', C)
        if beam == 1 and fusion is None and lexicon is None:
            ids = ctc_greedy_decode(lp[None], torch.tensor([len(lp)]))[0]
        else:
            ids = ctc_beam_search(
                lp, beam_size=beam, lm=fusion, insertion_bonus=bonus, lexicon=lexicon
            )[0].tokens
        text = self._text(ids)
        return Transcript(text, self._word_times(lp, text))

    def _word_times(self, log_probs: Tensor, text: str) -> list[dict[str, Any]]:
        """Word times from the best path: a word spans the output frames from its first
        character's first frame to its last character's last frame (best-path frames that
        match the text's characters; empty when the best path spells another text)."""
        path = log_probs.argmax(-1).tolist()  # (T',)
        seconds = self.config.model.reduction * self.config.hop_ms / 1000  # per output frame
        space = self.vocab[" "] if " " in self.vocab else -1
        words, start, last, prev = [], None, 0, 0
        for t, c in enumerate([*path, space]):
            if c not in (0, space) and start is None:
                start = t
            if c not in (0, space):
                last = t
            if c == space and prev != space and start is not None:
                words.append((start, last + 1))
                start = None
            prev = c
        names = text.split()
        if len(names) != len(words):
            return []
        return [
            {"word": w, "start": round(a * seconds, 3), "end": round(b * seconds, 3)}
            for w, (a, b) in zip(names, words, strict=True)
        ]

    def _fusion(self, lm: Any, weight: float) -> ShallowFusion:
        """Shallow fusion with a character language model (each CTC character mapped to
        its id in the LM's vocabulary; unknown characters to ``<UNK>``)."""
        from seqlab.tasks.language_model import LanguageModel

        is_lm = isinstance(lm, LanguageModel)
        if not is_lm or lm.vocab.level != "char" or lm.tokenizer is not None:
            raise ValueError(
                "--lm must be a character language model (seqlab lm train --level char)"
            )
        lm_vocab = lm.vocab
        fallback = lm_vocab.unk_id if lm_vocab.unk_id is not None else lm_vocab.eos_id
        label_ids = [lm_vocab[c] if c in lm_vocab else fallback for c in self.vocab.tokens]
        bos = lm_vocab["\n"] if "\n" in lm_vocab else lm_vocab.eos_id
        return ShallowFusion(
            model=lm.model, state=lm.model.init_state(1), bos_id=bos, weight=weight,
            label_ids=label_ids,
        )  # fmt: skip

    def evaluate(self, utterances: Sequence[Utterance], **decode: Any) -> dict[str, Any]:
        """WER, CER and exact-transcript accuracy over ``utterances``, with each item's
        reference and hypothesis (``decode``: :meth:`transcribe`'s options)."""
        if not utterances:
            raise ValueError("no utterances to evaluate on")
        data = resampled(utterances, self.config.sample_rate)
        hyps = [t.text for t in self.transcribe([u.samples for u in data], **decode)]
        refs = [u.text for u in data]
        return {
            "utterances": len(refs),
            "wer": wer(refs, hyps),
            "cer": cer(refs, hyps),
            "accuracy": sum(r == h for r, h in zip(refs, hyps, strict=True)) / len(refs),
            "items": [
                {"name": u.name, "reference": r, "hypothesis": h}
                for u, r, h in zip(data, refs, hyps, strict=True)
            ],
        }

    def analyze(
        self, utterances: Sequence[Utterance], *, beam_size: int = 3, alpha: float = 0.7
    ) -> ErrorAnalysis:
        """The course's beam-search error analysis (LAS only: CTC has no step-by-step
        search): for each transcript ŷ of beam search that differs from the reference y*,
        the search is at fault if the model prefers y* (P(y*|x) > P(ŷ|x), both normalised
        by ``Ty^alpha``), else the model. A reference with a character the model never saw
        is the model's fault. Returns an :class:`seqlab.decoding.ErrorAnalysis`."""
        model = self.model
        if not isinstance(model, ListenAttendSpell):
            raise ValueError("the beam-search error analysis needs an attention model "
                             "(--arch las): CTC decodes without a step-by-step search")  # fmt: skip
        if not utterances:
            raise ValueError("no utterances to analyse")
        data = resampled(utterances, self.config.sample_rate)
        feats = [self.features(u.samples) for u in data]
        # <PAD> (id 0) never occurs in a transcript: it marks a character outside the vocabulary
        refs = [[self.vocab[c] if c in self.vocab else 0 for c in u.text] for u in data]
        ends = {"bos_id": self.vocab.sos_id, "eos_id": self.vocab.eos_id}
        parts = []
        for i in range(0, len(data), _SEARCH_BATCH):
            rows = slice(i, i + _SEARCH_BATCH)
            lengths = torch.tensor([len(f) for f in feats[rows]])  # (b,)
            padded = torch.nn.utils.rnn.pad_sequence(feats[rows], batch_first=True)  # (b, T, F)
            best = self._searched(padded, lengths, beam_size, alpha)
            with self.eval_mode():
                state = model.init_state(padded.to(self.device), lengths.to(self.device))
                parts.append(
                    analyze_errors(
                        model, state, best, refs[rows], alpha=alpha, unk_id=0,
                        sources=[u.name or f"item {i + j}" for j, u in enumerate(data[rows])],
                        decode=self._text, reference_texts=[u.text for u in data[rows]], **ends,
                    )
                )  # fmt: skip
        return ErrorAnalysis.concat(parts)


def _features(samples: Tensor, rate: int, config: SpeechConfig) -> Tensor:
    """Log-mel frames, each band normalised over the utterance (module docstring).

    Shape:
        samples: (N,) -> (T, n_mels)
    """
    if rate != config.sample_rate:
        from seqlab.audio import resample

        samples = resample(samples, rate, config.sample_rate)
    rate = config.sample_rate
    n_fft = round(rate * config.window_ms / 1000)
    x = log_mel(samples.float(), rate, n_mels=config.n_mels, n_fft=n_fft,
                hop_length=config.hop_length).T  # (T, M)  # fmt: skip
    return (x - x.mean(0)) / (x.std(0, unbiased=False) + 1e-5)  # (T, M)
