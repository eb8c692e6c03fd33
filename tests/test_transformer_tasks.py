"""``arch="transformer"`` in the translator (dates and text) and the language model: training
through the CLI, save/load, resume, ``--json``, evaluate, the error analysis, the per-layer
heatmaps, and the language model's bounded context (tiny models, seconds each)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from seqlab.cli import main
from seqlab.data.datasets import TextCorpus
from seqlab.tasks.language_model import TRANSFORMER_PRESET, LanguageModel, LMTaskConfig
from seqlab.tasks.translator import Translator
from seqlab.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread

SAMPLES = ["3 May 1979", "July 20th 1969", "12/31/1999"]
TINY_TF = ["--d-model", "16", "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "2"]
TINY_TF += ["--ff", "32", "--no-progress"]


@pytest.fixture(scope="module")
def dates_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("tf") / "dates"
    args = ["translate", "train", "--dataset", "dates", "--arch", "transformer", "--out", str(out)]
    args += ["--train-size", "300", "--steps", "20", "--warmup", "5", "--eval-every", "10"]
    assert main([*args, "--batch-size", "16", *TINY_TF, "--json"]) == 0
    return out


def test_cli_trains_a_transformer_on_dates_and_resumes(dates_dir: Path, capsys) -> None:
    cfg = json.loads((dates_dir / "config.json").read_text())
    assert cfg["arch"] == "transformer" and cfg["level"] == "char"
    assert cfg["model"]["d_model"] == 16 and cfg["model"]["num_decoder_layers"] == 2
    tr = Translator.load(dates_dir)
    assert type(tr.model).__name__ == "TransformerSeq2Seq"
    # resume: the run continues from its checkpoint to the new --steps
    args = ["translate", "train", "--dataset", "dates", "--arch", "transformer"]
    args += ["--out", str(dates_dir), "--train-size", "300", "--steps", "24", "--warmup", "5"]
    args += ["--eval-every", "10", "--batch-size", "16", *TINY_TF, "--json", "--resume"]
    capsys.readouterr()
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 24
    lines = (dates_dir / "metrics.jsonl").read_text().splitlines()
    assert any(json.loads(line).get("step") == 24 for line in lines)


def test_options_of_the_other_architecture_are_refused(tmp_path: Path, capsys) -> None:
    args = ["translate", "train", "--dataset", "dates", "--out", str(tmp_path / "m")]
    assert main([*args, "--arch", "transformer", "--hidden", "8"]) == 2
    assert "--hidden only with --arch rnn" in capsys.readouterr().err
    assert main([*args, "--d-model", "8"]) == 2
    assert "--d-model only with --arch transformer" in capsys.readouterr().err
    assert main([*args, "--arch", "cnn"]) == 2
    assert "--arch must be one of rnn, transformer" in capsys.readouterr().err


def test_save_load_search_and_analysis(dates_dir: Path, tmp_path: Path) -> None:
    tr = Translator.load(dates_dir)
    beams = [t.text for t in tr.translate(SAMPLES, beam_size=3)]
    tr.save(tmp_path / "copy")
    again = Translator.load(tmp_path / "copy")
    assert [t.text for t in again.translate(SAMPLES, beam_size=3)] == beams
    greedy = [t.text for t in tr.translate(SAMPLES)]
    assert [t.text for t in tr.translate(SAMPLES, beam_size=1)] == greedy
    result = tr.evaluate(SAMPLES, ["1979-05-03", "1969-07-20", "1999-12-31"], beam_sizes=(1, 2))
    assert [r["beam_size"] for r in result["results"]] == [1, 2]
    analysis = tr.analyze(SAMPLES, ["1979-05-03", "1969-07-20", "1999-12-31"], beam_size=2)
    assert len(analysis.rows) == 3


def test_layer_attention_matches_the_cached_steps(dates_dir: Path) -> None:
    tr = Translator.load(dates_dir)
    out = tr.translate([SAMPLES[0]])[0].candidates[0]
    maps = tr.layer_attention(SAMPLES[0], out)
    t, s = len(maps.output_tokens), len(maps.source_tokens)
    assert maps.cross.shape == (2, 2, t, s) and maps.encoder.shape == (1, 2, s, s)
    assert maps.decoder.shape == (2, 2, t, t) and maps.input_tokens[0] == "<SOS>"
    for w in (maps.encoder, maps.decoder, maps.cross):
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    assert torch.all(maps.decoder.triu(diagonal=1) == 0)  # no look-ahead
    # the teacher-forced pass equals the KV-cached steps of the search: the last layer's
    # cross-attention averaged over heads is what each step reports
    stepped = tr.attention(SAMPLES[0], out)
    torch.testing.assert_close(maps.cross[-1].mean(0), stepped.weights, atol=1e-5, rtol=1e-4)


def test_cli_decode_heatmap_writes_every_layer_and_kind(dates_dir: Path, tmp_path, capsys):
    png = tmp_path / "att.png"
    args = ["translate", "decode", str(dates_dir), SAMPLES[1], "--heatmap", str(png)]
    assert main([*args, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    for item in payload:
        assert item["heatmap"] == str(png) and png.is_file()
        names = sorted(Path(p).name for p in item["layer_heatmaps"])
        # 1 encoder layer, 2 decoder layers (self- and cross-attention)
        assert names == [
            "cross-layer1.png",
            "cross-layer2.png",
            "decoder-layer1.png",
            "decoder-layer2.png",
            "encoder-layer1.png",
        ]
        assert all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in item["layer_heatmaps"])
        assert Path(item["layer_heatmaps"][0]).parent.name == "att-layers"


def test_cli_transformer_on_text_with_bpe(tmp_path: Path, capsys) -> None:
    pytest.importorskip("sentencepiece")
    words = ["cat", "dog", "bird", "fish"]
    lines = [f"the {a} and the {b}\tle {b} et le {a}" for a in words for b in words]
    tsv = tmp_path / "p.tsv"
    tsv.write_text("\n".join(lines * 4) + "\n", encoding="utf-8")
    out = tmp_path / "m"
    args = ["translate", "train", "--pairs", str(tsv), "--arch", "transformer", "--out", str(out)]
    args += ["--vocab-size", "300", "--steps", "3", "--warmup", "1", *TINY_TF, "--json"]
    assert main(args) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["level"] == "bpe" and cfg["arch"] == "transformer"  # the transformer preset
    capsys.readouterr()
    args = ["translate", "evaluate", str(out), "--pairs", str(tsv), "-k", "1", "--json"]
    assert main(args) == 0
    assert "bleu" in json.loads(capsys.readouterr().out)["results"][0]


# -- the language model ----------------------------------------------------------------------

TEXT = "\n".join(["the cat sat on the mat.", "the dog sat on the log.", "a bird flew by."] * 40)


def tiny_lm_config(**changes) -> LMTaskConfig:
    model = replace(TRANSFORMER_PRESET.config.model, d_model=32, num_heads=2, num_layers=2,
                    dim_feedforward=64, max_positions=32, dropout=0.0)  # fmt: skip
    return replace(
        TRANSFORMER_PRESET.config, model=model, **{"bptt": 32, "batch_size": 8, **changes}
    )


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> LanguageModel:
    torch.set_num_threads(1)
    corpus = TextCorpus(name="t", train=TEXT, valid=TEXT[:400], unit="text", description="")
    tc = TrainConfig(max_steps=80, lr=3e-3, warmup_steps=10, eval_every=None, progress=False)
    model, _ = LanguageModel.train(
        corpus, tmp_path_factory.mktemp("lm") / "m", tiny_lm_config(), tc
    )
    return model


def test_transformer_lm_beats_the_unigram_baseline(lm: LanguageModel) -> None:
    held = "the dog sat on the mat.\na bird flew by.\nthe cat sat on the log.\n" * 3
    counts = Counter(TEXT)
    total = sum(counts.values())
    unigram = -sum(math.log(counts[c] / total) for c in held) / len(held)  # about 2.8 nats
    loss = lm.evaluate(held)["loss"]
    # calibrated: 80 steps give 0.75-0.87 nats/char (seeds 0-2, one thread); the unigram
    # model 2.8 and an add-one bigram model of the training text 0.93. Bound 0.45 x unigram
    assert loss < 0.45 * unigram


def test_strided_windows_bound_the_context(lm: LanguageModel) -> None:
    ids = torch.tensor([lm.vocab.encode(list(TEXT[:100]))])  # (1, 100) > 32 positions
    x, y = ids[:, :-1], ids[:, 1:]
    with lm.eval_mode():
        total, state = lm._stream_nll(x, y, None)
        assert state is None  # no cache is carried from one window to the next
        # by hand: [0, 32) scored whole, then windows of 32 scoring their last 16 tokens
        expected = 0.0
        done = 0
        while done < x.shape[1]:
            end = min(done + 16, x.shape[1]) if done else 32
            start = max(0, end - 32)
            logits, _ = lm.model(x[:, start:end])
            expected += F.cross_entropy(logits[0, done - start :], y[0, done:end], reduction="sum")
            done = end
        # and within one window it is the full forward pass
        short, _ = lm._stream_nll(x[:, :20], y[:, :20], None)
        logits, _ = lm.model(x[:, :20])
        full = F.cross_entropy(logits[0], y[0, :20], reduction="sum")
    assert total == pytest.approx(float(expected), rel=1e-5)
    assert short == pytest.approx(float(full), rel=1e-5)


def test_context_is_the_trained_window_not_max_positions(tmp_path: Path) -> None:
    # positions beyond the training window were never trained (learned ones keep their start):
    # evaluation reads windows of --bptt, whatever max_positions allows
    torch.set_num_threads(1)
    corpus = TextCorpus(name="t", train=TEXT, valid=TEXT[:400], unit="text", description="")
    config = tiny_lm_config(bptt=16)  # max_positions 32
    tc = TrainConfig(max_steps=2, warmup_steps=1, eval_every=None, progress=False)
    lm, _ = LanguageModel.train(corpus, tmp_path / "m", config, tc)
    assert lm.model.config.max_positions == 32 and lm._context == 16
    ids = torch.tensor([lm.vocab.encode(list(TEXT[:40]))])  # (1, 40)
    x, y = ids[:, :-1], ids[:, 1:]
    with lm.eval_mode():
        total, _ = lm._stream_nll(x, y, None)
        expected, done = 0.0, 0  # by hand: [0, 16) whole, then windows of 16 scoring 8 each
        while done < x.shape[1]:
            end = min(done + 8, x.shape[1]) if done else 16
            start = max(0, end - 16)
            logits, _ = lm.model(x[:, start:end])
            expected += F.cross_entropy(logits[0, done - start :], y[0, done:end], reduction="sum")
            done = end
    assert total == pytest.approx(float(expected), rel=1e-5)


def test_transformer_lm_round_trip_and_limits(lm: LanguageModel, tmp_path: Path) -> None:
    lm.save(tmp_path / "copy")
    again = LanguageModel.load(tmp_path / "copy")
    assert again.sample(3, seed=2, max_length=20, prefix="the") == lm.sample(
        3, seed=2, max_length=20, prefix="the"
    )
    with pytest.raises(ValueError, match="bptt 64 exceeds the transformer's max_positions 32"):
        tiny_lm_config(bptt=64)


def test_sampling_slides_past_the_context(lm: LanguageModel) -> None:
    # by hand, with full forward passes: when 32 tokens are held, go on from the last 15 and
    # the new one (the recent half window); the cached sliding window must match it
    window = lm._context
    assert window == 32
    for prefix in ("", "the cat sat on the mat. the dog sat on the log. a bird"):  # 0, 54 chars
        got = lm.sample(1, greedy=True, max_length=70, prefix=prefix)[0]
        ids = lm._start_ids() + lm.vocab.encode(list(prefix))
        ctx, token, out = ids[:-1], ids[-1], []
        if len(ctx) >= window:
            ctx = ctx[len(ctx) - window // 2 :]
        with lm.eval_mode():
            for _ in range(70):
                if len(ctx) >= window:
                    ctx = ctx[len(ctx) - (window // 2 - 1) :]
                ctx = [*ctx, token]
                logits, _ = lm.model(torch.tensor([ctx]))  # (1, t, V)
                token = int(logits[0, -1].argmax())
                if token == lm.vocab.eos_id:
                    break
                out.append(token)
        assert got == prefix + "".join(lm.vocab.decode(out))
        assert len(got) > len(prefix) + window  # it did run past the context


def test_cli_lm_transformer(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT + "\n", encoding="utf-8")
    out = tmp_path / "m"
    args = ["lm", "train", "--text", str(corpus), "--arch", "transformer", "--out", str(out)]
    args += ["--d-model", "16", "--heads", "2", "--layers", "1", "--ff", "32", "--bptt", "24"]
    assert main([*args, "--steps", "4", "--warmup", "1", "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 4
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["arch"] == "transformer" and cfg["bptt"] == 24
    assert cfg["model"]["max_positions"] == 24  # the context is the training window
    assert main(["lm", "sample", str(out), "-n", "2", "--seed", "1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main([*args, "--cell", "gru"]) == 2
    assert "--cell only with --arch rnn" in capsys.readouterr().err


def test_torchrun_two_processes_take_the_one_process_step(tmp_path: Path) -> None:
    """DDP as for the RNN (tests/test_language_model.py): one SGD step (lr 1, no dropout) of
    a transformer on dinos under `torchrun --nproc-per-node 2` equals it in one process."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    args = ["lm", "train", "--dataset", "dinos", "--arch", "transformer", "--d-model", "16"]
    args += ["--heads", "2", "--layers", "1", "--ff", "32", "--dropout", "0", "--steps", "1"]
    args += ["--optimizer", "sgd", "--momentum", "0", "--lr", "1", "--clip", "none"]
    args += ["--warmup", "0", "--weight-decay", "0", "--eval-every", "1", "--checkpoint-every"]
    args += ["1", "--no-progress"]
    env = os.environ | {"OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1"]
    launch += ["--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(port)]
    proc = subprocess.run(
        [*launch, "-m", "seqlab", *args, "--out", str(tmp_path / "ddp")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    two = load_file(tmp_path / "ddp" / "checkpoint" / "model.safetensors")
    one = load_file(tmp_path / "one" / "checkpoint" / "model.safetensors")
    assert two.keys() == one.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=1e-6)
