"""The architecture's rules (docs/architecture.md), checked on the source: the layers import
only downwards, and every `train` verb shares one set of training options."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer

from seqlab.cli import app

SRC = Path(__file__).resolve().parents[1] / "src" / "seqlab"
LOWER = ("functional", "nn", "data", "music", "audio", "train", "decoding", "metrics")
UPPER = ("models", "tasks", "viz", "cli")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or lazily inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_do_not_import_upper_ones(layer: str) -> None:
    bad = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] == "seqlab" and len(parts) > 1 and parts[1] in UPPER:
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert not bad, bad


def test_the_rule_sees_a_lazy_import(tmp_path: Path) -> None:
    file = tmp_path / "m.py"
    file.write_text("def f():\n    from seqlab.viz.curves import plot_loss_curve\n")
    assert "seqlab.viz.curves" in _imports(file)


def _options(*path: str) -> dict[str, object]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return {p.name: p.default for p in command.params}  # type: ignore[attr-defined]


SHARED = {
    "steps", "epochs", "time_budget", "batch_size", "lr", "optimizer", "schedule", "warmup",
    "clip", "clip_threshold", "weight_decay", "momentum", "patience", "eval_every",
    "checkpoint_every", "checkpoint_minutes", "device", "threads", "seed", "tensorboard",
    "resume", "progress", "json_out",
}  # fmt: skip


def test_every_train_verb_shares_the_training_options() -> None:
    lm, translate = _options("lm", "train"), _options("translate", "train")
    assert SHARED <= set(lm) and SHARED <= set(translate)
    # the same defaults: "not given" (the task's preset decides), or the same flag value
    assert {k: lm[k] for k in SHARED} == {k: translate[k] for k in SHARED}


def test_the_readme_layout_matches_the_tree() -> None:
    readme = (SRC.parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    folders: dict[str, set[str]] = {}
    current = None
    for line in block.splitlines():
        if line.startswith("src/seqlab/"):
            current = line.split()[0].removeprefix("src/seqlab/").rstrip("/")
            folders[current] = set()
        elif line[:1] not in (" ", ""):
            current = None
        if current is not None:
            folders[current] |= set(re.findall(r"([\w]+\.py)", line))
    assert {"functional", "nn", "models", "data", "train", "decoding", "tasks"} <= set(folders)
    for folder, named in folders.items():
        where = SRC / folder
        present = {p.name for p in where.glob("*.py")}
        assert named <= present, f"{folder}: {sorted(named - present)} named but not there"
        public = {n for n in present if not n.startswith("_")}
        if folder:  # every public module of a layer is named
            assert public <= named, f"{folder}: {sorted(public - named)} not in the README"
