"""CTC decoding: greedy (best path) and prefix beam search with optional shallow fusion of
a character language model.

**Greedy** (the course's rule): take the most probable class at every frame, then collapse
repeats that are not separated by a blank and drop the blanks: ``aa-ab-- -> aab``.

**Prefix beam search** (Hannun et al., 2014, "First-pass large vocabulary continuous speech
recognition using bi-directional recurrent DNNs"): it keeps the ``beam_size`` best label
prefixes ℓ, each with two log-probabilities, of the paths over frames 0..t that collapse to
ℓ and end in a blank, ``p_b(ℓ)``, or in ℓ's last label, ``p_nb(ℓ)``. At frame t, with
``y_k`` the frame's probabilities:

    p_b(ℓ)    += (p_b(ℓ) + p_nb(ℓ)) · y_blank              (a blank: ℓ unchanged)
    p_nb(ℓ)   += p_nb(ℓ) · y_c        where c = ℓ's last label (the repeat merges)
    p_nb(ℓ+c) += p_b(ℓ) · y_c · P_LM(c | ℓ)^α                  if c = ℓ's last label
    p_nb(ℓ+c) += (p_b(ℓ) + p_nb(ℓ)) · y_c · P_LM(c | ℓ)^α      otherwise

and ranks prefixes by ``ln(p_b + p_nb) + β · |ℓ|``. Without a language model (α = 0) the
total ``p_b + p_nb`` is exactly P_ctc(ℓ | x), the sum over every alignment; with one it is
P_ctc(ℓ | x) · P_LM(ℓ)^α (the LM factor depends only on ℓ), so with a beam wide enough to
keep every prefix the search returns

    argmax_ℓ  ln P_ctc(ℓ | x) + α ln P_LM(ℓ) + β |ℓ|

which is what tests/test_ctc_decoding.py checks against brute force over every alignment.
``P_LM(ℓ)`` has no end-of-sentence term. The language model is any
:class:`~seqlab.decoding.protocol.StepModel` (a character LM from ``seqlab lm``): it reads
``bos_id`` first, then each label's LM id; the states of all new prefixes at a frame are
computed in one ``step`` per source state.

**Lexicon-constrained search** (``lexicon=``, a :class:`Lexicon`): the prefixes may only
spell words of a word list, separated by one separator label (the space): a prefix grows by
``c`` only where ``c`` continues one of the words it is spelling (a trie), or, after a whole
word, is the separator; the repeat and blank updates above are unchanged. The hypotheses
returned end on a whole word, so with a beam wide enough to keep every prefix the search
returns ``argmax ln P_ctc(ℓ | x) + α ln P_LM(ℓ) + β |ℓ|`` over the labellings ℓ = w₁ ␣ w₂ ␣ …
␣ wₙ (n ≥ 1) of lexicon words (checked against brute force too). This is the standard remedy
for a character model's misspellings ("thre", "ninee") when the words are known, e.g. the
ten digit words.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from seqlab.decoding.protocol import State, StepModel, state_device

__all__ = [
    "CTCHypothesis",
    "Lexicon",
    "ShallowFusion",
    "ctc_beam_search",
    "ctc_collapse",
    "ctc_greedy_decode",
]

_NEG_INF = float("-inf")


def ctc_collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """Collapse repeats not separated by a blank, then drop blanks.

    >>> ctc_collapse([1, 1, 0, 1, 2, 0, 0, 2], blank=0)
    [1, 1, 2, 2]
    """
    out: list[int] = []
    previous = None
    for k in path:
        if k != blank and k != previous:
            out.append(k)
        previous = k
    return out


def _check_log_probs(log_probs: Tensor, dims: int, shape: str) -> None:
    if log_probs.dim() != dims or not log_probs.is_floating_point():
        raise ValueError(
            f"expected float log_probs of shape {shape}, got {tuple(log_probs.shape)} "
            f"{log_probs.dtype}"
        )


def ctc_greedy_decode(
    log_probs: Tensor, lengths: Tensor | Sequence[int] | None = None, *, blank: int = 0
) -> list[list[int]]:
    """The best path of every item, collapsed (the course's rule). Batch first.

    Shape:
        log_probs: (B, T, C), lengths: (B,) -> B label lists
    """
    _check_log_probs(log_probs, 3, "(B, T, C)")
    batch, steps, _ = log_probs.shape
    frames = [steps] * batch if lengths is None else [int(n) for n in lengths]
    if len(frames) != batch or any(not 0 <= n <= steps for n in frames):
        raise ValueError(f"expected {batch} lengths in [0, {steps}], got {frames}")
    best = log_probs.argmax(dim=-1).tolist()  # (B, T)
    return [ctc_collapse(row[:n], blank) for row, n in zip(best, frames, strict=True)]


@dataclass(frozen=True)
class CTCHypothesis:
    """One labelling found by the beam search and its scores (natural logs)."""

    tokens: list[int]  # the labels (CTC class ids), blanks and repeats collapsed
    score: float  # ln P_ctc + α ln P_LM + β · len: what the search ranks by
    ctc_log_prob: float  # ln P_ctc(tokens | x): the sum over every alignment kept
    lm_log_prob: float  # ln P_LM(tokens) (0 without a language model)


@dataclass(frozen=True, kw_only=True)
class ShallowFusion:
    """A character language model fused into the beam search (module docstring)."""

    model: StepModel  # step(tokens, state) -> (log P(next), state); reorder_state
    state: State  # its initial state, one row (e.g. the LM's init_state(1))
    bos_id: int  # the token it reads first
    weight: float = 0.5  # α in α ln P_LM(ℓ)
    label_ids: Sequence[int] | None = None  # LM id of each CTC class (blank's unused); None: same


class Lexicon:
    """The words a transcript may use, as label sequences (a trie), and the label between
    words (module docstring).

    ``words``: each word's labels (CTC class ids, no blank); ``separator``: the label that
    separates two words (the space's id), or ``None``: a transcript is then one word (a
    recognizer of isolated words, whose labels have no space). Node 0 is the root (no
    letter read yet).

    >>> lex = Lexicon([[1, 2], [1, 3]], separator=4)
    >>> sorted(lex.next_labels(0)), sorted(lex.next_labels(lex.after(0, 1)))
    ([1], [2, 3])
    """

    def __init__(self, words: Sequence[Sequence[int]], *, separator: int | None) -> None:
        if not words:
            raise ValueError("a lexicon needs at least one word")
        self.separator = separator
        self._children: list[dict[int, int]] = [{}]  # node -> {label: child node}
        self._ends: list[bool] = [False]  # True where a whole word ends
        for word in words:
            if not word:
                raise ValueError("a lexicon word needs at least one label")
            if separator is not None and separator in word:
                raise ValueError(f"a lexicon word contains the separator label {separator}")
            node = 0
            for c in word:
                if c not in self._children[node]:
                    self._children[node][c] = len(self._children)
                    self._children.append({})
                    self._ends.append(False)
                node = self._children[node][c]
            self._ends[node] = True
        self.labels = frozenset(c for word in words for c in word) | (
            frozenset() if separator is None else {separator}
        )  # every label the lexicon uses

    def __len__(self) -> int:
        """Nodes in the trie (the root included)."""
        return len(self._children)

    def is_word_end(self, node: int) -> bool:
        """True where ``node`` closes a whole word."""
        return self._ends[node]

    def next_labels(self, node: int) -> dict[int, int]:
        """The labels a prefix at ``node`` may grow by, each with the node it leads to:
        the trie's children, and after a whole word the separator (back to the root)."""
        allowed = self._children[node]
        if self._ends[node] and self.separator is not None:
            return {**allowed, self.separator: 0}
        return allowed

    def after(self, node: int, label: int) -> int:
        """The node reached from ``node`` by ``label`` (``KeyError`` if not allowed)."""
        return self.next_labels(node)[label]


def _log_add(a: float, b: float) -> float:
    """ln(e^a + e^b) without overflow."""
    if a < b:
        a, b = b, a
    if b == _NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


class _LanguageModel:
    """ln P_LM(c | ℓ) for the prefixes in the beam, over CTC classes, with their states."""

    def __init__(self, fusion: ShallowFusion, classes: int) -> None:
        ids = list(range(classes)) if fusion.label_ids is None else list(fusion.label_ids)
        if len(ids) != classes:
            raise ValueError(f"label_ids must have one LM id per CTC class ({classes}), "
                             f"got {len(ids)}")  # fmt: skip
        self.fusion = fusion
        self.ids = ids
        device = state_device(fusion.model, fusion.state)
        self.index = torch.tensor(ids, device=device)  # (C,)
        start = torch.tensor([fusion.bos_id], device=device)  # (1,)
        log_probs, state = fusion.model.step(start, fusion.state)  # (1, V)
        self.next: dict[tuple[int, ...], list[float]] = {(): self._over_classes(log_probs)[0]}
        self.states: dict[tuple[int, ...], tuple[State, int]] = {(): (state, 0)}

    def _over_classes(self, log_probs: Tensor) -> list[list[float]]:
        return log_probs.index_select(1, self.index.to(log_probs.device)).tolist()  # (B, C)

    def keep(self, prefixes: Sequence[tuple[int, ...]]) -> None:
        """Compute P_LM(· | ℓ) for the new prefixes; forget prefixes that left the beam."""
        groups: dict[int, list[tuple[int, ...]]] = {}
        for prefix in prefixes:
            if prefix not in self.next:
                groups.setdefault(id(self.states[prefix[:-1]][0]), []).append(prefix)
        for group in groups.values():
            source = self.states[group[0][:-1]][0]
            rows = torch.tensor([self.states[p[:-1]][1] for p in group])
            device = state_device(self.fusion.model, source)
            state = self.fusion.model.reorder_state(source, rows.to(device))
            tokens = torch.tensor([self.ids[p[-1]] for p in group], device=device)  # (G,)
            log_probs, state = self.fusion.model.step(tokens, state)  # (G, V)
            for i, (prefix, dist) in enumerate(
                zip(group, self._over_classes(log_probs), strict=True)
            ):
                self.next[prefix] = dist
                self.states[prefix] = (state, i)
        self.next = {p: self.next[p] for p in prefixes}
        self.states = {p: self.states[p] for p in prefixes}


@torch.no_grad()
def ctc_beam_search(
    log_probs: Tensor,
    *,
    beam_size: int = 16,
    blank: int = 0,
    insertion_bonus: float = 0.0,
    lm: ShallowFusion | None = None,
    lexicon: Lexicon | None = None,
    token_min_logp: float | None = None,
    nbest: int | None = None,
) -> list[CTCHypothesis]:
    """Prefix beam search over one utterance's CTC log-probabilities (module docstring).

    ``insertion_bonus``: β, added per label. ``lexicon``: spell only its words (module
    docstring); the hypotheses returned end on a whole word (if none in the final beam
    does, the beam's best are returned as they are). ``token_min_logp``: at each frame, skip
    the labels whose log-probability is below it (faster, inexact; ``None`` tries every
    label). Returns the ``nbest`` (default ``beam_size``) best hypotheses, best first.

    Shape:
        log_probs: (T, C) -> up to nbest hypotheses
    """
    _check_log_probs(log_probs, 2, "(T, C)")
    classes = log_probs.shape[1]
    if beam_size < 1 or not 0 <= blank < classes:
        raise ValueError(f"need beam_size >= 1 and blank in [0, {classes}), got "
                         f"{beam_size} and {blank}")  # fmt: skip
    if lexicon is not None and (
        blank in lexicon.labels or not lexicon.labels <= set(range(classes))
    ):
        raise ValueError(f"the lexicon's labels must be classes in [0, {classes}) other than the "
                         f"blank {blank}, got {sorted(lexicon.labels)}")  # fmt: skip
    fusion = _LanguageModel(lm, classes) if lm is not None else None
    alpha = lm.weight if lm is not None else 0.0
    cutoff = _NEG_INF if token_min_logp is None else token_min_logp
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG_INF)}  # (ln p_b, ln p_nb)
    lm_sum: dict[tuple[int, ...], float] = {(): 0.0}
    nodes: dict[tuple[int, ...], int] = {(): 0}  # each prefix's lexicon node (root: 0)
    for row in log_probs.double().tolist():  # (C,) per frame
        labels = [c for c in range(classes) if c != blank and row[c] >= cutoff]
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _log_add(pb, pnb)
            same = grown.setdefault(prefix, [_NEG_INF, _NEG_INF])
            same[0] = _log_add(same[0], total + row[blank])
            dist = fusion.next[prefix] if fusion is not None else None
            allowed = lexicon.next_labels(nodes[prefix]) if lexicon is not None else None
            for c in labels:
                repeat = bool(prefix) and prefix[-1] == c
                if repeat:  # the repeat merges into ℓ: allowed whatever the lexicon says
                    same[1] = _log_add(same[1], pnb + row[c])
                if allowed is not None:
                    if c not in allowed:
                        continue
                    nodes.setdefault((*prefix, c), allowed[c])
                longer = (*prefix, c)
                lm_c = dist[c] if dist is not None else 0.0
                into = grown.setdefault(longer, [_NEG_INF, _NEG_INF])
                into[1] = _log_add(into[1], (pb if repeat else total) + row[c] + alpha * lm_c)
                lm_sum.setdefault(longer, lm_sum[prefix] + lm_c)
        kept = heapq.nlargest(
            beam_size, grown.items(), key=lambda kv: _log_add(*kv[1]) + insertion_bonus * len(kv[0])
        )
        beams = {prefix: (pb, pnb) for prefix, (pb, pnb) in kept}
        lm_sum = {prefix: lm_sum[prefix] for prefix in beams}
        if lexicon is not None:
            nodes = {prefix: nodes[prefix] for prefix in beams}
        if fusion is not None:
            fusion.keep(list(beams))
    if lexicon is not None and any(lexicon.is_word_end(nodes[p]) for p in beams):
        beams = {p: v for p, v in beams.items() if lexicon.is_word_end(nodes[p])}
    hypotheses = [
        CTCHypothesis(
            tokens=list(prefix),
            score=_log_add(pb, pnb) + insertion_bonus * len(prefix),
            ctc_log_prob=_log_add(pb, pnb) - alpha * lm_sum[prefix],
            lm_log_prob=lm_sum[prefix],
        )
        for prefix, (pb, pnb) in beams.items()
    ]
    hypotheses.sort(key=lambda h: h.score, reverse=True)
    return hypotheses[: nbest or beam_size]
