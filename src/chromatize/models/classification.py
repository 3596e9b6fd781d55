"""Classification U-Net: each pixel gets one of K palette colours (k-means over training chroma).

Decoding uses the annealed mean of Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016):
    p_T = softmax(log p / T),   chroma = sum_k p_T(k) * palette[k]
T -> 0 gives the mode (vivid, can be patchy), T = 1 the mean (safe, desaturated); they use T = 0.38.
The head predicts at 1/``head_stride`` of the input and is upsampled, as in that paper.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .blocks import conv_bn_relu, up_bn_relu
from .registry import PaddedNet, register


@register("classification")
class ClassificationUNet(PaddedNet):
    """U-Net (strided convs down, transposed convs up, skips) with a K-way colour head."""

    stride = 8

    def __init__(self, k: int = 24, width: int = 32, head_stride: int = 2, temperature: float = 0.38):
        super().__init__()
        if head_stride not in (1, 2, 4):
            raise TypeError("head_stride must be 1, 2 or 4")
        w, self.k, self.head_stride, self.temperature = width, k, head_stride, temperature
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
        x, _ = self.pad(l_n)
        x0 = self.inc(x)
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

    def decode(self, logits: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """Annealed-mean chroma ``[B,2,h,w]`` from logits at any resolution."""
        t = self.temperature if temperature is None else temperature
        if t <= 1e-3:
            idx = logits.argmax(1)
            return self.palette[idx].permute(0, 3, 1, 2)
        p = torch.softmax(logits / t, dim=1)
        return torch.einsum("bkhw,kc->bchw", p, self.palette)

    def _full(self, t: torch.Tensor, l_n: torch.Tensor) -> torch.Tensor:
        h, w = l_n.shape[-2:]
        if self.head_stride > 1:
            hp, wp = t.shape[-2] * self.head_stride, t.shape[-1] * self.head_stride
            t = F.interpolate(t, size=(hp, wp), mode="bilinear", align_corners=False)
        return t[..., :h, :w]

    def forward(self, l_n: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """Chroma ``[B,2,H,W]``: decode at the head's resolution (cheap), then upsample."""
        return self._full(self.decode(self.logits(l_n), temperature), l_n)

    def distribution(self, l_n: torch.Tensor) -> torch.Tensor:
        """Per-pixel probabilities over the palette ``[B,K,H,W]``."""
        return self._full(torch.softmax(self.logits(l_n), 1), l_n)


def quantize(ab_n: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Index ``[B,H,W]`` of the nearest palette colour for each pixel of ``ab_n`` ``[B,2,H,W]``."""
    d = ((ab_n.unsqueeze(1) - palette.view(1, -1, 2, 1, 1)) ** 2).sum(2)
    return d.argmin(1)


def fit_palette(ab_samples: np.ndarray, k: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-means (scikit-learn MiniBatchKMeans) over chroma samples ``[N,2]``: (palette ``[K,2]``, frequencies)."""
    from sklearn.cluster import MiniBatchKMeans

    km = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3, max_iter=200)
    labels = km.fit_predict(ab_samples)
    order = np.argsort(np.arctan2(km.cluster_centers_[:, 1], km.cluster_centers_[:, 0]))
    palette = km.cluster_centers_[order].astype(np.float32)
    freq = np.bincount(labels, minlength=k)[order].astype(np.float64)
    return palette, (freq / freq.sum()).astype(np.float32)


def rebalance_weights(prior: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Class weights w ~ 1/((1-lam) p + lam/K), normalised so that E_p[w] = 1 (Zhang et al. 2016)."""
    k = prior.numel()
    w = 1.0 / ((1 - lam) * prior + lam / k)
    return w / (prior * w).sum()


def draw_palette(palette: np.ndarray, freq: np.ndarray, space: str = "luv", lightness: float = 60.0):
    """A PNG-ready picture of the palette: one swatch per colour at L*=``lightness``, bar height ~ frequency."""
    from PIL import Image, ImageDraw

    from .. import color

    k = len(palette)
    ab = torch.as_tensor(np.asarray(palette), dtype=torch.float32).T.reshape(1, 2, 1, k)
    l_n = torch.full((1, 1, 1, k), lightness / color.L_SCALE - 1.0)
    rgb = (color.lc_to_rgb(l_n, ab, space)[0, :, 0].T.numpy() * 255).round().astype(np.uint8)
    sw, h = 48, 150
    img = Image.new("RGB", (sw * k, h + 20), "white")
    d = ImageDraw.Draw(img)
    top = float(np.max(freq)) or 1.0
    for i in range(k):
        d.rectangle([i * sw, 0, (i + 1) * sw - 2, 60], fill=tuple(int(c) for c in rgb[i]))
        bar = int(80 * float(freq[i]) / top)
        d.rectangle([i * sw + 8, h - bar, (i + 1) * sw - 10, h], fill=tuple(int(c) for c in rgb[i]))
        d.text((i * sw + 4, h + 4), f"{100 * float(freq[i]):.1f}%", fill="black")
    return img
