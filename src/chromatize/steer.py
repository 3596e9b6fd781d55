"""Steering the automatic colours with hints, without retraining: propagation over the lightness edges.

The network's automatic chroma stays the starting point. A reference photo first re-weights the
model's own distribution (its colour histogram on the model's chroma classes, added as a log-prior to
the scores; Menon et al.'s logit adjustment with the reference's statistics). Point and scribble hints
then set the colour where they are, and the difference between a hint and the automatic colour spreads
over the image along a graph whose edges follow the photo's lightness and the automatic colours
(Levin, Lischinski and Weiss, "Colorization using Optimization", SIGGRAPH 2004), held back by the
network's confidence (a confident pixel far from every hint keeps its own colour):

    minimise  sum_ij w_ij (r_i - r_j)^2 + lambda sum_hints (r_i - (h_i - a_i))^2 + mu sum_i c_i^g r_i^2
    w_ij = exp(-(L_i - L_j)^2 / 2 s_L^2 - |a_i - a_j|^2 / 2 s_c^2)        (8-neighbour grid)

with a the automatic chroma, h the hint's chroma, c the confidence; chroma = a + r. A point thus
recolours the region it sits in, bounded by edges, not a dot. Solved with scipy's sparse LU at a
working size (long side `WORK_SIZE`), then upsampled like any prediction. See `Steering` for the knobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import color
from .errors import ChromatizeError
from .hints import HintSet


@dataclass(frozen=True)
class Steering:
    """Propagation settings (chosen on a carved training split; see README "Colour hints")."""

    work_size: int = 256  # long side of the grid the hints propagate on (pixels)
    sigma_l: float = 4.0  # lightness difference (L*) across which colour stops spreading
    sigma_c: float = 0.08  # automatic-chroma difference (normalised units) across which it stops
    hint_weight: float = 100.0  # lambda: how firmly a hinted pixel takes the hint's colour
    keep_weight: float = 1e-3  # mu: how firmly an unhinted pixel keeps its automatic colour
    confidence_power: float = 1.0  # g: the network's confidence sharpening the keep weight
    reference_weight: float = 1.0  # weight of the reference's log-histogram on the model's scores
    reference_smooth: float = 0.02  # uniform share mixed into the reference histogram (no bin vanishes)


DEFAULT = Steering()


def hint_chroma(rgb: list[tuple[int, int, int]], space: str) -> np.ndarray:
    """Normalised chroma ``[n,2]`` of 8-bit RGB colours in ``space`` (their lightness is dropped)."""
    t = torch.tensor(rgb, dtype=torch.float32).view(-1, 3, 1, 1) / 255.0
    _, ab = color.rgb_to_lc(t, space)
    return ab[:, :, 0, 0].numpy()


def rasterise(
    hints: HintSet, full: tuple[int, int], work: tuple[int, int], space: str
) -> tuple[np.ndarray, np.ndarray]:
    """Hint mask ``[h,w]`` (bool) and target chroma ``[2,h,w]`` on the work grid, from points (a disk of
    their radius, at least the pixel they fall in) and the scribble (opaque where its alpha, averaged
    over a work pixel, is at least one half)."""
    (H, W), (h, w) = full, work
    mask, target = np.zeros((h, w), bool), np.zeros((2, h, w), np.float32)
    if hints.scribble is not None:
        rgba = np.asarray(hints.scribble.convert("RGBA"), np.float32) / 255.0
        prem = rgba[..., :3] * rgba[..., 3:]
        small = [
            np.asarray(Image.fromarray(c, "F").resize((w, h), Image.BOX))
            for c in (*prem.transpose(2, 0, 1), rgba[..., 3])
        ]
        a = small[3]
        on = a >= 0.5
        if on.any():
            rgb = np.stack(small[:3], -1)[on] / a[on][:, None]
            ab = hint_chroma([tuple(v) for v in np.clip(rgb * 255 + 0.5, 0, 255).astype(int)], space)
            target[:, on] = ab.T
            mask |= on
    if hints.points:
        yy, xx = np.mgrid[0:h, 0:w]
        abs_ = hint_chroma([p.rgb for p in hints.points], space)
        for p, ab in zip(hints.points, abs_):
            x, y = p.position(W, H)
            cx, cy = x * w / W, y * h / H
            r = (p.radius or 0.0) * w / W
            disk = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= max(r, 0.5) ** 2
            disk[min(int(cy), h - 1), min(int(cx), w - 1)] = True
            target[:, disk] = ab[:, None]
            mask |= disk
    return mask, target


def affinity(l_work: np.ndarray, auto: np.ndarray, s: Steering):
    """The graph Laplacian ``[n,n]`` (scipy CSR) of the 8-neighbour grid with Levin-style weights on the
    lightness and the automatic chroma."""
    import scipy.sparse as sp

    h, w = l_work.shape
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ys, ye = 0, h - dy
        xs, xe = max(0, -dx), w - max(0, dx)
        a = idx[ys:ye, xs:xe]
        b = idx[ys + dy : ye + dy, xs + dx : xe + dx]
        dl = l_work[ys:ye, xs:xe] - l_work[ys + dy : ye + dy, xs + dx : xe + dx]
        dc = auto[:, ys:ye, xs:xe] - auto[:, ys + dy : ye + dy, xs + dx : xe + dx]
        wt = np.exp(-(dl**2) / (2 * s.sigma_l**2) - (dc**2).sum(0) / (2 * s.sigma_c**2))
        if dx and dy:
            wt = wt / np.sqrt(2)  # diagonal neighbours are farther
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
        vals += [wt.ravel(), wt.ravel()]
    n = h * w
    adj = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return sp.diags(np.asarray(adj.sum(1)).ravel()) - adj


def propagate(
    l_work: np.ndarray, auto: np.ndarray, conf: np.ndarray, mask: np.ndarray, target: np.ndarray, s: Steering
) -> np.ndarray:
    """Chroma ``[2,h,w]``: ``auto`` plus the hint residual spread by the confidence-held graph solve."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    if not mask.any():
        return auto
    keep = s.keep_weight * np.clip(conf, 0, 1) ** s.confidence_power + 1e-6
    d = np.where(mask, s.hint_weight, keep).ravel()
    resid = np.where(mask[None], target - auto, 0.0).reshape(2, -1)
    lu = splu((affinity(l_work, auto, s) + sp.diags(d)).tocsc())
    r = np.stack([lu.solve(d * resid[c]) for c in range(2)])
    return (auto + r.reshape(auto.shape)).astype(np.float32)


def reference_prior(reference: Image.Image, classes: torch.Tensor, space: str, s: Steering) -> torch.Tensor:
    """Log of the reference photo's chroma histogram over the model's chroma classes ``[K,2]`` (each
    pixel to its nearest class; a uniform share mixed in): a prior ``[K]`` added to the scores."""
    ref = reference.convert("RGB")
    ref.thumbnail((256, 256))
    rgb = torch.from_numpy(np.asarray(ref, np.float32) / 255.0).permute(2, 0, 1)[None]
    _, ab = color.rgb_to_lc(rgb, space)
    pix = ab.reshape(2, -1).T
    nearest = torch.cdist(pix, classes.float()).argmin(1)
    hist = torch.bincount(nearest, minlength=len(classes)).float()
    p = hist / hist.sum().clamp_min(1)
    return torch.log((1 - s.reference_smooth) * p + s.reference_smooth / len(classes))


def steered_chroma(
    prediction: Any,
    decoding: dict[str, Any],
    l_full: np.ndarray,
    hints: HintSet,
    space: str,
    s: Steering = DEFAULT,
) -> torch.Tensor:
    """Chroma ``[1,2,h,w]`` (normalised) of one image steered by ``hints``: at the working size when
    points or a scribble are given, else at the prediction's size."""
    H, W = l_full.shape
    hints.check(W, H)
    if hints.reference is not None:
        if "distribution" not in prediction.offers:
            raise ChromatizeError("a reference photo needs a model that predicts a colour distribution")
        prior = reference_prior(hints.reference, prediction.chroma_classes(), space, s)
        prediction = prediction.with_log_prior(prior, s.reference_weight)
    auto = prediction.chroma(**decoding)
    if not hints.points and hints.scribble is None:
        return auto
    from .inference import render_shape

    h, w = render_shape(H, W, s.work_size)
    l_work = np.asarray(Image.fromarray(l_full.astype(np.float32), "F").resize((w, h), Image.BOX))
    auto_w = F.interpolate(auto.float(), size=(h, w), mode="bilinear", align_corners=False)[0].numpy()
    if "confidence" in prediction.offers:
        c = prediction.confidence().float()
        conf = F.interpolate(c, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    else:
        conf = np.ones((h, w), np.float32)
    mask, target = rasterise(hints, (H, W), (h, w), space)
    return torch.from_numpy(propagate(l_work, auto_w, conf, mask, target, s))[None]
