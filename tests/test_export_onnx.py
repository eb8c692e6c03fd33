"""``seqlab export DIR --onnx FILE``: the ONNX graphs, run by onnxruntime, give PyTorch's outputs.

* speech (CTC): the waveform → log-probabilities graph against the task's own features
  (``SpeechRecognizer.features``, ``torch.stft``) and the network's padded forward, on two
  recording lengths and a batch of two (dynamic axes);
* wake word, streaming: the ONNX chunk loop against ``StreamingWakeModel.stream`` and the
  full forward, on two chunkings (different lengths each call);
* wake word, the course's network: the full-window graph against the forward;
* metadata (labels, blank, sample rate, threshold) and the errors: another task's model, a
  missing folder, an output path under a file, a LAS recognizer.

The models are built through the task API with random weights (and random feature
normalisation for the wake networks) and saved, so the CLI loads them as trained ones.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.cli import main
from seqlab.data.vocab import PAD, Vocab
from seqlab.models.rnn_lm import LMConfig
from seqlab.models.speech import SpeechCTCConfig
from seqlab.tasks import LanguageModel, LMTaskConfig, SpeechConfig, SpeechRecognizer, WakeWord
from seqlab.tasks.wake import PRESETS

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

ATOL = 1e-4  # float32 ONNX vs PyTorch; measured worst differences are ~1e-6


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _export(model_dir: Path, onnx: Path) -> dict:
    code, out, err = _run(["export", str(model_dir), "--onnx", str(onnx), "--json"])
    assert code == 0, err
    return json.loads(out)


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def speech(root: Path) -> SpeechRecognizer:
    torch.manual_seed(0)
    vocab = Vocab.build(["one two three"], level="char", specials=(PAD,))
    model = SpeechCTCConfig(
        num_classes=len(vocab), n_features=20, conv_channels=16, hidden_size=16, num_layers=2
    )
    config = SpeechConfig(model=model, n_mels=20, sample_rate=8000)
    task = SpeechRecognizer(SpeechRecognizer.build_model(config), config, vocab=vocab)
    task.save(root / "speech")
    return SpeechRecognizer.load(root / "speech")


def _wake(root: Path, arch: str) -> WakeWord:
    torch.manual_seed(1)
    config = replace(PRESETS["tiny"].config, arch=arch)
    task = WakeWord(WakeWord.build_model(config), config)
    f = config.model.input_size
    task.model.set_normalization(torch.randn(f), torch.rand(f) + 0.5)  # not the identity
    if arch == "rnn":  # batch-norm statistics away from (0, 1) too
        for bn in (task.model.conv_bn, task.model.bn1, task.model.bn2):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
    task.save(root / f"wake_{arch}")
    return WakeWord.load(root / f"wake_{arch}")


def test_speech_waveform_graph_equals_pytorch(speech: SpeechRecognizer, root: Path) -> None:
    facts = _export(root / "speech", root / "speech.onnx")
    assert facts["graph"] == "waveform->log_probs" and facts["task"] == "speech"
    session = _session(root / "speech.onnx")
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"]) == list(speech.vocab.tokens)
    assert int(meta["blank"]) == 0 and int(meta["sample_rate"]) == 8000
    g = torch.Generator().manual_seed(2)
    worst = 0.0
    for n in (8000, 12345):  # two lengths, two recordings each: dynamic batch and time axes
        waves = torch.randn(2, n, generator=g)  # (B, N)
        (got,) = session.run(None, {"waveform": waves.numpy()})  # (B, T', C)
        for b in range(2):
            feats = speech.features(waves[b])  # (T, F): the task's torch.stft front-end
            with torch.no_grad():
                want, _ = speech.model(feats[None], torch.tensor([len(feats)]))  # (1, T', C)
            assert got[b].shape == tuple(want[0].shape)
            worst = max(worst, float(np.abs(got[b] - want[0].numpy()).max()))
    assert worst < ATOL, worst


def _onnx_stream(session: ort.InferenceSession, chunks: list[np.ndarray]) -> list[np.ndarray]:
    """The deployer's loop (docs/wake.md): buffer samples until a call completes a window,
    carry (tail, context, hidden) from call to call."""
    meta = session.get_modelmeta().custom_metadata_map
    f, h = int(meta["n_mels"]), int(meta["hidden_size"])
    state = {
        "tail": np.zeros((1, 0), np.float32),  # samples not yet in a frame
        "context": np.zeros((1, 0, f), np.float32),  # frames not yet under a whole window
        "hidden": np.zeros((1, 1, h), np.float32),  # the GRU state
    }
    need, pending, out = int(meta["first_chunk_samples"]), np.zeros((1, 0), np.float32), []
    for chunk in chunks:
        pending = np.concatenate([pending, chunk[None].astype(np.float32)], axis=1)
        if pending.shape[1] < need:
            continue
        probs, *carried = session.run(None, {"audio": pending, **state})
        state = dict(zip(state, carried, strict=True))
        need, pending = int(meta["chunk_samples"]), pending[:, :0]
        out.append(probs[0])
    return out


@pytest.mark.parametrize("sizes", [[700, 333, 1600, 80, 5000, 1], [160] * 40])
def test_wake_streaming_graph_equals_stream_and_forward(root: Path, sizes: list[int]) -> None:
    task = _wake(root, "streaming")
    facts = _export(root / "wake_streaming", root / "wake_streaming.onnx")
    assert facts["graph"] == "streaming"
    session = _session(root / "wake_streaming.onnx")
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["streaming"] == "true" and float(meta["threshold"]) == task.config.threshold
    rng = np.random.default_rng(sum(sizes))
    audio = rng.normal(0, 0.1, sum(sizes)).astype(np.float32)  # (N,)
    chunks = np.split(audio, np.cumsum(sizes)[:-1])
    got = np.concatenate(_onnx_stream(session, chunks))
    torch_stream = np.concatenate(list(task.stream_scores(chunks)))  # PyTorch's chunk loop
    full = task.scores(audio)  # (Ty,): the whole recording at once
    assert len(full) == task.config.steps(len(audio)) and len(got) > 10
    # the ONNX loop may still hold the samples of an unfinished call: compare what it gave
    np.testing.assert_allclose(got, torch_stream[: len(got)], atol=ATOL, rtol=0)
    np.testing.assert_allclose(got, full[: len(got)], atol=ATOL, rtol=0)
    assert len(full) - len(got) <= -(-int(meta["chunk_samples"]) // task.config.hop_length)


def test_wake_course_model_exports_its_full_window(root: Path) -> None:
    task = _wake(root, "rnn")
    code, out, err = _run(["export", str(root / "wake_rnn"), "--onnx", str(root / "w.onnx")])
    assert code == 0, err
    assert "full-window" in out and "not streaming" in out
    session = _session(root / "w.onnx")
    assert session.get_modelmeta().custom_metadata_map["streaming"] == "false"
    rng = np.random.default_rng(4)
    for n in (4000, 7777):  # two lengths, two recordings each
        audio = rng.normal(0, 0.1, (2, n)).astype(np.float32)  # (B, N)
        (got,) = session.run(None, {"audio": audio})  # (B, Ty)
        want = np.stack([task.scores(a) for a in audio])  # the task's features and forward
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_other_task_kinds_are_refused(root: Path) -> None:
    vocab = Vocab.build([list("abc")], level="char", specials=("<UNK>", "<EOS>"))
    config = LMTaskConfig(
        level="char", unit="line", model=LMConfig(vocab_size=len(vocab), hidden_size=4)
    )
    lm = LanguageModel(LanguageModel.build_model(config), vocab, config)  # type: ignore[arg-type]
    lm.save(root / "lm")
    code, _, err = _run(["export", str(root / "lm"), "--onnx", str(root / "lm.onnx")])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "speech recognizers (CTC) and trigger-word detectors" in err
    assert not (root / "lm.onnx").exists()


def test_las_recognizer_is_refused(speech: SpeechRecognizer) -> None:
    from seqlab.models.las import LASConfig
    from seqlab.tasks.export import export_onnx

    config = SpeechConfig(arch="las", model=LASConfig(vocab_size=6, n_features=40))
    vocab = Vocab.build(["abc"], level="char", specials=(PAD, "<SOS>", "<EOS>"))
    las = SpeechRecognizer(SpeechRecognizer.build_model(config), config, vocab=vocab)
    with pytest.raises(ValueError, match="only CTC"):
        export_onnx(las, "unused.onnx")


def test_missing_model_dir(tmp_path: Path) -> None:
    code, _, err = _run(["export", str(tmp_path / "nope"), "--onnx", str(tmp_path / "m.onnx")])
    assert code == 2 and "not a seqlab model directory" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m.onnx").exists()


def test_output_folders_are_created_and_a_file_in_the_way_is_refused(
    speech: SpeechRecognizer, root: Path, tmp_path: Path
) -> None:
    deep = tmp_path / "a" / "b" / "model.onnx"  # missing folders: created, as mkdir -p
    assert _export(root / "speech", deep)["path"] == str(deep) and deep.stat().st_size > 1000
    (tmp_path / "file").write_text("x")
    code, _, err = _run(
        ["export", str(root / "speech"), "--onnx", str(tmp_path / "file" / "m.onnx")]
    )
    assert code == 2 and "--onnx" in err and len(err.strip().splitlines()) == 1
    leftovers = [p.name for p in deep.parent.iterdir() if p.name != "model.onnx"]
    assert leftovers == []  # the atomic write leaves no temporary file behind
