"""Vanishing gradients, measured: ``seqlab.nn.gradient_flow``, the figure, ``seqlab lm diagnose``.

References, each computed without seqlab's code:

* the Jacobians ∂a<T>/∂a<t>: ``torch.autograd.functional.jacobian`` of torch.nn's own cells run
  from step t to T (RNN, GRU, LSTM), and central finite differences of the NumPy oracle
  (``tests/reference/numpy_rnn.py``) for the course's variants (GRU ``reset_after=False``,
  peephole LSTM);
* ∂L/∂a<t> of a language model: central finite differences of the NumPy oracle with the
  embedding, softmax layer and cross-entropy written in NumPy, and a manual autograd pass
  (``retain_grad``) through torch.nn cells for a two-layer model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from seqlab.cli import main
from seqlab.models.rnn_lm import LMConfig, RNNLanguageModel
from seqlab.nn import GRU, LSTM, RNN, GradientFlow, RNNBase, gradient_flow
from seqlab.tasks import LanguageModel, LMTaskConfig
from seqlab.train import TrainConfig
from seqlab.viz import plot_gradient_flow
from tests.reference import numpy_rnn as ref

H, E, T, V = 3, 4, 5, 6  # the tiny case: hidden 3, input 4, 5 steps, vocabulary 6


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread


def _module(kind: str, num_layers: int = 1) -> RNNBase:
    torch.manual_seed(0)
    if kind == "rnn":
        return RNN(E, H, num_layers).double()
    if kind == "gru":
        return GRU(E, H, num_layers).double()
    if kind == "gru_reset_before":
        return GRU(E, H, num_layers, reset_after=False).double()
    if kind == "lstm":
        return LSTM(E, H, num_layers).double()
    return LSTM(E, H, num_layers, peephole=True).double()


KINDS = ["rnn", "gru", "gru_reset_before", "lstm", "lstm_peephole"]


# -- the independent references ---------------------------------------------------------------
def _torch_cell(rnn: RNNBase, layer: int = 0) -> nn.Module:
    """torch.nn's own cell with the layer's weights (the equations torch implements)."""
    cls = {RNN: nn.RNNCell, GRU: nn.GRUCell, LSTM: nn.LSTMCell}[type(rnn)]
    cell = cls(rnn.input_size if layer == 0 else rnn.hidden_size, rnn.hidden_size).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(rnn, f"{name}_l{layer}"))
    return cell


def _torch_states(cell: nn.Module, x: Tensor, lstm: bool) -> list[tuple[Tensor, Tensor | None]]:
    """(a<t>, c<t>) for t = 1..T from zeros, with torch.nn's cell. x: (T, B, E)."""
    h = x.new_zeros(x.shape[1], H)
    c = x.new_zeros(x.shape[1], H)
    out = []
    for xt in x:
        if lstm:
            h, c = cell(xt, (h, c))
            out.append((h, c))
        else:
            h = cell(xt, h)
            out.append((h, None))
    return out


def _oracle(rnn: RNNBase) -> tuple[ref.Config, ref.Params]:
    """The NumPy oracle's config and layer-0 parameters for ``rnn``."""
    mode = {RNN: "rnn_tanh", GRU: "gru", LSTM: "lstm"}[type(rnn)]
    cfg = ref.Config(
        mode,
        reset_after=getattr(rnn, "reset_after", True),
        peephole=getattr(rnn, "peephole", False),
    )
    params = {
        short: getattr(rnn, f"{stem}_l0").detach().numpy().copy()
        for stem, short in ref.TORCH_NAMES.items()
        if hasattr(rnn, f"{stem}_l0")
    }
    return cfg, params


def _oracle_run(
    cfg: ref.Config, p: ref.Params, x: np.ndarray, h: np.ndarray, c: np.ndarray | None, start: int
) -> list[np.ndarray]:
    """a<start+1..T> from the state (h, c) after step ``start``. x: (T, 1, E)."""
    step = {"rnn_tanh": ref.rnn_step, "gru": ref.gru_step, "lstm": ref.lstm_step}[cfg.mode]
    hs = []
    for t in range(start, x.shape[0]):
        h, c, _ = step(x[t], h, c, p, cfg)
        hs.append(h)
    return hs


def _oracle_states(cfg, p, x) -> list[tuple[np.ndarray, np.ndarray | None]]:
    step = {"rnn_tanh": ref.rnn_step, "gru": ref.gru_step, "lstm": ref.lstm_step}[cfg.mode]
    h = np.zeros((1, H))
    c = np.zeros((1, H)) if cfg.mode == "lstm" else None
    out = []
    for xt in x:
        h, c, _ = step(xt, h, c, p, cfg)
        out.append((h, c))
    return out


# -- ∂a<T>/∂a<t> ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_jacobian_norms_equal_autograd_jacobian_of_torch_cells(kind: str) -> None:
    rnn = _module(kind)
    x = torch.randn(T, E, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    flow = gradient_flow(rnn, x)
    lstm = kind == "lstm"
    cell = _torch_cell(rnn)
    states = _torch_states(cell, x[:, None], lstm)
    want = []
    for t in range(T):  # a<t+1> in the course's 1-based steps
        h_t, c_t = states[t]

        def run_from(a: Tensor, t: int = t, c_t: Tensor | None = c_t) -> Tensor:
            h, c = a[None], c_t
            for k in range(t + 1, T):
                if lstm:
                    h, c = cell(x[k][None], (h, c))
                else:
                    h = cell(x[k][None], h)
            return h[0]

        jac = torch.autograd.functional.jacobian(run_from, h_t[0].detach())  # (H, H)
        want.append(float(torch.linalg.matrix_norm(jac)))
    np.testing.assert_allclose(flow.jacobian_norms, want[::-1], rtol=1e-10, atol=1e-14)
    assert flow.jacobian_norm(0) == pytest.approx(math.sqrt(H))  # the identity
    np.testing.assert_array_equal(flow.distances, np.arange(T))


@pytest.mark.parametrize("kind", ["gru_reset_before", "lstm_peephole"])
def test_jacobian_norms_equal_finite_differences_of_the_numpy_oracle(kind: str) -> None:
    rnn = _module(kind)
    x = torch.randn(T, E, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    flow = gradient_flow(rnn, x)
    cfg, p = _oracle(rnn)
    xs = x.numpy()[:, None]  # (T, 1, E)
    states = _oracle_states(cfg, p, xs)
    eps = 1e-6
    for t in range(T - 1):
        h_t, c_t = states[t]
        jac = np.zeros((H, H))
        for j in range(H):
            bump = np.zeros((1, H))
            bump[0, j] = eps
            up = _oracle_run(cfg, p, xs, h_t + bump, c_t, t + 1)[-1]
            down = _oracle_run(cfg, p, xs, h_t - bump, c_t, t + 1)[-1]
            jac[:, j] = (up - down)[0] / (2 * eps)
        assert flow.jacobian_norm(T - 1 - t) == pytest.approx(np.linalg.norm(jac), rel=1e-7)


# -- ∂L/∂a<t> ---------------------------------------------------------------------------------
def _tiny_lm(kind: str, num_layers: int = 1) -> RNNLanguageModel:
    torch.manual_seed(3)
    cell = {"gru_reset_before": "gru", "lstm_peephole": "lstm"}.get(kind, kind)
    config = LMConfig(
        vocab_size=V,
        cell=cell,
        embedding_dim=E,
        hidden_size=H,
        num_layers=num_layers,
        reset_after=kind != "gru_reset_before",
        peephole=kind == "lstm_peephole",
    )
    return RNNLanguageModel(config).double()


@pytest.mark.parametrize("kind", KINDS)
def test_loss_gradient_equals_finite_differences_of_a_numpy_language_model(kind: str) -> None:
    lm = _tiny_lm(kind)
    tokens = torch.tensor([1, 4, 2, 2, 5, 0])
    inputs, targets = tokens[:-1], tokens[1:]
    flow = gradient_flow(lm, inputs, targets)
    cfg, p = _oracle(lm.rnn)
    xs = lm.embedding.weight.detach().numpy()[inputs.numpy()][:, None]  # (T, 1, E)
    w_y, b_y = lm.head.weight.detach().numpy(), lm.head.bias.detach().numpy()
    gold = targets.numpy()

    def loss(hs: list[np.ndarray]) -> float:  # mean −log softmax(W_y a<t> + b_y)[y<t>]
        logits = np.concatenate(hs) @ w_y.T + b_y  # (T, V)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(T), gold].mean())

    states = _oracle_states(cfg, p, xs)
    hs = [h for h, _ in states]
    assert flow.loss == pytest.approx(loss(hs), rel=1e-10)
    eps = 1e-6
    for t in range(T):
        grad = np.zeros(H)
        for j in range(H):
            bump = np.zeros((1, H))
            bump[0, j] = eps
            h_t, c_t = states[t]
            up = [*hs[:t], h_t + bump, *_oracle_run(cfg, p, xs, h_t + bump, c_t, t + 1)]
            down = [*hs[:t], h_t - bump, *_oracle_run(cfg, p, xs, h_t - bump, c_t, t + 1)]
            grad[j] = (loss(up) - loss(down)) / (2 * eps)
        assert flow.loss_grad_norms[t] == pytest.approx(np.linalg.norm(grad), rel=1e-6)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_two_layer_model_measures_the_top_layer_as_manual_autograd(kind: str) -> None:
    lm = _tiny_lm(kind, num_layers=2)
    tokens = torch.tensor([1, 4, 2, 2, 5, 0, 3])
    lstm = kind == "lstm"
    x = lm.embedding(tokens[:-1]).detach()[:, None]  # (T, 1, E)
    lower = [h for h, _ in _torch_states(_torch_cell(lm.rnn, 0), x, lstm)]
    top = _torch_states(_torch_cell(lm.rnn, 1), torch.stack(lower), lstm)
    hs = [h for h, _ in top]
    for h in hs:
        h.retain_grad()
    loss = nn.functional.cross_entropy(lm.head(torch.cat(hs)), tokens[1:])
    loss.backward()
    flow = gradient_flow(lm, tokens)  # targets omitted: the input's own next tokens
    want = [float(torch.linalg.vector_norm(h.grad)) for h in hs]
    assert flow.steps == len(tokens)
    np.testing.assert_allclose(flow.loss_grad_norms[:-1], want, rtol=1e-10)
    assert flow.loss == pytest.approx(float(loss.detach()), rel=1e-12)
    assert flow.loss_grad_norms[-1] == 0.0  # the last step has no next token to predict
    assert flow.num_layers == 2 and flow.hidden_size == H


def test_default_loss_of_a_bare_module_is_the_sum_of_the_last_output() -> None:
    rnn = _module("gru")
    x = torch.randn(T, E, dtype=torch.float64)
    flow = gradient_flow(rnn, x)
    assert flow.loss_name == "sum of the last output a<T>"
    out, _ = rnn(x)  # (T, H), the module's own forward
    assert flow.loss == pytest.approx(float(out[-1].sum().detach()), rel=1e-12)
    custom = gradient_flow(rnn, x, loss_fn=lambda o: o[0].sum())
    # only a<1> carries L: nothing later reaches it
    assert custom.loss_grad_norms[0] == pytest.approx(math.sqrt(H))
    assert not custom.loss_grad_norms[1:].any()
    np.testing.assert_allclose(custom.jacobian_norms, flow.jacobian_norms)


def test_float32_model_is_measured_in_float64_and_left_unchanged() -> None:
    torch.manual_seed(0)
    rnn = LSTM(E, H)
    before = {k: v.clone() for k, v in rnn.state_dict().items()}
    x = torch.randn(T, E)
    flow64 = gradient_flow(rnn, x)
    flow32 = gradient_flow(rnn, x, dtype=None)
    assert all(p.dtype == torch.float32 for p in rnn.parameters())
    for k, v in rnn.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    np.testing.assert_allclose(flow32.jacobian_norms, flow64.jacobian_norms, rtol=1e-5)


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unidirectional"):
        gradient_flow(GRU(E, H, bidirectional=True), torch.randn(T, E))
    with pytest.raises(ValueError, match=r"\(T, E=4\)"):
        gradient_flow(GRU(E, H), torch.randn(T, 2, E))
    with pytest.raises(TypeError, match=r"seqlab\.nn"):
        gradient_flow(nn.GRU(E, H), torch.randn(T, E))
    lm = _tiny_lm("gru")
    with pytest.raises(ValueError, match="token ids"):
        gradient_flow(lm, torch.randn(T, E))
    with pytest.raises(ValueError, match="targets must match"):
        gradient_flow(lm, torch.tensor([1, 2, 3]), torch.tensor([1, 2]))


# -- the course's claims ---------------------------------------------------------------------
def test_plain_rnn_forgets_geometrically_and_lstm_with_open_forget_gate_does_not() -> None:
    """tanh RNN with ‖W_aa‖₂ = 0.5: each step multiplies by diag(1 − a²) W_aa, so the ratio of
    successive Jacobian norms is at most 0.5. LSTM with forget-gate bias 10 (Γf ≈ 1) and the
    same distance: the memory cell carries a<t>'s influence, level after the first steps."""
    steps, hidden, gen = 60, 16, torch.Generator().manual_seed(0)
    x = torch.randn(steps, E, dtype=torch.float64, generator=gen)
    torch.manual_seed(0)
    rnn = RNN(E, hidden).double()
    with torch.no_grad():
        w = torch.randn(hidden, hidden, dtype=torch.float64, generator=gen)
        rnn.weight_hh_l0.copy_(0.5 * w / torch.linalg.matrix_norm(w, ord=2))
    j = gradient_flow(rnn, x).jacobian_norms
    ratios = j[1:] / j[:-1]
    assert ratios.max() <= 0.5 + 1e-12  # ‖J_{d+1}‖_F ≤ ‖J_d‖_F ‖diag(1 − a²) W_aa‖₂
    assert j[-1] <= math.sqrt(hidden) * 0.5 ** (steps - 1)
    assert j[-1] < 1e-20

    lstm = LSTM(E, hidden).double()
    with torch.no_grad():
        lstm.weight_hh_l0.mul_(0.1)
        lstm.bias_ih_l0[hidden : 2 * hidden] = 10.0  # Γf = σ(10 + …) ≈ 0.99995
    j = gradient_flow(lstm, x).jacobian_norms[2:]  # d = 2..T−1: past the direct a-path
    assert j.max() / j.min() < 4.0  # level over 58 steps (the RNN fell by 1e-17 there)
    assert j[-1] / j[0] > 0.25


# -- the figure -------------------------------------------------------------------------------
def _flow(kind: str, steps: int = 30) -> GradientFlow:
    x = torch.randn(steps, E, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    return gradient_flow(_module(kind), x)


def test_plot_gradient_flow_writes_a_png(tmp_path: Path) -> None:
    flows = {"RNN": _flow("rnn"), "GRU": _flow("gru"), "LSTM": _flow("lstm", steps=10)}
    path = plot_gradient_flow(
        flows, tmp_path / "g.png", title="fresh models", styles={"GRU": {"linestyle": "--"}}
    )
    assert path == tmp_path / "g.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1] > 300
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_gradient_flow({}, tmp_path / "empty.png")


# -- the CLI ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("diagnose") / "model"
    model = LMConfig(vocab_size=2, cell="lstm", embedding_dim=8, hidden_size=16, num_layers=2)
    config = LMTaskConfig(level="char", unit="text", model=model, bptt=32, corpus="dinos")
    LanguageModel.train("dinos", out, config, TrainConfig(max_steps=20, progress=False, seed=0))
    return out


def test_cli_diagnose_table_json_and_figure(tiny_model: Path, tmp_path: Path, capsys) -> None:
    text = tmp_path / "names.txt"
    text.write_text("tyrannosaurus\nstegosaurus\n" * 10)
    png = tmp_path / "grad.png"
    assert main(["lm", "diagnose", str(tiny_model), "--text", str(text), "--out", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("LSTM, 2 layers, H 16: 200 steps of names.txt")
    assert [line.split()[0] for line in lines[2:-1]] == ["1", "10", "50", "100"]
    assert lines[-1] == f"wrote {png}"
    assert png.stat().st_size > 10_000

    args = ["lm", "diagnose", str(tiny_model), "--text", str(text), "--out", str(png)]
    assert main([*args, "--length", "40", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["figure"] == str(png) and report["steps"] == 40
    assert len(report["jacobian_norms"]) == 40 == len(report["loss_grad_norms"])
    lm = LanguageModel.load(tiny_model)
    ids = torch.tensor(lm.vocab.encode(list(text.read_text()[:41])))
    again = gradient_flow(lm.model, ids[:-1], ids[1:])
    np.testing.assert_allclose(report["jacobian_norms"], again.jacobian_norms)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", "{tmp}/one.txt", "--out", "{tmp}/g.png"], "need at least 2"),
        (["--text", "{tmp}/absent.txt", "--out", "{tmp}/g.png"], "absent.txt: no such file"),
        (["--text", "{tmp}/latin1.txt", "--out", "{tmp}/g.png"], "latin1.txt:2"),
        (["--text", "{tmp}/one.txt", "--out", "{tmp}/one.txt/g.png"], "is not a folder"),
        (["--text", "{tmp}/one.txt", "--out", "{tmp}"], "is a folder"),
        (["--text", "{tmp}/one.txt", "--out", "{tmp}/g.png", "--length", "0"], "--length"),
    ],
)
def test_cli_diagnose_bad_input_one_line_exit_2(
    tiny_model: Path, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    (tmp_path / "one.txt").write_text("a")
    (tmp_path / "latin1.txt").write_bytes(b"fine\ncaf\xe9\n")
    argv = ["lm", "diagnose", str(tiny_model), *[a.replace("{tmp}", str(tmp_path)) for a in args]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "g.png").exists()
