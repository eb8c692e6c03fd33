"""Subword (BPE) tokens for translation: the tokenizer, its cache keys, and `seqlab translate`
with ``--tokenizer bpe`` end to end (tiny models, seconds each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.data.parallel import (
    PairTokenizer,
    ParallelFiles,
    count_parallel,
    encode_parallel,
    train_subwords,
)
from seqlab.data.subword import TextTokenizer
from seqlab.data.vocab import UNK
from seqlab.tasks.translator import Translator, TranslatorConfig

pytest.importorskip("sentencepiece")
pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread

WORDS = ["cat", "dog", "bird", "fish", "cow", "horse"]
PAIRS = [(f"the {a} and the {b}", f"the {b} and the {a} !") for a in WORDS for b in WORDS]
TINY = ["--hidden", "16", "--embedding", "8", "--attention-dim", "8", "--no-progress"]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def subwords() -> TextTokenizer:
    return train_subwords(PAIRS, vocab_size=300)


def test_pieces_decode_to_the_text_and_unseen_characters_are_byte_pieces(subwords) -> None:
    for text in ["the cat and the zebra !", "Zürich € ok", "the  horse"]:
        pieces = subwords(text)
        assert subwords.detokenize(pieces) == " ".join(text.split())
        assert "".join(map(subwords.joiner(), pieces)) == subwords.detokenize(pieces)
        vocab = subwords.vocab((UNK,))
        assert vocab.unk_id not in vocab.encode(pieces)  # every piece has an id
    assert "<0xC3>" in subwords("ü")  # byte fallback: ü is two UTF-8 byte pieces
    assert len(subwords.vocab((UNK,))) == 1 + len(subwords.pieces())


def test_vocab_size_below_the_byte_pieces_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"vocab_size 40 is below the .* give a vocab_size"):
        train_subwords(PAIRS, vocab_size=40)


def test_cache_keys_differ_by_tokenizer(tmp_path: Path, subwords) -> None:
    src = write(tmp_path / "s.txt", [s for s, _ in PAIRS])
    tgt = write(tmp_path / "t.txt", [t for _, t in PAIRS])
    files = ParallelFiles(src=src, tgt=tgt)
    cache = tmp_path / "cache"
    other = train_subwords(PAIRS[:10], vocab_size=280)  # another BPE model
    keys, bins = [], []
    for sub in (None, subwords, other):
        tok = PairTokenizer(level="word", subwords=sub)
        counts = count_parallel(files, tok, cache=cache)
        vocabs = (Translator._vocabs([counts.src_counts], [counts.tgt_counts],
                                     TranslatorConfig(model=_tiny_model()), sub))  # fmt: skip
        encoded = encode_parallel(files, counts, tok, *vocabs, cache=cache)
        keys.append(counts.key)
        bins.append(encoded.index_path)
    assert len(set(keys)) == 3 and len(set(bins)) == 3
    # the BPE run's token file holds pieces: decoding its first pair gives the pieces
    tok = PairTokenizer(level="word", subwords=subwords)
    counts = count_parallel(files, tok, cache=cache)
    assert counts.key == keys[1]  # read back from the cache under the same key
    first_src = subwords.vocab(("<PAD>", UNK)).encode(subwords(PAIRS[0][0]))
    src_vocab = Translator._vocabs([], [], TranslatorConfig(model=_tiny_model()), subwords)[0]
    assert (
        encode_parallel(files, counts, tok, src_vocab, src_vocab, cache=cache).pairs([0])[0][0]
        == first_src
    )


def _tiny_model():
    from seqlab.models.seq2seq import Seq2SeqConfig

    return Seq2SeqConfig(src_vocab_size=2, tgt_vocab_size=2, embedding_dim=8, hidden_size=16)


def test_cli_bpe_translator_trains_decodes_plain_text_and_round_trips(
    tmp_path: Path, capsys
) -> None:
    src = write(tmp_path / "train.src", [s for s, _ in PAIRS] * 2)
    tgt = write(tmp_path / "train.tgt", [t for _, t in PAIRS] * 2)
    out = tmp_path / "m"
    args = ["translate", "train", "--src", str(src), "--tgt", str(tgt), "--out", str(out)]
    args += ["--tokenizer", "bpe", "--vocab-size", "300", "--steps", "30", "--lr", "1e-2"]
    assert main([*args, *TINY, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    tok = TextTokenizer.load(out / "tokenizer.json")
    assert summary["src_vocab_size"] == 2 + len(tok.pieces())  # <PAD> <UNK> and the pieces
    assert json.loads((out / "config.json").read_text())["level"] == "bpe"
    # an unseen word ("zebra", "ü") is read as pieces: no <UNK> in the input or the output
    unseen = ["the zebra and the cat", "the gnü and the dog"]
    assert main(["translate", "decode", str(out), *unseen, "--beam", "2", "--json"]) == 0
    outs = json.loads(capsys.readouterr().out)
    tr = Translator.load(out)
    for text in unseen:
        assert tr.src_vocab.unk_id not in tr._encode_src(text)
    for o in outs:
        assert "<UNK>" not in o["translation"] and "▁" not in o["translation"]
    again = [t.text for t in Translator.load(out).translate(unseen, beam_size=2)]
    assert again == [o["translation"] for o in outs]  # save/load: the same outputs
    # evaluate: BLEU on the detokenised text; analyze runs on pieces
    test_src = write(tmp_path / "test.src", [s for s, _ in PAIRS[:6]])
    test_tgt = write(tmp_path / "test.tgt", [t for _, t in PAIRS[:6]])
    args = ["translate", "evaluate", str(out), "--src", str(test_src), "--tgt", str(test_tgt)]
    assert main([*args, "-k", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    from seqlab.metrics.bleu import corpus_bleu

    hyps = [t.text for t in tr.translate([s for s, _ in PAIRS[:6]])]
    assert result["bleu"] == pytest.approx(corpus_bleu(hyps, [[t for _, t in PAIRS[:6]]]).score)
    args = ["translate", "analyze", str(out), "--src", str(test_src), "--tgt", str(test_tgt)]
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 6


def test_level_is_the_older_name_of_tokenizer(tmp_path: Path, capsys) -> None:
    tsv = write(tmp_path / "p.tsv", [f"{s}\t{t}" for s, t in PAIRS])
    base = ["translate", "train", "--pairs", str(tsv), "--steps", "1", *TINY]
    assert main([*base, "--out", str(tmp_path / "a"), "--level", "char"]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["level"] == "char"
    assert not (tmp_path / "a" / "tokenizer.json").exists()
    capsys.readouterr()
    bad = [*base, "--out", str(tmp_path / "b"), "--level", "char", "--tokenizer", "bpe"]
    assert main(bad) == 2
    assert "disagree" in capsys.readouterr().err
    assert (
        main([*base, "--out", str(tmp_path / "c"), "--tokenizer", "bpe", "--vocab-size", "9"]) == 2
    )
    assert "give a --vocab-size of at least" in capsys.readouterr().err


def test_a_model_directory_without_the_new_fields_loads_as_before(tmp_path: Path) -> None:
    config = TranslatorConfig(level="word", model=_tiny_model(), batch_size=8)
    from seqlab.train import TrainConfig

    tr, _ = Translator.train(
        PAIRS, tmp_path / "w", config, TrainConfig(max_steps=2, progress=False)
    )
    cfg_path = tmp_path / "w" / "config.json"
    raw = json.loads(cfg_path.read_text())
    del raw["vocab_size"]  # as written before subwords existed
    cfg_path.write_text(json.dumps(raw))
    loaded = Translator.load(tmp_path / "w")
    assert loaded.tokenizer is None and loaded.config.level == "word"
    texts = [s for s, _ in PAIRS[:4]]
    assert [t.text for t in loaded.translate(texts)] == [t.text for t in tr.translate(texts)]
