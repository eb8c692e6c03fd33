"""Vanishing gradients, measured: how far back a recurrent network's gradient reaches.

The course (week 1) explains why a plain RNN forgets: back-propagating from a<T> to a<t>
multiplies T − t Jacobians of one step,

    ∂a<T>/∂a<t> = Π_{k=t+1..T} ∂a<k>/∂a<k-1>,   for the tanh RNN
    ∂a<k>/∂a<k-1> = diag(1 − a<k>²) W_aa,

so when every factor shrinks vectors (‖W_aa‖₂ < 1, or saturated tanh units) the product
decays geometrically with the distance T − t, and the loss at step T cannot teach step t.
The GRU's and the LSTM's memory cell add a path with factor Γf (LSTM: c<k> = Γf ⊙ c<k-1> + …;
GRU: c<k> = (1 − Γu) ⊙ c<k-1> + …) that keeps the product near 1 while the gate stays open.

:func:`gradient_flow` measures both quantities for a seqlab recurrent module or a recurrent
language model, on one input sequence:

* ``loss_grad_norms[t-1]`` = ‖∂L/∂a<t>‖ for t = 1..T (the gradient that reaches a<t>, every
  path through later steps and the loss terms included);
* ``jacobian_norms[d]`` = ‖∂a<T>/∂a<T−d>‖_F for d = T − t = 0..T−1 (d = 0 is the identity:
  √H).

How it is computed: the top layer runs step by step (the module's own cell equations, the
``impl="loop"`` path), so every a<t> is a node of the autograd graph; one backward pass gives
all of them. The Jacobian's H rows come from the same pass: the top layer runs on 1 + H
copies of its input, copy 0 carries the loss and copy i + 1 carries a<T>[i], so the gradient
that reaches copy i + 1's a<t> is row i of ∂a<T>/∂a<t>. The lower layers of a deep network
run once, without gradients: a<t> of the top layer does not influence them.

For the LSTM, a<t> is the hidden state h<t> and the Jacobian holds the memory cell c<t>
fixed: it counts the paths from a<t> (through the gates of step t+1) and not those from
c<t>. The network runs as in eval mode (no dropout), from a zero initial state, by default
in float64 so that the tiny norms of a forgetting network do not underflow.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.recurrent import GRU, LSTM, RNN, RNNBase

__all__ = ["GradientFlow", "gradient_flow"]

LossFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class GradientFlow:
    """What :func:`gradient_flow` measured on one sequence of T steps.

    Index ``t - 1`` of ``loss_grad_norms`` is a<t> (the course's 1-based steps); index
    ``d`` of ``jacobian_norms`` and ``distances`` is the distance d = T − t.
    """

    loss_grad_norms: np.ndarray  # (T,) ‖∂L/∂a<t>‖ for t = 1..T
    distances: np.ndarray  # (T,) d = T − t = 0, 1, …, T−1
    jacobian_norms: np.ndarray  # (T,) ‖∂a<T>/∂a<T−d>‖_F for each d
    loss: float  # the loss L the gradients are of
    cell: str  # the recurrent module, e.g. "LSTM" or "GRU(reset_after=False)"
    hidden_size: int  # H: width of a<t>
    num_layers: int  # layers of the module; a<t> is the top layer's (index num_layers − 1)
    loss_name: str  # what L is, in words

    @property
    def steps(self) -> int:
        """T: the number of time steps measured."""
        return int(self.jacobian_norms.shape[0])

    def jacobian_norm(self, distance: int) -> float:
        """‖∂a<T>/∂a<T−distance>‖_F (``distance`` in 0..T−1)."""
        if not 0 <= distance < self.steps:
            raise ValueError(f"distance must be in [0, {self.steps - 1}], got {distance}")
        return float(self.jacobian_norms[distance])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the arrays as lists of floats."""
        return {
            "cell": self.cell,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "steps": self.steps,
            "loss": self.loss,
            "loss_name": self.loss_name,
            "loss_grad_norms": [float(v) for v in self.loss_grad_norms],
            "distances": [int(d) for d in self.distances],
            "jacobian_norms": [float(v) for v in self.jacobian_norms],
        }


def _cell_name(rnn: RNNBase) -> str:
    """A short name of the module's equations: ``"RNN(tanh)"``, ``"GRU(reset_after=False)"``."""
    if isinstance(rnn, RNN):
        return f"RNN({rnn.nonlinearity})"
    if isinstance(rnn, GRU):
        return "GRU" if rnn.reset_after else "GRU(reset_after=False)"
    if isinstance(rnn, LSTM):
        return "LSTM(peephole=True)" if rnn.peephole else "LSTM"
    return type(rnn).__name__


def _run_layer(rnn: RNNBase, layer: int, x: Tensor) -> list[Tensor]:
    """a<1..T> of one layer from a zero state, one cell step at a time (the loop impl).

    Shape:
        x: (T, B, E) -> T tensors (B, H)
    """
    w_ih, w_hh, b_ih, b_hh, w_hr, w_ch = rnn._layer_params(layer, "")
    params = (w_ih, w_hh, b_ih, b_hh, w_ch, w_hr)  # the order of the cells' _step
    zeros = x.new_zeros(x.shape[1], rnn.hidden_size)  # (B, H)
    state = [zeros, zeros.clone()] if rnn.has_cell_state else [zeros]
    hidden: list[Tensor] = []
    for xt in x.unbind(0):  # (B, E)
        # a<t> = cell(x<t>, a<t-1>) (LSTM: (a<t>, c<t>) = cell(x<t>, (a<t-1>, c<t-1>)))
        state = rnn._step(xt, state, *params)
        hidden.append(state[0])
    return hidden


def _split_model(model: nn.Module) -> tuple[RNNBase, nn.Module | None, nn.Module | None]:
    """(rnn, embedding, head): a bare recurrent module, or a model with those attributes."""
    if isinstance(model, RNNBase):
        return model, None, None
    rnn = getattr(model, "rnn", None)
    if isinstance(rnn, RNNBase):
        embedding, head = getattr(model, "embedding", None), getattr(model, "head", None)
        if isinstance(embedding, nn.Module) and isinstance(head, nn.Module):
            return rnn, embedding, head
    raise TypeError(
        "gradient_flow needs a seqlab.nn RNN/GRU/LSTM, or a language model with .embedding, "
        f".rnn (a seqlab.nn recurrent module) and .head; got {type(model).__name__}"
    )


def gradient_flow(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor | None = None,
    *,
    loss_fn: LossFn | None = None,
    dtype: torch.dtype | None = torch.float64,
) -> GradientFlow:
    """‖∂L/∂a<t>‖ for every step and ‖∂a<T>/∂a<t>‖_F by distance T − t, on one sequence.

    ``model`` is a :class:`seqlab.nn.RNN`, :class:`~seqlab.nn.GRU` or :class:`~seqlab.nn.LSTM`
    (any variant; unidirectional), or a recurrent language model with ``.embedding``,
    ``.rnn`` (such a module) and ``.head`` (a<t> → logits), as
    :class:`seqlab.models.rnn_lm.RNNLanguageModel`. a<t> is the top layer's activation.

    The loss L:

    * language model: the mean cross-entropy of the next tokens, L = −(1/N) Σ_t log ŷ<t>[y<t>]
      with ŷ<t> = softmax(head(a<t>)); ``targets`` gives y<t> for every step, or, when
      omitted, the input's own next tokens (y<t> = x<t+1>, N = T − 1: the last step has no
      target);
    * bare recurrent module: ``loss_fn(outputs)`` of the top layer's outputs (T, H), default
      the sum of the last output, L = Σ_i a<T>_i (then ∂L/∂a<t> = 1ᵀ ∂a<T>/∂a<t>);
    * ``loss_fn`` given: used for a language model too, in place of the cross-entropy.

    The module runs from a zero state without dropout, in ``dtype`` (float64 by default; a
    copy of the model is converted, the model itself is unchanged; ``None`` keeps the
    model's). The model's parameters receive no gradient.

    Shape:
        inputs: (T,) token ids for a language model, (T, E) for a recurrent module
        targets: (T,) token ids (language model only)
        result: loss_grad_norms, distances, jacobian_norms (T,)
    """
    rnn, embedding, head = _split_model(model)
    if rnn.bidirectional:
        raise ValueError("gradient_flow needs a unidirectional module (a<t> of one direction)")
    if dtype is not None and any(p.dtype != dtype for p in model.parameters()):
        model = copy.deepcopy(model).to(dtype)
        rnn, embedding, head = _split_model(model)
    steps = inputs.shape[0] if inputs.dim() > 0 else 0
    if steps < 1:
        raise ValueError("gradient_flow needs an input of at least one step")
    device = next(rnn.parameters()).device
    inputs = inputs.to(device)
    with torch.no_grad():
        if embedding is not None:
            if inputs.dim() != 1 or inputs.is_floating_point():
                raise ValueError(
                    f"a language model reads token ids of shape (T,), got {tuple(inputs.shape)}"
                )
            x = embedding(inputs)  # (T, E)
        else:
            if inputs.dim() != 2 or inputs.shape[1] != rnn.input_size:
                raise ValueError(
                    f"expected one sequence of shape (T, E={rnn.input_size}), "
                    f"got {tuple(inputs.shape)}"
                )
            x = inputs.to(next(rnn.parameters()).dtype)  # (T, E)
        x = x[:, None, :]  # (T, 1, E)
        for layer in range(rnn.num_layers - 1):  # lower layers: a<t> on top cannot move them
            x = torch.stack(_run_layer(rnn, layer, x))  # (T, 1, H)
    hidden = rnn.hidden_size
    copies = x.expand(-1, 1 + hidden, -1)  # (T, 1+H, E'): copy 0 for L, copy i+1 for a<T>[i]
    copies = copies.clone().requires_grad_()  # a graph even when the parameters are frozen
    with torch.enable_grad():
        states = _run_layer(rnn, rnn.num_layers - 1, copies)  # T x (1+H, H)
        outputs = torch.stack([s[0] for s in states])  # (T, H): copy 0's a<1..T>
        loss, loss_name = _loss(outputs, inputs, targets, head, loss_fn)
        # Σ_i a<T>[i] of copy i+1: its gradient at copy i+1's a<t> is row i of ∂a<T>/∂a<t>
        rows = states[-1][1:].diagonal().sum()
        grads = torch.autograd.grad(loss + rows, states)  # T x (1+H, H)
    loss_norms = np.zeros(steps)
    jacobian = np.zeros(steps)
    for t, g in enumerate(grads):
        loss_norms[t] = float(torch.linalg.vector_norm(g[0]))  # ‖∂L/∂a<t>‖
        jacobian[steps - 1 - t] = float(torch.linalg.matrix_norm(g[1:]))  # ‖∂a<T>/∂a<t>‖_F
    return GradientFlow(
        loss_grad_norms=loss_norms,
        distances=np.arange(steps),
        jacobian_norms=jacobian,
        loss=float(loss.detach()),
        cell=_cell_name(rnn),
        hidden_size=hidden,
        num_layers=rnn.num_layers,
        loss_name=loss_name,
    )


def _loss(
    outputs: Tensor,
    inputs: Tensor,
    targets: Tensor | None,
    head: nn.Module | None,
    loss_fn: LossFn | None,
) -> tuple[Tensor, str]:
    """The scalar L of :func:`gradient_flow` and its name.

    Shape:
        outputs: (T, H), inputs: (T,) or (T, E), targets: (T,) -> ()
    """
    if loss_fn is not None:
        loss = loss_fn(outputs)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn must return a scalar tensor")
        return loss.reshape(()), "loss_fn(outputs)"
    if head is None:
        return outputs[-1].sum(), "sum of the last output a<T>"
    if targets is None:
        if outputs.shape[0] < 2:
            raise ValueError("the input's next tokens need at least 2 steps (or give targets)")
        logits = head(outputs[:-1])  # (T-1, V)
        gold = inputs[1:]  # (T-1,)
    else:
        if targets.shape != inputs.shape:
            raise ValueError(
                f"targets must match inputs {tuple(inputs.shape)}, got {tuple(targets.shape)}"
            )
        logits = head(outputs)  # (T, V)
        gold = targets.to(outputs.device)  # (T,)
    # L = −(1/N) Σ_t log softmax(head(a<t>))[y<t>]
    return F.cross_entropy(logits, gold), "mean next-token cross-entropy"
