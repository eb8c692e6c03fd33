"""``seqlab caption train|predict|evaluate|analyze|scenes``: image captioning with attention."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from seqlab.cli._common import fail, output_folder, print_json, user_errors
from seqlab.cli._train import TrainOptions, override, train_and_report, train_options
from seqlab.tasks.captioner import PRESETS, SCENES_TRAIN_SIZE

app = typer.Typer(
    help="Image captioning with attention over image regions (Show, Attend and Tell): train "
    "(generated scenes or a folder of images), predict (greedy/beam/sampling, attention "
    "overlays), evaluate (BLEU-4, exact match, meaning accuracy), analyze (beam-search error "
    "analysis).",
    no_args_is_help=True,
)

# the task and network config fields -> `caption train`'s options (error messages name them)
_TRAIN_FLAGS = {
    "min_count": "--min-count",
    "label_smoothing": "--label-smoothing",
    "image_size": "--image-size",
    "hidden_size": "--hidden",
    "embedding_dim": "--embedding",
    "attention_dim": "--attention-dim",
    "dropout": "--dropout",
    "channels": "--channels",
    "backbone_weights": "--backbone-weights",
    "freeze_backbone=False": "--no-freeze-backbone",
}
_BACKBONE_SIDE = 224  # --image-size with --backbone: ImageNet's, a 7 x 7 grid of regions
_SEARCH_FLAGS = {"beam_size": "--beam", "n_best": "--n-best", "alpha": "--alpha"}
_SEARCH_FLAGS |= {"temperature": "--temperature", "top_k": "--top-k", "top_p": "--top-p"}


@app.command()
@user_errors
@train_options(PRESETS, flags=_TRAIN_FLAGS)
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    dataset: str | None = typer.Option(None, help="Built-in data: scenes (generated)."),
    images: Path | None = typer.Option(None, help="A folder of images (with --captions)."),
    captions: Path | None = typer.Option(
        None, help="image<TAB>caption lines (Flickr8k layout); several lines = references."
    ),
    train_size: int | None = typer.Option(
        None, help=f"scenes: generated training scenes (default: {SCENES_TRAIN_SIZE})."
    ),
    image_size: int | None = typer.Option(
        None,
        help="Images are resized to this square (default: scenes 32, images 64; "
        f"{_BACKBONE_SIDE} with --backbone).",
    ),
    channels: str | None = typer.Option(
        None, help="Conv block widths, e.g. 32,64,128 (one 2x2 pooling each)."
    ),
    hidden: int | None = typer.Option(None, help="LSTM hidden size H."),
    embedding: int | None = typer.Option(None, help="Word embedding size E."),
    attention_dim: int | None = typer.Option(None, help="Attention scoring width A."),
    dropout: float | None = typer.Option(None, help="Dropout."),
    min_count: int | None = typer.Option(None, help="Rarer words become <UNK>."),
    label_smoothing: float | None = typer.Option(None, help="Label smoothing."),
    backbone: str | None = typer.Option(
        None,
        help="Encoder: resnet18 or resnet34 (torchvision's, weights from --backbone-weights) "
        f"instead of the small CNN; --image-size then defaults to {_BACKBONE_SIDE}.",
    ),
    backbone_weights: Path | None = typer.Option(
        None,
        help="The backbone's torchvision state dict: .safetensors, or .pth/.pt (read "
        "weights-only); never downloaded, and not needed again after training, nor to "
        "--resume (the checkpoint holds the weights).",
    ),
    freeze_backbone: bool | None = typer.Option(
        None,
        "--freeze-backbone/--no-freeze-backbone",
        help="Keep the backbone's weights and BatchNorm statistics as loaded (default), or "
        "train them too.",
        show_default=False,
    ),
    *,
    train_opts: TrainOptions,
) -> None:
    """Train on --dataset scenes, or on --images DIR --captions FILE (every 50th image held
    out for validation)."""
    from seqlab.data.scenes import read_image_folder
    from seqlab.tasks.captioner import CaptionCorpus, Captioner

    _check_backbone(backbone, backbone_weights, freeze_backbone, channels, train_opts.resume)
    if backbone is not None and image_size is None:
        image_size = _BACKBONE_SIDE
    if (dataset is not None) == (images is not None or captions is not None):
        raise fail("give --dataset scenes, or --images DIR with --captions FILE")
    if dataset is not None and dataset != "scenes":
        raise fail(f"unknown dataset {dataset!r}; built-in: scenes")
    if dataset is None and (images is None or captions is None):
        raise fail("give both --images DIR and --captions FILE")
    if train_size is not None and train_size < 1:
        raise fail(f"--train-size must be >= 1, got {train_size}")
    train_opts.apply_threads()
    preset = PRESETS["scenes" if dataset else "images"]
    widths = None if channels is None else _channels(channels)
    config = override(
        preset.config,
        {
            "batch_size": train_opts.batch_size,
            "min_count": min_count,
            "label_smoothing": label_smoothing,
            "model.image_size": image_size,
            "model.channels": widths,
            "model.hidden_size": hidden,
            "model.embedding_dim": embedding,
            "model.attention_dim": attention_dim,
            "model.dropout": dropout,
            "model.backbone": backbone,
            "model.freeze_backbone": freeze_backbone,
            "backbone_weights": None if backbone_weights is None else str(backbone_weights),
        },
    )
    train_config = train_opts.train_config(preset.train)
    side = config.model.image_size
    if dataset:
        size = train_size if train_size is not None else SCENES_TRAIN_SIZE
        corpus = CaptionCorpus.scenes(size, seed=train_config.seed, side=side)
    else:
        assert images is not None and captions is not None
        corpus = CaptionCorpus.from_data(read_image_folder(images, captions, side=side))

    def describe(task: Captioner) -> tuple[dict[str, Any], str]:
        facts = {"vocab_size": len(task.vocab), "train_images": len(corpus.train)}
        return facts, f"{len(corpus.train)} images, vocabulary {len(task.vocab)} words"

    train_and_report(Captioner, corpus, out, config, train_config, train_opts, describe)


def _check_backbone(
    name: str | None,
    weights: Path | None,
    freeze: bool | None,
    channels: str | None,
    resume: bool = False,
) -> None:
    """One line and exit 2 for backbone options that do not go together, and for a weights
    file that is missing or does not fit the backbone (before any data is built). A run
    resumed (``resume``) needs no weights file: its checkpoint, or the file its config
    records, has them (:meth:`seqlab.tasks.captioner.Captioner.train`)."""
    from seqlab.models.backbones import BACKBONES, build_backbone, load_backbone_weights

    if name is None:
        flag = "--freeze-backbone" if freeze else "--no-freeze-backbone"
        given = [f for f, v in (("--backbone-weights", weights), (flag, freeze)) if v is not None]
        if given:
            raise fail(f"{', '.join(given)} only with --backbone")
        return
    if name not in BACKBONES:
        raise fail(f"--backbone must be one of {', '.join(BACKBONES)}, got {name!r}")
    if channels is not None:
        raise fail("--channels sets the small CNN's blocks: drop it with --backbone")
    if weights is None and freeze is not False and not resume:
        raise fail(
            f"--backbone {name} needs its pretrained weights (--backbone-weights FILE), "
            "or --no-freeze-backbone to train it from scratch"
        )
    if weights is not None:
        load_backbone_weights(build_backbone(name), weights)


def _channels(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise fail(f"--channels must be comma-separated integers, got {text!r}") from None
    return widths


@app.command()
@user_errors(flags=_SEARCH_FLAGS)
def predict(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab caption train`."),
    images: list[Path] | None = typer.Argument(
        None, help="Image files (PNG, JPEG ...); default: their paths on stdin, one a line."
    ),
    beam: int = typer.Option(1, "--beam", "-k", help="Beam size K (1 = greedy search)."),
    alpha: float = typer.Option(0.7, help="Length normalisation: score = log P / Ty^alpha."),
    n_best: int = typer.Option(1, help="Candidates per image (<= --beam)."),
    sample: bool = typer.Option(False, "--sample", help="Draw each word instead of searching."),
    temperature: float = typer.Option(1.0, help="--sample: softmax temperature."),
    top_k: int | None = typer.Option(None, help="--sample: only the K most likely words."),
    top_p: float | None = typer.Option(None, help="--sample: nucleus of probability P."),
    seed: int | None = typer.Option(None, help="--sample: random seed (same seed, same output)."),
    heatmap: Path | None = typer.Option(
        None, help="Write, per image, where the decoder looked for each word: DIR/<image>.png."
    ),
    attention: Path | None = typer.Option(
        None, help="One image: write where the decoder looked for each word to this PNG."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Caption images, one line each: the image, a tab, its caption."""
    from seqlab.decoding import Sampling
    from seqlab.tasks.captioner import Captioner

    if heatmap is not None:
        output_folder(heatmap, "--heatmap")
    if sample and (beam != 1 or n_best != 1):
        raise fail("--sample draws one caption per image: drop --beam/--n-best")
    task = Captioner.load(model_dir)
    images = images or _stdin_paths()
    if attention is not None and len(images) != 1:
        raise fail(f"--attention draws one image, got {len(images)}: use --heatmap DIR")
    sampling = None
    if sample:
        gen = task.generator(seed)
        sampling = Sampling(temperature=temperature, top_k=top_k, top_p=top_p, generator=gen)
    results = task.caption(images, beam_size=beam, alpha=alpha, n_best=n_best, sampling=sampling)
    payload = [r.to_dict() for r in results]
    if heatmap is not None or attention is not None:
        from seqlab.viz.caption import plot_caption_attention

        for item, path, result in zip(payload, images, results, strict=True):
            amap = task.attention(path, result.candidates[0])
            png = attention if attention is not None else heatmap / f"{path.stem}.png"
            plot_caption_attention(amap.image, amap.words, amap.weights, png, title=amap.text)
            item["heatmap"] = str(png)
    if json_out:
        print_json(payload)
        return
    for item in payload:
        typer.echo(f"{item['image']}\t{item['caption']}")
        for i, c in enumerate(item["candidates"][1:], 2):
            typer.echo(f"  {i}. {c['text']}\tscore {c['score']:.4f}")
        if "heatmap" in item:
            typer.echo(f"attention: {item['heatmap']}", err=True)


def _stdin_paths() -> list[Path]:
    """Image paths from stdin, one a line (``ls *.png | seqlab caption predict MODEL``)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise fail("nothing to caption: give image files, or their paths on stdin")
    paths = [Path(line.strip()) for line in sys.stdin if line.strip()]
    if not paths:
        raise fail("stdin: nothing to caption (no image path)")
    return paths


def _test_data(images: Path | None, captions: Path | None, side: int) -> Any:
    if images is None and captions is None:
        return None
    if images is None or captions is None:
        raise fail("give both --images DIR and --captions FILE")
    from seqlab.data.scenes import read_image_folder

    return read_image_folder(images, captions, side=side)


_IMAGES_HELP = "Test images (default for a scenes model: the fixed held-out scenes)."
_CAPTIONS_HELP = "Their image<TAB>caption file."


@app.command()
@user_errors(flags=_SEARCH_FLAGS)
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    images: Path | None = typer.Option(None, help=_IMAGES_HELP),
    captions: Path | None = typer.Option(None, help=_CAPTIONS_HELP),
    beam: list[int] = typer.Option([1, 3], "--beam", "-k", help="Beam sizes (repeatable)."),
    alpha: float = typer.Option(0.7, help="Length normalisation exponent."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """BLEU-4 (all references), exact match and meaning accuracy per beam size."""
    from seqlab.tasks.captioner import Captioner

    task = Captioner.load(model_dir)
    data = _test_data(images, captions, task.config.model.image_size)
    result = task.evaluate(data, beam_sizes=beam, alpha=alpha)
    if json_out:
        print_json(result)
        return
    typer.echo(f"images {result['examples']}, references {result['references']}  (alpha {alpha:g})")
    for entry in result["results"]:
        name = "greedy" if entry["beam_size"] == 1 else f"beam {entry['beam_size']}"
        line = f"{name:<8} BLEU-4 {entry['bleu']:6.2f}   exact match {entry['exact_match']:.2%}"
        if "meaning_accuracy" in entry:
            line += f"   meaning {entry['meaning_accuracy']:.2%}"
        typer.echo(line)
    typer.echo(f"BLEU signature: {result['results'][0]['signature']}")
    for e in result["results"][0]["errors"][:5]:
        typer.echo(f"  {e['image']}: {e['output']!r}, expected {e['reference']!r}")


@app.command()
@user_errors(flags=_SEARCH_FLAGS)
def analyze(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    images: Path | None = typer.Option(None, help=_IMAGES_HELP),
    captions: Path | None = typer.Option(None, help=_CAPTIONS_HELP),
    beam: int = typer.Option(3, "--beam", "-k", help="Beam size K."),
    alpha: float = typer.Option(0.7, help="Length normalisation exponent."),
    max_rows: int = typer.Option(20, help="Rows shown in the table."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Beam-search error analysis (course week 3): is the search or the model at fault?"""
    from seqlab.decoding import format_table
    from seqlab.tasks.captioner import Captioner

    task = Captioner.load(model_dir)
    data = _test_data(images, captions, task.config.model.image_size)
    analysis = task.analyze(data, beam_size=beam, alpha=alpha)
    if not json_out:
        typer.echo(format_table(analysis, max_rows=max_rows, errors_only=True), nl=False)
        return
    counts = {v: analysis.count(v) for v in ("correct", "search", "model")}
    shares = {v: analysis.error_share(v) for v in ("search", "model")}
    print_json({"examples": len(analysis.rows), "beam_size": beam, "alpha": alpha,
                "counts": counts, "error_shares": shares})  # fmt: skip


@app.command()
@user_errors
def scenes(
    out: Path = typer.Argument(..., help="Folder to write PNGs and captions.tsv into."),
    n: int = typer.Option(20, "--n", help="How many scenes."),
    seed: int = typer.Option(0, help="Random seed (the same seed, the same scenes)."),
    split: str | None = typer.Option(None, help="Write a fixed split instead: valid or test."),
    size: int = typer.Option(32, help="Image side in pixels."),
) -> None:
    """Write generated scenes as a folder of images with a captions file (for predict and
    for training on --images/--captions)."""
    from seqlab.data.scenes import make_scenes, scene_split, scenes_data, write_image_folder

    if n < 1:
        raise fail(f"--n must be >= 1, got {n}")
    output_folder(out, "OUT")
    if split is not None:
        data = scene_split(split, n, side=size)  # type: ignore[arg-type]
    else:
        data = scenes_data(make_scenes(n, seed, side=size))
    typer.echo(str(write_image_folder(data, out)))
