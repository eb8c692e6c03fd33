"""The batched beam search as seqlab shipped it before its speed-ups: the frozen oracle.

``tests/test_beam_exact.py`` checks that :func:`seqlab.decoding.beam_search` (which drops
hopeless beams, keeps one ``<BOS>`` beam per row on the first step and ranks candidates in
two stages) returns exactly these hypotheses. This copy keeps the original's plain
bookkeeping: every row runs all K beams through the model until its exact stop, a Python
loop per candidate, ``early_stopping=False`` being the exact rule (the library's
``"never"``). Do not optimise it.

Bookkeeping as transformers' ``BeamSearchScorer`` / OpenNMT's ``BeamSearch``; see the
library's module for the algorithm.
"""

from __future__ import annotations

import bisect
import math

import torch

from seqlab.decoding.protocol import (
    Hypothesis,
    State,
    StepModel,
    check_search_args,
    normalized_score,
    state_device,
)
from seqlab.shapes import check_shape

__all__ = ["reference_beam_search"]


class NBestList:
    """The ``n_best`` highest-scoring hypotheses found so far for one input, best first."""

    def __init__(self, n_best: int, alpha: float) -> None:
        if n_best < 1:
            raise ValueError(f"n_best must be >= 1, got {n_best}")
        self.n_best = n_best
        self.alpha = alpha
        self._items: list[Hypothesis] = []  # sorted by score, best first
        self._keys: list[float] = []  # -score of each item (ascending, for bisect)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def is_full(self) -> bool:
        return len(self._items) >= self.n_best

    @property
    def worst_score(self) -> float:
        """The score a new hypothesis must beat to enter (−∞ while the list is not full)."""
        return self._items[-1].score if self.is_full else -math.inf

    def add(self, tokens: list[int], log_prob: float, *, finished: bool) -> None:
        """Insert the hypothesis if it beats the worst kept one (ties keep the earlier)."""
        length = len(tokens) + int(finished)
        score = normalized_score(log_prob, length, self.alpha)
        if self.is_full and score <= self.worst_score:
            return
        at = bisect.bisect_right(self._keys, -score)
        self._items.insert(at, Hypothesis(tokens, log_prob, score, finished))
        self._keys.insert(at, -score)
        del self._items[self.n_best :], self._keys[self.n_best :]

    def is_done(self, best_live_log_prob: float, max_length: int, early_stopping: bool) -> bool:
        """True when no live beam (best cumulative log P given) can enter the list."""
        if best_live_log_prob == -math.inf:
            return True  # nothing left to extend
        if not self.is_full:
            return False
        if early_stopping:
            return True
        # log P only falls as a beam grows, and Ty <= max_length: log P / Ty^α <= this bound
        bound = best_live_log_prob / max_length**self.alpha
        return self.worst_score >= bound

    def hypotheses(self) -> list[Hypothesis]:
        """The kept hypotheses, best score first."""
        return list(self._items)


@torch.no_grad()
def reference_beam_search(
    model: StepModel,
    state: State,
    *,
    batch_size: int,
    beam_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    alpha: float = 0.7,
    n_best: int = 1,
    early_stopping: bool = False,
    device: torch.device | str | None = None,
) -> list[list[Hypothesis]]:
    """The ``n_best`` best outputs found by a beam of ``beam_size`` for each row of ``state``.

    ``state`` is the model's initial state for ``batch_size`` rows (``init_state(...)``); it
    is expanded to B·K rows with ``reorder_state``. ``max_length`` caps the emitted tokens
    (``<EOS>`` included). Each row's list is sorted by score, best first, and holds fewer than
    ``n_best`` hypotheses only when fewer sequences have a nonzero probability. The model's
    mode is left as it is: call ``model.eval()`` first to decode without dropout.

    Shape:
        state with B rows -> B lists of up to n_best hypotheses
    """
    check_search_args(batch_size=batch_size, max_length=max_length, alpha=alpha)
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    dev = torch.device(device) if device is not None else state_device(model, state)
    K = beam_size
    nbest = [NBestList(n_best, alpha) for _ in range(batch_size)]
    rows = list(range(batch_size))  # original row of each live row
    expand = torch.arange(batch_size, device=dev).repeat_interleave(K)  # (B*K,)
    state = model.reorder_state(state, expand)  # B -> B*K rows, beam k of row b at b*K + k
    beam_lp = torch.full((batch_size, K), -math.inf, dtype=torch.float64, device=dev)  # (B, K)
    beam_lp[:, 0] = 0.0  # one <BOS> per row: the first step expands beam 0 only
    history = torch.empty((batch_size * K, 0), dtype=torch.long)  # (B*K, t-1) on the CPU
    tokens = torch.full((batch_size * K,), bos_id, dtype=torch.long, device=dev)  # (B*K,)
    for t in range(1, max_length + 1):
        n = len(rows)
        log_probs, state = model.step(tokens, state)  # (B'*K, V)
        check_shape(log_probs, (n * K, "V"), "log_probs")
        V = log_probs.shape[1]
        if V < 2:
            raise ValueError(f"beam search needs a vocabulary of 2 or more tokens, got {V}")
        # log P(y<1..t>) = log P(y<1..t-1>) + log P(y<t> | y<1..t-1>)
        cand = beam_lp[:, :, None] + log_probs.double().view(n, K, V)  # (B', K, V)
        top_lp, top_idx = cand.view(n, K * V).topk(2 * K, dim=1)  # (B', 2K)
        top_beam, top_tok = top_idx // V, top_idx % V  # (B', 2K)
        new_lp = [[-math.inf] * K for _ in range(n)]
        new_src = [[i * K] * K for i in range(n)]  # flat beam each new beam extends
        new_tok = [[eos_id] * K for _ in range(n)]
        keep: list[int] = []
        for i, (lps, beams, toks) in enumerate(
            zip(top_lp.tolist(), top_beam.tolist(), top_tok.tolist(), strict=True)
        ):
            live = 0
            for rank, (lp, beam, tok) in enumerate(zip(lps, beams, toks, strict=True)):
                if tok == eos_id:
                    if rank < K and lp > -math.inf:
                        prefix = history[i * K + beam].tolist()
                        nbest[rows[i]].add(prefix, lp, finished=True)
                elif live < K:
                    new_lp[i][live], new_src[i][live], new_tok[i][live] = lp, i * K + beam, tok
                    live += 1
                if live == K and rank >= K - 1:
                    break  # later EOS candidates rank >= K
            if t == max_length:
                for k in range(K):  # cut off: live beams are scored as they are
                    if new_lp[i][k] > -math.inf:
                        prefix = [*history[new_src[i][k]].tolist(), new_tok[i][k]]
                        nbest[rows[i]].add(prefix, new_lp[i][k], finished=False)
            elif not nbest[rows[i]].is_done(max(new_lp[i]), max_length, early_stopping):
                keep.append(i)
        if not keep:
            break
        src = torch.tensor([new_src[i] for i in keep], dtype=torch.long).view(-1)  # (B''*K,)
        history = torch.cat(
            [history[src], torch.tensor([new_tok[i] for i in keep]).view(-1, 1)], 1
        )  # (B''*K, t)
        state = model.reorder_state(state, src.to(dev))  # follow the back-pointers
        tokens = history[:, -1].to(dev)  # (B''*K,)
        beam_lp = torch.tensor([new_lp[i] for i in keep], dtype=torch.float64, device=dev)
        rows = [rows[i] for i in keep]
    return [nb.hypotheses() for nb in nbest]
