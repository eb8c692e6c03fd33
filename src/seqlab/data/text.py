"""Reading text files safely and cutting text into character or word sequences.

:func:`read_text` is the one reader of user text files: it reports a missing file, a folder,
an empty file, a binary file or a non-UTF-8 file as a one-line :class:`~seqlab.data.DataError`
naming the file and line, and returns text with ``\\n`` line ends.

Word tokenisation (:func:`tokenize_words`) keeps punctuation as separate tokens and splits
contractions and possessives before the apostrophe, as the Penn Treebank does for ``'s``:
``"don't"`` -> ``["don", "'t"]``, ``"world's"`` -> ``["world", "'s"]``. This keeps the
vocabulary small (``'s`` is one token for every possessive) and :meth:`Vocab.join` glues the
pieces back together.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, get_args

from seqlab._io import DataError, PathLike
from seqlab._validate import check_choice
from seqlab.data.vocab import EOS, Level

__all__ = [
    "Unit",
    "iter_text",
    "read_lines",
    "read_text",
    "sequences",
    "tokenize",
    "tokenize_words",
]

Unit = Literal["line", "text"]


class Hasher(Protocol):
    """What :func:`iter_text` feeds the bytes it reads to (any :mod:`hashlib` object)."""

    def update(self, data: bytes, /) -> None: ...


_BOM = b"\xef\xbb\xbf"
_UTF8_HINT = "convert it to UTF-8, e.g. `iconv -f latin1 -t utf-8 {name} > {name}.utf8`"

# One token: a number with inner separators, a word (letters/digits, inner hyphens), a clitic
# (apostrophe + letters right after a letter: 's 't 'll), or one punctuation mark ('...' and
# '--' are single tokens). Everything else (spaces) separates tokens.
_WORD_RE = re.compile(
    r"""
    \d+(?:[.,:]\d+)+                  # 3.14  1,000  12:30
  | [^\W_]+(?:-[^\W_]+)*              # word, self-substantial, all-eating
  | (?<=[^\W_])['’][^\W_]+(?:-[^\W_]+)*  # clitic after a letter: 't 's 'll 'st 'est-ce
  | \.\.\.|--                         # ellipsis, dash
  | [^\w\s]|_                         # any other single mark
    """,
    re.VERBOSE,
)


def tokenize_words(text: str) -> list[str]:
    """Words and punctuation marks of ``text``, in order; whitespace is dropped.

    >>> tokenize_words("The apple and pear salad.")
    ['The', 'apple', 'and', 'pear', 'salad', '.']
    >>> tokenize_words("Don't stop (yet), world's end...")
    ['Don', "'t", 'stop', '(', 'yet', ')', ',', 'world', "'s", 'end', '...']
    """
    return _WORD_RE.findall(text)


def tokenize(text: str, level: Level) -> list[str]:
    """Characters (``level="char"``, whitespace and newlines kept) or words of ``text``."""
    check_choice("level", level, get_args(Level))
    return list(text) if level == "char" else tokenize_words(text)


def _line_of(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line number and 0-based byte column of byte ``offset`` in ``data``."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return line, offset - start


@contextmanager
def os_errors(file: Path) -> Iterator[None]:
    """Turn the OS's errors on ``file`` (missing, a folder, no permission) into
    :class:`DataError`s that name it and say what to do."""
    try:
        yield
    except FileNotFoundError:
        raise DataError(file, "no such file", hint="check the path") from None
    except IsADirectoryError:
        raise DataError(
            file, "is a directory, not a text file", hint="give the path of a file inside it"
        ) from None
    except PermissionError:
        raise DataError(
            file, "permission denied", hint="check the file's permissions (ls -l)"
        ) from None
    except OSError as err:
        raise DataError(file, f"cannot read it ({err.strerror})", hint="check the path") from None


def _read_bytes(file: Path) -> bytes:
    """The file's bytes (decompressed when its name ends in ``.gz``), or a :class:`DataError`
    for a missing file, a folder, no permission or a broken gzip file."""
    with os_errors(file):
        data = file.read_bytes()
    if file.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                file, f"not a valid gzip file ({exc})", hint="give a .gz file or rename it"
            ) from None
    return data


def _decode(file: Path, data: bytes, *, start: int = 0, before: tuple[int, int] = (0, 0)) -> str:
    """Strict UTF-8 decoding with a :class:`DataError` naming the line of a NUL or bad byte.

    ``data`` may be a piece of the file: ``start`` is its byte offset in the file, ``before``
    the (newlines, offset of the last line start) of the bytes before it. A byte-order mark
    is dropped at the file's start only.
    """
    nul = data.find(b"\0")
    if nul >= 0:
        line, col = _where(data, nul, start, before)
        raise DataError(
            file,
            f"binary file (NUL byte at byte offset {start + nul}, column {col + 1})",
            hint="give a plain UTF-8 text file",
            line=line,
        )
    skip = len(_BOM) if start == 0 and data.startswith(_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = err.start + skip
        line, col = _where(data, offset, start, before)
        raise DataError(
            file,
            f"not valid UTF-8 (byte 0x{data[offset]:02X} at byte offset {start + offset}, "
            f"column {col + 1})",
            hint=_UTF8_HINT.format(name=file.name),
            line=line,
        ) from None


def _where(data: bytes, offset: int, start: int, before: tuple[int, int]) -> tuple[int, int]:
    """1-based line and 0-based byte column of ``data[offset]``, ``data`` being the piece of
    the file at byte ``start`` with ``before = (newlines before it, last line start)``."""
    line, col = _line_of(data, offset)
    if line == 1:  # the line began in an earlier piece
        col = start + offset - before[1]
    return before[0] + line, col


def read_text(path: PathLike, *, allow_empty: bool = False) -> str:
    """The UTF-8 text of ``path`` with ``\\r\\n`` (and a lone ``\\r``) turned into ``\\n``.

    A name ending in ``.gz`` is read through gzip. A leading UTF-8 byte-order mark is dropped.
    Raises :class:`~seqlab.data.DataError` (one line, file and line named, with what to do) for
    a missing file, a directory, an unreadable file, a broken gzip file, an empty or
    whitespace-only file (unless ``allow_empty``), a binary file (a NUL byte) or bytes that
    are not UTF-8.
    """
    file = Path(path)
    data = _read_bytes(file)
    text = _decode(file, data)
    if not allow_empty and not text.strip():
        problem = "file is empty" if not text else "file holds only whitespace"
        raise DataError(file, problem, hint="give a file with some text in it")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Bytes read at a time by :func:`iter_text` (the memory it holds is about twice this).
CHUNK_BYTES = 1 << 22


def iter_text(
    path: PathLike, *, chunk_bytes: int = CHUNK_BYTES, hasher: Hasher | None = None
) -> Iterator[str]:
    """The text of ``path`` as :func:`read_text` returns it, in pieces of about
    ``chunk_bytes`` bytes, read as they are needed: memory stays flat in the file's size.

    ``"".join(iter_text(path)) == read_text(path)``. Each piece but the last ends after its
    last line end, else after its last space (a word is never cut), else before its last
    character (only in a run of over 1 MiB, or 4 × ``chunk_bytes``, without whitespace); a
    ``\\r\\n`` is never split. It raises the errors of :func:`read_text`
    (:class:`~seqlab.data.DataError`) when the reading reaches them (an empty or
    whitespace-only file: at the end). ``hasher`` (a :mod:`hashlib` object) is fed the
    file's bytes (decompressed for ``.gz``) as they are read.
    """
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
    file = Path(path)
    with os_errors(file):
        handle = gzip.open(file, "rb") if file.suffix == ".gz" else file.open("rb")
    longest = max(4 * chunk_bytes, 1 << 20)  # a run without whitespace is cut beyond this
    start, before, carry = 0, (0, 0), b""
    seen_chars = seen_text = False
    with handle:
        while True:
            block = _read_block(file, handle, chunk_bytes)
            if hasher is not None:
                hasher.update(block)
            data = carry + block
            cut = _cut(data, force=len(data) >= longest) if block else len(data)
            piece, carry = data[:cut], data[cut:]
            text = _decode(file, piece, start=start, before=before)
            seen_chars = seen_chars or bool(text)
            seen_text = seen_text or (bool(text) and not text.isspace())
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                yield text
            last = piece.rfind(b"\n")
            newlines = before[0] + piece.count(b"\n")
            before = (newlines, start + last + 1 if last >= 0 else before[1])
            start += len(piece)
            if not block:
                break
    if not seen_text:
        problem = "file holds only whitespace" if seen_chars else "file is empty"
        raise DataError(file, problem, hint="give a file with some text in it")


def _read_block(file: Path, handle: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes of ``handle`` (``b""`` at the end), or a :class:`DataError`."""
    try:
        return handle.read(size)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(
            file, f"not a valid gzip file ({exc})", hint="give a .gz file or rename it"
        ) from None
    except OSError as err:
        raise DataError(
            file, f"cannot read it ({err.strerror or err})", hint="check the path"
        ) from None


def _cut(data: bytes, *, force: bool) -> int:
    """Where :func:`iter_text` ends a piece of ``data``: after the last ``\\n``, else after the
    last space; else (``force``) before the last, maybe incomplete, UTF-8 character (and a
    ``\\r`` before it), or (not ``force``) nowhere: 0, the next block is awaited."""
    for sep in (b"\n", b" "):
        i = data.rfind(sep)
        if i >= 0:
            return i + 1
    if not force:
        return 0
    i = len(data) - 1
    while i > 0 and data[i] & 0xC0 == 0x80:  # a continuation byte
        i -= 1
    if i > 0 and data[i - 1] == 0x0D:
        i -= 1
    return max(i, 0)


def read_lines(path: PathLike) -> list[str]:
    """The non-empty lines of ``path``, stripped of surrounding whitespace."""
    return [s for line in read_text(path).split("\n") if (s := line.strip())]


def _lines(text: str) -> list[str]:
    """Lines of ``text`` split on ``\\n``; a final line end does not start an empty line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def sequences(text: str, level: Level, *, unit: Unit) -> list[list[str]]:
    """Token sequences for a language model.

    ``unit="line"``: every non-empty line (stripped) is one example, its tokens followed by
    ``"<EOS>"`` — the course's dinosaur names, one name per example.

    ``unit="text"``: the whole text is one stream, returned as a single sequence. At char
    level it is every character, newlines kept as ``"\\n"`` (no ``"<EOS>"``); at word level it
    is each line's words followed by ``"<EOS>"`` (a blank line gives a lone ``"<EOS>"``, so
    paragraph breaks survive).

    >>> sequences("ab\\n\\nc\\n", "char", unit="line")
    [['a', 'b', '<EOS>'], ['c', '<EOS>']]
    >>> sequences("Hi, you.\\nBye", "word", unit="text")
    [['Hi', ',', 'you', '.', '<EOS>', 'Bye', '<EOS>']]
    """
    check_choice("level", level, get_args(Level))
    check_choice("unit", unit, get_args(Unit))
    if unit == "line":
        return [[*tokenize(s, level), EOS] for line in text.split("\n") if (s := line.strip())]
    if level == "char":
        return [list(text)]
    stream: list[str] = []
    for line in _lines(text):
        stream.extend(tokenize_words(line))
        stream.append(EOS)
    return [stream]
