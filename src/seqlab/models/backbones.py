"""Pretrained image backbones: ResNet-18/34 trunks whose weights are torchvision's.

:class:`ResNet` is the convolutional part of torchvision's ``resnet18()`` / ``resnet34()``
(He et al. 2016, "Deep Residual Learning"): the same layers under the same parameter and
buffer names (``conv1``, ``bn1``, ``layer1.0.conv1`` … ``layer4.1.bn2``), without the
average pooling and the classifier ``fc``. A state dict saved from torchvision on a machine
that has it therefore loads here unchanged, and seqlab needs no torchvision::

    stem:    x → conv 7×7 stride 2 → BN → ReLU → max-pool 3×3 stride 2          (H/4)
    stages:  layer1 … layer4 of basic blocks, widths 64, 128, 256, 512, the first block of
             layer2 … layer4 with stride 2                                        (H/32)
    block:   y = ReLU(BN(conv3×3(ReLU(BN(conv3×3(x))))) + shortcut(x)),
             shortcut = x, or BN(conv1×1 stride 2 (x)) where the width or size changes

The output is the last feature map (B, 512, H/32, W/32): each of its cells is a region an
image captioner attends over (:mod:`seqlab.models.captioner`). Inputs are normalised with
ImageNet's mean and standard deviation (:func:`imagenet_normalize`), as torchvision's
weights expect.

Weights come only from a file on disk (:func:`load_backbone_weights`): a ``.safetensors``
file, or a torch ``.pth``/``.pt`` file read with ``torch.load(weights_only=True)`` (no code in
the file runs). Nothing is downloaded.

Tested in ``tests/test_caption_backbone.py``: with torchvision's own ``resnet18`` /
``resnet34`` as the reference, the state-dict names and shapes are the same and the outputs
agree to 1e-5 once its weights are loaded here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab._io import DataError

__all__ = [
    "BACKBONES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ResNet",
    "build_backbone",
    "imagenet_normalize",
    "load_backbone_weights",
    "read_state_dict",
]

# name -> basic blocks per stage (torchvision's resnet18 and resnet34)
BACKBONES: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per RGB channel, of pixels in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
_WIDTHS = (64, 128, 256, 512)  # each stage's channels
_SUFFIXES = (".safetensors", ".pth", ".pt")
_SAVE_HINT = (
    "save one on a machine with torchvision: torch.save(torchvision.models.{name}"
    '(weights="DEFAULT").state_dict(), "{name}.pth")'
)


def imagenet_normalize(images: Tensor) -> Tensor:
    """``(x - mean) / std`` per channel with ImageNet's statistics.

    Shape:
        images: (B, 3, H, W) in [0, 1] -> (B, 3, H, W)
    """
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)  # (1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)  # (1, 3, 1, 1)
    return (images - mean) / std  # (B, 3, H, W)


class BasicBlock(nn.Module):
    """``ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x))`` (torchvision's names)."""

    def __init__(self, width_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width_in, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or width_in != width:
            self.downsample = nn.Sequential(
                nn.Conv2d(width_in, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: Tensor) -> Tensor:
        """Shape: x (B, C_in, H, W) -> (B, C, H / stride, W / stride)"""
        out = F.relu(self.bn1(self.conv1(x)))  # (B, C, H', W')
        out = self.bn2(self.conv2(out))  # (B, C, H', W')
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, C, H', W')
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    """torchvision's ``resnet18``/``resnet34`` up to ``layer4`` (module docstring).

    ``out_channels`` (512) is the width of a region, ``reduction`` (32) how many pixels a
    cell of the output spans per side. Initialised as torchvision does (He-normal
    convolutions, BatchNorm weight 1, bias 0); meant to be loaded with
    :func:`load_backbone_weights`.
    """

    out_channels = _WIDTHS[-1]
    reduction = 32

    def __init__(self, name: str = "resnet18") -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
        self.name = name
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        width = 64
        for i, (blocks, out) in enumerate(zip(BACKBONES[name], _WIDTHS, strict=True), 1):
            stride = 1 if i == 1 else 2
            stage = [BasicBlock(width, out, stride)]
            stage += [BasicBlock(out, out, 1) for _ in range(blocks - 1)]
            self.add_module(f"layer{i}", nn.Sequential(*stage))
            width = out
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """The last feature map of ImageNet-normalised images.

        Shape:
            x: (B, 3, H, W) -> (B, 512, ⌈H/32⌉, ⌈W/32⌉)
        """
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)  # (B, 64·2^(i-1), H/2^(i+1), W/2^(i+1))
        return x  # (B, 512, H/32, W/32)


def build_backbone(name: str) -> ResNet:
    """A freshly initialised backbone by name (``"resnet18"`` or ``"resnet34"``)."""
    return ResNet(name)


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a ``.safetensors`` file, or of a torch ``.pth``/``.pt`` file read with
    ``weights_only=True`` (a plain state dict, or one under a ``"model"`` or ``"state_dict"``
    key, as training scripts save it).

    Raises a one-line :class:`~seqlab._io.DataError` naming the file when it is missing, of
    another kind, damaged or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such weights file", hint="give the path of a saved state dict")
    if path.suffix not in _SUFFIXES:
        raise DataError(
            path,
            f"unknown weights format {path.suffix or '(no suffix)'!r}",
            hint="give a .safetensors, .pth or .pt file",
        )
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except SafetensorError as exc:
            raise DataError(
                path, f"not a readable safetensors file ({_first_line(exc)})", hint=_REDO
            ) from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (pickle, zip, EOF) for a bad file
        raise DataError(
            path, f"not a weights-only torch file ({_first_line(exc)})", hint=_REDO
        ) from None
    return _state_dict_in(path, loaded)


_REDO = "save the state dict again (torch.save or safetensors.torch.save_file)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _state_dict_in(path: Path, loaded: object) -> dict[str, Tensor]:
    """``loaded`` itself, or its ``"model"``/``"state_dict"`` entry, as name -> tensor."""
    if isinstance(loaded, Mapping) and not any(isinstance(v, Tensor) for v in loaded.values()):
        for key in ("state_dict", "model"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in loaded.items()
    ):
        raise DataError(path, "not a state dict (a dict of parameter names to tensors)", hint=_REDO)
    return dict(loaded)


def _expected(name: str) -> dict[str, tuple[int, ...]]:
    """The state dict's names and shapes of backbone ``name`` (built without memory)."""
    with torch.device("meta"):
        model = ResNet(name)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _some(names: list[str]) -> str:
    return names[0] + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")


def load_backbone_weights(backbone: ResNet, path: str | Path) -> None:
    """Load torchvision weights saved at ``path`` into ``backbone`` (in place).

    The classifier's ``fc.*`` tensors a torchvision state dict holds are ignored; every other
    name must match. Raises a one-line :class:`~seqlab._io.DataError` naming the file and the
    first missing or unexpected tensor, or the first of the wrong shape (with a hint when the
    file holds the other known backbone).
    """
    path = Path(path)
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("fc.")}
    wanted = {k: tuple(v.shape) for k, v in backbone.state_dict().items()}
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted]
    if missing or unexpected:
        other = [n for n in BACKBONES if n != backbone.name and set(_expected(n)) == set(state)]
        hint = (
            f"the file holds {other[0]} weights: use --backbone {other[0]}"
            if other
            else _SAVE_HINT.format(name=backbone.name)
        )
        problem = f"missing {_some(missing)}" if missing else f"unexpected {_some(unexpected)}"
        raise DataError(path, f"not a torchvision {backbone.name} state dict: {problem}", hint=hint)
    for key, shape in wanted.items():
        if tuple(state[key].shape) != shape:
            raise DataError(
                path,
                f"{key} has shape {tuple(state[key].shape)}, {backbone.name} expects {shape}",
                hint=_SAVE_HINT.format(name=backbone.name),
            )
    backbone.load_state_dict(state)
