"""Beam search with the course's length normalisation, batched over rows and beams.

The course's algorithm (Sequence Models, week 3): keep the K most probable partial outputs
(the beam width B of the lectures is ``beam_size`` K here); at each step extend every one of
them by every vocabulary token, score the K·V candidates by

    log P(y<1..t> | x) = log P(y<1..t-1> | x) + log P(y<t> | x, y<1..t-1>)

and keep the best K. A candidate ending in ``<EOS>`` leaves the beam as a finished hypothesis,
ranked by the normalised log-likelihood (1 / Ty^α) · Σ log P (Ty counts the emitted tokens,
``<EOS>`` included; see :mod:`seqlab.decoding.protocol`).

Bookkeeping follows transformers' ``BeamSearchScorer`` / OpenNMT's ``BeamSearch``:

* every step runs the model once on the live beams of all rows (``step`` on one batch),
  and follows the back-pointers with the model's ``reorder_state``;
* the first step extends a single ``<BOS>`` per row (B model rows, not B·K: the other K-1
  beams start at −∞), so no two beams are the same sequence;
* of the 2K best candidates, an ``<EOS>`` candidate ranked within the top K joins the row's
  n-best list (:class:`NBestList`) and the K best others stay live (so K beams stay alive);
  the 2K best of K·V are found in two stages (each beam's 2K best tokens, then the row's
  2K best of those K·2K), without a K·V float64 table;
* a row stops when its n-best list holds ``n_best`` hypotheses that no live beam can beat
  (``early_stopping="never"``, the default): a live beam's log-probability can only fall,
  so (1 / Ty^α) · log P ≤ log P / L^α bounds every continuation, L being the row's length
  cap (``max_length``, or the row's own cap from ``max_lengths``; a per-input cap such as
  a·|x| + b tightens the bound, so rows stop sooner); ``True`` stops
  as soon as the list is full, ``False`` uses transformers' heuristic (see
  :func:`beam_search`);
* a live beam whose bound does not beat its row's full list is dropped from the model's
  batch at once (it and its descendants can never enter the list, and every candidate
  ranked below one of its extensions is as hopeless, so the row's outputs do not change):
  fewer decoder rows for the same outputs;
* at its cap L a row's live beams are scored as they are (Ty = L, no ``<EOS>``),
  compete for the n-best list and are flagged ``finished=False``.

With ``early_stopping=True`` (or α = 0), beam size 1 is greedy search; with a beam wide enough
to hold every prefix, beam search is exact. Both are tested in ``tests/test_decoding.py``
against greedy search and brute-force enumeration on hand-built score tables;
``tests/test_beam_exact.py`` checks that the outputs equal those of the plain batched beam
search (every row keeping all K beams until it stops) that seqlab had before.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from seqlab.decoding.protocol import (
    Hypothesis,
    State,
    StepModel,
    check_search_args,
    normalized_score,
    row_caps,
    state_device,
)
from seqlab.shapes import check_shape

__all__ = ["EarlyStopping", "NBestList", "beam_search", "check_early_stopping"]


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


EarlyStopping = bool | Literal["never"]  # when a row stops: see beam_search


def check_early_stopping(value: object) -> None:
    """ValueError unless ``value`` is True, False or ``"never"``."""
    if not (value is True or value is False or value == "never"):
        raise ValueError(f'early_stopping must be True, False or "never", got {value!r}')


@dataclass
class _Beams:
    """The beams of the rows still searching, and which of them the model extends.

    Row i of the n rows still searching owns the slots i·K .. i·K + K - 1. A slot is
    *active* while its beam may still lead to an n-best entry: only active beams are rows
    of the model's state (in ``active`` order) and are extended.
    """

    rows: list[int]  # (n,) the input row of each row still searching
    caps: list[int]  # (n,) each row's length cap (tokens, <EOS> included)
    lp: Tensor  # (n, K) float64: log P of each slot's beam (-inf: empty or inactive)
    active: Tensor  # (N,) int64: the active slots i·K + k, ascending (CPU)
    history: Tensor  # (N, t-1) int64: the tokens each active beam emitted so far (CPU)

    def positions(self) -> Tensor:
        """Each slot's row in the model's state (-1 for an inactive slot).

        Shape:
            -> (n*K,) int64
        """
        where = torch.full((self.lp.numel(),), -1, dtype=torch.long)  # (n*K,)
        return where.index_copy_(0, self.active, torch.arange(len(self.active)))


@torch.no_grad()
def beam_search(
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
    early_stopping: EarlyStopping = "never",
    device: torch.device | str | None = None,
    max_lengths: Sequence[int] | None = None,
) -> list[list[Hypothesis]]:
    """The ``n_best`` best outputs found by a beam of ``beam_size`` for each row of ``state``.

    ``state`` is the model's initial state for ``batch_size`` rows (``init_state(...)``); the
    search picks and repeats its rows with ``reorder_state``. ``max_length`` caps the emitted
    tokens (``<EOS>`` included); ``max_lengths``, if given, caps each row's below that
    (row i: ``min(max_length, max_lengths[i])``, e.g. from its source's length: the exact
    stop's bound tightens with the cap). Each row's list is sorted by score, best first, and holds
    fewer than ``n_best`` hypotheses only when fewer sequences have a nonzero probability.
    The model's mode is left as it is: call ``model.eval()`` first to decode without dropout.

    ``early_stopping`` (named as in transformers' ``generate``) says when a row whose n-best
    list is full stops: ``"never"`` (the default) once no live beam can enter the list any
    more (exact: the outputs of running every row to ``max_length``); ``True`` at once;
    ``False`` once the best live beam, scored as if it ended now (log P / t^α after t
    tokens), does not beat the list (transformers' heuristic: fewer steps, mostly the same
    outputs, but a longer continuation may score higher under length normalisation).

    Shape:
        state with B rows -> B lists of up to n_best hypotheses
    """
    check_search_args(batch_size=batch_size, max_length=max_length, alpha=alpha)
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    check_early_stopping(early_stopping)
    dev = torch.device(device) if device is not None else state_device(model, state)
    caps = row_caps(max_length, max_lengths, batch_size)
    K = beam_size
    nbest = [NBestList(n_best, alpha) for _ in range(batch_size)]
    lp = torch.full((batch_size, K), -math.inf, dtype=torch.float64)  # (B, K)
    lp[:, 0] = 0.0  # one <BOS> per row: the first step extends slot 0 only
    beams = _Beams(
        rows=list(range(batch_size)),
        caps=caps,
        lp=lp,
        active=torch.arange(batch_size) * K,  # (B,): the state's B rows are the slots 0
        history=torch.empty((batch_size, 0), dtype=torch.long),  # (B, 0)
    )
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=dev)  # (B,)
    for t in range(1, max(caps) + 1):
        log_probs, state = model.step(tokens, state)  # (N, V)
        check_shape(log_probs, (len(beams.active), "V"), "log_probs")
        if log_probs.shape[1] < 2:
            raise ValueError(
                f"beam search needs a vocabulary of 2 or more tokens, got {log_probs.shape[1]}"
            )
        top = _top_candidates(beams, log_probs)
        last = torch.tensor([cap == t for cap in beams.caps])  # (n,): rows at their cap
        nxt = _extend(beams, nbest, top, t=t, eos_id=eos_id, last=last)
        done = _done_and_hopeless(beams, nbest, nxt[0], t=t, last=last, rule=early_stopping)
        if bool(done[0].all()):
            break
        rows_before = len(beams.active)
        beams, src = _next_beams(beams, nxt, *done)
        if not torch.equal(src, torch.arange(rows_before)):
            state = model.reorder_state(state, src.to(dev))  # follow the back-pointers
        tokens = beams.history[:, -1].to(dev)  # (N',)
    return [nb.hypotheses() for nb in nbest]


Candidates = tuple[Tensor, Tensor, Tensor]  # log P, source slot, token: (n, C) each


def _top_candidates(beams: _Beams, log_probs: Tensor) -> Candidates:
    """Each row's 2K best one-token extensions, best first, on the CPU.

    They are the 2K best of the K·V extensions of the row's K slots (an inactive or empty
    slot's extensions count as -inf), found in two stages: each active beam's 2K best
    tokens (log P(y<1..t-1>) + · keeps their order), then the row's 2K best of those K·2K
    (a candidate in the row's top 2K is in its own beam's top 2K).

    Shape:
        log_probs: (N, V) -> log P (n, 2K) float64, source slot (n, 2K), token (n, 2K)
    """
    n, K = beams.lp.shape
    C = min(2 * K, log_probs.shape[1])  # per beam; K·C >= 2K as V >= 2
    tok_lp, tok = log_probs.topk(C, dim=1)  # (N, C)
    tok_lp, tok = tok_lp.cpu().double(), tok.cpu()
    # log P(y<1..t>) = log P(y<1..t-1>) + log P(y<t> | y<1..t-1>)
    cand = beams.lp.view(-1)[beams.active, None] + tok_lp  # (N, C)
    if len(beams.active) < n * K:  # an inactive slot extends to -inf
        cand = torch.full((n * K, C), -math.inf, dtype=torch.float64).index_copy_(
            0, beams.active, cand
        )  # (n*K, C)
        tok = torch.zeros((n * K, C), dtype=torch.long).index_copy_(0, beams.active, tok)
    top_lp, top_idx = cand.view(n, K * C).topk(2 * K, dim=1)  # (n, 2K)
    return (
        top_lp,
        torch.arange(n)[:, None] * K + top_idx // C,
        tok.view(n, K * C).gather(1, top_idx),
    )


def _extend(
    beams: _Beams, nbest: list[NBestList], top: Candidates, *, t: int, eos_id: int, last: Tensor
) -> Candidates:
    """Move each row's ``<EOS>`` candidates ranked within its top K to its n-best list and
    return the K best other candidates, the next beams (in a row at its cap, ``last``,
    these are cut off and join the list unfinished).

    Shape:
        top: (n, 2K) each, last: (n,) bool
        -> next beams: log P (n, K) float64, source slot (n, K), token (n, K)
    """
    top_lp, top_slot, top_tok = top
    n, K = top_lp.shape[0], top_lp.shape[1] // 2
    is_eos = top_tok == eos_id  # (n, 2K)
    # a beam has one <EOS> extension, so at least K of the 2K candidates are not <EOS>
    stay = ~is_eos & (torch.cumsum(~is_eos, dim=1) <= K)  # (n, 2K): the first K others
    nxt = (top_lp[stay].view(n, K), top_slot[stay].view(n, K), top_tok[stay].view(n, K))
    # Ty = t for both (t - 1 tokens and <EOS>, or t tokens cut off); NBestList.add rejects
    # what does not beat the list's worst, so skip it here already (worst only rises)
    worst = torch.tensor([nbest[r].worst_score for r in beams.rows], dtype=torch.float64)
    scale = t ** nbest[0].alpha
    ended = is_eos & (top_lp > -math.inf) & (top_lp / scale > worst[:, None])  # (n, 2K)
    ended[:, K:] = False  # an <EOS> ranked below K would displace a better beam
    cut = (nxt[0] > -math.inf) & (nxt[0] / scale > worst[:, None]) & last[:, None]  # (n, K)
    if not (bool(ended.any()) or bool(cut.any())):
        return nxt
    where = beams.positions()  # (n*K,)
    # row by row the <EOS> candidates in rank order, then (at the last step) the cut-offs
    i_end, _ = ended.nonzero(as_tuple=True)  # (E,) in row-major order
    prefixes = beams.history[where[top_slot[ended]]].tolist()  # E prefixes
    for i, prefix, lp in zip(i_end.tolist(), prefixes, top_lp[ended].tolist(), strict=True):
        nbest[beams.rows[i]].add(prefix, lp, finished=True)
    i_cut, _ = cut.nonzero(as_tuple=True)  # (C,)
    src = beams.history[where[nxt[1][cut]]]  # (C, t-1)
    cut_off = torch.cat([src, nxt[2][cut][:, None]], 1).tolist()  # C outputs of t tokens
    for i, tokens, lp in zip(i_cut.tolist(), cut_off, nxt[0][cut].tolist(), strict=True):
        nbest[beams.rows[i]].add(tokens, lp, finished=False)  # scored as they are
    return nxt


def _done_and_hopeless(
    beams: _Beams,
    nbest: list[NBestList],
    lp: Tensor,
    *,
    t: int,
    last: Tensor,
    rule: EarlyStopping,
) -> tuple[Tensor, Tensor]:
    """Which rows stop, and which of the next beams can no longer enter their row's list.

    A beam with log P = s can only fall, and Ty <= L (the row's cap), so s / L^α bounds
    the score of all its continuations: once that is not above a full list's worst score,
    neither the beam nor its descendants can enter the list. Dropping such a beam changes
    nothing else: every candidate ranked below one of its extensions is hopeless too, so
    the K best hopeful candidates of a row are the same with or without it. A row at its
    cap (``last``) stops.

    Shape:
        lp: (n, K), last: (n,) bool -> done (n,) bool, hopeless (n, K) bool
    """
    alpha = nbest[0].alpha
    lists = [nbest[r] for r in beams.rows]
    worst = torch.tensor([nb.worst_score for nb in lists], dtype=torch.float64)[:, None]
    full = torch.tensor([nb.is_full for nb in lists])  # (n,)
    # L^α per row in Python floats: the same rounding as NBestList.is_done's bound
    scale = torch.tensor([cap**alpha for cap in beams.caps], dtype=torch.float64)  # (n,)
    hopeless = (lp == -math.inf) | (full[:, None] & (lp / scale[:, None] <= worst))
    if isinstance(rule, str):  # "never": exact
        done = hopeless.all(1)  # (n,)
    elif rule is True:
        done = full | (lp == -math.inf).all(1)
    else:  # transformers' heuristic: the best live beam scored as if it ended now
        best = lp.max(1).values  # (n,)
        done = (best == -math.inf) | (full & (best / t**alpha <= worst[:, 0]))
    return done | last, hopeless


def _next_beams(
    beams: _Beams, nxt: Candidates, done: Tensor, hopeless: Tensor
) -> tuple[_Beams, Tensor]:
    """The beams of the rows that go on, only the hopeful ones active; and, for each newly
    active beam, the row of the model's state it extends (for ``reorder_state``).

    Shape:
        nxt: (n, K) each, done: (n,), hopeless: (n, K) -> beams with N' active, (N',) int64
    """
    lp, src_slot, tok = nxt
    keep = (~done).nonzero()[:, 0]  # (n',)
    lp = lp[keep].masked_fill(hopeless[keep], -math.inf)  # (n', K)
    active = (lp.view(-1) > -math.inf).nonzero()[:, 0]  # (N',)
    src = beams.positions()[src_slot[keep].view(-1)[active]]  # (N',)
    history = torch.cat([beams.history[src], tok[keep].view(-1)[active, None]], 1)  # (N', t)
    kept = keep.tolist()
    rows, caps = [beams.rows[i] for i in kept], [beams.caps[i] for i in kept]
    return _Beams(rows=rows, caps=caps, lp=lp, active=active, history=history), src
