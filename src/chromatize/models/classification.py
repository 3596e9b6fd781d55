"""Classification U-Net: each pixel gets one of K palette colours (k-means over training chroma).

Decoding uses the annealed mean of Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016):
    p_T = softmax(log p / T),   chroma = sum_k p_T(k) * palette[k]
T -> 0 gives the mode (vivid, can be patchy), T = 1 the mean (safe, desaturated); they use T = 0.38.
The head predicts at 1/``head_stride`` of the input and is upsampled, as in that paper.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import DistributionPrediction, Family, Option, head_to_input, pad_to
from .blocks import PaddedNet, conv_bn_relu, up_bn_relu
from .palette import chroma_pixels, draw_palette, fit_palette, quantize, rebalance_weights


class ClassificationUNet(PaddedNet):
    """U-Net (strided convs down, transposed convs up, skips) with a K-way colour head."""

    stride = 8

    def __init__(self, k: int = 24, width: int = 32, head_stride: int = 2):
        super().__init__()
        w, self.k, self.head_stride = width, k, head_stride
        self.inc = conv_bn_relu(1, w)  # one cheap full-size conv; the heavy ones run at 1/2 and below
        self.d1 = nn.Sequential(conv_bn_relu(w, 2 * w, 2), conv_bn_relu(2 * w, 2 * w))
        self.d2 = nn.Sequential(conv_bn_relu(2 * w, 4 * w, 2), conv_bn_relu(4 * w, 4 * w))
        self.d3 = nn.Sequential(conv_bn_relu(4 * w, 8 * w, 2), conv_bn_relu(8 * w, 8 * w), conv_bn_relu(8 * w, 8 * w))
        self.u3, self.c3 = up_bn_relu(8 * w, 4 * w), conv_bn_relu(8 * w, 4 * w)
        self.u2, self.c2 = up_bn_relu(4 * w, 2 * w), conv_bn_relu(4 * w, 2 * w)
        if head_stride == 1:
            self.u1, self.c1 = up_bn_relu(2 * w, w), conv_bn_relu(2 * w, w)
        head_in = {1: w, 2: 2 * w, 4: 4 * w}[head_stride]
        self.head = nn.Conv2d(head_in, k, 1)
        self.register_buffer("palette", torch.zeros(k, 2))
        self.register_buffer("prior", torch.full((k,), 1.0 / k))

    def set_palette(self, palette: np.ndarray | torch.Tensor, prior: np.ndarray | torch.Tensor) -> None:
        """Install the k-means palette ``[K,2]`` (normalised chroma) and its pixel frequencies ``[K]``."""
        self.palette.copy_(torch.as_tensor(palette, dtype=torch.float32))
        self.prior.copy_(torch.as_tensor(prior, dtype=torch.float32))

    def logits(self, l_n: torch.Tensor) -> torch.Tensor:
        """Class scores ``[B,K,H/s,W/s]`` at the head's resolution (input padded to a multiple of 8)."""
        x0 = self.inc(pad_to(l_n, self.stride))
        x1 = self.d1(x0)
        x2 = self.d2(x1)
        x3 = self.d3(x2)
        y = self.c3(torch.cat([self.u3(x3), x2], 1))
        if self.head_stride == 4:
            return self.head(y)
        y = self.c2(torch.cat([self.u2(y), x1], 1))
        if self.head_stride == 2:
            return self.head(y)
        return self.head(self.c1(torch.cat([self.u1(y), x0], 1)))

    def adjusted(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-probabilities over the palette."""
        return torch.log_softmax(logits.float(), 1)

    def decode(self, logp: torch.Tensor, temperature: float) -> torch.Tensor:
        """Annealed-mean chroma ``[B,2,h,w]`` from log-probabilities (or logits) at any resolution."""
        t = temperature
        if t <= 1e-3:
            idx = logp.argmax(1)
            return self.palette[idx].permute(0, 3, 1, 2)
        p = torch.softmax(logp / t, dim=1)
        return torch.einsum("bkhw,kc->bchw", p, self.palette)

    @property
    def chroma_classes(self) -> torch.Tensor:
        """Chroma ``[K,2]`` (normalised) of the classes the head scores."""
        return self.palette

    def to_full(self, t: torch.Tensor, l_n: torch.Tensor) -> torch.Tensor:
        """Upsample a head-resolution map to the input's size (cropping the padding)."""
        return head_to_input(t, l_n, self.head_stride)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The raw output (class scores); chroma comes from the family's decoding with a card's values."""
        return self.logits(x)


class ClassificationFamily(Family):
    name = "classification"
    summary = "U-Net labelling each pixel with one of K k-means colours (the original design)"
    options = {
        "k": Option(24, "palette size", low=2, high=1024),
        "width": Option(32, "base channel width", low=4, high=512),
        "head_stride": Option(2, "resolution of the class head", choices=(1, 2, 4)),
    }
    train_options = {
        "class_weights": Option(True, "class re-balancing of the cross-entropy (Zhang et al. 2016)"),
        "palette_images": Option(2000, "training images sampled for the k-means palette", low=1),
    }
    decoding = {"temperature": Option(0.38, "annealed-mean temperature: 0 = mode (vivid), 1 = mean", low=0.0, high=1.0)}
    offers = frozenset({"confidence", "alternatives", "distribution"})

    def build(self, options: dict[str, Any]) -> nn.Module:
        return ClassificationUNet(**self.check_options(options))

    def from_raw(self, net, raw, l_n):
        return DistributionPrediction(net, raw, l_n)

    def init_training(self, net, train_images, space, opts, run) -> None:
        rgb = train_images(opts["palette_images"])
        pal, prior = fit_palette(chroma_pixels(rgb, space), k=min(net.k, rgb.shape[0] * rgb.shape[-1] ** 2))
        net.set_palette(pal, prior)
        if run is not None:
            draw_palette(pal, prior, space).save(run / "palette.png")

    def class_weights(self, net, opts) -> torch.Tensor:
        return rebalance_weights(net.prior) if opts["class_weights"] else torch.ones_like(net.prior)

    def training_step(self, net, batch, opts, aux=None):
        inp, ab_n = batch
        logits = net.raw(inp.tensor(net.stride))
        s = net.head_stride
        ab_n = pad_to(ab_n, net.stride)
        target = quantize(F.avg_pool2d(ab_n, s) if s > 1 else ab_n, net.palette)
        weights = self.class_weights(net, opts).to(logits.device)
        return {"loss": F.cross_entropy(logits.float(), target, weight=weights)}

    def validation_logs(self, net, inp, ab_n):
        logits = net.to_full(net.raw(inp.tensor(net.stride)).float(), inp.l_n)
        return {"val_pixel_acc": (logits.argmax(1) == quantize(ab_n, net.palette)).float().mean()}
