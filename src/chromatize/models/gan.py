"""GAN of the original design: a 5-down/5-up U-Net generator and a 6-block discriminator.

Loss (pix2pix, Isola et al. 2017): adversarial + lambda * L1 on chroma, lambda = 100 by default.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import Family, Option, chroma_out
from .blocks import PaddedNet, conv_bn_relu, up_bn_relu


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

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = skips.pop()
        for u in self.up:
            y = torch.cat([u(y), skips.pop()], 1)
        return self.out(y)  # tanh range [-1, 1] is exactly the normalised chroma range


class Discriminator(nn.Module):
    """6 conv blocks (Conv2d-BN-LeakyReLU) + one fully connected layer + sigmoid, on (L, chroma).

    ``forward`` returns the logit; the sigmoid is applied inside the BCE-with-logits loss (same maths,
    numerically stable).
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


class PatchDiscriminator(nn.Module):
    """PatchGAN option (70x70-style, 3 stride-2 blocks): one logit per image patch."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(4 * w),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, 1, 3, 1, 1),
        )

    def forward(self, l_n: torch.Tensor, ab_n: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([l_n, ab_n], 1))


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """BCE of the discriminator's logits: real -> 1, fake -> 0, averaged."""
    return 0.5 * (
        F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
        + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    )


def adversarial_loss(d_gen: torch.Tensor) -> torch.Tensor:
    """The generator's BCE: its output judged as real."""
    return F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))


def make_discriminator(kind: str = "global", width: int = 32) -> nn.Module:
    """``global`` (the design's FC + sigmoid) or ``patch`` (PatchGAN)."""
    return PatchDiscriminator(width) if kind == "patch" else Discriminator(width)


class GANFamily(Family):
    name = "gan"
    summary = "pix2pix-style GAN: 5-down/5-up U-Net generator, 6-block discriminator (the original design)"
    options = {"width": Option(32, "base channel width of the generator", low=4, high=512)}
    train_options = {
        "l1_lambda": Option(100.0, "weight of L1 in the generator loss", low=0.0),
        "disc": Option("global", "discriminator: global (FC + sigmoid) or patch", choices=("global", "patch")),
        "disc_width": Option(32, "discriminator base width", low=4, high=512),
    }
    manual_optimization = True

    def build(self, options: dict[str, Any]) -> nn.Module:
        return GANGenerator(**self.check_options(options))

    def extra_modules(self, opts):
        return {"disc": make_discriminator(opts["disc"], opts["disc_width"])}

    def configure_optimizers(self, module):
        lr = module.train_opts["lr"]
        g = torch.optim.Adam(module.net.parameters(), lr=lr, betas=(0.5, 0.999))
        d = torch.optim.Adam(module.disc.parameters(), lr=lr, betas=(0.5, 0.999))
        return [g, d]

    def training_step(self, net, batch, opts, aux=None):
        """pix2pix: discriminator BCE on (real, fake), then generator BCE(D(fake), real) + lambda * L1.
        ``aux`` (the Lightning module) holds the discriminator, both optimisers and the backward."""
        module = aux
        inp, ab_n = batch
        l_n = inp.l_n
        opt_g, opt_d = module.optimizers()
        fake = chroma_out(net, inp)
        d_real, d_fake = module.disc(l_n, ab_n), module.disc(l_n, fake.detach())
        loss_d = discriminator_loss(d_real, d_fake)
        opt_d.zero_grad()
        module.manual_backward(loss_d)
        opt_d.step()
        d_gen = module.disc(l_n, fake)
        adv = adversarial_loss(d_gen)
        l1 = F.l1_loss(fake, ab_n)
        loss_g = adv + opts["l1_lambda"] * l1
        opt_g.zero_grad()
        module.manual_backward(loss_g)
        opt_g.step()
        return {"loss": loss_g, "g_adv": adv, "g_l1": l1, "d_loss": loss_d}

    def curve_keys(self):
        return ["g_l1_step", "g_adv_step", "d_loss_step"]
