"""The named-entity Tagger task and its BiLSTM(-CRF) network.

Learning: on planted sentences where the same word is a person after "Mr." and a place after
"in", the tagger must beat a most-frequent-tag-per-word baseline (which cannot read context)
on held-out sentences, with and without the CRF. Consistency: padding never changes a tag;
save/load gives identical predictions; frozen pretrained rows stay unchanged; a constrained
CRF never outputs an invalid IOB2 transition; the config round trip.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from seqlab.data.conll import convert_tags
from seqlab.functional.crf import transition_mask
from seqlab.metrics.tagging import entity_scores
from seqlab.models.tagger import CASES, TaggerModel, TaggerModelConfig, case_feature
from seqlab.tasks import Tagger, TaggerConfig, load_task
from seqlab.tasks.tagger import TaggedCorpus
from seqlab.train import TrainConfig

# Words that are a person after a title and a place after a preposition: only the context
# tells which (a per-word tagger gets about half of them wrong).
AMBIGUOUS = ["Jordan", "Washington", "Florence", "Austin", "Chelsea", "Lincoln", "Georgia"]
PEOPLE = ["Smith", "Brown", "Garcia", "Miller"]
PLACES = ["Berlin", "Madrid", "Oslo", "Lima"]
ORGS = [("Acme", "Corp"), ("Globex",), ("Initech", "Labs"), ("Umbrella",)]
FILLER = ["the", "report", "said", "that", "today", "it", "was", "quiet", "again", "we"]


def _person(rng: random.Random) -> list[tuple[str, str]]:
    first = rng.choice(AMBIGUOUS + PEOPLE)
    out = [(first, "B-PER")]
    if rng.random() < 0.4:
        out.append((rng.choice(PEOPLE), "I-PER"))
    return out


def _place(rng: random.Random) -> list[tuple[str, str]]:
    return [(rng.choice(AMBIGUOUS + PLACES), "B-LOC")]


def _org(rng: random.Random) -> list[tuple[str, str]]:
    words = rng.choice(ORGS)
    return [(w, "B-ORG" if i == 0 else "I-ORG") for i, w in enumerate(words)]


def _filler(rng: random.Random, n: int) -> list[tuple[str, str]]:
    return [(rng.choice(FILLER), "O") for _ in range(n)]


def planted(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """``n`` sentences of 4-16 tokens: clauses "Mr. X [Y]" (PER), "in X" (LOC), "at X"
    (ORG) between filler words."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pairs = _filler(rng, rng.randint(0, 3))
        for _ in range(rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.4:
                pairs += [(rng.choice(["Mr.", "Ms.", "Dr."]), "O"), *_person(rng)]
            elif kind < 0.8:
                pairs += [(rng.choice(["in", "to", "from"]), "O"), *_place(rng)]
            else:
                pairs += [("at", "O"), *_org(rng)]
            pairs += _filler(rng, rng.randint(0, 2))
        out.append(([w for w, _ in pairs], [t for _, t in pairs]))
    return out


def most_frequent_tag(train: list[tuple[list[str], list[str]]], sentences: list[list[str]]):
    """The baseline: each word's most frequent training tag (O when unseen)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for words, tags in train:
        for w, t in zip(words, tags, strict=True):
            counts[w][t] += 1
    tags = [[counts[w].most_common(1)[0][0] if w in counts else "O" for w in s] for s in sentences]
    return [convert_tags(t, "iob2", "iob2") for t in tags]  # well formed, as the tagger's


SMALL = TaggerModelConfig(
    vocab_size=2, num_tags=1, word_dim=24, case_dim=4, char_dim=12, char_hidden=16,
    hidden_size=32, dropout=0.1,
)  # fmt: skip


def _config(**changes) -> TaggerConfig:
    model = replace(SMALL, **{k: v for k, v in changes.items() if hasattr(SMALL, k)})
    rest = {k: v for k, v in changes.items() if not hasattr(SMALL, k)}
    return TaggerConfig(model=model, batch_size=16, **rest)


def _train(tmp_path: Path, config: TaggerConfig, steps: int, data=None, seed: int = 0):
    data = data if data is not None else TaggedCorpus(planted(600, 1), planted(60, 2), "planted")
    tc = TrainConfig(max_steps=steps, lr=1e-2, eval_every=steps, progress=False, seed=seed)
    return Tagger.train(data, tmp_path / "model", config, tc)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models on a shared machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained_crf(tmp_path_factory: pytest.TempPathFactory) -> Tagger:
    tagger, _ = _train(tmp_path_factory.mktemp("crf"), _config(crf=True), 120)
    return tagger


# -- learning -----------------------------------------------------------------------------


@pytest.mark.parametrize("crf", [True, False])
def test_the_tagger_reads_context_that_a_per_word_baseline_cannot(
    tmp_path: Path, crf: bool, trained_crf: Tagger
) -> None:
    train, test = planted(600, 1), planted(300, 3)
    tagger = trained_crf if crf else _train(tmp_path, _config(crf=False), 120)[0]
    gold = [t for _, t in test]
    baseline = entity_scores(gold, most_frequent_tag(train, [w for w, _ in test])).f1
    scores = tagger.evaluate(test)
    # calibrated: the baseline scores 0.69 (half the ambiguous names get the wrong type);
    # the tagger ~0.99-1.00 after 120 steps with or without the CRF (seeds 0-4); a tagger
    # that ignored the context (or one broken in its packing) stays near the baseline
    assert baseline < 0.85
    assert scores.f1 > 0.95 and scores.f1 > baseline + 0.1
    assert set(scores.per_type) == {"PER", "LOC", "ORG"}


# -- consistency --------------------------------------------------------------------------


def test_padding_never_changes_a_prediction(trained_crf: Tagger) -> None:
    short = ["Mr.", "Jordan", "said"]
    longer = [w for w, _ in planted(8, 5)]
    longer.append(["Dr.", "Supercalifragilisticexpialidocious", *["in", "Austin"] * 20])
    alone = trained_crf.predict([short])[0]
    batched = trained_crf.predict([longer[0], short, *longer[1:]])
    assert batched[1] == alone
    assert [trained_crf.predict([s])[0] for s in longer] == [batched[0], *batched[2:]]
    # the emissions themselves agree (not only their argmax)
    enc = [trained_crf._encode(s) for s in (short, longer[-1])]
    with trained_crf.eval_mode():
        one = trained_crf.model.emissions(trained_crf._batch(enc[:1]))[0]
        both = trained_crf.model.emissions(trained_crf._batch(enc))[0, : len(short)]
    torch.testing.assert_close(one, both, atol=1e-5, rtol=1e-5)


def test_save_and_load_give_identical_predictions(trained_crf: Tagger, tmp_path: Path) -> None:
    sentences = [w for w, _ in planted(40, 6)]
    trained_crf.save(tmp_path / "copy")
    again = load_task(tmp_path / "copy")
    assert isinstance(again, Tagger)
    assert again.predict(sentences) == trained_crf.predict(sentences)
    assert again.config == trained_crf.config


def test_the_constrained_crf_never_outputs_an_invalid_iob2_transition() -> None:
    torch.manual_seed(0)
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    config = replace(SMALL, vocab_size=10, num_tags=5, char_vocab_size=6, crf=True)
    model = TaggerModel(config).eval()
    with torch.no_grad():  # transitions that favour the forbidden moves
        model.crf.transitions.normal_(0, 3.0)
        model.head.bias.copy_(torch.tensor([0.0, -2.0, 4.0, -2.0, 4.0]))
    batch = _random_batch(config, 16, 12)
    unconstrained = [[names[i] for i in row] for row in model.decode(batch)]
    model.constrain_to(names, "iob2")
    constrained = [[names[i] for i in row] for row in model.decode(batch)]
    allowed, first, _ = transition_mask(names, "iob2")

    def valid(tags: list[str]) -> bool:
        ids = [names.index(t) for t in tags]
        return bool(first[ids[0]]) and all(allowed[a, b] for a, b in itertools.pairwise(ids))

    assert not all(map(valid, unconstrained))  # the test can fail
    assert all(map(valid, constrained))


def _random_batch(config: TaggerModelConfig, b: int, t: int):
    from seqlab.models.tagger import TaggerBatch

    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    lengths[0] = t
    mask = torch.arange(t)[None, :] < lengths[:, None]
    words = torch.randint(2, config.vocab_size, (b, t), generator=g) * mask
    chars = torch.randint(2, config.char_vocab_size, (b, t, 4), generator=g) * mask[..., None]
    cases = torch.randint(1, len(CASES), (b, t), generator=g) * mask
    return TaggerBatch(words, chars, cases, lengths)


@pytest.mark.parametrize("encoder", ["cnn", "lstm"])
def test_character_features_ignore_padding(encoder: str) -> None:
    torch.manual_seed(0)
    config = replace(SMALL, vocab_size=10, num_tags=3, char_vocab_size=8, char_encoder=encoder)
    model = TaggerModel(config).eval()
    batch = _random_batch(config, 4, 6)
    wider = replace(batch, chars=torch.nn.functional.pad(batch.chars, (0, 5)))  # more <PAD>
    torch.testing.assert_close(model.emissions(batch), model.emissions(wider))


def test_frozen_pretrained_vectors_stay_unchanged(tmp_path: Path) -> None:
    rng = random.Random(0)
    words = sorted({w for s, _ in planted(200, 1) for w in s})
    known = words[::2]  # half the words have a vector (lower-cased, as GloVe's)
    lines = [f"{w.lower()} " + " ".join(f"{rng.gauss(0, 1):.4f}" for _ in range(8)) for w in known]
    (tmp_path / "vec.txt").write_text("\n".join(lines) + "\n")
    config = _config(vectors=(str(tmp_path / "vec.txt"),), frozen_vectors=True)
    torch.manual_seed(0)
    start, _ = Tagger.build(TaggedCorpus(planted(600, 1), [], "planted"), config)
    initial = start.model.embedding.weight.detach().clone()
    tagger, _ = _train(tmp_path, config, 60)  # the same seed builds the same start
    model = tagger.model
    assert model.config.word_dim == 8
    rows = torch.tensor([tagger.vocab[w.lower()] for w in known])
    expected = torch.tensor([[float(x) for x in ln.split()[1:]] for ln in lines])
    torch.testing.assert_close(initial[rows], expected)
    assert bool(model.pretrained[rows].all()) and int(model.pretrained.sum()) == len(known)
    # after training the pretrained rows are still the file's, and the network reads them
    torch.testing.assert_close(model.frozen_embedding.weight[rows], expected)
    torch.testing.assert_close(model._words(rows[None, :])[0], expected)
    # while the rows without a vector did train (so the test can fail)
    others = ~model.pretrained
    others[tagger.vocab.pad_id] = False
    assert not torch.allclose(model.embedding.weight[others], initial[others])


def test_the_config_round_trips() -> None:
    config = _config(crf=False, char_encoder="lstm", tag_scheme="iobes", vectors=("a.txt",))
    assert TaggerConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["task"] == "tagger"
    model = TaggerModelConfig.from_dict(SMALL.to_dict())
    assert model == SMALL
    with pytest.raises(ValueError, match="char_encoder"):
        replace(SMALL, char_encoder="rnn")
    with pytest.raises(ValueError, match="frozen_vectors"):
        _config(frozen_vectors=True)


def test_case_feature() -> None:
    cases = [CASES[case_feature(w)] for w in ("the", "EU", "Peter", "1996", "B52", "iPod", ",")]
    assert cases == ["lower", "upper", "title", "numeric", "has_digit", "mixed", "other"]
