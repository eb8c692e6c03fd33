"""Translator end to end on generated dates, parallel-file reading, and `seqlab translate`."""

from __future__ import annotations

import csv as csv_module
import gzip
import io
import itertools
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import seqlab
import seqlab.tasks.translator as translator_module
from seqlab._io import DataError
from seqlab.cli import main
from seqlab.data import dates
from seqlab.data.parallel import group_by_source
from seqlab.decoding import beam_search, greedy_search
from seqlab.metrics.bleu import corpus_bleu
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.tasks.translator import (
    PRESETS,
    ParallelCorpus,
    Translator,
    TranslatorConfig,
    read_pairs,
    read_parallel,
)
from seqlab.train import TrainConfig
from seqlab.viz.attention import attention_figure, plot_attention
from tests.baselines import best_ngram_nll

TINY = Seq2SeqConfig(
    src_vocab_size=2, tgt_vocab_size=2, embedding_dim=16, hidden_size=32, attention_dim=16
)
SAMPLES = ["3 May 1979", "July 20th 1969", "20.07.69", "Tuesday, 1 January 2030", "12/31/1999"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread


def train_dates(out: Path, *, steps: int = 200, seed: int = 0) -> tuple[Translator, object]:
    corpus = ParallelCorpus.dates(3000, valid_size=200, seed=seed)
    config = TranslatorConfig(level="char", model=TINY, batch_size=32, dataset="dates")
    tc = TrainConfig(max_steps=steps, lr=5e-3, eval_every=100, progress=False, seed=seed)
    return Translator.train(corpus, out, config, tc)


@pytest.fixture(scope="module")
def dates_model(tmp_path_factory: pytest.TempPathFactory) -> Translator:
    torch.set_num_threads(1)
    tr, _ = train_dates(tmp_path_factory.mktemp("dates") / "model")
    return tr


# -- learning ------------------------------------------------------------------------------


def test_training_lowers_validation_loss_below_calibrated_bound(dates_model) -> None:
    # uniform over the 15 target tokens is ln 15 = 2.7 nats; an untrained model is ~2.7.
    # 200 steps of this tiny GRU (3000 pairs, batch 32, lr 5e-3, one thread) reached
    # 0.19-0.29 nats/token on 200 validation pairs (seeds 0-3, recalibrated when the
    # generator went to years 1000-2999 and 44 forms; 0.15-0.25 on 1900-2099); bound 0.4.
    # The baseline that ignores the source, a target-side character 4-gram counted on the
    # training dates (best add-k), gets 1.37 (1.12 before: four-digit years are less
    # predictable now): a model that does not read its source cannot pass.
    valid = dates.valid_pairs(200)
    loss = dates_model.loss(valid)
    vocab = dates_model.tgt_vocab

    def target_ids(pairs: list[tuple[str, str]]) -> list[list[int]]:
        return [[vocab.sos_id, *vocab.encode(list(t)), vocab.eos_id] for _, t in pairs]

    train = dates.generate_pairs(3000, seed=0)
    blind = best_ngram_nll(target_ids(train), target_ids(valid), n=4, vocab_size=len(vocab))
    assert blind > 1.0 and loss < 0.4 and loss < blind - 0.7, (loss, blind)
    assert dates_model.loss(dates.valid_pairs(200)) == loss  # deterministic in eval mode


def test_untrained_model_is_far_from_the_bound(tmp_path: Path) -> None:
    # the bound above is meaningful: the same model before training sits near ln 15
    tr, _ = Translator.build(
        ParallelCorpus.dates(3000, valid_size=10),
        TranslatorConfig(level="char", model=TINY, dataset="dates"),
    )
    assert tr.loss(dates.valid_pairs(200)) > 2.0


def test_model_directory_files(dates_model) -> None:
    root = dates_model.path
    for name in ("config.json", "model.safetensors", "vocab.json", "src_vocab.json"):
        assert (root / name).is_file(), name
    assert (root / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = json.loads((root / "config.json").read_text())
    assert cfg["task"] == "translator" and cfg["dataset"] == "dates"
    assert cfg["model"]["tgt_vocab_size"] == 15  # <PAD> <UNK> <SOS> <EOS>, 0-9 and '-'
    assert cfg["model"]["attention"] == "bahdanau" and cfg["model"]["bidirectional"]
    valid = [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]
    assert any("valid_exact_match" in r for r in valid)


# -- consistency ---------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_translations(dates_model, tmp_path) -> None:
    copy = dates_model.save(tmp_path / "copy")
    loaded = Translator.load(copy)
    assert isinstance(seqlab.load(copy), Translator)
    for k in (1, 3):
        before = dates_model.translate(SAMPLES, beam_size=k, n_best=k)
        after = loaded.translate(SAMPLES, beam_size=k, n_best=k)
        assert [t.to_dict() for t in before] == [t.to_dict() for t in after]


def test_beam_one_equals_greedy(dates_model) -> None:
    model, tv = dates_model.model, dates_model.tgt_vocab
    sources = SAMPLES + [s for s, _ in dates.test_pairs(40)]
    src, lengths = dates_model._sources([dates_model._encode_src(s) for s in sources])
    common = dict(batch_size=len(sources), bos_id=tv.sos_id, eos_id=tv.eos_id, max_length=30)
    with torch.no_grad():
        greedy = greedy_search(model, model.init_state(src, lengths), **common)
        beam = beam_search(model, model.init_state(src, lengths), beam_size=1, **common)
    assert [h.tokens for h in greedy] == [b[0].tokens for b in beam]
    ours = dates_model.translate(sources, beam_size=1)
    assert [t.text for t in ours] == ["".join(tv.decode(h.tokens)) for h in greedy]


def test_batched_translation_equals_one_by_one(dates_model) -> None:
    together = [t.text for t in dates_model.translate(SAMPLES, beam_size=3)]
    alone = [dates_model.translate(s, beam_size=3)[0].text for s in SAMPLES]
    assert together == alone


def test_early_stopping_reaches_beam_search(dates_model, capsys, monkeypatch) -> None:
    model, tv = dates_model.model, dates_model.tgt_vocab
    sources = SAMPLES + [s for s, _ in dates.test_pairs(15)]
    ids = [dates_model._encode_src(s) for s in sources]
    src, lengths = dates_model._sources(ids)
    caps = dates_model._search_config().length_caps([len(i) for i in ids])
    common = dict(batch_size=len(sources), bos_id=tv.sos_id, eos_id=tv.eos_id, beam_size=4)
    common |= dict(n_best=3, max_length=dates_model._cap, max_lengths=caps)
    rows: list[int] = []  # decoder rows per step call: where the rules differ on dates
    step = model.step

    def counted(tokens, state):
        rows.append(len(tokens))
        return step(tokens, state)

    monkeypatch.setattr(model, "step", counted)
    work = {}
    for rule in ("never", True, False):
        with torch.no_grad():
            want = beam_search(model, model.init_state(src, lengths), early_stopping=rule, **common)
        work[rule], rows[:] = sum(rows), []
        got = dates_model.translate(sources, beam_size=4, n_best=3, early_stopping=rule)
        assert [[c.tokens for c in t.candidates] for t in got] == [
            [tv.decode(h.tokens) for h in row] for row in want
        ]
        assert sum(rows) == work[rule]  # the same search, step for step
        rows[:] = []
    # on dates every output has 10 characters, so the rules differ little (821 rows for
    # "never", 820 for True and False, by running): check the search's config directly too
    monkeypatch.undo()
    configs = []
    search = translator_module.search

    def spied_search(*args, **kw):
        configs.append(args[3])
        return search(*args, **kw)

    monkeypatch.setattr(translator_module, "search", spied_search)
    for rule in ("never", True, False):
        dates_model.translate(SAMPLES[:1], beam_size=2, early_stopping=rule)
        assert configs.pop().early_stopping is rule
    monkeypatch.undo()
    seen = []  # the rule the CLI hands the translator
    translate = Translator.translate

    def spied(self, *args, **kw):
        seen.append(kw["early_stopping"])
        return translate(self, *args, **kw)

    monkeypatch.setattr(Translator, "translate", spied)
    d = str(dates_model.path)
    for word, rule in [("true", True), ("FALSE", False), ("never", "never")]:
        assert main(["translate", "decode", d, *SAMPLES, "-k", "4", "--early-stopping", word]) == 0
        best = [t.text for t in translate(dates_model, SAMPLES, beam_size=4, early_stopping=rule)]
        assert capsys.readouterr().out.splitlines() == best
        assert seen.pop() is rule if isinstance(rule, bool) else seen.pop() == rule


def test_n_best_lists_are_sorted_and_distinct(dates_model) -> None:
    (t,) = dates_model.translate("3 May 1979", beam_size=5, n_best=3)
    scores = [c.score for c in t.candidates]
    assert len(t.candidates) == 3 and scores == sorted(scores, reverse=True)
    assert len({c.text for c in t.candidates}) == 3
    assert t.text == dates_model.translate("3 May 1979", beam_size=5)[0].text


def test_attention_rows_are_distributions_over_the_source(dates_model) -> None:
    amap = dates_model.attention("Sunday, 20 July 1969")
    assert amap.source_tokens == list("Sunday, 20 July 1969")
    assert amap.weights.shape == (len(amap.output_tokens), len(amap.source_tokens))
    assert torch.allclose(amap.weights.sum(1), torch.ones(len(amap.output_tokens)), atol=1e-5)
    assert amap.text == dates_model.translate("Sunday, 20 July 1969")[0].text
    assert amap.output_tokens[-1] == "<EOS>"


def test_attention_of_a_given_output_follows_that_output(dates_model) -> None:
    text = "3 May 1979"
    greedy = dates_model.attention(text)
    (best,) = dates_model.translate(text)  # greedy: the same output, the same weights
    same = dates_model.attention(text, best.candidates[0])
    assert same.output_tokens == greedy.output_tokens
    assert torch.equal(same.weights, greedy.weights)
    # the 3rd of a 5-beam's n-best is another output: its rows follow its tokens
    (t,) = dates_model.translate(text, beam_size=5, n_best=3)
    third = t.candidates[2]
    assert third.text != best.text
    amap = dates_model.attention(text, third)
    assert amap.output_tokens == third.tokens + (["<EOS>"] if third.finished else [])
    assert amap.text == third.text and amap.weights.shape[0] == len(amap.output_tokens)
    assert torch.allclose(amap.weights.sum(1), torch.ones(len(amap.output_tokens)), atol=1e-5)
    assert torch.equal(amap.weights[0], greedy.weights[0])  # before any output token
    ours, theirs = third.tokens, best.candidates[0].tokens
    first_diff = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b)
    # row t attends from s<t-1>, which has read y<1..t-2> (Bahdanau): the outputs part at
    # token first_diff, and the rows part two steps later
    k = first_diff + 2
    assert k < min(len(amap.output_tokens), len(greedy.output_tokens))
    assert torch.equal(amap.weights[:k], greedy.weights[:k])
    assert not torch.equal(amap.weights[k], greedy.weights[k])


def test_evaluate_counts_exact_matches(dates_model) -> None:
    test = dates.test_pairs(60)
    srcs, refs = [s for s, _ in test], [t for _, t in test]
    result = dates_model.evaluate(srcs, refs, beam_sizes=(1, 3))
    outs = [t.text for t in dates_model.translate(srcs)]
    expected = sum(o == r for o, r in zip(outs, refs, strict=True)) / len(refs)
    assert result["results"][0]["exact_match"] == expected
    assert result["examples"] == 60 and [r["beam_size"] for r in result["results"]] == [1, 3]
    wrong = [e["source"] for e in result["results"][0]["errors"]]
    assert wrong == [s for s, o, r in zip(srcs, outs, refs, strict=True) if o != r][:20]


def test_evaluate_without_pairs_uses_the_held_out_dates(dates_model) -> None:
    result = dates_model.evaluate(beam_sizes=(1,))
    assert result["examples"] == dates.TEST_SIZE
    # the same figure as scoring the held-out pairs by hand
    test = dates.test_pairs()
    outs = dates_model.translate([s for s, _ in test])
    hits = sum(o.text == t for o, (_, t) in zip(outs, test, strict=True))
    assert result["results"][0]["exact_match"] == hits / dates.TEST_SIZE
    assert len(result["results"][0]["errors"]) == min(20, dates.TEST_SIZE - hits)


def test_word_level_model_learns_and_exact_match_compares_tokens(tmp_path: Path) -> None:
    # swap two nouns and end with a French-spaced "!": the output "... the cat!"
    # (detokenised) is the reference "... the cat !" token for token
    words = ["cat", "dog", "bird", "fish", "cow"]
    pairs = [(f"the {a} and the {b}", f"the {b} and the {a} !") for a in words for b in words]
    config = TranslatorConfig(level="word", model=TINY, batch_size=25)
    tr, _ = Translator.train(
        pairs * 8,
        tmp_path / "w",
        config,
        TrainConfig(max_steps=60, lr=1e-2, eval_every=None, progress=False),
    )
    result = tr.evaluate([s for s, _ in pairs], [t for _, t in pairs], beam_sizes=(1,))
    outs = tr.translate([s for s, _ in pairs])
    assert not any(o.text == t for o, (_, t) in zip(outs, pairs, strict=True))  # "cat!"
    # calibrated: 1 step 0/25 exact, 15 steps 5-10/25, 30 steps 23-25/25, 60 steps 25/25
    # (seeds 0-3, one thread); bound 0.9
    greedy = result["results"][0]
    assert greedy["exact_match"] >= 0.9, greedy["errors"][:3]
    assert greedy["bleu"] > 90


def test_sampling_is_seeded_and_top_k_1_is_greedy(dates_model) -> None:
    greedy = [t.text for t in dates_model.translate(SAMPLES)]
    top1 = dates_model.translate(SAMPLES, sample=True, top_k=1, seed=5)
    assert [t.text for t in top1] == greedy
    hot = dict(sample=True, temperature=3.0, seed=7)
    a, b = dates_model.translate(SAMPLES, **hot), dates_model.translate(SAMPLES, **hot)
    assert [t.text for t in a] == [t.text for t in b]
    assert [t.text for t in a] != greedy  # at temperature 3 the draws leave the argmax
    with pytest.raises(ValueError, match="beam_size=1"):
        dates_model.translate(SAMPLES, sample=True, beam_size=3)


def test_analyze_attributes_every_error(dates_model) -> None:
    test = dates.test_pairs(60)
    analysis = dates_model.analyze([s for s, _ in test], [t for _, t in test], beam_size=3)
    outs = [t.text for t in dates_model.translate([s for s, _ in test], beam_size=3)]
    assert len(analysis.rows) == 60
    for row, out, (_, ref) in zip(analysis.rows, outs, test, strict=True):
        assert row.hypothesis_text == out and row.reference_text == ref
        assert (row.verdict == "correct") == (out == ref)
        if row.verdict == "search":
            assert row.reference_score > row.hypothesis_score


# -- figures -------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_heatmap_shows_the_weights_with_source_and_output_tokens_on_the_axes() -> None:
    w = torch.softmax(torch.randn(11, 20, generator=torch.Generator().manual_seed(0)), dim=1)
    source, output = list("Sunday, 20 July 1969"), [*"1969-07-20", "<EOS>"]
    fig = attention_figure(w, source, output, title="Sunday, 20 July 1969  →  1969-07-20")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["␣" if c == " " else c for c in source]
    assert [t.get_text() for t in ax.get_yticklabels()] == output  # top to bottom
    assert list(ax.get_xticks()) == list(range(20)) and list(ax.get_yticks()) == list(range(11))
    assert ax.xaxis.get_ticks_position() == "top"
    np.testing.assert_array_equal(ax.images[0].get_array(), w.double().numpy())  # row t = α<t,·>
    assert "1969-07-20" in ax.get_title()
    assert len(fig.axes) == 2  # and a colorbar


def test_heatmap_png_has_the_shape_of_its_tokens(tmp_path: Path) -> None:
    w = torch.softmax(torch.randn(11, 20), dim=1)
    out_tokens = [*"1969-07-20", "<EOS>"]
    small = plot_attention(w, list("Sunday, 20 July 1969"), out_tokens, tmp_path / "a.png", dpi=100)
    # figure inches: width max(4, 1.8 + 0.32 Tx), height max(3, 1.4 + 0.32 Ty)
    assert png_size(small) == (round(100 * (1.8 + 0.32 * 20)), round(100 * (1.4 + 0.32 * 11)))
    wide = plot_attention(torch.ones(2, 40) / 40, ["x"] * 40, ["a", "b"], tmp_path / "b.png")
    assert png_size(wide)[0] > png_size(small)[0] * 1.2
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no temporary left behind
    with pytest.raises(ValueError, match="expected weights of shape"):
        plot_attention(w, ["a"], ["b"], tmp_path / "c.png")


LONG_SOURCE = "the agreement on the european economic area was signed in august 1992".split()
LONG_OUTPUT = "l' accord sur la zone économique européenne a été signé en août 1992".split()


@pytest.mark.parametrize(
    ("source", "output", "title"),
    [
        (  # a long sentence and its translation: wider than the figure, before: cut both sides
            LONG_SOURCE,
            [*LONG_OUTPUT, "<EOS>"],
            f"{' '.join(LONG_SOURCE)}  →  {' '.join(LONG_OUTPUT)}",
        ),
        (  # a few characters, a long date: the narrowest figure (4 inches)
            list("3 May 1979"),
            [*"1979-05-03", "<EOS>"],
            "Thursday the third of May in the year nineteen hundred and seventy-nine  →  "
            "1979-05-03",
        ),
        (  # one 70-character word: no space to wrap at
            ["a", "b", "c"],
            ["x", "<EOS>"],
            "Tuesday-the-twenty-third-of-September-nineteen-hundred-and-ninety-nine→1999-09-23",
        ),
    ],
)
def test_heatmap_title_lies_inside_the_figure(
    tmp_path: Path, source: list[str], output: list[str], title: str
) -> None:
    w = torch.softmax(torch.randn(len(output), len(source)), dim=1)
    fig = attention_figure(w, source, output, title=title)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    ax = fig.axes[0]
    box, page = ax.title.get_window_extent(renderer), fig.bbox
    assert box.x0 >= 0 and box.y0 >= 0, (box, page)
    assert box.x1 <= page.width and box.y1 <= page.height, (box, page)
    assert ax.title.get_fontsize() >= 7  # readable
    if " " in title:  # wrapped at spaces only: every word is whole, in order
        assert ax.get_title().split() == title.split()
        assert ax.title.get_fontsize() == 10
    else:
        assert ax.get_title().replace("\n", "") == title
    for label in ax.get_xticklabels():  # the title does not cover the heatmap's labels
        assert not box.overlaps(label.get_window_extent(renderer))
    png = plot_attention(w, source, output, tmp_path / "h.png", title=title)
    width, height = png_size(png)  # the figure drawn above, to the pixel
    assert abs(width - page.width) < 1 and abs(height - page.height) < 1, (width, height, page)


def test_heatmap_word_labels_do_not_overlap() -> None:
    """Word tokens are wider than their 0.32-inch column: written upright, not on each other."""
    w = torch.softmax(torch.randn(len(LONG_OUTPUT), len(LONG_SOURCE)), dim=1)
    fig = attention_figure(w, LONG_SOURCE, LONG_OUTPUT)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels()]
    assert len(boxes) == len(LONG_SOURCE)
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    chars = attention_figure(w[:, :4], list("abcd"), LONG_OUTPUT)  # characters stay level
    assert all(t.get_rotation() == 0 for t in chars.axes[0].get_xticklabels())


# -- data ----------------------------------------------------------------------------------


def write(path: Path, lines: list[str], *, gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_read_parallel_plain_and_gzip(tmp_path: Path) -> None:
    src = write(tmp_path / "a.en.gz", ["a cat", "", "two dogs"], gz=True)
    tgt = write(tmp_path / "a.fr", ["un chat", "", "deux chiens"])
    assert read_parallel(src, tgt) == [("a cat", "un chat"), ("two dogs", "deux chiens")]


def test_read_parallel_errors_name_both_files(tmp_path: Path) -> None:
    src = write(tmp_path / "x.en", ["a", "b", "c"])
    tgt = write(tmp_path / "x.fr", ["a", "b"])
    with pytest.raises(DataError, match=r"x\.en: 3 lines, but .*x\.fr has 2") as err:
        read_parallel(src, tgt)
    assert "\n" not in str(err.value)
    ragged = write(tmp_path / "r.fr", ["a", "", "c"])
    with pytest.raises(DataError, match=r"r\.fr:2: line is empty but line 2 of .*x\.en"):
        read_parallel(src, ragged)
    bad_gz = tmp_path / "bad.gz"
    bad_gz.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a valid gzip file"):
        read_parallel(bad_gz, tgt)


def test_presets_and_bad_values() -> None:
    dates, text = PRESETS["dates"], PRESETS["text"]
    assert dates.config.level == "char" and text.config.level == "word"
    assert dates.config.model.attention == "bahdanau" and dates.config.model.bidirectional
    assert dates.train.max_steps == 3000 and dates.train.time_budget == 300.0
    assert text.train.time_budget is None and text.config.min_count == 2
    with pytest.raises(ValueError, match="level"):
        TranslatorConfig(level="byte", model=TINY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown seq2seq architecture 'cnn'.*'rnn'"):
        TranslatorConfig(model=TINY, arch="cnn")
    with pytest.raises(ValueError, match=r"arch 'transformer' takes a TransformerConfig"):
        TranslatorConfig(model=TINY, arch="transformer")


def test_teacher_forcing_ratio_reaches_the_loss(tmp_path: Path, monkeypatch) -> None:
    seen: list[float] = []
    original = Seq2Seq.loss

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("teacher_forcing", 1.0))  # validation: teacher-forced
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Seq2Seq, "loss", spy)
    args = ["translate", "train", "--dataset", "dates", "--out", str(tmp_path / "m")]
    args += ["--train-size", "100", "--steps", "3", "--hidden", "8", "--embedding", "8"]
    args += ["--attention-dim", "8", "--batch-size", "8", "--no-progress"]
    assert main([*args, "--teacher-forcing", "0.25"]) == 0
    assert seen.count(0.25) == 3  # every training step
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["teacher_forcing"] == 0.25
    with pytest.raises(ValueError, match="teacher_forcing"):
        TranslatorConfig(model=TINY, teacher_forcing=1.5)


def test_training_refuses_to_overwrite_a_model(dates_model) -> None:
    with pytest.raises(FileExistsError, match="--resume"):
        train_dates(dates_model.path, steps=1)


# -- CLI -----------------------------------------------------------------------------------


def test_cli_train_tiny_dates(tmp_path: Path, capsys) -> None:
    out = tmp_path / "m"
    args = ["translate", "train", "--dataset", "dates", "--out", str(out), "--train-size", "300"]
    args += ["--steps", "20", "--hidden", "16", "--embedding", "8", "--attention-dim", "8"]
    args += ["--batch-size", "16", "--eval-every", "10", "--no-progress", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 20 and summary["tgt_vocab_size"] == 15
    assert summary["train_pairs"] == 300
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["hidden_size"] == 16 and cfg["level"] == "char"
    assert main(args) == 2  # the folder holds a model now
    assert "--resume" in capsys.readouterr().err


def test_cli_train_on_parallel_files(tmp_path: Path, capsys) -> None:
    words = ["cat", "dog", "bird", "fish"]
    pairs = [(f"{a} {b}", f"{b} {a}") for a in words for b in words]  # swap two words
    src = write(tmp_path / "t.src.gz", [s for s, _ in pairs] * 4, gz=True)
    tgt = write(tmp_path / "t.tgt", [t for _, t in pairs] * 4)
    out = tmp_path / "m"
    args = ["translate", "train", "--src", str(src), "--tgt", str(tgt), "--out", str(out)]
    args += ["--steps", "5", "--hidden", "16", "--embedding", "8", "--attention-dim", "8"]
    args += ["--no-progress", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["src_vocab_size"] == 2 + 4  # <PAD> <UNK> and the words
    assert json.loads((out / "config.json").read_text())["level"] == "word"
    test_src = write(tmp_path / "test.src", [s for s, _ in pairs])
    test_tgt = write(tmp_path / "test.tgt", [t for _, t in pairs])
    args = ["translate", "evaluate", str(out), "--src", str(test_src), "--tgt", str(test_tgt)]
    assert main([*args, "-k", "1", "-k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    tr = Translator.load(out)
    for entry in result["results"]:
        hyps = [t.text for t in tr.translate([s for s, _ in pairs], beam_size=entry["beam_size"])]
        expected = corpus_bleu(hyps, [[t for _, t in pairs]])
        assert entry["bleu"] == pytest.approx(expected.score) and "tok:13a" in entry["signature"]


def test_cli_train_evaluate_analyze_on_a_pairs_file(tmp_path: Path, capsys) -> None:
    words = ["cat", "dog", "bird", "fish"]
    lines = [f"{a} {b}\t{b} {a}\tCC-BY attribution" for a in words for b in words]
    tsv = write(tmp_path / "fra.txt", lines * 4)
    out = tmp_path / "m"
    args = ["translate", "train", "--pairs", str(tsv), "--out", str(out), "--reverse"]
    args += ["--steps", "3", "--hidden", "16", "--embedding", "8", "--attention-dim", "8"]
    assert main([*args, "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train_pairs"] == 63  # 64 pairs, every 50th held out
    tr = Translator.load(out)
    assert "attribution" not in tr.tgt_vocab and "CC-BY" not in tr.src_vocab
    test = write(tmp_path / "test.tsv", lines[:5])
    ev = ["translate", "evaluate", str(out), "--pairs", str(test), "--reverse", "-k", "1"]
    assert main([*ev, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    sources = [line.split("\t")[1] for line in lines[:5]]  # --reverse: column 2 is the source
    refs = [line.split("\t")[0] for line in lines[:5]]
    hyps = [t.text for t in tr.translate(sources)]
    assert result["examples"] == 5
    assert result["results"][0]["bleu"] == pytest.approx(corpus_bleu(hyps, [refs]).score)
    an = ["translate", "analyze", str(out), "--pairs", str(test), "--reverse", "--json"]
    assert main(an) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 5
    # a reference word the model never saw: <UNK> in ids, never "correct", the model's fault
    (best,) = tr.translate(["cat dog"], beam_size=3)
    refs = [f"{best.text} zebra", best.text]
    unseen = write(tmp_path / "unseen.tsv", [f"{refs[0]}\tcat dog"])
    rows = tr.analyze(["cat dog"] * 2, refs, beam_size=3).rows
    assert [r.reference_oov for r in rows] == [True, False]
    assert rows[0].verdict == "model" and rows[0].reference_text == refs[0]
    assert rows[1].verdict == ("correct" if best.candidates[0].finished else "model")
    # both lines in one file: one source with two references, compared with the one it
    # can emit (and equals, when it finished)
    both = write(tmp_path / "both.tsv", [f"{r}\tcat dog" for r in refs])
    an = ["translate", "analyze", str(out), "--pairs", str(both), "--reverse", "--json"]
    assert main(an) == 0
    grouped = json.loads(capsys.readouterr().out)
    assert grouped["examples"] == 1 and grouped["reference_oov"] == 0
    assert grouped["correct"] == int(best.candidates[0].finished)
    an = ["translate", "analyze", str(out), "--pairs", str(unseen), "--reverse", "--json"]
    assert main(an) == 0
    assert json.loads(capsys.readouterr().out)["reference_oov"] == 1
    assert main(an[:-1]) == 0  # the table (wrong rows only) ends with the OOV footnote
    table = capsys.readouterr().out
    assert table.rstrip().endswith("(1 examples): the model's fault") and " *\n" in table


def test_train_on_a_list_of_pairs_holds_out_every_50th(tmp_path: Path) -> None:
    pairs = [(f"w{i}", f"v{i}") for i in range(100)]
    config = TranslatorConfig(model=TINY, level="word")
    tr, result = Translator.train(
        pairs, tmp_path / "m", config, TrainConfig(max_steps=2, progress=False)
    )
    assert result.steps == 2 and result.best_valid is not None
    # pairs 49 and 99 validate, the 98 others train
    held = {f"w{i}" for i in range(100)} - set(tr.src_vocab)
    assert held == {"w49", "w99"}


def test_read_pairs_tatoeba_layout(tmp_path: Path) -> None:
    lines = [
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #1158250",
        "",
        "Hi.\tSalut !",
    ]
    path = write(tmp_path / "fra.txt.gz", lines, gz=True)
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut !")]
    assert read_pairs(path, reverse=True) == [("Va !", "Go."), ("Salut !", "Hi.")]
    with pytest.raises(DataError, match=r"bad\.tsv:2: line has no tab") as err:
        read_pairs(write(tmp_path / "bad.tsv", ["a\tb", "c d"]))
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match=r"half\.tsv:1: the target side of the line is empty"):
        read_pairs(write(tmp_path / "half.tsv", ["a\t  \tx"]))
    with pytest.raises(DataError, match="no sentence pairs"):
        read_pairs(write(tmp_path / "blank.tsv", ["", " "]))


def test_from_pairs_holds_out_pairs_spread_over_the_file(tmp_path: Path) -> None:
    # a file sorted by length, as Tatoeba's: the held-out pairs are not all the longest
    lines = [f"{' '.join(['a'] * (1 + i // 20))}\t{i}" for i in range(200)]
    corpus = ParallelCorpus.from_pairs(write(tmp_path / "p.tsv", lines))
    assert len(corpus.valid) == 4 and len(corpus.train) == 196
    assert [t for _, t in corpus.valid] == ["49", "99", "149", "199"]
    valid = write(tmp_path / "v.tsv", ["x\ty"])
    assert ParallelCorpus.from_pairs(tmp_path / "p.tsv", valid=valid).valid == [("x", "y")]
    assert len(ParallelCorpus.from_pairs(tmp_path / "p.tsv", valid=valid).train) == 200


def test_cli_decode_arguments_stdin_json_heatmap(
    dates_model, tmp_path: Path, capsys, monkeypatch
) -> None:
    d = str(dates_model.path)
    expected = [t.text for t in dates_model.translate(SAMPLES)]
    assert main(["translate", "decode", d, *SAMPLES]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(SAMPLES) + "\n\n"))
    assert main(["translate", "decode", d, "--beam", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    lines = write(tmp_path / "in.txt", SAMPLES[:2])
    assert main(["translate", "decode", d, "-i", str(lines), "--beam", "4", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    beam4 = dates_model.translate(SAMPLES[:2], beam_size=4)
    assert [p["translation"] for p in payload] == [t.text for t in beam4]
    assert main(["translate", "decode", d, "3 May 1979", "--beam", "3", "--n-best", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    png = tmp_path / "att.png"
    assert main(["translate", "decode", d, "3 May 1979", "--heatmap", str(png)]) == 0
    assert str(png) in capsys.readouterr().err
    amap = dates_model.attention("3 May 1979")
    assert png_size(png) == (
        round(120 * max(4, 1.8 + 0.32 * 10)),
        round(120 * max(3, 1.4 + 0.32 * len(amap.output_tokens))),
    )
    deep = tmp_path / "new" / "dir" / "att.png"  # missing folders are created (mkdir -p)
    assert main(["translate", "decode", d, *SAMPLES[:2], "--heatmap", str(deep)]) == 0
    assert (deep.parent / "att-1.png").is_file() and (deep.parent / "att-2.png").is_file()


def test_cli_evaluate_and_analyze(dates_model, tmp_path: Path, capsys) -> None:
    d = str(dates_model.path)
    assert main(["translate", "evaluate", d, "--beam", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["examples"] == dates.TEST_SIZE
    assert (
        result["results"][0]["exact_match"] == dates_model.evaluate()["results"][0]["exact_match"]
    )
    test = dates.test_pairs(30)
    src = write(tmp_path / "t.src", [s for s, _ in test])
    tgt = write(tmp_path / "t.tgt", [t for _, t in test])
    csv = tmp_path / "new" / "errors.csv"  # its missing folder is created (mkdir -p)
    args = ["translate", "analyze", d, "--src", str(src), "--tgt", str(tgt), "--beam", "3"]
    assert main([*args, "--csv", str(csv), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["examples"] == 30
    assert summary["search_errors"] + summary["model_errors"] == summary["errors"]
    with csv.open(newline="") as f:
        rows = list(csv_module.reader(f))
    assert len(rows) == 31 and rows[0][0] == "source"
    assert [r[0] for r in rows[1:]] == [s for s, _ in test]
    assert [r[1] for r in rows[1:]] == [t for _, t in test]
    assert main(args) == 0
    assert "At fault" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["translate", "decode", "{tmp}/none", "3 May 1979"], "no config.json"),
        (["translate", "evaluate", "{tmp}/none"], "no config.json"),
        (
            [
                "translate",
                "train",
                "--src",
                "{tmp}/a.en",
                "--tgt",
                "{tmp}/b.fr",
                "--out",
                "{tmp}/o",
            ],
            "a.en: 3 lines, but",
        ),
        (["translate", "train", "--out", "{tmp}/o"], "exactly one of"),
        (
            ["translate", "train", "--dataset", "dates", "--pairs", "{tmp}/p.tsv", "-o", "{tmp}/o"],
            "exactly one of",
        ),
        (
            ["translate", "train", "--pairs", "{tmp}/p.tsv", "--out", "{tmp}/o"],
            "p.tsv:2: line has no tab",
        ),
        (
            ["translate", "train", "--dataset", "dates", "--reverse", "-o", "{tmp}/o"],
            "go with --pairs",
        ),
        (
            ["translate", "evaluate", "{model}", "--pairs", "{tmp}/p.tsv", "--src", "{tmp}/a.en"],
            "not both",
        ),
        (["translate", "train", "--dataset", "nope", "--out", "{tmp}/o"], "unknown dataset"),
        (["translate", "decode", "{model}", "-i", "{tmp}/empty.txt"], "empty.txt: file is empty"),
        (["translate", "decode", "{model}", "-i", "{tmp}/blank.txt"], "only whitespace"),
        (
            ["translate", "decode", "{model}", "x", "--beam", "2", "--n-best", "3"],
            "need --beam >= 1 and 1 <= --n-best <= --beam, got --beam=2, --n-best=3",
        ),
        (["translate", "evaluate", "{model}", "--src", "{tmp}/a.en"], "both --src and --tgt"),
        (
            ["translate", "decode", "{model}", "x", "--early-stopping", "yes"],
            "--early-stopping must be never, true or false, got 'yes'",
        ),
        (["translate", "decode", "{model}", ""], "every sentence given is empty"),
        (
            ["translate", "decode", "{model}", "x", "--heatmap", "{tmp}/a.en/dir/h.png"],
            "the folder {tmp}/a.en/dir cannot be created: {tmp}/a.en is a file",
        ),
        (["translate", "decode", "{model}", "x", "--heatmap", "{tmp}"], "is a folder"),
        (
            ["translate", "analyze", "{model}", "--csv", "{tmp}/a.en/e.csv"],
            "the folder {tmp}/a.en exists and is not a folder",
        ),
    ],
)
def test_cli_bad_input_one_line_exit_2(
    dates_model, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    write(tmp_path / "a.en", ["x", "y", "z"])
    write(tmp_path / "b.fr", ["x", "y"])
    write(tmp_path / "p.tsv", ["x\ty", "z"])
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n  \n")
    code = main([a.format(tmp=tmp_path, model=dates_model.path) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    message = message.format(tmp=tmp_path)
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_cli_decode_empty_stdin_exits_2(dates_model, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n\n"))
    assert main(["translate", "decode", str(dates_model.path)]) == 2
    assert "stdin: nothing to translate" in capsys.readouterr().err


def test_subprocess_decode(dates_model) -> None:
    cmd = [sys.executable, "-m", "seqlab", "translate", "decode", str(dates_model.path), "-k", "2"]
    proc = subprocess.run(cmd, input="3 May 1979\n", capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == dates_model.translate("3 May 1979", beam_size=2)[0].text


def test_load_names_what_is_wrong_with_a_model_directory(dates_model, tmp_path: Path) -> None:
    root = dates_model.save(tmp_path / "m")
    cfg = root / "config.json"
    raw = json.loads(cfg.read_text())
    cfg.write_text(json.dumps(raw | {"task": "language_model"}))
    with pytest.raises(DataError, match="a 'language_model' model, not a translator"):
        Translator.load(root)
    cfg.write_text(json.dumps(raw | {"teacher_forcing": 2.0}))
    with pytest.raises(DataError, match="not a translator config"):
        Translator.load(root)
    bigger = raw | {"model": raw["model"] | {"hidden_size": raw["model"]["hidden_size"] + 1}}
    cfg.write_text(json.dumps(bigger))
    with pytest.raises(DataError, match=r"weights do not match config\.json"):
        Translator.load(root)
    (root / "model.safetensors").unlink()
    with pytest.raises(DataError, match=r"no model\.safetensors") as info:
        Translator.load(root)
    assert "seqlab translate train" in info.value.hint


# -- several references per source ------------------------------------------------------------


def test_group_by_source_keeps_order_and_every_distinct_translation() -> None:
    pairs = [("Run!", "Cours !"), ("Hi.", "Salut !"), ("Run!", "Fuyez !"), ("Run!", "Cours !")]
    assert group_by_source(pairs) == (["Run!", "Hi."], [["Cours !", "Fuyez !"], ["Salut !"]])


def test_exact_match_and_bleu_use_every_reference(dates_model) -> None:
    test = dates.test_pairs()[:60]
    sources = [s for s, _ in test]
    outputs = [t.text for t in dates_model.translate(sources)]
    right = [t for _, t in test]
    decoy = ["1111-11-11"] * len(test)
    alone = dates_model.evaluate(sources, right, bleu=True)["results"][0]
    wrong = dates_model.evaluate(sources, decoy, bleu=True)["results"][0]
    both = dates_model.evaluate(sources, [[d, r] for d, r in zip(decoy, right, strict=True)],
                                bleu=True)  # fmt: skip
    assert both["references"] == 2 * len(test) and both["examples"] == len(test)
    entry = both["results"][0]
    assert wrong["exact_match"] == 0.0
    assert entry["exact_match"] == alone["exact_match"] > 0.5  # a hit on any reference counts
    # BLEU over two reference streams, as sacreBLEU computes it
    import sacrebleu  # a test dependency: missing, it fails here rather than skip

    expected = sacrebleu.corpus_bleu(outputs, [decoy, right]).score
    assert entry["bleu"] == pytest.approx(expected, abs=1e-8)
    assert all(
        e["reference"] == "1111-11-11" and len(e["references"]) == 2 for e in entry["errors"]
    )
    # a source with fewer references than another: the missing one is left out, not empty
    ragged = [[r] if i % 2 else [d, r] for i, (d, r) in enumerate(zip(decoy, right, strict=True))]
    got = dates_model.evaluate(sources, ragged, bleu=True)["results"][0]["bleu"]
    streams = [[d if i % 2 == 0 else None for i, d in enumerate(decoy)], right]
    assert got == pytest.approx(corpus_bleu(outputs, streams).score, abs=1e-8)


def test_analysis_is_right_when_the_output_equals_any_reference(dates_model) -> None:
    test = dates.test_pairs()[:40]
    sources = [s for s, _ in test]
    single = dates_model.analyze(sources, [t for _, t in test], beam_size=2)
    # the decoy is no date (month 99), so the model prefers the true reference: the generator
    # writes years 1000-2999, and a decoy such as 1111-11-11 is a date it may well prefer
    multi = dates_model.analyze(sources, [["9999-99-99", t] for _, t in test], beam_size=2)
    assert multi.count("correct") == single.count("correct") > 0
    assert [r.reference for r in multi.rows] == [r.reference for r in single.rows]


def test_cli_evaluate_pairs_groups_references_by_source(dates_model, tmp_path: Path, capsys):
    test = dates.test_pairs()[:20]
    lines = [f"{s}\t1111-11-11" for s, _ in test] + [f"{s}\t{t}" for s, t in test]
    (tmp_path / "test.tsv").write_text("\n".join(lines) + "\n")
    model = dates_model.save(tmp_path / "model")  # its own copy: other tests move .path
    assert main(["translate", "evaluate", str(model), "--pairs",
                 str(tmp_path / "test.tsv"), "-k", "1", "--json"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["examples"] == 20 and result["references"] == 40
    assert result["results"][0]["exact_match"] > 0.5
