"""A whole seqlab task in one file: reverse a word ("seqlab" -> "balqes").

This is the worked example of ``docs/architecture.md`` ("How to add a task"): a config that
names its network in the model registry, a vocabulary artifact, ``build`` and the
``Trainable`` adapter the Trainer drives; everything else (train, checkpoints, resume, save,
load, ``seqlab.load``, the loss curve) comes from :class:`seqlab.tasks.Task`.

    python examples/reverse_task.py                 # about 30 s on 2 CPU cores
    python examples/reverse_task.py --steps 1000 --out out/reverse
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

import seqlab
from seqlab.data import EOS, PAD, SOS, UNK, Vocab
from seqlab.data.batching import bucketed_batches, hold_out, pad
from seqlab.decoding import SearchConfig, search
from seqlab.models.seq2seq import Seq2SeqConfig
from seqlab.tasks import Task, TaskConfig
from seqlab.train import TrainConfig

LETTERS = "abcdefghij"
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # src (B, T), lengths (B,), tgt_in, tgt_out (B, S)


@dataclass(frozen=True, kw_only=True)
class ReverseConfig(TaskConfig):
    """The task's config: saved as config.json; ``arch`` picks the network in the registry."""

    task: ClassVar[str] = "reverse"  # the name seqlab.load finds the task by
    model_kind: ClassVar[str] = "seq2seq"  # any registered seq2seq architecture fits

    model: Seq2SeqConfig  # the network (vocabulary sizes are set by build)
    batch_size: int = 64  # words per training step


def random_words(n: int, seed: int = 0, max_length: int = 8) -> list[str]:
    """``n`` random words of 2 to ``max_length`` letters."""
    rng = random.Random(seed)
    return ["".join(rng.choices(LETTERS, k=rng.randint(2, max_length))) for _ in range(n)]


class _Trainable:
    """What the Trainer drives: seeded batches, the loss of a batch, validation metrics."""

    def __init__(self, task: Reverser, train: list[str], valid: list[str]) -> None:
        self.task, self.model = task, task.model
        self.train, self.valid = train, valid

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        lengths = [len(w) for w in self.train]
        for rows in bucketed_batches(lengths, self.task.config.batch_size, generator):
            yield self.task.batch([self.train[i] for i in rows])

    def training_loss(self, batch: Batch) -> tuple[Tensor, int]:
        src, lengths, tgt_in, tgt_out = batch
        tokens = int((tgt_out != self.task.vocab.pad_id).sum())
        return self.model.loss(src, lengths, tgt_in, tgt_out), tokens

    def validate(self) -> dict[str, float]:
        words = self.valid[:500]
        loss = float(self.model.loss(*self.task.batch(words)))
        return {"loss": loss, "exact_match": self.task.accuracy(words)}


class Reverser(Task):
    """Reverses words, letter by letter, with an attentive encoder-decoder."""

    config_class = ReverseConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {"vocab": ("vocab.json", Vocab)}
    what = "word reverser"
    command = "python examples/reverse_task.py"

    vocab: Vocab

    @classmethod
    def prepare_data(cls, data: int | Sequence[str]) -> tuple[list[str], list[str]]:
        """A number of random words, or the words given; 2% held out for validation."""
        words = random_words(data) if isinstance(data, int) else list(data)
        return hold_out(words, 0.02)

    @classmethod
    def build(
        cls, data: tuple[list[str], list[str]], config: ReverseConfig
    ) -> tuple[Reverser, tuple[list[str], list[str]]]:
        vocab = Vocab.build(data[0], level="char", specials=(PAD, UNK, SOS, EOS))
        sizes = {"src_vocab_size": len(vocab), "tgt_vocab_size": len(vocab)}
        model = replace(config.model, **sizes, src_pad_id=vocab.pad_id, tgt_pad_id=vocab.pad_id)
        config = replace(config, model=model)
        return cls(cls.build_model(config), config, vocab=vocab), data

    def trainable(self, encoded: tuple[list[str], list[str]], data: object) -> _Trainable:
        return _Trainable(self, *encoded)

    def batch(self, words: Sequence[str]) -> Batch:
        """Source ids, lengths, <SOS> + reversed ids, reversed ids + <EOS>, on the device."""
        v, dev = self.vocab, self.device
        src, lengths = pad([v.encode(list(w)) for w in words], v.pad_id, device=dev)
        rev = [v.encode(list(w[::-1])) for w in words]
        tgt_in, _ = pad([[v.sos_id, *r] for r in rev], v.pad_id, device=dev)  # (B, S)
        tgt_out, _ = pad([[*r, v.eos_id] for r in rev], v.pad_id, device=dev)  # (B, S)
        return src, lengths, tgt_in, tgt_out

    def predict(self, words: Sequence[str], *, beam_size: int = 1) -> list[str]:
        """Each word reversed by the model (greedy search, or beam search)."""
        ids = [self.vocab.encode(list(w)) for w in words]

        def init_state(rows: Sequence[int]) -> object:
            batch = pad([ids[r] for r in rows], self.vocab.pad_id, device=self.device)
            return self.model.init_state(*batch)

        config = SearchConfig(max_length=20, beam_size=beam_size)
        with self.eval_mode():
            hyps = search(
                self.model, init_state, len(ids), config,
                bos_id=self.vocab.sos_id, eos_id=self.vocab.eos_id,
            )  # fmt: skip
        return ["".join(self.vocab.decode(h[0].tokens)) for h in hyps]

    def accuracy(self, words: Sequence[str]) -> float:
        """The share of words reversed exactly."""
        outs = self.predict(words)
        return sum(o == w[::-1] for o, w in zip(outs, words, strict=True)) / len(words)


def main(argv: Sequence[str] | None = None) -> Reverser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("out/reverse"))
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--words", type=int, default=20_000)
    args = p.parse_args(argv)
    network = Seq2SeqConfig(src_vocab_size=2, tgt_vocab_size=2, embedding_dim=16, hidden_size=64)
    config = ReverseConfig(model=network)
    train = TrainConfig(max_steps=args.steps, lr=5e-3, eval_every=200, progress=False)
    _, result = Reverser.train(args.words, args.out, config, train)
    print(f"trained {result.steps} steps in {result.seconds:.0f} s; model in {args.out}")
    loaded = seqlab.load(args.out)  # finds the "reverse" task by its config.json
    assert isinstance(loaded, Reverser)
    test = random_words(500, seed=1)
    print(f"exact match on 500 new words: {loaded.accuracy(test):.1%}")
    for word, out in zip(test[:5], loaded.predict(test[:5], beam_size=3), strict=True):
        print(f"  {word:<10} -> {out}")
    return loaded


if __name__ == "__main__":
    main()
