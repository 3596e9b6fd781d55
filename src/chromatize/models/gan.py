"""GAN of the original design: a 5-down/5-up U-Net generator and a 6-block discriminator.

Loss (pix2pix, Isola et al. 2017): adversarial + lambda * L1 on chroma, lambda = 100 by default.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import conv_bn_relu, up_bn_relu
from .registry import PaddedNet, register


@register("gan")
class GANGenerator(PaddedNet):
    """U-Net: 5 down blocks Conv2d-BN-ReLU (stride 2), 5 up blocks ConvTranspose2d-BN-ReLU, skips, tanh."""

    stride = 32

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        ch = [w, 2 * w, 4 * w, 8 * w, 8 * w]
        self.stem = conv_bn_relu(1, w)
        self.down = nn.ModuleList(conv_bn_relu(cin, cout, 2) for cin, cout in zip([w] + ch[:-1], ch))
        ups, cin = [], ch[-1]
        for skip in reversed([w] + ch[:-1]):
            ups.append(up_bn_relu(cin, skip))
            cin = 2 * skip
        self.up = nn.ModuleList(ups)
        self.out = nn.Sequential(nn.Conv2d(cin, 2, 3, 1, 1), nn.Tanh())

    def forward(self, l_n: torch.Tensor) -> torch.Tensor:
        x, (h, w) = self.pad(l_n)
        skips = [self.stem(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = skips.pop()
        for u in self.up:
            y = torch.cat([u(y), skips.pop()], 1)
        return self.out(y)[..., :h, :w]  # tanh range [-1, 1] is exactly the normalised chroma range


class Discriminator(nn.Module):
    """6 conv blocks (Conv2d-BN-LeakyReLU) + one fully connected layer + sigmoid, on (L, chroma).

    ``forward`` returns the logit; the sigmoid is applied inside the BCE-with-logits loss (same maths,
    numerically stable) and by ``prob``.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        chans = [(3, w, 2), (w, 2 * w, 1), (2 * w, 2 * w, 2), (2 * w, 4 * w, 1), (4 * w, 4 * w, 2), (4 * w, 8 * w, 2)]
        layers = []
        for i, (cin, cout, s) in enumerate(chans):
            layers += [nn.Conv2d(cin, cout, 3, s, 1, bias=i == 0)]
            if i:
                layers += [nn.BatchNorm2d(cout)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(8 * w * 16, 1)

    def forward(self, l_n: torch.Tensor, ab_n: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(torch.cat([l_n, ab_n], 1)).flatten(1))

    def prob(self, l_n: torch.Tensor, ab_n: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(l_n, ab_n))


class PatchDiscriminator(nn.Module):
    """PatchGAN option (70x70-style, 3 stride-2 blocks): one logit per image patch."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, 1, 3, 1, 1))

    def forward(self, l_n: torch.Tensor, ab_n: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([l_n, ab_n], 1))


def make_discriminator(kind: str = "global", width: int = 32) -> nn.Module:
    """``global`` (the design's FC + sigmoid) or ``patch`` (PatchGAN)."""
    return PatchDiscriminator(width) if kind == "patch" else Discriminator(width)
