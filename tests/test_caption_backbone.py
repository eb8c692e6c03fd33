"""The captioner's pretrained backbone: seqlab's ResNet against torchvision's, weights read
from disk (safetensors, weights-only .pth) with one-line errors, freezing, and the CLI."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from seqlab._io import DataError
from seqlab.cli import main
from seqlab.models.backbones import ResNet, imagenet_normalize, load_backbone_weights
from seqlab.models.captioner import CaptionModel, CaptionModelConfig
from seqlab.tasks.captioner import Captioner


def _torchvision() -> Any:
    """torchvision, the reference. The PyPI wheel is built against CUDA torch: its C
    operators (nms, roi_align ...) cannot register with the CPU torch, and only the module
    that adds their meta kernels touches them at import; the models need none of them, so
    that module is replaced by an empty one before the import."""
    if "torchvision" not in sys.modules:
        name = "torchvision._meta_registrations"
        sys.modules.setdefault(name, types.ModuleType(name))
    return pytest.importorskip("torchvision")


def _randomise(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Non-trivial BatchNorm weights and running statistics (a fresh ResNet's are 1 and 0),
    convolutions as initialised: outputs stay of order 1 through every block."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        if not value.is_floating_point() or value.dim() != 1 or key.startswith("fc."):
            out[key] = value.clone()
        elif key.endswith("running_var") or key.endswith(".weight"):
            out[key] = 0.5 + torch.rand(value.shape, generator=g)  # (C,) in [0.5, 1.5)
        else:  # bias, running_mean
            out[key] = 0.2 * torch.randn(value.shape, generator=g)  # (C,)
    return out


def _weights(name: str = "resnet18", seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-like state dict of random weights, the classifier ``fc`` included."""
    torch.manual_seed(seed)
    state = _randomise(ResNet(name).state_dict(), seed)
    state["fc.weight"] = torch.randn(1000, 512) * 0.01
    state["fc.bias"] = torch.zeros(1000)
    return state


# -- the reference: torchvision ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_resnet_equals_torchvision_names_shapes_and_outputs(name: str) -> None:
    torch.set_num_threads(1)
    tv = _torchvision()
    torch.manual_seed(0)
    reference = getattr(tv.models, name)(weights=None)
    state = _randomise(reference.state_dict(), 1)
    reference.load_state_dict(state)
    reference.eval()
    ours = ResNet(name).eval()
    wanted = {k: tuple(v.shape) for k, v in state.items() if not k.startswith("fc.")}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == wanted
    ours.load_state_dict({k: v for k, v in state.items() if k in wanted})
    trunk = torch.nn.Sequential(*list(reference.children())[:-2])  # up to layer4
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(2))  # (B, 3, H, W)
    with torch.no_grad():
        expected = trunk(x)  # (2, 512, 2, 3)
        got = ours(x)
    assert got.shape == (2, 512, 2, 3)
    assert expected.abs().mean() > 0.1  # the comparison is not between zeros
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_imagenet_normalisation_is_torchvisions() -> None:
    tv = _torchvision()
    preset = tv.models.ResNet18_Weights.IMAGENET1K_V1.transforms()  # what its weights expect
    x = torch.rand(2, 3, 8, 8)
    expected = tv.transforms.functional.normalize(x, preset.mean, preset.std)
    torch.testing.assert_close(imagenet_normalize(x), expected)


# -- reading weights from disk ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".pt"])
def test_weights_load_from_safetensors_and_weights_only_torch_files(
    tmp_path: Path, suffix: str
) -> None:
    state = _weights()
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(state, path)
    else:
        torch.save({"model": state, "epoch": 3} if suffix == ".pt" else state, path)
    backbone = ResNet("resnet18")
    load_backbone_weights(backbone, path)
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


class _Payload:
    """Not a tensor: a weights-only load refuses to build it."""


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_file", "no such weights file"),
        ("suffix", "unknown weights format '.bin'"),
        ("corrupt", "not a readable safetensors file"),
        ("pickle", "not a weights-only torch file"),
        ("not_a_dict", "not a state dict"),
        ("missing_key", "missing layer4.1.bn2.running_var —"),
        ("unexpected_key", "unexpected layer4.0.extra.weight —"),
        # resnet34 has 8 more basic blocks of 12 tensors each (2 convs, 2 BN x 5)
        ("other_backbone", "unexpected layer1.2.conv1.weight (and 95 more) — the file holds "),
        ("shape", "conv1.weight has shape (64, 3, 3, 3), resnet18 expects (64, 3, 7, 7)"),
    ],
)
def test_bad_weights_are_one_line_errors_naming_the_file(
    tmp_path: Path, case: str, message: str
) -> None:
    state = _weights()
    path = tmp_path / ("w.bin" if case == "suffix" else "w.pth")
    if case == "corrupt":
        path = tmp_path / "w.safetensors"
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    elif case == "pickle":
        torch.save({"conv1.weight": state["conv1.weight"], "x": _Payload()}, path)
    elif case == "not_a_dict":
        torch.save([state["conv1.weight"]], path)
    elif case != "missing_file":
        if case == "missing_key":
            del state["layer4.1.bn2.running_var"]
        elif case == "unexpected_key":
            state["layer4.0.extra.weight"] = torch.zeros(1)
        elif case == "other_backbone":
            state = _weights("resnet34")
        elif case == "shape":
            state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
        torch.save(state, path)
    with pytest.raises(DataError) as err:
        load_backbone_weights(ResNet("resnet18"), path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    if case == "other_backbone":
        assert text.endswith("use --backbone resnet34")


# -- the captioning network with a backbone ---------------------------------------------------


def _model(freeze: bool) -> CaptionModel:
    torch.manual_seed(0)
    config = CaptionModelConfig(
        vocab_size=9, image_size=64, embedding_dim=4, hidden_size=8, attention_dim=4,
        backbone="resnet18", freeze_backbone=freeze,
    )  # fmt: skip
    model = CaptionModel(config)
    model.backbone.load_state_dict({k: v for k, v in _weights().items() if k[:3] != "fc."})
    return model


def test_regions_are_the_projected_feature_map_cells_of_normalised_images() -> None:
    tv = _torchvision()
    model = _model(freeze=True).eval()
    assert model.config.grid == 2 and model.config.feature_dim == 8
    images = torch.rand(3, 3, 64, 64)
    reference = tv.models.resnet18(weights=None)
    reference.load_state_dict(_weights())
    trunk = torch.nn.Sequential(*list(reference.eval().children())[:-2])
    preset = tv.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    with torch.no_grad():
        grid = trunk(tv.transforms.functional.normalize(images, preset.mean, preset.std))
        cells = grid.flatten(2).transpose(1, 2)  # (3, 4, 512), row-major
        expected = cells @ model.project.weight.T + model.project.bias + model.position
        torch.testing.assert_close(model.encode(images), expected, atol=1e-5, rtol=1e-5)


def test_a_frozen_backbone_gets_no_gradient_and_keeps_its_batchnorm_statistics() -> None:
    model = _model(freeze=True).train()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    assert not model.backbone.training and model.project.training
    images, tokens = torch.rand(4, 3, 64, 64), torch.randint(1, 9, (4, 5))
    model.loss(images, tokens, tokens).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.project.weight.grad is not None and model.project.weight.grad.abs().sum() > 0
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats included
    model.train(False)
    assert not model.training and not model.backbone.training


def test_a_trained_backbone_learns_and_updates_its_statistics() -> None:
    model = _model(freeze=False).train()
    before = model.backbone.bn1.running_mean.clone()
    assert model.backbone.training
    images, tokens = torch.rand(4, 3, 64, 64), torch.randint(1, 9, (4, 5))
    model.loss(images, tokens, tokens).backward()
    assert model.backbone.conv1.weight.grad is not None
    assert not torch.equal(model.backbone.bn1.running_mean, before)


def test_backbone_config_checks_and_round_trip() -> None:
    with pytest.raises(ValueError, match="image_size 48 must be a multiple of 32"):
        CaptionModelConfig(vocab_size=5, image_size=48, backbone="resnet18")
    with pytest.raises(ValueError, match="unknown backbone 'vgg16'; known: resnet18, resnet34"):
        CaptionModelConfig(vocab_size=5, image_size=64, backbone="vgg16")
    config = CaptionModelConfig(vocab_size=5, image_size=224, backbone="resnet34")
    assert config.grid == 7
    assert CaptionModelConfig.from_dict(config.to_dict()) == config
    old = CaptionModelConfig(vocab_size=5).to_dict()  # a config.json from before backbones
    del old["backbone"], old["freeze_backbone"]
    assert CaptionModelConfig.from_dict(old).backbone is None


# -- the command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("scenes") / "imgs"
    assert main(["caption", "scenes", str(out), "--n", "10", "--size", "64"]) == 0
    return out, out / "captions.tsv"


def _train_args(folder: tuple[Path, Path], out: Path) -> list[str]:
    images, captions = folder
    args = ["caption", "train", "--images", str(images), "--captions", str(captions)]
    args += ["--image-size", "64", "--hidden", "16", "--embedding", "8", "--attention-dim", "8"]
    return [*args, "--steps", "2", "--no-progress", "--threads", "1", "--out", str(out)]


def test_cli_trains_with_frozen_safetensors_weights_and_predicts_without_them(
    tmp_path: Path, folder: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "resnet18.safetensors"
    state = _weights()
    save_file(state, weights)
    out = tmp_path / "m"
    args = [*_train_args(folder, out), "--backbone", "resnet18", "--backbone-weights"]
    assert main([*args, str(weights), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["backbone"] == "resnet18" and saved["model"]["freeze_backbone"]
    assert saved["backbone_weights"] == str(weights)
    trained = load_file(out / "model.safetensors")
    for key, value in state.items():  # frozen: weights and BatchNorm statistics as loaded
        if not key.startswith("fc."):
            assert torch.equal(trained[f"backbone.{key}"], value), key
    weights.unlink()  # the model directory holds everything
    image = str(folder[0] / "scene-0.png")
    assert main(["caption", "predict", str(out), image, "--json", "-k", "2"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["image"] == image
    ev = ["caption", "evaluate", str(out), "--images", str(folder[0]), "--captions"]
    assert main([*ev, str(folder[1]), "--json", "-k", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 10
    assert Captioner.load(out).model.backbone.training is False


def test_cli_resumes_a_frozen_backbone_run_from_what_its_folder_holds(
    tmp_path: Path,
    folder: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    weights = tmp_path / "resnet18.safetensors"
    state = _weights()
    save_file(state, weights)
    out = tmp_path / "m"
    args = [*_train_args(folder, out), "--backbone", "resnet18"]
    assert main([*args, "--backbone-weights", str(weights)]) == 0
    capsys.readouterr()
    longer = [*args, "--steps", "4", "--resume", "--json"]  # the last --steps wins

    def backbone_as_loaded() -> bool:
        trained = load_file(out / "model.safetensors")
        return all(
            torch.equal(trained[f"backbone.{key}"], value)
            for key, value in state.items()
            if not key.startswith("fc.")
        )

    weights.unlink()  # the checkpoint holds every weight: no file, no --backbone-weights
    assert main(longer) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["steps"] == 4
    assert "resuming with a changed config: max_steps" in caplog.text  # from the checkpoint
    assert json.loads((out / "config.json").read_text())["backbone_weights"] == str(weights)
    assert backbone_as_loaded()
    # a run stopped before its first checkpoint starts over from the file its config records
    shutil.rmtree(out / "checkpoint")
    save_file(state, weights)
    caplog.clear()
    assert main(longer) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["steps"] == 4
    assert "resuming" not in caplog.text  # from step 0
    assert backbone_as_loaded()
    # ... which must then be there: a one-line error naming it
    shutil.rmtree(out / "checkpoint")
    weights.unlink()
    assert main(longer) == 2
    err = capsys.readouterr().err.strip()
    assert "no such weights file" in err and str(weights) in err and len(err.splitlines()) == 1


def test_cli_trains_the_backbone_from_a_pth_file_with_no_freeze(
    tmp_path: Path, folder: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "resnet18.pth"
    state = _weights(seed=3)
    torch.save(state, weights)
    out = tmp_path / "m"
    args = [*_train_args(folder, out), "--backbone", "resnet18", "--no-freeze-backbone"]
    assert main([*args, "--backbone-weights", str(weights)]) == 0
    capsys.readouterr()
    trained = load_file(out / "model.safetensors")
    assert not torch.equal(trained["backbone.conv1.weight"], state["conv1.weight"])
    assert not torch.equal(trained["backbone.bn1.running_mean"], state["bn1.running_mean"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backbone-weights", "{missing}"], "--backbone-weights only with --backbone"),
        (["--backbone", "vgg16"], "--backbone must be one of resnet18, resnet34, got 'vgg16'"),
        (["--backbone", "resnet18"], "needs its pretrained weights (--backbone-weights FILE)"),
        (["--backbone", "resnet18", "--channels", "8,8"], "drop it with --backbone"),
        (["--backbone", "resnet18", "--backbone-weights", "{missing}"], "no such weights file"),
        (["--backbone", "resnet34", "--backbone-weights", "{r18}"], "use --backbone resnet18"),
        (["--backbone", "resnet18", "--image-size", "48", "--backbone-weights", "{r18}"],
         "--image-size 48 must be a multiple of 32"),
    ],
)  # fmt: skip
def test_cli_backbone_errors_are_one_line(
    tmp_path: Path,
    folder: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    r18 = tmp_path / "r18.safetensors"
    save_file(_weights(), r18)
    paths = {"{missing}": str(tmp_path / "none.pth"), "{r18}": str(r18)}
    extra = [paths.get(e, e) for e in extra]
    assert main([*_train_args(folder, tmp_path / "m"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not (tmp_path / "m" / "config.json").exists()
