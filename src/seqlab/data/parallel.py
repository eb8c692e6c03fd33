"""Parallel text: sentence pairs (source, target) from line-aligned files or a
tab-separated file, and :class:`ParallelCorpus`, the training / validation / test pairs a
sequence-to-sequence task learns from (the built-in date-normalisation set included).

Corpora of any size (WMT14 en-de's 4.5 M pairs): :class:`ParallelFiles` names line-aligned
files that are read only when encoded. :func:`count_parallel` streams them once (pass 1:
the token counts of each side, the held-out pairs), :func:`encode_parallel` once more
(pass 2) into two token files (:mod:`seqlab.data.tokens`: source ids, target ids, each in
the smallest unsigned dtype) and an index, ``(N, 4)`` int64 ``[src start, src length, tgt
start, tgt length]`` per pair, saved as ``.npy``, and the pairs' lengths, ``(N, 2)`` in the
smallest unsigned dtype that holds ``max_length``. :class:`ParallelTokens` opens them
memory-mapped and reads a batch's rows with ``pread``;
:func:`seqlab.data.tokens.chunked_length_buckets` draws length-bucketed batches from the
lengths in memory independent of N. A tab-separated file of pairs
(:meth:`ParallelFiles.from_pairs`) goes the same way. No pass holds more than a piece of
4 MiB of text, so memory stays flat in the corpus's size. Both passes are cached beside
the language model's token files (``$SEQLAB_CACHE/tokens``), keyed by both files' content
hashes, the tokenizer (level, lowercasing, ``max_length``, and a subword model's hash), the
hold-out rule and (pass 2) both vocabularies; processes that would build the same files
(torchrun ranks on a cold cache) take turns on an OS file lock, so they are built once.
:func:`train_subwords` learns one BPE model of both sides from the training
pairs (the held-out ones left out).

Every reader fails with a one-line :class:`seqlab.data.DataError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import zip_longest
from pathlib import Path
from typing import Any, BinaryIO, Self

import numpy as np

from seqlab._io import DataError, PathLike, atomic_write_json
from seqlab.data import dates as dates_data
from seqlab.data.batching import hold_out
from seqlab.data.subword import TextTokenizer
from seqlab.data.text import CHUNK_BYTES, iter_text, read_text, tokenize
from seqlab.data.text import os_errors as _os_errors
from seqlab.data.tokens import (
    FORMAT,
    VERSION,
    TokenFile,
    TokenWriter,
    _digest,
    _Lock,
    _remember_hash,
    _remembered_hash,
    _stat_key,
    cache_dir,
    token_dtype,
    vocab_hash,
)
from seqlab.data.vocab import Level, Vocab

__all__ = [
    "Pair",
    "PairTokenizer",
    "ParallelCorpus",
    "ParallelCounts",
    "ParallelFiles",
    "ParallelTokens",
    "count_parallel",
    "encode_parallel",
    "group_by_source",
    "iter_lines",
    "iter_pairs",
    "iter_parallel",
    "read_pairs",
    "read_parallel",
    "train_subwords",
    "training_pairs",
]

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
        if _is_pair(s, t, number, src_file, tgt_file):
            pairs.append((s, t))
    if not pairs:
        raise _no_pairs(src_file, tgt_file)
    return pairs


def _is_pair(s: str, t: str, number: int, src_file: Path, tgt_file: Path) -> bool:
    """Whether the stripped lines ``number`` are a pair (False: blank on both sides); a
    :class:`DataError` when one side only is blank."""
    if not s and not t:
        return False
    if not s or not t:
        empty, other = (src_file, tgt_file) if not s else (tgt_file, src_file)
        raise DataError(
            empty,
            f"line is empty but line {number} of {other} is not",
            hint="the files are misaligned; fix or remove that pair",
            line=number,
        )
    return True


def _no_pairs(src_file: Path, tgt_file: Path) -> DataError:
    return DataError(
        src_file,
        f"no sentence pairs in it and {tgt_file}",
        hint="give files with one sentence per line",
    )


def read_pairs(path: PathLike, *, reverse: bool = False) -> list[Pair]:
    """Sentence pairs from one tab-separated file: ``source<TAB>target[<TAB>anything]``.

    This is the Tatoeba / manythings.org ``fra.txt`` layout (a third column of attribution is
    ignored). ``reverse=True`` reads the second column as the source. Blank lines are skipped;
    a line without a tab or with an empty side is a one-line :class:`DataError` naming the
    file and line; so is a file without any pair. ``.gz`` files are read compressed.
    """
    file = Path(path)
    pairs = [(s, t) for _, s, t in _tsv_pairs(file, _read_lines(file), reverse)]
    if not pairs:
        raise DataError(file, "no sentence pairs in it", hint="give 'source<TAB>target' lines")
    return pairs


def iter_pairs(
    path: PathLike, *, reverse: bool = False, chunk_bytes: int = CHUNK_BYTES, hasher: Any = None
) -> Iterator[tuple[int, str, str]]:
    """``(line number, source, target)`` of a tab-separated file, streamed: the pairs of
    :func:`read_pairs` (the same one-line :class:`DataError` errors), with memory flat in the
    file's size. ``hasher`` (:mod:`hashlib`) is fed the file's bytes."""
    file = Path(path)
    found = False
    lines = iter_lines(file, chunk_bytes=chunk_bytes, hasher=hasher)
    for number, s, t in _tsv_pairs(file, lines, reverse):
        found = True
        yield number, s, t
    if not found:
        raise DataError(file, "no sentence pairs in it", hint="give 'source<TAB>target' lines")


def _tsv_pairs(file: Path, lines: Iterable[str], reverse: bool) -> Iterator[tuple[int, str, str]]:
    """The numbered pairs of tab-separated ``lines`` of ``file`` (blank lines skipped)."""
    for number, line in enumerate(lines, 1):
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
        yield (number, t, s) if reverse else (number, s, t)


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


# -- corpora of any size --------------------------------------------------------------------

_HOLD_MAX = 2000  # hold_out's max_items: at most this many held-out pairs
_HOLD_MIN = 50  # hold_out's min_total: nothing is held out from fewer pairs
_FLUSH_TOKENS = 1 << 20  # ids buffered before they are written (or counted)


def iter_lines(
    path: PathLike, *, chunk_bytes: int = CHUNK_BYTES, hasher: Any = None
) -> Iterator[str]:
    """The lines of a text file (``.gz`` ok) without their ``\n``, read piece by piece
    (:func:`~seqlab.data.text.iter_text`): the lines ``read_text(path).split("\n")`` gives,
    less the empty one after a final newline. ``hasher`` (:mod:`hashlib`) is fed the bytes.
    """
    carry = ""
    for piece in iter_text(path, chunk_bytes=chunk_bytes, hasher=hasher):
        lines = (carry + piece).split("\n") if carry else piece.split("\n")
        carry = lines.pop()
        yield from lines
    if carry:
        yield carry


def iter_parallel(
    src_path: PathLike,
    tgt_path: PathLike,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    hashers: tuple[Any, Any] = (None, None),
) -> Iterator[tuple[int, str, str]]:
    """``(line number, source, target)`` of two line-aligned files, streamed: the pairs of
    :func:`read_parallel` (stripped, lines blank on both sides skipped, the same one-line
    :class:`DataError`s; an empty file is refused as :func:`~seqlab.data.text.iter_text`
    refuses it), with memory flat in the files' size. ``hashers`` are fed each file's bytes.
    """
    src_file, tgt_file = Path(src_path), Path(tgt_path)
    src_lines = iter_lines(src_file, chunk_bytes=chunk_bytes, hasher=hashers[0])
    tgt_lines = iter_lines(tgt_file, chunk_bytes=chunk_bytes, hasher=hashers[1])
    found = False
    for number, (s, t) in enumerate(zip_longest(src_lines, tgt_lines), 1):
        if s is None or t is None:  # one file ended: count the rest of the other
            n_src = number - 1 + (s is not None) + sum(1 for _ in src_lines)
            n_tgt = number - 1 + (t is not None) + sum(1 for _ in tgt_lines)
            raise DataError(
                src_file,
                f"{n_src} lines, but {tgt_file} has {n_tgt}",
                hint="parallel files need one translation per line, in the same order",
            )
        s, t = s.strip(), t.strip()
        if _is_pair(s, t, number, src_file, tgt_file):
            found = True
            yield number, s, t
    if not found:
        raise _no_pairs(src_file, tgt_file)


@dataclass(frozen=True, kw_only=True)
class PairTokenizer:
    """How both sides of a pair become tokens, and which training pairs are kept."""

    level: Level = "word"  # "char" or "word" tokens, on both sides
    lowercase: bool = False  # lower-case both sides before tokenising
    max_length: int | None = None  # drop training pairs with a side longer (tokens); None: keep
    subwords: TextTokenizer | None = None  # a BPE model's pieces instead of `level`'s tokens

    def tokens(self, text: str) -> list[str]:
        """The tokens of one side (stripped, lower-cased if asked)."""
        text = text.strip().lower() if self.lowercase else text.strip()
        return tokenize(text, self.level) if self.subwords is None else self.subwords(text)

    def keeps(self, src: Sequence[str], tgt: Sequence[str]) -> bool:
        """Whether a training pair of these tokens is kept: both sides non-empty and within
        ``max_length``."""
        if not src or not tgt:
            return False
        return self.max_length is None or max(len(src), len(tgt)) <= self.max_length

    def describe(self) -> str:
        parts: list[Any] = [self.level, self.lowercase, self.max_length]
        if self.subwords is not None:  # another BPE model: other tokens, another cache key
            parts.append(self.subwords.key())
        return json.dumps(parts)


def train_subwords(
    pairs: Iterable[Pair], *, vocab_size: int, lowercase: bool = False
) -> TextTokenizer:
    """One BPE model of both sides of ``pairs`` (joint subwords, as for en-de in Sennrich
    et al. 2016), with byte fallback: no text has an unknown token."""
    texts = (side for pair in pairs for side in pair)
    return TextTokenizer.train(
        texts, "subword", lowercase=lowercase, vocab_size=vocab_size, byte_fallback=True
    )


def training_pairs(files: ParallelFiles) -> Iterator[Pair]:
    """The pairs of ``files`` that train (the held-out ones left out, as
    :func:`count_parallel` holds them out), streamed."""
    k = files.held_every
    for read, (_, s, t) in enumerate(files.stream(), 1):
        if not (k > 0 and read % k == 0 and read // k <= _HOLD_MAX):
            yield s, t


@dataclass(frozen=True, kw_only=True)
class ParallelFiles:
    """A parallel corpus in two line-aligned files, read only when it is encoded, so it may
    be of any size (:func:`count_parallel`, :func:`encode_parallel`).

    Without validation files, ``valid_fraction`` of the pairs (every k-th, k = round(1 /
    fraction), at most 2,000; none from fewer than 50 pairs) are held out, as
    :meth:`ParallelCorpus.from_files` holds them out.
    """

    src: Path  # training sources, one sentence a line (``.gz`` ok)
    tgt: Path  # training targets, line-aligned with ``src``
    valid_src: Path | None = None  # validation sources (None: hold pairs out of the training)
    valid_tgt: Path | None = None  # validation targets, line-aligned with ``valid_src``
    valid_fraction: float = 0.02  # without validation files: the share held out
    tsv: bool = False  # src is one tab-separated file of pairs (tgt and valid_tgt: the same)
    reverse: bool = False  # tsv: the second column is the source

    @classmethod
    def from_pairs(cls, path: PathLike, valid: PathLike | None = None, **options: Any) -> Self:
        """A tab-separated file of pairs (:func:`read_pairs`' layout, Tatoeba's), streamed
        as line-aligned files are; ``valid``: validation pairs in the same layout;
        ``options``: ``reverse`` (the second column is the source), ``valid_fraction``."""
        file = Path(path)
        return cls(src=file, tgt=file, valid_src=valid, valid_tgt=valid, tsv=True, **options)

    def stream(
        self, *, chunk_bytes: int = CHUNK_BYTES, hashers: tuple[Any, Any] = (None, None)
    ) -> Iterator[tuple[int, str, str]]:
        """``(line number, source, target)`` of the training pairs, streamed
        (:func:`iter_parallel` or :func:`iter_pairs`); ``hashers`` are fed each file's bytes
        (a tab-separated file's: the first only)."""
        if self.tsv:
            return iter_pairs(
                self.src, reverse=self.reverse, chunk_bytes=chunk_bytes, hasher=hashers[0]
            )
        return iter_parallel(self.src, self.tgt, chunk_bytes=chunk_bytes, hashers=hashers)

    def valid_pairs(self) -> list[Pair] | None:
        """The validation files' pairs (None without validation files)."""
        if self.valid_src is None or self.valid_tgt is None:
            return None
        if self.tsv:
            return read_pairs(self.valid_src, reverse=self.reverse)
        return read_parallel(self.valid_src, self.valid_tgt)

    def __post_init__(self) -> None:
        if (self.valid_src is None) != (self.valid_tgt is None):
            raise ValueError("give both --valid-src and --valid-tgt, or neither")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        for name in ("src", "tgt", "valid_src", "valid_tgt"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))

    @property
    def name(self) -> str:
        if self.tsv:
            return f"{self.src} (columns 2 -> 1)" if self.reverse else str(self.src)
        return f"{self.src} -> {self.tgt}"

    @property
    def held_every(self) -> int:
        """k of the hold-out (pairs k-1, 2k-1 ... validate); 0 when nothing is held out."""
        if self.valid_src is not None or self.valid_fraction <= 0:
            return 0
        return max(2, round(1 / self.valid_fraction))

    def read(self) -> ParallelCorpus:
        """The corpus in memory (:meth:`ParallelCorpus.from_files` or ``from_pairs``)."""
        if self.tsv:
            return ParallelCorpus.from_pairs(
                self.src,
                valid=self.valid_src,
                reverse=self.reverse,
                valid_fraction=self.valid_fraction,
            )
        return ParallelCorpus.from_files(
            self.src,
            self.tgt,
            valid_src=self.valid_src,
            valid_tgt=self.valid_tgt,
            valid_fraction=self.valid_fraction,
        )


@dataclass(frozen=True)
class ParallelCounts:
    """Pass 1 over a :class:`ParallelFiles`: what building the vocabularies needs."""

    src_counts: Counter[str]  # token counts of the kept training pairs' sources
    tgt_counts: Counter[str]  # ... and targets
    pairs: int  # kept training pairs (both sides non-empty and within max_length)
    longest: int  # the longest kept target, in tokens
    read: int  # pairs read (lines blank on both sides skipped)
    held_every: int  # k of the hold-out that applied (0: none)
    valid: list[Pair]  # the held-out pairs, or the validation files' pairs
    key: str  # the cache key: both files' hashes, the tokenizer, the hold-out rule

    def is_held(self, index: int) -> bool:
        """Whether pair ``index`` (0-based, in file order) is held out for validation."""
        k = self.held_every
        return k > 0 and (index + 1) % k == 0 and (index + 1) // k <= _HOLD_MAX


def _folder(cache: PathLike | None) -> Path:
    folder = Path(cache) if cache is not None else cache_dir() / "tokens"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def count_parallel(
    files: ParallelFiles,
    tokenizer: PairTokenizer,
    *,
    cache: PathLike | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> ParallelCounts:
    """Pass 1: the token counts of each side over the kept training pairs, the longest
    target and the held-out pairs, streamed (memory flat in the files' size but for the
    counts and the at most 2,000 held-out pairs), and cached in ``cache`` (default
    ``$SEQLAB_CACHE/tokens``) under the files' content hashes and the tokenizer.
    """
    src_key, tgt_key = _stat_key(files.src), _stat_key(files.tgt)  # missing: a DataError
    folder = _folder(cache)
    valid = files.valid_pairs()
    saved = _saved_counts(files, tokenizer, folder)
    if saved is None:
        # one process counts, the others (torchrun ranks on a cold cache) wait, then read
        with _Lock(folder, _digest("count", src_key["path"], tgt_key["path"])):
            saved = _saved_counts(files, tokenizer, folder)
            if saved is None:
                saved = _count_and_save(files, tokenizer, folder, chunk_bytes)
    return saved if valid is None else replace(saved, valid=valid)


def _saved_counts(
    files: ParallelFiles, tokenizer: PairTokenizer, folder: Path
) -> ParallelCounts | None:
    """Pass 1 from the cache, when both files' hashes are remembered and it is there."""
    hashes = (_remembered_hash(files.src, folder), _remembered_hash(files.tgt, folder))
    if hashes[0] is None or hashes[1] is None:
        return None
    return _read_counts(folder, _counts_key(files, tokenizer, hashes))  # type: ignore[arg-type]


def _count_and_save(
    files: ParallelFiles, tokenizer: PairTokenizer, folder: Path, chunk_bytes: int
) -> ParallelCounts:
    """Pass 1 counted, the files' hashes remembered and the counts cached."""
    hashers = (hashlib.sha256(), hashlib.sha256())
    counts = _count(files, tokenizer, hashers, chunk_bytes)
    digests = (hashers[0].hexdigest(), hashers[int(not files.tsv)].hexdigest())
    _remember_hash(files.src, folder, digests[0])
    _remember_hash(files.tgt, folder, digests[1])
    key = _counts_key(files, tokenizer, digests)
    counts = replace(counts, key=key)
    _write_counts(folder, counts)
    return counts


def _counts_key(files: ParallelFiles, tokenizer: PairTokenizer, hashes: tuple[str, str]) -> str:
    layout = [f"tsv reverse={files.reverse}"] if files.tsv else []  # lines: the older keys
    return _digest(FORMAT, str(VERSION), "parallel", *hashes, tokenizer.describe(),
                   str(files.held_every), *layout)  # fmt: skip


class _SideCounts:
    """Token counts of one side, updated a buffer at a time (``Counter.update`` in C)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.buffer: list[str] = []

    def add(self, tokens: list[str]) -> None:
        self.buffer += tokens
        if len(self.buffer) >= _FLUSH_TOKENS:
            self.flush()

    def flush(self) -> Counter[str]:
        self.counts.update(self.buffer)
        self.buffer.clear()
        return self.counts


def _count(
    files: ParallelFiles, tokenizer: PairTokenizer, hashers: tuple[Any, Any], chunk_bytes: int
) -> ParallelCounts:
    """One streamed pass: counts of the training pairs and of the held-out candidates; the
    candidates train after all when fewer than 50 pairs were read (``hold_out``'s rule)."""
    k = files.held_every
    main = (_SideCounts(), _SideCounts())
    held = (_SideCounts(), _SideCounts())
    kept = [0, 0]  # kept pairs: training, held-out candidates
    longest = [0, 0]
    held_pairs: list[Pair] = []
    read = 0
    pairs = files.stream(chunk_bytes=chunk_bytes, hashers=hashers)
    for _, s, t in pairs:
        read += 1
        is_held = k > 0 and read % k == 0 and read // k <= _HOLD_MAX
        if is_held:
            held_pairs.append((s, t))
        src, tgt = tokenizer.tokens(s), tokenizer.tokens(t)
        if not tokenizer.keeps(src, tgt):
            continue
        side = held if is_held else main
        side[0].add(src)
        side[1].add(tgt)
        kept[is_held] += 1
        longest[is_held] = max(longest[is_held], len(tgt))
    src_counts, tgt_counts = main[0].flush(), main[1].flush()
    if k and read < _HOLD_MIN:  # too few pairs to hold any out: they all train
        src_counts.update(held[0].flush())
        tgt_counts.update(held[1].flush())
        return ParallelCounts(src_counts, tgt_counts, sum(kept), max(longest), read, 0, [], key="")
    return ParallelCounts(src_counts, tgt_counts, kept[0], longest[0], read, k, held_pairs, "")


def _counts_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.parallel-counts.json"


def _write_counts(folder: Path, counts: ParallelCounts) -> None:
    record = {
        "format": FORMAT,
        "kind": "parallel-counts",
        "key": counts.key,
        "pairs": counts.pairs,
        "longest": counts.longest,
        "read": counts.read,
        "held_every": counts.held_every,
        "valid": [list(p) for p in counts.valid],
        "src_counts": dict(counts.src_counts),
        "tgt_counts": dict(counts.tgt_counts),
    }
    atomic_write_json(_counts_path(folder, counts.key), record, indent=None)


def _read_counts(folder: Path, key: str) -> ParallelCounts | None:
    """The cached pass 1 under ``key``, or None (absent or damaged: count again)."""
    try:
        saved = json.loads(_counts_path(folder, key).read_text(encoding="utf-8"))
        if saved.get("format") != FORMAT or saved.get("key") != key:
            return None
        return ParallelCounts(
            Counter({str(w): int(n) for w, n in saved["src_counts"].items()}),
            Counter({str(w): int(n) for w, n in saved["tgt_counts"].items()}),
            int(saved["pairs"]),
            int(saved["longest"]),
            int(saved["read"]),
            int(saved["held_every"]),
            [(str(s), str(t)) for s, t in saved["valid"]],
            key,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# -- pass 2: the token files and the index ---------------------------------------------------

IdPair = tuple[list[int], list[int]]


class ParallelTokens:
    """An encoded parallel corpus, memory-mapped: source ids, target ids and the index.

    ``index`` is ``(N, 4)`` int64: ``[src start, src length, tgt start, tgt length]`` of
    each training pair, in file order. Reading a batch reads only its rows' ids.
    """

    def __init__(
        self,
        src: TokenFile,
        tgt: TokenFile,
        index_path: Path,
        *,
        valid: Sequence[Pair] = (),
        longest: int = 0,
    ) -> None:
        self.src_file, self.tgt_file, self.index_path = src, tgt, Path(index_path)
        self.lengths_path = _lengths_path(self.index_path)
        self.src = src.array()  # (Ns,) source ids of every pair, one after the other
        self.tgt = tgt.array()  # (Nt,) target ids
        try:
            self.index = np.load(self.index_path, mmap_mode="r")  # (N, 4) int64
        except (OSError, ValueError) as err:
            raise DataError(
                self.index_path, f"not a pair index ({err})", hint="encode again"
            ) from None
        ok = self.index.ndim == 2 and self.index.shape[1] == 4 and self.index.dtype == np.int64
        if ok and len(self.index):
            last = self.index[-1]
            ok = int(last[0] + last[1]) == len(src) and int(last[2] + last[3]) == len(tgt)
        if not ok:
            raise DataError(self.index_path, "does not index its token files", hint="encode again")
        try:
            self._lengths = np.load(self.lengths_path, mmap_mode="r")  # (N, 2) uint
        except (OSError, ValueError) as err:
            raise DataError(
                self.lengths_path, f"not a pair-lengths file ({err})", hint="encode again"
            ) from None
        if self._lengths.shape != (len(self), 2) or self._lengths.dtype.kind != "u":
            raise DataError(self.lengths_path, "does not match its index", hint="encode again")
        self.valid = list(valid)  # validation pairs (text), not encoded here
        self.longest = longest  # the longest training target (tokens)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def lengths(self) -> np.ndarray:
        """``(N,)`` source lengths (what batches are bucketed by), memory-mapped from the
        lengths file: an unsigned dtype that holds ``max_length`` (uint8 for up to 255
        tokens), so bucketing touches 1-4 bytes per pair, not the index's 32."""
        return self._lengths[:, 0]

    def pairs(self, rows: np.ndarray | Sequence[int]) -> list[IdPair]:
        """The (source ids, target ids) of ``rows``, read from the files.

        Each row's index entry and ids are read with ``os.pread`` rather than through the
        memory maps: a page fault maps a whole large folio of the page cache (up to 2 MiB
        on recent kernels), so reading rows at random through a map would grow the
        process's resident set by megabytes a row until it held the files (nanoGPT opens a
        fresh map every batch for the same reason). ``pread`` copies just the bytes.
        """
        wanted = np.asarray(rows, dtype=np.int64).reshape(-1).tolist()
        with _Files(self.index_path, self.src_file.path, self.tgt_file.path) as (ix, fs, ft):
            start = int(self.index.offset)  # the .npy header's size
            raw = b"".join(_pread(ix, 32, start + 32 * r, self.index_path) for r in wanted)
            picked = np.frombuffer(raw, dtype="<i8").reshape(-1, 4).tolist()  # (B, 4)
            src = _IdReader(fs, self.src_file)
            tgt = _IdReader(ft, self.tgt_file)
            return [(src.read(a, m), tgt.read(b, n)) for a, m, b, n in picked]


class _Files:
    """Files opened read-only for a block (``os.open``), closed at its end."""

    def __init__(self, *paths: Path) -> None:
        self.paths = paths
        self.fds: list[int] = []

    def __enter__(self) -> tuple[int, ...]:
        for path in self.paths:
            with _os_errors(path):
                self.fds.append(os.open(path, os.O_RDONLY))
        return tuple(self.fds)

    def __exit__(self, *_: object) -> None:
        for fd in self.fds:
            os.close(fd)


def _pread(fd: int, size: int, offset: int, path: Path) -> bytes:
    """``size`` bytes at ``offset``; a :class:`DataError` naming ``path`` when it is shorter."""
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise DataError(path, "is shorter than its index says", hint="encode again")
    return data


class _IdReader:
    """Reads runs of ids from a token file's descriptor."""

    def __init__(self, fd: int, file: TokenFile) -> None:
        self.fd, self.path = fd, file.path
        self.dtype = file.dtype.newbyteorder("<")

    def read(self, start: int, length: int) -> list[int]:
        size = self.dtype.itemsize
        raw = _pread(self.fd, length * size, start * size, self.path)
        return np.frombuffer(raw, dtype=self.dtype).tolist()


def _pair_paths(folder: Path, key: str) -> tuple[Path, Path, Path]:
    return folder / f"{key}.src.bin", folder / f"{key}.tgt.bin", folder / f"{key}.index.npy"


def _lengths_path(index_path: Path) -> Path:
    """The ``(N, 2)`` [source length, target length] file beside an index."""
    return index_path.with_name(index_path.name.replace(".index.npy", ".lengths.npy"))


def encode_parallel(
    files: ParallelFiles,
    counts: ParallelCounts,
    tokenizer: PairTokenizer,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    *,
    cache: PathLike | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> ParallelTokens:
    """Pass 2: the kept training pairs of ``files`` (``counts`` from :func:`count_parallel`
    with the same ``tokenizer``) encoded with the vocabularies into two token files and the
    index, streamed; or read from the cache when they are there (keyed by ``counts.key``
    and both vocabularies' hashes). Unknown tokens become ``<UNK>``."""
    folder = _folder(cache)
    key = _digest(counts.key, vocab_hash(src_vocab), vocab_hash(tgt_vocab))
    saved = _saved_tokens(folder, key, counts)
    if saved is not None:
        return saved
    with _Lock(folder, key):  # one process encodes; the others wait, then read its files
        saved = _saved_tokens(folder, key, counts)
        if saved is not None:
            return saved
        tmp, tmp_lengths = _encode_pairs(
            files, counts, tokenizer, (src_vocab, tgt_vocab), folder, key, chunk_bytes
        )
        index_path = _pair_paths(folder, key)[2]
        os.replace(tmp_lengths, _lengths_path(index_path))
        os.replace(tmp, index_path)  # last: an index means the other files are complete
    tokens = _saved_tokens(folder, key, counts)
    if tokens is None:
        raise DataError(index_path, "was not written whole", hint="encode again")
    return tokens


def _saved_tokens(folder: Path, key: str, counts: ParallelCounts) -> ParallelTokens | None:
    """The encoded corpus from the cache, or None (absent or damaged: encode again)."""
    src_path, tgt_path, index_path = _pair_paths(folder, key)
    if not all(p.is_file() for p in (src_path, tgt_path, index_path, _lengths_path(index_path))):
        return None
    try:
        return ParallelTokens(
            TokenFile.read(src_path),
            TokenFile.read(tgt_path),
            index_path,
            valid=counts.valid,
            longest=counts.longest,
        )
    except DataError:
        return None


def _npy_stream(folder: Path, name: str, dtype: np.dtype, shape: tuple[int, int]) -> Path:
    """A temporary ``.npy`` file in ``folder`` holding only the header of an array of
    ``shape`` and ``dtype``; its rows are appended after it (not a memory map: written
    pages would stay resident)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".npy", dir=folder)
    with os.fdopen(fd, "wb") as out:
        header = {"descr": dtype.str, "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(out, header)
    os.chmod(tmp_name, 0o644)  # as the token files (mkstemp makes it private)
    return Path(tmp_name)


def _encode_pairs(
    files: ParallelFiles,
    counts: ParallelCounts,
    tokenizer: PairTokenizer,
    vocabs: tuple[Vocab, Vocab],
    folder: Path,
    key: str,
    chunk_bytes: int,
) -> tuple[Path, Path]:
    """Write both token files; returns the index and the lengths file, written to
    temporary files."""
    src_path, tgt_path, index_path = _pair_paths(folder, key)
    metas = [
        {
            "vocab_size": len(v),
            "vocab_hash": vocab_hash(v),
            "tokenizer": {"level": v.level, "unit": "line", "side": side}
            | ({"subword": tokenizer.subwords.key()} if tokenizer.subwords else {}),
            "source": str(path),
            "pairs_key": key,
        }
        for v, side, path in zip(vocabs, ("source", "target"), (files.src, files.tgt), strict=True)
    ]
    # lengths in the smallest type that holds max_length (the longest side kept)
    longest = tokenizer.max_length if tokenizer.max_length is not None else 2**32 - 1
    length_dtype = token_dtype(longest + 1).newbyteorder("<")
    shape = (counts.pairs, 4)
    tmps = [_npy_stream(folder, index_path.name, np.dtype("<i8"), shape)]
    tmps.append(_npy_stream(folder, index_path.name, length_dtype, (counts.pairs, 2)))
    try:
        with tmps[0].open("ab") as index, tmps[1].open("ab") as lengths:
            with TokenWriter(src_path, metas[0]) as ws, TokenWriter(tgt_path, metas[1]) as wt:
                writer = _PairWriter(ws, wt, (index, lengths), counts.pairs, length_dtype)
                for i, (_, s, t) in enumerate(files.stream(chunk_bytes=chunk_bytes)):
                    if counts.is_held(i):
                        continue
                    src, tgt = tokenizer.tokens(s), tokenizer.tokens(t)
                    if tokenizer.keeps(src, tgt):
                        writer.add(vocabs[0].encode(src), vocabs[1].encode(tgt), files)
                writer.flush()
                if writer.rows != counts.pairs:
                    raise DataError(
                        files.src,
                        f"changed while it was read ({writer.rows:,} pairs, "
                        f"{counts.pairs:,} before)",
                        hint="train again once the files stay put",
                    )
            for out in (index, lengths):
                out.flush()
                os.fsync(out.fileno())
    except BaseException:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise
    return tmps[0], tmps[1]


class _PairWriter:
    """Buffers encoded pairs, then appends them to both token files and the index."""

    def __init__(
        self,
        src: TokenWriter,
        tgt: TokenWriter,
        outs: tuple[BinaryIO, BinaryIO],
        pairs: int,
        length_dtype: np.dtype,
    ) -> None:
        self.writers = (src, tgt)
        self.index = outs[0]  # the .npy file, after its header: (N, 4) int64 rows appended
        self.lengths_out = outs[1]  # the lengths .npy: (N, 2) rows appended
        self.length_dtype = length_dtype  # the lengths file's dtype
        self.pairs = pairs  # N, the rows the header announces
        self.rows = 0  # rows written to the index
        self.ids: tuple[list[int], list[int]] = ([], [])
        self.lengths: list[int] = []  # src length, tgt length, src length ...

    def add(self, src: list[int], tgt: list[int], files: ParallelFiles) -> None:
        if self.rows + len(self.lengths) // 2 >= self.pairs:
            raise DataError(files.src, "changed while it was read", hint="train again")
        self.ids[0].extend(src)
        self.ids[1].extend(tgt)
        self.lengths += (len(src), len(tgt))
        if len(self.ids[0]) >= _FLUSH_TOKENS:
            self.flush()

    def flush(self) -> None:
        lengths = np.array(self.lengths, dtype=np.int64).reshape(-1, 2)  # (m, 2)
        m = len(lengths)
        block = np.empty((m, 4), dtype=np.int64)  # (m, 4)
        for side in (0, 1):
            n = lengths[:, side]  # (m,)
            # start of each pair's ids: what the file holds before it
            block[:, 2 * side] = self.writers[side].tokens + np.cumsum(n) - n
            block[:, 2 * side + 1] = n
            self.writers[side].append(self.ids[side])
            self.ids[side].clear()
        block.astype("<i8").tofile(self.index)
        lengths.astype(self.length_dtype).tofile(self.lengths_out)
        self.rows += m
        self.lengths.clear()
