"""Word-vector files: word2vec text and binary, GloVe text; reading, writing, detection.

The formats, as gensim reads and writes them:

* ``"word2vec"``: text; a header line ``V E``, then one line per word: the word and E numbers,
  separated by single spaces.
* ``"word2vec-binary"``: the header line ``V E\\n``, then per word its UTF-8 bytes, a space and
  E little-endian float32 values (4E bytes); a newline after each vector (as the original C
  tool writes) is accepted when reading and not written.
* ``"glove"``: text like ``"word2vec"`` without the header line (Stanford GloVe's files).

:func:`detect_format` (and ``format="auto"``) reads the first line: two integers make a header
(then the first record tells text from binary: a record that parses as a text line is
word2vec text), anything else is a GloVe file. Words are UTF-8. A file starting with the gzip
magic bytes is read gunzipped; a path ending in ``.gz`` is written gzip-compressed. Malformed
files raise :class:`~seqlab._io.DataError` naming the file and line. Duplicate words keep the
first vector (as gensim does) with a warning.

:meth:`seqlab.embeddings.KeyedVectors.load` and :meth:`~seqlab.embeddings.KeyedVectors.save`
are built on :func:`read_vectors` and :func:`write_vectors`.
"""

from __future__ import annotations

import gzip
import io
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Literal, get_args

import numpy as np

from seqlab._io import DataError, PathLike, atomic_write_bytes

__all__ = ["VectorFormat", "detect_format", "read_vectors", "write_vectors"]

VectorFormat = Literal["word2vec", "word2vec-binary", "glove"]

_HEADER_RE = re.compile(rb"\s*(\d+)[ \t]+(\d+)\s*")
_GZIP_MAGIC = b"\x1f\x8b"
_READ_BLOCK = 1 << 22  # bytes read at a time from a vectors file (4 MiB)
_LOAD_HINT = "check the file is a word2vec (text or binary) or GloVe vectors file"
# frames between a warning in _VectorReader._dedupe and the caller of read_vectors or
# KeyedVectors.load: _dedupe, _read_text/_read_binary, read, _read, read_vectors/load
_WARN_STACKLEVEL = 6


def detect_format(path: PathLike) -> VectorFormat:
    """The format of an existing vectors file (plain or gzip): the rule of ``format="auto"``.

    No ``V E`` header line (two integers) is ``"glove"``; after a header, a first record that
    parses as a text line (a word and E numbers) is ``"word2vec"``, else ``"word2vec-binary"``.
    Reads only the start of the file. Raises :class:`~seqlab._io.DataError` for a missing
    or empty file.
    """
    file = Path(path)
    with _open_vectors(file) as fin:
        return _VectorReader(file, fin, "auto", None).detect()


def read_vectors(
    path: PathLike,
    format: VectorFormat | Literal["auto"] = "auto",
    limit: int | None = None,
) -> tuple[list[str], np.ndarray]:
    """The words of a word2vec text/binary or GloVe text file (plain or gzip) and their
    (V, E) float32 matrix.

    ``format="auto"`` detects the format (see :func:`detect_format`). ``limit=N`` reads only
    the first N vectors (and stops reading the file there). Raises
    :class:`~seqlab._io.DataError` naming the file and line for a missing, empty or malformed
    file: ragged rows, a dimension count that disagrees with the header or the first row,
    non-numeric values, fewer (or more) vectors than the header says, a truncated binary file,
    bytes that are not UTF-8.
    """
    return _read(path, format, limit)


def _read(path: PathLike, format: str, limit: int | None) -> tuple[list[str], np.ndarray]:
    """:func:`read_vectors` (``KeyedVectors.load`` calls it too, at the same stack depth)."""
    choices = (*get_args(VectorFormat), "auto")
    if format not in choices:
        raise ValueError(f"format must be one of {list(choices)}, got {format!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of vectors, got {limit}")
    file = Path(path)
    with _open_vectors(file) as fin:
        return _VectorReader(file, fin, format, limit).read()


def write_vectors(
    path: PathLike,
    words: Sequence[str],
    vectors: np.ndarray,
    format: VectorFormat = "word2vec",
) -> Path:
    """Write ``words`` and their (V, E) ``vectors`` atomically in ``format``; the path.

    Text values are written with 9 significant digits, which reads back to the same float32.
    A path ending in ``.gz`` is gzip-compressed. ``ValueError`` for an unknown format, or an
    empty word or one holding whitespace (no vectors file can hold it).
    """
    if format not in get_args(VectorFormat):
        raise ValueError(f"format must be one of {list(get_args(VectorFormat))}, got {format!r}")
    for w in words:
        if not isinstance(w, str) or not w:
            raise ValueError(f"words must be non-empty strings, got {w!r}")
        if any(ch in w for ch in " \t\n\r\x0b\x0c") or w != w.strip():
            raise ValueError(f"word {w!r} contains whitespace; text vector files cannot hold it")
    matrix = np.asarray(vectors, dtype=np.float32)  # (V, E)
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise ValueError(f"expected vectors of shape ({len(words)}, E), got {tuple(matrix.shape)}")
    dest = Path(path)
    v, e = matrix.shape
    parts: list[bytes] = []
    if format != "glove":
        parts.append(f"{v} {e}\n".encode())
    if format == "word2vec-binary":
        le = matrix.astype("<f4", copy=False)  # (V, E)
        for word, row in zip(words, le, strict=True):
            parts.append(word.encode("utf-8") + b" " + row.tobytes())
    else:
        fmt = " ".join(["%.9g"] * e)
        for word, row in zip(words, matrix.tolist(), strict=True):
            parts.append(f"{word} {fmt % tuple(row)}\n".encode())
    data = b"".join(parts)
    if dest.suffix == ".gz":
        data = gzip.compress(data, compresslevel=6, mtime=0)
    return atomic_write_bytes(dest, data)


# -------------------------------------------------------------------------------- reading


def _open_vectors(file: Path) -> IO[bytes]:
    """A binary handle on ``file`` (gunzipped when it starts with the gzip magic bytes)."""
    try:
        handle: IO[bytes] = open(file, "rb")
    except FileNotFoundError:
        raise DataError(file, "no such file", hint="check the path") from None
    except IsADirectoryError:
        raise DataError(file, "is a directory", hint="give the path of a vectors file") from None
    except PermissionError:
        raise DataError(file, "permission denied", hint="check the file's permissions") from None
    except OSError as err:
        raise DataError(file, f"cannot read it ({err.strerror})", hint="check the path") from None
    with handle:
        magic = handle.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(file, "rb")
    return open(file, "rb")


def _is_number(token: bytes) -> bool:
    """Whether ``float`` reads ``token``."""
    try:
        float(token)
    except ValueError:
        return False
    return True


class _VectorReader:
    """One pass over a vectors file: header detection, bulk parsing, errors with line numbers."""

    def __init__(self, file: Path, fin: IO[bytes], format: str, limit: int | None) -> None:
        self.file = file
        self.fin = fin
        self.format = format
        self.limit = limit
        self.buf = b""  # bytes read but not yet consumed
        self.eof = False

    def error(self, problem: str, line: int | None, hint: str = _LOAD_HINT) -> DataError:
        """A :class:`DataError` about this file."""
        return DataError(self.file, problem, hint=hint, line=line)

    def fill(self, need: int) -> bool:
        """Read until ``buf`` holds ``need`` bytes or the file ends; whether it holds them."""
        while len(self.buf) < need and not self.eof:
            try:
                block = self.fin.read(max(_READ_BLOCK, need - len(self.buf)))
            except (OSError, EOFError) as err:
                raise self.error(f"cannot read it ({err})", None, "check the file") from None
            if not block:
                self.eof = True
            self.buf += block
        return len(self.buf) >= need

    def first_line(self) -> bytes | None:
        """The first line (without its newline) of what is left, or None if none ends soon."""
        start = 0
        while True:
            nl = self.buf.find(b"\n", start)
            if nl >= 0:
                return self.buf[:nl]
            if self.eof:
                return self.buf if self.buf else None
            start = len(self.buf)
            if start > (1 << 24):
                return None
            self.fill(len(self.buf) + _READ_BLOCK)

    def _start(self) -> tuple[bytes, re.Match[bytes] | None]:
        """The first line and its match as a ``V E`` header (None: no header line)."""
        self.fill(1)
        if not self.buf.strip():
            self.fill(1 << 16)
            if not self.buf.strip() and self.eof:
                raise self.error("file is empty", None, "give a file with vectors in it")
        first = self.first_line() or b""
        return first, _HEADER_RE.fullmatch(first)

    def detect(self) -> VectorFormat:
        """The file's format, from its first line and (after a header) its first record."""
        first, header = self._start()
        return "glove" if header is None else self._detect_after_header(first, header)

    def read(self) -> tuple[list[str], np.ndarray]:
        """Words and the (V, E) float32 matrix."""
        first, header = self._start()
        fmt = self.format
        if fmt == "auto":
            fmt = "glove" if header is None else self._detect_after_header(first, header)
        if fmt == "glove":
            if b"\0" in first:
                raise self.error(
                    "binary data in a text vectors file",
                    1,
                    "a word2vec binary file starts with a 'V E' header line; is this one cut?",
                )
            return self._read_text(None, None, first_line_no=1)
        if header is None:
            raise self.error(
                f"expected a header line 'V E' (two integers), got {first[:60]!r}",
                1,
                "use format='glove' for a file without a header, or format='auto'",
            )
        count, dim = int(header.group(1)), int(header.group(2))
        if dim < 1:
            raise self.error(f"header gives {dim} dimensions", 1)
        self.buf = self.buf[len(first) + 1 :]
        if fmt == "word2vec-binary":
            return self._read_binary(count, dim)
        return self._read_text(count, dim, first_line_no=2)

    def _detect_after_header(self, first: bytes, header: re.Match[bytes]) -> VectorFormat:
        """``"word2vec"`` if the record after the header parses as text, else binary."""
        dim = int(header.group(2))
        rest = self.buf[len(first) + 1 :]
        if b"\n" not in rest and not self.eof:
            self.fill(len(self.buf) + 1)  # has the file ended? (a last text row may lack "\n")
            rest = self.buf[len(first) + 1 :]
        if not rest.strip() and self.eof:
            return "word2vec"
        nl = rest.find(b"\n")
        line = rest[:nl] if nl >= 0 else (rest if self.eof else None)
        if line is None:
            return "word2vec-binary"
        parts = line.split()
        if len(parts) != dim + 1:
            return "word2vec-binary"
        try:
            parts[0].decode("utf-8")
            [float(x) for x in parts[1:]]
        except ValueError:
            return "word2vec-binary"
        return "word2vec"

    # ------------------------------------------------------------------------------ text

    def _lines(self, first_line_no: int) -> Iterable[tuple[int, list[bytes]]]:
        """(line number, lines) batches of complete lines, streamed."""
        line_no = first_line_no
        while True:
            self.fill(_READ_BLOCK)
            if not self.buf:
                return
            cut = self.buf.rfind(b"\n")
            if cut < 0 or self.eof:
                chunk, self.buf = self.buf, b""
            else:
                chunk, self.buf = self.buf[: cut + 1], self.buf[cut + 1 :]
            lines = chunk.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            yield line_no, lines
            line_no += len(lines)

    def _read_text(
        self, count: int | None, dim: int | None, *, first_line_no: int
    ) -> tuple[list[str], np.ndarray]:
        """Parse text rows (a word, then ``dim`` numbers) in bulk batches, checking each row."""
        limit = self.limit if self.limit is not None else -1
        if count is not None and limit >= 0:
            limit = min(limit, count)
        words: list[str] = []
        blocks: list[np.ndarray] = []
        last_line = first_line_no - 1
        done = False
        # where the row width was fixed: the header, or the first row of the file
        width_from = "from the header" if dim is not None else None
        for start_no, lines in self._lines(first_line_no):
            heads: list[bytes] = []
            rests: list[bytes] = []
            line_nos: list[int] = []
            for offset, line in enumerate(lines):
                line_no = start_no + offset
                last_line = line_no
                parts = line.split(None, 1)
                if not parts:
                    continue  # blank lines carry nothing
                if len(parts) == 1 or not parts[1].strip():
                    raise self.error("row has a word but no numbers", line_no)
                heads.append(parts[0])
                rests.append(parts[1])
                line_nos.append(line_no)
                if count is not None and len(words) + len(heads) > count:
                    raise self.error(
                        f"header says {count} vectors but more rows follow them",
                        line_no,
                        "fix the header's first number or remove the extra rows",
                    )
                if len(words) + len(heads) == limit:
                    done = True
                    break
            if rests:
                width_from = width_from or f"from line {line_nos[0]}"
                block = self._parse_rows(rests, line_nos, dim, width_from)  # (n, E)
                dim = block.shape[1]
                blocks.append(block)
                words.extend(self._decode_words(heads, line_nos))
            if done:
                break
        if dim is None:
            raise self.error("no vectors in the file", None, "give a file with vectors in it")
        if count is not None and len(words) < (count if limit < 0 else limit):
            raise self.error(
                f"header says {count} vectors, the file holds only {len(words)}",
                last_line,
                "the file may be cut short; fix the header's first number or the rows",
            )
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)
        return self._dedupe(words, matrix)

    def _decode_words(self, heads: list[bytes], line_nos: list[int]) -> list[str]:
        """The words of a batch as text; a :class:`DataError` naming a non-UTF-8 word's line."""
        try:
            return b"\n".join(heads).decode("utf-8").split("\n")
        except UnicodeDecodeError:
            for head, line_no in zip(heads, line_nos, strict=True):
                try:
                    head.decode("utf-8")
                except UnicodeDecodeError:
                    raise self.error("word is not valid UTF-8", line_no) from None
            raise

    def _parse_rows(
        self, rests: list[bytes], line_nos: list[int], dim: int | None, width_from: str
    ) -> np.ndarray:
        """The numbers of a batch of rows as a (n, E) float32 block.

        ``dim`` is the width fixed by the header or an earlier batch (``None``: the first row
        of this batch fixes it); ``width_from`` says where it was fixed, for the message. The
        fast path is NumPy's C parser; if it fails (or the width is wrong), the rows are
        parsed one by one to name the first bad line and value.
        """
        try:
            values = np.loadtxt(
                io.BytesIO(b"\n".join(rests)), dtype=np.float32, ndmin=2, comments=None
            )  # (n, E)
            if values.shape[0] == len(rests) and (dim is None or values.shape[1] == dim):
                return values
        except ValueError:
            pass
        rows: list[list[float]] = []
        for rest, line_no in zip(rests, line_nos, strict=True):
            tokens = rest.split()
            if dim is None:
                dim = len(tokens)
            if len(tokens) != dim:
                raise self.error(
                    f"row has {len(tokens)} values, expected {dim} ({width_from})",
                    line_no,
                    "every row must hold a word and the same number of values",
                )
            try:
                rows.append([float(t) for t in tokens])
            except ValueError:
                bad = next(t for t in tokens if not _is_number(t))
                raise self.error(
                    f"value {bad.decode('utf-8', 'replace')!r} is not a number", line_no
                ) from None
        return np.array(rows, dtype=np.float32)  # (n, E)

    def _dedupe(self, words: list[str], matrix: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Keep the first of repeated words (gensim does), warning once."""
        index: dict[str, int] = {}
        for i, w in enumerate(words):
            index.setdefault(w, i)
        if len(index) == len(words):
            return words, matrix
        keep = np.array(sorted(index.values()), dtype=np.int64)
        warnings.warn(
            f"{self.file}: {len(words) - len(index)} repeated word(s) "
            f"(first: {next(w for i, w in enumerate(words) if index[w] != i)!r}); "
            "kept the first vector of each",
            stacklevel=_WARN_STACKLEVEL,
        )
        return [words[i] for i in keep], matrix[keep]

    # ---------------------------------------------------------------------------- binary

    def _read_binary(self, count: int, dim: int) -> tuple[list[str], np.ndarray]:
        """Parse ``count`` binary records (word, space, ``dim`` float32 values)."""
        n = count if self.limit is None else min(count, self.limit)
        width = 4 * dim
        matrix = np.empty((n, dim), dtype=np.float32)  # (V, E)
        words: list[str] = []
        consumed = 0  # bytes of the body consumed before the current buffer
        pos = 0
        for k in range(n):
            space = self.buf.find(b" ", pos)
            while space < 0 or len(self.buf) < space + 1 + width:
                if self.eof:
                    raise self.error(
                        f"truncated: the header says {count} vectors, the file ends in "
                        f"vector {k + 1} (byte {consumed + len(self.buf) + 1} of the body)",
                        None,
                        "the file was cut short; download or write it again",
                    )
                self.buf = self.buf[pos:]
                consumed += pos
                pos = 0
                self.fill(len(self.buf) + _READ_BLOCK)
                space = self.buf.find(b" ", pos)
            raw = self.buf[pos:space].lstrip(b"\n")
            try:
                word = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self.error(
                    f"word of vector {k + 1} is not valid UTF-8 ({raw[:40]!r})", None
                ) from None
            if not word:
                raise self.error(f"vector {k + 1} has an empty word", None)
            words.append(word)
            matrix[k] = np.frombuffer(self.buf, dtype="<f4", count=dim, offset=space + 1)
            pos = space + 1 + width
        if self.limit is None or self.limit >= count:
            self.buf = self.buf[pos:]
            self.fill(1)
            if self.buf.strip():
                raise self.error(
                    f"header says {count} vectors but more data follows them",
                    None,
                    "fix the header's first number",
                )
        return self._dedupe(words, matrix)
