"""Start-up: ``import seqlab``, ``seqlab --help`` and ``seqlab bleu`` do not import torch.

Each check runs in a fresh interpreter and looks at ``sys.modules`` (what got imported), not
at the clock: importing torch is what made ``seqlab bleu`` take 1.5 s instead of 0.2 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import seqlab
from seqlab.cli import COMMANDS, load_command


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it leaves a dict in ``out``; return it."""
    script = f"import json, sys\nout = {{}}\n{code}\nprint(json.dumps(out))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in ("torch", "matplotlib", "numba"))


def test_import_seqlab_and_metrics_do_not_import_torch() -> None:
    out = _fresh(
        "import seqlab, seqlab.metrics\n"
        "out['modules'] = list(sys.modules)\n"
        "out['bleu'] = seqlab.metrics.corpus_bleu(['a cat sat here'], [['a cat sat here']]).score"
    )
    assert _heavy(out["modules"]) == []
    assert out["bleu"] == pytest.approx(100.0)


def test_seqlab_help_imports_no_command_module() -> None:
    out = _fresh(
        "import contextlib, io\n"
        "from seqlab.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    out['code'] = main(['--help'])\n"
        "out['help'] = buf.getvalue()\n"
        "out['modules'] = list(sys.modules)"
    )
    assert out["code"] == 0
    assert _heavy(out["modules"]) == []
    assert not [
        m for m in out["modules"] if m.startswith("seqlab.cli.") and m != "seqlab.cli._help"
    ]
    for name in COMMANDS:  # every command is listed, with its short help
        assert f"\n│ {name} " in out["help"], name
    assert "Versions of seqlab, torch" in out["help"]


@pytest.mark.parametrize("args", [["info", "--help"], ["bleu", "--help"], ["--version"]])
def test_light_commands_do_not_import_torch(args: list[str]) -> None:
    out = _fresh(
        "import contextlib, io\n"
        "from seqlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    out['code'] = main({args!r})\n"
        "out['modules'] = list(sys.modules)"
    )
    assert out["code"] == 0
    assert _heavy(out["modules"]) == []


def test_seqlab_bleu_does_not_import_torch(tmp_path: Path) -> None:
    ref, hyp = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    ref.write_text("the cat sat on the mat\nhello world\n")
    hyp.write_text("the cat sat on a mat\nhello there world\n")
    out = _fresh(
        "import contextlib, io\n"
        "from seqlab.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    out['code'] = main(['bleu', {str(ref)!r}, '-i', {str(hyp)!r}, '--json'])\n"
        "out['result'] = json.loads(buf.getvalue())\n"
        "out['modules'] = list(sys.modules)"
    )
    assert out["code"] == 0
    assert _heavy(out["modules"]) == []
    assert out["result"]["sys_len"] == 9 and out["result"]["ref_len"] == 8


def test_the_console_script_runs_lazily() -> None:
    # the real entry point (python -m seqlab, sys.exit included), not only main()
    script = (
        "import atexit, json, runpy, sys\n"
        "atexit.register(lambda: sys.stderr.write('\\n' + json.dumps(list(sys.modules))))\n"
        "sys.argv = ['seqlab', 'bleu', '--help']\n"
        "runpy.run_module('seqlab', run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    imported = json.loads(proc.stderr.splitlines()[-1])
    assert "seqlab.cli.bleu" in imported and _heavy(imported) == []
    assert "Usage: seqlab bleu" in proc.stdout


def test_the_short_help_table_matches_each_group() -> None:
    for name, (_, _, short_help) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert command.help == short_help, name  # `seqlab --help` shows what the group says


def test_seqlab_attributes_are_imported_on_first_use() -> None:
    out = _fresh(
        "import seqlab\n"
        "out['before'] = 'seqlab.nn' in sys.modules\n"
        "out['lstm'] = seqlab.nn.LSTM.__name__\n"
        "out['functional'] = seqlab.functional.__name__\n"
        "from seqlab import nn, functional\n"
        "out['same'] = nn is seqlab.nn and functional is seqlab.functional\n"
        "out['dir'] = [n for n in seqlab.__all__ if n not in dir(seqlab)]"
    )
    assert out == {
        "before": False,
        "lstm": "LSTM",
        "functional": "seqlab.functional",
        "same": True,
        "dir": [],
    }
    assert all(hasattr(seqlab, name) for name in seqlab.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        seqlab.nope  # noqa: B018


def test_the_full_command_tree_is_still_reachable() -> None:
    # tests and tools walk the tree: app -> click group -> .commands[...] loads on access
    root = typer.main.get_command(seqlab.cli.app)
    assert list(root.commands) == list(COMMANDS)  # type: ignore[attr-defined]
    train = root.commands["lm"].commands["train"]  # type: ignore[attr-defined]
    assert "steps" in {p.name for p in train.params}
