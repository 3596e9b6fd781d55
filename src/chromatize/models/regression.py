"""Regression baseline: a plain convolutional encoder-decoder that predicts chroma directly."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import Family, Option, chroma_out
from .blocks import PaddedNet, conv_bn_relu

PIXEL_LOSSES = {"l2": F.mse_loss, "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss}


class RegressionNet(PaddedNet):
    """L -> chroma; three stride-2 stages down, two bilinear upsampling stages up, no skips.

    Chroma is predicted at half resolution and upsampled bilinearly: chroma is smooth, and full-size
    convolutions at the end cost half the network's compute on a CPU.
    """

    stride = 8

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            conv_bn_relu(1, w),
            conv_bn_relu(w, 2 * w, 2),
            conv_bn_relu(2 * w, 2 * w),
            conv_bn_relu(2 * w, 4 * w, 2),
            conv_bn_relu(4 * w, 4 * w),
            conv_bn_relu(4 * w, 8 * w, 2),
            conv_bn_relu(8 * w, 8 * w),
            conv_bn_relu(8 * w, 8 * w),
        )
        up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.decoder = nn.Sequential(
            up, conv_bn_relu(8 * w, 4 * w), up, conv_bn_relu(4 * w, 2 * w), nn.Conv2d(2 * w, 2, 3, 1, 1), up
        )

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class RegressionFamily(Family):
    name = "regression"
    summary = "CNN regressing chroma directly (the baseline)"
    options = {"width": Option(32, "base channel width", low=4, high=512)}
    train_options = {"loss": Option("l2", "pixel loss on chroma", choices=tuple(PIXEL_LOSSES))}

    def build(self, options: dict[str, Any]) -> nn.Module:
        return RegressionNet(**self.check_options(options))

    def training_step(self, net, batch, opts, aux=None):
        inp, ab_n = batch
        return {"loss": PIXEL_LOSSES[opts["loss"]](chroma_out(net, inp).float(), ab_n)}
