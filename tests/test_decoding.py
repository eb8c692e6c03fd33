"""Greedy, sampling and beam search, teacher-forced scoring and beam-search error analysis.

Built on hand-built score tables (OpenNMT-py's ``test_beam_search.py`` style): a
:class:`TableModel` returns log-probabilities looked up by (source row, emitted prefix), so
every expected result can be computed straight from the table, by hand or by enumerating all
outputs. Properties:

* consistency: beam size 1 is greedy; batched equals one row at a time; the real
  ``RNNLanguageModel`` gives the same hypotheses and scores as teacher forcing;
* brute force: an exhaustive beam finds the best outputs under the length normalisation;
* golden tables: the course's "Jane is visiting Africa in September" (greedy wrong, beam
  right), EOS and max_length handling, and error-analysis verdicts.
"""

from __future__ import annotations

import csv
import itertools
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor

from seqlab.decoding import (
    ErrorAnalysis,
    Hypothesis,
    NBestList,
    Sampling,
    SearchConfig,
    StepModel,
    analyze_errors,
    beam_search,
    format_table,
    greedy_search,
    normalized_score,
    sample_search,
    search,
    select_rows,
    sequence_log_prob,
    write_csv,
)
from seqlab.models.rnn_lm import LMConfig, RNNLanguageModel

BOS, EOS = 0, 1
Table = Callable[[int, tuple[int, ...]], list[float]]  # (source, prefix) -> log P(next) (V,)


class TableModel:
    """A step model whose log-probabilities come from a table of (source, emitted prefix).

    The state is ``{"src": (B,), "prefix": (B, t)}``: the tokens read so far, ``<BOS>``
    first. It counts how many rows each ``step`` call receives.
    """

    def __init__(self, vocab_size: int, table: Table) -> None:
        self.vocab_size = vocab_size
        self.table = table
        self.rows_per_call: list[int] = []

    def init_state(self, sources: list[int]) -> dict[str, Tensor]:
        return {
            "src": torch.tensor(sources, dtype=torch.long),
            "prefix": torch.empty((len(sources), 0), dtype=torch.long),
        }

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        self.rows_per_call.append(tokens.numel())
        prefix = torch.cat([state["prefix"], tokens[:, None]], 1)  # (B, t+1)
        rows = [
            self.table(src, tuple(p[1:]))
            for src, p in zip(state["src"].tolist(), prefix.tolist(), strict=True)
        ]
        return torch.tensor(rows, dtype=torch.float64), {"src": state["src"], "prefix": prefix}

    def reorder_state(self, state: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
        return select_rows(state, index, 0)


def random_table(vocab_size: int, seed: int, eos_bias: float = 0.0) -> Table:
    """A fixed random log-softmax row for every (source, prefix), cached."""
    cache: dict[tuple[int, tuple[int, ...]], list[float]] = {}

    def table(src: int, prefix: tuple[int, ...]) -> list[float]:
        key = (src, prefix)
        if key not in cache:
            g = torch.Generator().manual_seed(zlib.crc32(repr((seed, src, prefix)).encode()))
            logits = 2.0 * torch.randn(vocab_size, generator=g, dtype=torch.float64)
            logits[EOS] += eos_bias
            cache[key] = logits.log_softmax(0).tolist()
        return cache[key]

    return table


def hand_table(
    vocab_size: int,
    rows: dict[tuple[int, ...], dict[int, float]],
    default: dict[int, float],
) -> Table:
    """Probabilities given per prefix; the remaining mass is spread over the other tokens."""

    def table(src: int, prefix: tuple[int, ...]) -> list[float]:
        del src
        given = rows.get(prefix, default)
        rest = (1.0 - sum(given.values())) / (vocab_size - len(given))
        return [math.log(given.get(tok, rest)) for tok in range(vocab_size)]

    return table


def table_log_prob(table: Table, src: int, tokens: list[int], finished: bool) -> float:
    """Σ log P straight from the table: the independent reference for every score."""
    total = sum(table(src, tuple(tokens[:i]))[tok] for i, tok in enumerate(tokens))
    return total + (table(src, tuple(tokens))[EOS] if finished else 0.0)


def brute_force(
    table: Table, src: int, vocab_size: int, max_length: int, alpha: float
) -> list[Hypothesis]:
    """Every possible output (finished within max_length, or cut at it), best score first."""
    words = [tok for tok in range(vocab_size) if tok != EOS]
    out = []
    for length in range(max_length + 1):
        for seq in itertools.product(words, repeat=length):
            for finished in (True, False):
                if (length < max_length) != finished:
                    continue
                lp = table_log_prob(table, src, list(seq), finished)
                ty = length + int(finished)
                out.append(Hypothesis(list(seq), lp, lp / ty**alpha, finished))
    return sorted(out, key=lambda h: -h.score)


def best_by_branch_and_bound(
    table: Table, src: int, vocab_size: int, max_length: int, alpha: float
) -> list[int]:
    """The best output by depth-first search, skipping prefixes that cannot win.

    A prefix with log P = s <= 0 can reach at most s / max_length^α (log P only falls, Ty is
    at most max_length), so it is skipped once that is below the best score found.
    """
    best: tuple[float, list[int]] = (-math.inf, [])

    def visit(prefix: list[int], lp: float) -> None:
        nonlocal best
        if lp / max_length**alpha <= best[0]:
            return
        row = table(src, tuple(prefix))
        finished = (lp + row[EOS]) / (len(prefix) + 1) ** alpha
        if finished > best[0]:
            best = (finished, prefix)
        if len(prefix) == max_length - 1:  # the next token is the last one: a cut output
            for tok in range(vocab_size):
                cut = (lp + row[tok]) / max_length**alpha
                if tok != EOS and cut > best[0]:
                    best = (cut, [*prefix, tok])
            return
        for tok in sorted(range(vocab_size), key=lambda t: -row[t]):
            if tok != EOS:
                visit([*prefix, tok], lp + row[tok])

    visit([], 0.0)
    return best[1]


def greedy_by_hand(table: Table, src: int, max_length: int) -> list[int]:
    tokens: list[int] = []
    for _ in range(max_length):
        row = table(src, tuple(tokens))
        best = max(range(len(row)), key=row.__getitem__)
        if best == EOS:
            break
        tokens.append(best)
    return tokens


def assert_same_hypotheses(got: list[Hypothesis], want: list[Hypothesis]) -> None:
    assert [(h.tokens, h.finished) for h in got] == [(h.tokens, h.finished) for h in want]
    for g, w in zip(got, want, strict=True):
        assert g.log_prob == pytest.approx(w.log_prob, abs=1e-9)
        assert g.score == pytest.approx(w.score, abs=1e-9)


# -- the course's story: "Jane visite l'Afrique en septembre" ---------------------------------
WORDS = ["<BOS>", "<EOS>", "Jane", "is", "going", "visiting", "to", "Africa", "in", "September"]
W = {w: i for i, w in enumerate(WORDS)}


def ids(sentence: str) -> list[int]:
    return [W[w] for w in sentence.split()]


def text(tokens: list[int]) -> str:
    return " ".join(WORDS[t] for t in tokens)


JANE = hand_table(
    len(WORDS),
    {
        (): {W["Jane"]: 0.9},
        tuple(ids("Jane")): {W["is"]: 0.9},
        # greedy takes "going": the single most likely next word ...
        tuple(ids("Jane is")): {W["going"]: 0.45, W["visiting"]: 0.4},
        # ... but after it the model is unsure, while "visiting" leads on with confidence
        tuple(ids("Jane is going")): {W["to"]: 0.3},
        tuple(ids("Jane is visiting")): {W["Africa"]: 0.9},
        tuple(ids("Jane is visiting Africa")): {W["in"]: 0.6, EOS: 0.3},
        tuple(ids("Jane is visiting Africa in")): {W["September"]: 0.95},
        tuple(ids("Jane is visiting Africa in September")): {EOS: 0.95},
    },
    default={EOS: 0.3},
)


def jane_model() -> TableModel:
    return TableModel(len(WORDS), JANE)


# -- step protocol and state helpers ----------------------------------------------------------
class Pair(NamedTuple):
    h: Tensor
    c: Tensor


@dataclass(frozen=True)
class Nest:
    memory: Tensor
    extra: list[Any]
    name: str


def test_select_rows_reaches_every_tensor_and_keeps_the_nest() -> None:
    x = torch.arange(12).view(4, 3)  # (B, 3)
    state = {"pair": Pair(x, x + 100), "nest": Nest(x * 2, [x, None, 7], "keep"), "none": None}
    index = torch.tensor([2, 0, 2])
    got = select_rows(state, index, 0)
    assert isinstance(got["pair"], Pair)
    assert torch.equal(got["pair"].c, x[[2, 0, 2]] + 100)
    assert isinstance(got["nest"], Nest)
    assert torch.equal(got["nest"].memory, x[[2, 0, 2]] * 2)
    assert torch.equal(got["nest"].extra[0], x[[2, 0, 2]])
    assert got["nest"].extra[1:] == [None, 7] and got["nest"].name == "keep"
    assert got["none"] is None
    assert torch.equal(select_rows((x.T,), index, dim=1)[0], x.T[:, [2, 0, 2]])
    assert torch.equal(state["pair"].h, torch.arange(12).view(4, 3))  # input untouched


def test_models_follow_the_protocol() -> None:
    lm = RNNLanguageModel(LMConfig(vocab_size=5, embedding_dim=3, hidden_size=4, num_layers=1))
    assert isinstance(lm, StepModel)
    assert isinstance(jane_model(), StepModel)
    assert not isinstance(object(), StepModel)


def test_normalized_score_is_the_course_formula() -> None:
    assert normalized_score(-6.0, 3, 0.0) == -6.0  # raw sum
    assert normalized_score(-6.0, 3, 1.0) == -2.0  # mean per token
    assert normalized_score(-6.0, 4, 0.7) == pytest.approx(-6.0 / 4**0.7)
    with pytest.raises(ValueError, match="length"):
        normalized_score(-1.0, 0, 0.7)


def test_nbest_list_keeps_the_best_sorted_and_knows_when_it_is_done() -> None:
    nb = NBestList(2, alpha=1.0)
    nb.add([5], -4.0, finished=True)  # score -2
    nb.add([5, 6, 7], -2.0, finished=False)  # score -2/3
    nb.add([], -3.0, finished=True)  # score -3: worse than both, dropped
    assert [h.tokens for h in nb.hypotheses()] == [[5, 6, 7], [5]]
    assert nb.worst_score == -2.0
    # a live beam at log P = -9 can reach at best -9 / max_length: with 4, -2.25 < -2: done
    assert nb.is_done(-9.0, max_length=4, early_stopping=False)
    assert not nb.is_done(-9.0, max_length=5, early_stopping=False)  # -1.8 > -2
    assert NBestList(2, 1.0).is_done(-math.inf, 5, False)  # nothing left alive
    assert not NBestList(2, 1.0).is_done(-1.0, 5, True)  # not full yet


# -- greedy and beam size 1 -------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_greedy_is_the_arg_max_at_every_step(seed: int) -> None:
    table = random_table(6, seed, eos_bias=1.0)
    model = TableModel(6, table)
    got = greedy_search(
        model, model.init_state([0, 1, 2]), batch_size=3, bos_id=BOS, eos_id=EOS, max_length=7
    )
    for src, hyp in enumerate(got):
        tokens = greedy_by_hand(table, src, 7)
        finished = len(tokens) < 7
        lp = table_log_prob(table, src, tokens, finished)
        assert_same_hypotheses([hyp], [Hypothesis(tokens, lp, lp / hyp.length**0.7, finished)])


def test_greedy_never_chooses_a_banned_token() -> None:
    # token 3 is the most likely at every step; banned, the runner-up 4 wins, then <EOS>
    table = hand_table(6, {(): {3: 0.5, 4: 0.3}, (4,): {3: 0.6, EOS: 0.3}}, {EOS: 0.9})
    model = TableModel(6, table)
    kw: dict[str, Any] = {"batch_size": 1, "bos_id": BOS, "eos_id": EOS, "max_length": 5}
    assert greedy_search(model, model.init_state([0]), **kw)[0].tokens == [3]
    got = greedy_search(model, model.init_state([0]), banned_ids=[3], **kw)[0]
    assert got.tokens == [4] and got.finished
    assert got.log_prob == pytest.approx(math.log(0.3) + math.log(0.3))


@pytest.mark.parametrize(
    ("alpha", "early_stopping"), [(0.0, False), (0.0, True), (0.7, True), (1.0, True)]
)
@pytest.mark.parametrize("seed", range(4))
def test_beam_size_one_is_greedy(seed: int, alpha: float, early_stopping: bool) -> None:
    model = TableModel(6, random_table(6, seed, eos_bias=1.0))
    kw: dict[str, Any] = {"batch_size": 4, "bos_id": BOS, "eos_id": EOS, "max_length": 6}
    greedy = greedy_search(model, model.init_state([0, 1, 2, 3]), alpha=alpha, **kw)
    beam = beam_search(
        model,
        model.init_state([0, 1, 2, 3]),
        beam_size=1,
        alpha=alpha,
        early_stopping=early_stopping,
        **kw,
    )
    for g, b in zip(greedy, beam, strict=True):
        assert_same_hypotheses(b, [g])


# -- exhaustive beam = brute force ------------------------------------------------------------
@pytest.mark.parametrize(("L", "eos_bias", "n_best"), [(4, 0.0, 5), (6, 3.0, 2)])
@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_exhaustive_beam_equals_brute_force(
    seed: int, alpha: float, L: int, eos_bias: float, n_best: int
) -> None:
    V = 4
    table = random_table(V, seed, eos_bias=eos_bias)
    model = TableModel(V, table)
    # K = (V-1)^(L-1): the beam holds every unfinished prefix up to the last step, and the
    # last step keeps the K best cut outputs, so nothing that could win is pruned
    got = beam_search(
        model,
        model.init_state([0, 1]),
        batch_size=2,
        beam_size=(V - 1) ** (L - 1),
        bos_id=BOS,
        eos_id=EOS,
        max_length=L,
        alpha=alpha,
        n_best=n_best,
    )
    for src in (0, 1):
        want = brute_force(table, src, V, L, alpha)[:n_best]
        assert_same_hypotheses(got[src], want)
        assert best_by_branch_and_bound(table, src, V, L, alpha) == want[0].tokens
    if eos_bias:  # likely <EOS>: a row stops before max_length, and the stop is exact
        calls = model.rows_per_call
        # calls[0] is one <BOS> per row; later calls shrink as rows stop or beams are dropped
        assert len(calls) < L or calls[-1] < max(calls)


def test_length_normalisation_changes_the_winner() -> None:
    # "a a a" is likely token by token, the empty output is likely in one go
    V, a = 4, 2
    table = hand_table(
        V,
        {(): {a: 0.5, EOS: 0.45}, (a,): {a: 0.9}, (a, a): {a: 0.9}, (a, a, a): {EOS: 0.9}},
        default={EOS: 0.5},
    )
    model = TableModel(V, table)
    best = {}
    for alpha in (0.0, 1.0):
        got = beam_search(
            model,
            model.init_state([0]),
            batch_size=1,
            beam_size=3,
            bos_id=BOS,
            eos_id=EOS,
            max_length=6,
            alpha=alpha,
        )[0][0]
        assert_same_hypotheses([got], brute_force(table, 0, V, 6, alpha)[:1])
        best[alpha] = got.tokens
    assert best == {0.0: [], 1.0: [a, a, a]}  # unnormalised search prefers the short output


# -- the course's example: greedy is wrong, a beam of 2 is right ------------------------------
@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
def test_jane_greedy_is_wrong_and_beam_of_two_is_right(alpha: float) -> None:
    model = jane_model()
    kw: dict[str, Any] = {"batch_size": 1, "bos_id": BOS, "eos_id": EOS, "max_length": 8}
    greedy = greedy_search(model, model.init_state([0]), alpha=alpha, **kw)[0]
    beam = beam_search(model, model.init_state([0]), beam_size=2, alpha=alpha, **kw)[0][0]
    assert text(greedy.tokens) == "Jane is going to"
    assert text(beam.tokens) == "Jane is visiting Africa in September"
    assert beam.finished and beam.score > greedy.score
    want = math.log(0.9 * 0.9 * 0.4 * 0.9 * 0.6 * 0.95 * 0.95)
    assert beam.log_prob == pytest.approx(want, abs=1e-12)
    assert beam.score == pytest.approx(want / 7**alpha, abs=1e-12)  # Ty = 6 words + <EOS>
    # and it is the model's best output: the beam found the global optimum here
    assert best_by_branch_and_bound(JANE, 0, len(WORDS), 8, alpha) == beam.tokens


def test_nbest_lists_are_sorted_and_scored_from_the_table() -> None:
    V, L, K, alpha = 5, 5, 4, 0.7
    table = random_table(V, 11, eos_bias=0.5)
    model = TableModel(V, table)
    got = beam_search(
        model,
        model.init_state([0, 1, 2]),
        batch_size=3,
        beam_size=K,
        bos_id=BOS,
        eos_id=EOS,
        max_length=L,
        alpha=alpha,
        n_best=K,
    )
    for src, hyps in enumerate(got):
        assert len(hyps) == K
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({(tuple(h.tokens), h.finished) for h in hyps}) == K  # no duplicates
        for h in hyps:
            assert h.finished or len(h.tokens) == L
            assert EOS not in h.tokens and len(h.tokens) + h.finished <= L
            lp = table_log_prob(table, src, h.tokens, h.finished)
            assert h.log_prob == pytest.approx(lp, abs=1e-9)
            assert h.score == pytest.approx(lp / h.length**alpha, abs=1e-9)


@pytest.mark.parametrize("early_stopping", ["never", False, True])
def test_batched_beam_equals_one_row_at_a_time(early_stopping: bool | str) -> None:
    V, sources = 6, [3, 0, 7, 5]
    model = TableModel(V, random_table(V, 5, eos_bias=1.5))
    kw: dict[str, Any] = {
        "beam_size": 3,
        "n_best": 2,
        "bos_id": BOS,
        "eos_id": EOS,
        "max_length": 7,
        "alpha": 0.7,
        "early_stopping": early_stopping,
    }
    batched = beam_search(model, model.init_state(sources), batch_size=4, **kw)
    assert model.rows_per_call[:2] == [4, 4 * 3]  # one <BOS> per row, then K beams per row
    assert len(model.rows_per_call) <= 7  # one call per step, rows shrink as they finish
    for row, src in enumerate(sources):
        alone = beam_search(model, model.init_state([src]), batch_size=1, **kw)
        assert_same_hypotheses(batched[row], alone[0])


# -- <EOS> and max_length ---------------------------------------------------------------------
def test_eos_first_gives_an_empty_finished_output() -> None:
    V = 4
    table = hand_table(V, {(): {EOS: 0.7}}, default={EOS: 0.5})
    model = TableModel(V, table)
    kw: dict[str, Any] = {"batch_size": 2, "bos_id": BOS, "eos_id": EOS, "max_length": 5}
    for hyp in [
        *greedy_search(model, model.init_state([0, 1]), **kw),
        *(b[0] for b in beam_search(model, model.init_state([0, 1]), beam_size=2, **kw)),
    ]:
        assert hyp == Hypothesis([], math.log(0.7), math.log(0.7), True)


@pytest.mark.parametrize("max_length", [1, 3])
def test_max_length_cuts_unfinished_outputs(max_length: int) -> None:
    V, alpha = 4, 0.7
    table = random_table(V, 3, eos_bias=-30.0)  # <EOS> is (almost) never likely
    model = TableModel(V, table)
    kw: dict[str, Any] = {"bos_id": BOS, "eos_id": EOS, "max_length": max_length, "alpha": alpha}
    greedy = greedy_search(model, model.init_state([0, 1]), batch_size=2, **kw)
    # K = 3^(max_length-1): every prefix before the cut stays live, so the cut is exact
    beams = beam_search(model, model.init_state([0, 1]), batch_size=2, beam_size=9, n_best=3, **kw)
    for src in (0, 1):
        want = brute_force(table, src, V, max_length, alpha)
        assert not want[0].finished
        assert_same_hypotheses(beams[src], want[:3])
        if max_length == 1:
            assert_same_hypotheses([greedy[src]], want[:1])
        assert not greedy[src].finished and len(greedy[src].tokens) == max_length
        lp = table_log_prob(table, src, greedy[src].tokens, False)
        assert greedy[src].score == pytest.approx(lp / max_length**alpha, abs=1e-12)


def test_rows_stop_at_their_own_eos() -> None:
    V = 6
    table = random_table(V, 8, eos_bias=1.0)
    model = TableModel(V, table)
    sources = list(range(8))
    kw: dict[str, Any] = {"bos_id": BOS, "eos_id": EOS, "max_length": 9}
    batched = greedy_search(model, model.init_state(sources), batch_size=8, **kw)
    lengths = {len(h.tokens) for h in batched}
    assert len(lengths) > 2  # the rows end at different steps
    calls = model.rows_per_call
    assert calls[0] == 8 and calls == sorted(calls, reverse=True) and calls[-1] < 8
    for src, hyp in zip(sources, batched, strict=True):
        alone = greedy_search(model, model.init_state([src]), batch_size=1, **kw)
        assert_same_hypotheses([hyp], alone)


def test_bad_arguments_are_refused() -> None:
    model = jane_model()
    kw: dict[str, Any] = {"batch_size": 1, "bos_id": BOS, "eos_id": EOS, "max_length": 5}
    state = model.init_state([0])
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, state, beam_size=0, **kw)
    with pytest.raises(ValueError, match="n_best"):
        beam_search(model, state, beam_size=2, n_best=3, **kw)
    with pytest.raises(ValueError, match="alpha"):
        beam_search(model, state, beam_size=2, alpha=-0.5, **kw)
    with pytest.raises(ValueError, match="max_length"):
        greedy_search(model, state, **{**kw, "max_length": 0})

    class OneDimensional(TableModel):  # forgets the batch dimension
        def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
            log_probs, state = super().step(tokens, state)
            return log_probs[0], state

    broken = OneDimensional(len(WORDS), JANE)
    with pytest.raises(ValueError, match=r"log_probs of shape \(1, V\), got \(10,\)"):
        greedy_search(broken, state, **kw)
    with pytest.raises(ValueError, match=r"log_probs of shape \(1, V\), got \(10,\)"):
        beam_search(broken, state, beam_size=2, **kw)  # the first step: one <BOS> per row


# -- teacher-forced scoring -------------------------------------------------------------------
def test_sequence_log_prob_is_the_hand_sum_and_padding_changes_nothing() -> None:
    model = jane_model()
    targets = [ids("Jane is visiting Africa in September"), ids("Jane is going to"), []]
    got = sequence_log_prob(model, model.init_state([0, 0, 0]), targets, bos_id=BOS, eos_id=EOS)
    assert got.dtype == torch.float64 and got.shape == (3,)
    want = [
        math.log(0.9 * 0.9 * 0.4 * 0.9 * 0.6 * 0.95 * 0.95),
        math.log(0.9 * 0.9 * 0.45 * 0.3 * 0.3),
        math.log(0.1 / 9),  # <EOS> first: one of the 9 tokens sharing what "Jane" leaves
    ]
    assert got.tolist() == pytest.approx(want, abs=1e-12)
    for row, y in enumerate(targets):
        alone = sequence_log_prob(model, model.init_state([0]), [y], bos_id=BOS, eos_id=EOS)
        assert alone.item() == pytest.approx(got[row].item(), abs=1e-12)
    no_eos = sequence_log_prob(
        model, model.init_state([0, 0]), targets[:2], bos_id=BOS, eos_id=EOS, with_eos=False
    )
    assert no_eos.tolist() == pytest.approx(
        [math.log(0.9 * 0.9 * 0.4 * 0.9 * 0.6 * 0.95), math.log(0.9 * 0.9 * 0.45 * 0.3)],
        abs=1e-12,
    )


# -- beam-search error analysis ---------------------------------------------------------------
def jane_analysis(alpha: float = 0.7) -> ErrorAnalysis:
    model = jane_model()
    hyps = beam_search(
        model,
        model.init_state([0, 0, 0]),
        batch_size=3,
        beam_size=2,
        bos_id=BOS,
        eos_id=EOS,
        max_length=8,
        alpha=alpha,
    )
    greedy = greedy_search(
        model, model.init_state([0]), batch_size=1, bos_id=BOS, eos_id=EOS, max_length=8
    )[0]
    best = "Jane is visiting Africa in September"
    return analyze_errors(
        model,
        model.init_state([0, 0, 0]),
        # 0: greedy's "going to" though the model prefers the reference: the search failed
        # 1: the beam's best, but the human said "Jane is going to": the model is wrong
        # 2: the beam's best is the reference: correct
        [greedy, hyps[1][0], hyps[2][0]],
        [ids(best), ids("Jane is going to"), ids(best)],
        bos_id=BOS,
        eos_id=EOS,
        alpha=alpha,
        sources=["Jane visite l'Afrique en septembre"] * 3,
        decode=text,
    )


def test_error_analysis_blames_the_search_or_the_model() -> None:
    analysis = jane_analysis()
    assert [r.verdict for r in analysis.rows] == ["search", "model", "correct"]
    first = analysis.rows[0]
    want_ref = table_log_prob(JANE, 0, ids("Jane is visiting Africa in September"), True)
    want_hyp = table_log_prob(JANE, 0, ids("Jane is going to"), True)
    assert first.reference_log_prob == pytest.approx(want_ref, abs=1e-12)
    assert first.hypothesis_log_prob == pytest.approx(want_hyp, abs=1e-12)
    assert first.reference_score == pytest.approx(want_ref / 7**0.7, abs=1e-12)
    assert first.hypothesis_score == pytest.approx(want_hyp / 5**0.7, abs=1e-12)
    assert analysis.errors == 2
    assert analysis.fraction("search") == analysis.fraction("correct") == pytest.approx(1 / 3)
    assert analysis.error_share("search") == analysis.error_share("model") == 0.5


def test_error_analysis_uses_the_search_normalisation() -> None:
    # y* = "a a a" (likely per token), ŷ = "" (likely in one go): the raw sum prefers ŷ and
    # blames the model; the per-token mean prefers y* and blames the search
    V, a = 4, 2
    table = hand_table(
        V,
        {(): {a: 0.5, EOS: 0.45}, (a,): {a: 0.9}, (a, a): {a: 0.9}, (a, a, a): {EOS: 0.9}},
        default={EOS: 0.5},
    )
    model = TableModel(V, table)
    verdicts = {}
    for alpha in (0.0, 1.0):
        rows = analyze_errors(
            model, model.init_state([0]), [[]], [[a, a, a]], bos_id=BOS, eos_id=EOS, alpha=alpha
        ).rows
        verdicts[alpha] = rows[0].verdict
        ref_lp, hyp_lp = math.log(0.5 * 0.9**3), math.log(0.45)
        assert rows[0].reference_score == pytest.approx(ref_lp / 4**alpha, abs=1e-12)
        assert rows[0].hypothesis_score == pytest.approx(hyp_lp, abs=1e-12)
    assert verdicts == {0.0: "model", 1.0: "search"}


def test_error_analysis_scores_unfinished_outputs_without_eos() -> None:
    model = jane_model()
    cut = Hypothesis(ids("Jane is"), 0.0, 0.0, finished=False)
    row = analyze_errors(
        model, model.init_state([0]), [cut], [ids("Jane is")], bos_id=BOS, eos_id=EOS, alpha=1.0
    ).rows[0]
    assert row.verdict != "correct"  # "Jane is" without <EOS> is not the reference
    assert row.hypothesis_log_prob == pytest.approx(math.log(0.81), abs=1e-12)
    assert row.hypothesis_score == pytest.approx(math.log(0.81) / 2, abs=1e-12)
    # <EOS> after "Jane is" shares the 0.15 left by "going" and "visiting" with 7 others
    assert row.reference_log_prob == pytest.approx(math.log(0.81 * 0.15 / 8), abs=1e-12)


def test_error_table_and_csv(tmp_path: Path) -> None:
    analysis = jane_analysis()
    table = format_table(analysis)
    lines = table.splitlines()
    assert [cell.strip() for cell in lines[0].split(" | ")] == [
        "Human (y*)",
        "Algorithm (ŷ)",
        "P(y*|x)",
        "P(ŷ|x)",
        "At fault",
    ]
    assert "Jane is going to" in lines[2] and lines[2].endswith("beam search (B)")
    assert lines[3].endswith("RNN model (R)") and lines[4].endswith("-")
    assert f"{analysis.rows[0].reference_score:.4f}" in lines[2]
    assert "errors: 2" in table and "beam search 1 (50.0% of errors)" in table
    assert "RNN model 1 (50.0% of errors)" in table and "correct: 1 (33.3%)" in table
    short = format_table(analysis, max_rows=1)
    assert short.splitlines()[3] == "... 2 more rows"
    wrong = format_table(analysis, errors_only=True).splitlines()
    assert len(wrong[2:4]) == 2 and wrong[4] == "" and "correct: 1 (33.3%)" in wrong[6]

    path = write_csv(analysis, tmp_path / "errors.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert [r["verdict"] for r in read] == ["search", "model", "correct"]
    assert read[0]["source"] == "Jane visite l'Afrique en septembre"
    assert read[1]["reference"] == "Jane is going to"
    for r, row in zip(read, analysis.rows, strict=True):
        assert float(r["reference_score"]) == row.reference_score  # repr round-trips
        assert float(r["hypothesis_log_prob"]) == row.hypothesis_log_prob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.csv"]  # no temp file left


def test_a_reference_with_an_unknown_word_is_the_models_fault(tmp_path: Path) -> None:
    # "Africa" plays <UNK>: the human wrote "Afrika", which the model cannot emit. Row 2's
    # output equals the reference's ids, row 0 is a search error on ids: both are the model's
    model = jane_model()
    unk = WORDS.index("Africa")
    plain = jane_analysis()
    hyps = [ids(r.hypothesis_text) for r in plain.rows]
    refs = [ids("Jane is visiting Africa in September"), ids("Jane is going to")] * 2
    refs = [refs[0], refs[1], refs[0]]
    shown = ["Jane is visiting Afrika in September", "Jane is going to"] * 2
    analysis = analyze_errors(
        model,
        model.init_state([0, 0, 0]),
        hyps,
        refs,
        bos_id=BOS,
        eos_id=EOS,
        alpha=0.7,
        decode=text,
        unk_id=unk,
        reference_texts=shown[:3],
    )
    assert [r.verdict for r in plain.rows] == ["search", "model", "correct"]
    assert [r.verdict for r in analysis.rows] == ["model", "model", "model"]
    assert [r.reference_oov for r in analysis.rows] == [True, False, True]
    assert analysis.rows[2].reference_text == "Jane is visiting Afrika in September"
    for ours, theirs in zip(analysis.rows, plain.rows, strict=True):  # same scores
        assert ours.reference_score == theirs.reference_score
    table = format_table(analysis).splitlines()
    assert table[2].endswith("RNN model (R) *") and table[3].endswith("RNN model (R)")
    assert (
        table[-1]
        == "* y* has a word outside the model's vocabulary (2 examples): the model's fault"
    )
    path = write_csv(analysis, tmp_path / "e.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        assert [r["reference_oov"] for r in csv.DictReader(handle)] == ["true", "false", "true"]
    with pytest.raises(ValueError, match="2 reference texts for 3"):
        analyze_errors(
            model, model.init_state([0, 0, 0]), hyps, refs, bos_id=BOS, eos_id=EOS,
            reference_texts=shown[:2],
        )  # fmt: skip


def test_error_analyses_concatenate() -> None:
    part = jane_analysis()
    both = ErrorAnalysis.concat([part, part])
    assert len(both.rows) == 6 and both.fraction("model") == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="alpha"):
        ErrorAnalysis.concat([part, jane_analysis(alpha=1.0)])


# -- a real model: the recurrent language model ------------------------------------------------
def lm_and_state(cell: str, batch: int = 3) -> tuple[RNNLanguageModel, Any]:
    torch.manual_seed(0)
    cfg = LMConfig(vocab_size=9, embedding_dim=5, hidden_size=8, num_layers=2, cell=cell)
    model = RNNLanguageModel(cfg).double().eval()
    # a different state per row: read a random prefix first
    prefix = torch.randint(0, 9, (batch, 3), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, state = model(prefix)
    return model, state


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_lm_reorder_state_selects_rows(cell: str) -> None:
    model, state = lm_and_state(cell)
    tokens = torch.tensor([4, 2, 7])
    index = torch.tensor([2, 2, 0, 1])
    with torch.no_grad():
        full, _ = model.step(tokens, state)
        picked, _ = model.step(tokens[index], model.reorder_state(state, index))
    assert torch.allclose(picked, full[index], atol=1e-12)
    assert model.reorder_state(None, index) is None


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_lm_beam_of_one_is_greedy_and_beams_score_as_teacher_forcing(cell: str) -> None:
    model, state = lm_and_state(cell)
    kw: dict[str, Any] = {"batch_size": 3, "bos_id": EOS, "eos_id": EOS, "max_length": 8}
    greedy = greedy_search(model, state, **kw)
    beam1 = beam_search(model, state, beam_size=1, early_stopping=True, **kw)
    for g, b in zip(greedy, beam1, strict=True):
        assert_same_hypotheses(b, [g])
    beams = beam_search(model, state, beam_size=4, n_best=3, **kw)
    flat = [h for hyps in beams for h in hyps]
    rows = torch.tensor([row for row, hyps in enumerate(beams) for _ in hyps])
    rescored = sequence_log_prob(
        model,
        model.reorder_state(state, rows),
        [h.tokens for h in flat],
        bos_id=EOS,
        eos_id=EOS,
        with_eos=[h.finished for h in flat],
    )
    # the back-pointers were followed right: each beam's sum is its sequence's probability
    assert rescored.tolist() == pytest.approx([h.log_prob for h in flat], abs=1e-10)


def test_lm_sampling_is_reproducible_and_scored_by_the_model() -> None:
    model, state = lm_and_state("lstm", batch=4)
    kw: dict[str, Any] = {"batch_size": 4, "bos_id": EOS, "eos_id": EOS, "max_length": 10}

    def draw(seed: int, **extra: Any) -> list[Hypothesis]:
        gen = torch.Generator().manual_seed(seed)
        return sample_search(model, state, generator=gen, **kw, **extra)

    first, again, other = draw(0), draw(0), draw(1)
    assert first == again
    assert [h.tokens for h in first] != [h.tokens for h in other]
    rescored = sequence_log_prob(
        model,
        state,
        [h.tokens for h in first],
        bos_id=EOS,
        eos_id=EOS,
        with_eos=[h.finished for h in first],
    )
    assert rescored.tolist() == pytest.approx([h.log_prob for h in first], abs=1e-10)
    # top_k = 1 leaves only the arg max: sampling becomes greedy
    greedy = greedy_search(model, state, **kw)
    assert [h.tokens for h in draw(3, top_k=1)] == [h.tokens for h in greedy]
    banned = draw(4, banned_ids=[3, 5], temperature=2.0)
    assert all(3 not in h.tokens and 5 not in h.tokens for h in banned)


# -- the search driver ------------------------------------------------------------------------


@pytest.mark.parametrize("beam_size", [1, 3])
def test_search_driver_in_small_batches_equals_one_batch(beam_size: int) -> None:
    V, sources = 6, [3, 0, 7, 5, 2]
    model = TableModel(V, random_table(V, 11, eos_bias=1.0))
    common: dict[str, Any] = {"bos_id": BOS, "eos_id": EOS, "max_length": 6, "alpha": 0.7}
    if beam_size == 1:
        direct = [
            [h] for h in greedy_search(model, model.init_state(sources), batch_size=5, **common)
        ]
    else:
        direct = beam_search(
            model, model.init_state(sources), batch_size=5, beam_size=3, n_best=2, **common
        )
    seen: list[list[int]] = []

    def init_state(rows: list[int]) -> dict[str, Tensor]:
        seen.append(list(rows))
        return model.init_state([sources[r] for r in rows])

    config = SearchConfig(
        max_length=6, beam_size=beam_size, n_best=2 if beam_size > 1 else 1, batch_size=2
    )
    got = search(model, init_state, len(sources), config, bos_id=BOS, eos_id=EOS)
    assert seen == [[0, 1], [2, 3], [4]]
    assert len(got) == len(direct)
    for a, b in zip(got, direct, strict=True):
        assert_same_hypotheses(a, b)


def test_search_driver_samples_reproducibly_and_checks_its_arguments() -> None:
    V, sources = 6, [1, 2, 3]
    model = TableModel(V, random_table(V, 3, eos_bias=0.5))

    def run(seed: int) -> list[list[int]]:
        sampling = Sampling(temperature=1.5, generator=torch.Generator().manual_seed(seed))
        config = SearchConfig(max_length=5, sampling=sampling)
        hyps = search(model, lambda rows: model.init_state([sources[r] for r in rows]), 3,
                      config, bos_id=BOS, eos_id=EOS)  # fmt: skip
        return [h[0].tokens for h in hyps]

    assert run(4) == run(4)
    assert any(run(4) != run(s) for s in range(5, 10))
    with pytest.raises(ValueError, match="use beam_size=1"):
        SearchConfig(max_length=5, beam_size=2, sampling=Sampling())
    with pytest.raises(ValueError, match="1 <= n_best <= beam_size"):
        SearchConfig(max_length=5, beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="max_length must be a positive integer"):
        SearchConfig(max_length=0)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        SearchConfig(max_length=3, alpha=-1.0)


@pytest.mark.parametrize("sampled", [False, True])
def test_search_driver_streams_each_token_as_it_is_chosen(sampled: bool) -> None:
    V, sources = 6, [3, 0, 7, 5, 2]
    model = TableModel(V, random_table(V, 4, eos_bias=1.0))  # some end at <EOS>, some cut
    events: list[tuple[int, int, int]] = []  # (input, token, step calls made so far)

    def on_token(index: int, token: int) -> None:
        events.append((index, token, len(model.rows_per_call)))

    sampling = Sampling(generator=torch.Generator().manual_seed(0)) if sampled else None
    config = SearchConfig(max_length=4, sampling=sampling, batch_size=2)
    hyps = search(
        model,
        lambda rows: model.init_state([sources[r] for r in rows]),
        len(sources),
        config,
        bos_id=BOS,
        eos_id=EOS,
        on_token=on_token,
    )
    for i, (h,) in enumerate(hyps):
        streamed = [tok for j, tok, _ in events if j == i]
        assert streamed == h.tokens + ([EOS] if h.finished else [])  # <EOS> closes a finished one
    # each token arrives during the search, right after the step that chose it
    calls = [c for _, _, c in events]
    assert calls == sorted(calls) and calls[0] == 1
    assert any(not h.finished for (h,) in hyps) and any(h.finished for (h,) in hyps)
    with pytest.raises(ValueError, match="on_token streams greedy search and sampling only"):
        search(
            model,
            lambda rows: model.init_state([sources[r] for r in rows]),
            2,
            SearchConfig(max_length=4, beam_size=2),
            bos_id=BOS,
            eos_id=EOS,
            on_token=on_token,
        )
