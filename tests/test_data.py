"""seqlab.data and seqlab._io: vocabularies, tokenising, safe reading, built-in corpora."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import pickle
import random
import stat
import string
from pathlib import Path

import pytest

from seqlab._io import DataError, atomic_write_bytes, atomic_write_json, atomic_write_text
from seqlab.data import (
    DATASETS,
    EOS,
    PAD,
    SOS,
    UNK,
    TextCorpus,
    Vocab,
    load_dataset,
    read_lines,
    read_text,
    sequences,
    tokenize,
    tokenize_words,
)

# sha256 of the original files the shipped corpora come from (see seqlab/data/files/README.md).
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SONNETS_SHA256 = "1b454b67b44e6f367c83a17ed295c46c5d4a1173cf5d09161882af4041bae023"
# The course's dinos.txt, lower-cased (the original is ad6465...27fb before lower-casing).
DINOS_LOWER_SHA256 = "8f559199fe891d4c1708c9a9b2992298b95e1e961b5664163eabdf5c56ca63e1"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def assert_data_error(err: DataError, path: Path, line: int | None) -> None:
    """One line, starting with FILE[:LINE]:, with a problem and a hint after the dash."""
    message = str(err)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert message.startswith(where), message
    assert "\n" not in message
    assert " — " in message and err.hint and err.problem
    assert err.path == path and err.line == line


# ------------------------------------------------------------------------------- _io


def test_atomic_writes_write_exactly_and_replace(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_text(target, "first\r\nline ü\n")
    assert target.read_bytes() == "first\r\nline ü\n".encode()
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    atomic_write_json(tmp_path / "b.json", {"ü": [1, 2.5, None]})
    assert json.loads((tmp_path / "b.json").read_text(encoding="utf-8")) == {"ü": [1, 2.5, None]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json"]  # no temp left


def test_atomic_write_new_file_mode_follows_umask(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    atomic_write_text(tmp_path / "m.txt", "x")
    assert stat.S_IMODE((tmp_path / "m.txt").stat().st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("bad", [{"x": {1, 2}}, {"x": float("nan")}])
def test_atomic_write_json_failure_leaves_file_and_no_temp(tmp_path: Path, bad) -> None:
    target = tmp_path / "keep.json"
    target.write_text('{"old": true}\n', encoding="utf-8")
    with pytest.raises((TypeError, ValueError)):
        atomic_write_json(target, bad)
    assert target.read_text(encoding="utf-8") == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_atomic_write_crash_before_rename_removes_temp(tmp_path, monkeypatch) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old", encoding="utf-8")

    def boom(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_data_error_format_and_pickle() -> None:
    err = DataError("d/f.txt", "bad thing", hint="fix it", line=7)
    assert str(err) == "d/f.txt:7: bad thing — fix it"
    assert str(DataError("f.txt", "gone", hint="check")) == "f.txt: gone — check"
    assert isinstance(err, ValueError)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.path, back.line) == (str(err), err.path, err.line)


# ------------------------------------------------------------------------------- Vocab

WORDS = [["b", "a", "c", "a"], ["c", "d", "a"], ["e"]]  # a:3 c:2 b:1 d:1 e:1


def test_vocab_order_specials_then_count_then_alphabet() -> None:
    v = Vocab.build(WORDS, level="word")
    assert v.tokens == (UNK, EOS, "a", "c", "b", "d", "e")
    assert [v[t] for t in v.tokens] == list(range(len(v)))
    assert (v.unk_id, v.eos_id, v.pad_id, v.sos_id) == (0, 1, None, None)


def test_vocab_does_not_depend_on_input_order() -> None:
    rng = random.Random(3)
    seqs = [[rng.choice("abcdefgh") for _ in range(rng.randint(1, 9))] for _ in range(50)]
    reference = Vocab.build(seqs, level="char")
    for _ in range(5):
        shuffled = [rng.sample(s, len(s)) for s in rng.sample(seqs, len(seqs))]
        assert Vocab.build(shuffled, level="char") == reference


def test_vocab_specials_canonical_order_pad_zero() -> None:
    v = Vocab.build(WORDS, level="word", specials=(EOS, SOS, UNK, PAD))
    assert v.tokens[:4] == (PAD, UNK, SOS, EOS)
    assert (v.pad_id, v.unk_id, v.sos_id, v.eos_id) == (0, 1, 2, 3)
    none = Vocab.build(WORDS, level="word", specials=())
    assert none.tokens == ("a", "c", "b", "d", "e")
    assert (none.pad_id, none.unk_id, none.sos_id, none.eos_id) == (None, None, None, None)


@pytest.mark.parametrize("specials", [("<MASK>",), (UNK, UNK)])
def test_vocab_bad_specials(specials) -> None:
    with pytest.raises(ValueError, match="special"):
        Vocab.build(WORDS, level="word", specials=specials)


def test_vocab_data_with_special_not_chosen_is_an_error() -> None:
    with pytest.raises(ValueError, match="<EOS>"):
        Vocab.build([["a", EOS]], level="word", specials=(UNK,))


def test_vocab_min_count_drops_rare_tokens_into_unk() -> None:
    v = Vocab.build(WORDS, level="word", min_count=2)
    assert v.tokens == (UNK, EOS, "a", "c")
    assert v.encode(["a", "b", "zzz"]) == [2, 0, 0]
    assert dict(v.counts) == {UNK: 3, EOS: 0, "a": 3, "c": 2}  # b, d, e were left out
    with pytest.raises(ValueError, match="min_count"):
        Vocab.build(WORDS, level="word", min_count=0)


def test_vocab_max_size_counts_specials_keeps_most_frequent() -> None:
    v = Vocab.build(WORDS, level="word", max_size=4)
    assert v.tokens == (UNK, EOS, "a", "c")
    assert len(Vocab.build(WORDS, level="word", max_size=100)) == 7
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(WORDS, level="word", max_size=1)


def test_vocab_is_frozen() -> None:
    v = Vocab.build(WORDS, level="word")
    with pytest.raises(AttributeError, match="frozen"):
        v._itos = ("x",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        v.counts["new"] = 1  # type: ignore[index]
    assert not any(hasattr(v, name) for name in ("add", "add_token", "append", "update"))
    assert v.tokens == (UNK, EOS, "a", "c", "b", "d", "e")


def test_encode_decode_round_trip() -> None:
    v = Vocab.build(WORDS, level="word", specials=(PAD, UNK, SOS, EOS))
    tokens = ["e", "a", "b", "a", "d", "c"]
    ids = v.encode(tokens, add_eos=True)
    assert ids[-1] == v.eos_id
    assert v.decode(ids) == [*tokens, EOS]
    assert v.decode([v.pad_id, *ids], skip_specials=True) == tokens
    assert v.decode(v.encode(["a", "never-seen"])) == ["a", UNK]


def test_unknowns_and_bad_ids() -> None:
    v = Vocab.build(WORDS, level="word", specials=(EOS,))
    with pytest.raises(ValueError, match="<UNK>"):
        v.encode(["a", "nope"])
    with pytest.raises(KeyError, match="nope"):
        v["nope"]
    assert "a" in v and "nope" not in v
    with pytest.raises(IndexError):
        v.token(len(v))
    with pytest.raises(IndexError):
        v.token(-1)
    with pytest.raises(ValueError, match="<EOS>"):
        Vocab.build(WORDS, level="word", specials=(UNK,)).encode(["a"], add_eos=True)


def test_vocab_from_sequences_counts_eos_as_special() -> None:
    seqs = sequences("ab\nba\nb\n", "char", unit="line")
    v = Vocab.build(seqs, level="char")
    assert v.tokens == (UNK, EOS, "b", "a")
    assert v.counts[EOS] == 3
    assert v.encode(seqs[0]) == [3, 2, 1]


def test_char_level_rejects_multi_character_tokens() -> None:
    with pytest.raises(ValueError, match="single character"):
        Vocab.build([["ab"]], level="char")


def test_vocab_json_round_trip(tmp_path: Path) -> None:
    v = Vocab.build(WORDS, level="word", specials=(PAD, UNK, EOS), min_count=2)
    path = v.save(tmp_path / "vocab.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["level"] == "word" and data["version"] == 1
    back = Vocab.load(path)
    assert back == v and back.tokens == v.tokens and back.level == "word"
    assert dict(back.counts) == dict(v.counts)
    assert Vocab.from_dict(v.to_dict()) == v


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (None, None, "no such file"),
        ('{"format": "seqlab.vocab",\n "version": 1,\n oops}', 3, "invalid JSON"),
        ('{"format": "other"}', None, "not a seqlab vocabulary"),
        ('{"format": "seqlab.vocab", "version": 99}', None, "version 99"),
        (
            '{"format": "seqlab.vocab", "version": 1, "level": "word",'
            ' "tokens": ["a", "a"], "counts": [1, 1]}',
            None,
            "repeated",
        ),
    ],
)
def test_vocab_load_bad_files(tmp_path: Path, content, line, words) -> None:
    path = tmp_path / "vocab.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=words) as info:
        Vocab.load(path)
    assert_data_error(info.value, path, line)


@pytest.mark.parametrize(
    "sentence",
    [
        "The apple and pear salad.",
        "Don't stop (yet), it's fine; really: go!",
        "Is it 3.14? Yes--I think so...",
        "He said 'Thy self thy foe' and left.",
        'She wrote "hello world" twice.',
        "Feed'st thy light's flame with self-substantial fuel,",
        "Qu'est-ce que c'est?",
    ],
)
def test_join_inverts_tokenize_words(sentence: str) -> None:
    v = Vocab.build([tokenize_words(sentence)], level="word")
    assert v.join(tokenize_words(sentence)) == sentence
    assert v.join(v.decode(v.encode(tokenize_words(sentence)))) == sentence


def test_char_join_concatenates() -> None:
    v = Vocab.build([list("ab c\n")], level="char")
    assert v.join(list("a b\nc")) == "a b\nc"


@pytest.mark.parametrize("level", ["char", "word"])
def test_joiner_streams_what_join_gives(level: str) -> None:
    text = "He said 'Thy self' (twice), \"it's fine\" -- and left... She's \"here\" too."
    tokens = tokenize_words(text) if level == "word" else list(text)
    v = Vocab.build([tokens], level=level)  # type: ignore[arg-type]
    for end in range(len(tokens) + 1):  # every prefix: the pieces so far are its text
        pieces = list(map(v.joiner(), tokens[:end]))
        assert "".join(pieces) == v.join(tokens[:end])


# ------------------------------------------------------------------------------- tokenising


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("The apple and pear salad.", ["The", "apple", "and", "pear", "salad", "."]),
        ("don't", ["don", "'t"]),
        ("Qu'est-ce", ["Qu", "'est-ce"]),
        ("the world's end", ["the", "world", "'s", "end"]),
        ("Wait... what?!", ["Wait", "...", "what", "?", "!"]),
        ("(a, b; c: d)", ["(", "a", ",", "b", ";", "c", ":", "d", ")"]),
        ("self-substantial deep--die", ["self-substantial", "deep", "--", "die"]),
        ("'This fair child'", ["'", "This", "fair", "child", "'"]),
        ("pi is 3.14, 1,000 of them", ["pi", "is", "3.14", ",", "1,000", "of", "them"]),
        ("  café\tnaïve \n", ["café", "naïve"]),
        ("", []),
    ],
)
def test_tokenize_words(text: str, tokens: list[str]) -> None:
    assert tokenize_words(text) == tokens


def test_tokenize_levels() -> None:
    assert tokenize("a b\n", "char") == ["a", " ", "b", "\n"]
    assert tokenize("a b.", "word") == ["a", "b", "."]
    with pytest.raises(ValueError, match="level"):
        tokenize("x", "byte")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- reading


def test_read_text_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file") as info:
        read_text(tmp_path / "nope.txt")
    assert_data_error(info.value, tmp_path / "nope.txt", None)
    with pytest.raises(DataError, match="directory") as info:
        read_text(tmp_path)
    assert_data_error(info.value, tmp_path, None)


@pytest.mark.parametrize(("data", "words"), [(b"", "empty"), (b" \n\t\r\n", "whitespace")])
def test_read_text_empty(tmp_path: Path, data: bytes, words: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(data)
    with pytest.raises(DataError, match=words) as info:
        read_text(path)
    assert_data_error(info.value, path, None)


def test_read_text_binary_names_line(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"one\ntwo\nth\x00ree\n")
    with pytest.raises(DataError, match="NUL byte at byte offset 10") as info:
        read_text(path)
    assert_data_error(info.value, path, 3)


def test_read_text_latin1_names_line_offset_and_iconv(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_bytes("alpha\nbeta\ncaf\u00e9 noir\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_text(path)
    err = info.value
    assert_data_error(err, path, 3)
    assert "0xE9" in str(err) and "byte offset 14" in str(err) and "column 4" in str(err)
    assert "iconv -f latin1 -t utf-8" in str(err) and "names.txt" in err.hint


def test_read_text_normalises_line_ends_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "win.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\r\n")
    assert read_text(path) == "one\ntwo\nthree\n"
    assert read_lines(path) == ["one", "two", "three"]


def test_read_text_gzip_and_allow_empty(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(gzip.compress("caf\u00e9\r\nnoir\n".encode()))
    assert read_text(path) == "caf\u00e9\nnoir\n"
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(b"plain text, not gzip")
    with pytest.raises(DataError, match="not a valid gzip file") as info:
        read_text(broken)
    assert_data_error(info.value, broken, None)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert read_text(empty, allow_empty=True) == ""


def test_read_lines_strips_and_skips_blank(tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    path.write_text("  a b \n\n   \nc\n", encoding="utf-8")
    assert read_lines(path) == ["a b", "c"]


# ------------------------------------------------------------------------------- sequences


def test_sequences_line_unit() -> None:
    text = "ab\n\n  c \n"
    assert sequences(text, "char", unit="line") == [["a", "b", EOS], ["c", EOS]]
    text = "Hi, you.\n\nBye\n"
    assert sequences(text, "word", unit="line") == [["Hi", ",", "you", ".", EOS], ["Bye", EOS]]


def test_sequences_text_unit() -> None:
    text = "Hi, you.\n\nBye\n"
    (stream,) = sequences(text, "char", unit="text")
    assert "".join(stream) == text and EOS not in stream
    (words,) = sequences(text, "word", unit="text")
    assert words == ["Hi", ",", "you", ".", EOS, EOS, "Bye", EOS]
    (no_end,) = sequences("a\nb", "word", unit="text")
    assert no_end == ["a", EOS, "b", EOS]


def test_sequences_bad_modes() -> None:
    with pytest.raises(ValueError, match="unit"):
        sequences("a", "char", unit="para")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        sequences("a", "bpe", unit="line")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- datasets


def test_dataset_registry() -> None:
    assert set(DATASETS) == {"dinos", "sonnets", "tinyshakespeare"}
    for name, description in DATASETS.items():
        corpus = load_dataset(name)
        assert corpus.name == name and corpus.description == description
        assert corpus.train and corpus.valid
    with pytest.raises(ValueError, match="dinos, sonnets, tinyshakespeare"):
        load_dataset("imdb")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dataset_is_the_same_every_call(name: str) -> None:
    fresh = load_dataset.__wrapped__  # bypass the cache: read the package files again
    assert fresh(name) == fresh(name) == load_dataset(name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_dataset(name).train = ""  # type: ignore[misc]


def test_dinos_split_interleaved_and_complete() -> None:
    corpus = load_dataset("dinos")
    assert corpus.unit == "line"
    train = corpus.train.split("\n")
    valid = corpus.valid.split("\n")
    assert train.pop() == "" and valid.pop() == ""  # each split ends with a line end
    assert (len(train), len(valid), len(train) + len(valid)) == (1383, 153, 1536)
    names = []
    for i in range(1536):  # every 10th name is valid: put them back in place
        names.append(valid[i // 10] if i % 10 == 9 else train[i - i // 10])
    assert sha256("\n".join(names)) == DINOS_LOWER_SHA256
    assert set("".join(names)) == set(string.ascii_lowercase)
    vocab = Vocab.build(sequences(corpus.train, "char", unit="line"), level="char")
    assert len(vocab) == 2 + 26  # <UNK>, <EOS> and the letters (the course's 27 with "\n")


def test_sonnets_split_last_lines() -> None:
    corpus = load_dataset("sonnets")
    assert corpus.unit == "text"
    assert sha256(corpus.train + corpus.valid) == SONNETS_SHA256
    assert corpus.train.endswith("\n")  # cut at a line boundary
    assert corpus.train.count("\n") == 2469 - 247
    assert len(corpus.valid.split("\n")) == 247
    assert corpus.train.startswith("THE SONNETS") and corpus.valid.endswith("THE END")


def test_tinyshakespeare_nanogpt_split() -> None:
    corpus = load_dataset("tinyshakespeare")
    text = corpus.train + corpus.valid
    assert sha256(text) == TINYSHAKESPEARE_SHA256
    assert (len(text), len(corpus.train)) == (1_115_394, int(1_115_394 * 0.9))
    assert len(set(text)) == 65
    assert corpus.unit == "text"


def test_corpus_from_file_splits_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    lines = [f"name{i}" for i in range(21)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    corpus = TextCorpus.from_file(path)
    assert corpus.name == "names" and corpus.unit == "line"
    assert corpus.train + corpus.valid == "\n".join(lines) + "\n"
    assert corpus.valid.split("\n")[:-1] == lines[-3:]  # ceil(0.1 * 21) = 3
    # unit="text" splits by position (issue 19): the first int(n / 2) characters train
    text = TextCorpus.from_file(path, valid_fraction=0.5, unit="text")
    whole = "\n".join(lines) + "\n"
    assert (text.train, text.valid) == (whole[: len(whole) // 2], whole[len(whole) // 2 :])
    none = TextCorpus.from_file(path, valid_fraction=0.0)
    assert none.valid == "" and none.train == corpus.train + corpus.valid


def test_corpus_from_file_errors(tmp_path: Path) -> None:
    one = tmp_path / "one.txt"
    one.write_text("only line\n", encoding="utf-8")
    with pytest.raises(DataError, match="1 line") as info:
        TextCorpus.from_file(one)
    assert_data_error(info.value, one, None)
    assert TextCorpus.from_file(one, valid_fraction=0).train == "only line\n"
    with pytest.raises(DataError, match="no such file"):
        TextCorpus.from_file(tmp_path / "missing.txt")
    # one line splits by position with unit="text" (text8 is one line)
    assert TextCorpus.from_file(one, unit="text").valid == "only line\n"[int(10 * 0.9) :]
    two = tmp_path / "two.txt"
    two.write_text("ab", encoding="utf-8")
    with pytest.raises(DataError, match="too short to split"):
        TextCorpus.from_file(two, unit="text")
    with pytest.raises(ValueError, match="valid_fraction"):
        TextCorpus.from_file(one, valid_fraction=1.0)
    with pytest.raises(ValueError, match="unit"):
        TextCorpus(name="x", train="a", valid="", unit="word", description="")  # type: ignore[arg-type]
