"""Small building blocks shared by the model families."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    """Conv2d (same padding) - BatchNorm - ReLU."""
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def up_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """ConvTranspose2d (x2) - BatchNorm - ReLU."""
    conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PaddedNet(nn.Module):
    """Base: pads L to a multiple of the network's stride (reflect) and crops the output back."""

    stride = 1

    def pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x, (h, w)
