"""Subword (BPE) language models: `seqlab lm train --tokenizer bpe` end to end on a text file
of any size (token files), and the token-file cache keyed by the tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.data.subword import TextTokenizer
from seqlab.data.tokens import corpus_tokens, encode_text
from seqlab.tasks.language_model import LanguageModel

pytest.importorskip("sentencepiece")
pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread

LINES = ["the cat sat on the mat", "the dog sat on the log", "a bird flew over the house"]
TINY = ["--layers", "1", "--hidden", "32", "--embedding", "16", "--no-progress"]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_token_file_cache_keys_differ_by_tokenizer(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c.txt", LINES * 20)
    cache = tmp_path / "cache"
    bpe = TextTokenizer.train(LINES, "subword", vocab_size=300, byte_fallback=True)
    other = TextTokenizer.train(LINES[:2], "subword", vocab_size=290, byte_fallback=True)
    word_vocab, word_file = corpus_tokens(corpus, level="word", cache=cache)
    bpe_vocab, bpe_file = corpus_tokens(corpus, level="word", cache=cache, tokenizer=bpe)
    _, other_file = corpus_tokens(corpus, level="word", cache=cache, tokenizer=other)
    assert len({word_file.path, bpe_file.path, other_file.path}) == 3
    # the BPE file holds pieces: each line's pieces then <EOS>, as encode_text gives them
    text = "\n".join(LINES * 20) + "\n"
    assert bpe_file.array().tolist() == encode_text(text, bpe_vocab, bpe).tolist()
    assert bpe_vocab.decode(bpe_file.array()[:4].tolist()) == [*bpe(LINES[0])[:4]]
    assert word_vocab.decode(word_file.array()[:2].tolist()) == ["the", "cat"]
    # the same vocabulary with and without the BPE model: still two files (the key holds
    # the tokenizer, not only the vocabulary)
    _, words_as_pieces = corpus_tokens(corpus, level="word", vocab=bpe_vocab, cache=cache)
    assert words_as_pieces.path != bpe_file.path
    assert words_as_pieces.array().tolist() != bpe_file.array().tolist()
    # read back from the cache under the same key: the same file
    assert corpus_tokens(corpus, level="word", cache=cache, tokenizer=bpe)[1].path == bpe_file.path


@pytest.mark.parametrize("unit", ["text", "line"])
def test_cli_bpe_lm_trains_samples_plain_text_and_round_trips(
    tmp_path: Path, capsys, unit: str
) -> None:
    corpus = write(tmp_path / "c.txt", LINES * 30)
    out = tmp_path / "m"
    args = ["lm", "train", "--text", str(corpus), "--unit", unit, "--out", str(out)]
    args += ["--tokenizer", "bpe", "--vocab-size", "300", "--steps", "20", "--bptt", "16"]
    assert main([*args, *TINY, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    tok = TextTokenizer.load(out / "tokenizer.json")
    assert summary["vocab_size"] == 2 + len(tok.pieces())  # <UNK> <EOS> and the pieces
    sample = ["lm", "sample", str(out), "-n", "3", "--seed", "4", "--prefix", "the zebra"]
    assert main([*sample, "--json"]) == 0
    texts = json.loads(capsys.readouterr().out)
    assert all(t.startswith("the zebra") and "<UNK>" not in t and "▁" not in t for t in texts)
    lm = LanguageModel.load(out)
    assert lm.sample(3, seed=4, prefix="the zebra") == texts  # save/load: the same samples
    result = lm.evaluate("the zebra sat on the mat\n")
    assert result["unknown_tokens"] == 0 and result["tokens"] > 0
    scored = lm.score("the zebra")
    assert scored.tokens[-1] == "<EOS>" and all("<UNK>" not in t for t in scored.tokens)


def test_a_word_model_without_the_new_fields_loads_as_before(tmp_path: Path, capsys) -> None:
    corpus = write(tmp_path / "c.txt", LINES * 10)
    out = tmp_path / "w"
    args = ["lm", "train", "--text", str(corpus), "--level", "word", "--out", str(out)]
    assert main([*args, "--steps", "2", *TINY]) == 0
    before = LanguageModel.load(out).sample(2, seed=1, max_length=5)
    cfg = out / "config.json"
    raw = json.loads(cfg.read_text())
    del raw["vocab_size"]  # as written before subwords existed
    cfg.write_text(json.dumps(raw))
    lm = LanguageModel.load(out)
    assert lm.tokenizer is None and lm.config.level == "word"
    assert lm.sample(2, seed=1, max_length=5) == before
    assert not (out / "tokenizer.json").exists()
