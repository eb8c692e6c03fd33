"""Parallel text: sentence pairs (source, target) from line-aligned files or a
tab-separated file, and :class:`ParallelCorpus`, the training / validation / test pairs a
sequence-to-sequence task learns from (the built-in date-normalisation set included).

Every reader fails with a one-line :class:`seqlab.data.DataError` naming the file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seqlab._io import DataError, PathLike
from seqlab.data import dates as dates_data
from seqlab.data.batching import hold_out
from seqlab.data.text import read_text

__all__ = ["Pair", "ParallelCorpus", "group_by_source", "read_pairs", "read_parallel"]

Pair = tuple[str, str]


def _read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file, gzip-compressed when its name ends in ``.gz``."""
    lines = read_text(path, allow_empty=True).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_parallel(src_path: PathLike, tgt_path: PathLike) -> list[Pair]:
    """Sentence pairs from two line-aligned files (line i of one translates line i of the other).

    Files may be gzip-compressed (``.gz``). Lines blank on both sides are skipped. Raises a
    one-line :class:`DataError` naming both files when their line counts differ, when a line
    is blank on one side only, or when there is no pair at all.
    """
    src_file, tgt_file = Path(src_path), Path(tgt_path)
    src_lines, tgt_lines = _read_lines(src_file), _read_lines(tgt_file)
    if len(src_lines) != len(tgt_lines):
        raise DataError(
            src_file,
            f"{len(src_lines)} lines, but {tgt_file} has {len(tgt_lines)}",
            hint="parallel files need one translation per line, in the same order",
        )
    pairs: list[Pair] = []
    for number, (s, t) in enumerate(zip(src_lines, tgt_lines, strict=True), 1):
        s, t = s.strip(), t.strip()
        if not s and not t:
            continue
        if not s or not t:
            empty, other = (src_file, tgt_file) if not s else (tgt_file, src_file)
            raise DataError(
                empty,
                f"line is empty but line {number} of {other} is not",
                hint="the files are misaligned; fix or remove that pair",
                line=number,
            )
        pairs.append((s, t))
    if not pairs:
        raise DataError(
            src_file,
            f"no sentence pairs in it and {tgt_file}",
            hint="give files with one sentence per line",
        )
    return pairs


def read_pairs(path: PathLike, *, reverse: bool = False) -> list[Pair]:
    """Sentence pairs from one tab-separated file: ``source<TAB>target[<TAB>anything]``.

    This is the Tatoeba / manythings.org ``fra.txt`` layout (a third column of attribution is
    ignored). ``reverse=True`` reads the second column as the source. Blank lines are skipped;
    a line without a tab or with an empty side is a one-line :class:`DataError` naming the
    file and line; so is a file without any pair. ``.gz`` files are read compressed.
    """
    file = Path(path)
    pairs: list[Pair] = []
    for number, line in enumerate(_read_lines(file), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(
                file,
                "line has no tab",
                hint="each line must be 'source<TAB>target' (use --src/--tgt for two files)",
                line=number,
            )
        s, t = fields[0].strip(), fields[1].strip()
        if not s or not t:
            raise DataError(
                file,
                f"the {'source' if not s else 'target'} side of the line is empty",
                hint="fix or remove that pair",
                line=number,
            )
        pairs.append((t, s) if reverse else (s, t))
    if not pairs:
        raise DataError(file, "no sentence pairs in it", hint="give 'source<TAB>target' lines")
    return pairs


def group_by_source(pairs: Sequence[Pair]) -> tuple[list[str], list[list[str]]]:
    """``(sources, references)``: each distinct source once, in order of first appearance,
    with every distinct target given for it (Tatoeba lists several translations of one
    sentence: "Run!" -> "Cours !", "Fuyez !", ...), in file order.

    >>> group_by_source([("Run!", "Cours !"), ("Hi.", "Salut !"), ("Run!", "Fuyez !")])
    (['Run!', 'Hi.'], [['Cours !', 'Fuyez !'], ['Salut !']])
    """
    grouped: dict[str, list[str]] = {}
    for src, tgt in pairs:
        refs = grouped.setdefault(src, [])
        if tgt not in refs:
            refs.append(tgt)
    return list(grouped), list(grouped.values())


@dataclass(frozen=True)
class ParallelCorpus:
    """Training, validation and (optionally) test sentence pairs (source, target)."""

    train: list[Pair]  # pairs to learn from
    valid: list[Pair] = field(default_factory=list)  # held out for the validation loss
    test: list[Pair] | None = None  # a fixed test set (the dates task's), else None
    name: str = ""  # where the data came from (dataset name or files)

    def __post_init__(self) -> None:
        if not self.train:
            raise ValueError(f"{self.name or 'corpus'}: no training pairs")

    @classmethod
    def from_files(
        cls,
        src: PathLike,
        tgt: PathLike,
        *,
        valid_src: PathLike | None = None,
        valid_tgt: PathLike | None = None,
        valid_fraction: float = 0.02,
    ) -> ParallelCorpus:
        """Pairs from parallel files; without validation files ``valid_fraction`` of the
        training pairs (every k-th, at most 2,000) are held out."""
        train = read_parallel(src, tgt)
        if (valid_src is None) != (valid_tgt is None):
            raise ValueError("give both --valid-src and --valid-tgt, or neither")
        if valid_src is not None and valid_tgt is not None:
            valid = read_parallel(valid_src, valid_tgt)
        else:
            train, valid = hold_out(train, valid_fraction)
        return cls(train, valid, None, f"{src} -> {tgt}")

    @classmethod
    def from_pairs(
        cls,
        path: PathLike,
        *,
        valid: PathLike | None = None,
        reverse: bool = False,
        valid_fraction: float = 0.02,
    ) -> ParallelCorpus:
        """Pairs from a tab-separated file (:func:`read_pairs`, e.g. Tatoeba's); without a
        ``valid`` file ``valid_fraction`` of the pairs (every k-th, at most 2,000) are held
        out."""
        train = read_pairs(path, reverse=reverse)
        if valid is not None:
            held = read_pairs(valid, reverse=reverse)
        else:
            train, held = hold_out(train, valid_fraction)
        return cls(train, held, None, f"{path} (columns 2 -> 1)" if reverse else str(path))

    @classmethod
    def dates(
        cls, train_size: int = 100_000, *, valid_size: int = 1000, seed: int = 0
    ) -> ParallelCorpus:
        """The date-normalisation task: generated training pairs (``seed``), the validation
        set and the fixed held-out test set of :mod:`seqlab.data.dates`."""
        return cls(
            dates_data.generate_pairs(train_size, seed=seed),
            dates_data.valid_pairs(valid_size),
            dates_data.test_pairs(),
            "dates",
        )
