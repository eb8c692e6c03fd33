"""Corpora of any size (issue 19): `seqlab lm train --unit text` on a memory-mapped token
file, one-line corpora (text8-like), the position split, --valid, --resume reusing the file.

Every corpus is generated here (no test reads ../shared); each test points SEQLAB_CACHE at
its own folder.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from seqlab.cli import main
from seqlab.data import tokens as T
from seqlab.data.datasets import TextCorpus, TextFile
from seqlab.models.rnn_lm import LMConfig
from seqlab.tasks import LanguageModel, LMTaskConfig
from seqlab.train import TrainConfig
from tests.baselines import ngram_nll

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ["anarchism", "originated", "as", "a", "term", "of", "abuse", "first", "used"]
TINY = ["--cell", "gru", "--layers", "1", "--hidden", "48", "--embedding", "16"]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def one_line(path: Path, n_words: int, seed: int = 0) -> Path:
    """A text8-like corpus: lower-case words and single spaces, one line, no newline."""
    rng = random.Random(seed)
    path.write_text(" " + " ".join(rng.choice(WORDS) for _ in range(n_words)))
    return path


class EncodeCounter:
    """Counts the calls of seqlab.data.tokens.encode_file (the only writer of token files)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = T.encode_file

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(T, "encode_file", counted)


def test_one_line_corpus_trains_from_the_cli_and_beats_a_trigram(tmp_path: Path, capsys) -> None:
    """The issue's "done when": a one-line corpus trains with `--unit text` (it used to be
    refused: "only 1 line(s)"), validates on the contiguous tail (10%), and learns."""
    corpus = one_line(tmp_path / "text8.txt", 6000)
    out = tmp_path / "m"
    args = ["lm", "train", "--text", str(corpus), "--level", "char", "--unit", "text", *TINY]
    args += ["--bptt", "32", "--batch-size", "16", "--lr", "0.01", "--steps", "150"]
    args += ["--eval-every", "150", "--out", str(out), "--no-progress", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    text = corpus.read_text()
    lm = LanguageModel.load(out)
    ids = T.encode_text(text, lm.vocab).tolist()
    cut = int(len(ids) * 0.9)
    valid = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert valid["valid_tokens"] == len(ids) - cut  # the tail, every token predicted
    # the baseline scores the tail as the model does: read after the token before it
    trigram = ngram_nll([ids[:cut]], [ids[cut - 1 :]], n=3, vocab_size=len(lm.vocab))
    # a character trigram knows letter triples but not where in a word it is: 0.47-0.50
    # nats here; 150 steps reached 0.38-0.41 (corpus and --seed 0-2, one thread); the bound
    # asks for 0.03 below the trigram
    assert summary["best_valid_loss"] < trigram - 0.03, (summary["best_valid_loss"], trigram)


def test_resume_reuses_the_token_file_and_replays_exactly(tmp_path: Path, monkeypatch) -> None:
    corpus = one_line(tmp_path / "c.txt", 3000)
    encodes = EncodeCounter(monkeypatch)
    base = ["lm", "train", "--text", str(corpus), "--unit", "text", *TINY, "--bptt", "16"]
    base += ["--batch-size", "8", "--eval-every", "100", "--checkpoint-every", "3"]
    base += ["--no-progress", "--seed", "3"]
    assert main([*base, "--steps", "6", "--out", str(tmp_path / "straight")]) == 0
    assert encodes.calls == 1
    (token_file,) = (tmp_path / "cache" / "tokens").glob("*.bin")
    before = token_file.stat()

    assert main([*base, "--steps", "3", "--out", str(tmp_path / "resumed")]) == 0
    assert main([*base, "--steps", "6", "--resume", "--out", str(tmp_path / "resumed")]) == 0
    after = token_file.stat()
    assert encodes.calls == 1  # neither the new run nor the resumed one encoded again
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # the windows come from the trainer's generator: the resumed run replays them
    one = load_file(tmp_path / "straight" / "checkpoint" / "model.safetensors")
    two = load_file(tmp_path / "resumed" / "checkpoint" / "model.safetensors")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=0)


def test_valid_file_works_for_both_units(tmp_path: Path, capsys) -> None:
    corpus = one_line(tmp_path / "c.txt", 2000)
    held = tmp_path / "held.txt"
    held.write_text("first term\nof abuse\n")
    for unit in ("text", "line"):
        out = tmp_path / unit
        args = ["lm", "train", "--text", str(corpus), "--valid", str(held), "--unit", unit]
        args += [*TINY, "--steps", "2", "--eval-every", "2", "--out", str(out), "--no-progress"]
        assert main(args) == 0, capsys.readouterr().err
        valid = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
        # text: every character after a start token; line: each line's characters and <EOS>
        assert valid["valid_tokens"] == len("first term\nof abuse\n")
    args = ["lm", "train", "--dataset", "dinos", "--valid", str(held), "--out", str(tmp_path / "x")]
    assert main(args) == 2
    assert "--valid goes with --text" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "unit", "extra", "message"),
    [
        ("only line\n", "line", [], "--valid-fraction=0"),
        ("a", "text", [], "--valid-fraction=0"),
        ("some text here", "text", ["--valid-fraction", "1.5"], "--valid-fraction must be"),
    ],
)
def test_split_errors_name_the_flag(
    tmp_path: Path, capsys, content: str, unit: str, extra: list[str], message: str
) -> None:
    path = tmp_path / "short.txt"
    path.write_text(content)
    args = [
        "lm",
        "train",
        "--text",
        str(path),
        "--unit",
        unit,
        *extra,
        "--out",
        str(tmp_path / "m"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "valid_fraction" not in err, err
    assert len(err.strip().splitlines()) == 1


def test_position_split_from_the_api(tmp_path: Path) -> None:
    """TextCorpus.from_file(unit="text") splits a one-line file by characters (nanoGPT);
    a TextFile gives the same split of the token stream."""
    corpus = one_line(tmp_path / "c.txt", 500)
    text = corpus.read_text()
    memory = TextCorpus.from_file(corpus, unit="text", valid_fraction=0.25)
    assert memory.train == text[: int(len(text) * 0.75)] and memory.train + memory.valid == text
    config = LMTaskConfig(level="char", unit="text", model=LMConfig(vocab_size=2, hidden_size=8))
    lm, split = LanguageModel.build(TextFile(path=corpus, valid_fraction=0.25), config)
    assert isinstance(split.train, np.memmap)
    assert "".join(lm.vocab.decode(split.train.tolist())) == memory.train
    assert "".join(lm.vocab.decode(split.valid.tolist())) == memory.valid
    assert split.context == lm.vocab[memory.train[-1]]


def test_word_level_one_line_corpus_trains(tmp_path: Path) -> None:
    corpus = one_line(tmp_path / "c.txt", 3000)
    config = LMTaskConfig(
        level="word",
        unit="text",
        bptt=16,
        batch_size=8,
        model=LMConfig(vocab_size=2, hidden_size=16),
    )
    lm, result = LanguageModel.train(
        TextFile(path=corpus),
        tmp_path / "m",
        config,
        TrainConfig(max_steps=4, eval_every=4, progress=False),
    )
    # 9 words, <UNK>, and one <EOS> at the end of the only line
    assert len(lm.vocab) == len(WORDS) + 2 and result.best_valid is not None
