"""The CTC loss (seqlab.functional.ctc): equal to torch.nn.functional.ctc_loss (values, and
gradients through a log-softmax, every reduction, blank index, zero_infinity), equal to a
brute-force sum over every alignment for T <= 5, feasibility reported by item."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqlab.functional.ctc import (
    CTCInfeasibleWarning,
    ctc_feasible,
    ctc_loss,
    ctc_min_input_lengths,
)


def collapse(path: tuple[int, ...], blank: int) -> tuple[int, ...]:
    """The course's rule, written independently: merge repeats, then drop blanks."""
    merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return tuple(k for k in merged if k != blank)


def brute_force_nll(log_probs: torch.Tensor, target: list[int], blank: int) -> torch.Tensor:
    """-ln Σ over every path of T frames that collapses to ``target`` (differentiable).

    Shape: log_probs (T, C)
    """
    steps, classes = log_probs.shape
    terms = [
        sum(log_probs[t, k] for t, k in enumerate(path))
        for path in itertools.product(range(classes), repeat=steps)
        if collapse(path, blank) == tuple(target)
    ]
    if not terms:
        return log_probs.new_tensor(float("inf"))
    return -torch.logsumexp(torch.stack(terms), dim=0)  # type: ignore[arg-type]


def _batch(seed: int, steps: int, batch: int, classes: int, blank: int, max_s: int):  # type: ignore[no-untyped-def]
    """Random feasible items: variable lengths, repeats made likely by a small alphabet."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(steps, batch, classes, dtype=torch.float64, generator=g)
    labels = [k for k in range(classes) if k != blank]
    targets, inputs = [], []
    for _ in range(batch):
        while True:
            n_in = int(torch.randint(1, steps + 1, (), generator=g))
            s = int(torch.randint(0, max_s + 1, (), generator=g))
            row = [labels[int(i)] for i in torch.randint(len(labels), (s,), generator=g)]
            if ctc_feasible([row], [n_in]).item():
                break
        targets.append(row)
        inputs.append(n_in)
    inputs[0] = steps  # one item uses every frame
    return logits.requires_grad_(), targets, inputs


def _padded(targets: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(t) for t in targets])
    padded = torch.zeros(len(targets), max(1, int(lengths.max())), dtype=torch.long)
    for i, t in enumerate(targets):
        padded[i, : len(t)] = torch.tensor(t, dtype=torch.long)
    return padded, lengths


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    ("seed", "blank", "zero_infinity"), [(0, 0, False), (1, 3, True), (2, 0, True)]
)
def test_equals_torch_ctc_loss_values_and_gradients(
    reduction: str, seed: int, blank: int, zero_infinity: bool
) -> None:
    logits, targets, inputs = _batch(seed, steps=15, batch=6, classes=4, blank=blank, max_s=7)
    padded, lengths = _padded(targets)
    ours = ctc_loss(logits.log_softmax(-1), padded, inputs, lengths, blank=blank,
                    reduction=reduction, zero_infinity=zero_infinity)  # type: ignore[arg-type]  # fmt: skip
    theirs = torch.nn.functional.ctc_loss(
        logits.log_softmax(-1), padded, torch.tensor(inputs), lengths, blank=blank,
        reduction=reduction, zero_infinity=zero_infinity,
    )  # fmt: skip
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    weights = torch.rand(ours.shape, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((ours * weights).sum(), logits)
    (g_theirs,) = torch.autograd.grad((theirs * weights).sum(), logits)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-9, atol=1e-10)


def test_concatenated_and_list_targets_equal_padded_ones() -> None:
    logits, targets, inputs = _batch(3, steps=10, batch=4, classes=5, blank=0, max_s=4)
    lp = logits.detach().log_softmax(-1)
    padded, lengths = _padded(targets)
    want = ctc_loss(lp, padded, inputs, lengths, reduction="none")
    flat = torch.tensor([k for t in targets for k in t], dtype=torch.long)
    torch.testing.assert_close(ctc_loss(lp, flat, inputs, lengths, reduction="none"), want)
    torch.testing.assert_close(ctc_loss(lp, targets, inputs, reduction="none"), want)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_equals_brute_force_over_all_alignments(steps: int) -> None:
    g = torch.Generator().manual_seed(steps)
    classes, blank = 3, 1
    logits = torch.randn(steps, 1, classes, dtype=torch.float64, generator=g, requires_grad=True)
    lp = logits.log_softmax(-1)
    for target in ([], [0], [2, 2], [0, 2, 0], [2, 0, 0], [0, 0, 2, 2]):
        if ctc_min_input_lengths([target]).item() > steps:
            continue
        ours = ctc_loss(lp, [target], [steps], reduction="sum", blank=blank)
        want = brute_force_nll(lp[:, 0], target, blank)
        torch.testing.assert_close(ours, want, rtol=1e-12, atol=1e-12)
        # the true gradient with respect to the log-probabilities themselves
        (g_ours,) = torch.autograd.grad(ours, lp, retain_graph=True)
        (g_want,) = torch.autograd.grad(want, lp, retain_graph=True)
        torch.testing.assert_close(g_ours, g_want, rtol=1e-10, atol=1e-12)


def test_feasibility_is_exactly_where_an_alignment_exists() -> None:
    for steps in range(1, 5):
        for s in range(0, 5):
            for target in itertools.product((1, 2), repeat=s):
                exists = brute_force_nll(torch.zeros(steps, 3), list(target), 0).isfinite()
                assert bool(ctc_feasible([list(target)], [steps]).item()) == bool(exists)


def test_fast_path_equals_the_recursion() -> None:
    logits, targets, inputs = _batch(4, steps=12, batch=5, classes=6, blank=0, max_s=5)
    lp = logits.log_softmax(-1)
    for reduction in ("none", "mean", "sum"):
        a = ctc_loss(lp, targets, inputs, reduction=reduction)  # type: ignore[arg-type]
        b = ctc_loss(lp, targets, inputs, reduction=reduction, impl="torch")  # type: ignore[arg-type]
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_an_infeasible_item_is_named_with_its_lengths() -> None:
    lp = torch.randn(6, 3, 4).log_softmax(-1)
    targets = [[1, 2], [1, 1, 1], [3]]
    with pytest.raises(ValueError, match=r"item 1 \(input length 4 < target length 3 \+ 2 adj"):
        ctc_loss(lp, targets, [6, 4, 6])
    with pytest.raises(ValueError, match="item 1") as info:
        ctc_loss(lp, targets, [6, 4, 6], impl="torch")
    assert "item 0" not in str(info.value) and "item 2" not in str(info.value)


def test_zero_infinity_zeroes_and_warns_about_the_infeasible_items() -> None:
    logits = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)
    targets = [[1, 2], [1, 1, 1], [3]]
    with pytest.warns(CTCInfeasibleWarning, match=r"item 1 \(input length 4"):
        loss = ctc_loss(logits.log_softmax(-1), targets, [6, 4, 6], reduction="none",
                        zero_infinity=True)  # fmt: skip
    assert loss[1] == 0 and loss[0] > 0 and loss[2] > 0
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    assert grad.isfinite().all() and grad[:, 1].abs().max() == 0
    padded, lengths = _padded(targets)
    theirs = torch.nn.functional.ctc_loss(
        logits.log_softmax(-1), padded, torch.tensor([6, 4, 6]), lengths, reduction="none",
        zero_infinity=True,
    )  # fmt: skip
    torch.testing.assert_close(loss, theirs)


def test_bad_arguments_are_clear() -> None:
    lp = torch.randn(5, 2, 4).log_softmax(-1)
    with pytest.raises(ValueError, match="blank index 0"):
        ctc_loss(lp, [[0, 1], [2]], [5, 5])
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        ctc_loss(lp, [[5], [2]], [5, 5])
    with pytest.raises(ValueError, match=r"input_lengths must be in \[1, T=5\]"):
        ctc_loss(lp, [[1], [2]], [6, 5])
    with pytest.raises(ValueError, match=r"\(T, B, C\)"):
        ctc_loss(lp[0], [[1], [2]], [5, 5])
    with pytest.raises(ValueError, match="reduction"):
        ctc_loss(lp, [[1], [2]], [5, 5], reduction="avg")  # type: ignore[arg-type]
