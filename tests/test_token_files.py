"""seqlab.data.tokens and iter_text: token files, their cache, streaming text, windows.

Every comparison is against an independent reference: read_text (the whole file at once),
Vocab.encode over seqlab.data.sequences (Python, token by token), NumPy slicing.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqlab._io import DataError
from seqlab.data import Vocab, read_text, sequences
from seqlab.data import tokens as T
from seqlab.data.text import iter_text
from seqlab.train import shard_batch

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# text with ASCII, accents, CJK, an emoji, tabs, CR/LF pairs and lone CRs, spaces
ALPHABET = st.sampled_from([*"ab c\n\r\té漢😀.,'-", "\r\n"])
TEXTS = st.lists(ALPHABET, min_size=1, max_size=200).map("".join)


def _vocab(text: str, level: str) -> Vocab:
    return Vocab.build(
        sequences(text, level, unit="text"), level=level, specials=("<UNK>", "<EOS>")
    )


def _reference_ids(text: str, vocab: Vocab) -> list[int]:
    """The ids the in-memory pipeline gives: Vocab.encode over sequences(unit="text")."""
    return vocab.encode(sequences(text, vocab.level, unit="text")[0])


# -- dtype -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "dtype"),
    [(1, np.uint8), (256, np.uint8), (257, np.uint16), (65_536, np.uint16), (65_537, np.uint32)],
)
def test_dtype_is_the_smallest_that_holds_the_vocabulary(size: int, dtype: type, tmp_path) -> None:
    assert T.token_dtype(size) == np.dtype(dtype)
    # the largest id survives a write and a memory-mapped read, at the boundary
    ids = np.array([0, size - 1, size // 2], dtype=np.int64)
    written = T.TokenFile.write(tmp_path / "t.bin", [ids], {"vocab_size": size})
    back = T.TokenFile.read(tmp_path / "t.bin")
    assert back.dtype == np.dtype(dtype) and written.meta == back.meta
    assert (tmp_path / "t.bin").stat().st_size == 3 * np.dtype(dtype).itemsize
    assert isinstance(back.array(), np.memmap)
    assert back.array().tolist() == ids.tolist()


def test_dtype_refuses_impossible_sizes() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        T.token_dtype(0)
    with pytest.raises(ValueError, match="uint32"):
        T.token_dtype(2**32 + 1)


def test_word_vocabulary_sizes_pick_the_dtype_of_the_file(tmp_path: Path, monkeypatch) -> None:
    """255 and 256 distinct words (+ <UNK>, <EOS>) land on each side of the uint8 limit."""
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    for words, dtype in ((254, np.uint8), (255, np.uint16)):
        path = tmp_path / f"w{words}.txt"
        path.write_text(" ".join(f"w{i}" for i in range(words)) + "\n")
        vocab, tokens = T.corpus_tokens(path, level="word")
        assert len(vocab) == words + 2 and tokens.dtype == np.dtype(dtype)
        assert tokens.array().tolist() == _reference_ids(read_text(path), vocab)


# -- streaming text ------------------------------------------------------------------------------
@given(text=TEXTS, chunk=st.integers(1, 40))
@SETTINGS
def test_iter_text_joins_to_read_text(tmp_path: Path, text: str, chunk: int) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    if not text.strip():
        with pytest.raises(DataError, match=r"whitespace|empty"):
            list(iter_text(path, chunk_bytes=chunk))
        return
    pieces = list(iter_text(path, chunk_bytes=chunk))
    assert "".join(pieces) == read_text(path)


@pytest.mark.parametrize(
    ("data", "message", "line"),
    [
        (b"fine line\n" * 30 + b"caf\xe9\n", "not valid UTF-8", 31),
        (b"ok\n" * 50 + b"x\x00y\n", "NUL byte", 51),
        (b"   \n\t\n", "only whitespace", None),
        (b"", "empty", None),
    ],
)
def test_iter_text_errors_match_read_text(tmp_path: Path, data: bytes, message: str, line) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(DataError) as whole:
        read_text(path)
    with pytest.raises(DataError, match=message) as streamed:
        list(iter_text(path, chunk_bytes=7))  # the bad byte is many pieces in
    assert str(streamed.value) == str(whole.value) and streamed.value.line == line


def test_iter_text_cuts_a_long_run_without_whitespace_between_characters(tmp_path) -> None:
    text = ("é" * 999 + "\r\n" + "x漢😀" * 200_000)[:700_001] + "\r"
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    pieces = list(iter_text(path, chunk_bytes=1001))  # runs of over 1 MiB get cut
    assert len(pieces) > 1 and "".join(pieces) == read_text(path)


def test_iter_text_reads_gzip_and_feeds_the_hasher(tmp_path: Path) -> None:
    import hashlib

    text = "one line of words, no newline at all " * 50
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress(text.encode()))
    hasher = hashlib.sha256()
    assert "".join(iter_text(path, chunk_bytes=64, hasher=hasher)) == text
    assert hasher.hexdigest() == hashlib.sha256(text.encode()).hexdigest()
    assert T.corpus_hash(path) == hasher.hexdigest()


# -- round trip --------------------------------------------------------------------------------
@given(text=TEXTS, chunk=st.integers(1, 40))
@SETTINGS
def test_round_trip_text_tokens_text(tmp_path: Path, text: str, chunk: int) -> None:
    """text -> token file (streamed in small pieces) -> text, at char level; at word level
    the ids equal Vocab.encode over sequences(unit="text")."""
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    if not text.strip():
        return
    normal = read_text(path)
    for level in ("char", "word"):
        vocab = _vocab(normal, level)
        if len(vocab) == 2:  # no word at all: nothing to encode
            continue
        tokens = T.encode_file(path, vocab, tmp_path / f"{level}.bin", chunk_bytes=chunk)
        ids = tokens.array().tolist()
        assert ids == _reference_ids(normal, vocab)
        assert T.encode_text(normal, vocab).tolist() == ids
        if level == "char":
            assert "".join(vocab.decode(ids)) == normal


def test_unknown_characters_become_unk_on_both_paths(tmp_path: Path) -> None:
    vocab = _vocab("abc", "char")
    text = "abzé😀c\n"
    ids = T.encode_text(text, vocab).tolist()
    assert ids == vocab.encode(list(text))
    assert ids.count(vocab.unk_id) == 4
    no_unk = Vocab(["a", "b"], level="char")
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        T.encode_text("abz", no_unk)


# -- the cache -----------------------------------------------------------------------------------
def _one_line_corpus(path: Path, seed: int = 0, n: int = 4000) -> Path:
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "sat", "on", "mat", "dog", "log"]
    path.write_text(" ".join(rng.choice(words, n)))
    return path


class _Counter:
    """Counts the calls of ``seqlab.data.tokens.encode_file`` (the only writer of .bin)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = T.encode_file

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(T, "encode_file", counted)


def test_cache_reuses_the_file_and_invalidates_on_corpus_or_tokenizer_change(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    encodes = _Counter(monkeypatch)
    corpus = _one_line_corpus(tmp_path / "c.txt")
    vocab, first = T.corpus_tokens(corpus, level="char")
    assert first.path.parent == tmp_path / "cache" / "tokens" and encodes.calls == 1
    before = first.path.stat()
    again_vocab, again = T.corpus_tokens(corpus, level="char")
    after = again.path.stat()
    assert encodes.calls == 1 and again.path == first.path and again_vocab == vocab
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    # the tokenizer changes: word level, or another vocabulary (min_count)
    _, words = T.corpus_tokens(corpus, level="word")
    small, fewer = T.corpus_tokens(corpus, level="char", max_vocab=5)
    assert encodes.calls == 3 and len({first.path, words.path, fewer.path}) == 3
    assert (
        len(small) == 5
        and fewer.array().tolist() == T.encode_text(read_text(corpus), small).tolist()
    )

    # the corpus changes (same name): encoded again, and the new ids are the new text's
    _one_line_corpus(corpus, seed=1, n=3000)
    new_vocab, changed = T.corpus_tokens(corpus, level="char")
    assert encodes.calls == 4 and changed.path != first.path
    assert changed.meta["corpus_hash"] == T.corpus_hash(corpus) != first.meta["corpus_hash"]
    assert changed.array().tolist() == _reference_ids(read_text(corpus), new_vocab)


def test_a_damaged_cached_file_is_encoded_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    encodes = _Counter(monkeypatch)
    corpus = _one_line_corpus(tmp_path / "c.txt")
    vocab, tokens = T.corpus_tokens(corpus, level="char")
    with open(tokens.path, "r+b") as handle:
        handle.truncate(10)  # cut short, as by a full disk
    with pytest.raises(DataError, match="header says"):
        T.TokenFile.read(tokens.path)
    _, again = T.corpus_tokens(corpus, level="char")
    assert encodes.calls == 2
    assert again.array().tolist() == _reference_ids(read_text(corpus), vocab)
    leftovers = [p.name for p in (tmp_path / "cache" / "tokens").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "a"))
    assert T.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("SEQLAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert T.cache_dir() == tmp_path / "xdg" / "seqlab"


def test_a_missing_corpus_creates_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="no such file"):
        T.corpus_tokens(tmp_path / "absent.txt", level="char")
    with pytest.raises(DataError, match="directory"):
        T.corpus_tokens(tmp_path, level="char")
    assert not (tmp_path / "cache").exists()


# -- splits and windows --------------------------------------------------------------------------
def test_split_by_position_is_nanogpts() -> None:
    tokens = np.arange(1000, dtype=np.uint16)
    split = T.split_tokens(tokens, 0.1)
    assert len(split.train) == int(1000 * 0.9) and split.train.tolist() == list(range(900))
    assert split.valid.tolist() == list(range(900, 1000)) and split.context == 899
    whole = T.split_tokens(tokens, 0.0)
    assert len(whole.train) == 1000 and len(whole.valid) == 0
    with pytest.raises(ValueError, match="too few to keep 50%"):
        T.split_tokens(tokens[:2], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        T.split_tokens(tokens, 1.0)


def test_windows_are_reproducible_and_read_exactly_their_tokens() -> None:
    tokens = np.arange(500, dtype=np.uint32) * 3
    draws = [
        list(T.random_windows(500, 11, 4, 3, torch.Generator().manual_seed(7))) for _ in range(2)
    ]
    assert all(torch.equal(a, b) for a, b in zip(*draws, strict=True))
    starts = torch.cat(draws[0])
    assert int(starts.min()) >= 0 and int(starts.max()) <= 500 - 11
    batch = T.gather_windows(tokens, draws[0][0], 11)
    assert batch.dtype == torch.int64 and batch.shape == (4, 11)
    for row, s in zip(batch.tolist(), draws[0][0].tolist(), strict=True):
        assert row == tokens[s : s + 11].tolist()


def test_each_rank_reads_only_its_rows_of_the_batch() -> None:
    """Under DDP the batch is the window starts: each rank keeps its part (shard_batch) and
    reads only those windows; together they are the one-process batch."""
    tokens = np.arange(10_000, dtype=np.uint16)
    starts = next(T.random_windows(10_000, 9, 6, 1, torch.Generator().manual_seed(0)))
    whole = T.gather_windows(tokens, starts, 9)
    read: list[set[int]] = []
    parts = []
    for rank in range(3):
        mine = shard_batch(starts, rank, 3)
        assert mine.shape == (2,)
        parts.append(T.gather_windows(tokens, mine, 9))
        read.append({int(s) + k for s in mine for k in range(9)})
    assert torch.equal(torch.cat(parts), whole)
    for rank in range(3):
        others = set().union(*(r for i, r in enumerate(read) if i != rank))
        assert read[rank] - others, "a rank read no token of its own"
        assert len(read[rank]) <= 2 * 9  # its 2 windows, never the corpus


def test_memory_mapped_reads_do_not_load_the_file(tmp_path: Path) -> None:
    big = T.TokenFile.write(tmp_path / "big.bin", [np.zeros(1 << 22, np.uint8)], {"vocab_size": 3})
    array = big.array()
    assert isinstance(array, np.memmap) and not array.flags.writeable
    assert os.path.getsize(big.path) == 1 << 22


def mapped_kib(path: Path) -> int:
    """The resident kB of this process's mappings of ``path`` (/proc/self/smaps)."""
    total, current = 0, ""
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
                current = fields[5] if len(fields) > 5 else ""
            elif fields[0] == "Rss:" and current == str(path):
                total += int(fields[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads Linux's /proc")
def test_random_windows_do_not_stay_resident(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    np.arange(1 << 23, dtype=np.uint32).astype(np.uint8).tofile(path)  # 8 MiB
    tokens = np.memmap(path, dtype=np.uint8, mode="r")
    starts = torch.randint(0, len(tokens) - 100, (64,), generator=torch.Generator().manual_seed(0))
    windows = T.gather_windows(tokens[: len(tokens) // 2 + 200], starts // 2, 100)  # a view
    want = ((starts // 2).numpy()[:, None] + np.arange(100)) % 256  # (64, 100)
    np.testing.assert_array_equal(windows.numpy(), want)
    # 64 windows read through the map leave at least 64 pages (256 kB) resident, up to the
    # file (large folios) without the release; measured 0 kB with it
    assert mapped_kib(path) < 64
    tokens[starts.numpy()].sum()  # the same reads without the release: resident
    assert mapped_kib(path) >= 64 * 4


def twice_at_once(
    build: Any, module: Any, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, int]:
    """Run ``build`` in two threads at once (torchrun ranks on a cold cache; each thread
    takes its own OS file lock) with ``module``'s functions ``names`` slowed down (so that
    the second thread arrives while the first is in them); returns their call counts."""
    import threading
    import time

    calls = dict.fromkeys(names, 0)
    for name in names:
        real = getattr(module, name)

        def slow(*args: Any, _name: str = name, _real: Any = real, **kwargs: Any) -> Any:
            calls[_name] += 1
            time.sleep(0.3)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, slow)
    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return calls


def test_builders_on_a_cold_cache_count_and_encode_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two builders at once: one counts and encodes, the other waits and reads its file."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 200)
    got: list[list[int]] = []

    def build() -> None:
        _, tokens = T.corpus_tokens(corpus, level="word", cache=tmp_path / "cache")
        got.append(tokens.array().tolist())

    calls = twice_at_once(build, T, ["count_tokens", "encode_file"], monkeypatch)
    assert calls == {"count_tokens": 1, "encode_file": 1}
    assert len(got) == 2 and got[0] == got[1] and len(got[0]) == 7 * 200
