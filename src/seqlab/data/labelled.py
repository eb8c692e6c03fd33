"""Labelled examples for classification: texts with a label, and sequences of feature vectors.

Text files (:func:`read_labelled`)
----------------------------------

One example per row or line, in one of four layouts (``format=``):

* ``"csv"`` — comma-separated, read by Python's :mod:`csv` module (RFC 4180 quoting: a quoted
  field may hold commas, quotes written ``""`` and line breaks). This is IMDB's ``train.csv.gz``
  (header ``id,rating,label,text``) and the course's Emojify files (no header,
  ``sentence,label`` followed by empty columns and sometimes a `` [n]`` note).
* ``"tsv"`` — the same with tabs between the fields (SST-2's ``train.tsv.gz``, header
  ``label<TAB>sentence``). Quoting works as in CSV files.
* ``"label-tab"`` — plain lines ``label<TAB>text``; the first tab splits, the text may hold
  more tabs; no quoting.
* ``"text-tab"`` — plain lines ``text<TAB>label``; the last tab splits (the UCI "sentiment
  labelled sentences" files, ``sentence<TAB>0``).
* ``"auto"`` (the default) picks by the file's extension, a ``.gz`` ending aside: ``.csv`` and
  ``.tsv`` are read as such; for ``.txt`` the first 50 lines decide which side of the tab is
  the label: the side whose values are all single short words (no spaces, at most 32
  characters) taking at most 20 distinct values, when the other side is not like that. When
  both or neither side looks like labels, or the extension is another one, it is an error that
  asks for ``format``.

Columns of CSV/TSV files are chosen by name (when there is a header) or by 0-based index.
``header=None`` means the first row is a header when one of its cells is a known column name
(below) or a name given as ``text_column``/``label_column``. Without ``text_column``: the
first column named ``text``, ``sentence``, ``review``, ``content``, ``document``, ``comment`` or
``tweet``; without ``label_column``: the first named ``label``, ``sentiment``, ``class``,
``category``, ``target`` or ``polarity``. A file without a header reads text from column 0 and
the label from column 1 when it is a CSV (the course's Emojify layout); a TSV without a header
is looked at like a ``.txt`` file (columns 0 and 1).

Texts and labels are stripped of surrounding whitespace (the Emojify sentences end in a tab).
Rows whose cells are all empty are skipped; other columns are ignored. Files ending in ``.gz``
are read through gzip, ``\\r\\n`` line ends are accepted and a UTF-8 byte-order mark dropped.

Sequences of feature vectors (:func:`read_sequences`)
-----------------------------------------------------

One sequence per item, each a (T, F) array of numbers (T time steps of F features; T may
differ between items, F may not), with a label:

* ``.npz`` (NumPy's ``np.savez``): an array ``labels`` of shape (N,) holding strings or
  integers, and either one array ``features`` of shape (N, T, F) or N arrays ``x_0``,
  ``x_1``, ... ``x_{N-1}`` of shapes (T_i, F); optionally ``items`` (N,) strings naming the
  items. No other arrays. Numbers must be finite; object arrays (pickles) are refused.
* ``.csv`` (optionally ``.csv.gz``), long format with a header, one row per time step::

      item,t,ax,ay,az,label
      walk-1,0,0.01,0.98,0.12,walking
      walk-1,1,0.05,1.10,0.08,walking
      run-7,0,0.30,1.52,-0.20,running

  ``item`` names the sequence (its rows must be consecutive), ``label`` is its label (the
  same on all its rows), ``t`` (optional) is the time of the row and must increase within an
  item; every other column is a feature, in header order. Every feature cell must be a
  finite number.

:func:`write_sequences_npz` writes the ``.npz`` layout (``features`` when all sequences have
the same length, else ``x_i``) atomically.

Every reader raises a one-line :class:`seqlab.data.DataError` ``FILE:LINE: problem — what to
do`` for bad input. This module does not import torch.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from seqlab._io import DataError, PathLike, atomic_write_bytes
from seqlab._validate import check_choice
from seqlab.data.text import os_errors, read_text

__all__ = [
    "EMOJI",
    "Example",
    "LabelledFormat",
    "SequenceExample",
    "SequenceFormat",
    "read_emojify",
    "read_labelled",
    "read_sequences",
    "write_sequences_npz",
]

LabelledFormat = Literal["auto", "csv", "tsv", "label-tab", "text-tab"]
SequenceFormat = Literal["auto", "npz", "csv"]
Column = str | int

TEXT_NAMES = ("text", "sentence", "review", "content", "document", "comment", "tweet")
LABEL_NAMES = ("label", "sentiment", "class", "category", "target", "polarity")

_SNIFF_LINES = 50  # lines looked at to tell the label side of a tab-separated file
_LABEL_CHARS = 32  # a label is at most this long ...
_LABEL_VALUES = 20  # ... and a label column takes at most this many values in the sniffed lines
_FORMAT_HINT = "give format='label-tab' (label<TAB>text) or 'text-tab' (text<TAB>label)"

# The course's emoji for the Emojify labels "0".."4" (heart, baseball, smile, disappointed,
# fork and knife).
EMOJI: dict[str, str] = {"0": "❤️", "1": "⚾", "2": "😄", "3": "😞", "4": "🍴"}


@dataclass(frozen=True)
class Example:
    """One labelled text."""

    text: str  # the text, stripped of surrounding whitespace
    label: str  # the label, as written in the file (stripped)
    line: int  # 1-based line of the file where the example starts (for messages)


@dataclass(frozen=True, eq=False)
class SequenceExample:
    """One labelled sequence of feature vectors.

    Shape:
        features: (T, F), float32
    """

    features: np.ndarray  # (T, F) float32: T time steps of F features
    label: str  # the label (integer labels of an .npz file become their decimal string)
    line: int = 0  # 1-based line of the item's first row in a CSV file (0 for .npz)
    item: str = ""  # the item's name: the CSV item column, the npz `items` or key (x_3)


# -- text: layouts ------------------------------------------------------------------------------
def _base_suffix(file: Path) -> str:
    """The extension that tells the format, ``.gz`` aside: ``train.csv.gz`` -> ``.csv``."""
    name = file.name.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    return Path(name).suffix


def _looks_like_labels(values: Sequence[str]) -> bool:
    """Whether ``values`` are all single short words taking few distinct values."""
    return (
        bool(values)
        and all(v and len(v) <= _LABEL_CHARS and not any(c.isspace() for c in v) for v in values)
        and len(set(values)) <= _LABEL_VALUES
    )


def _label_first(file: Path, lines: Sequence[tuple[int, str]]) -> bool:
    """Whether the label is before the tab in the ``(number, line)`` lines (see the module
    docstring), or a :class:`DataError` asking for the format when it cannot be told."""
    sample = lines[:_SNIFF_LINES]
    left = _looks_like_labels([s[: s.index("\t")].strip() for _, s in sample])
    right = _looks_like_labels([s[s.rindex("\t") + 1 :].strip() for _, s in sample])
    if left != right:
        return left
    problem = "both sides" if left else "neither side"
    raise DataError(
        file,
        f"cannot tell which side of the tab holds the label: {problem} look like labels in "
        f"the first {len(sample)} lines",
        hint=_FORMAT_HINT,
    )


def _tab_lines(file: Path, text: str) -> list[tuple[int, str]]:
    """``(number, line)`` of each non-blank line, each of which must hold a tab."""
    lines = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataError(
                file,
                "no tab in the line",
                hint="each line must be a label and a text separated by a tab",
                line=number,
            )
        lines.append((number, line))
    return lines


def _read_tab(file: Path, text: str, fmt: str) -> list[tuple[int, str, str]]:
    """``(line, text, label)`` rows of a plain tab-separated file; ``fmt`` is ``label-tab``,
    ``text-tab`` or ``auto`` (sniffed)."""
    lines = _tab_lines(file, text)
    if fmt == "auto" and lines:
        fmt = "label-tab" if _label_first(file, lines) else "text-tab"
    rows = []
    for number, line in lines:
        if fmt == "label-tab":
            label, body = line.split("\t", 1)
        else:
            body, label = line.rsplit("\t", 1)
        rows.append((number, body, label))
    return rows


def _csv_rows(file: Path, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` of each record of a CSV/TSV text (``line``: where the record starts;
    a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as err:
        raise DataError(
            file,
            f"malformed {'CSV' if delimiter == ',' else 'TSV'} record ({err})",
            hint="check the quotes: a quoted field ends with a quote followed by a separator",
            line=start,
        ) from None


def _listed(names: Sequence[str]) -> str:
    """Names for a one-line message: ``a, b, c`` (line breaks written as ``\\n``)."""
    return ", ".join(n.replace("\r", "\\r").replace("\n", "\\n") for n in names)


def _find_column(names: Sequence[str], wanted: Column) -> int | None:
    """The index of column ``wanted`` (a name, matched exactly, then ignoring case and
    surrounding spaces; or an index) among ``names``, or None."""
    if isinstance(wanted, int):
        return wanted
    if wanted in names:
        return list(names).index(wanted)
    folded = [n.strip().lower() for n in names]
    key = wanted.strip().lower()
    return folded.index(key) if key in folded else None


def _is_header(
    cells: Sequence[str], text_column: Column | None, label_column: Column | None
) -> bool:
    """Whether the first row is a header: it names a known column or a requested one."""
    known = {*TEXT_NAMES, *LABEL_NAMES}
    known |= {c.strip().lower() for c in (text_column, label_column) if isinstance(c, str)}
    return any(c.strip().lower() in known for c in cells)


def _header_columns(
    file: Path, names: Sequence[str], text_column: Column | None, label_column: Column | None
) -> tuple[int, int]:
    """(text, label) column indices in a file with header ``names``."""
    shown = _listed(names)
    found = []
    for role, wanted, aliases in (
        ("text", text_column, TEXT_NAMES),
        ("label", label_column, LABEL_NAMES),
    ):
        if wanted is None:
            index = next((i for a in aliases if (i := _find_column(names, a)) is not None), None)
            if index is None:
                raise DataError(
                    file,
                    f"no {role} column in the header ({shown})",
                    hint=f"name it with the {role}_column option (--{role}-column)",
                    line=1,
                )
        else:
            index = _find_column(names, wanted)
            if index is None:
                raise DataError(
                    file,
                    f"column {wanted!r} is not in the header ({shown})",
                    hint=f"give one of the header's names as the {role} column",
                    line=1,
                )
        found.append(index)
    return found[0], found[1]


def _read_table(
    file: Path,
    text: str,
    delimiter: str,
    text_column: Column | None,
    label_column: Column | None,
    header: bool | None,
) -> list[tuple[int, str, str]]:
    """``(line, text, label)`` rows of a CSV (``delimiter=","``) or TSV text."""
    records = [
        (n, cells) for n, cells in _csv_rows(file, text, delimiter) if any(map(str.strip, cells))
    ]
    if not records:
        return []
    if header is None:
        header = _is_header(records[0][1], text_column, label_column)
    if header:
        columns = _header_columns(file, records[0][1], text_column, label_column)
        records = records[1:]
    else:
        for name, wanted in (("text_column", text_column), ("label_column", label_column)):
            if isinstance(wanted, str):
                raise DataError(
                    file,
                    f"{name}={wanted!r} names a column, but the file has no header",
                    hint="give the column's 0-based index instead",
                )
        columns = _headless_columns(file, records, delimiter, text_column, label_column)
    if columns[0] == columns[1]:
        raise ValueError(f"the text and the label are both read from column {columns[0]}")
    need = max(columns) + 1
    rows = []
    for number, cells in records:
        if len(cells) < need:
            raise DataError(
                file,
                f"the row has {len(cells)} column(s), expected at least {need}",
                hint="give every row a text and a label",
                line=number,
            )
        rows.append((number, cells[columns[0]], cells[columns[1]]))
    return rows


def _headless_columns(
    file: Path,
    records: Sequence[tuple[int, list[str]]],
    delimiter: str,
    text_column: Column | None,
    label_column: Column | None,
) -> tuple[int, int]:
    """(text, label) column indices of a file without a header."""
    if text_column is not None and label_column is not None:
        return int(text_column), int(label_column)
    if text_column is not None or label_column is not None:
        given = int(text_column if text_column is not None else label_column)  # type: ignore[arg-type]
        other = 1 if given == 0 else 0
        return (given, other) if text_column is not None else (other, given)
    if delimiter == ",":
        return 0, 1  # the course's Emojify layout: sentence,label
    sample = [cells for _, cells in records[:_SNIFF_LINES]]
    if any(len(cells) < 2 for cells in sample):
        return 0, 1  # reported row by row as too short
    left = _looks_like_labels([c[0].strip() for c in sample])
    right = _looks_like_labels([c[1].strip() for c in sample])
    if left != right:
        return (1, 0) if left else (0, 1)
    raise DataError(
        file,
        "no header, and cannot tell which of the first two columns holds the label",
        hint="give text_column and label_column (--text-column, --label-column)",
    )


def _resolve_format(file: Path, fmt: str) -> str:
    """``fmt``, or for ``auto`` the format the extension names (``"auto"`` for ``.txt``)."""
    if fmt != "auto":
        return fmt
    suffix = _base_suffix(file)
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    if suffix == ".txt":
        return "auto"
    raise DataError(
        file,
        f"cannot tell the format from the extension {suffix or '(none)'!r}",
        hint="give format='csv', 'tsv', 'label-tab' or 'text-tab' (--format)",
    )


def _check_column(name: str, value: object) -> None:
    """A column is a name or a 0-based index."""
    ok = (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
    )
    if not ok:
        raise ValueError(f"{name} must be a column name or a 0-based index, got {value!r}")


def read_labelled(
    path: PathLike,
    *,
    format: LabelledFormat = "auto",
    text_column: Column | None = None,
    label_column: Column | None = None,
    header: bool | None = None,
    labels: Collection[str] | None = None,
) -> list[Example]:
    """The labelled texts of ``path``, in file order (layouts: see the module docstring).

    ``labels``, when given, is the set of known labels: any other label is an error.
    Raises a one-line :class:`DataError` naming the file and line for an empty text, a
    missing label, an unknown label, bytes that are not UTF-8, a malformed CSV record, a row
    without enough columns, a column name not in the header (the header is listed) and a file
    without any example. ``text_column``/``label_column`` apply to CSV/TSV files only.
    """
    file = Path(path)
    check_choice("format", format, get_args(LabelledFormat))
    _check_column("text_column", text_column)
    _check_column("label_column", label_column)
    fmt = _resolve_format(file, format)
    if fmt not in ("csv", "tsv") and (text_column is not None or label_column is not None):
        raise ValueError(f"text_column and label_column apply to CSV and TSV files, not {fmt!r}")
    text = read_text(file, allow_empty=True)
    if fmt in ("csv", "tsv"):
        rows = _read_table(
            file, text, "," if fmt == "csv" else "\t", text_column, label_column, header
        )
    else:
        rows = _read_tab(file, text, fmt)
    known = None if labels is None else set(labels)
    examples = [_example(file, number, body, label, known) for number, body, label in rows]
    if not examples:
        raise DataError(file, "no examples in it", hint="give a file with labelled texts")
    return examples


def _example(file: Path, number: int, body: str, label: str, known: set[str] | None) -> Example:
    """One checked example: a non-empty text and a (known) label."""
    body, label = body.strip(), label.strip()
    if not body:
        raise DataError(file, "empty text", hint="fix or remove the row", line=number)
    if not label:
        raise DataError(file, "missing label", hint="give every text a label", line=number)
    if known is not None and label not in known:
        shown = _listed(sorted(known))
        raise DataError(
            file, f"unknown label {label!r}", hint=f"the known labels are {shown}", line=number
        )
    return Example(body, label, number)


def read_emojify(
    folder: PathLike, *, test_file: str = "test_emoji.csv"
) -> tuple[list[Example], list[Example]]:
    """The course's Emojify sets ``(train, test)`` from ``train_emoji.csv`` and ``test_file``
    (``test_emoji.csv``; the assignment itself tested on ``tesss.csv``) in ``folder``.

    The course material has no licence, so seqlab does not ship it: give the folder of the
    ``data/`` files of the Emojify assignment (Sequence Models, week 2). Labels stay
    ``"0"`` .. ``"4"``; :data:`EMOJI` maps them to the course's emoji for display.
    """
    where = Path(folder)
    sets = []
    for name in ("train_emoji.csv", test_file):
        file = where / name
        if not file.is_file():
            raise DataError(
                file,
                "no such file",
                hint=f"{name} comes with the course's Emojify assignment (Sequence Models, "
                "week 2); give the folder that holds it",
            )
        sets.append(
            read_labelled(
                file, format="csv", text_column=0, label_column=1, header=False, labels=EMOJI
            )
        )
    return sets[0], sets[1]


# -- sequences of feature vectors ---------------------------------------------------------------
_NPZ_HINT = (
    "an .npz needs `labels` (N,) and `features` (N, T, F) or `x_0` .. `x_{N-1}` (T_i, F), "
    "optionally `items` (N,)"
)


def read_sequences(
    path: PathLike,
    *,
    format: SequenceFormat = "auto",
    item_column: str = "item",
    label_column: str = "label",
    time_column: str = "t",
    labels: Collection[str] | None = None,
) -> list[SequenceExample]:
    """The labelled sequences of ``path``: an ``.npz`` file or a long-format CSV (layouts: see
    the module docstring), in file order.

    ``format="auto"`` picks by extension (``.npz``; ``.csv``, ``.csv.gz``). For CSV files
    ``item_column``, ``label_column`` and ``time_column`` name the columns (the time column
    is optional in the file). ``labels``, when given, is the set of known labels.
    Raises a one-line :class:`DataError` for bad input: a non-numeric or non-finite cell (file,
    line and column named), a time that does not increase, an item whose rows are not
    consecutive or whose label changes, sequences with different numbers of features, a label
    count that differs from the number of sequences, a file without any sequence.

    Shape:
        each ``features``: (T, F) float32
    """
    file = Path(path)
    check_choice("format", format, get_args(SequenceFormat))
    fmt = format
    if fmt == "auto":
        suffix = _base_suffix(file)
        if suffix not in (".npz", ".csv") or (suffix == ".npz" and file.name.endswith(".gz")):
            raise DataError(
                file,
                f"cannot tell the format from the extension {suffix or '(none)'!r}",
                hint="give an .npz or a .csv file, or format='npz' / 'csv'",
            )
        fmt = suffix[1:]  # type: ignore[assignment]
    if fmt == "npz":
        examples = _read_npz(file)
    else:
        examples = _read_long_csv(file, item_column, label_column, time_column)
    if not examples:
        raise DataError(file, "no sequences in it", hint="give a file with labelled sequences")
    if labels is not None:
        known = set(labels)
        for ex in examples:
            if ex.label not in known:
                raise DataError(
                    file,
                    f"unknown label {ex.label!r} of item {ex.item!r}",
                    hint=f"the known labels are {_listed(sorted(known))}",
                    line=ex.line or None,
                )
    return examples


def _load_npz(file: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickles), or a :class:`DataError`."""
    with os_errors(file):
        data = file.read_bytes()
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise DataError(
                file,
                "holds an object array (a pickle), which seqlab does not load",
                hint="save labels as strings: np.array(labels, dtype=str)",
            ) from None
        raise DataError(file, f"not a valid .npz file ({err})", hint=_NPZ_HINT) from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, RuntimeError) as err:
        raise DataError(file, f"not a valid .npz file ({err})", hint=_NPZ_HINT) from None


def _npz_labels(file: Path, arrays: dict[str, np.ndarray], n: int) -> list[str]:
    """The ``labels`` array as N non-empty strings."""
    labels = arrays["labels"]
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(
            file,
            f"`labels` has shape {labels.shape}, expected ({n},): one label per sequence",
            hint=_NPZ_HINT,
        )
    if labels.dtype.kind in "iu":
        out = [str(int(v)) for v in labels]
    elif labels.dtype.kind == "U":
        out = [str(v).strip() for v in labels]
    elif labels.dtype.kind == "S":
        try:
            out = [bytes(v).decode("utf-8").strip() for v in labels]
        except UnicodeDecodeError:
            raise DataError(
                file, "`labels` holds bytes that are not UTF-8", hint=_NPZ_HINT
            ) from None
    else:
        raise DataError(
            file,
            f"`labels` has dtype {labels.dtype}, expected strings or integers",
            hint=_NPZ_HINT,
        )
    for i, label in enumerate(out):
        if not label:
            raise DataError(file, f"`labels`[{i}] is empty", hint="give every sequence a label")
    return out


def _check_features(
    file: Path, name: str, x: np.ndarray, features: int | None, where: int | None = None
) -> np.ndarray:
    """``x`` as a checked (T, F) float32 array: 2-D, T >= 1, F like the others, finite."""
    if x.dtype.kind not in "iuf":
        raise DataError(
            file, f"{name} has dtype {x.dtype}, expected numbers", hint=_NPZ_HINT, line=where
        )
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise DataError(
            file,
            f"{name} has shape {x.shape}, expected (T, F) with T, F >= 1",
            hint=_NPZ_HINT,
            line=where,
        )
    if features is not None and x.shape[1] != features:
        raise DataError(
            file,
            f"{name} has {x.shape[1]} features per step, the first sequence has {features}",
            hint="give every sequence the same number of features",
            line=where,
        )
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        step = int(np.argwhere(~np.isfinite(x))[0][0])
        raise DataError(
            file,
            f"{name} holds NaN or infinite values (step {step})",
            hint="give finite numbers",
            line=where,
        )
    out = x.astype(np.float32)
    if not np.isfinite(out).all():
        raise DataError(
            file, f"{name} holds values too large for float32", hint="rescale them", line=where
        )
    return out


def _read_npz(file: Path) -> list[SequenceExample]:
    """The sequences of an ``.npz`` file (layout: the module docstring)."""
    arrays = _load_npz(file)
    if "labels" not in arrays:
        shown = ", ".join(sorted(arrays)) or "none"
        raise DataError(file, f"no `labels` array (arrays: {shown})", hint=_NPZ_HINT)
    stacked = "features" in arrays
    per_item = sorted((k for k in arrays if k.startswith("x_")), key=lambda k: (len(k), k))
    if stacked and per_item:
        raise DataError(file, "holds both `features` and `x_i` arrays", hint=_NPZ_HINT)
    if stacked:
        x = arrays["features"]
        if x.ndim != 3:
            raise DataError(
                file, f"`features` has shape {x.shape}, expected (N, T, F)", hint=_NPZ_HINT
            )
        names = [f"features[{i}]" for i in range(len(x))]
        sequences = list(x)
    else:
        names = [f"x_{i}" for i in range(len(per_item))]
        if per_item != names:
            missing = next(n for n in names if n not in arrays)
            raise DataError(file, f"the arrays x_i skip {missing}", hint=_NPZ_HINT)
        sequences = [arrays[n] for n in names]
    extra = set(arrays) - {"labels", "features", "items", *names}
    if extra:
        raise DataError(file, f"unexpected array(s) {', '.join(sorted(extra))}", hint=_NPZ_HINT)
    n = len(sequences)
    labels = _npz_labels(file, arrays, n)
    items = names
    if "items" in arrays:
        given = arrays["items"]
        if given.ndim != 1 or len(given) != n or given.dtype.kind not in "U":
            raise DataError(
                file,
                f"`items` must be ({n},) strings, got {given.dtype} {given.shape}",
                hint=_NPZ_HINT,
            )
        items = [str(v) for v in given]
    examples = []
    width = None
    for name, item, x, label in zip(names, items, sequences, labels, strict=True):
        features = _check_features(file, f"`{name}`", x, width)
        width = features.shape[1]
        examples.append(SequenceExample(features, label, 0, item))
    return examples


def _read_long_csv(
    file: Path, item_column: str, label_column: str, time_column: str
) -> list[SequenceExample]:
    """The sequences of a long-format CSV (one row per time step, layout: module docstring)."""
    text = read_text(file, allow_empty=True)
    records = [(n, c) for n, c in _csv_rows(file, text, ",") if any(map(str.strip, c))]
    if not records:
        return []
    header = [c.strip() for c in records[0][1]]
    roles = _long_roles(file, header, item_column, label_column, time_column)
    examples: list[SequenceExample] = []
    seen: dict[str, int] = {}
    current: _Item | None = None
    for number, cells in records[1:]:
        item, label, time, values = _long_row(file, number, cells, header, roles)
        if current is None or item != current.item:
            if current is not None:
                examples.append(current.done())
            if item in seen:
                raise DataError(
                    file,
                    f"the rows of item {item!r} are not consecutive "
                    f"(it starts at line {seen[item]})",
                    hint="sort the rows by item (then time)",
                    line=number,
                )
            seen[item] = number
            current = _Item(item, label, number)
        current.add(file, number, label, time, values)
    if current is not None:
        examples.append(current.done())
    return examples


@dataclass(frozen=True)
class _Roles:
    """Column indices of a long-format CSV."""

    item: int
    label: int
    time: int | None
    features: tuple[int, ...]


def _long_roles(file: Path, header: list[str], item: str, label: str, time: str) -> _Roles:
    """Which column is which in a long-format CSV header."""
    shown = _listed(header)
    for i, name in enumerate(header):
        if not name:
            raise DataError(
                file, f"column {i + 1} of the header has no name", hint="name every column", line=1
            )
        if name in header[:i]:
            raise DataError(
                file, f"column {name!r} appears twice in the header", hint="rename one", line=1
            )
    for name in (item, label):
        if name not in header:
            raise DataError(
                file,
                f"no column {name!r} in the header ({shown})",
                hint="the header must be item,[t,]feature...,label (or name the columns)",
                line=1,
            )
    roles = {header.index(item), header.index(label)}
    t = header.index(time) if time in header else None
    features = tuple(i for i in range(len(header)) if i not in roles and i != t)
    if not features:
        raise DataError(
            file, f"no feature column in the header ({shown})", hint="add feature columns", line=1
        )
    return _Roles(header.index(item), header.index(label), t, features)


def _number(file: Path, line: int, column: str, cell: str) -> float:
    """A finite number from a CSV cell, or a :class:`DataError` naming line and column."""
    try:
        value = float(cell)
    except ValueError:
        raise DataError(
            file,
            f"column {column!r}: {cell.strip()!r} is not a number",
            hint="give numbers",
            line=line,
        ) from None
    if not math.isfinite(value):
        raise DataError(
            file,
            f"column {column!r}: {cell.strip()} is not finite",
            hint="give finite numbers",
            line=line,
        )
    return value


def _long_row(
    file: Path, line: int, cells: list[str], header: list[str], roles: _Roles
) -> tuple[str, str, float | None, list[float]]:
    """(item, label, time, feature values) of one row."""
    if len(cells) != len(header):
        raise DataError(
            file,
            f"the row has {len(cells)} cells, the header {len(header)}",
            hint="fix the row",
            line=line,
        )
    item, label = cells[roles.item].strip(), cells[roles.label].strip()
    if not item:
        raise DataError(
            file, f"empty {header[roles.item]!r}", hint="name the item of every row", line=line
        )
    if not label:
        raise DataError(file, "missing label", hint="give every row its item's label", line=line)
    time = (
        None if roles.time is None else _number(file, line, header[roles.time], cells[roles.time])
    )
    values = [_number(file, line, header[i], cells[i]) for i in roles.features]
    return item, label, time, values


class _Item:
    """The rows of one item of a long-format CSV, gathered in order."""

    def __init__(self, item: str, label: str, line: int) -> None:
        self.item, self.label, self.line = item, label, line
        self.rows: list[list[float]] = []
        self.time: float | None = None

    def add(
        self, file: Path, line: int, label: str, time: float | None, values: list[float]
    ) -> None:
        if label != self.label:
            raise DataError(
                file,
                f"item {self.item!r} changes its label from {self.label!r} to {label!r}",
                hint="an item has one label",
                line=line,
            )
        if time is not None and self.time is not None and time <= self.time:
            raise DataError(
                file,
                f"time {time:g} does not increase (the item's previous row has {self.time:g})",
                hint="sort the item's rows by time",
                line=line,
            )
        self.time = time
        self.rows.append(values)

    def done(self) -> SequenceExample:
        features = np.asarray(self.rows, dtype=np.float32)  # (T, F)
        return SequenceExample(features, self.label, self.line, self.item)


def write_sequences_npz(path: PathLike, examples: Sequence[SequenceExample]) -> Path:
    """Write ``examples`` as an ``.npz`` that :func:`read_sequences` reads back (atomically).

    Writes ``features`` (N, T, F) when every sequence has the same length, else ``x_0`` ..
    ``x_{N-1}``; ``labels`` (N,) strings; ``items`` (N,) when every example has a distinct
    non-empty item name. Returns the path.
    """
    if not examples:
        raise ValueError("no sequences to write")
    arrays: dict[str, np.ndarray] = {}
    xs = [np.asarray(ex.features, dtype=np.float32) for ex in examples]
    for i, x in enumerate(xs):
        if (
            x.ndim != 2
            or x.shape[0] < 1
            or x.shape[1] != xs[0].shape[1]
            or not np.isfinite(x).all()
        ):
            raise ValueError(
                f"sequence {i}: expected finite features of shape (T, F={xs[0].shape[-1]}), "
                f"got shape {x.shape}"
            )
    if len({x.shape[0] for x in xs}) == 1:
        arrays["features"] = np.stack(xs)  # (N, T, F)
    else:
        arrays.update({f"x_{i}": x for i, x in enumerate(xs)})
    arrays["labels"] = np.array([ex.label for ex in examples], dtype=str)
    items = [ex.item for ex in examples]
    if all(items) and len(set(items)) == len(items):
        arrays["items"] = np.array(items, dtype=str)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return atomic_write_bytes(Path(path), buffer.getvalue())
