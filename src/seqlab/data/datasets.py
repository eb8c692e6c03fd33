"""Built-in text corpora, shipped inside the package, and corpora from the user's files.

Nothing is downloaded: the built-in files live in ``seqlab/data/files/`` (their sources,
licences and checksums are in that folder's ``README.md``) and are read with
:mod:`importlib.resources`. Every corpus comes with a fixed train/valid split:

================ ===== =========================================================================
name             unit  split
================ ===== =========================================================================
dinos            line  1,536 lower-cased dinosaur names; every 10th name (the 10th, 20th, ...)
                       is valid: 1,383 train / 153 valid
sonnets          text  Shakespeare's sonnets (2,469 lines); the last ceil(10%) = 247 lines are
                       valid
tinyshakespeare  text  1,115,394 characters; the first int(0.9 n) = 1,003,854 characters are
                       train, the rest valid (nanoGPT's split)
================ ===== =========================================================================
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import get_args

from seqlab._io import DataError, PathLike
from seqlab.data.text import Unit, read_text

__all__ = ["DATASETS", "TextCorpus", "TextFile", "load_dataset"]

_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+\Z")


def _lines_keepends(text: str) -> list[str]:
    """Lines of ``text`` with their ``\\n`` (the last one may lack it); ``"".join`` inverts."""
    return _LINE_RE.findall(text)


def _n_valid_lines(n_lines: int, valid_fraction: float) -> int:
    """How many of ``n_lines`` lines go to valid: ``ceil(n_lines * valid_fraction)``."""
    return math.ceil(n_lines * valid_fraction)


def _split_last_lines(text: str, valid_fraction: float) -> tuple[str, str]:
    """``(train, valid)``: the last ``ceil(fraction)`` of the lines are valid; train + valid
    is ``text``."""
    lines = _lines_keepends(text)
    cut = len(lines) - _n_valid_lines(len(lines), valid_fraction)
    return "".join(lines[:cut]), "".join(lines[cut:])


@dataclass(frozen=True, kw_only=True)
class TextCorpus:
    """A text corpus with a fixed train/valid split."""

    name: str  # short name ("dinos", or the file's stem)
    train: str  # training text
    valid: str  # validation text ("" when there is none)
    unit: Unit  # "line": one example per line; "text": one continuous stream
    description: str  # one line for humans: what it is, where it comes from, the split

    def __post_init__(self) -> None:
        if self.unit not in get_args(Unit):
            raise ValueError(f"unit must be 'line' or 'text', got {self.unit!r}")

    @classmethod
    def from_file(
        cls,
        path: PathLike,
        *,
        valid_fraction: float = 0.1,
        unit: Unit = "line",
        name: str | None = None,
    ) -> TextCorpus:
        """A corpus from a UTF-8 text file (``train + valid`` is the file's text, line ends
        as ``\\n``), held in memory; :class:`TextFile` streams files of any size instead.

        ``unit="line"``: the last ``ceil(valid_fraction × lines)`` lines are valid, the rest
        train. ``unit="text"``: split by position, the first ``int(n × (1 − valid_fraction))``
        characters train and the contiguous tail is valid (nanoGPT's split): a file of one
        line (text8) splits too. ``valid_fraction=0`` gives no validation text. Bad files
        raise :class:`~seqlab.data.DataError` (see :func:`~seqlab.data.read_text`), as does a
        file too short to split.
        """
        _check_fraction(valid_fraction)
        file = Path(path)
        text = read_text(file)
        if unit == "text":
            train, valid = _split_position(file, text, valid_fraction)
            how = "characters"
        else:
            n_lines = len(_lines_keepends(text))
            if n_lines - _n_valid_lines(n_lines, valid_fraction) < 1:
                raise DataError(
                    file,
                    f"only {n_lines} line(s): nothing left to train on after the validation split",
                    hint="give a file with more lines, or valid_fraction=0 (no validation)",
                )
            train, valid = _split_last_lines(text, valid_fraction)
            how = "lines"
        return cls(
            name=name if name is not None else file.stem,
            train=train,
            valid=valid,
            unit=unit,
            description=f"text of {file}; the last {valid_fraction:.0%} of {how} are valid",
        )


def _check_fraction(valid_fraction: float) -> None:
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")


def _split_position(file: Path, text: str, valid_fraction: float) -> tuple[str, str]:
    """``(train, valid)``: the first ``int(n × (1 − valid_fraction))`` characters train."""
    cut = int(len(text) * (1.0 - valid_fraction)) if valid_fraction else len(text)
    if cut < 2 or (valid_fraction and cut == len(text)):
        raise DataError(
            file,
            f"only {len(text)} character(s): too short to split into train and validation",
            hint="give a longer text, or valid_fraction=0 (no validation)",
        )
    return text[:cut], text[cut:]


@dataclass(frozen=True, kw_only=True)
class TextFile:
    """A corpus in UTF-8 text files, read only when it is encoded, so it may be of any size.

    A language model trained on it with ``unit="text"`` streams it into a memory-mapped
    token file (:func:`seqlab.data.tokens.corpus_tokens`) and splits it by position: the
    contiguous tail of ``valid_fraction`` of the tokens validates (nanoGPT's 90/10 by
    default), or the file ``valid`` when given. With ``unit="line"`` it is read as
    :meth:`TextCorpus.from_file` reads it (the last lines validate).
    """

    path: Path  # the training text (``.gz`` is read through gzip)
    valid: Path | None = None  # a validation text; None: the tail of ``path`` validates
    valid_fraction: float = 0.1  # without ``valid``: the share of the tail (0: none)
    unit: Unit = "text"  # "text": one stream, split by position; "line": one example a line

    def __post_init__(self) -> None:
        _check_fraction(self.valid_fraction)
        if self.unit not in get_args(Unit):
            raise ValueError(f"unit must be 'line' or 'text', got {self.unit!r}")
        object.__setattr__(self, "path", Path(self.path))
        if self.valid is not None:
            object.__setattr__(self, "valid", Path(self.valid))

    @property
    def name(self) -> str:
        return self.path.stem

    def read(self) -> TextCorpus:
        """The corpus in memory: :meth:`TextCorpus.from_file`'s split, or the two files."""
        if self.valid is None:
            return TextCorpus.from_file(
                self.path, valid_fraction=self.valid_fraction, unit=self.unit
            )
        return TextCorpus(
            name=self.name,
            train=read_text(self.path),
            valid=read_text(self.valid),
            unit=self.unit,
            description=f"text of {self.path}; validation text {self.valid}",
        )


def _read_file(filename: str) -> str:
    """A shipped file's text (gunzipped when the name ends in ``.gz``)."""
    data = resources.files("seqlab.data").joinpath("files", filename).read_bytes()
    if filename.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def _dinos() -> TextCorpus:
    """Every 10th name to valid (interleaved, so both halves cover the alphabet)."""
    names = _read_file("dinos.txt").split("\n")
    train = [n for i, n in enumerate(names) if i % 10 != 9]
    valid = [n for i, n in enumerate(names) if i % 10 == 9]
    return TextCorpus(
        name="dinos",
        train="\n".join(train) + "\n",
        valid="\n".join(valid) + "\n",
        unit="line",
        description=DATASETS["dinos"],
    )


def _sonnets() -> TextCorpus:
    """The last ceil(10%) of lines to valid."""
    train, valid = _split_last_lines(_read_file("sonnets.txt"), 0.1)
    return TextCorpus(
        name="sonnets", train=train, valid=valid, unit="text", description=DATASETS["sonnets"]
    )


def _tinyshakespeare() -> TextCorpus:
    """nanoGPT's split: the first 90% of characters train, the rest valid."""
    text = _read_file("tinyshakespeare.txt.gz")
    cut = int(len(text) * 0.9)
    return TextCorpus(
        name="tinyshakespeare",
        train=text[:cut],
        valid=text[cut:],
        unit="text",
        description=DATASETS["tinyshakespeare"],
    )


# name -> one-line description; the loaders below follow the same order.
DATASETS: dict[str, str] = {
    "dinos": "1,536 dinosaur names, lower-cased, one per line (the course's Dinosaurus Island); "
    "every 10th name is valid",
    "sonnets": "Shakespeare's sonnets (the course's 'Writing like Shakespeare'); "
    "the last 10% of lines are valid",
    "tinyshakespeare": "Karpathy's tiny Shakespeare, 1.1 M characters of the plays; "
    "the last 10% of characters are valid (nanoGPT's split)",
}

_LOADERS: dict[str, Callable[[], TextCorpus]] = {
    "dinos": _dinos,
    "sonnets": _sonnets,
    "tinyshakespeare": _tinyshakespeare,
}


@cache
def load_dataset(name: str) -> TextCorpus:
    """The built-in corpus ``name`` (see :data:`DATASETS`); ``ValueError`` for an unknown name.

    >>> load_dataset("dinos").train.split("\\n")[:3]
    ['aachenosaurus', 'aardonyx', 'abdallahsaurus']
    """
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; available: {', '.join(sorted(_LOADERS))}"
        ) from None
    return loader()
