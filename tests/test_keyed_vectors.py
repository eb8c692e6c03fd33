"""seqlab.embeddings.KeyedVectors: lookup, queries and files, with gensim as the oracle.

Without gensim only the comparisons with it are skipped (``needs_gensim``).

Peer agreement: files written by seqlab load in gensim and the reverse, word for word and bit
for bit (non-ASCII words included); most_similar / most_similar_cosmul / similarity give
gensim's answers on the same vectors. Golden cases: planted analogies, malformed files
(DataError naming the line), the OOV message, projector files, nn.Embedding export.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab._io import DataError
from seqlab.data import Vocab
from seqlab.embeddings import KeyedVectors, OOVError
from seqlab.embeddings import vector_files as vf_module
from seqlab.embeddings.vector_files import detect_format, read_vectors, write_vectors

try:  # the peer: only the tests that compare with gensim need it
    from gensim.models.keyedvectors import KeyedVectors as GKV
except ImportError:  # pragma: no cover - depends on the environment
    GKV = None

needs_gensim = pytest.mark.skipif(GKV is None, reason="gensim is not installed")

FORMATS = [("word2vec", False, False), ("word2vec-binary", True, False), ("glove", False, True)]


def make_words(n: int) -> list[str]:
    """Distinct words, non-ASCII ones first."""
    return ["café", "naïve", "東京", "Ünïcödé", "straße"] + [f"w{i}" for i in range(n - 5)]


@pytest.fixture
def kv() -> KeyedVectors:
    """300 random 12-dimensional vectors."""
    rng = np.random.default_rng(7)
    words = make_words(300)
    return KeyedVectors(words, rng.standard_normal((300, 12)).astype(np.float32))


def to_gensim(kv: KeyedVectors) -> GKV:
    """The same vectors in a gensim KeyedVectors."""
    g = GKV(kv.vector_size)
    g.add_vectors(list(kv.index_to_key), np.array(kv.vectors))
    return g


def assert_same_vectors(words: list[str], vectors: np.ndarray, kv: KeyedVectors) -> None:
    """Words in order and float32 values bit-equal."""
    assert kv.index_to_key == list(words)
    assert kv.vectors.dtype == np.float32
    np.testing.assert_array_equal(kv.vectors, vectors)


def assert_same_ranking(ours: list[tuple[str, float]], ref: list[tuple[str, float]]) -> None:
    """Same words in the same order, scores equal to float32 precision."""
    assert [w for w, _ in ours] == [w for w, _ in ref]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in ref], rtol=0, atol=2e-6)


# ------------------------------------------------------------------------------ files


@needs_gensim
@pytest.mark.parametrize(("fmt", "binary", "no_header"), FORMATS)
@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
def test_seqlab_file_loads_in_gensim(
    kv: KeyedVectors, tmp_path: Path, fmt: str, binary: bool, no_header: bool, suffix: str
) -> None:
    path = kv.save(tmp_path / f"v{suffix}", format=fmt)  # type: ignore[arg-type]
    g = GKV.load_word2vec_format(str(path), binary=binary, no_header=no_header)
    assert g.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(g.vectors, kv.vectors)


@needs_gensim
@pytest.mark.parametrize(("fmt", "binary", "no_header"), FORMATS)
@pytest.mark.parametrize("given", ["auto", "explicit"])
def test_gensim_file_loads_in_seqlab(
    kv: KeyedVectors, tmp_path: Path, fmt: str, binary: bool, no_header: bool, given: str
) -> None:
    path = tmp_path / "g.txt"
    to_gensim(kv).save_word2vec_format(str(path), binary=binary, write_header=not no_header)
    loaded = KeyedVectors.load(path, format=fmt if given == "explicit" else "auto")  # type: ignore[arg-type]
    assert_same_vectors(kv.index_to_key, kv.vectors, loaded)
    assert loaded.counts is None


@needs_gensim
@pytest.mark.parametrize(("fmt", "binary", "no_header"), FORMATS)
def test_limit_reads_first_n_like_gensim(
    kv: KeyedVectors, tmp_path: Path, fmt: str, binary: bool, no_header: bool
) -> None:
    path = kv.save(tmp_path / "v.txt", format=fmt)  # type: ignore[arg-type]
    ours = KeyedVectors.load(path, limit=17)
    ref = GKV.load_word2vec_format(str(path), binary=binary, no_header=no_header, limit=17)
    assert_same_vectors(ref.index_to_key, ref.vectors, ours)
    assert len(ours) == 17


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_limit_stops_reading_before_damage(kv: KeyedVectors, tmp_path: Path, fmt: str) -> None:
    """Rows after the limit are never parsed: garbage there does not matter."""
    path = kv.save(tmp_path / "v", format=fmt)  # type: ignore[arg-type]
    damaged = tmp_path / "damaged"
    data = path.read_bytes()
    damaged.write_bytes(data[: len(data) * 2 // 3] + b"\xff\xfe garbage \x00 1 2\n")
    loaded = KeyedVectors.load(damaged, format=fmt, limit=50)  # type: ignore[arg-type]
    assert_same_vectors(kv.index_to_key[:50], kv.vectors[:50], loaded)
    with pytest.raises(DataError):
        KeyedVectors.load(damaged, format=fmt)  # type: ignore[arg-type]


def test_c_word2vec_binary_with_newlines_after_vectors(kv: KeyedVectors, tmp_path: Path) -> None:
    """The original C tool writes a newline after each vector; it is not part of the word."""
    v, e = kv.vectors.shape
    body = b"".join(
        w.encode() + b" " + row.astype("<f4").tobytes() + b"\n"
        for w, row in zip(kv.index_to_key, kv.vectors, strict=True)
    )
    path = tmp_path / "c.bin"
    path.write_bytes(f"{v} {e}\n".encode() + body)
    assert_same_vectors(kv.index_to_key, kv.vectors, KeyedVectors.load(path))


def test_text_values_round_trip_exactly(tmp_path: Path) -> None:
    """9 significant digits bring every float32 back, extremes included."""
    values = np.array(
        [[np.float32(0.1), 1e-45, 3.4028235e38, -0.0], [1 / 3, -2.5e-8, 123456.79, 7.0]],
        dtype=np.float32,
    )
    kv = KeyedVectors(["a", "b"], values)
    for fmt in ("word2vec", "glove"):
        loaded = KeyedVectors.load(kv.save(tmp_path / fmt, format=fmt))  # type: ignore[arg-type]
        np.testing.assert_array_equal(loaded.vectors, values)


def test_save_is_atomic_and_rejects_whitespace_words(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    KeyedVectors(["a"], np.ones((1, 2))).save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="whitespace"):
        KeyedVectors(["a b"], np.ones((1, 2))).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.txt"]


def test_save_error_names_the_destination_not_the_temporary_file(tmp_path: Path) -> None:
    small = KeyedVectors(["a"], np.ones((1, 2)))
    target = tmp_path / "missing" / "v.txt"
    with pytest.raises(FileNotFoundError) as info:
        small.save(target)
    message = str(info.value)
    assert info.value.filename == str(target) and ".tmp" not in message
    assert f"the folder {target.parent} does not exist" in message
    with pytest.raises(IsADirectoryError) as folder:
        small.save(tmp_path)
    assert folder.value.filename == str(tmp_path) and ".tmp" not in str(folder.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary file left


def test_duplicate_words_keep_the_first(tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("3 2\na 1 2\nb 3 4\na 5 6\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="repeated"):
        ours = KeyedVectors.load(path)
    assert_same_vectors(["a", "b"], np.array([[1, 2], [3, 4]], np.float32), ours)


@needs_gensim
def test_duplicate_words_keep_the_first_like_gensim(tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("3 2\na 1 2\nb 3 4\na 5 6\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="repeated"):
        ours = KeyedVectors.load(path)
    ref = GKV.load_word2vec_format(str(path))
    np.testing.assert_array_equal(ref["a"], ours["a"])


MALFORMED = [
    # (name, content, format, line, text in the message)
    ("ragged", "a 1 2 3\nb 1 2 3\nc 1 2\n", "auto", 3, "2 values, expected 3"),
    ("header-dim", "2 3\na 1 2 3\nb 1 2 3 4\n", "auto", 3, "4 values, expected 3"),
    ("non-numeric", "2 3\na 1 2 3\nb 1 x2 3\n", "word2vec", 3, "'x2' is not a number"),
    ("glove-non-numeric", "a 1 2\nb 1 nope\n", "glove", 2, "'nope'"),
    ("too-few", "3 2\na 1 2\nb 1 2\n", "auto", 3, "header says 3 vectors"),
    ("too-many", "1 2\na 1 2\nb 1 2\n", "auto", 3, "more rows"),
    ("no-header", "a 1 2\nb 1 2\n", "word2vec", 1, "header"),
    ("bad-utf8", "a 1 2\n\xff 1 2\n", "glove", 2, "UTF-8"),
    ("no-values", "a\nb\n", "glove", 1, "no numbers"),
]


@pytest.mark.parametrize(("name", "content", "fmt", "line", "message"), MALFORMED)
def test_malformed_text_files_name_the_line(
    tmp_path: Path, name: str, content: str, fmt: str, line: int, message: str
) -> None:
    path = tmp_path / f"{name}.txt"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(DataError) as info:
        KeyedVectors.load(path, format=fmt)  # type: ignore[arg-type]
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(("header", "source"), [(False, "from line 1"), (True, "from the header")])
def test_ragged_row_after_many_good_rows_names_where_the_width_was_fixed(
    tmp_path: Path, monkeypatch, header: bool, source: str
) -> None:
    """The width is fixed once (header or first row); a ragged row in a later read batch
    names that line, not the first line of its own batch."""
    monkeypatch.setattr(vf_module, "_READ_BLOCK", 256)  # many batches from a small file
    rows = "".join(f"w{i} {i} 0.5 0.25 1e-3\n" for i in range(300))
    path = tmp_path / "raglate.txt"
    path.write_text(("301 4\n" if header else "") + rows + "zz 1 2 3\n", encoding="utf-8")
    line = 302 if header else 301
    with pytest.raises(DataError) as info:
        KeyedVectors.load(path)
    assert str(info.value).startswith(f"{path}:{line}: row has 3 values, expected 4 ({source})")


def test_truncated_binary_is_reported(kv: KeyedVectors, tmp_path: Path) -> None:
    path = kv.save(tmp_path / "v.bin", format="word2vec-binary")
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match=r"truncated.*300 vectors.*vector 300"):
        KeyedVectors.load(path)


@needs_gensim
def test_gensim_agrees_the_truncated_binary_is_damaged(kv: KeyedVectors, tmp_path: Path) -> None:
    path = kv.save(tmp_path / "v.bin", format="word2vec-binary")
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(EOFError):
        GKV.load_word2vec_format(str(path), binary=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "empty"), (b"\n  \n", "empty")],
)
def test_missing_or_empty_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "v.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        KeyedVectors.load(path)
    with pytest.raises(DataError, match="directory"):
        KeyedVectors.load(tmp_path)


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_detect_format_names_what_was_written(
    kv: KeyedVectors, tmp_path: Path, fmt: str, suffix: str
) -> None:
    path = kv.save(tmp_path / f"v{suffix}", format=fmt)  # type: ignore[arg-type]
    assert detect_format(path) == fmt
    assert detect_format(str(path)) == fmt


def test_detect_format_golden_cases(tmp_path: Path) -> None:
    """The rule of format="auto": a 'V E' header, then the first record decides text/binary."""
    cases = {
        "glove-numeric-words": (b"3 0.5\n4 0.25\n", "glove"),  # '3 0.5' is not a header
        "header-text": (b"2 1\n3 5\n4 6\n", "word2vec"),
        "no-final-newline": (b"1 2\na 1 2", "word2vec"),
        "header-only": (b"0 3\n", "word2vec"),
        "header-binary": (b"1 2\na " + np.array([1, 2], "<f4").tobytes(), "word2vec-binary"),
        "ragged-after-header": (b"1 3\na 1 2\n", "word2vec-binary"),
    }
    for name, (content, fmt) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert detect_format(path) == fmt, name
    assert KeyedVectors.load(tmp_path / "no-final-newline").index_to_key == ["a"]
    with pytest.raises(DataError, match="no such file"):
        detect_format(tmp_path / "missing")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        detect_format(tmp_path / "empty")


def test_read_and_write_vectors_without_keyed_vectors(kv: KeyedVectors, tmp_path: Path) -> None:
    """The file functions KeyedVectors.load/save are built on, used directly."""
    for fmt in ("word2vec", "word2vec-binary", "glove"):
        path = write_vectors(tmp_path / fmt, kv.index_to_key, kv.vectors, fmt)  # type: ignore[arg-type]
        assert path.read_bytes() == kv.save(tmp_path / f"{fmt}.kv", format=fmt).read_bytes()  # type: ignore[arg-type]
        words, matrix = read_vectors(path, limit=10)
        assert words == kv.index_to_key[:10]
        assert matrix.dtype == np.float32
        np.testing.assert_array_equal(matrix, kv.vectors[:10])
    with pytest.raises(ValueError, match="format"):
        write_vectors(tmp_path / "x", ["a"], np.ones((1, 2)), "fasttext")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        write_vectors(tmp_path / "x", ["a", "b"], np.ones((1, 2)))
    with pytest.raises(ValueError, match="format"):
        read_vectors(tmp_path / "word2vec", format="bin")  # type: ignore[arg-type]


def test_duplicate_word_warning_points_at_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("a 1 2\nb 3 4\na 5 6\n", encoding="utf-8")
    for read in (KeyedVectors.load, read_vectors):
        with pytest.warns(UserWarning, match="repeated") as record:
            read(path)
        assert record[0].filename == __file__


def test_auto_detection_reads_headers_not_glove_rows(tmp_path: Path) -> None:
    """A GloVe file whose first row is 'word n' is not mistaken for a header, and vice versa."""
    glove = tmp_path / "g.txt"
    glove.write_text("3 0.5\n4 0.25\n", encoding="utf-8")  # words "3" and "4", 1 dimension
    loaded = KeyedVectors.load(glove)
    assert loaded.index_to_key == ["3", "4"]
    np.testing.assert_array_equal(loaded.vectors, [[0.5], [0.25]])
    header = tmp_path / "h.txt"
    header.write_text("2 1\n3 5\n4 6\n", encoding="utf-8")
    assert KeyedVectors.load(header).index_to_key == ["3", "4"]


# ---------------------------------------------------------------------------- queries


QUERIES = [
    (["café"], []),
    (["w1", "w2"], ["w3"]),
    (["東京", "naïve"], ["w10", "w11"]),
    ([], ["w5"]),
    ("w42", "w43"),
]


@needs_gensim
@pytest.mark.parametrize(("positive", "negative"), QUERIES)
@pytest.mark.parametrize("restrict", [None, 120])
def test_most_similar_equals_gensim(
    kv: KeyedVectors, positive: list[str], negative: list[str], restrict: int | None
) -> None:
    g = to_gensim(kv)
    ours = kv.most_similar(positive, negative, topn=15, restrict_vocab=restrict)
    ref = g.most_similar(positive, negative, topn=15, restrict_vocab=restrict)
    assert_same_ranking(ours, ref)
    inputs = {positive} if isinstance(positive, str) else set(positive)
    inputs |= {negative} if isinstance(negative, str) else set(negative)
    assert not inputs & {w for w, _ in ours}


@needs_gensim
@pytest.mark.filterwarnings("ignore:Call to deprecated `init_sims`:DeprecationWarning")
@pytest.mark.parametrize(("positive", "negative"), [p for p in QUERIES if p[0]])
def test_most_similar_cosmul_equals_gensim(
    kv: KeyedVectors, positive: list[str], negative: list[str]
) -> None:
    ours = kv.most_similar_cosmul(positive, negative, topn=15, epsilon=1e-6)
    assert_same_ranking(ours, to_gensim(kv).most_similar_cosmul(positive, negative, topn=15))


@needs_gensim
@pytest.mark.parametrize("topn", [0, -3])
def test_topn_below_one_returns_nothing_as_gensim(kv: KeyedVectors, topn: int) -> None:
    """gensim returns [] for an integer topn < 1 (before looking the words up); so does seqlab.
    The CLI refuses --topn 0 instead (tests/test_embed_cli.py)."""
    g = to_gensim(kv)
    assert kv.most_similar("w3", topn=topn) == g.most_similar("w3", topn=topn) == []
    assert kv.most_similar_cosmul(["w3"], ["w4"], topn=topn) == []
    assert g.most_similar_cosmul(["w3"], ["w4"], topn=topn) == []
    assert kv.analogy("w1", "w2", "w3", topn=topn) == []
    assert kv.most_similar("w3", topn=1) != []  # the empty answer is topn's doing


def test_cosmul_default_epsilon_is_levy_goldberg(kv: KeyedVectors) -> None:
    """3CosMul with ε = 1e-3, computed independently in float64."""
    x = kv.vectors.astype(np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    a, b, c = (kv.get_index(w) for w in ("w1", "w2", "w3"))

    def shifted(i: int) -> np.ndarray:
        return (1 + unit @ unit[i]) / 2

    scores = shifted(b) * shifted(c) / (shifted(a) + 1e-3)
    scores[[a, b, c]] = -np.inf
    best = np.argsort(-scores)[:5]
    ours = kv.analogy("w1", "w2", "w3", method="3cosmul", topn=5)
    assert [w for w, _ in ours] == [kv.index_to_key[i] for i in best]
    np.testing.assert_allclose([s for _, s in ours], scores[best], rtol=1e-5)


def test_similarity_is_the_cosine(kv: KeyedVectors) -> None:
    for a, b in [("café", "東京"), ("w1", "w2"), ("w7", "w7")]:
        u, v = kv[a].astype(np.float64), kv[b].astype(np.float64)
        cosine = u @ v / np.linalg.norm(u) / np.linalg.norm(v)
        assert kv.similarity(a, b) == pytest.approx(cosine, abs=1e-6)


@needs_gensim
def test_similarity_equals_gensim(kv: KeyedVectors) -> None:
    g = to_gensim(kv)
    for a, b in [("café", "東京"), ("w1", "w2"), ("w7", "w7")]:
        assert kv.similarity(a, b) == pytest.approx(float(g.similarity(a, b)), abs=1e-6)


def planted() -> KeyedVectors:
    """queen = king - man + woman (+ noise), among random distractors; Paris:France etc."""
    rng = np.random.default_rng(3)
    e = 20
    base = {w: rng.standard_normal(e) for w in ["man", "king", "paris", "rome", "boy"]}
    gender, country = rng.standard_normal(e), rng.standard_normal(e)
    vecs = dict(base)
    vecs["woman"] = base["man"] + gender
    vecs["queen"] = base["king"] + gender + 0.05 * rng.standard_normal(e)
    vecs["girl"] = base["boy"] + gender + 0.05 * rng.standard_normal(e)
    vecs["france"] = base["paris"] + country
    vecs["italy"] = base["rome"] + country + 0.05 * rng.standard_normal(e)
    for i in range(60):
        vecs[f"x{i}"] = rng.standard_normal(e)
    words = list(vecs)
    return KeyedVectors(words, np.array([vecs[w] for w in words]))


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_planted_analogies_are_solved(method: str) -> None:
    kv = planted()
    assert kv.analogy("man", "woman", "king", method=method)[0][0] == "queen"  # type: ignore[arg-type]
    assert kv.analogy("paris", "france", "rome", method=method)[0][0] == "italy"  # type: ignore[arg-type]
    assert kv.analogy("king", "queen", "boy", method=method)[0][0] == "girl"  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_never_returns_input_words(method: str) -> None:
    """With a = b the raw best match is c itself; it must not be returned, at any depth."""
    kv = planted()
    everything = kv.analogy("man", "man", "king", method=method, topn=len(kv))  # type: ignore[arg-type]
    assert {w for w, _ in everything} == set(kv.index_to_key) - {"man", "king"}
    assert everything[0][0] != "king"


def test_restrict_vocab_limits_the_search(kv: KeyedVectors) -> None:
    top = kv.most_similar("w100", topn=None, restrict_vocab=50)
    assert {w for w, _ in top} == set(kv.index_to_key[:50])
    assert len(kv.most_similar("w100", topn=None)) == len(kv) - 1


# ------------------------------------------------------------------------- lookup & OOV


def test_oov_error_is_one_readable_line(kv: KeyedVectors) -> None:
    with pytest.raises(OOVError) as info:
        kv["xyzzy"]
    assert (
        str(info.value) == "not in the vocabulary: 'xyzzy' (300 words; lookups are case-sensitive)"
    )
    assert isinstance(info.value, KeyError)
    assert info.value.words == ["xyzzy"]
    with pytest.raises(OOVError) as many:
        kv.most_similar(["w1", "nope", "Café"], ["nope2"])
    assert many.value.words == ["nope", "Café", "nope2"]
    with pytest.raises(OOVError, match="'zz'"):
        kv.similarity("w1", "zz")
    with pytest.raises(OOVError):
        kv.analogy("w1", "w2", "QQ")
    for method in ("3cosadd", "3cosmul"):  # named in the question's order a, b, c
        with pytest.raises(OOVError) as abc:
            kv.analogy("AA", "w2", "CC", method=method)  # type: ignore[arg-type]
        assert abc.value.words == ["AA", "CC"]
        assert str(abc.value).startswith("not in the vocabulary: 'AA', 'CC' ")
    big = OOVError(["a"], vocab_size=12345)
    assert str(big) == "not in the vocabulary: 'a' (12,345 words; lookups are case-sensitive)"


def test_lookup_shapes_and_read_only(kv: KeyedVectors) -> None:
    assert kv["東京"].shape == (12,)
    np.testing.assert_array_equal(kv[["w3", "café"]], kv.vectors[[kv.get_index("w3"), 0]])
    assert len(kv) == 300 and "café" in kv and "cafe" not in kv and kv.vector_size == 12
    with pytest.raises(ValueError):
        kv.vectors[0, 0] = 1.0
    with pytest.raises(ValueError):
        kv.unit_vectors[0, 0] = 1.0
    np.testing.assert_allclose(np.linalg.norm(kv.unit_vectors, axis=1), 1.0, rtol=1e-6)


def test_constructor_copies_and_checks() -> None:
    data = np.ones((2, 3))
    kv = KeyedVectors(["a", "b"], data, counts=[5, 2])
    data[0, 0] = 9.0
    assert kv["a"][0] == 1.0 and kv.counts is not None and kv.counts.dtype == np.int64
    with pytest.raises(ValueError, match="duplicate"):
        KeyedVectors(["a", "a"], np.ones((2, 3)))
    with pytest.raises(ValueError, match="2 words but 3 vectors"):
        KeyedVectors(["a", "b"], np.ones((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        KeyedVectors(["a"], np.ones(3))
    with pytest.raises(ValueError, match="counts"):
        KeyedVectors(["a", "b"], np.ones((2, 3)), counts=[1])
    zero = KeyedVectors(["z", "o"], [[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(zero.unit_vectors[0], [0.0, 0.0])


def test_with_vectors_keeps_words_and_counts(kv: KeyedVectors) -> None:
    counted = KeyedVectors(kv.index_to_key, kv.vectors, counts=np.arange(300, 0, -1))
    new = counted.with_vectors(np.zeros((300, 4)))
    assert new.index_to_key == kv.index_to_key and new.vector_size == 4
    np.testing.assert_array_equal(new.counts, counted.counts)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(300, E\)"):
        kv.with_vectors(np.zeros((299, 12)))


# -------------------------------------------------------------------- projector & torch


def test_projector_tsvs(kv: KeyedVectors, tmp_path: Path) -> None:
    vec_path, meta_path = kv.save_projector(tmp_path / "proj" / "run1")
    assert (vec_path.name, meta_path.name) == ("vectors.tsv", "metadata.tsv")
    rows = vec_path.read_text(encoding="utf-8").splitlines()
    parsed = np.array([[float(x) for x in r.split("\t")] for r in rows], dtype=np.float32)
    np.testing.assert_array_equal(parsed, kv.vectors)
    assert meta_path.read_text(encoding="utf-8").splitlines() == kv.index_to_key


def test_to_embedding_whole_vocabulary(kv: KeyedVectors) -> None:
    emb = kv.to_embedding()
    assert isinstance(emb, torch.nn.Embedding) and not emb.weight.requires_grad
    np.testing.assert_array_equal(emb.weight.detach().numpy(), kv.vectors)
    ids = torch.tensor([[kv.get_index("東京"), 4]])
    np.testing.assert_array_equal(emb(ids)[0, 0].detach().numpy(), kv["東京"])
    assert kv.to_embedding(freeze=False).weight.requires_grad


def test_to_embedding_oov_policies(kv: KeyedVectors) -> None:
    vocab = Vocab(["<PAD>", "<UNK>", "w1", "ghost", "café", "phantom"], level="word")
    known = kv[["w1", "café"]]
    zeros = kv.to_embedding(vocab, oov="zeros").weight.detach().numpy()
    np.testing.assert_array_equal(zeros[[2, 4]], known)
    np.testing.assert_array_equal(zeros[[0, 1, 3, 5]], 0.0)
    assert kv.to_embedding(vocab).padding_idx == 0

    mean = kv.to_embedding(vocab, oov="mean").weight.detach().numpy()
    np.testing.assert_allclose(mean[[1, 3, 5]], np.broadcast_to(known.mean(0), (3, 12)), rtol=1e-6)
    np.testing.assert_array_equal(mean[0], 0.0)  # <PAD> stays zero

    r1 = kv.to_embedding(vocab, oov="random", seed=1).weight.detach().numpy()
    r1b = kv.to_embedding(vocab, oov="random", seed=1).weight.detach().numpy()
    r2 = kv.to_embedding(vocab, oov="random", seed=2).weight.detach().numpy()
    np.testing.assert_array_equal(r1, r1b)
    assert not np.array_equal(r1[3], r2[3]) and not np.array_equal(r1[3], r1[5])
    np.testing.assert_array_equal(r1[[2, 4]], known)
    np.testing.assert_array_equal(r1[0], 0.0)

    with pytest.raises(OOVError) as info:
        kv.to_embedding(vocab, oov="error")
    assert info.value.words == ["ghost", "phantom"]  # specials are not errors
    ok = kv.to_embedding(["café", "w1"], oov="error").weight.detach().numpy()
    np.testing.assert_array_equal(ok, kv[["café", "w1"]])
    with pytest.raises(ValueError, match="oov"):
        kv.to_embedding(vocab, oov="drop")  # type: ignore[arg-type]


def test_repr_and_gzip_output(kv: KeyedVectors, tmp_path: Path) -> None:
    assert repr(kv).startswith("KeyedVectors(V=300, E=12, words=['café'")
    path = kv.save(tmp_path / "v.txt.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        assert f.readline() == "300 12\n"
