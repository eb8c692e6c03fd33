"""``Captioner``: train, caption, evaluate and analyse an image captioner with attention.

The encoder–decoder of the course's week 3 applied to images (Show, Attend and Tell,
:mod:`seqlab.models.captioner`), mirrored by ``seqlab caption``:

* :meth:`Captioner.train` — on the generated scenes (``"scenes"``,
  :mod:`seqlab.data.scenes`) or on a folder of images with a captions file
  (:func:`seqlab.data.scenes.read_image_folder`), through :meth:`seqlab.tasks.base.Task.train`;
  each step draws one of an image's references at random; :data:`PRESETS` holds the defaults
  of ``seqlab caption train``;
* :meth:`Captioner.caption` — greedy search, beam search (``log P / Ty^α``) or sampling,
  all through the shared search driver :func:`seqlab.decoding.search`;
* :meth:`Captioner.attention` — where the decoder looked for each word (α over the regions),
  for :func:`seqlab.viz.caption.plot_caption_attention`;
* :meth:`Captioner.evaluate` — corpus BLEU-4 against every reference, exact match (the
  output is one of the references) and, on scenes, exact-meaning accuracy
  (:func:`seqlab.data.scenes.caption_meaning`), per beam size;
* :meth:`Captioner.analyze` — the beam-search error analysis
  (:mod:`seqlab.decoding.error_analysis`), each output compared with its closest reference
  (:func:`seqlab.decoding.references.closest_references`).

A trained model is a directory: ``config.json``, ``model.safetensors``, ``vocab.json``,
``metrics.jsonl``, ``loss_curve.png``.

With a pretrained backbone (``CaptionModelConfig(backbone="resnet18")`` and
``CaptionerConfig(backbone_weights=FILE)``) :meth:`Captioner.build` reads torchvision's
weights from ``FILE`` (:func:`seqlab.models.backbones.load_backbone_weights`) into the fresh
network; from then on they are part of the model's own ``model.safetensors``, so loading a
trained model never reads ``FILE`` again (``config.json`` only records its path). Resuming
such a run (``train(..., resume=True)``) needs no ``FILE`` either: the checkpoint holds every
weight, the backbone's too; a run stopped before its first checkpoint starts over from the
file its ``config.json`` records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import Tensor

from seqlab.data.batching import hold_out, pad, shuffled_batches
from seqlab.data.scenes import (
    CaptionData,
    caption_meaning,
    caption_tokens,
    load_image,
    scene_split,
)
from seqlab.data.vocab import EOS, PAD, SOS, UNK, Vocab
from seqlab.decoding import Hypothesis, Sampling, SearchConfig, search
from seqlab.decoding.candidates import Candidate
from seqlab.models.backbones import load_backbone_weights
from seqlab.models.captioner import CaptionModel, CaptionModelConfig
from seqlab.tasks.base import CHECKPOINT_DIR, CONFIG_FILE, Preset, Task, TaskConfig
from seqlab.train import Callback, TrainConfig, TrainResult
from seqlab.train.checkpoint import checkpoint_exists

__all__ = [
    "PRESETS",
    "Caption",
    "CaptionAttention",
    "CaptionCorpus",
    "Captioner",
    "CaptionerConfig",
]

SCENES_TRAIN_SIZE = 20_000  # generated training scenes of the "scenes" preset
_BATCH = 128  # images per decoding batch
ImageInput = np.ndarray | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True, kw_only=True)
class CaptionerConfig(TaskConfig):
    """How a captioner reads its data; saved as ``config.json`` with the network's config."""

    task: ClassVar[str] = "captioner"
    model_kind: ClassVar[str] = "captioner"

    model: CaptionModelConfig  # the network (vocab_size is set when the vocabulary is built)
    batch_size: int = 64  # images per training step (one reference each)
    min_count: int = 1  # rarer words map to <UNK>
    label_smoothing: float = 0.0  # ε of the training loss's label smoothing
    max_output_length: int | None = None  # decoding cap (words); None: from the training data
    dataset: str = ""  # where the training data came from ("scenes", the captions file)
    # the file the backbone's pretrained weights were read from when the network was built
    # (a record: a trained model's weights are all in its model.safetensors)
    backbone_weights: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backbone_weights is not None and self.model.backbone is None:
            raise ValueError("backbone_weights given without a backbone")
        if self.batch_size < 1 or self.min_count < 1:
            raise ValueError("batch_size and min_count must be >= 1")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.max_output_length is not None and self.max_output_length < 1:
            raise ValueError(f"max_output_length must be >= 1, got {self.max_output_length}")


def _preset(
    *,
    side: int,
    channels: tuple[int, ...],
    size: tuple[int, int, int],
    dropout: float,
    min_count: int,
    train: TrainConfig,
) -> Preset[CaptionerConfig]:
    embedding, hidden, attention = size
    model = CaptionModelConfig(
        vocab_size=2,  # set from the vocabulary when it is built
        image_size=side,
        channels=channels,
        embedding_dim=embedding,
        hidden_size=hidden,
        attention_dim=attention,
        dropout=dropout,
    )
    return Preset(config=CaptionerConfig(model=model, min_count=min_count), train=train)


# The defaults of `seqlab caption train` per kind of data. "scenes": 32-pixel scenes, a
# 4 x 4 grid of regions, for the target BLEU-4 >= 90 and >= 95% meaning accuracy on the
# held-out scenes within 15 minutes of CPU training: measured 99.95 BLEU-4 and 99.9% (greedy),
# 100 and 100% (beam 3) after 3000 steps in 828 s on one thread of a busy 2-core AMD EPYC
# (docs/captioning.md); "images": a folder of photos (Flickr8k-like), 64 pixels, untuned.
PRESETS: dict[str, Preset[CaptionerConfig]] = {
    "scenes": _preset(
        side=32,
        channels=(32, 64, 128),
        size=(32, 128, 64),
        dropout=0.0,
        min_count=1,
        train=TrainConfig(
            time_budget=15 * 60.0,
            max_steps=3000,
            warmup_steps=100,
            lr=2e-3,
            eval_every=250,
            schedule="cosine",
        ),
    ),
    "images": _preset(
        side=64,
        channels=(32, 64, 128, 256),
        size=(128, 256, 128),
        dropout=0.2,
        min_count=2,
        train=TrainConfig(max_steps=30_000, lr=1e-3, schedule="cosine", warmup_steps=500),
    ),
}

# -- the data a captioner trains on, and what it returns -------------------------------------


@dataclass(frozen=True)
class CaptionCorpus:
    """Training images and the held-out ones the validation loss is measured on."""

    train: CaptionData  # what the model learns from
    valid: CaptionData | None  # validation loss and exact match (None: no validation)
    name: str  # "scenes" or the captions file

    @classmethod
    def scenes(cls, n: int = SCENES_TRAIN_SIZE, *, seed: int = 0, side: int = 32) -> CaptionCorpus:
        """``n`` generated scenes from ``seed``, validated on the fixed validation scenes."""
        train = scene_split("train", n, seed=seed, side=side)
        return cls(train, scene_split("valid", side=side), "scenes")

    @classmethod
    def from_data(cls, data: CaptionData) -> CaptionCorpus:
        """Every 50th image held out for validation (none from fewer than 50)."""
        train, valid = hold_out(range(len(data)), 0.02)
        return cls(data.subset(train), data.subset(valid) if valid else None, data.name)


@dataclass(frozen=True)
class Caption:
    """The caption of one image: the best candidate first."""

    image: str  # the image's name (its path, or "image-3" for an array)
    candidates: list[Candidate]  # n-best list, best first

    text = property(lambda self: self.candidates[0].text, doc="The best caption.")
    __str__ = text.fget  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """The image, its best caption and every candidate, for JSON."""
        best = self.candidates[0].text
        return {
            "image": self.image,
            "caption": best,
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass(frozen=True)
class CaptionAttention:
    """α<t,r> of one caption: one grid per output word (<EOS> last when emitted)."""

    image: np.ndarray  # (H, W, 3) uint8, as the model saw it
    words: list[str]  # y<1..Ty>, with "<EOS>" when the caption finished
    weights: Tensor  # (Ty, g, g): each grid sums to 1
    text: str  # the caption (without <EOS>)


Batch = tuple[Tensor, Tensor, Tensor]  # images (B, 3, H, W), tgt_in (B, S), tgt_out (B, S)


class _CaptionTrainable:
    """The :class:`seqlab.train.Trainable` adapter: shuffled images, one reference each."""

    def __init__(self, task: Captioner, corpus: CaptionCorpus) -> None:
        self.task, self.model = task, task.model
        self.train = corpus.train
        self.ids = [[task._encode(c) for c in refs] for refs in corpus.train.captions]
        self.valid = corpus.valid

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        del epoch
        for rows in shuffled_batches(len(self.train), self.task.config.batch_size, generator):
            picks = torch.randint(0, 2**31 - 1, (len(rows),), generator=generator).tolist()
            refs = [self.ids[r][p % len(self.ids[r])] for r, p in zip(rows, picks, strict=True)]
            yield self.task._batch(self.train.images[rows], refs)

    def batches_per_epoch(self) -> int:
        return -(-len(self.train) // self.task.config.batch_size)

    def training_loss(self, batch: Batch) -> tuple[Tensor, int]:
        images, tgt_in, tgt_out = batch
        loss = self.model.loss(
            images, tgt_in, tgt_out, label_smoothing=self.task.config.label_smoothing
        )
        return loss, int((tgt_out != self.task.vocab.pad_id).sum())

    def validate(self) -> dict[str, float]:
        if self.valid is None:
            return {}
        sample = self.valid.subset(range(min(len(self.valid), 300)))
        outs = self.task.caption(sample.images)
        refs = [{" ".join(caption_tokens(r)) for r in rs} for rs in sample.captions]
        hits = sum(o.text in r for o, r in zip(outs, refs, strict=True))
        return {"loss": self.task.loss(self.valid), "exact_match": hits / len(sample)}


# -- the task ------------------------------------------------------------------------------


# True while Captioner.train resumes from a checkpoint: every weight of the network, the
# backbone's included, comes from the checkpoint, so no backbone weights file is read
_FROM_CHECKPOINT: ContextVar[bool] = ContextVar("seqlab_caption_from_checkpoint", default=False)


def _recorded_weights(out: Path, config: CaptionerConfig) -> CaptionerConfig:
    """``config``, given no backbone weights file for its backbone, with the one the run in
    ``out`` records (its ``config.json``), if it records one."""
    if config.model.backbone is None or config.backbone_weights is not None:
        return config
    try:
        recorded = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return config  # no run to read: Task.train says so
    weights = recorded.get("backbone_weights") if isinstance(recorded, dict) else None
    return replace(config, backbone_weights=weights) if isinstance(weights, str) else config


def _network(config: CaptionerConfig) -> CaptionModel:
    """A fresh network, its backbone (if any) loaded from ``config.backbone_weights``; a
    frozen backbone must have weights to load (but when resuming from a checkpoint)."""
    if _FROM_CHECKPOINT.get():
        return cast(CaptionModel, Captioner.build_model(config))
    backbone = config.model.backbone
    if backbone is not None and config.model.freeze_backbone and not config.backbone_weights:
        raise ValueError(
            f"a frozen {backbone} backbone needs pretrained weights (backbone_weights); "
            "without them, give freeze_backbone=False to train it from scratch too"
        )
    model = cast(CaptionModel, Captioner.build_model(config))
    if config.backbone_weights is not None:
        load_backbone_weights(model.backbone, config.backbone_weights)
    return model


class Captioner(Task):
    """A trained (or freshly built) image captioner with its vocabulary."""

    config_class = CaptionerConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {"vocab": ("vocab.json", Vocab)}
    what = "captioner"
    command = "seqlab caption train"
    # where the backbone's weights were first read from: a record, which a resumed run need
    # not repeat (its checkpoint holds the weights)
    resume_ignores = ("backbone_weights",)

    model: CaptionModel
    config: CaptionerConfig
    vocab: Vocab

    # -- building and training -------------------------------------------------------------
    @classmethod
    def prepare_data(cls, data: str | CaptionCorpus | CaptionData) -> CaptionCorpus:
        """``"scenes"`` (20,000 generated scenes), a :class:`CaptionCorpus`, or
        :class:`~seqlab.data.scenes.CaptionData` (every 50th image held out)."""
        if isinstance(data, CaptionCorpus):
            return data
        if isinstance(data, CaptionData):
            return CaptionCorpus.from_data(data)
        if data != "scenes":
            raise ValueError(f"unknown dataset {data!r}; built-in: scenes")
        return CaptionCorpus.scenes()

    @classmethod
    def build(cls, data: CaptionCorpus, config: CaptionerConfig) -> tuple[Captioner, CaptionCorpus]:
        """A fresh network and vocabulary for ``data``."""
        side = config.model.image_size
        if data.train.images.shape[1:3] != (side, side):
            raise ValueError(
                f"the images are {data.train.images.shape[2]}x{data.train.images.shape[1]} "
                f"pixels but the model reads {side}x{side}: resize them (image_size)"
            )
        tokens = [caption_tokens(c) for refs in data.train.captions for c in refs]
        vocab = Vocab.build(
            tokens, level="word", specials=(PAD, UNK, SOS, EOS), min_count=config.min_count
        )
        model = replace(config.model, vocab_size=len(vocab), pad_id=vocab.pad_id)
        longest = max(len(t) for t in tokens)
        config = replace(
            config,
            model=model,
            max_output_length=config.max_output_length or 2 * longest + 5,
            dataset=config.dataset or data.name,
        )
        return cls(_network(config), config, vocab=vocab), data

    @classmethod
    def train(
        cls,
        data: Any,
        out_dir: str | Path,
        config: Any,
        train_config: TrainConfig,
        *,
        resume: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> tuple[Captioner, TrainResult]:
        """:meth:`seqlab.tasks.base.Task.train`; resuming a run with a pretrained backbone
        needs only what ``out_dir`` holds: without ``config.backbone_weights`` the run's
        recorded file is used, and it is not read at all when a checkpoint holds the
        weights (only a run stopped before its first checkpoint starts over from it)."""
        out = Path(out_dir)
        from_checkpoint = False
        if resume:
            config = _recorded_weights(out, config)
            from_checkpoint = checkpoint_exists(out / CHECKPOINT_DIR)
        token = _FROM_CHECKPOINT.set(from_checkpoint)
        try:
            return super().train(
                data, out, config, train_config, resume=resume, callbacks=callbacks
            )
        finally:
            _FROM_CHECKPOINT.reset(token)

    def trainable(self, encoded: CaptionCorpus, data: object) -> _CaptionTrainable:
        return _CaptionTrainable(self, encoded)

    # -- encoding helpers ------------------------------------------------------------------
    def _encode(self, caption: str) -> list[int]:
        return self.vocab.encode(caption_tokens(caption))

    def _tensor(self, images: np.ndarray) -> Tensor:
        """uint8 images as the network reads them.  (B, H, W, 3) -> (B, 3, H, W) in [0, 1]"""
        x = torch.as_tensor(np.ascontiguousarray(images), device=self.device)  # (B, H, W, 3)
        return x.permute(0, 3, 1, 2).float().div(255.0)  # (B, 3, H, W)

    def _batch(self, images: np.ndarray, refs: Sequence[list[int]]) -> Batch:
        """Images (B, 3, H, W), <SOS> y (B, S), y <EOS> (B, S)."""
        v = self.vocab
        tgt_in, _ = pad([[v.sos_id, *y] for y in refs], v.pad_id, device=self.device)  # (B, S)
        tgt_out, _ = pad([[*y, v.eos_id] for y in refs], v.pad_id, device=self.device)  # (B, S)
        return self._tensor(images), tgt_in, tgt_out

    def _images(self, images: ImageInput) -> tuple[np.ndarray, list[str]]:
        """(N, H, W, 3) uint8 at the model's size, and the images' names, from an array
        (one image or a batch) or image files."""
        side = self.config.model.image_size
        if isinstance(images, np.ndarray):
            batch = images[None] if images.ndim == 3 else images
            if batch.ndim != 4 or batch.shape[1:] != (side, side, 3) or batch.dtype != np.uint8:
                raise ValueError(
                    f"expected images of shape (N, {side}, {side}, 3) uint8, "
                    f"got {images.shape} {images.dtype}"
                )
            return batch, [f"image-{i}" for i in range(len(batch))]
        paths = [images] if isinstance(images, str | os.PathLike) else list(images)
        if not paths:
            raise ValueError("no image to caption")
        return np.stack([load_image(p, side) for p in paths]), [str(p) for p in paths]

    @property
    def _cap(self) -> int:
        return self.config.max_output_length or 30

    def _join(self, ids: Sequence[int]) -> str:
        return " ".join(self.vocab.decode(ids))

    def _hypotheses(self, images: np.ndarray, config: SearchConfig) -> list[list[Hypothesis]]:
        with self.eval_mode():
            return search(
                self.model,
                lambda rows: self.model.init_state(self._tensor(images[list(rows)])),
                len(images),
                config,
                bos_id=self.vocab.sos_id,
                eos_id=self.vocab.eos_id,
            )

    # -- the course's uses -----------------------------------------------------------------
    def loss(self, data: CaptionData) -> float:
        """Mean teacher-forced cross-entropy per word (<EOS> included) over every reference."""
        pairs = [(i, self._encode(c)) for i, refs in enumerate(data.captions) for c in refs]
        total, count = 0.0, 0
        with self.eval_mode():
            for k in range(0, len(pairs), _BATCH):
                part = pairs[k : k + _BATCH]
                images, tgt_in, tgt_out = self._batch(
                    data.images[[i for i, _ in part]], [y for _, y in part]
                )
                n = int((tgt_out != self.vocab.pad_id).sum())
                total += float(self.model.loss(images, tgt_in, tgt_out)) * n
                count += n
        return total / max(count, 1)

    def caption(
        self,
        images: ImageInput,
        *,
        beam_size: int = 1,
        alpha: float = 0.7,
        n_best: int = 1,
        sampling: Sampling | None = None,
    ) -> list[Caption]:
        """Caption each image (an (N, H, W, 3) or (H, W, 3) uint8 array, or image files):
        greedy search for ``beam_size=1``, else beam search ranking by ``log P / Ty^α``
        (``n_best`` candidates each). With ``sampling`` (temperature, top-k, top-p and a
        generator, e.g. ``task.generator(seed)``) each word is drawn from the model instead."""
        batch, names = self._images(images)
        limits = {"max_length": self._cap, "batch_size": _BATCH}
        config = SearchConfig(
            beam_size=beam_size, n_best=n_best, alpha=alpha, sampling=sampling, **limits
        )
        rows = self._hypotheses(batch, config)
        decode, join = self.vocab.decode, " ".join
        return [
            Caption(name, [Candidate.from_hypothesis(h, decode, join) for h in row])
            for name, row in zip(names, rows, strict=True)
        ]

    def attention(self, image: ImageInput, output: Candidate | None = None) -> CaptionAttention:
        """Where the decoder looked for each word of the greedy caption of ``image`` (one
        image), or of ``output`` (a candidate of :meth:`caption`) fed word by word."""
        batch, _ = self._images(image)
        if len(batch) != 1:
            raise ValueError(f"give one image, got {len(batch)}")
        if output is None:
            output = self.caption(batch)[0].candidates[0]
        ids = self.vocab.encode(output.tokens)
        g = self.config.model.grid
        with self.eval_mode():
            tgt_in = torch.tensor([[self.vocab.sos_id, *ids]], device=self.device)  # (1, S)
            _, alphas = self.model(self._tensor(batch), tgt_in, return_attention=True)  # (1, S, R)
        words = [*output.tokens, EOS]
        rows = len(words) if output.finished else len(ids)
        weights = alphas[0, :rows].reshape(rows, g, g).cpu()  # (Ty, g, g)
        return CaptionAttention(batch[0], words[:rows], weights, output.text)

    def _default_data(self, data: CaptionData | None) -> CaptionData:
        if data is not None:
            if len(data) == 0:
                raise ValueError("nothing to evaluate: no images")
            return data
        if self.config.dataset != "scenes":
            raise ValueError(
                "give images and captions to evaluate on (only a scenes model has a built-in "
                "test set)"
            )
        return scene_split("test", side=self.config.model.image_size)

    def evaluate(
        self,
        data: CaptionData | None = None,
        *,
        beam_sizes: Sequence[int] = (1,),
        alpha: float = 0.7,
    ) -> dict[str, Any]:
        """BLEU-4 against every reference, exact match and (on scenes) meaning accuracy, per
        beam size; without ``data`` a scenes model is scored on the fixed held-out scenes.

        Returns ``{"examples", "references", "alpha", "results": [{"beam_size", "bleu",
        "signature", "exact_match", "meaning_accuracy" (scene captions only), "errors"}]}``;
        ``errors`` lists up to 20 outputs that match no reference.
        """
        from seqlab.metrics.bleu import corpus_bleu

        data = self._default_data(data)
        refs = [[" ".join(caption_tokens(r)) for r in rs] for rs in data.captions]
        meanings = [caption_meaning(rs[0]) for rs in refs]
        scenes = all(m is not None for m in meanings)
        streams = [
            [rs[j] if j < len(rs) else None for rs in refs] for j in range(max(map(len, refs)))
        ]
        results = []
        for k in beam_sizes:
            outs = self.caption(data.images, beam_size=k, alpha=alpha)
            hyps = [o.text for o in outs]
            exact = [h in rs for h, rs in zip(hyps, refs, strict=True)]
            score = corpus_bleu(hyps, streams)
            entry: dict[str, Any] = {
                "beam_size": k,
                "bleu": float(score.score),
                "signature": str(score.signature),
                "exact_match": sum(exact) / len(exact),
            }
            if scenes:
                same = [caption_meaning(h) == m for h, m in zip(hyps, meanings, strict=True)]
                entry["meaning_accuracy"] = sum(same) / len(same)
            entry["errors"] = [
                {"image": n, "output": h, "reference": rs[0], "references": rs}
                for n, h, rs, ok in zip(data.names, hyps, refs, exact, strict=True)
                if not ok
            ][:20]
            results.append(entry)
        return {
            "examples": len(data),
            "references": sum(map(len, refs)),
            "alpha": alpha,
            "results": results,
        }

    def analyze(
        self, data: CaptionData | None = None, *, beam_size: int = 3, alpha: float = 0.7
    ) -> Any:
        """The course's beam-search error analysis on images and their references: for each
        output ŷ that matches no reference, the search is at fault if the model prefers the
        closest reference y* (P(y*|x) > P(ŷ|x), both length-normalised), else the model.
        Without ``data`` a scenes model is analysed on its held-out scenes. Returns an
        :class:`seqlab.decoding.ErrorAnalysis` (``format_table``, ``write_csv``)."""
        from seqlab.decoding import ErrorAnalysis, analyze_errors
        from seqlab.decoding.references import closest_references

        data = self._default_data(data)
        config = SearchConfig(
            max_length=self._cap, beam_size=beam_size, alpha=alpha, batch_size=_BATCH
        )
        best = [h[0] for h in self._hypotheses(data.images, config)]
        ids = [[self._encode(r) for r in rs] for rs in data.captions]
        ends = {"bos_id": self.vocab.sos_id, "eos_id": self.vocab.eos_id}
        parts = []
        with self.eval_mode():
            for i in range(0, len(data), _BATCH):
                rows = slice(i, i + _BATCH)
                state = self.model.init_state(self._tensor(data.images[rows]))
                pick = closest_references(
                    self.model,
                    state,
                    best[rows],
                    ids[rows],
                    alpha=alpha,
                    unk_id=self.vocab.unk_id,
                    **ends,
                )
                refs = [ids[i + j][k] for j, k in enumerate(pick)]
                texts = [data.captions[i + j][k] for j, k in enumerate(pick)]
                parts.append(
                    analyze_errors(
                        self.model,
                        state,
                        best[rows],
                        refs,
                        alpha=alpha,
                        sources=data.names[rows],
                        decode=self._join,
                        unk_id=self.vocab.unk_id,
                        reference_texts=texts,
                        **ends,
                    )
                )
        return ErrorAnalysis.concat(parts)
