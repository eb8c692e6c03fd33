"""Token files: a corpus encoded once into a flat array of token ids, read memory-mapped.

The convention of nanoGPT's ``prepare.py``: the ids of the whole corpus, in order, as raw
little-endian integers of the smallest unsigned type that holds the vocabulary
(:func:`token_dtype`: ``uint8`` up to 256 tokens, ``uint16`` up to 65,536, else ``uint32``)
in a ``.bin`` file, with a small JSON header beside it (``.json``: the dtype, the number of
tokens, the tokenizer, the hashes of the corpus and of the vocabulary). Training reads the
file with :class:`numpy.memmap`, so no process ever holds the whole corpus in memory.

Encoding streams the text (:func:`seqlab.data.text.iter_text`, pieces of 4 MiB): memory
stays flat in the corpus's size. Characters are encoded with NumPy (a lookup table from
code point to id); words go through :func:`~seqlab.data.text.tokenize_words` and the
vocabulary, in two passes (count, then encode).

:func:`corpus_tokens` keeps what it encodes in a cache keyed by the corpus's content hash
and the tokenizer, so that re-runs and ``--resume`` do not encode again (a subword model's
key holds its BPE model's hash, :meth:`seqlab.data.subword.TextTokenizer.key`, so a BPE run
never reads a word-level file, nor one of another BPE model):

* the folder is ``$SEQLAB_CACHE``, else ``$XDG_CACHE_HOME/seqlab``, else
  ``~/.cache/seqlab`` (:func:`cache_dir`), subfolder ``tokens/``;
* ``<corpus hash>-<level>.counts.json``: the token counts (pass 1), from which the
  vocabulary is rebuilt for any ``min_count``/``max_vocab``;
* ``<key>.bin`` + ``<key>.json``: the token file, ``key`` hashing the corpus hash, the level
  and the vocabulary's hash. A changed corpus or vocabulary is another key (the old files
  stay until the folder is cleaned: ``rm -r ~/.cache/seqlab/tokens``).

Every file is written atomically (a temporary file in the same folder, then a rename), so
two processes (torchrun ranks) encoding the same corpus at once leave one good copy.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from seqlab._io import DataError, PathLike, atomic_write_json
from seqlab.data.text import CHUNK_BYTES, iter_text, tokenize_words
from seqlab.data.text import os_errors as _os_errors
from seqlab.data.vocab import EOS, UNK, Level, Vocab

if TYPE_CHECKING:
    from seqlab.data.subword import TextTokenizer

__all__ = [
    "RowPermutation",
    "TokenFile",
    "TokenSplit",
    "TokenWriter",
    "cache_dir",
    "chunked_length_buckets",
    "corpus_hash",
    "corpus_tokens",
    "count_tokens",
    "encode_file",
    "encode_text",
    "gather_windows",
    "length_buckets",
    "random_windows",
    "release_pages",
    "split_tokens",
    "token_dtype",
    "vocab_hash",
]

FORMAT = "seqlab.tokens"
VERSION = 1
_CACHE_ENV = "SEQLAB_CACHE"


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids ``0 .. vocab_size - 1``.

    >>> [str(token_dtype(n)) for n in (256, 257, 65_536, 65_537)]
    ['uint8', 'uint16', 'uint16', 'uint32']
    """
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    for dtype in (np.uint8, np.uint16, np.uint32):
        if vocab_size - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"vocab_size {vocab_size:,} does not fit in uint32 ids")


def cache_dir() -> Path:
    """Where encoded corpora are kept: ``$SEQLAB_CACHE``, else ``$XDG_CACHE_HOME/seqlab``,
    else ``~/.cache/seqlab``."""
    if os.environ.get(_CACHE_ENV):
        return Path(os.environ[_CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "seqlab"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def vocab_hash(vocab: Vocab) -> str:
    """A hash of the vocabulary's level and tokens in id order (what the ids mean)."""
    return _digest(vocab.level, json.dumps(list(vocab.tokens), ensure_ascii=False))


def corpus_hash(path: PathLike) -> str:
    """SHA-256 of the file's bytes (decompressed for ``.gz``), read in pieces."""
    file = Path(path)
    hasher = hashlib.sha256()
    for _ in iter_text(file, hasher=hasher):
        pass
    return hasher.hexdigest()


# -- encoding ---------------------------------------------------------------------------------
def _codepoints(text: str) -> np.ndarray:
    """The code points of ``text``: ``uint8`` when it is ASCII (the fast path), else ``uint32``."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _with_last(items: Iterable[str]) -> Iterator[tuple[str, bool]]:
    """``(item, is_last)`` pairs."""
    it = iter(items)
    prev = next(it, None)
    for item in it:
        yield prev, False  # type: ignore[misc]
        prev = item
    if prev is not None:
        yield prev, True


def _word_tokens(
    piece: str, final: bool, split: Callable[[str], list[str]] = tokenize_words
) -> list[str]:
    """The "text" unit's word stream of ``piece``: each line's words (or ``split``'s
    tokens: subword pieces) then ``<EOS>``; the part after the last line end continues in
    the next piece (it gets ``<EOS>`` only if final)."""
    lines = piece.split("\n")
    tail = lines.pop()
    out: list[str] = []
    for line in lines:
        out.extend(split(line))
        out.append(EOS)
    if tail:
        out.extend(split(tail))
        if final:
            out.append(EOS)
    return out


class _CharCounts:
    """Character counts over pieces of text, with NumPy's ``bincount`` on code points."""

    def __init__(self) -> None:
        self.dense = np.zeros(256, dtype=np.int64)  # count of code point i

    def add(self, text: str) -> int:
        cps = _codepoints(text)
        if cps.dtype == np.uint8:  # torch counts bytes without widening them first
            counts = torch.bincount(torch.from_numpy(cps.copy())).numpy()
        else:
            counts = np.bincount(cps)
        if len(counts) > len(self.dense):
            self.dense = np.pad(self.dense, (0, len(counts) - len(self.dense)))
        self.dense[: len(counts)] += counts
        return len(cps)

    def counter(self) -> Counter[str]:
        return Counter({chr(int(cp)): int(self.dense[cp]) for cp in np.flatnonzero(self.dense)})


def count_tokens(pieces: Iterable[str], level: Level) -> tuple[Counter[str], int]:
    """Pass 1: how often each token occurs in the "text" stream of ``pieces`` (the pieces of
    :func:`~seqlab.data.text.iter_text`), and the stream's length."""
    if level == "char":
        chars = _CharCounts()
        n = sum(chars.add(p) for p in pieces)
        return chars.counter(), n
    counts: Counter[str] = Counter()
    n = 0
    for piece, last in _with_last(pieces):
        tokens = _word_tokens(piece, last)
        counts.update(tokens)
        n += len(tokens)
    return counts, n


class _Encoder:
    """Text pieces -> arrays of ids in :func:`token_dtype`; unknown tokens become ``<UNK>``."""

    def __init__(self, vocab: Vocab, tokenizer: TextTokenizer | None = None) -> None:
        self.vocab = vocab
        self.split: Callable[[str], list[str]] = tokenizer or tokenize_words  # a line's tokens
        self.dtype = token_dtype(len(vocab))
        self.unk = vocab.unk_id
        if vocab.level == "char":
            chars = {ord(t): i for i, t in enumerate(vocab.tokens) if len(t) == 1}
            size = max(256, max(chars, default=0) + 1) + 1  # the last entry: beyond the table
            missing = self.unk if self.unk is not None else len(vocab)  # len(vocab): refused
            self.lut = np.full(size, missing, dtype=np.int64)
            self.lut[list(chars)] = list(chars.values())
            # ASCII text and one-byte ids: bytes.translate maps every byte at once (fastest)
            fits = self.dtype == np.uint8 and self.unk is not None
            self.table = self.lut[:256].astype(np.uint8).tobytes() if fits else None

    def chars(self, text: str) -> np.ndarray:
        if self.table is not None and text.isascii():
            return np.frombuffer(text.encode("ascii").translate(self.table), dtype=np.uint8)
        cps = _codepoints(text)
        if cps.dtype != np.uint8:
            cps = np.minimum(cps, len(self.lut) - 1)
        ids = self.lut[cps]  # (n,)
        if self.unk is None and len(ids) and ids.max() >= len(self.vocab):
            bad = chr(int(cps[np.argmax(ids >= len(self.vocab))]))
            raise ValueError(f"character {bad!r} is not in the vocabulary, which has no <UNK>")
        return ids.astype(self.dtype)

    def words(self, piece: str, final: bool) -> np.ndarray:
        tokens = _word_tokens(piece, final, self.split)
        return np.asarray(self.vocab.encode(tokens), dtype=self.dtype)

    def encode(self, pieces: Iterable[str]) -> Iterator[np.ndarray]:
        if self.vocab.level == "char":
            yield from map(self.chars, pieces)
        else:
            for piece, last in _with_last(pieces):
                yield self.words(piece, last)


def encode_text(text: str, vocab: Vocab, tokenizer: TextTokenizer | None = None) -> np.ndarray:
    """The "text" unit's ids of ``text`` (every character; or each line's words, or
    ``tokenizer``'s subword pieces, then ``<EOS>``) in :func:`token_dtype`; unknown tokens
    become ``<UNK>``.

    The same ids as ``vocab.encode(sequences(text, vocab.level, unit="text")[0])``.
    """
    parts = list(_Encoder(vocab, tokenizer).encode([text] if text else []))
    return parts[0] if parts else np.zeros(0, dtype=token_dtype(len(vocab)))


# -- the token file -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenFile:
    """A ``.bin`` file of token ids and its JSON header (``.json`` beside it)."""

    path: Path  # the .bin file
    meta: dict[str, Any]  # the header: format, dtype, tokens, vocab_size, hashes, tokenizer

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.meta["dtype"])

    def __len__(self) -> int:
        return int(self.meta["tokens"])

    def array(self) -> np.ndarray:
        """The ids, memory-mapped read-only: ``(N,)`` in :attr:`dtype`."""
        if len(self) == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(len(self),))

    @staticmethod
    def header_path(path: PathLike) -> Path:
        return Path(path).with_suffix(".json")

    @classmethod
    def read(cls, path: PathLike) -> TokenFile:
        """The token file at ``path`` (its ``.json`` beside it); a :class:`DataError` when
        either is missing, damaged or they disagree (the size of the ``.bin``)."""
        file = Path(path)
        header = cls.header_path(file)
        with _os_errors(header):
            raw = header.read_text(encoding="utf-8")
        try:
            meta = json.loads(raw)
            ok = meta["format"] == FORMAT and meta["version"] <= VERSION
            size = int(meta["tokens"]) * np.dtype(meta["dtype"]).itemsize
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            ok, size = False, -1
        if not ok:
            raise DataError(header, "not a seqlab token-file header", hint="encode it again")
        with _os_errors(file):
            actual = file.stat().st_size
        if actual != size:
            raise DataError(
                file,
                f"holds {actual:,} bytes, its header says {size:,}",
                hint="the file is damaged or was cut short: delete it and encode again",
            )
        return cls(file, meta)

    @classmethod
    def write(cls, path: PathLike, arrays: Iterable[np.ndarray], meta: dict[str, Any]) -> TokenFile:
        """Write ``arrays`` one after the other as the token file ``path`` (atomically, the
        ``.bin`` first and then its header); ``meta`` gets ``format``, ``version``, ``dtype``
        and ``tokens``."""
        with TokenWriter(path, meta) as writer:
            for ids in arrays:
                writer.append(ids)
        return writer.result


class TokenWriter:
    """A token file written piece by piece (:meth:`append`), for encoders that fill several
    files in one pass (the two sides of a parallel corpus).

    Used as a context manager: the ``.bin`` goes to a temporary file in the same folder and
    is renamed, then its header written, when the block ends without an error (else the
    temporary file is removed and nothing is left behind); :attr:`result` is then the
    :class:`TokenFile`. ``meta`` must hold ``vocab_size`` (it sets the dtype).
    """

    def __init__(self, path: PathLike, meta: dict[str, Any]) -> None:
        self.dest = Path(path)
        self.meta = dict(meta)
        self.dtype = token_dtype(int(meta["vocab_size"]))
        self.tokens = 0  # ids appended so far
        self._result: TokenFile | None = None
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{self.dest.name}.", suffix=".tmp", dir=self.dest.parent
        )
        self._tmp = Path(tmp_name)
        self._handle = os.fdopen(fd, "wb")

    def append(self, ids: np.ndarray | Sequence[int]) -> None:
        """Add ``ids`` at the end of the file (converted to the file's dtype)."""
        np.ascontiguousarray(ids, dtype=self.dtype.newbyteorder("<")).tofile(self._handle)
        self.tokens += len(ids)

    def __enter__(self) -> TokenWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self._handle.flush()
                os.fsync(self._handle.fileno())
            self._handle.close()
            if kind is not None:
                return
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.dest)
        finally:
            self._tmp.unlink(missing_ok=True)
        full = {
            "format": FORMAT,
            "version": VERSION,
            "dtype": self.dtype.name,
            "tokens": self.tokens,
            **self.meta,
        }
        atomic_write_json(TokenFile.header_path(self.dest), full)
        self._result = TokenFile(self.dest, full)

    @property
    def result(self) -> TokenFile:
        """The token file written (once the ``with`` block has ended)."""
        if self._result is None:
            raise RuntimeError("the token file is not written yet: end the `with` block first")
        return self._result


def encode_file(
    path: PathLike,
    vocab: Vocab,
    dest: PathLike,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    tokenizer: TextTokenizer | None = None,
    **meta: Any,
) -> TokenFile:
    """Encode the text file ``path`` (streamed) with ``vocab`` (and ``tokenizer``'s subword
    pieces) into the token file ``dest``; ``meta`` is added to the header."""
    pieces = iter_text(path, chunk_bytes=chunk_bytes)
    described = {"level": vocab.level, "unit": "text"}
    if tokenizer is not None:
        described["subword"] = tokenizer.key()
    info = {
        "vocab_size": len(vocab),
        "vocab_hash": vocab_hash(vocab),
        "tokenizer": described,
        "source": str(path),
        **meta,
    }
    return TokenFile.write(dest, _Encoder(vocab, tokenizer).encode(pieces), info)


def corpus_tokens(
    path: PathLike,
    *,
    level: Level,
    vocab: Vocab | None = None,
    min_count: int = 1,
    max_vocab: int | None = None,
    cache: PathLike | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    tokenizer: TextTokenizer | None = None,
) -> tuple[Vocab, TokenFile]:
    """The vocabulary and the token file of the text file ``path`` ("text" unit), encoded
    once and then read from the cache (see the module docstring).

    With a subword ``tokenizer`` (``level="word"``) each line is cut into its pieces and the
    default vocabulary is every piece (:meth:`~seqlab.data.subword.TextTokenizer.vocab`).

    Without ``vocab`` one is built from the whole file's counts (``min_count``,
    ``max_vocab``; specials ``<UNK>`` and ``<EOS>``), as nanoGPT's ``prepare.py`` does.
    ``cache`` is the folder (default: :func:`cache_dir` ``/ "tokens"``). A file's content
    hash is remembered by its path, size, modification time and inode (as ``make`` and
    ``rsync`` do), so a cached corpus is not read again at all.
    """
    folder = Path(cache) if cache is not None else cache_dir() / "tokens"
    _stat_key(path)  # a missing file or a folder: a DataError before anything is created
    folder.mkdir(parents=True, exist_ok=True)
    digest = _remembered_hash(path, folder)
    if vocab is None and tokenizer is not None:
        vocab = tokenizer.vocab((UNK, EOS))
    if vocab is None:
        with _Lock(folder, _digest("count", str(Path(path).resolve()), level)):
            digest = digest or _remembered_hash(path, folder)  # another process's count
            counts, digest = _cached_counts(path, level, digest, folder, chunk_bytes)
        vocab = Vocab.build(
            # one "sequence" that is a Counter: Vocab.build adds it with Counter.update
            [counts],
            level=level,
            min_count=min_count,
            max_size=max_vocab,
            specials=(UNK, EOS),
        )
    elif vocab.level != level:
        raise ValueError(f"the vocabulary is {vocab.level}-level, not {level}-level")
    if digest is None:
        digest = corpus_hash(path)
        _remember_hash(path, folder, digest)
    key = _digest(FORMAT, str(VERSION), digest, level, vocab_hash(vocab))
    if tokenizer is not None:  # the pieces' ids depend on the BPE model, not only the vocab
        key = _digest(key, tokenizer.key())
    bin_path = folder / f"{key}.bin"
    saved = _saved_token_file(bin_path)
    if saved is not None:
        return vocab, saved
    with _Lock(folder, key):  # one process encodes; the others wait, then read its file
        saved = _saved_token_file(bin_path)
        if saved is None:
            saved = encode_file(
                path,
                vocab,
                bin_path,
                chunk_bytes=chunk_bytes,
                tokenizer=tokenizer,
                corpus_hash=digest,
            )
    return vocab, saved


def _saved_token_file(bin_path: Path) -> TokenFile | None:
    """The cached token file, or None (absent or damaged: encode again)."""
    if not (bin_path.is_file() and TokenFile.header_path(bin_path).is_file()):
        return None
    try:
        return TokenFile.read(bin_path)
    except DataError:
        return None


class _Lock:
    """An OS file lock (``filelock``) on ``folder/<name>.lock`` for a block: processes that
    would build the same cached files (torchrun ranks on a cold cache) take turns, so the
    files are built once."""

    def __init__(self, folder: Path, name: str) -> None:
        from filelock import FileLock

        self.lock = FileLock(str(folder / f"{name}.lock"))

    def __enter__(self) -> None:
        self.lock.acquire()

    def __exit__(self, *_: object) -> None:
        self.lock.release()


def _stat_key(path: PathLike) -> dict[str, Any]:
    file = Path(path)
    with _os_errors(file):
        file.open("rb").close()  # a missing file, a folder, no permission: a DataError
        st = file.stat()
    return {
        "path": str(file.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "inode": st.st_ino,
    }


def _hash_memo(path: PathLike, folder: Path) -> tuple[Path, dict[str, Any]]:
    key = _stat_key(path)
    return folder / f"hash-{_digest(key['path'])}.json", key


def _remembered_hash(path: PathLike, folder: Path) -> str | None:
    """The content hash remembered for ``path`` if the file is unchanged since (stat)."""
    memo, key = _hash_memo(path, folder)
    try:
        saved = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or {k: saved.get(k) for k in key} != key:
        return None
    digest = saved.get("hash")
    return digest if isinstance(digest, str) else None


def _remember_hash(path: PathLike, folder: Path, digest: str) -> None:
    memo, key = _hash_memo(path, folder)
    atomic_write_json(memo, {**key, "hash": digest})


def _cached_counts(
    path: PathLike, level: Level, digest: str | None, folder: Path, chunk_bytes: int
) -> tuple[Counter[str], str]:
    """Pass 1's token counts of ``path`` and its content hash, from the cache or counted
    (the hash computed on the way; both then cached)."""
    if digest is not None:
        try:
            file = folder / f"{digest}-{level}.counts.json"
            saved = json.loads(file.read_text(encoding="utf-8"))
            if saved.get("format") == FORMAT and saved.get("corpus_hash") == digest:
                return Counter({str(k): int(v) for k, v in saved["counts"].items()}), digest
        except (OSError, ValueError, AttributeError, TypeError):
            pass
    hasher = hashlib.sha256()
    counts, n = count_tokens(iter_text(path, chunk_bytes=chunk_bytes, hasher=hasher), level)
    digest = hasher.hexdigest()
    _remember_hash(path, folder, digest)
    record = {"format": FORMAT, "corpus_hash": digest, "level": level, "tokens": n}
    file = folder / f"{digest}-{level}.counts.json"
    atomic_write_json(file, {**record, "counts": dict(counts)}, indent=None)
    return counts, digest


# -- splits and batches ---------------------------------------------------------------------
@dataclass(frozen=True)
class TokenSplit:
    """A token stream cut into training and validation ids (arrays or memory maps)."""

    train: np.ndarray  # (N,) the training ids
    valid: np.ndarray  # (M,) the validation ids (empty: no validation)
    context: int  # the id read before valid[0] (the last training id, or a start token)


def split_tokens(tokens: np.ndarray, valid_fraction: float) -> TokenSplit:
    """Split by position: the first ``int(N × (1 − valid_fraction))`` ids train, the
    contiguous tail validates (nanoGPT's split; ``valid_fraction=0``: no validation).

    Raises ``ValueError`` for a fraction outside [0, 1) and when a part would be too
    short (training needs 2 ids, validation 1).
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    n = len(tokens)
    cut = int(n * (1.0 - valid_fraction)) if valid_fraction else n
    if cut < 2 or (valid_fraction and cut >= n):
        raise ValueError(
            f"{n:,} token(s): too few to keep {valid_fraction:.0%} for validation (at least 1) "
            "and train on the rest (at least 2)"
        )
    return TokenSplit(tokens[:cut], tokens[cut:], int(tokens[cut - 1]))


def random_windows(
    n: int, length: int, batch_size: int, batches: int, generator: torch.Generator
) -> Iterator[Tensor]:
    """``batches`` batches of ``batch_size`` window starts, uniform in ``[0, n − length]``
    and drawn from ``generator`` (nanoGPT's ``get_batch``): ``(B,)`` int64 each."""
    if n < length:
        raise ValueError(f"a window of {length} does not fit in {n} tokens")
    for _ in range(batches):
        yield torch.randint(0, n - length + 1, (batch_size,), generator=generator)  # (B,)


def gather_windows(tokens: np.ndarray, starts: Tensor, length: int) -> Tensor:
    """The windows ``tokens[s : s + length]`` for each start: ``(B, length)`` int64.

    Only these ``B × length`` ids are read from a memory map, and the map's pages are then
    let go (:func:`release_pages`), so that random windows over a long run do not pile
    the file up in the process's resident set.
    """
    idx = starts.cpu().numpy()[:, None] + np.arange(length)  # (B, L)
    windows = torch.from_numpy(tokens[idx].astype(np.int64))  # (B, L)
    release_pages(tokens)
    return windows


def release_pages(array: np.ndarray) -> None:
    """Unmap the resident pages of a memory-mapped ``array`` (``madvise(MADV_DONTNEED)``;
    nothing for an array in memory or where the OS has no such call).

    A read through a map makes its pages part of the process's resident set, and recent
    kernels map a whole large folio of the page cache (up to 2 MiB) per fault: reading at
    random, batch after batch, would make the resident set grow towards the file's size
    (nanoGPT opens a fresh map every batch for the same reason). The data stays in the
    OS's page cache, so the next read costs no disk access.
    """
    handle = getattr(array, "_mmap", None)  # np.memmap (and its views) keep their mmap
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if handle is not None and advice is not None and not handle.closed:
        handle.madvise(advice)


def length_buckets(
    lengths: np.ndarray, batch_size: int, generator: torch.Generator, *, bucket: int = 50
) -> Iterator[np.ndarray]:
    """Length-bucketed batches of row indices, in NumPy: the batches of
    :func:`seqlab.data.batching.bucketed_batches` (the same draws from ``generator``, the
    same batches in the same order) without a Python object per row.

    Shuffle the rows (``torch.randperm``), sort each chunk of ``bucket × batch_size`` rows
    by length (a stable sort, as Python's ``sorted``), cut the chunks into batches, and
    yield the batches in a random order. ``lengths`` is ``(N,)``; each batch an int64 array
    of up to ``batch_size`` rows. Memory: a few arrays of N integers (36 MB for 4.5 M rows).
    """
    if batch_size < 1 or bucket < 1:
        raise ValueError(f"batch_size and bucket must be >= 1, got {batch_size}, {bucket}")
    n = len(lengths)
    order = torch.randperm(n, generator=generator).numpy()  # (N,)
    chunk = bucket * batch_size
    # sort by (chunk, length), stable: each chunk sorted by length, ties in shuffled order
    keys = np.asarray(lengths, dtype=np.int64)[order]  # (N,)
    rank = np.arange(n, dtype=np.int64) // chunk  # (N,) the chunk of each position
    order = order[np.lexsort((keys, rank))]  # (N,)
    # a chunk is a whole number of batches: the batches start every batch_size positions
    starts = np.arange(0, n, batch_size)  # (n_batches,)
    for b in torch.randperm(len(starts), generator=generator).tolist():
        yield order[starts[b] : starts[b] + batch_size]


class RowPermutation:
    """A pseudo-random permutation of ``0 .. n − 1`` computed on demand, in O(1) memory: a
    4-round Feistel network on ``2h``-bit numbers (``4^h ≥ n``) with keys drawn from
    ``generator``, and cycle walking (a value ≥ n is permuted again until it is < n; at
    most 4 tries on average, as ``4^h < 4n``). The i-th row of an epoch's shuffle is
    ``perm(i)``, without an array of ``n`` row numbers.

    Round: ``(L, R) -> (R, L xor F(R xor k))``, ``F`` the splitmix64 finaliser masked to
    ``h`` bits: a bijection for any ``F`` (Luby and Rackoff 1988).
    """

    _ROUNDS = 4

    def __init__(self, n: int, generator: torch.Generator) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n = n
        self.half = max(1, (max(n - 1, 1).bit_length() + 1) // 2)  # h: 4^h >= n
        self.mask = np.uint64((1 << self.half) - 1)
        keys = torch.randint(0, 2**62, (self._ROUNDS,), generator=generator)  # (4,)
        self.keys = keys.numpy().astype(np.uint64)

    @staticmethod
    def _mix(x: np.ndarray) -> np.ndarray:
        """splitmix64's finaliser (uint64 arithmetic wraps modulo 2^64)."""
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        h = np.uint64(self.half)
        left, right = x >> h, x & self.mask
        for k in self.keys:
            left, right = right, left ^ (self._mix(right ^ k) & self.mask)
        return (left << h) | right

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """The rows at ``positions`` (each in ``[0, n)``) of the shuffle: int64, same shape."""
        x = np.asarray(positions, dtype=np.uint64)
        with np.errstate(over="ignore"):
            x = self._feistel(x)
            out = x >= self.n  # cycle walking: re-permute values beyond n
            while out.any():
                x[out] = self._feistel(x[out])
                out = x >= self.n
        return x.astype(np.int64)


def chunked_length_buckets(
    lengths: np.ndarray, batch_size: int, generator: torch.Generator, *, bucket: int = 50
) -> Iterator[np.ndarray]:
    """Length-bucketed batches of row indices in memory independent of the number of rows N
    (for corpora of any size, e.g. a memory-mapped ``lengths``): :func:`length_buckets`'s
    scheme with the shuffle computed on demand (:class:`RowPermutation`) instead of held.

    Position ``i`` of the epoch holds row ``perm(i)``; each chunk of ``bucket × batch_size``
    positions is sorted by length (stable) and cut into batches, and the batches come in a
    random order (``torch.randperm`` of the N / batch_size batches: 8 bytes per batch, not
    per row). A chunk is computed when one of its batches is due (its ``bucket ×
    batch_size`` lengths read), so memory holds one chunk. Every row is in exactly one
    batch of an epoch; each batch is an int64 array of up to ``batch_size`` rows.
    """
    if batch_size < 1 or bucket < 1:
        raise ValueError(f"batch_size and bucket must be >= 1, got {batch_size}, {bucket}")
    n = len(lengths)
    perm = RowPermutation(n, generator)
    chunk = bucket * batch_size
    last: tuple[int, np.ndarray] | None = None  # the chunk computed last, and its rows
    order = torch.randperm(-(-n // batch_size), generator=generator).numpy()  # (n_batches,)
    for b in order:
        c, j = divmod(int(b), bucket)
        if last is None or last[0] != c:
            rows = perm(np.arange(c * chunk, min(n, (c + 1) * chunk), dtype=np.int64))  # (C,)
            keys = np.asarray(lengths[rows], dtype=np.int64)  # (C,)
            release_pages(lengths)
            last = (c, rows[np.argsort(keys, kind="stable")])
        yield last[1][j * batch_size : (j + 1) * batch_size]
