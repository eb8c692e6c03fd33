"""CoNLL files (one token per line, columns separated by whitespace, a blank line between
sentences) and the tagging schemes IOB1, IOB2 and IOBES.

* :func:`read_conll`, :func:`read_conll_text` — a file (plain or ``.gz``) or a string into a
  list of :class:`Sentence`; ``-DOCSTART-`` lines are skipped (the next sentence gets
  ``doc_start=True``); bad input is a one-line :class:`~seqlab.data.DataError` naming the
  file and line (ragged lines, a missing tag column, a tag that is not ``O`` or ``X-TYPE``,
  bad UTF-8, a file without a sentence).
* :func:`write_conll` — sentences back to a file (atomically) or a text stream, with an
  optional extra column of tags (how conlleval-style "token gold predicted" files are made).
* :func:`convert_tags`, :func:`tag_spans`, :func:`spans_to_tags` — between the schemes.

The schemes (Ramshaw & Marcus 1995; Tjong Kim Sang & Veenstra 1999; Ratinov & Roth 2009):

* **IOB1**: ``I-X`` inside an entity; ``B-X`` only on the first token of an entity that
  directly follows another ``X`` entity (CoNLL-2003's original files).
* **IOB2**: every entity starts with ``B-X``, continues with ``I-X``.
* **IOBES**: ``S-X`` a one-token entity; ``B-X I-X* E-X`` a longer one.

Reading a sequence into entity spans (:func:`tag_spans`) is lenient, the way conlleval and
seqeval's default mode read it: an ``I-X`` that does not continue an ``X`` entity starts one,
an ``E-X`` that does not continue one is a one-token entity; a type change ends an entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Literal, TextIO, get_args

from seqlab._io import DataError, PathLike, atomic_write_text
from seqlab._validate import check_choice
from seqlab.data.text import read_text

__all__ = [
    "DOCSTART",
    "Scheme",
    "Sentence",
    "Span",
    "convert_tags",
    "read_conll",
    "read_conll_text",
    "spans_to_tags",
    "tag_spans",
    "write_conll",
]

Scheme = Literal["iob1", "iob2", "iobes"]
Span = tuple[str, int, int]  # (type, start, end-exclusive)

DOCSTART = "-DOCSTART-"
_TAG_RE = re.compile(r"O|[BIES]-\S+")
_TAG_HINT = "tags are O or B-TYPE / I-TYPE / E-TYPE / S-TYPE (e.g. B-PER)"


@dataclass(frozen=True)
class Sentence:
    """One sentence of a CoNLL file.

    ``columns`` holds every column of each token line as read (the tag column included, before
    any scheme conversion); ``tokens`` and ``tags`` are the chosen columns, ``tags`` converted
    to IOB2 when the reader was given a ``scheme`` (empty when it was given
    ``tag_column=None``). ``doc_start`` is True for the first sentence after ``-DOCSTART-``.
    """

    tokens: tuple[str, ...]  # one per token line
    tags: tuple[str, ...]  # one per token line (or empty: an untagged file)
    columns: tuple[tuple[str, ...], ...]  # every column of every token line, as read
    doc_start: bool = False  # the first sentence after a -DOCSTART- line


# --- schemes ---------------------------------------------------------------------------------


def _split(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``; ValueError for anything else."""
    if not _TAG_RE.fullmatch(tag):
        raise ValueError(f"{tag!r} is not a tag: {_TAG_HINT}")
    return (tag, "") if tag == "O" else (tag[0], tag[2:])


def _check_prefixes(tags: Sequence[str], scheme: Scheme) -> None:
    """ValueError naming the first tag whose prefix ``scheme`` does not have (E-/S- in IOB)."""
    if scheme == "iobes":
        return
    for i, tag in enumerate(tags):
        if _split(tag)[0] in "ES":
            raise ValueError(f"tag {i} is {tag!r}, which the {scheme} scheme does not have")


def tag_spans(tags: Sequence[str], scheme: Scheme = "iob2") -> list[Span]:
    """Entity spans ``(type, start, end_exclusive)`` of a tag sequence, read leniently.

    ``B-X`` and ``S-X`` start an entity; ``I-X`` and ``E-X`` continue an open ``X`` entity or
    else start one; ``E-X`` and ``S-X`` close it; ``O`` and a change of type end it. This is
    conlleval's and seqeval's default reading. ``scheme`` only decides which prefixes are
    allowed (``E-``/``S-`` are a ValueError in IOB1/IOB2): the reading is the same for all.

    >>> tag_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5)]
    """
    check_choice("scheme", scheme, get_args(Scheme))
    _check_prefixes(tags, scheme)
    spans: list[Span] = []
    open_type, start = "", -1  # the open entity ("" when none)
    for i, tag in enumerate(tags):
        prefix, kind = _split(tag)
        continues = prefix in "IE" and kind == open_type
        if open_type and not continues:
            spans.append((open_type, start, i))
            open_type = ""
        if prefix != "O" and not continues:
            open_type, start = kind, i
        if prefix in "ES":  # the entity ends here
            spans.append((open_type, start, i + 1))
            open_type = ""
    if open_type:
        spans.append((open_type, start, len(tags)))
    return spans


def spans_to_tags(spans: Iterable[Span], length: int, scheme: Scheme = "iob2") -> list[str]:
    """The tag sequence of ``length`` tokens holding non-overlapping ``spans`` in ``scheme``.

    >>> spans_to_tags([("PER", 0, 2), ("PER", 2, 3)], 4, "iob1")
    ['I-PER', 'I-PER', 'B-PER', 'O']
    """
    check_choice("scheme", scheme, get_args(Scheme))
    tags = ["O"] * length
    previous_end, previous_type = -1, ""
    for kind, start, end in sorted(spans, key=lambda span: span[1]):
        if not (0 <= start < end <= length) or start < previous_end:
            raise ValueError(f"span {(kind, start, end)} overlaps another or is out of range")
        tags[start:end] = [f"I-{kind}"] * (end - start)
        if scheme == "iob2" or (start == previous_end and kind == previous_type):
            tags[start] = f"B-{kind}"  # IOB1 marks only an entity glued to one of its type
        if scheme == "iobes":
            tags[start] = f"S-{kind}" if end - start == 1 else f"B-{kind}"
            if end - start > 1:
                tags[end - 1] = f"E-{kind}"
        previous_end, previous_type = end, kind
    return tags


def convert_tags(tags: Sequence[str], src: Scheme, dst: Scheme) -> list[str]:
    """``tags`` rewritten from scheme ``src`` into scheme ``dst`` (any of the 6 directions).

    The entities are read leniently (:func:`tag_spans`) and written back in ``dst``, so a
    malformed sequence comes out well formed (an ``I-X`` after ``O`` becomes ``B-X`` in IOB2);
    a well-formed one keeps its entities, and converting back gives it unchanged.

    >>> convert_tags(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "iob1", "iob2")
    ['B-PER', 'I-PER', 'B-PER', 'O', 'B-LOC']
    >>> convert_tags(["B-PER", "I-PER", "O", "B-LOC"], "iob2", "iobes")
    ['B-PER', 'E-PER', 'O', 'S-LOC']
    """
    check_choice("dst", dst, get_args(Scheme))
    return spans_to_tags(tag_spans(tags, src), len(tags), dst)


# --- reading ---------------------------------------------------------------------------------


def read_conll(
    path: PathLike,
    *,
    tag_column: int | None = -1,
    token_column: int = 0,
    scheme: Scheme | None = None,
) -> list[Sentence]:
    """The sentences of a CoNLL file (UTF-8, plain or ``.gz``).

    One token per line, columns separated by spaces or tabs, a blank line between sentences,
    ``-DOCSTART-`` lines skipped. ``token_column`` and ``tag_column`` pick the columns
    (negative counts from the end; ``tag_column=None`` reads an untagged file). With
    ``scheme`` the tags are converted from it to IOB2 (:func:`convert_tags`); ``None`` keeps
    them as they are.

    Raises a one-line :class:`~seqlab.data.DataError` naming the file and line for a missing,
    empty or non-UTF-8 file, a line with another number of columns than its sentence's first
    line, a column that does not exist, a tag that is not ``O`` or ``B/I/E/S-TYPE`` (or an
    ``E-``/``S-`` tag when ``scheme`` is IOB1/IOB2), and a file without a sentence.
    """
    file = Path(path)
    return _parse(read_text(file), file, tag_column, token_column, scheme)


def read_conll_text(
    text: str,
    *,
    name: str = "<stdin>",
    tag_column: int | None = -1,
    token_column: int = 0,
    scheme: Scheme | None = None,
) -> list[Sentence]:
    """:func:`read_conll` on a string (standard input, say); errors name the file ``name``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _parse(text, Path(name), tag_column, token_column, scheme)


def _parse(
    text: str, file: Path, tag_column: int | None, token_column: int, scheme: Scheme | None
) -> list[Sentence]:
    """Sentences of ``text`` (see :func:`read_conll`)."""
    if scheme is not None:
        check_choice("scheme", scheme, get_args(Scheme))
    sentences: list[Sentence] = []
    block: list[tuple[int, list[str]]] = []  # (line number, columns) of the open sentence
    doc_start = False

    def close() -> None:
        nonlocal doc_start
        if block:
            sentences.append(_sentence(block, file, tag_column, token_column, scheme, doc_start))
            block.clear()
            doc_start = False

    for number, line in enumerate(text.split("\n"), 1):
        columns = line.split()
        if not columns:
            close()
        elif columns[0] == DOCSTART:
            close()
            doc_start = True
        else:
            block.append((number, columns))
    close()
    if not sentences:
        raise DataError(
            file, "no sentence in the file", hint="give one token per line, sentences apart"
        )
    return sentences


def _column(columns: list[str], index: int, what: str, file: Path, number: int) -> int:
    """``index`` made non-negative, or a DataError when the line has no such column."""
    if not -len(columns) <= index < len(columns):
        raise DataError(
            file,
            f"the {what} column {index} does not exist: the line has {len(columns)} columns",
            hint=f"choose the {what} column (counted from 0, negative from the end)",
            line=number,
        )
    return index % len(columns)


def _sentence(
    block: list[tuple[int, list[str]]],
    file: Path,
    tag_column: int | None,
    token_column: int,
    scheme: Scheme | None,
    doc_start: bool,
) -> Sentence:
    """One sentence from its token lines, checked and (with ``scheme``) converted to IOB2."""
    first_number, first = block[0]
    width = len(first)
    token_at = _column(first, token_column, "token", file, first_number)
    tag_at = None if tag_column is None else _column(first, tag_column, "tag", file, first_number)
    if tag_at == token_at:
        raise DataError(
            file,
            f"the tag column {tag_column} is the token column (the line has {width} columns)",
            hint="give a file with a tag column, or read it untagged",
            line=first_number,
        )
    for number, columns in block:
        if len(columns) != width:
            raise DataError(
                file,
                f"{len(columns)} columns, but the sentence's first line ({first_number}) has "
                f"{width}",
                hint="every token line of a sentence needs the same columns",
                line=number,
            )
        tag = columns[tag_at] if tag_at is not None else "O"
        if not _TAG_RE.fullmatch(tag) or (scheme in ("iob1", "iob2") and tag[0] in "ES"):
            allowed = _TAG_HINT if scheme in (None, "iobes") else f"{scheme} tags are O, B-X, I-X"
            raise DataError(file, f"{tag!r} is not a tag", hint=allowed, line=number)
    tags = tuple(columns[tag_at] for _, columns in block) if tag_at is not None else ()
    if scheme is not None and tags:
        tags = tuple(convert_tags(tags, scheme, "iob2"))
    return Sentence(
        tokens=tuple(columns[token_at] for _, columns in block),
        tags=tags,
        columns=tuple(tuple(columns) for _, columns in block),
        doc_start=doc_start,
    )


# --- writing ---------------------------------------------------------------------------------


def write_conll(
    path_or_textio: PathLike | TextIO,
    sentences: Sequence[Sentence],
    tags: Sequence[Sequence[str]] | None = None,
) -> None:
    """Write ``sentences`` in CoNLL format: each token line's ``columns`` joined by spaces,
    plus ``tags[i][j]`` as a last column when ``tags`` is given; a blank line after each
    sentence, a ``-DOCSTART-`` line (and a blank line) before each ``doc_start`` sentence.

    A path is written atomically; a text stream (``sys.stdout``) as is. ``read_conll`` of the
    result gives back ``sentences`` (with ``tags``, the tag column read is the new one).
    ValueError when ``tags`` does not match the sentences or a column is empty or holds
    whitespace.
    """
    if tags is not None and len(tags) != len(sentences):
        raise ValueError(f"{len(tags)} tag sequences for {len(sentences)} sentences")
    out = StringIO()
    for i, sentence in enumerate(sentences):
        extra = None if tags is None else tags[i]
        if not sentence.columns:
            raise ValueError(f"sentence {i} has no token (a CoNLL file cannot hold it)")
        if extra is not None and len(extra) != len(sentence.columns):
            raise ValueError(f"sentence {i}: {len(extra)} tags for {len(sentence.columns)} tokens")
        width = len(sentence.columns[0]) + (extra is not None)
        if sentence.doc_start:  # "-DOCSTART- -X- -X- O" for four columns
            out.write(" ".join([DOCSTART, *["-X-"] * (width - 2), "O"][:width]) + "\n\n")
        for j, columns in enumerate(sentence.columns):
            fields = [*columns, *(() if extra is None else (extra[j],))]
            if any(field.split() != [field] for field in fields):
                raise ValueError(f"sentence {i}, token {j}: a column is empty or holds whitespace")
            out.write(" ".join(fields) + "\n")
        out.write("\n")
    if isinstance(path_or_textio, str | Path) or hasattr(path_or_textio, "__fspath__"):
        atomic_write_text(path_or_textio, out.getvalue())  # type: ignore[arg-type]
    else:
        path_or_textio.write(out.getvalue())  # type: ignore[union-attr]
