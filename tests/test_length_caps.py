"""Per-input length caps (fairseq's max_len_a / max_len_b): every search stops input i at
min(max_length, floor(a·|x_i| + b)) tokens, and beam search's exact stop bounds a live beam
by its own row's cap (log P / L_i^α), so short inputs stop sooner.

References: the frozen oracle (``tests/reference/beam_reference.py``, which knows one
``max_length`` only) run row by row with that row's cap; brute-force enumeration of every
output up to the row's cap; greedy search one row at a time.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import pytest
import torch

from seqlab.decoding import (
    Sampling,
    SearchConfig,
    beam_search,
    greedy_search,
    sample_search,
    search,
)
from seqlab.models.seq2seq import Seq2SeqConfig
from seqlab.tasks.translator import ParallelCorpus, Translator, TranslatorConfig
from tests.reference.beam_reference import reference_beam_search
from tests.test_beam_exact import _seq2seq
from tests.test_decoding import (
    BOS,
    EOS,
    TableModel,
    assert_same_hypotheses,
    brute_force,
    random_table,
)


def _reference_row_by_row(
    model: Any, states: list[Any], caps: list[int], **kw: Any
) -> list[list[Any]]:
    """The oracle on each row alone, with that row's cap as its max_length."""
    return [
        reference_beam_search(model, state, batch_size=1, max_length=cap, **kw)[0]
        for state, cap in zip(states, caps, strict=True)
    ]


@pytest.mark.parametrize("block", range(2))
def test_beam_with_row_caps_equals_the_reference_row_by_row(block: int) -> None:
    changed = 0
    for seed in range(block * 100, block * 100 + 100):
        rng = random.Random(seed)
        V, K = rng.choice([3, 4, 6, 9]), rng.choice([1, 2, 3, 5])
        table = random_table(V, seed, eos_bias=rng.choice([-2.0, 0.0, 1.0]))
        sources = [rng.randint(0, 50) for _ in range(rng.randint(1, 5))]
        max_length = rng.choice([3, 6, 9])
        caps = [rng.randint(1, 10) for _ in sources]  # some above max_length: min applies
        kw = {"beam_size": K, "n_best": rng.randint(1, K), "bos_id": BOS, "eos_id": EOS}
        kw["alpha"] = rng.choice([0.0, 0.7, 1.0])
        fast = TableModel(V, table)
        got = beam_search(
            fast,
            fast.init_state(sources),
            batch_size=len(sources),
            max_length=max_length,
            max_lengths=caps,
            **kw,
        )
        ref = TableModel(V, table)
        rows = [ref.init_state([s]) for s in sources]
        want = _reference_row_by_row(ref, rows, [min(c, max_length) for c in caps], **kw)
        assert got == want, f"seed {seed}"
        one_cap = TableModel(V, table)
        glob = beam_search(
            one_cap,
            one_cap.init_state(sources),
            batch_size=len(sources),
            max_length=max_length,
            **kw,
        )
        changed += sum(g != w for g, w in zip(glob, want, strict=True))
    # the caps matter (not a vacuous comparison): 98 and 103 of ~305 rows, found by running
    assert changed > 50


def test_an_exhaustive_beam_with_row_caps_finds_each_rows_best_output() -> None:
    V, alpha = 4, 0.7
    caps = [2, 5, 3, 1]
    K = (V - 1) ** (max(caps) - 1)  # every prefix stays in the beam: the search is exact
    for seed in range(3):
        table = random_table(V, 100 + seed, eos_bias=0.5)
        model = TableModel(V, table)
        got = beam_search(
            model,
            model.init_state([0, 1, 2, 3]),
            batch_size=4,
            beam_size=K,
            bos_id=BOS,
            eos_id=EOS,
            max_length=6,
            max_lengths=caps,
            alpha=alpha,
        )
        for src, cap in enumerate(caps):
            assert got[src][0] == brute_force(table, src, V, cap, alpha)[0]
            assert got[src][0].length <= cap


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_beam_with_row_caps_equals_the_reference_on_seq2seq_models(alpha: float) -> None:
    for seed in range(2):
        model = _seq2seq(seed)
        g = torch.Generator().manual_seed(seed)
        src = torch.randint(3, 12, (6, 7), generator=g)  # (B, T)
        lengths = torch.tensor([7, 3, 5, 1, 7, 6])  # (B,)
        config = SearchConfig(max_length=12, max_length_a=1.5, max_length_b=1)
        caps = config.length_caps(lengths.tolist())
        assert caps == [11, 5, 8, 2, 11, 10]
        for K, n_best in [(2, 1), (4, 3)]:
            kw = {"beam_size": K, "n_best": n_best, "bos_id": BOS, "eos_id": EOS, "alpha": alpha}
            got = beam_search(
                model, model.init_state(src, lengths), batch_size=6, max_length=12,
                max_lengths=caps, **kw,
            )  # fmt: skip
            rows = [model.init_state(src[i : i + 1], lengths[i : i + 1]) for i in range(6)]
            want = _reference_row_by_row(model, rows, caps, **kw)
            for row, (g_row, w_row) in enumerate(zip(got, want, strict=True)):
                # the same tokens; log P to rounding (a GEMM's last bits depend on its rows)
                assert_same_hypotheses(g_row, w_row)
                assert all(h.length <= caps[row] for h in g_row)


def test_greedy_with_row_caps_equals_greedy_row_by_row() -> None:
    V, sources, caps = 6, [0, 1, 2, 3, 4], [1, 4, 2, 7, 3]
    table = random_table(V, 10, eos_bias=-2.0)  # long outputs: the caps cut every row
    model = TableModel(V, table)
    kw: dict[str, Any] = {"bos_id": BOS, "eos_id": EOS, "alpha": 0.7}
    got = greedy_search(
        model, model.init_state(sources), batch_size=5, max_length=6, max_lengths=caps, **kw
    )
    for src, cap, hyp in zip(sources, caps, got, strict=True):
        one = TableModel(V, table)
        alone = greedy_search(
            one, one.init_state([src]), batch_size=1, max_length=min(cap, 6), **kw
        )[0]
        assert hyp == alone
    # every row cut at its cap (6: the global one; found by running this table)
    assert [(h.length, h.finished) for h in got] == [(c, False) for c in [1, 4, 2, 6, 3]]
    assert model.rows_per_call == [5, 4, 3, 2, 1, 1]  # each row leaves at its cap


def test_length_caps_follow_the_formula() -> None:
    config = SearchConfig(max_length=30, max_length_a=1.2, max_length_b=3.5)
    lengths = [0, 1, 5, 10, 40]
    want = [min(30, max(1, math.floor(1.2 * n + 3.5))) for n in lengths]
    assert config.length_caps(lengths) == want == [3, 4, 9, 15, 30]
    assert SearchConfig(max_length=7).length_caps([1, 99]) == [7, 7]
    assert SearchConfig(max_length=9, max_length_a=0.0, max_length_b=0).length_caps([5]) == [1]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_length_a": -1.0}, "max_length_a"),
        ({"max_length_a": "2"}, "max_length_a"),
        ({"max_length_a": 1.0, "max_length_b": None}, "max_length_b"),
    ],
)
def test_bad_caps_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchConfig(max_length=5, **fields)


def test_missing_lengths_are_refused() -> None:
    model = TableModel(4, random_table(4, 0))
    config = SearchConfig(max_length=5, max_length_a=1.0)
    with pytest.raises(ValueError, match="source_lengths"):
        search(model, model.init_state, 2, config, bos_id=BOS, eos_id=EOS)
    with pytest.raises(ValueError, match="max_lengths has 1 caps for a batch of 2"):
        beam_search(
            model, model.init_state([0, 1]), batch_size=2, beam_size=2, bos_id=BOS,
            eos_id=EOS, max_length=4, max_lengths=[3],
        )  # fmt: skip


def test_sampling_with_row_caps_equals_sampling_row_by_row() -> None:
    V, sources, caps = 6, [0, 1, 2, 3, 4], [1, 4, 2, 7, 3]
    table = random_table(V, 10, eos_bias=-2.0)  # long outputs: the caps cut most rows
    kw: dict[str, Any] = {"bos_id": BOS, "eos_id": EOS, "alpha": 0.7}
    # top_k = 1: the draw is the row's arg max, so a row's output is its own, batch or not
    model = TableModel(V, table)
    got = sample_search(
        model, model.init_state(sources), batch_size=5, max_length=6, max_lengths=caps,
        top_k=1, **kw,
    )  # fmt: skip
    for src, cap, hyp in zip(sources, caps, got, strict=True):
        one = TableModel(V, table)
        alone = sample_search(
            one, one.init_state([src]), batch_size=1, max_length=min(cap, 6), top_k=1, **kw
        )[0]
        assert hyp == alone
    assert [(h.length, h.finished) for h in got] == [(c, False) for c in [1, 4, 2, 6, 3]]
    assert model.rows_per_call == [5, 4, 3, 2, 1, 1]  # each row leaves at its cap
    # real draws: a row alone draws the same tokens under its cap as under max_length = cap
    for seed in range(20):
        src, cap = sources[seed % 5], caps[seed % 5]
        one, two = TableModel(V, table), TableModel(V, table)
        by_cap = sample_search(
            one, one.init_state([src]), batch_size=1, max_length=9, max_lengths=[cap],
            generator=torch.Generator().manual_seed(seed), **kw,
        )  # fmt: skip
        by_max = sample_search(
            two, two.init_state([src]), batch_size=1, max_length=cap,
            generator=torch.Generator().manual_seed(seed), **kw,
        )  # fmt: skip
        assert by_cap == by_max
    # and in a batch: every row within its cap, an unfinished row cut exactly there
    cut = 0
    for seed in range(20):
        model = TableModel(V, table)
        drawn = sample_search(
            model, model.init_state(sources), batch_size=5, max_length=9, max_lengths=caps,
            generator=torch.Generator().manual_seed(seed), **kw,
        )  # fmt: skip
        for cap, h in zip(caps, drawn, strict=True):
            assert h.length <= cap and (h.finished or h.length == cap)
            cut += not h.finished and cap < 9
        live = [sum(h.length >= t for h in drawn) for t in range(1, 8)]
        assert model.rows_per_call == [n for n in live if n]  # a row leaves when it ends
    assert cut > 50  # the caps cut rows (not vacuous): 87 of 100 by running


def test_the_driver_gives_sampling_each_rows_cap() -> None:
    V, sources, lengths = 6, [3, 0, 7, 5, 2], [1, 4, 2, 0, 3]
    table = random_table(V, 2, eos_bias=-2.0)
    sampling = Sampling(top_k=1)  # deterministic draws: comparable row by row
    config = SearchConfig(
        max_length=6, max_length_a=1.0, max_length_b=1.0, sampling=sampling, batch_size=2
    )
    model = TableModel(V, table)
    got = search(
        model,
        lambda rows: model.init_state([sources[r] for r in rows]),
        5,
        config,
        bos_id=BOS,
        eos_id=EOS,
        source_lengths=lengths,
    )
    caps = [2, 5, 3, 1, 4]
    for src, cap, hyps in zip(sources, caps, got, strict=True):
        one = TableModel(V, table)
        alone = replace(config, max_length=cap, max_length_a=None)
        want = search(
            one, lambda _, m=one, s=src: m.init_state([s]), 1, alone, bos_id=BOS, eos_id=EOS
        )
        assert hyps == want[0]
        assert hyps[0].length <= cap


@pytest.mark.parametrize("beam", [1, 3])
def test_the_driver_gives_each_batch_its_rows_caps(beam: int) -> None:
    V, sources, lengths = 6, [3, 0, 7, 5, 2], [1, 4, 2, 0, 3]
    table = random_table(V, 2, eos_bias=-0.5)
    config = SearchConfig(max_length=6, beam_size=beam, max_length_a=1.0, max_length_b=1.0)
    model = TableModel(V, table)
    got = search(
        model,
        lambda rows: model.init_state([sources[r] for r in rows]),
        5,
        replace(config, batch_size=2),  # batches [0, 1], [2, 3], [4]
        bos_id=BOS,
        eos_id=EOS,
        source_lengths=lengths,
    )
    caps = [2, 5, 3, 1, 4]
    assert config.length_caps(lengths) == caps
    for src, cap, hyps in zip(sources, caps, got, strict=True):
        one = TableModel(V, table)
        alone = replace(config, max_length=cap, max_length_a=None)
        want = search(
            one, lambda _, m=one, s=src: m.init_state([s]), 1, alone, bos_id=BOS, eos_id=EOS
        )
        assert hyps == want[0]


def test_row_caps_save_decoder_rows_with_the_same_outputs_when_nothing_reaches_them() -> None:
    V, sources = 6, list(range(12))
    table = random_table(V, 5, eos_bias=2.0)  # short outputs: no cap of 8+ is reached
    kw: dict[str, Any] = {"batch_size": 12, "beam_size": 4, "bos_id": BOS, "eos_id": EOS}
    loose, tight = TableModel(V, table), TableModel(V, table)
    want = beam_search(loose, loose.init_state(sources), max_length=30, **kw)
    caps = [8 + s % 3 for s in sources]
    got = beam_search(tight, tight.init_state(sources), max_length=30, max_lengths=caps, **kw)
    assert got == want
    assert max(h.length for row in want for h in row) < 8
    # the tighter bound log P / L^α stops the rows sooner: 91 rows against 284 (by running)
    assert sum(tight.rows_per_call) < 0.5 * sum(loose.rows_per_call)


# -- the translator's default cap --------------------------------------------------------


def _pairs() -> list[tuple[str, str]]:
    words = "a b c d e f g h".split()
    rng = random.Random(0)
    out = []
    for _ in range(60):
        n = rng.randint(1, 6)
        src = " ".join(rng.choice(words) for _ in range(n))
        tgt = " ".join(rng.choice(words) for _ in range(rng.randint(1, 2 * n)))
        out.append((src, tgt))
    return out


TINY = TranslatorConfig(
    level="word",
    model=Seq2SeqConfig(
        src_vocab_size=2, tgt_vocab_size=2, embedding_dim=16, hidden_size=32, attention_dim=16
    ),
)


def test_the_translator_sets_its_length_ratio_from_the_training_pairs() -> None:
    pairs = _pairs()
    tr, _ = Translator.build(ParallelCorpus(pairs, [], None, "pairs"), TINY)
    ratio = max(len(t.split()) / len(s.split()) for s, t in pairs)
    assert tr.config.max_output_ratio == math.ceil(ratio * 100) / 100 > 1.0
    config = tr._search_config(beam_size=2)
    assert (config.max_length_a, config.max_length_b) == (tr.config.max_output_ratio, 10)
    assert tr._search_config(sampling=Sampling()).max_length_a == tr.config.max_output_ratio
    # every output within floor(ratio·|x|) + 10 tokens, greedy, beam and sampling alike (the
    # untrained model rarely ends on its own, so most outputs run to their cap)
    sources = ["a", "b c", "d e f g h a"]
    for beam, sample in ((1, False), (2, False), (1, True)):
        outs = tr.translate(sources, beam_size=beam, sample=sample, seed=0)
        for s, out in zip(sources, outs, strict=True):
            cap = math.floor(tr.config.max_output_ratio * len(s.split())) + 10
            assert len(out.candidates[0].tokens) <= cap
    # a model saved before the ratio existed decodes with the global cap only
    old_config = replace(tr.config, max_output_ratio=None)
    old = Translator(tr.model, tr.src_vocab, tr.tgt_vocab, old_config)
    assert old._search_config().max_length_a is None
