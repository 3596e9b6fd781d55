"""Small building blocks shared by the model families."""

from __future__ import annotations

import torch
from torch import nn

from .base import pad_to


def conv_bn_relu(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    """Conv2d (same padding) - BatchNorm - ReLU."""
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def up_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """ConvTranspose2d (x2) - BatchNorm - ReLU."""
    conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PaddedNet(nn.Module):
    """Base: ``raw`` runs on L padded to a multiple of ``stride``; ``forward`` pads and crops back."""

    stride = 1

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, l_n: torch.Tensor) -> torch.Tensor:
        h, w = l_n.shape[-2:]
        return self.raw(pad_to(l_n, self.stride))[..., :h, :w]
