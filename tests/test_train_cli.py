"""The shared ``train`` options on the command line (``seqlab lm train``, ``seqlab translate
train``): errors that name the flags (and tables of field -> flag that cover every config
field), one rule for ``--time-budget``, the resume notices, ``--out`` problems as one-line
errors, missing output folders created (``mkdir -p``), and a model folder held by one
process at a time."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pytest
import typer

from seqlab.cli import main
from seqlab.cli._common import FLAGS_ATTRIBUTE, name_flags, output_folder, output_path, user_errors
from seqlab.cli._train import TRAIN_FLAGS, TrainOptions
from seqlab.models.rnn_architectures import RNNConfig
from seqlab.models.rnn_lm import LMConfig
from seqlab.models.seq2seq import Seq2SeqConfig
from seqlab.tasks.language_model import PRESET, LMTaskConfig
from seqlab.tasks.translator import TranslatorConfig
from seqlab.train import TrainConfig

TINY_LM = ["--layers", "1", "--hidden", "8", "--embedding", "4", "--threads", "1"]
TINY_LM += ["--no-progress", "--eval-every", "1000"]


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str) -> str:
    """The message of a one-line ``error: ...`` with exit status 2."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0].removeprefix("error: ")


# -- errors name the flags ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "--steps must be a positive integer, got 0"),
        (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
        (["--lr", "-1"], "--lr must be > 0, got -1.0"),
        (["--warmup", "5", "--steps", "3"], "--warmup must be an integer in [0, --steps=3)"),
        (["--clip", "both"], "--clip must be one of ['none', 'norm', 'value'], got 'both'"),
        (["--eval-every", "0"], "--eval-every must be a positive integer, got 0"),
        (["--checkpoint-minutes", "0"], "--checkpoint-minutes must be > 0, got 0"),
        (["--hidden", "0"], "--embedding, --hidden and --layers must be positive, got 64, 0, 2"),
        (["--cell", "lstm", "--reset-before"], "--reset-before applies to --cell='gru' only"),
        (["--level", "bytes"], "--tokenizer must be one of char, word, bpe, got 'bytes'"),
        (["--tokenizer", "bpe", "--vocab-size", "0"], "--vocab-size must be >= 1, got 0"),
        (["--bptt", "0"], "--bptt and --batch-size must be >= 1"),
        (["--dropout", "1.5"], "--dropout must be in [0, 1), got 1.5"),
    ],
)
def test_lm_train_errors_name_the_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = run(capsys, "lm", "train", "--dataset", "dinos", "--out", tmp_path / "m", *args)
    assert message in one_line_error(code, err)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "--steps must be a positive integer, got 0"),
        (["--hidden", "0"], "--hidden must be a positive int, got 0"),
        (["--encoder-layers", "0"], "--encoder-layers must be a positive int, got 0"),
        (["--label-smoothing", "1"], "--label-smoothing must be in [0, 1), got 1.0"),
        (
            ["--min-count", "0"],
            "--batch-size, --min-count, --max-length and --vocab-size must be >= 1",
        ),
        (["--train-size", "0"], "--train-size must be >= 1, got 0"),
    ],
)
def test_translate_train_errors_name_the_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "m"
    code, _, err = run(capsys, "translate", "train", "--dataset", "dates", "--out", out, *args)
    assert message in one_line_error(code, err)


def _fields(*classes: type) -> set[str]:
    return {f.name for cls in classes for f in dataclasses.fields(cls)}


def _options(command: str, verb: str) -> set[str]:
    """Every option string of ``seqlab COMMAND VERB`` (``--steps``, ``--reset-before`` ...)."""
    import seqlab.cli.lm
    import seqlab.cli.translate

    module = {"lm": seqlab.cli.lm, "translate": seqlab.cli.translate}[command]
    group = typer.main.get_command(module.app)
    params = group.commands[verb].params  # type: ignore[attr-defined]
    return {o for p in params for o in (*p.opts, *getattr(p, "secondary_opts", ()))}


def _table(command: str) -> Mapping[str, str]:
    import seqlab.cli.lm
    import seqlab.cli.translate

    module = {"lm": seqlab.cli.lm, "translate": seqlab.cli.translate}[command]
    return getattr(module.train, FLAGS_ATTRIBUTE)


# fields no user value reaches: derived from the data, or fixed by the command
NO_FLAG = {
    "lm": {"betas", "log_every", "arch", "vocab_size", "corpus", "bidirectional"},
    "translate": {
        "betas", "log_every", "arch", "model", "src_vocab_size", "tgt_vocab_size",
        "src_pad_id", "tgt_pad_id", "max_output_length", "max_output_ratio",
    },
}  # fmt: skip
CONFIGS = {
    "lm": (TrainConfig, LMTaskConfig, LMConfig, RNNConfig),
    "translate": (TrainConfig, TranslatorConfig, Seq2SeqConfig),
}


@pytest.mark.parametrize("command", ["lm", "translate"])
def test_the_field_to_flag_tables_cover_every_field_with_real_options(command: str) -> None:
    table = _table(command)
    fields = _fields(*CONFIGS[command]) - {"model"}
    assert fields - NO_FLAG[command] <= set(table), "a config field without its flag"
    assert set(TRAIN_FLAGS) >= _fields(TrainConfig) - NO_FLAG[command]
    assert set(table.values()) <= _options(command, "train"), "a flag the command lacks"


def test_name_flags_replaces_fields_not_prose() -> None:
    flags = {"max_steps": "--steps", "level": "--level", "cell": "--cell", "lr": "--lr"}
    flags |= {"reset_after=False": "--reset-before", "max_length": "--max-length"}
    assert name_flags("max_steps must be a positive integer, got 0", flags) == (
        "--steps must be a positive integer, got 0"
    )
    assert name_flags("level must be 'char', got 'x'", flags) == "--level must be 'char', got 'x'"
    assert name_flags("a word-level cell at this level", flags) == "a word-level cell at this level"
    assert name_flags("reset_after=False applies to cell='gru' only", flags) == (
        "--reset-before applies to --cell='gru' only"
    )
    assert name_flags("max_output_length and max_length", flags) == (
        "max_output_length and --max-length"
    )
    assert name_flags("Lower the learning rate (lr=0.002)", flags) == (
        "Lower the learning rate (--lr=0.002)"
    )


def test_data_errors_keep_their_paths(capsys: pytest.CaptureFixture[str]) -> None:
    from seqlab._io import DataError

    @user_errors(flags={"max_steps": "--steps"})
    def command(error: Exception) -> None:
        raise error

    with pytest.raises(typer.Exit):
        command(DataError("runs/max_steps/a.txt", "empty", hint="fill it"))
    assert capsys.readouterr().err == "error: runs/max_steps/a.txt: empty — fill it\n"
    with pytest.raises(typer.Exit):
        command(ValueError("max_steps must be a positive integer, got 0"))
    assert capsys.readouterr().err == "error: --steps must be a positive integer, got 0\n"
    with pytest.raises(RuntimeError, match="a bug"):  # not a user's mistake: a traceback
        command(RuntimeError("a bug"))


# -- --time-budget: one rule ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["-3", "0", "0s", "soon", ""])
def test_time_budget_has_one_rule_and_one_message(text: str) -> None:
    with pytest.raises(ValueError) as info:
        TrainOptions(time_budget=text).train_config(PRESET.train)
    assert str(info.value) == (
        "--time-budget must be a duration > 0 such as 90s, 10m or 1h30m, or 'none' for no "
        f"limit, got {text!r}"
    )


def test_time_budget_accepts_durations_and_none() -> None:
    budgeted = dataclasses.replace(PRESET.train, time_budget=60.0)
    assert TrainOptions(time_budget="1h30m").train_config(PRESET.train).time_budget == 5400.0
    assert TrainOptions(time_budget="None").train_config(budgeted).time_budget is None
    assert TrainOptions().train_config(budgeted).time_budget == 60.0


def test_time_budget_cli_error_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    args = ["lm", "train", "--dataset", "dinos", "--out", tmp_path / "m", "--time-budget"]
    code, _, err = run(capsys, *args, "-3")
    assert "--time-budget must be a duration > 0" in one_line_error(code, err)


# -- resuming --------------------------------------------------------------------------------


def test_resume_says_from_where_and_when_there_is_nothing_to_train(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "lm"
    base = ["lm", "train", "--dataset", "dinos", "--out", out, *TINY_LM]
    code, _, err = run(capsys, *base, "--steps", "2")
    assert code == 0, err
    assert "resuming" not in err and "nothing to train" not in err
    code, out_text, err = run(capsys, *base, "--steps", "2", "--resume")
    assert code == 0, err
    assert f"resuming from step 2 (epoch 0) in {out}\n" in err
    assert (
        "the checkpoint is at step 2, already >= --steps 2: nothing to train; "
        "raise --steps to continue\n"
    ) in err
    assert out_text.startswith("trained 2 steps")
    code, _, err = run(capsys, *base, "--steps", "3", "--resume")
    assert code == 0, err
    assert "resuming from step 2 (epoch 0)" in err and "nothing to train" not in err


# -- output folders --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["lm", "translate"])
def test_out_behind_a_file_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    data = ["--dataset", "dinos"] if command == "lm" else ["--dataset", "dates"]
    for out, problem in ((blocker, "exists and is not a folder"), (blocker / "sub", "is a file")):
        code, _, err = run(capsys, command, "train", *data, "--out", out, "--steps", "1")
        message = one_line_error(code, err)
        assert str(out) in message and problem in message
    assert blocker.read_text() == "x"


def test_output_paths_and_folders_create_what_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "new" / "deeper" / "figure.png"
    assert output_path(target, "--out") == target and target.parent.is_dir()
    assert not target.exists()  # the file is the command's to write
    assert output_folder(tmp_path / "a" / "b", "DIR").is_dir()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(typer.Exit):
        output_path(blocker / "sub" / "f.png", "--out")
    assert "cannot be created: " in capsys.readouterr().err
    with pytest.raises(typer.Exit):
        output_path(tmp_path, "--out")
    assert "is a folder; give a file name" in capsys.readouterr().err
    with pytest.raises(typer.Exit):
        output_folder(blocker, "DIR")
    assert "exists and is not a folder" in capsys.readouterr().err


# -- one process at a time -------------------------------------------------------------------


def test_a_model_folder_in_use_is_a_one_line_error_naming_the_holder(
    capsys: pytest.CaptureFixture[str], held_folder: tuple[Path, int]
) -> None:
    folder, pid = held_folder
    for resume in ([], ["--resume"]):
        args = ["lm", "train", "--dataset", "dinos", "--out", folder, *TINY_LM, "--steps", "2"]
        code, _, err = run(capsys, *args, *resume)
        message = one_line_error(code, err)
        assert message.startswith(f"{folder} is in use by process {pid} (started ")
        assert message.endswith(": wait for it or use another output folder (--out)")
    assert not (folder / "config.json").exists()
