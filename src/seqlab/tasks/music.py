"""``MusicModel``: the course's jazz LSTM — a language model over MIDI events.

A piece is read as the event sequence of :mod:`seqlab.music.midi` (``ON_p``, ``OFF_p``,
``SHIFT_n`` on a grid of ``steps_per_beat`` steps per quarter note), the pieces of a corpus
joined into one stream with ``<EOS>`` between them. The network is the registry's
``("language_model", "rnn")`` model: trained many-to-many (predict every next event),
generated one-to-many from a seed (``<EOS>``, or a primer piece's events) through the shared
sampling search (temperature, top-k, top-p, seeded). Beside it the task keeps an add-k event
n-gram (:class:`seqlab.music.NGramModel`, order and k chosen on the validation events): the
baseline its held-out NLL per event must beat.

A trained model is a directory: ``config.json``, ``model.safetensors``, ``vocab.json`` (the
fixed event vocabulary), ``ngram.json``, ``metrics.jsonl``, ``loss_curve.png``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from seqlab._io import DataError
from seqlab.data.tokens import TokenSplit, gather_windows, random_windows, split_tokens
from seqlab.data.vocab import EOS, Vocab
from seqlab.decoding import Sampling, SearchConfig, search
from seqlab.models.rnn_lm import LMConfig, RNNLanguageModel, State
from seqlab.music.corpus21 import Split, read_dataset
from seqlab.music.midi import (
    DEFAULT_MAX_SHIFT,
    DEFAULT_STEPS_PER_BEAT,
    MidiCorpus,
    Song,
    event_vocabulary,
    events_to_notes,
    notes_to_events,
    read_corpus,
)
from seqlab.music.ngram import NGramModel
from seqlab.music.stats import music_statistics, pitch_class_distance, pitch_class_histogram
from seqlab.tasks.base import Preset, Task, TaskConfig
from seqlab.train import TrainConfig

__all__ = ["BACH_PRESET", "JAZZ_PRESET", "MAX_EVENTS", "PRESET", "MusicConfig", "MusicModel"]

MAX_EVENTS = 100_000  # the most events generate() draws per piece
_CHUNK = 4096  # events the network reads at once when scoring a long stream


@dataclass(frozen=True, kw_only=True)
class MusicConfig(TaskConfig):
    """How the music model reads MIDI; saved as ``config.json`` with the network's."""

    task: ClassVar[str] = "music"
    model_kind: ClassVar[str] = "language_model"

    model: LMConfig  # the network (arch "rnn"); vocab_size is set from the event vocabulary
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT  # time grid: steps per quarter note
    max_shift: int = DEFAULT_MAX_SHIFT  # the longest SHIFT event, in steps
    tracks: str = ""  # comma-separated MIDI track names or indices to read ("": all)
    drums: bool = False  # read channel 10 (unpitched percussion) too
    bptt: int = 128  # events per training window (truncated BPTT)
    batch_size: int = 32  # windows per step
    valid_fraction: float = 0.1  # the tail of the event stream held out for validation
    tempo: float = 120.0  # playback tempo of generated pieces (the corpus's median)
    max_note_steps: int = 0  # caps generated notes: the corpus's 99th-percentile length (0: none)
    corpus: str = ""  # where the training MIDI came from

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps_per_beat < 1 or self.max_shift < 1:
            raise ValueError("steps_per_beat and max_shift must be >= 1")
        if self.bptt < 1 or self.batch_size < 1:
            raise ValueError("bptt and batch_size must be >= 1")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1), got {self.valid_fraction}")

    def track_list(self) -> list[str] | None:
        return [t.strip() for t in self.tracks.split(",") if t.strip()] or None


# `seqlab music train --midi DIR`: a 2-layer LSTM over the events of a folder of MIDI files.
PRESET: Preset[MusicConfig] = Preset(
    config=MusicConfig(model=LMConfig(vocab_size=2, embedding_dim=64, hidden_size=256)),
    train=TrainConfig(max_steps=2000, lr=3e-3, eval_every=200),
)
# `--dataset jazz`: the course's one piece (a few thousand notes): a smaller network, as in
# the course's assignment (one LSTM layer of 64 units was its choice), trained for longer.
JAZZ_PRESET: Preset[MusicConfig] = Preset(
    config=MusicConfig(
        model=LMConfig(vocab_size=2, embedding_dim=32, hidden_size=128, num_layers=1, dropout=0.1),
        corpus="jazz",
    ),
    train=TrainConfig(max_steps=1500, lr=3e-3, eval_every=100),
)
# `--dataset bach`: music21's 315 training chorales (about 230,000 events): one LSTM layer of
# 256 (four voices at once need more state than one melody, one layer trains fast on a CPU).
BACH_PRESET: Preset[MusicConfig] = Preset(
    config=MusicConfig(
        model=LMConfig(vocab_size=2, embedding_dim=32, hidden_size=256, num_layers=1, dropout=0.1),
        corpus="bach",
    ),
    train=TrainConfig(max_steps=2000, lr=3e-3, eval_every=200),
)


def _stream(vocab: Vocab, songs: Sequence[Song], max_shift: int) -> np.ndarray:
    """``<EOS> events(song 1) <EOS> events(song 2) ... <EOS>`` as ids: ``(N,)`` int64."""
    eos = vocab.eos_id
    ids: list[int] = [eos]
    for song in songs:
        ids += [vocab[e] for e in notes_to_events(song.notes, max_shift)] + [eos]
    return np.asarray(ids, dtype=np.int64)


class _Windows:
    """The Trainable adapter: random windows of the training event stream; validation is
    the NLL per event of the held-out tail, read from the last training event."""

    def __init__(self, task: MusicModel, split: TokenSplit) -> None:
        self.task, self.model, self.split = task, task.model, split
        self.window = min(task.config.bptt, len(split.train) - 1) + 1  # inputs + 1 target

    def batches_per_epoch(self) -> int:
        cover = max(1, (len(self.split.train) - 1) // (self.window - 1))  # windows per pass
        return -(-cover // self.task.config.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Tensor]:
        del epoch
        size, n = self.task.config.batch_size, len(self.split.train)
        return random_windows(n, self.window, size, self.batches_per_epoch(), generator)

    def training_loss(self, starts: Tensor) -> tuple[Tensor, int]:
        ids = gather_windows(self.split.train, starts, self.window).to(self.task.device)  # (B, L+1)
        return self.model.loss(ids[:, :-1], ids[:, 1:]), ids[:, 1:].numel()

    def validate(self) -> dict[str, float]:
        if len(self.split.valid) == 0:
            return {}
        held = np.concatenate([[self.split.context], self.split.valid])  # (M+1,)
        return {"loss": self.task.nll_per_event(held), "ngram_loss": self.task.ngram_nll(held)}


class MusicModel(Task):
    """An LSTM over MIDI events, its event vocabulary and its n-gram baseline."""

    config_class = MusicConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {
        "vocab": ("vocab.json", Vocab),
        "ngram": ("ngram.json", NGramModel),
    }
    what = "music model"
    command = "seqlab music train"
    resume_ignores = ("model.impl",)

    model: RNNLanguageModel
    config: MusicConfig
    vocab: Vocab
    ngram: NGramModel

    # -- building and training -----------------------------------------------------------
    @classmethod
    def vocabulary(cls, max_shift: int) -> Vocab:
        """The fixed event vocabulary: ``<EOS>``, ``ON_0..127``, ``OFF_0..127``,
        ``SHIFT_1..max_shift``."""
        return Vocab([EOS, *event_vocabulary(max_shift)], level="word")

    @classmethod
    def read(cls, path: str | Path, config: MusicConfig) -> MidiCorpus:
        """The MIDI files at ``path`` (a file or a folder) on the config's grid and tracks."""
        return read_corpus(
            path,
            steps_per_beat=config.steps_per_beat,
            tracks=config.track_list(),
            drums=config.drums,
        )

    @classmethod
    def read_dataset(
        cls, name: str, config: MusicConfig, split: Split = "train", limit: int | None = None
    ) -> MidiCorpus:
        """A music21 corpus data set (``"bach"``, ``"music21:QUERY"``; see
        :mod:`seqlab.music.corpus21`): its ``split`` ("train", the held-out "test", "all"),
        the first ``limit`` pieces, on the config's grid and tracks. Needs music21."""
        return read_dataset(
            name,
            split,
            limit=limit,
            steps_per_beat=config.steps_per_beat,
            tracks=config.track_list(),
        )

    @classmethod
    def build(
        cls, data: MidiCorpus | Sequence[Song] | str | Path, config: MusicConfig
    ) -> tuple[MusicModel, TokenSplit]:
        """A fresh model for ``data`` (a :class:`MidiCorpus`, songs, or a MIDI file or
        folder); returns it and the split event stream."""
        corpus = cls.read(data, config) if isinstance(data, (str, Path)) else data
        songs = corpus.songs if isinstance(corpus, MidiCorpus) else list(corpus)
        source = corpus.source if isinstance(corpus, MidiCorpus) else "songs"
        grids = {s.steps_per_beat for s in songs}
        if grids - {config.steps_per_beat}:
            raise ValueError(
                f"the songs' grids {sorted(grids)} differ from steps_per_beat "
                f"{config.steps_per_beat}"
            )
        vocab = cls.vocabulary(config.max_shift)
        stream = _stream(vocab, songs, config.max_shift)
        try:
            split = split_tokens(stream, config.valid_fraction)
        except ValueError as err:
            raise DataError(
                source or "corpus", str(err), hint="give more MIDI, or valid_fraction=0"
            ) from None
        held = [np.concatenate([[split.context], split.valid])] if len(split.valid) else []
        ngram = NGramModel.select([split.train], held, vocab_size=len(vocab), bos_id=vocab.eos_id)
        tempo = statistics.median(s.tempo for s in songs) if songs else config.tempo
        lengths = [n.end - n.start for s in songs for n in s.notes]
        longest = int(np.percentile(lengths, 99, method="higher")) if lengths else 0
        model = replace(config.model, vocab_size=len(vocab))
        config = replace(config, model=model, tempo=tempo, max_note_steps=longest)
        return cls(cls.build_model(config), config, vocab=vocab, ngram=ngram), split

    def trainable(self, encoded: TokenSplit, data: Any) -> _Windows:
        return _Windows(self, encoded)

    # -- scoring ---------------------------------------------------------------------------
    def stream(self, songs: Sequence[Song]) -> np.ndarray:
        """The event ids of ``songs``, joined by ``<EOS>`` (see the module docstring)."""
        for s in songs:
            if s.steps_per_beat != self.config.steps_per_beat:
                raise ValueError(
                    f"{s.name or 'a song'}: grid {s.steps_per_beat} steps per beat, the "
                    f"model's is {self.config.steps_per_beat}"
                )
        return _stream(self.vocab, songs, self.config.max_shift)

    def log_probs(self, ids: np.ndarray | Sequence[int]) -> Tensor:
        """log P of each event of ``ids[1:]`` given all before it (read from a zero state,
        in chunks that carry the state): ``(N − 1,)``."""
        ids_t = torch.as_tensor(np.asarray(ids), dtype=torch.long, device=self.device)  # (N,)
        state: State = None
        out = []
        with self.eval_mode():
            for i in range(0, ids_t.numel() - 1, _CHUNK):
                x = ids_t[None, i : i + _CHUNK]  # (1, w) the inputs
                y = ids_t[i + 1 : i + 1 + x.shape[1]]  # (w',) their next events
                logits, state = self.model(x[:, : y.numel()], state)  # (1, w', V)
                out.append(logits[0].log_softmax(-1).gather(1, y[:, None])[:, 0])  # (w',)
        return torch.cat(out) if out else torch.zeros(0)

    def nll_per_event(self, ids: np.ndarray | Sequence[int]) -> float:
        """Mean −log P (nats) of the events ``ids[1:]`` under the network."""
        return float(-self.log_probs(ids).mean())

    def ngram_nll(self, ids: np.ndarray | Sequence[int]) -> float:
        """Mean −log P (nats) of the events ``ids[1:]`` under the n-gram baseline."""
        total, count = self.ngram.nll([list(map(int, ids))])
        return total / max(count, 1)

    # -- generating ------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        length: int = 512,
        *,
        seed: int | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        primer: Song | None = None,
        n: int = 1,
    ) -> list[Song]:
        """``n`` new pieces of ``length`` events each, sampled one event at a time (the end
        of a piece, ``<EOS>``, is never drawn). With ``primer`` the network first reads its
        events, and each piece starts with the primer's notes. A note is no longer than 99%
        of the corpus's notes (``config.max_note_steps``): a forgotten ``OFF`` does not hold
        it to the end."""
        if not 1 <= length <= MAX_EVENTS:
            raise ValueError(f"length must be between 1 and {MAX_EVENTS:,} events, got {length:,}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        primed = notes_to_events(primer.notes, self.config.max_shift) if primer else []
        context = [self.vocab.eos_id, *self.vocab.encode(primed)]
        sampling = Sampling(
            temperature=temperature, top_k=top_k, top_p=top_p, generator=self.generator(seed)
        )
        config = SearchConfig(max_length=length, sampling=sampling, banned_ids=(self.vocab.eos_id,))

        def init_state(rows: Sequence[int]) -> State:
            if len(context) == 1:
                return self.model.init_state(len(rows))
            x = torch.tensor([context[:-1]] * len(rows), device=self.device)  # (B, P)
            return self.model(x)[1]

        with self.eval_mode():
            hyps = search(
                self.model, init_state, n, config, bos_id=context[-1], eos_id=self.vocab.eos_id
            )
        songs = []
        for h in hyps:
            events = primed + self.vocab.decode(h[0].tokens)
            notes = tuple(events_to_notes(events, max_steps=self.config.max_note_steps or None))
            songs.append(
                Song(notes, self.config.steps_per_beat, self.config.tempo, name="generated")
            )
        return songs

    # -- evaluating ------------------------------------------------------------------------
    def evaluate(
        self, songs: Sequence[Song], *, samples: int = 4, length: int | None = None, seed: int = 0
    ) -> dict[str, Any]:
        """Held-out NLL per event of the network beside the n-gram baseline's, and the
        statistics of ``samples`` generated pieces (``length`` events each; default: the
        held-out pieces' mean, at most 2,000) beside those of ``songs``."""
        if not songs:
            raise ValueError("no songs to evaluate on")
        ids = self.stream(songs)
        nll, ngram = self.nll_per_event(ids), self.ngram_nll(ids)
        per_song = (len(ids) - 1) / len(songs)
        generated = self.generate(
            length or max(1, min(2000, round(per_song))), seed=seed, n=samples
        )
        real_stats, gen_stats = music_statistics(songs), music_statistics(generated)
        return {
            "events": len(ids) - 1,
            "songs": len(songs),
            "nll_per_event": nll,
            "perplexity": math.exp(min(nll, 700.0)),
            "ngram_nll_per_event": ngram,
            "ngram_perplexity": math.exp(min(ngram, 700.0)),
            "ngram": {"order": self.ngram.order, "k": self.ngram.k},
            "beats_ngram": nll < ngram,
            "real": real_stats,
            "generated": gen_stats,
            "pitch_class_distance": pitch_class_distance(
                pitch_class_histogram(songs), pitch_class_histogram(generated)
            ),
        }
