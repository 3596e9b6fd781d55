"""K-means chroma palettes: fitting (scikit-learn), nearest-colour labels, class re-balancing, drawing."""

from __future__ import annotations

import numpy as np
import torch


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


def chroma_pixels(rgb: torch.Tensor, space: str, n: int = 200_000, seed: int = 0) -> np.ndarray:
    """Up to ``n`` random chroma samples ``[n,2]`` (normalised) from RGB images ``[B,3,H,W]`` in [0,1]."""
    from .. import color

    _, ab = color.rgb_to_lc(rgb, space)
    px = ab.permute(0, 2, 3, 1).reshape(-1, 2).numpy()
    rng = np.random.default_rng(seed)
    return px[rng.choice(len(px), size=min(n, len(px)), replace=False)]
