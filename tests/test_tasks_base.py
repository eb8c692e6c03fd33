"""The task framework: the Task base, its registry and seqlab.load, the config round trip,
the output-folder check, the model registry, and the worked example of docs/architecture.md
(examples/reverse_task.py) trained, saved, found by seqlab.load and used."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pytest
import torch
from torch import nn

import seqlab
from seqlab._io import DataError
from seqlab.data import Vocab
from seqlab.data.datasets import TextCorpus
from seqlab.models.registry import build_model, model_archs, model_class, register_model
from seqlab.models.rnn_lm import LMConfig
from seqlab.models.seq2seq import Seq2SeqConfig
from seqlab.tasks import (
    LanguageModel,
    LMTaskConfig,
    Task,
    TaskConfig,
    Translator,
    TranslatorConfig,
    registered_tasks,
)
from seqlab.train import Callback, FolderInUseError, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
LM_CONFIG = LMTaskConfig(
    level="char", unit="line", model=LMConfig(vocab_size=2, hidden_size=8, num_layers=1)
)
TR_CONFIG = TranslatorConfig(
    model=Seq2SeqConfig(src_vocab_size=2, tgt_vocab_size=2, hidden_size=8, embedding_dim=4)
)


def _example() -> ModuleType:
    """examples/reverse_task.py as a module (it registers the "reverse" task)."""
    if "reverse_task" in sys.modules:
        return sys.modules["reverse_task"]
    spec = importlib.util.spec_from_file_location("reverse_task", ROOT / "examples/reverse_task.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reverse_task"] = module
    spec.loader.exec_module(module)
    return module


# -- configs -----------------------------------------------------------------------------


@pytest.mark.parametrize("config", [LM_CONFIG, TR_CONFIG], ids=["lm", "translator"])
def test_config_round_trip_through_json(config: TaskConfig) -> None:
    d = json.loads(json.dumps(config.to_dict()))
    assert d["task"] == config.task and d["format"] == 1 and d["arch"] == "rnn"
    assert type(config).from_dict(d) == config


def test_a_config_saved_before_arch_existed_still_loads() -> None:
    d = LM_CONFIG.to_dict()
    del d["arch"]
    assert LMTaskConfig.from_dict(d) == LM_CONFIG


def test_config_errors_name_the_problem() -> None:
    d = TR_CONFIG.to_dict()
    with pytest.raises(ValueError, match="unknown TranslatorConfig fields: colour"):
        TranslatorConfig.from_dict({**d, "colour": "red"})
    with pytest.raises(ValueError, match="format 99 is newer"):
        TranslatorConfig.from_dict({**d, "format": 99})
    with pytest.raises(ValueError, match=r"unknown language_model architecture 'lstm-xl'"):
        replace(LM_CONFIG, arch="lstm-xl")


# -- the model registry ----------------------------------------------------------------------


def test_model_registry_builds_what_the_config_names() -> None:
    assert "rnn" in model_archs("seq2seq") and "rnn" in model_archs("language_model")
    model = build_model("language_model", "rnn", LMConfig(vocab_size=5, hidden_size=4))
    assert isinstance(model, model_class("language_model", "rnn"))
    with pytest.raises(TypeError, match="takes a LMConfig"):
        build_model("language_model", "rnn", TR_CONFIG.model)
    with pytest.raises(ValueError, match=r"registered: 'rnn'"):
        model_class("seq2seq", "nope")


def test_register_model_refuses_a_taken_name_and_a_class_without_config() -> None:
    with pytest.raises(TypeError, match="config_class"):
        register_model("language_model", "bare")(nn.Linear)

    class Other(nn.Module):
        config_class = LMConfig

    with pytest.raises(ValueError, match="already"):
        register_model("language_model", "rnn")(Other)


# -- the task registry and seqlab.load --------------------------------------------------------


def test_tasks_register_themselves_by_config_name() -> None:
    tasks = registered_tasks()
    assert tasks["language_model"] is LanguageModel and tasks["translator"] is Translator


def test_a_second_class_cannot_take_a_task_name() -> None:
    with pytest.raises(ValueError, match="already registered"):

        class Impostor(Task):
            config_class = LMTaskConfig


def test_load_names_an_unknown_task_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"task": "juggler"}')
    with pytest.raises(DataError, match=r"unknown task 'juggler' \(known: .*translator") as info:
        seqlab.load(tmp_path)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="not a seqlab model directory"):
        seqlab.load(tmp_path / "missing")


# -- the shared parts of a task --------------------------------------------------------------


def _tiny_lm() -> LanguageModel:
    vocab = Vocab.build([list("abc")], level="char", specials=("<UNK>", "<EOS>"))
    config = replace(LM_CONFIG, model=replace(LM_CONFIG.model, vocab_size=len(vocab)))
    return LanguageModel(LanguageModel.build_model(config), vocab, config)  # type: ignore[arg-type]


def test_output_folder_with_another_models_vocabulary_is_refused(tmp_path: Path) -> None:
    lm = _tiny_lm()
    lm.check_out_dir(tmp_path, resume=False)  # an empty folder is fine
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"already holds a model \(vocab.json\)"):
        lm.check_out_dir(tmp_path, resume=False)
    with pytest.raises(DataError, match="nothing to resume"):
        lm.check_out_dir(tmp_path, resume=True)


def test_an_output_folder_behind_a_file_is_a_one_line_data_error(tmp_path: Path) -> None:
    lm = _tiny_lm()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(DataError, match=r"a-file: is a file, not a folder — choose another"):
        lm.check_out_dir(blocker, resume=False)
    with pytest.raises(DataError, match=r"a-file/sub: cannot be created: .*a-file is a file"):
        lm.check_out_dir(blocker / "sub", resume=True)


def _corpus() -> TextCorpus:
    names = "\n".join(["ab", "abc", "bca", "cab", "ba"] * 4)
    return TextCorpus(name="t", train=names, valid="abc\nca", unit="line", description="t")


_TRAIN = TrainConfig(max_steps=2, eval_every=1, progress=False)


def test_train_checks_the_output_folder_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("built although the output folder cannot be used")

    monkeypatch.setattr(LanguageModel, "build", no_build)
    (tmp_path / "a-file").write_text("x")
    for out in (tmp_path / "a-file", tmp_path / "a-file" / "sub"):
        with pytest.raises(DataError, match="a-file") as info:
            LanguageModel.train(_corpus(), out, LM_CONFIG, _TRAIN)
        assert "\n" not in str(info.value)


def test_train_creates_missing_folders_and_holds_the_folder_while_training(
    tmp_path: Path,
) -> None:
    out = tmp_path / "new" / "deeper" / "lm"
    holders: list[int] = []

    class Holder(Callback):
        def on_record(self, record: dict, records: list[dict]) -> None:
            holders.append(json.loads((out / ".lock.holder").read_text())["pid"])

    _, result = LanguageModel.train(_corpus(), out, LM_CONFIG, _TRAIN, callbacks=[Holder()])
    assert result.steps == 2 and (out / "config.json").is_file()
    assert holders and set(holders) == {os.getpid()}
    assert not (out / ".lock.holder").exists()  # let go when train() returned


def test_train_into_a_folder_another_process_holds_is_refused(
    held_folder: tuple[Path, int],
) -> None:
    out, pid = held_folder
    with pytest.raises(FolderInUseError, match=rf"in use by process {pid} \(started"):
        LanguageModel.train(_corpus(), out, LM_CONFIG, _TRAIN, resume=True)
    assert not (out / "config.json").exists()  # refused before writing anything


def test_resume_refuses_changed_options_but_not_a_changed_kernel(tmp_path: Path) -> None:
    lm = _tiny_lm()
    lm.save(tmp_path)
    lm.check_out_dir(tmp_path, resume=True)
    fast = replace(lm.config, model=replace(lm.config.model, impl="bptt"))
    LanguageModel(lm.model, lm.vocab, fast).check_out_dir(tmp_path, resume=True)
    other = replace(lm.config, bptt=7)
    with pytest.raises(DataError, match="differ from the run being resumed"):
        LanguageModel(lm.model, lm.vocab, other).check_out_dir(tmp_path, resume=True)


def test_save_load_round_trip_and_missing_artifact(tmp_path: Path) -> None:
    lm = _tiny_lm()
    lm.save(tmp_path / "m")
    back = seqlab.load(tmp_path / "m")
    assert isinstance(back, LanguageModel) and back.vocab == lm.vocab
    for a, b in zip(back.model.state_dict().values(), lm.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    (tmp_path / "m" / "vocab.json").unlink()
    with pytest.raises(DataError, match=r"no vocab\.json"):
        LanguageModel.load(tmp_path / "m")


def test_eval_mode_restores_the_mode_and_disables_grad() -> None:
    lm = _tiny_lm()
    lm.model.train()
    with lm.eval_mode():
        assert not lm.model.training and not torch.is_grad_enabled()
    assert lm.model.training and torch.is_grad_enabled()
    a, b = lm.generator(5), lm.generator(5)
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))


def test_a_task_without_artifacts_it_declares_is_a_type_error() -> None:
    lm = _tiny_lm()
    with pytest.raises(TypeError, match=r"missing \['vocab'\]"):
        Task.__init__(lm, lm.model, lm.config)


# -- the worked example -------------------------------------------------------------------------


def test_example_task_trains_saves_and_is_found_by_seqlab_load(tmp_path: Path, capsys) -> None:
    example = _example()
    torch.set_num_threads(1)
    loaded = example.main(["--out", str(tmp_path / "rev"), "--steps", "250", "--words", "4000"])
    assert isinstance(loaded, example.Reverser)
    assert {"config.json", "vocab.json", "model.safetensors", "loss_curve.png"} <= {
        p.name for p in (tmp_path / "rev").iterdir()
    }
    words = example.random_words(400, seed=7)
    # 250 steps (4,000 words, one thread): 93% exact match on new words (seeds 0 and 1);
    # copying the input, the baseline, is right only for palindromes (about 4%)
    copy_baseline = sum(w == w[::-1] for w in words) / len(words)
    accuracy = loaded.accuracy(words)
    assert accuracy >= 0.7 and accuracy > copy_baseline + 0.5, (accuracy, copy_baseline)
    assert "exact match on 500 new words" in capsys.readouterr().out


@dataclass(frozen=True, kw_only=True)
class _NoModelConfig(TaskConfig):
    task: ClassVar[str] = "no_model_here"
    model_kind: ClassVar[str] = "nothing"


def test_a_config_whose_kind_has_no_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown nothing architecture 'rnn'"):
        _NoModelConfig()


@pytest.mark.parametrize("unit", ["line", "text"])
def test_batches_per_epoch_counts_what_an_epoch_yields(unit: str) -> None:
    from seqlab.data.datasets import load_dataset

    config = replace(LM_CONFIG, unit=unit, bptt=30, batch_size=16)
    lm, encoded = LanguageModel.build(load_dataset("dinos"), config)
    trainable = lm.trainable(encoded, None)
    batches = list(trainable.train_batches(0, torch.Generator().manual_seed(0)))
    assert trainable.batches_per_epoch() == len(batches) > 1


def test_translator_batches_per_epoch_counts_what_an_epoch_yields() -> None:
    from seqlab.data.parallel import ParallelCorpus

    corpus = ParallelCorpus.dates(1000, valid_size=10)
    tr, encoded = Translator.build(corpus, replace(TR_CONFIG, level="char", batch_size=7))
    trainable = tr.trainable(encoded, corpus)
    batches = list(trainable.train_batches(0, torch.Generator().manual_seed(0)))
    assert trainable.batches_per_epoch() == len(batches) == -(-1000 // 7)
