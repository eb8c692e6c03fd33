"""The linear-chain CRF (seqlab.functional.crf, seqlab.nn.CRF) against two references:
brute-force enumeration of all C^T tag paths (log partition, NLL, Viterbi) and pytorch-crf's
``torchcrf.CRF`` with the same parameters (NLL under every reduction, decoding)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torchcrf

from seqlab.functional.crf import (
    crf_log_partition,
    crf_nll,
    crf_score,
    iob2_transition_mask,
    transition_mask,
    viterbi_decode,
)
from seqlab.nn import CRF

torch.set_num_threads(1)


def _random(batch: int, length: int, num_tags: int, seed: int, dtype=torch.float64):
    """Emissions, tags, a left-aligned mask of random lengths and the three score tensors."""
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(batch, length, num_tags, generator=g, dtype=dtype)
    tags = torch.randint(0, num_tags, (batch, length), generator=g)
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    mask = torch.arange(length) < lengths[:, None]  # (B, T)
    start, end = (torch.randn(num_tags, generator=g, dtype=dtype) for _ in range(2))
    transitions = torch.randn(num_tags, num_tags, generator=g, dtype=dtype)
    return emissions, tags, mask, start, end, transitions


def _path_score(em, path, start, end, trans) -> float:
    """s(x, y) of one unpadded sequence, written out as a sum."""
    score = start[path[0]] + end[path[-1]] + sum(em[t, y] for t, y in enumerate(path))
    score += sum(trans[a, b] for a, b in itertools.pairwise(path))
    return float(score)


def _brute_force(em, start, end, trans) -> tuple[float, float, tuple[int, ...]]:
    """log Z, best score and best path of one unpadded sequence (T, C), by enumeration."""
    length, num_tags = em.shape
    scored = [
        (_path_score(em, path, start, end, trans), path)
        for path in itertools.product(range(num_tags), repeat=length)
    ]
    log_z = math.log(sum(math.exp(s) for s, _ in scored))
    best_score, best_path = max(scored)
    return log_z, best_score, best_path


@pytest.mark.parametrize("num_tags,length,seed", [(1, 3, 0), (2, 5, 1), (3, 4, 2), (4, 5, 3)])
def test_against_brute_force_enumeration(num_tags: int, length: int, seed: int) -> None:
    emissions, tags, mask, start, end, trans = _random(4, length, num_tags, seed)
    log_z = crf_log_partition(emissions, mask, start, end, trans)
    nll = crf_nll(emissions, tags, mask, start, end, trans)
    paths, best = viterbi_decode(emissions, mask, start, end, trans)
    for b in range(4):
        n = int(mask[b].sum())
        em = emissions[b, :n]
        want_z, want_best, want_path = _brute_force(em, start, end, trans)
        want_nll = want_z - _path_score(em, tags[b, :n].tolist(), start, end, trans)
        assert log_z[b].item() == pytest.approx(want_z, abs=1e-10)
        assert nll[b].item() == pytest.approx(want_nll, abs=1e-10)
        assert best[b].item() == pytest.approx(want_best, abs=1e-10)
        assert tuple(paths[b, :n].tolist()) == want_path
        assert paths[b, n:].eq(0).all()


def test_score_ignores_padding_and_padded_tags() -> None:
    emissions, tags, mask, start, end, trans = _random(5, 6, 3, seed=7)
    garbage = emissions.masked_fill(~mask[..., None], 1e6)
    odd_tags = tags.masked_fill(~mask, -100)
    want = crf_score(emissions, tags, mask, start, end, trans)
    got = crf_score(garbage, odd_tags, mask, start, end, trans)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(
        crf_log_partition(garbage, mask, start, end, trans),
        crf_log_partition(emissions, mask, start, end, trans),
    )


def test_batch_of_different_lengths_equals_one_by_one() -> None:
    emissions, tags, mask, start, end, trans = _random(6, 7, 4, seed=11)
    nll = crf_nll(emissions, tags, mask, start, end, trans)
    paths, best = viterbi_decode(emissions, mask, start, end, trans)
    for b in range(6):
        n = int(mask[b].sum())
        one = (emissions[b : b + 1, :n], tags[b : b + 1, :n], mask[b : b + 1, :n])
        torch.testing.assert_close(nll[b : b + 1], crf_nll(*one, start, end, trans))
        one_path, one_best = viterbi_decode(one[0], one[2], start, end, trans)
        assert torch.equal(one_path[0], paths[b, :n])
        torch.testing.assert_close(one_best, best[b : b + 1])


def test_gradcheck_of_the_nll() -> None:
    emissions, tags, mask, start, end, trans = _random(3, 4, 3, seed=5)
    inputs = tuple(x.requires_grad_() for x in (emissions, start, end, trans))

    def nll(em, s, e, a):
        return crf_nll(em, tags, mask, s, e, a)

    assert torch.autograd.gradcheck(nll, inputs)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "token_mean"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_nll_equals_minus_torchcrf_log_likelihood(reduction: str, batch_first: bool) -> None:
    torch.manual_seed(0)
    ours = CRF(5, batch_first=batch_first).double()
    theirs = torchcrf.CRF(5, batch_first=batch_first).double()
    theirs.load_state_dict(ours.state_dict())
    emissions, tags, mask, *_ = _random(7, 9, 5, seed=3)
    if not batch_first:
        emissions, tags, mask = emissions.transpose(0, 1), tags.t(), mask.t()
    got = ours(emissions, tags, mask, reduction=reduction)
    want = -theirs(emissions, tags, mask, reduction=reduction)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert ours.decode_lists(emissions, mask) == theirs.decode(emissions, mask)
    decoded = ours.decode(emissions, mask)
    assert decoded.shape == tags.shape
    # and the state_dict loads the other way round
    ours.load_state_dict(theirs.state_dict())


def test_module_gradients_match_torchcrf() -> None:
    ours, theirs = CRF(4).double(), torchcrf.CRF(4, batch_first=True).double()
    theirs.load_state_dict(ours.state_dict())
    emissions, tags, mask, *_ = _random(3, 5, 4, seed=9)
    ours(emissions, tags, mask).backward()
    (-theirs(emissions, tags, mask, reduction="mean")).backward()
    for name, parameter in ours.named_parameters():
        torch.testing.assert_close(parameter.grad, dict(theirs.named_parameters())[name].grad)


def test_mask_none_means_all_tokens() -> None:
    crf = CRF(3).double()
    emissions, tags, *_ = _random(2, 4, 3, seed=1)
    full = torch.ones(2, 4, dtype=torch.bool)
    torch.testing.assert_close(crf(emissions, tags), crf(emissions, tags, full))


@pytest.mark.parametrize(
    "mask,message",
    [
        ([[0, 1, 1], [1, 1, 1]], r"mask\[:, 0\]"),
        ([[1, 0, 1], [1, 1, 1]], "left-aligned"),
        ([[1, 1], [1, 1]], "mask of shape"),
    ],
)
def test_bad_masks_are_clear_errors(mask: list[list[int]], message: str) -> None:
    emissions, tags, _, start, end, trans = _random(2, 3, 3, seed=0)
    with pytest.raises(ValueError, match=message):
        crf_nll(emissions, tags, torch.tensor(mask).bool(), start, end, trans)


def test_bad_shapes_and_tags_are_clear_errors() -> None:
    emissions, tags, mask, start, end, trans = _random(2, 3, 3, seed=0)
    with pytest.raises(ValueError, match=r"\(B, T, C\)"):
        crf_log_partition(emissions[0], mask, start, end, trans)
    with pytest.raises(ValueError, match="transitions of shape"):
        crf_log_partition(emissions, mask, start, end, trans[:2])
    with pytest.raises(ValueError, match=r"tags must lie in \[0, 3\)"):
        crf_score(emissions, tags.masked_fill(mask, 3), mask, start, end, trans)
    with pytest.raises(ValueError, match="reduction"):
        CRF(3)(emissions.float(), tags, reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(B, T, 4\)"):
        CRF(4)(emissions.float(), tags)


NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_iob2_transition_mask() -> None:
    allowed, first, last = iob2_transition_mask(NAMES)
    pairs = {(NAMES[i], NAMES[j]) for i, j in (~allowed).nonzero().tolist()}
    inside = {"I-PER": "PER", "I-LOC": "LOC"}
    want = {(a, b) for a in NAMES for b in inside if a[2:] != inside[b]}
    assert pairs == want  # O -> I-X, B-Y -> I-X, I-Y -> I-X for Y != X
    assert first.tolist() == [True, True, False, True, False] and last.all()


def test_iobes_transition_mask() -> None:
    names = ["O", "B-X", "I-X", "E-X", "S-X"]
    allowed, first, last = transition_mask(names, "iobes")
    ok = {(names[i], names[j]) for i, j in allowed.nonzero().tolist()}
    outside = {"O", "E-X", "S-X"}
    want = {(a, b) for a in outside for b in ("O", "B-X", "S-X")}
    want |= {(a, b) for a in ("B-X", "I-X") for b in ("I-X", "E-X")}
    assert ok == want
    assert first.tolist() == [True, True, False, False, True]
    assert last.tolist() == [True, False, False, True, True]
    with pytest.raises(ValueError, match="iob2 scheme has no E- or S-"):
        iob2_transition_mask(names)


def test_constrained_viterbi_is_the_best_allowed_path() -> None:
    crf = CRF(len(NAMES)).double()
    with torch.no_grad():
        crf.transitions.normal_()
    crf.constrain_to(NAMES)
    allowed, first, _ = iob2_transition_mask(NAMES)
    emissions, _, mask, *_ = _random(8, 5, len(NAMES), seed=4)
    emissions[:, :, 2] += 3.0  # make I-PER tempting everywhere: unconstrained paths break IOB2
    start, end, trans = (
        p.detach() for p in (crf.start_transitions, crf.end_transitions, crf.transitions)
    )
    decoded = crf.decode_lists(emissions, mask)
    unconstrained, _ = viterbi_decode(emissions, mask, start, end, trans)
    broken = 0
    for b, path in enumerate(decoded):
        n = len(path)
        valid = [
            p
            for p in itertools.product(range(len(NAMES)), repeat=n)
            if first[p[0]] and all(allowed[a, c] for a, c in itertools.pairwise(p))
        ]
        em = emissions[b, :n].detach()
        best = max(valid, key=lambda p: _path_score(em, p, start, end, trans))
        assert tuple(path) == best
        broken += tuple(unconstrained[b, :n].tolist()) != best
    assert broken > 0  # the constraint changed some decisions (else this test proves nothing)
    # the constraint is not saved: the state_dict stays pytorch-crf's
    assert set(crf.state_dict()) == {"start_transitions", "end_transitions", "transitions"}
