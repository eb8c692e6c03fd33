"""CTC decoding (seqlab.decoding.ctc): greedy and prefix beam search against brute force
over every alignment on tiny alphabets (T <= 5), with and without a toy language model fused
in through the step protocol."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from seqlab.decoding.ctc import (
    Lexicon,
    ShallowFusion,
    ctc_beam_search,
    ctc_collapse,
    ctc_greedy_decode,
)


def collapse(path: tuple[int, ...], blank: int) -> tuple[int, ...]:
    """The course's rule, written independently: merge repeats, then drop blanks."""
    merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return tuple(k for k in merged if k != blank)


def labelling_log_probs(log_probs: Tensor, blank: int) -> dict[tuple[int, ...], float]:
    """ln P(ℓ | x) = ln Σ over every path collapsing to ℓ (brute force). Shape: (T, C)."""
    steps, classes = log_probs.shape
    sums: dict[tuple[int, ...], list[float]] = {}
    for path in itertools.product(range(classes), repeat=steps):
        lp = sum(float(log_probs[t, k]) for t, k in enumerate(path))
        sums.setdefault(collapse(path, blank), []).append(lp)
    return {
        lab: float(torch.tensor(v, dtype=torch.float64).logsumexp(0)) for lab, v in sums.items()
    }


class ToyLM:
    """A second-order character LM on the step protocol: its state is the previous token,
    so a wrong reorder_state gives wrong probabilities."""

    def __init__(self, vocab: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = (2 * torch.randn(vocab, vocab, vocab, generator=g)).log_softmax(-1)

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.table[state, tokens], tokens  # (B, V)

    def reorder_state(self, state: Tensor, index: Tensor) -> Tensor:
        return state[index]

    def log_prob(self, labels: tuple[int, ...], bos: int, ids: list[int]) -> float:
        previous, current, total = bos, bos, 0.0
        dist = self.table[previous, current]
        for c in labels:
            total += float(dist[ids[c]])
            previous, current = current, ids[c]
            dist = self.table[previous, current]
        return total


def _random_log_probs(seed: int, steps: int, classes: int, sharp: float = 2.0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (sharp * torch.randn(steps, classes, generator=g, dtype=torch.float64)).log_softmax(-1)


def test_collapse_follows_the_course_rule() -> None:
    assert ctc_collapse([1, 1, 0, 1, 2, 0, 0, 2]) == [1, 1, 2, 2]
    assert ctc_collapse([2, 2, 2], blank=2) == []
    for path in itertools.product(range(3), repeat=5):
        assert tuple(ctc_collapse(path, blank=1)) == collapse(path, 1)


def test_greedy_keeps_a_label_repeated_across_a_blank() -> None:
    path = [1, 1, 0, 1, 2, 2, 0]  # a a - a b b -  ->  a a b
    lp = torch.full((1, len(path), 3), -5.0).scatter(2, torch.tensor(path).view(1, -1, 1), 0.0)
    assert ctc_greedy_decode(lp.log_softmax(-1)) == [[1, 1, 2]]
    assert ctc_greedy_decode(lp.log_softmax(-1), [3]) == [[1]]


def test_greedy_is_the_collapsed_best_path() -> None:
    lp = torch.stack([_random_log_probs(s, 5, 3) for s in range(4)])  # (B, T, C)
    lengths = [5, 3, 1, 4]
    got = ctc_greedy_decode(lp, lengths, blank=0)
    for b, n in enumerate(lengths):
        best = max(
            itertools.product(range(3), repeat=n),
            key=lambda p, b=b: sum(float(lp[b, t, k]) for t, k in enumerate(p)),
        )
        assert got[b] == list(collapse(best, 0))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("steps", "classes", "blank"), [(4, 3, 0), (5, 3, 2), (3, 4, 1)])
def test_beam_search_finds_the_most_probable_labelling(
    seed: int, steps: int, classes: int, blank: int
) -> None:
    lp = _random_log_probs(seed, steps, classes, sharp=1.0)
    exact = labelling_log_probs(lp, blank)
    hyps = ctc_beam_search(lp, beam_size=200, blank=blank, nbest=3)
    best = sorted(exact.items(), key=lambda kv: -kv[1])[:3]
    assert [tuple(h.tokens) for h in hyps] == [lab for lab, _ in best]
    for h in hyps:  # the scores are the exact sums over alignments
        assert h.ctc_log_prob == pytest.approx(exact[tuple(h.tokens)], abs=1e-9)


def test_beam_search_can_beat_greedy() -> None:
    # frame-wise best is "blank, blank" but "a" summed over its alignments is more likely
    probs = torch.tensor([[0.4, 0.35, 0.25], [0.4, 0.35, 0.25]], dtype=torch.float64)
    lp = probs.log()
    assert ctc_greedy_decode(lp.unsqueeze(0))[0] == []
    assert ctc_beam_search(lp, beam_size=10)[0].tokens == [1]
    exact = labelling_log_probs(lp, 0)
    assert exact[(1,)] > exact[()]


def test_insertion_bonus_matches_brute_force() -> None:
    lp = _random_log_probs(3, 5, 3, sharp=1.0)
    exact = labelling_log_probs(lp, 0)
    for beta in (-2.0, 0.7, 3.0):
        best = max(exact, key=lambda lab: exact[lab] + beta * len(lab))
        assert tuple(ctc_beam_search(lp, beam_size=200, insertion_bonus=beta)[0].tokens) == best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 0.0), (1.0, 1.0), (2.0, -0.5)])
def test_shallow_fusion_matches_brute_force_with_a_toy_lm(
    seed: int, alpha: float, beta: float
) -> None:
    steps, classes, blank = 5, 3, 0
    ids = [9, 1, 2]  # CTC class -> LM id (the blank's entry is never used)
    bos = 3
    lm = ToyLM(vocab=10, seed=seed)
    lp = _random_log_probs(seed + 100, steps, classes, sharp=1.0)
    exact = labelling_log_probs(lp, blank)
    scores = {
        lab: v + alpha * lm.log_prob(lab, bos, ids) + beta * len(lab) for lab, v in exact.items()
    }
    fusion = ShallowFusion(
        model=lm, state=torch.tensor([bos]), bos_id=bos, weight=alpha, label_ids=ids
    )
    hyps = ctc_beam_search(lp, beam_size=200, blank=blank, insertion_bonus=beta, lm=fusion)
    ranked = sorted(scores, key=lambda lab: -scores[lab])
    assert tuple(hyps[0].tokens) == ranked[0]
    for h in hyps[:5]:
        lab = tuple(h.tokens)
        assert h.score == pytest.approx(scores[lab], abs=1e-9)
        assert h.lm_log_prob == pytest.approx(lm.log_prob(lab, bos, ids), abs=1e-9)
        assert h.ctc_log_prob == pytest.approx(exact[lab], abs=1e-9)


def test_fusion_with_a_seqlab_language_model_matches_brute_force() -> None:
    from seqlab.models.rnn_lm import LMConfig, RNNLanguageModel

    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(vocab_size=6, cell="lstm", embedding_dim=4, hidden_size=8,
                                      num_layers=2)).eval()  # fmt: skip
    bos, ids, alpha = 5, [0, 2, 3, 4], 0.8  # CTC classes 1..3 are LM tokens 2..4

    def lm_log_prob(labels: tuple[int, ...]) -> float:  # teacher forcing, not step()
        tokens = torch.tensor([[bos, *(ids[c] for c in labels)]])
        with torch.no_grad():
            logits, _ = model(tokens)
        lp = logits[0].double().log_softmax(-1)
        return float(sum(lp[i, ids[c]] for i, c in enumerate(labels)))

    lp = _random_log_probs(7, 4, 4, sharp=1.0)
    exact = labelling_log_probs(lp, 0)
    scores = {lab: v + alpha * lm_log_prob(lab) for lab, v in exact.items()}
    fusion = ShallowFusion(model=model, state=model.init_state(1), bos_id=bos, weight=alpha,
                           label_ids=ids)  # fmt: skip
    hyps = ctc_beam_search(lp, beam_size=500, lm=fusion, nbest=4)
    assert [tuple(h.tokens) for h in hyps] == sorted(scores, key=lambda k: -scores[k])[:4]
    for h in hyps:
        assert h.score == pytest.approx(scores[tuple(h.tokens)], abs=1e-5)


def test_a_narrow_beam_still_returns_sorted_hypotheses() -> None:
    lp = _random_log_probs(0, 30, 6)
    hyps = ctc_beam_search(lp, beam_size=4, token_min_logp=math.log(1e-3))
    assert len(hyps) == 4 and all(a.score >= b.score for a, b in itertools.pairwise(hyps))


def spells_words(labels: tuple[int, ...], words: list[tuple[int, ...]], sep: int | None) -> bool:
    """True where ``labels`` is w1 sep w2 ... sep wn (n >= 1) of ``words``, written
    independently of the trie: split at the separator (one word without one)."""
    if sep is None:
        return labels in words
    parts, current = [], []
    for c in labels:
        if c == sep:
            parts.append(tuple(current))
            current = []
        else:
            current.append(c)
    parts.append(tuple(current))
    return all(part in words for part in parts)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("sep", [3, None])
def test_lexicon_search_finds_the_most_probable_spelling_of_words(
    seed: int, sep: int | None
) -> None:
    # labels: 0 blank, 1 "a", 2 "b", 3 the space; words "a", "ab", "bb" (a repeated letter)
    words = [(1,), (1, 2), (2, 2)]
    lexicon = Lexicon(words, separator=sep)
    lp = _random_log_probs(seed, 5, 4, sharp=1.0)
    exact = labelling_log_probs(lp, 0)
    valid = {lab: v for lab, v in exact.items() if spells_words(lab, words, sep)}
    hyps = ctc_beam_search(lp, beam_size=500, lexicon=lexicon, nbest=3)
    ranked = sorted(valid, key=lambda lab: -valid[lab])[:3]
    assert [tuple(h.tokens) for h in hyps] == ranked
    for h in hyps:  # each score is the exact sum over the labelling's alignments
        assert h.ctc_log_prob == pytest.approx(valid[tuple(h.tokens)], abs=1e-9)


def test_the_lexicon_changes_the_answer_and_fuses_with_an_lm() -> None:
    # across seeds, the free search's best labelling is often not words: the lexicon matters
    words, sep = [(1,), (1, 2), (2, 2)], 3
    changed = 0
    for seed in range(8):
        lp = _random_log_probs(seed, 5, 4, sharp=1.0)
        free = tuple(ctc_beam_search(lp, beam_size=500)[0].tokens)
        changed += not spells_words(free, words, sep)
    assert changed >= 3
    lm, ids, bos, alpha = ToyLM(vocab=6, seed=1), [5, 1, 2, 3], 4, 0.7
    lp = _random_log_probs(11, 5, 4, sharp=1.0)
    exact = labelling_log_probs(lp, 0)
    scores = {lab: v + alpha * lm.log_prob(lab, bos, ids) for lab, v in exact.items()
              if spells_words(lab, words, sep)}  # fmt: skip
    fusion = ShallowFusion(model=lm, state=torch.tensor([bos]), bos_id=bos, weight=alpha,
                           label_ids=ids)  # fmt: skip
    hyps = ctc_beam_search(lp, beam_size=500, lm=fusion, lexicon=Lexicon(words, separator=sep))
    assert tuple(hyps[0].tokens) == max(scores, key=lambda lab: scores[lab])
    assert hyps[0].score == pytest.approx(max(scores.values()), abs=1e-9)


def test_lexicon_checks() -> None:
    lex = Lexicon([[1, 2], [1, 3]], separator=4)
    assert lex.next_labels(0) == {1: 1} and not lex.is_word_end(1)
    end = lex.after(1, 2)
    assert lex.is_word_end(end) and lex.next_labels(end) == {4: 0}
    assert Lexicon([[1]], separator=None).next_labels(1) == {}  # one word, then nothing
    with pytest.raises(ValueError, match="at least one word"):
        Lexicon([], separator=0)
    with pytest.raises(ValueError, match="separator"):
        Lexicon([[1, 4]], separator=4)
    with pytest.raises(ValueError, match="other than the blank"):
        ctc_beam_search(torch.zeros(3, 4), lexicon=Lexicon([[0, 1]], separator=2))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        ctc_beam_search(torch.zeros(3, 4), lexicon=Lexicon([[1, 7]], separator=2))


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match=r"\(T, C\)"):
        ctc_beam_search(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(B, T, C\)"):
        ctc_greedy_decode(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="lengths"):
        ctc_greedy_decode(torch.zeros(2, 3, 4), [3, 9])
    with pytest.raises(ValueError, match="label_ids"):
        lm = ShallowFusion(model=ToyLM(5, 0), state=torch.tensor([0]), bos_id=0, label_ids=[1])
        ctc_beam_search(torch.zeros(3, 4), lm=lm)
