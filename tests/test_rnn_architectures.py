"""Tests of the course's basic architectures (``seqlab.models.rnn_architectures``).

Consistency: a padded batch with lengths (or packed) equals each sequence run alone; the
bidirectional summary equals the states read off the RNN's own output; teacher forcing equals
stepping the generator, and ``generate`` samples from the distribution that teacher forcing
gives for the tokens it produced. Learning: a GRU ``ManyToOne`` learns to spot a pattern.
Numbers are compared in float64.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.models import ManyToMany, ManyToOne, OneToMany, RNNConfig, make_rnn
from seqlab.nn import GRU, LSTM, RNN

E, H, C, V = 5, 6, 3, 11
LENGTHS = [4, 7, 1, 5]  # unsorted, with a length-1 sequence; T = 7

# readable id -> the cell options of an RNNConfig
CELLS: dict[str, dict[str, object]] = {
    "rnn": {"cell": "rnn"},
    "gru": {"cell": "gru"},
    "gru_original": {"cell": "gru", "reset_after": False},
    "lstm": {"cell": "lstm"},
    "lstm_peephole": {"cell": "lstm", "peephole": True},
}


def config(cell: str, *, bidirectional: bool = False, num_layers: int = 2) -> RNNConfig:
    return RNNConfig(
        **CELLS[cell],
        input_size=E,
        hidden_size=H,
        num_layers=num_layers,
        bidirectional=bidirectional,
    )


def assert_close(actual: Tensor, expected: Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def padded_features(lengths: list[int], seed: int = 0) -> Tensor:
    """Random (B, T, E) features whose padding is large noise, so that reading it shows."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), E, generator=g, dtype=torch.float64)
    for b, n in enumerate(lengths):
        x[b, n:] = 100.0 * torch.randn(max(lengths) - n, E, generator=g, dtype=torch.float64)
    return x  # (B, T, E)


def random_ids(shape: tuple[int, ...], seed: int = 0, vocab: int = V) -> Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


# -- config ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", list(CELLS))
def test_make_rnn_builds_the_configured_module(cell: str) -> None:
    cfg = config(cell, bidirectional=True, num_layers=3)
    rnn = make_rnn(cfg)
    kind = {"rnn": RNN, "gru": GRU, "lstm": LSTM}[cfg.cell]
    assert type(rnn) is kind
    assert (rnn.input_size, rnn.hidden_size, rnn.num_layers) == (E, H, 3)
    assert rnn.bidirectional and rnn.batch_first
    assert not make_rnn(cfg, batch_first=False).batch_first
    if cfg.cell == "gru":
        assert rnn.reset_after == cfg.reset_after
    if cfg.cell == "lstm":
        assert rnn.peephole == cfg.peephole


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cell": "transformer"}, "cell must be"),
        ({"hidden_size": 0}, "must be positive"),
        ({"dropout": 1.0}, "dropout"),
        ({"cell": "lstm", "reset_after": False}, "reset_after=False applies to cell='gru'"),
        ({"cell": "gru", "peephole": True}, "peephole=True applies to cell='lstm'"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"cell": "gru", "input_size": E, "hidden_size": H} | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        RNNConfig(**args)


# -- many-to-one -------------------------------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_many_to_one_with_lengths_equals_each_sequence_alone(
    cell: str, bidirectional: bool
) -> None:
    torch.manual_seed(0)
    model = ManyToOne(config(cell, bidirectional=bidirectional), C).double().eval()
    x = padded_features(LENGTHS)  # (B, T, E)
    logits = model(x, torch.tensor(LENGTHS))  # (B, C)
    assert logits.shape == (len(LENGTHS), C)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    assert_close(model(packed), logits)
    for b, n in enumerate(LENGTHS):
        assert_close(logits[b], model(x[b : b + 1, :n])[0])


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_many_to_one_reads_last_forward_and_first_backward_state(
    cell: str, num_layers: int
) -> None:
    torch.manual_seed(1)
    model = ManyToOne(config(cell, bidirectional=True, num_layers=num_layers), C).double().eval()
    x = padded_features(LENGTHS, seed=1)  # (B, T, E)
    lengths = torch.tensor(LENGTHS)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(model.rnn(packed)[0], batch_first=True)  # (B, T, 2H)
    rows = torch.arange(len(LENGTHS))
    forward_last = out[rows, lengths - 1, :H]  # (B, H): a→ at each sequence's own end
    backward_first = out[:, 0, H:]  # (B, H): a← at t = 1
    expected = model.head(torch.cat([forward_last, backward_first], dim=-1))  # (B, C)
    assert_close(model(x, lengths), expected)


def test_many_to_one_reads_token_ids() -> None:
    torch.manual_seed(2)
    model = ManyToOne(config("gru"), C, vocab_size=V, embedding_dim=E).double().eval()
    ids = random_ids((len(LENGTHS), max(LENGTHS)))  # (B, T)
    logits = model(ids, LENGTHS)  # (B, C)
    assert logits.shape == (len(LENGTHS), C)
    for b, n in enumerate(LENGTHS):
        assert_close(logits[b], model(ids[b : b + 1, :n])[0])
    packed_ids = pack_padded_sequence(ids, torch.tensor(LENGTHS), True, enforce_sorted=False)
    assert_close(model(packed_ids), logits)
    # the same computation spelled out: embed, then the feature model with the same RNN/head
    features = ManyToOne(config("gru"), C).double().eval()
    features.load_state_dict({k: v for k, v in model.state_dict().items() if "embedding" not in k})
    assert_close(features(model.embedding(ids), LENGTHS), logits)


# -- many-to-many ------------------------------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_many_to_many_with_lengths_equals_unpadded_runs(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(3)
    model = ManyToMany(config(cell, bidirectional=bidirectional), C).double().eval()
    x = padded_features(LENGTHS, seed=3)  # (B, T, E)
    logits = model(x, LENGTHS)  # (B, T, C)
    assert logits.shape == (len(LENGTHS), max(LENGTHS), C)
    for b, n in enumerate(LENGTHS):
        assert_close(logits[b, :n], model(x[b : b + 1, :n])[0])
        # documented: padded steps hold the head's bias (the logits of an all-zero a<t>)
        assert_close(logits[b, n:], model.head.bias.expand(max(LENGTHS) - n, C))
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    packed_logits = model(packed)
    assert isinstance(packed_logits, PackedSequence)
    unpacked, lens = pad_packed_sequence(packed_logits, batch_first=True)  # (B, T, C)
    assert lens.tolist() == LENGTHS
    for b, n in enumerate(LENGTHS):
        assert_close(unpacked[b, :n], logits[b, :n])


def test_many_to_many_keeps_extra_padding() -> None:
    """Lengths all below the padded T still give T steps, the extra ones at the bias."""
    torch.manual_seed(4)
    model = ManyToMany(config("gru"), C).double().eval()
    x = padded_features([*LENGTHS, 9], seed=4)[:-1]  # (B, 9, E); longest length 7
    logits = model(x, LENGTHS)  # (B, 9, C)
    assert logits.shape == (len(LENGTHS), 9, C)
    assert_close(logits[:, 7:], model.head.bias.expand(len(LENGTHS), 2, C))
    for b, n in enumerate(LENGTHS):
        assert_close(logits[b, :n], model(x[b : b + 1, :n])[0])


def test_many_to_many_without_lengths_is_per_step_head_of_rnn_output() -> None:
    torch.manual_seed(4)
    model = ManyToMany(config("lstm", bidirectional=True), C, vocab_size=V).double().eval()
    ids = random_ids((3, 6), seed=4)  # (B, T)
    out, _ = model.rnn(model.embedding(ids))  # (B, T, 2H)
    assert_close(model(ids), model.head(out))


# -- one-to-many -------------------------------------------------------------------------
def generator_model(cell: str, num_layers: int = 2, seed: int = 5) -> OneToMany:
    """A random OneToMany with weights scaled up, so that every input visibly moves ŷ."""
    torch.manual_seed(seed)
    cfg = RNNConfig(**CELLS[cell], input_size=4, hidden_size=H, num_layers=num_layers)
    model = OneToMany(cfg, V, embedding_dim=7).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


@pytest.mark.parametrize("conditioned", [True, False], ids=["start", "no_start"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_teacher_forcing_equals_stepping(cell: str, conditioned: bool) -> None:
    model = generator_model(cell)
    targets = random_ids((3, 6), seed=6)  # (B, T)
    start = torch.randn(3, 4, dtype=torch.float64) if conditioned else None
    logits = model(start, targets)  # (B, T, V)
    assert logits.shape == (3, 6, V)
    state = model.init_state(start, batch_size=3)
    tokens = None  # <start>
    for t in range(targets.shape[1]):
        log_probs, state = model.step(tokens, state)  # (B, V)
        assert_close(log_probs, F.log_softmax(logits[:, t], dim=-1))
        tokens = targets[:, t]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_start_vector_sets_initial_state(cell: str) -> None:
    """a<0> = tanh(W_s x + b_s), one H-block per layer; c<0> = 0; a<0> = 0 without x."""
    model = generator_model(cell, num_layers=3)
    start = torch.randn(2, 4, dtype=torch.float64)
    w, b = model.init_state_proj.weight, model.init_state_proj.bias  # (3H, 4), (3H,)
    for k, state in enumerate(model.init_state(start)):
        h, c = state if isinstance(state, tuple) else (state, None)
        rows = slice(k * H, (k + 1) * H)
        assert_close(h, torch.tanh(start @ w[rows].T + b[rows]))
        if c is not None:
            assert_close(c, torch.zeros_like(c))
    for state in model.init_state(None, batch_size=2):
        h = state[0] if isinstance(state, tuple) else state
        assert_close(h, torch.zeros(2, H, dtype=torch.float64))


@pytest.mark.parametrize("cell", list(CELLS))
def test_generate_feeds_back_its_own_samples(cell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Teacher forcing on generated ids gives exactly the distributions generate sampled from."""
    model = generator_model(cell)
    start = torch.randn(4, 4, dtype=torch.float64)
    temperature = 0.7
    seen: list[Tensor] = []  # the probabilities generate draws each step from
    multinomial = torch.multinomial

    def recording_multinomial(probs: Tensor, *args: object, **kwargs: object) -> Tensor:
        seen.append(probs.clone())
        return multinomial(probs, *args, **kwargs)

    monkeypatch.setattr(torch, "multinomial", recording_multinomial)
    ids = model.generate(
        start, 9, temperature=temperature, generator=torch.Generator().manual_seed(7)
    )
    monkeypatch.undo()
    assert ids.shape == (4, 9)
    assert len(seen) == 9
    logits = model(start, ids)  # (B, T, V)
    replay = torch.Generator().manual_seed(7)
    for t in range(ids.shape[1]):
        probs = F.softmax(logits[:, t] / temperature, dim=-1)  # (B, V)
        assert_close(seen[t], probs)
        drawn = torch.multinomial(probs, 1, generator=replay).squeeze(1)  # (B,)
        assert torch.equal(drawn, ids[:, t]), f"step {t}"
    greedy = model.generate(start, 9, greedy=True)
    assert torch.equal(model(start, greedy).argmax(-1), greedy)


def test_generate_is_reproducible_with_a_generator() -> None:
    model = generator_model("gru")

    def sample(seed: int) -> Tensor:
        return model.generate(None, 12, batch_size=5, generator=torch.Generator().manual_seed(seed))

    first = sample(8)
    assert first.shape == (5, 12)
    assert torch.equal(first, sample(8))
    assert not torch.equal(first, sample(9))


def test_generate_stops_at_eos() -> None:
    model = generator_model("lstm")
    eos = 3
    start = torch.randn(6, 4, dtype=torch.float64)
    with torch.no_grad():
        model.head.bias[eos] += 1.5  # make <eos> likely but not certain
    ids = model.generate(start, 30, eos_id=eos, generator=torch.Generator().manual_seed(10))
    assert ids.shape[0] == 6 and 1 <= ids.shape[1] <= 30
    ended = (ids == eos).cumsum(1) > 0  # (B, T): at or after the first <eos>
    assert torch.equal(ids[ended], torch.full_like(ids[ended], eos))
    assert ended[:, -1].all(), "generation ran on although every sequence had ended"
    assert ids.shape[1] > 1, "the test needs sequences that do not all end at once"
    with torch.no_grad():
        model.head.bias[eos] += 100.0  # now every sequence ends at the first step
    assert torch.equal(model.generate(start, 30, eos_id=eos), torch.full((6, 1), eos))


# -- bad input ---------------------------------------------------------------------------
def _bad_calls() -> dict[str, tuple[Callable[[], object], str]]:
    features = ManyToOne(config("gru"), C)
    tokens = ManyToMany(config("lstm"), C, vocab_size=V)
    gen = OneToMany(RNNConfig(cell="gru", input_size=4, hidden_size=H), V, 7)
    x = torch.randn(2, 5, E)
    return {
        "wrong_E": (
            lambda: features(torch.randn(2, 5, 3)),
            "expected input of shape (B, T, E=5), got (2, 5, 3)",
        ),
        "unbatched": (
            lambda: features(torch.randn(5, E)),
            "expected input of shape (B, T, E=5), got (5, 5)",
        ),
        "no_steps": (
            lambda: features(torch.randn(2, 0, E)),
            "at least one time step, got (2, 0, 5)",
        ),
        "floats_for_ids": (
            lambda: tokens(x),
            "expected token ids of shape (B, T), got torch.float32 (2, 5, 5)",
        ),
        "ints_for_features": (
            lambda: features(torch.zeros(2, 5, E, dtype=torch.long)),
            "expected input of shape (B, T, E=5), got torch.int64 (2, 5, 5)",
        ),
        "ids_3d": (
            lambda: tokens(torch.zeros(2, 5, 1, dtype=torch.long)),
            "got torch.int64 (2, 5, 1)",
        ),
        "lengths_shape": (
            lambda: features(x, [5, 5, 5]),
            "expected lengths of shape (B=2,), got (3,)",
        ),
        "lengths_range": (
            lambda: features(x, [6, 2]),
            "lengths must lie in [1, T=5], got min 2, max 6",
        ),
        "start_E": (
            lambda: gen(torch.randn(2, 3), torch.zeros(2, 5, dtype=torch.long)),
            "expected start of shape (B=2, E=4), got (2, 3)",
        ),
        "start_B": (
            lambda: gen(torch.randn(3, 4), torch.zeros(2, 5, dtype=torch.long)),
            "expected start of shape (B=2, E=4), got (3, 4)",
        ),
        "targets_1d": (
            lambda: gen(None, torch.zeros(5, dtype=torch.long)),
            "expected targets of token ids of shape (B, T) with T >= 1, got torch.int64 (5,)",
        ),
        "generate_start": (
            lambda: gen.generate(torch.randn(4), 3),
            "expected start of shape (B, E=4), got (4,)",
        ),
        "step_tokens": (
            lambda: gen.step(torch.zeros(3, dtype=torch.long), gen.init_state(batch_size=2)),
            "expected tokens of shape (B=2,), got (3,)",
        ),
        "embedding_dim": (
            lambda: ManyToOne(config("gru"), C, vocab_size=V, embedding_dim=E + 1),
            "embedding_dim (6) must equal config.input_size (5)",
        ),
        "num_classes": (
            lambda: ManyToMany(config("gru"), 0),
            "num_classes must be positive, got 0",
        ),
        "bidirectional_generator": (
            lambda: OneToMany(config("gru", bidirectional=True), V, 7),
            "config.bidirectional must be False",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_calls()))
def test_bad_input_raises_value_error_naming_shapes(case: str) -> None:
    call, message = _bad_calls()[case]
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# -- learning ----------------------------------------------------------------------------
PATTERN = torch.tensor([1, 2, 3])


def pattern_task(n: int, g: torch.Generator, min_len: int = 10, max_len: int = 40, vocab: int = 8):
    """Sequences of symbols 0..vocab-1; label 1 iff ``1, 2, 3`` occurs within the length.

    Half of the sequences get the pattern planted at a random place; padding is random
    symbols too, so a model that reads past a sequence's end is misled.
    """
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=g)  # (B,)
    ids = torch.randint(0, vocab, (n, max_len), generator=g)  # (B, T)
    plant = torch.rand(n, generator=g) < 0.5  # (B,)
    where = (torch.rand(n, generator=g) * (lengths - 2)).long()  # (B,)
    for b in plant.nonzero().flatten().tolist():
        ids[b, where[b] : where[b] + 3] = PATTERN
    hit = (ids.unfold(1, 3, 1) == PATTERN).all(-1)  # (B, T-2)
    inside = torch.arange(max_len - 2) + 3 <= lengths[:, None]  # (B, T-2)
    return ids, lengths, (hit & inside).any(1).long()


def train_pattern_spotter(seed: int, steps: int) -> float:
    """Train a GRU ManyToOne on ``pattern_task``; return its validation accuracy."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = ManyToOne(RNNConfig(cell="gru", input_size=8, hidden_size=32), 2, vocab_size=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        ids, lengths, labels = pattern_task(64, g)
        loss = F.cross_entropy(model(ids, lengths), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ids, lengths, labels = pattern_task(2000, torch.Generator().manual_seed(12345))
    model.eval()
    with torch.no_grad():
        return (model(ids, lengths).argmax(-1) == labels).double().mean().item()


@pytest.mark.usefixtures("one_thread")
def test_gru_many_to_one_learns_to_spot_a_pattern() -> None:
    # Calibration (torch 2.13 CPU, one thread): train_pattern_spotter(seed, 120) for seeds
    # 0..9 gave validation accuracy min 0.996, median 1.000, max 1.000 (1.1-2.5 s a run);
    # after only 60 steps: min 0.949, median 0.986. Chance (the majority class) is 0.52, and
    # the same run reading past the lengths (no packing) stays at 0.51-0.52. The bound sits
    # well below the 120-step minimum and far above chance.
    assert train_pattern_spotter(seed=0, steps=120) >= 0.95
