"""Sequence classifiers (``seqlab.models.classifier``, ``seqlab.tasks.classifier``,
``seqlab.models.embedding``): checked against torch.nn and NumPy, consistency (padding never
changes a prediction, save/load), and learning tests that must beat a baseline computed here
on held-out data (majority class, the bag-of-tokens average model, mean features)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import seqlab
from seqlab._io import DataError
from seqlab.data.labelled import Example, SequenceExample
from seqlab.data.synthetic import activity, dna_motif
from seqlab.data.vocab import PAD, UNK, Vocab
from seqlab.embeddings import KeyedVectors
from seqlab.models.classifier import AverageClassifier, ClassifierConfig, RNNClassifier
from seqlab.models.embedding import embedding_coverage, load_vectors, pretrained_embedding
from seqlab.tasks.classifier import (
    PRESETS,
    Classifier,
    ClassifierTaskConfig,
    LabelledData,
    Labels,
)
from seqlab.train import TrainConfig

POOLINGS = ("last", "max", "mean", "max-mean")


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one torch thread (the learning bounds were calibrated so)."""


def _config(**kw: object) -> ClassifierConfig:
    base: dict[str, object] = {"num_classes": 3, "vocab_size": 20, "embedding_dim": 8}
    base |= {"hidden_size": 6, "num_layers": 2}
    return ClassifierConfig(**(base | kw))  # type: ignore[arg-type]


def _padded_batch(
    lengths: list[int], vocab: int = 20, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)  # (B, T) 0 = <PAD>
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, vocab, (n,), generator=g)
    return ids, torch.tensor(lengths)


# -- the networks against independent references ---------------------------------------------


def _torch_reference(model: RNNClassifier) -> torch.nn.Module:
    """torch.nn's own deep (bidirectional) LSTM/GRU holding the classifier's weights."""
    c = model.config
    cls = torch.nn.LSTM if c.cell == "lstm" else torch.nn.GRU
    ref = cls(
        c.embedding_dim,
        c.hidden_size,
        c.num_layers,
        batch_first=True,
        bidirectional=c.bidirectional,
    ).double()
    state = {}
    for k, directions in enumerate(model.rnn.layers):
        for d, rnn in enumerate(directions):
            for name, value in rnn.state_dict().items():
                state[name.replace("_l0", f"_l{k}" + ("_reverse" if d else ""))] = value
    ref.load_state_dict(state)
    return ref


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_pooling_equals_torch_nn_run_on_each_sequence_alone(
    pooling: str, bidirectional: bool, cell: str
) -> None:
    torch.manual_seed(0)
    model = RNNClassifier(_config(pooling=pooling, bidirectional=bidirectional, cell=cell))
    model = model.double().eval()
    ref = _torch_reference(model)
    ids, lengths = _padded_batch([7, 2, 5, 1])
    with torch.no_grad():
        pooled = model.pool(model.embed(ids), lengths)  # (B, ·)
        for b, n in enumerate(lengths.tolist()):
            out, state = ref(model.embed(ids[b : b + 1, :n]))  # (1, n, D*H)
            h_n = state[0] if isinstance(state, tuple) else state  # (L*D, 1, H)
            d = 2 if bidirectional else 1
            want = {
                "last": h_n[-d:].transpose(0, 1).reshape(-1),
                "max": out[0].amax(0),
                "mean": out[0].mean(0),
                "max-mean": torch.cat([out[0].amax(0), out[0].mean(0)]),
            }[pooling]
            torch.testing.assert_close(pooled[b], want, rtol=0, atol=1e-12)


def test_average_logits_and_contributions_equal_numpy() -> None:
    torch.manual_seed(1)
    model = AverageClassifier(_config()).double().eval()
    ids, lengths = _padded_batch([4, 1, 6], seed=1)
    table = model.embedding.weight.detach().numpy()  # (V, E)
    w, bias = model.head.weight.detach().numpy(), model.head.bias.detach().numpy()
    with torch.no_grad():
        logits = model(ids, lengths).numpy()  # (B, C)
        classes = torch.tensor([0, 2, 1])
        shares = model.contributions(model.embed(ids), lengths, classes).numpy()  # (B, T)
    for b, n in enumerate(lengths.tolist()):
        rows = table[ids[b, :n].numpy()]  # (n, E)
        np.testing.assert_allclose(logits[b], w @ rows.mean(axis=0) + bias, atol=1e-12)
        c = int(classes[b])
        np.testing.assert_allclose(shares[b, :n], rows @ w[c] / n, atol=1e-12)
        assert np.all(shares[b, n:] == 0)
        assert shares[b].sum() == pytest.approx(logits[b, c] - bias[c], abs=1e-12)


def test_bigram_bag_logits_equal_numpy() -> None:
    """z = W [pool(a<1..n>); (1/n) Σ_t g[(p · w<t-1> + w<t>) mod K]] + b, w<0> = <PAD>, written
    out in NumPy over each sequence's real tokens (the pooling is torch.nn's, tested above)."""
    torch.manual_seed(4)
    buckets, prime = 17, 1_000_003
    model = RNNClassifier(
        _config(pooling="max", bidirectional=True, bigram_buckets=buckets, bigram_dim=3)
    )
    model = model.double().eval()
    assert model.config.summary_size == 2 * 6 + 3
    ids, lengths = _padded_batch([5, 1, 3], seed=4)
    table = model.bigrams.weight.detach().numpy()  # (K, G)
    w, bias = model.head.weight.detach().numpy(), model.head.bias.detach().numpy()
    with torch.no_grad():
        logits = model(ids, lengths).numpy()  # (B, C)
        for b, n in enumerate(lengths.tolist()):
            tokens = [0, *ids[b, :n].tolist()]  # <PAD> (id 0) before the first token
            rows = [(prime * tokens[t] + tokens[t + 1]) % buckets for t in range(n)]
            bag = table[rows].mean(axis=0)  # (G,)
            words = model.embedding(ids[b : b + 1, :n])  # (1, n, E)
            pooled = model.pool(words, lengths[b : b + 1])[0].numpy()  # (2H,)
            want = w @ np.concatenate([pooled, bag]) + bias
            np.testing.assert_allclose(logits[b], want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="bigram_buckets needs token input"):
        ClassifierConfig(num_classes=2, input_features=3, bigram_buckets=8)
    with pytest.raises(ValueError, match="bigram_buckets must be >= 0"):
        _config(bigram_buckets=-1)


@pytest.mark.parametrize(
    ("arch", "pooling", "bigrams"),
    [("average", "last", 0)] + [("rnn", p, 0) for p in POOLINGS] + [("rnn", "max-mean", 31)],
)
def test_padding_never_changes_a_prediction(arch: str, pooling: str, bigrams: int) -> None:
    """A text alone and in a batch with longer ones: the same probabilities (1e-6)."""
    torch.manual_seed(2)
    cls = AverageClassifier if arch == "average" else RNNClassifier
    config = _config(pooling=pooling, bidirectional=True, dropout=0.3, bigram_buckets=bigrams)
    model = cls(config).eval()
    ids, lengths = _padded_batch([3, 11, 8, 1], seed=2)
    with torch.no_grad():
        batch = model(ids, lengths).softmax(-1)  # (B, C)
        for b, n in enumerate(lengths.tolist()):
            alone = model(ids[b : b + 1, :n], lengths[b : b + 1]).softmax(-1)  # (1, C)
            torch.testing.assert_close(batch[b], alone[0], rtol=0, atol=1e-6)


def test_feature_input_is_projected_and_padding_invariant() -> None:
    torch.manual_seed(3)
    model = RNNClassifier(
        ClassifierConfig(num_classes=3, input_features=4, embedding_dim=5, hidden_size=6)
    ).eval()
    x = torch.randn(3, 9, 4)
    lengths = torch.tensor([9, 4, 2])
    with torch.no_grad():
        batch = model(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(batch[b], model(x[b : b + 1, :n], lengths[b : b + 1])[0])
    with pytest.raises(ValueError, match=r"\(B, T, F=4\)"):
        model(torch.randn(2, 3, 5), torch.tensor([3, 3]))


def test_config_checks_and_round_trip() -> None:
    config = _config(cell="gru", pooling="max-mean", bidirectional=True)
    assert ClassifierConfig.from_dict(config.to_dict()) == config
    assert config.summary_size == 2 * 2 * 6
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        ClassifierConfig(num_classes=2, vocab_size=5, input_features=3)
    with pytest.raises(ValueError, match="pooling"):
        _config(pooling="first")
    with pytest.raises(ValueError, match="average classifier reads tokens"):
        AverageClassifier(ClassifierConfig(num_classes=2, input_features=3))
    task_config = replace(PRESETS["text"].config, arch="average", vectors=("a.txt",))
    assert ClassifierTaskConfig.from_dict(task_config.to_dict()) == task_config
    with pytest.raises(ValueError, match="features"):
        replace(PRESETS["activity"].config, arch="average")


# -- pretrained vectors ------------------------------------------------------------------------


def _vectors() -> KeyedVectors:
    rng = np.random.default_rng(0)
    return KeyedVectors(["the", "happy", "sad", "food"], rng.normal(size=(4, 3)))


def test_pretrained_embedding_rows_equal_a_row_by_row_construction() -> None:
    kv = _vectors()
    vocab = Vocab.build([["Happy", "the", "zzz", "sad"]], level="word", specials=(PAD, UNK))
    for oov in ("zero", "mean", "random"):
        emb = pretrained_embedding(vocab, kv, freeze=True, oov=oov, lowercase=True, seed=3)
        weight = emb.weight.detach().numpy()
        known = kv.vectors[[kv.get_index(w) for w in ("happy", "the", "sad")]]
        for token in vocab.tokens:
            row = weight[vocab[token]]
            if token == PAD:
                np.testing.assert_array_equal(row, 0)
            elif token.lower() in kv:
                np.testing.assert_array_equal(row, kv[token.lower()])
            elif oov == "zero":
                np.testing.assert_array_equal(row, 0)
            elif oov == "mean":
                np.testing.assert_allclose(row, known.mean(axis=0), rtol=1e-6)
        if oov == "random":  # drawn with the known entries' mean and std, seeded
            rng = np.random.default_rng(3)
            draw = rng.normal(known.mean(), known.std(), size=(2, 3)).astype(np.float32)
            np.testing.assert_allclose(weight[[vocab[UNK], vocab["zzz"]]], draw, rtol=1e-5)
        assert emb.padding_idx == vocab.pad_id and not emb.weight.requires_grad
    cased = pretrained_embedding(vocab, kv, freeze=False, oov="zero")
    np.testing.assert_array_equal(cased.weight.detach().numpy()[vocab["Happy"]], 0)
    assert cased.weight.requires_grad
    coverage = embedding_coverage(vocab, kv, lowercase=True)
    assert (coverage.tokens, coverage.found, coverage.found_lowercased) == (4, 2, 1)
    assert coverage.missing == ("zzz",)
    with pytest.raises(ValueError, match="oov"):
        pretrained_embedding(vocab, kv, freeze=True, oov="zeros")  # type: ignore[arg-type]


def test_load_vectors_merges_files_first_wins(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt.gz"
    KeyedVectors(["x", "y"], np.array([[1.0, 2.0], [3.0, 4.0]])).save(a, "glove")
    KeyedVectors(["y", "z"], np.array([[9.0, 9.0], [5.0, 6.0]])).save(b, "glove")
    kv = load_vectors([a, b])
    assert kv.index_to_key == ["x", "y", "z"]
    np.testing.assert_array_equal(kv["y"], [3.0, 4.0])


def test_load_vectors_stacks_files_of_other_dimensions(tmp_path: Path) -> None:
    """2-d files merge, the 3-d file's columns go beside them, zeros where a word is missing
    (a row-by-row construction as the oracle)."""
    rng = np.random.default_rng(0)
    two = {"x": rng.normal(size=2), "y": rng.normal(size=2), "q": rng.normal(size=2)}
    three = {"w": rng.normal(size=3), "y": rng.normal(size=3), "z": rng.normal(size=3)}
    files = [tmp_path / f for f in ("a.txt", "b.txt", "c.txt.gz")]
    KeyedVectors(["x", "y"], np.stack([two["x"], two["y"]])).save(files[0], "glove")
    KeyedVectors(list(three), np.stack(list(three.values()))).save(files[1], "word2vec")
    KeyedVectors(["y", "q"], np.stack([np.zeros(2), two["q"]])).save(files[2], "glove")
    kv = load_vectors(files)
    assert kv.index_to_key == ["x", "y", "q", "w", "z"]
    for word in kv.index_to_key:
        expect = np.concatenate([two.get(word, np.zeros(2)), three.get(word, np.zeros(3))])
        np.testing.assert_allclose(kv[word], expect, rtol=1e-5, atol=1e-6)


# -- tasks: helpers ------------------------------------------------------------------------


def _train(
    data: LabelledData | list,
    out: Path,
    *,
    preset: str = "text",
    arch: str = "rnn",
    steps: int = 200,
    lr: float = 1e-2,
    **changes: object,
) -> Classifier:
    p = PRESETS[preset]
    model = {k[6:]: v for k, v in changes.items() if k.startswith("model_")}
    own = {k: v for k, v in changes.items() if not k.startswith("model_")}
    config = replace(p.config, arch=arch, model=replace(p.config.model, **model), **own)
    train = TrainConfig(max_steps=steps, lr=lr, eval_every=None, progress=False)
    task, _ = Classifier.train(data, out, config, train)
    return task


def _accuracy(task: Classifier, examples: list) -> float:
    return task.evaluate(examples).accuracy


def _majority(train: list, test: list) -> float:
    labels = [ex.label for ex in train]
    top = max(set(labels), key=labels.count)
    return sum(ex.label == top for ex in test) / len(test)


def _negation(n: int, seed: int) -> list[Example]:
    """Planted sentiment where order matters: "good"/"bad" flipped by a "not" before it
    (XOR of two words: no bag-of-words model can get all four forms right)."""
    rng = random.Random(seed)
    fillers = ["the", "movie", "was", "plot", "really", "quite", "acting", "it", "so"]
    out = []
    for i in range(n):
        word, negated = rng.choice(["good", "bad"]), rng.random() < 0.5
        core = ["not", word] if negated else [word]
        words = [rng.choice(fillers) for _ in range(rng.randint(1, 4))]
        at = rng.randint(0, len(words))
        text = " ".join([*words[:at], *core, *words[at:]])
        positive = (word == "good") != negated
        out.append(Example(text, "pos" if positive else "neg", i + 1))
    return out


# -- learning tests ------------------------------------------------------------------------


def test_dna_motif_rnn_beats_the_bag_of_characters_average(tmp_path: Path) -> None:
    """Both classes have the same letters (decoys), so only order tells them apart."""
    data = LabelledData(dna_motif(1500, length=40, seed=1), [], "dna")
    test = dna_motif(400, length=40, seed=2)
    rnn = _train(data, tmp_path / "rnn", preset="dna", steps=250, lr=3e-3)
    avg = _train(data, tmp_path / "avg", preset="dna", arch="average", steps=250)
    acc_rnn, acc_avg = _accuracy(rnn, test), _accuracy(avg, test)
    # calibrated on seeds 0-2: rnn 0.99-1.00, average 0.47-0.55 (chance is 0.5)
    assert acc_rnn >= 0.9, (acc_rnn, acc_avg)
    assert acc_rnn >= acc_avg + 0.3
    assert acc_rnn > _majority(data.train, test) + 0.3


def test_activity_rnn_beats_majority_and_mean_features(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    train, test = activity(600, seed=1, length=60), activity(300, seed=2, length=60)
    task = _train(
        LabelledData(train, [], "activity"), tmp_path, preset="activity", steps=200, lr=3e-3
    )
    acc = _accuracy(task, test)
    # baseline: logistic regression on each sequence's mean of every channel
    probe = LogisticRegression(max_iter=2000)
    probe.fit([e.features.mean(0) for e in train], [e.label for e in train])
    baseline = probe.score([e.features.mean(0) for e in test], [e.label for e in test])
    # calibrated on 3 data seeds: rnn 0.82-0.94, mean-features probe 0.32, majority 0.33
    assert acc >= 0.7, (acc, baseline)
    assert acc > baseline + 0.2
    assert acc > _majority(train, test) + 0.4


def test_negation_rnn_beats_the_average_model(tmp_path: Path) -> None:
    train, test = _negation(1200, seed=1), _negation(300, seed=2)
    data = LabelledData(train, [], "negation")
    small = {"model_embedding_dim": 16, "model_hidden_size": 32}
    rnn = _train(data, tmp_path / "rnn", steps=250, lr=5e-3, **small)
    avg = _train(data, tmp_path / "avg", arch="average", steps=250, model_dropout=0.0, **small)
    acc_rnn, acc_avg = _accuracy(rnn, test), _accuracy(avg, test)
    # calibrated: rnn 0.99-1.00; the average model cannot beat 0.75 on this XOR (about 0.6-0.75)
    assert acc_rnn >= 0.95, (acc_rnn, acc_avg)
    assert acc_rnn >= acc_avg + 0.15
    assert rnn.predict(["the movie was not good"])[0][0][0] == "neg"
    assert rnn.predict(["the movie was not bad"])[0][0][0] == "pos"


def test_explain_finds_the_planted_token_and_the_average_sums(tmp_path: Path) -> None:
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma", "theta"]
    examples = []
    for i in range(800):
        text = [rng.choice(words) for _ in range(rng.randint(3, 7))]
        planted = i % 2 == 0
        if planted:
            text.insert(rng.randint(0, len(text)), "zebra")
        examples.append(Example(" ".join(text), "yes" if planted else "no", i + 1))
    data = LabelledData(examples, [], "planted")
    small = {"model_embedding_dim": 16, "model_hidden_size": 16}
    rnn = _train(data, tmp_path / "rnn", steps=150, lr=5e-3, **small)
    avg = _train(data, tmp_path / "avg", arch="average", steps=150, model_dropout=0.0, **small)
    bag = _train(data, tmp_path / "bag", steps=150, lr=5e-3, model_bigram_buckets=64, **small)
    for task in (rnn, avg, bag):
        for text in ("alpha beta zebra gamma delta", "zebra omega kappa", "sigma theta zebra"):
            pairs = task.explain(text)
            assert [t for t, _ in pairs] == text.split()
            assert max(pairs, key=lambda p: p[1])[0] == "zebra", pairs
    # the average model's contributions are exact: they sum to the logit minus its bias
    text = "alpha zebra gamma"
    pairs = avg.explain(text, label="no")
    x, lengths = avg._inputs(avg._encode([text]))
    with torch.no_grad():
        logit = avg.model(x, lengths)[0, avg.labels.index["no"]].item()
    bias = avg.model.head.bias[avg.labels.index["no"]].item()
    assert sum(v for _, v in pairs) == pytest.approx(logit - bias, abs=1e-5)


# -- saving, loading, vectors, tokens --------------------------------------------------------


def test_save_load_gives_identical_predictions_and_seqlab_load_finds_it(tmp_path: Path) -> None:
    train = _negation(200, seed=3)
    task = _train(train, tmp_path / "m", steps=20, model_bidirectional=True)
    texts = ["not good", "the movie was bad", "so so so good acting"]
    loaded = seqlab.load(tmp_path / "m")
    assert isinstance(loaded, Classifier) and loaded.labels == task.labels
    np.testing.assert_array_equal(loaded.predict_proba(texts), task.predict_proba(texts))
    top = loaded.predict(texts, top_k=5)
    assert [len(t) for t in top] == [2, 2, 2]  # two labels
    assert all(abs(sum(p for _, p in t) - 1) < 1e-6 for t in top)
    (tmp_path / "m" / "labels.json").write_text("{", encoding="utf-8")
    with pytest.raises(DataError, match=r"labels\.json"):
        Classifier.load(tmp_path / "m")


def test_frozen_vectors_stay_and_fine_tuned_ones_move(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = ["good", "bad", "not", "the", "movie", "was", "plot", "unseen"]
    kv = KeyedVectors(words, rng.normal(size=(len(words), 8)))
    kv.save(tmp_path / "v.txt", "glove")
    data = LabelledData(_negation(200, seed=4), [], "neg")
    tables = {}
    for freeze in (True, False):
        task = _train(
            data,
            tmp_path / f"m{freeze}",
            steps=30,
            vectors=(str(tmp_path / "v.txt"),),
            model_freeze_embedding=freeze,
        )
        assert task.coverage is not None and task.coverage.found == 7  # "good" ... "plot"
        assert "unseen" in task.vocab  # a word of the vectors, not of the training texts
        tables[freeze] = task.model.embedding.weight.detach().numpy()
        rows = [task.vocab[w] for w in words]
        moved = np.abs(tables[freeze][rows] - kv.vectors).max()
        assert (moved == 0) if freeze else (moved > 1e-3), moved
        reloaded = Classifier.load(tmp_path / f"m{freeze}")
        np.testing.assert_array_equal(reloaded.model.embedding.weight.detach(), tables[freeze])
        assert reloaded.model.embedding.weight.requires_grad is not freeze


def test_char_and_subword_tokens(tmp_path: Path) -> None:
    data = _negation(200, seed=5)
    char = _train(data, tmp_path / "c", steps=5, tokens="char")
    assert char.vocab.level == "char" and "g" in char.vocab
    assert [t for t, _ in char.explain("not goz")] == [*"not go", UNK]  # no "z" in training
    pytest.importorskip("sentencepiece", reason="sentencepiece is not installed")
    sub = _train(data, tmp_path / "s", steps=5, tokens="subword", subword_vocab=60)
    pieces = sub.tokenizer("the movie was notgood")
    assert "".join(pieces).replace("▁", " ").strip() == "the movie was notgood"
    loaded = Classifier.load(tmp_path / "s")
    assert loaded.tokenizer == sub.tokenizer
    np.testing.assert_array_equal(loaded.predict_proba(["notgood"]), sub.predict_proba(["notgood"]))


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need at least 2 distinct labels"):
        _train([Example("a b", "x", 1)] * 60, tmp_path / "a", steps=1)
    seqs = [SequenceExample(np.zeros((5, 2), np.float32), "a", 0)] * 2
    with pytest.raises(ValueError, match="features"):
        _train(LabelledData(seqs, [], ""), tmp_path / "b", steps=1)
    task = _train(_negation(100, seed=6), tmp_path / "c", steps=2)
    with pytest.raises(ValueError, match="list of texts"):
        task.predict("not good")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown label"):
        task.explain("good", label="meh")
    report = task.evaluate([Example("good", "meh", 1)])  # a label never trained on
    assert report.labels[-1] == "meh" and report.accuracy == 0.0
    with pytest.raises(ValueError, match="not among the training labels"):
        valid = [Example("good", "meh", 1)]
        _train(LabelledData(_negation(100, seed=6), valid), tmp_path / "d", steps=1)
    assert Labels.load(tmp_path / "c" / "labels.json") == task.labels
