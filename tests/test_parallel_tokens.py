"""Parallel corpora of any size (issue 19): two token files and an index, streamed, cached,
bucketed with NumPy, and the translator training from them as from pairs in memory.

Every corpus is generated here (no test reads ../shared); each test points SEQLAB_CACHE at
its own folder. The bounded-memory check of a WMT14-size corpus (4.5 M pairs) is in
``benchmarks/scale.py``; here the passes are shown to stream (traced peak allocations flat
from N to 4N pairs) and the batches to come from the memory maps.
"""

from __future__ import annotations

import gzip
import json
import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from seqlab._io import DataError
from seqlab.cli import main
from seqlab.data import parallel as P
from seqlab.data.batching import bucketed_batches
from seqlab.data.parallel import (
    PairTokenizer,
    ParallelCorpus,
    ParallelFiles,
    ParallelTokens,
    count_parallel,
    encode_parallel,
    iter_parallel,
    read_parallel,
)
from seqlab.data.tokens import RowPermutation, chunked_length_buckets, length_buckets
from seqlab.models.seq2seq import Seq2SeqConfig
from seqlab.tasks.translator import Translator, TranslatorConfig
from seqlab.train.distributed import shard_batch
from tests.test_token_files import twice_at_once

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = Seq2SeqConfig(
    src_vocab_size=2, tgt_vocab_size=2, embedding_dim=8, hidden_size=16, attention_dim=8
)
WORDS = ["a", "cat", "dog", "sees", "the", "bird", "runs", "fast", "slowly", "red"]
WORTER = ["eine", "katze", "hund", "sieht", "die", "vogel", "rennt", "schnell", "rot", "."]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write(path: Path, lines: list[str], *, gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def corpus(tmp_path: Path, n: int, *, seed: int = 0, gz: bool = False) -> tuple[Path, Path]:
    """n generated pairs of 1-12 words (some long, a blank line on both sides, CRLF ends)."""
    rng = random.Random(seed)
    src, tgt = [], []
    for i in range(n):
        if i % 97 == 5:
            src.append("  ")
            tgt.append("")
            continue
        k = rng.randint(1, 12)
        idx = [rng.randrange(len(WORDS)) for _ in range(k)]
        src.append(" ".join(WORDS[j] for j in idx) + ("\r" if i % 7 == 0 else ""))
        tgt.append(" ".join(WORTER[j] for j in reversed(idx)) + " " + WORTER[idx[0]])
    suffix = ".gz" if gz else ""
    return write(tmp_path / f"c.en{suffix}", src, gz=gz), write(
        tmp_path / f"c.de{suffix}", tgt, gz=gz
    )


# -- streaming readers ---------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [3, 64, 1 << 22])
def test_iter_parallel_equals_read_parallel(tmp_path: Path, chunk: int) -> None:
    src, tgt = corpus(tmp_path, 300, gz=True)
    streamed = [(s, t) for _, s, t in iter_parallel(src, tgt, chunk_bytes=chunk)]
    assert streamed == read_parallel(src, tgt)
    assert len(streamed) == 300 - 4  # the lines blank on both sides are skipped


def test_iter_parallel_errors_name_the_file_and_line(tmp_path: Path) -> None:
    a = write(tmp_path / "a.en", ["x", "y", "z"])
    b = write(tmp_path / "b.fr", ["x", "y"])
    with pytest.raises(DataError, match=r"a\.en: 3 lines, but .*b\.fr has 2"):
        list(iter_parallel(a, b, chunk_bytes=2))
    with pytest.raises(DataError, match=r"b\.fr: 2 lines, but .*a\.en has 3"):
        list(iter_parallel(b, a))
    c = write(tmp_path / "c.fr", ["x", " ", "z"])
    with pytest.raises(DataError, match=r"c\.fr:2: line is empty but line 2 of .*a\.en"):
        list(iter_parallel(a, c))


# -- bucketing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "batch", "bucket"), [(0, 4, 2), (1, 4, 50), (1000, 7, 3), (333, 64, 50)]
)
def test_length_buckets_are_the_batches_of_bucketed_batches(
    n: int, batch: int, bucket: int
) -> None:
    lengths = np.random.default_rng(n).integers(1, 30, n)
    ref = bucketed_batches(lengths.tolist(), batch, torch.Generator().manual_seed(3), bucket=bucket)
    got = length_buckets(lengths, batch, torch.Generator().manual_seed(3), bucket=bucket)
    assert [b.tolist() for b in got] == list(ref)


# -- the token files -------------------------------------------------------------------------


def build_both(tmp_path: Path, files: ParallelFiles, config: TranslatorConfig):
    """The translator built from the files (streamed) and from the same pairs in memory."""
    streamed, tokens = Translator.build(Translator.prepare_data(files), config)
    memory, ids = Translator.build(files.read(), config)
    return (streamed, tokens), (memory, ids)


@pytest.mark.parametrize("lowercase", [False, True])
def test_token_files_hold_the_ids_of_the_in_memory_build(tmp_path: Path, lowercase: bool) -> None:
    src, tgt = corpus(tmp_path, 400, gz=True)
    config = TranslatorConfig(model=TINY, min_count=2, max_length=10, lowercase=lowercase)
    (tr, tokens), (ref, ids) = build_both(tmp_path, ParallelFiles(src=src, tgt=tgt), config)
    assert tr.src_vocab == ref.src_vocab and tr.tgt_vocab == ref.tgt_vocab
    assert tr.config == ref.config  # max_output_length from the same longest target
    assert isinstance(tokens, ParallelTokens) and len(tokens) == len(ids) < 396  # some > 10
    assert tokens.pairs(np.arange(len(ids))) == ids
    assert tokens.valid == files_valid(src, tgt) and len(tokens.valid) == 7  # every 50th
    assert tokens.src.dtype == np.uint8 and isinstance(tokens.src, np.memmap)
    assert tr.train_pairs == len(ids)


def files_valid(src: Path, tgt: Path) -> list[tuple[str, str]]:
    return ParallelCorpus.from_files(src, tgt).valid


def test_batches_come_from_the_memory_maps_and_equal_the_in_memory_ones(tmp_path: Path) -> None:
    src, tgt = corpus(tmp_path, 300)
    config = TranslatorConfig(model=TINY, batch_size=16)
    (tr, tokens), (ref, ids) = build_both(tmp_path, ParallelFiles(src=src, tgt=tgt), config)
    streamed = tr.trainable(tokens, ParallelFiles(src=src, tgt=tgt))
    memory = ref.trainable(ids, files_read := ParallelCorpus.from_files(src, tgt))
    assert streamed.valid == files_read.valid
    read_rows: list[np.ndarray] = []
    real = ParallelTokens.pairs

    def spy(self, rows):
        read_rows.append(np.asarray(rows))
        return real(self, rows)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ParallelTokens, "pairs", spy)
        rows = list(streamed.train_batches(0, torch.Generator().manual_seed(5)))
        one = [tr._batch(streamed.pairs(r)) for r in rows]
    assert isinstance(streamed.src_lengths, np.memmap)  # the lengths stay on disk
    assert streamed.src_lengths.dtype == np.uint8  # max_length 100 fits a byte
    two = [ref._batch(memory.pairs(r)) for r in rows]  # the same rows, from the id lists
    assert len(read_rows) == len(one) == streamed.batches_per_epoch()
    assert [r.tolist() for r in read_rows] == [r.tolist() for r in rows]
    for a, b in zip(one, two, strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    # the in-memory path keeps bucketed_batches' batches (length_buckets)
    ref_rows = length_buckets(memory.src_lengths, 16, torch.Generator().manual_seed(5))
    got = memory.train_batches(0, torch.Generator().manual_seed(5))
    assert [r.tolist() for r in got] == [r.tolist() for r in ref_rows]


def test_encoding_is_cached_and_keyed_by_corpus_tokenizer_and_vocab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _cache: Path
) -> None:
    src, tgt = corpus(tmp_path, 200)
    passes = []
    real = P.iter_parallel

    def counted(*args, **kwargs):
        passes.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(P, "iter_parallel", counted)
    files = ParallelFiles(src=src, tgt=tgt)
    tok = PairTokenizer(level="word", max_length=50)

    def run(tokenizer: PairTokenizer = tok, max_vocab: int | None = None) -> ParallelTokens:
        counts = count_parallel(files, tokenizer)
        config = TranslatorConfig(model=TINY, max_vocab=max_vocab)
        sv, tv = Translator._vocabs([counts.src_counts], [counts.tgt_counts], config)
        return encode_parallel(files, counts, tokenizer, sv, tv)

    first = run()
    assert len(passes) == 2  # count, encode
    again = run()
    assert len(passes) == 2 and again.index_path == first.index_path  # nothing read again
    assert again.pairs(range(len(again))) == first.pairs(range(len(first)))
    run(max_vocab=8)  # another vocabulary: encoded again, the counts reused
    assert len(passes) == 3
    run(PairTokenizer(level="word", lowercase=True, max_length=50))  # another tokenizer
    assert len(passes) == 5
    write(src, [line.upper() for line in src.read_text().splitlines()])  # another corpus
    changed = run()
    assert len(passes) == 7 and changed.index_path != first.index_path
    # a damaged token file (cut short) is encoded again
    changed.src_file.path.write_bytes(changed.src_file.path.read_bytes()[:-1])
    run()
    assert len(passes) == 8
    assert len(list((_cache / "tokens").glob("*.tmp"))) == 0


def test_too_few_pairs_hold_nothing_out_and_valid_files_are_read(tmp_path: Path) -> None:
    src, tgt = corpus(tmp_path, 40)
    config = TranslatorConfig(model=TINY)
    (_, tokens), (_, ids) = build_both(tmp_path, ParallelFiles(src=src, tgt=tgt), config)
    assert tokens.valid == [] and len(tokens) == len(ids) == 40 - 1
    vs, vt = write(tmp_path / "v.en", ["a cat"]), write(tmp_path / "v.de", ["eine katze"])
    files = ParallelFiles(src=src, tgt=tgt, valid_src=vs, valid_tgt=vt)
    _, tokens = Translator.build(files, config)
    assert tokens.valid == [("a cat", "eine katze")]
    with pytest.raises(ValueError, match="--valid-src and --valid-tgt"):
        ParallelFiles(src=src, tgt=tgt, valid_src=vs)


def test_nothing_within_max_length_is_a_data_error(tmp_path: Path) -> None:
    src, tgt = corpus(tmp_path, 60)
    with pytest.raises(DataError, match=r"c\.en: no training pair .* max_length=1 "):
        Translator.build(
            ParallelFiles(src=src, tgt=tgt), TranslatorConfig(model=TINY, max_length=1)
        )


# -- memory ----------------------------------------------------------------------------------


def traced_peak(tmp_path: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Peak traced allocations (bytes) of counting and encoding n pairs, read in 4 KiB
    pieces and flushed every 1,000 ids (so that small corpora show the streaming)."""
    monkeypatch.setattr(P, "_FLUSH_TOKENS", 1000)
    folder = tmp_path / str(n)
    folder.mkdir()
    src, tgt = corpus(folder, n, seed=1)
    files = ParallelFiles(src=src, tgt=tgt, valid_fraction=0.0)
    tok = PairTokenizer(level="word", max_length=50)
    config = TranslatorConfig(model=TINY)
    tracemalloc.start()
    try:
        counts = count_parallel(files, tok, cache=folder / "cache", chunk_bytes=4096)
        sv, tv = Translator._vocabs([counts.src_counts], [counts.tgt_counts], config)
        tokens = encode_parallel(
            files, counts, tok, sv, tv, cache=folder / "cache", chunk_bytes=4096
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(tokens) == counts.pairs > 0.95 * n
    return peak


def test_passes_stream_memory_flat_from_n_to_4n_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = traced_peak(tmp_path, 5_000, monkeypatch)
    large = traced_peak(tmp_path, 20_000, monkeypatch)
    # measured: 0.19-0.20 MB for both sizes; reading the files whole instead of streaming
    # them gave 1.3 MB and 5.2 MB, so 1.3x catches any per-pair growth
    assert large < 1.3 * small, (small, large)


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_resume_reuses_the_token_files_and_replays_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _cache: Path
) -> None:
    src, tgt = corpus(tmp_path, 200)
    encodes = []
    real = P._encode_pairs
    monkeypatch.setattr(P, "_encode_pairs", lambda *a, **k: encodes.append(1) or real(*a, **k))
    base = ["translate", "train", "--src", str(src), "--tgt", str(tgt), "--hidden", "16"]
    base += ["--embedding", "8", "--attention-dim", "8", "--batch-size", "8", "--seed", "3"]
    base += ["--checkpoint-every", "3", "--eval-every", "100", "--no-progress"]
    base += ["--schedule", "constant", "--warmup", "0"]  # the lr does not depend on --steps
    assert main([*base, "--steps", "6", "--out", str(tmp_path / "straight"), "--json"]) == 0
    assert encodes == [1]
    (index,) = (_cache / "tokens").glob("*.index.npy")
    before = index.stat()
    assert main([*base, "--steps", "3", "--out", str(tmp_path / "resumed")]) == 0
    assert main([*base, "--steps", "6", "--resume", "--out", str(tmp_path / "resumed")]) == 0
    after = index.stat()
    assert encodes == [1] and (after.st_ino, after.st_mtime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
    )
    one = load_file(tmp_path / "straight" / "checkpoint" / "model.safetensors")
    two = load_file(tmp_path / "resumed" / "checkpoint" / "model.safetensors")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=0)
    summary = json.loads((tmp_path / "straight" / "config.json").read_text())
    assert summary["dataset"] == f"{src} -> {tgt}"


# -- bounded-memory bucketing, DDP slices, tab-separated pairs ---------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 17, 64, 65, 1000, 4097])
def test_row_permutation_is_a_permutation(n: int) -> None:
    perm = RowPermutation(n, torch.Generator().manual_seed(n))
    rows = perm(np.arange(n))
    assert rows.dtype == np.int64 and sorted(rows.tolist()) == list(range(n))
    again = RowPermutation(n, torch.Generator().manual_seed(n))(np.arange(n))
    assert rows.tolist() == again.tolist()  # the generator decides it


def test_row_permutation_shuffles() -> None:
    n = 10_000
    one = RowPermutation(n, torch.Generator().manual_seed(0))(np.arange(n))
    two = RowPermutation(n, torch.Generator().manual_seed(1))(np.arange(n))
    # a uniform shuffle leaves ~1 fixed point and correlates ~0 with the order (|r| < 0.03
    # at n = 10,000 with probability > 0.99); the identity would give n and 1
    assert (one == np.arange(n)).sum() < 10 and (one == two).sum() < 10
    assert abs(np.corrcoef(one, np.arange(n))[0, 1]) < 0.03
    assert abs(np.corrcoef(one, two)[0, 1]) < 0.03


def reference_chunked(lengths: np.ndarray, batch: int, seed: int, bucket: int) -> list[list[int]]:
    """chunked_length_buckets by brute force: the whole shuffle held, each chunk sorted by
    (length, position) with NumPy's lexsort, batches in the generator's order."""
    gen = torch.Generator().manual_seed(seed)
    n = len(lengths)
    order = RowPermutation(n, gen)(np.arange(n))
    chunk = np.arange(n) // (bucket * batch)
    order = order[np.lexsort((np.arange(n), lengths[order], chunk))]
    starts = range(0, n, batch)
    return [
        order[starts[b] : starts[b] + batch].tolist()
        for b in torch.randperm(len(starts), generator=gen)
    ]


@pytest.mark.parametrize(
    ("n", "batch", "bucket"), [(0, 4, 2), (1, 4, 50), (1000, 7, 3), (333, 64, 50), (5000, 16, 5)]
)
def test_chunked_length_buckets_equal_the_brute_force(n: int, batch: int, bucket: int) -> None:
    lengths = np.random.default_rng(n).integers(1, 30, n)
    got = chunked_length_buckets(lengths, batch, torch.Generator().manual_seed(3), bucket=bucket)
    got = [b.tolist() for b in got]
    assert got == reference_chunked(lengths, batch, 3, bucket)
    assert sorted(r for b in got for r in b) == list(range(n))  # each row once an epoch
    assert all(len(b) == batch for b in got if b is not got[-1] and n % batch == 0)


def test_chunked_length_buckets_hold_one_chunk_not_the_rows(tmp_path: Path) -> None:
    n = 2_000_000
    path = tmp_path / "lengths.npy"
    np.save(path, np.random.default_rng(0).integers(1, 50, n).astype(np.uint8))
    lengths = np.load(path, mmap_mode="r")

    def peak(buckets) -> int:
        tracemalloc.start()
        try:
            batches = buckets(lengths, 64, torch.Generator().manual_seed(0))
            for _ in range(20):
                next(batches)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # measured: ~0.3 MB (a chunk of 3,200 rows, the 31,250 batch numbers); length_buckets,
    # which holds the shuffle, ~80 MB (40 bytes a row)
    assert peak(chunked_length_buckets) < 2e6 < 16 * n < peak(length_buckets)


def test_ddp_ranks_read_disjoint_slices_that_cover_the_corpus(tmp_path: Path) -> None:
    """Two ranks simulated in one process, as the trainer splits each global batch
    (shard_batch): the rows each rank reads from the token files over an epoch are
    disjoint and together every training pair once."""
    src, tgt = corpus(tmp_path, 600)
    config = TranslatorConfig(model=TINY, batch_size=9)
    tr, tokens = Translator.build(ParallelFiles(src=src, tgt=tgt), config)
    trainable = tr.trainable(tokens, ParallelFiles(src=src, tgt=tgt))
    read: dict[int, list[int]] = {0: [], 1: []}
    real = ParallelTokens.pairs
    rank = 0

    def spy(self, rows):
        read[rank].extend(np.asarray(rows).tolist())
        return real(self, rows)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ParallelTokens, "pairs", spy)
        for batch in trainable.train_batches(0, torch.Generator().manual_seed(0)):
            for rank in (0, 1):
                part = shard_batch(batch, rank, 2)
                loss, count = trainable.training_loss(part)
                assert count > 0 and torch.isfinite(loss)
    assert set(read[0]).isdisjoint(read[1])
    assert sorted(read[0] + read[1]) == list(range(len(tokens)))
    assert abs(len(read[0]) - len(read[1])) <= trainable.batches_per_epoch()


def tsv(tmp_path: Path, n: int, *, gz: bool = False) -> Path:
    src, tgt = corpus(tmp_path, n, gz=gz)
    opener = gzip.open if gz else open
    with opener(src, "rt") as a, opener(tgt, "rt") as b:
        lines = [
            f"{s.strip()}\t{t.strip()}\tCC-BY" if s.strip() else ""
            for s, t in zip(a, b, strict=True)
        ]
    return write(tmp_path / f"pairs.tsv{'.gz' if gz else ''}", lines, gz=gz)


@pytest.mark.parametrize("reverse", [False, True])
def test_tab_separated_pairs_go_through_the_token_files(tmp_path: Path, reverse: bool) -> None:
    path = tsv(tmp_path, 300, gz=True)
    files = ParallelFiles.from_pairs(path, reverse=reverse)
    config = TranslatorConfig(model=TINY, min_count=2, max_length=10)
    (tr, tokens), (ref, ids) = build_both(tmp_path, files, config)
    in_memory = ParallelCorpus.from_pairs(path, reverse=reverse)
    assert files.read() == in_memory and tr.config.dataset == in_memory.name
    assert tr.src_vocab == ref.src_vocab and tr.tgt_vocab == ref.tgt_vocab
    assert isinstance(tokens, ParallelTokens) and tokens.pairs(np.arange(len(ids))) == ids
    assert tokens.valid == in_memory.valid and len(tokens.valid) == 5  # every 50th
    if reverse:
        assert tr.src_vocab.encode(["eine"]) != [tr.src_vocab.unk_id]


def test_streamed_pairs_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.tsv", ["a\tb", "", "no tab here"])
    with pytest.raises(DataError, match=r"bad\.tsv:3: line has no tab"):
        list(P.iter_pairs(bad, chunk_bytes=2))
    empty_side = write(tmp_path / "side.tsv", ["a\tb", " \tx"])
    with pytest.raises(DataError, match=r"side\.tsv:2: the source side of the line is empty"):
        list(P.iter_pairs(empty_side))
    blank = write(tmp_path / "blank.tsv", ["", " ", "x"])
    with pytest.raises(DataError, match=r"blank\.tsv:3: line has no tab"):
        list(P.iter_pairs(blank))
    blank.write_text("\n \n")
    with pytest.raises(DataError, match=r"blank\.tsv: file holds only whitespace"):
        list(P.iter_pairs(blank))


def test_cli_pairs_trains_from_token_files(tmp_path: Path, _cache: Path) -> None:
    path = tsv(tmp_path, 200)
    cmd = ["translate", "train", "--pairs", str(path), "--hidden", "16", "--embedding", "8"]
    cmd += ["--attention-dim", "8", "--batch-size", "8", "--steps", "2", "--no-progress"]
    assert main([*cmd, "--out", str(tmp_path / "m"), "--json"]) == 0
    assert len(list((_cache / "tokens").glob("*.index.npy"))) == 1
    assert len(list((_cache / "tokens").glob("*.lengths.npy"))) == 1
    summary = json.loads((tmp_path / "m" / "config.json").read_text())
    assert summary["dataset"] == str(path)


def test_rows_are_read_from_the_files_and_a_cut_file_is_a_data_error(tmp_path: Path) -> None:
    src, tgt = corpus(tmp_path, 120)
    _, tokens = Translator.build(ParallelFiles(src=src, tgt=tgt), TranslatorConfig(model=TINY))
    n = len(tokens)
    want = [  # through the memory maps
        (tokens.src[a : a + m].tolist(), tokens.tgt[b : b + k].tolist())
        for a, m, b, k in np.asarray(tokens.index).tolist()
    ]
    rows = np.random.default_rng(0).permutation(n)
    assert tokens.pairs(rows) == [want[r] for r in rows]  # pread, in any order
    path = tokens.tgt_file.path
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"tgt\.bin: is shorter than its index says"):
        tokens.pairs([n - 1])


def test_processes_on_a_cold_cache_count_and_encode_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two builders at once (torchrun ranks on a cold cache): one counts and encodes, the
    other waits and reads its files."""
    src, tgt = corpus(tmp_path, 300)
    config = TranslatorConfig(model=TINY)
    built: list[list] = []

    def build() -> None:
        _, tokens = Translator.build(ParallelFiles(src=src, tgt=tgt), config)
        built.append(tokens.pairs(np.arange(len(tokens))))

    calls = twice_at_once(build, P, ["_count", "_encode_pairs"], monkeypatch)
    assert calls == {"_count": 1, "_encode_pairs": 1}
    assert len(built) == 2 and built[0] == built[1]
