"""Longer learning tests (`make test-slow`): the issues' quality targets, reached on CPU.

Each bound's comment says how it was calibrated. Not part of the default run (marked
``slow``); the figures measured with them are in the README.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from seqlab.data.datasets import load_dataset
from seqlab.data.parallel import read_pairs
from seqlab.models.rnn_lm import LMConfig
from seqlab.tasks import LanguageModel, LMTaskConfig
from seqlab.tasks.translator import DATES_TRAIN_SIZE, PRESETS, ParallelCorpus, Translator
from seqlab.train import TrainConfig
from tests.baselines import best_ngram_nll

pytestmark = pytest.mark.slow

REAL_DATES = Path(__file__).parent / "golden" / "real_dates.tsv"  # written by hand


def test_dates_reach_99_9_percent_exact_match_on_the_held_out_set(tmp_path: Path) -> None:
    # the default `seqlab translate train --dataset dates` model, 3,000 steps on the years
    # 1000-2999 and 44 forms: 99.95-100.00% on the 2,000 held-out dates and 100.00% on the
    # 154 hand-written ones, greedy and beam 3 (seeds 0-2, 87-99 s on 2 cores,
    # benchmarks/dates.py); the targets 99.9% and 97% (at most 4 of 154 wrong)
    config, train = PRESETS["dates"].config, replace(PRESETS["dates"].train, progress=False)
    corpus = ParallelCorpus.dates(DATES_TRAIN_SIZE, seed=0)
    tr, _ = Translator.train(corpus, tmp_path / "dates", config, train)
    result = tr.evaluate(beam_sizes=(1, 3))
    for entry in result["results"]:
        assert entry["exact_match"] >= 0.999, (entry["beam_size"], entry["errors"][:5])
    real = read_pairs(REAL_DATES)
    assert len(real) >= 100
    result = tr.evaluate([s for s, _ in real], [t for _, t in real], beam_sizes=(1, 3))
    for entry in result["results"]:
        assert entry["exact_match"] >= 0.97, (entry["beam_size"], entry["errors"][:5])


def test_char_lstm_on_tinyshakespeare_learns_below_calibrated_bound(tmp_path: Path) -> None:
    # a 1-layer LSTM (H 256) for 400 steps of 32 x 64 characters: 1.76-1.80 nats/char on
    # the first 20,000 validation characters (seeds 0-1, 2 threads, 23-28 s each). Baselines
    # counted on the training text (add-k, best k): character trigram 1.99, so the bound asks
    # for 0.1 below it; a model whose recurrence is broken sees one character, a bigram's
    # view. (A 4-gram reaches 1.71 and a 5-gram 1.68: 400 steps do not beat those.)
    torch.manual_seed(0)
    config = LMTaskConfig(
        level="char",
        unit="text",
        model=LMConfig(vocab_size=2, cell="lstm", hidden_size=256, num_layers=1),
        bptt=64,
        batch_size=32,
    )
    lm, _ = LanguageModel.train(
        "tinyshakespeare",
        tmp_path / "ts",
        config,
        TrainConfig(max_steps=400, lr=3e-3, eval_every=400, progress=False),
    )
    corpus = load_dataset("tinyshakespeare")
    valid = corpus.valid[:20_000]
    start = lm._start_ids()
    train_ids = [start + lm.vocab.encode(list(corpus.train))]
    valid_ids = [start + lm.vocab.encode(list(valid))]
    trigram = best_ngram_nll(train_ids, valid_ids, n=3, vocab_size=len(lm.vocab), ks=(0.05,))
    loss = lm.evaluate(valid)["loss"]
    assert loss < trigram - 0.1, (loss, trigram)
