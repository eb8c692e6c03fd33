"""seqlab.embeddings.SentenceCorpus, build_vocab, count_words, with gensim as the oracle.

Without gensim only the comparisons with it are skipped (the ``gensim_word2vec`` fixture).

Peer agreement: a file corpus yields exactly gensim's LineSentence sentences (and Text8Corpus's
for a one-line file), with reading blocks made tiny so every block boundary case occurs; the
vocabulary order and counts equal gensim Word2Vec.build_vocab's. Golden cases: chunking,
lowercasing, gzip, restarts, encode, and bad files reported with their line.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from seqlab._io import DataError
from seqlab.embeddings import SentenceCorpus, build_vocab, count_words
from seqlab.embeddings import corpus as corpus_module

WORDS = ["café", "naïve", "東京", "straße", "a", "b", "c", "dd", "the"] + [
    f"w{i}" for i in range(40)
]


@pytest.fixture
def gensim_word2vec() -> ModuleType:
    """gensim.models.word2vec, the oracle: a test that uses it is skipped without gensim (and
    fails under CI=true, see conftest.py); the other tests need no gensim."""
    return pytest.importorskip("gensim.models.word2vec")


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read files 37 bytes at a time: words and UTF-8 characters straddle block ends."""
    monkeypatch.setattr(corpus_module, "_BLOCK", 37)


def random_text(seed: int, *, lines: int = 120, long_line: int = 700) -> str:
    """Lines of random words with varied separators, blank lines and one long line."""
    rng = np.random.default_rng(seed)
    seps = [" ", "  ", "\t", " \u3000 ", "\u00a0"]
    out = []
    for i in range(lines):
        n = int(rng.integers(0, 25))
        words = rng.choice(WORDS, n).tolist()
        out.append("".join(f"{w}{seps[int(rng.integers(0, len(seps)))]}" for w in words))
        if i == lines // 2:
            out.append(" ".join(rng.choice(WORDS, long_line).tolist()))
    return "\r\n".join(out[:10]) + "\r\n" + "\n".join(out[10:]) + "\n  "


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("max_len", [10000, 1, 7, 25, 700])
@pytest.mark.parametrize("seed", [0, 1])
def test_file_corpus_equals_line_sentence(
    gensim_word2vec: ModuleType, tmp_path: Path, max_len: int, seed: int
) -> None:
    path = tmp_path / "c.txt"
    path.write_text(random_text(seed), encoding="utf-8")
    ours = list(SentenceCorpus(path, max_sentence_length=max_len))
    ref = list(gensim_word2vec.LineSentence(str(path), max_sentence_length=max_len))
    assert ours == ref
    assert max(len(s) for s in ours) == min(max_len, 700)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("end", ["", "\n"])
def test_one_line_file_equals_text8_corpus(
    gensim_word2vec: ModuleType, tmp_path: Path, end: str
) -> None:
    """text8 is one long line: it is cut into max_sentence_length chunks like Text8Corpus."""
    rng = np.random.default_rng(5)
    path = tmp_path / "text8"
    path.write_text(" " + " ".join(rng.choice(WORDS, 2345).tolist()) + end, encoding="utf-8")
    ours = list(SentenceCorpus(path, max_sentence_length=100))
    assert ours == list(gensim_word2vec.Text8Corpus(str(path), max_sentence_length=100))
    assert [len(s) for s in ours] == [100] * 23 + [45]


def test_gzip_equals_plain_and_passes_restart(tmp_path: Path) -> None:
    text = random_text(3)
    plain, packed = tmp_path / "c.txt", tmp_path / "c.txt.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    corpus = SentenceCorpus(packed)
    first, second = list(corpus), list(corpus)
    assert first == second == list(SentenceCorpus(plain))
    # LineSentence's rule, written out: each line's str.split(), blank lines dropped
    assert first == [words for line in text.split("\n") if (words := line.split())]


def test_bom_and_lowercase(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(b"\xef\xbb\xbfThe CAF\xc3\x89 Stra\xc3\x9fe\n\nOK\n")
    assert list(SentenceCorpus(path)) == [["The", "CAFÉ", "Straße"], ["OK"]]
    assert list(SentenceCorpus(path, lowercase=True)) == [["the", "café", "straße"], ["ok"]]


def test_in_memory_sentences() -> None:
    sentences = [["A", "b", "c", "d", "e"], [], ["f"]]
    corpus = SentenceCorpus(sentences, max_sentence_length=2, lowercase=True)
    assert list(corpus) == [["a", "b"], ["c", "d"], ["e"], ["f"]]
    assert list(corpus) == list(corpus)
    once = SentenceCorpus(iter([["x", "y"], ["z"]]))  # a one-shot iterator can still be restarted
    assert list(once) == list(once) == [["x", "y"], ["z"]]
    with pytest.raises(TypeError, match="list of words"):
        list(SentenceCorpus(["a sentence as a string"]))
    with pytest.raises(ValueError, match="max_sentence_length"):
        SentenceCorpus(sentences, max_sentence_length=0)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"", None, "file is empty"),
        (b"  \n\t\n", None, "only whitespace"),
        (b"ok line\nfine\nbad \x00 here\n", 3, "binary file"),
        (b"ok line\ncaf\xe9 latin-1\n", 2, "not valid UTF-8 (byte 0xE9"),
    ],
)
def test_bad_files_are_reported_at_construction(
    tmp_path: Path, content: bytes, line: int | None, message: str
) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        SentenceCorpus(path)
    assert info.value.line == line
    assert message in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        SentenceCorpus(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="directory"):
        SentenceCorpus(tmp_path)


@pytest.mark.usefixtures("small_blocks")
def test_bad_byte_late_in_a_stream_names_its_line(tmp_path: Path) -> None:
    """Streaming: sentences before the bad line arrive, then the error names line 40."""
    path = tmp_path / "c.txt"
    good = "".join(f"line {i} café\n" for i in range(1, 40))
    path.write_bytes(good.encode("utf-8") + b"bad \xff byte\nmore\n")
    corpus = SentenceCorpus(path)  # the first block is fine
    seen = []
    with pytest.raises(DataError) as info:
        for sentence in corpus:
            seen.append(sentence)
    assert info.value.line == 40
    assert len(seen) >= 30  # the file was streamed, not read whole first


def test_count_words_and_build_vocab_basics() -> None:
    sentences = [["b", "a", "b", "c"], ["a", "b", "d", "d", "e"]]
    assert count_words(SentenceCorpus(sentences)) == Counter(w for s in sentences for w in s)
    words, counts = build_vocab(sentences, min_count=2)
    assert words == ["b", "d", "a"]  # count desc; a and d tie: d appeared later, comes first
    assert counts.dtype == np.int64 and counts.tolist() == [3, 2, 2]
    assert build_vocab(sentences, min_count=1, max_vocab_size=2)[0] == ["b", "d"]
    with pytest.raises(ValueError, match="min_count=4"):
        build_vocab(sentences, min_count=4)


@pytest.mark.parametrize("min_count", [1, 2, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_build_vocab_equals_gensim_word2vec(
    gensim_word2vec: ModuleType, min_count: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    vocab = [f"t{i}" for i in range(60)] + ["café", "東京"]
    # few distinct counts, so many ties
    sentences = [rng.choice(vocab, int(rng.integers(1, 12))).tolist() for _ in range(80)]
    model = gensim_word2vec.Word2Vec(min_count=min_count, vector_size=8, workers=1)
    model.build_vocab(sentences)
    words, counts = build_vocab(SentenceCorpus(sentences), min_count=min_count)
    assert words == model.wv.index_to_key
    assert counts.tolist() == [int(model.wv.get_vecattr(w, "count")) for w in words]


def test_encode_gives_int32_ids_without_oov() -> None:
    sentences = [["a", "x", "b"], ["x", "y"], ["b", "b", "a", "z"]]
    table = {"a": 0, "b": 7}
    encoded = list(SentenceCorpus(sentences).encode(table))
    assert all(e.dtype == np.int32 for e in encoded)
    assert [e.tolist() for e in encoded] == [[0, 7], [7, 7, 0]]  # the all-OOV sentence skipped


# ---------------------------------------------------------------------------- tokenisation

TRICKY = [
    'Meanwhile, the King said: "Don\'t!"',
    "It's 1969 -- Apollo-11 landed; 3.14 isn't pi_ish, e.g. U.S.A. & co.",
    "Café naïve STRAßE Ærøskøbing ÉCOLE élève Ελληνικά Москва 東京タワー",
    "x y zz a1b2c3 word2vec _private __init__ CamelCaseWordsThatGoOnAndOnForever",
    "tabs\there\u00a0nbsp\u3000ideographic-space (parens) [brackets] {braces} <tags>",
    "emoji 🙂ok, hyphen‐unicode em—dash «quotes» „more“ İstanbul ﬁne",
    "123 456 !!! ... ,,, ---",  # nothing left for simple: a line without words
]


@pytest.mark.usefixtures("small_blocks")
def test_simple_tokenization_equals_gensim_simple_preprocess(tmp_path: Path) -> None:
    gensim_simple_preprocess = pytest.importorskip("gensim.utils").simple_preprocess

    from seqlab.embeddings.corpus import simple_preprocess

    expected = [gensim_simple_preprocess(line) for line in TRICKY]
    assert [simple_preprocess(line) for line in TRICKY] == expected
    path = tmp_path / "raw.txt"
    path.write_text("\n".join(TRICKY * 3) + "\n", encoding="utf-8")
    assert list(SentenceCorpus(path, tokenize="simple")) == [s for s in expected * 3 if s]
    # in memory: each whitespace token tokenised, the same words
    memory = SentenceCorpus([line.split() for line in TRICKY], tokenize="simple")
    assert list(memory) == [s for s in expected if s]
    assert expected[0] == ["meanwhile", "the", "king", "said", "don"]  # "t" is too short
    assert expected[-1] == []


def test_words_tokenization_is_the_classifiers_word_tokens(tmp_path: Path) -> None:
    """tokenize="words" reads a line as `seqlab classify --tokens word` does, so vectors
    trained on it match the classifier's vocabulary."""
    from seqlab.data.subword import TextTokenizer

    path = tmp_path / "raw.txt"
    path.write_text("\n".join(TRICKY) + "\n", encoding="utf-8")
    classifier = TextTokenizer("word", lowercase=True)
    want = [classifier(line) for line in TRICKY if classifier(line)]
    assert list(SentenceCorpus(path, tokenize="words", lowercase=True)) == want
    assert ["don", "'t"] == SentenceCorpus([["Don't"]], tokenize="words", lowercase=True)._words(
        "Don't"
    )


def test_meanwhile_comma_is_the_word_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "prose.txt"
    path.write_text("Meanwhile, the cat sat.\nMeanwhile the dog ran!\n", encoding="utf-8")
    whitespace = count_words(SentenceCorpus(path))
    assert whitespace["Meanwhile,"] == 1 and whitespace["Meanwhile"] == 1  # the old default
    simple = count_words(SentenceCorpus(path, tokenize="simple"))
    assert simple["meanwhile"] == 2 and "Meanwhile," not in simple and "sat." not in simple
    assert list(SentenceCorpus(path, tokenize="simple")) == [
        ["meanwhile", "the", "cat", "sat"],
        ["meanwhile", "the", "dog", "ran"],
    ]


def wikifil(line: str) -> list[str]:
    """The words of ``line`` after wikifil.pl's normalisation, run by perl itself."""
    script = "".join(
        f"s/{d}/ {name} /g;"
        for d, name in enumerate("zero one two three four five six seven eight nine".split())
    )
    out = subprocess.run(
        ["perl", "-ne", f'chomp; $_=" $_ "; tr/A-Z/a-z/; {script} tr/a-z/ /cs; print "$_\\n"'],
        input=line.encode("utf-8") + b"\n",
        capture_output=True,
        check=True,
    ).stdout
    return out.decode("ascii").split()


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl runs word2vec's wikifil.pl")
def test_text8_tokenization_equals_word2vec_wikifil(tmp_path: Path) -> None:
    from seqlab.embeddings.corpus import text8_normalize

    expected = [wikifil(line) for line in TRICKY]
    assert [text8_normalize(line) for line in TRICKY] == expected
    assert expected[1][:6] == ["it", "s", "one", "nine", "six", "nine"]
    path = tmp_path / "raw.txt"
    path.write_text("\n".join(TRICKY) + "\n", encoding="utf-8")
    assert list(SentenceCorpus(path, tokenize="text8")) == [s for s in expected if s]


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("tokenize", ["whitespace", "text8"])
def test_text8_reads_the_same_whatever_the_tokenization(
    gensim_word2vec: ModuleType, tmp_path: Path, tokenize: str
) -> None:
    """text8 (lower-case a-z words, one line) is unchanged by the new option and its default."""
    rng = np.random.default_rng(7)
    words = ["the", "of", "a", "anarchism", "originated", "as", "term", "abuse", "i", "zz"]
    path = tmp_path / "text8"
    path.write_text(" " + " ".join(rng.choice(words, 3000).tolist()), encoding="utf-8")
    expected = list(gensim_word2vec.Text8Corpus(str(path), max_sentence_length=1000))
    assert list(SentenceCorpus(path, max_sentence_length=1000)) == expected  # the default
    got = list(SentenceCorpus(path, max_sentence_length=1000, tokenize=tokenize))  # type: ignore[arg-type]
    assert got == expected


def test_unknown_tokenization_is_a_value_error() -> None:
    with pytest.raises(
        ValueError, match="tokenize must be one of whitespace, simple, text8, words"
    ):
        SentenceCorpus([["a"]], tokenize="nltk")  # type: ignore[arg-type]
