"""Steering the automatic colours with hints, without retraining: propagation over the lightness edges,
gated by what the network thinks each pixel is.

The network's automatic chroma a stays the starting point. A reference photo first re-weights the
model's own distribution: its histogram over the model's chroma classes replaces the class prior the
scores hold (Bayes' rule: the training prior's log out, the reference's in; logit adjustment). Point
and scribble hints then set the colour where they are, and each hint's residual h - a spreads over the
image (Levin, Lischinski and Weiss, "Colorization using Optimization", SIGGRAPH 2004): for hint group g,

    q_g = argmin  sum_ij w_ij (q_i - q_j)^2 + lambda sum_{i in g} (q_i - 1)^2 + mu sum_i c_i^p q_i^2
    w_ij = exp(-(L_i - L_j)^2 / 2 s_L^2 - |a_i - a_j|^2 / 2 s_c^2)          (8-neighbour grid)

with c the network's confidence: q_g is 1 on the hint, falls off across lightness edges and with
distance, and is held back by pixels the network is sure of. It is then multiplied by the gate
B(p_i, p_g)^k, the Bhattacharyya coefficient between the network's predicted distribution at pixel i and
at the hint (its feature-space similarity: the same kind of region follows the hint, a neighbour of
another kind does not). Each pixel takes the gated-q-weighted average of the hints' residuals, in full
where the summed weight reaches `Steering.reach` and faded out below it, so a point recolours the
region it sits in rather than a dot. One sparse LU (scipy) per image at a small working size (long side
`Steering.work_size`; chroma is smooth and the network's own is coarser), then upsampled like any
prediction. The settings were chosen on a carved training split (README "Colour hints").
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
from .imageio import render_shape


@dataclass(frozen=True)
class Steering:
    """Propagation settings (chosen on a carved training split; see README "Colour hints")."""

    work_size: int = 128  # long side of the grid the hints propagate on (pixels)
    sigma_l: float = 4.0  # lightness difference (L*) across which colour stops spreading
    sigma_c: float = 0.3  # automatic-chroma difference (normalised units) across which it stops
    hint_weight: float = 100.0  # lambda: how firmly a hinted pixel takes the hint's colour
    keep_weight: float = 1e-3  # mu: how firmly an unhinted pixel keeps its automatic colour
    confidence_power: float = 1.0  # g: the network's confidence sharpening the keep weight
    reach: float = 0.1  # a pixel takes the hints' average residual in full where it hangs on them this much
    absolute: float = 0.5  # 0: a region keeps the automatic variation shifted by the hint; 1: the hint's flat colour
    semantic_power: float = 3.0  # gate: similarity of predicted distributions to a hint's, to this power (0: off)
    reference_weight: float = 1.0  # weight of the reference's log-histogram on the model's scores
    reference_swap: float = 1.0  # share of the model's own class prior the reference's replaces (Bayes: 1)
    reference_smooth: float = 0.02  # uniform share mixed into the reference histogram (no bin vanishes)
    propagate: bool = True  # False: points and scribbles only through a hint-taking network, not spread here


DEFAULT = Steering()


def hint_chroma(rgb: list[tuple[int, int, int]], space: str) -> np.ndarray:
    """Normalised chroma ``[n,2]`` of 8-bit RGB colours in ``space`` (their lightness is dropped)."""
    t = torch.tensor(rgb, dtype=torch.float32).view(-1, 3, 1, 1) / 255.0
    _, ab = color.rgb_to_lc(t, space)
    return ab[:, :, 0, 0].numpy()


def rasterise(
    hints: HintSet, full: tuple[int, int], work: tuple[int, int], space: str
) -> tuple[np.ndarray, np.ndarray]:
    """Hint groups ``[h,w]`` (0 = no hint, g = the g-th group) and target chroma ``[2,h,w]`` on the work
    grid. Each point is a group (a disk of its radius, at least the pixel it falls in); the scribble is
    opaque where its alpha, averaged over a work pixel, is at least one half, one group per colour."""
    (H, W), (h, w) = full, work
    labels, target = np.zeros((h, w), np.int32), np.zeros((2, h, w), np.float32)
    if hints.scribble is not None:
        rgba = np.asarray(hints.scribble.convert("RGBA"), np.float32) / 255.0
        prem = rgba[..., :3] * rgba[..., 3:]
        planes = (*prem.transpose(2, 0, 1), rgba[..., 3])
        small = [np.asarray(Image.fromarray(np.ascontiguousarray(c), "F").resize((w, h), Image.BOX)) for c in planes]
        a = small[3]
        on = a >= 0.5
        if on.any():
            rgb = np.clip(np.stack(small[:3], -1)[on] / a[on][:, None] * 255 + 0.5, 0, 255).astype(int)
            ab = hint_chroma([tuple(v) for v in rgb], space)
            target[:, on] = ab.T
            _, group = np.unique(np.round(ab / 0.05), axis=0, return_inverse=True)  # one group per colour
            labels[on] = group.ravel() + 1
    if hints.points:
        yy, xx = np.mgrid[0:h, 0:w]
        abs_ = hint_chroma([p.rgb for p in hints.points], space)
        first = labels.max() + 1
        for k, (p, ab) in enumerate(zip(hints.points, abs_)):
            x, y = p.position(W, H)
            cx, cy = x * w / W, y * h / H
            r = (p.radius or 0.0) * w / W
            disk = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= max(r, 0.5) ** 2
            disk[min(int(cy), h - 1), min(int(cx), w - 1)] = True
            target[:, disk] = ab[:, None]
            labels[disk] = first + k
    present = np.unique(labels[labels > 0])  # a point drawn over by a later one leaves no group
    lookup = np.zeros(labels.max() + 1, np.int32)
    lookup[present] = np.arange(1, len(present) + 1)
    return lookup[labels], target


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


def hint_planes(hints: HintSet, frame: tuple[int, int], size: tuple[int, int], space: str) -> torch.Tensor:
    """The points and scribble of ``hints`` as a hint-taking network's input planes ``[1,3,h,w]`` at the
    network's input ``size`` (h, w): their chroma where they are, zero elsewhere, and the mask.
    ``frame``: the (width, height) the hints' pixel coordinates refer to."""
    labels, target = rasterise(hints, (frame[1], frame[0]), (int(size[0]), int(size[1])), space)
    mask = (labels > 0).astype(np.float32)
    return torch.from_numpy(np.concatenate([target * mask, mask[None]]))[None]


def anchor(labels: np.ndarray, g: int) -> tuple[int, int]:
    """(row, column) of group ``g``'s pixel nearest to its centre."""
    ys, xs = np.nonzero(labels == g)
    k = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    return int(ys[k]), int(xs[k])


def hint_weights(
    l_work: np.ndarray,
    auto: np.ndarray,
    conf: np.ndarray,
    labels: np.ndarray,
    target: np.ndarray,
    s: Steering,
    gates: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each hint group g of ``labels`` (at least one): (q_g ``[n]``, r_g ``[2,n]`` or ``[2,1]``), how
    strongly each pixel hangs on the group and the residual it brings (see `propagate`)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    mask = labels > 0
    keep = s.keep_weight * np.clip(conf, 0, 1) ** s.confidence_power + 1e-6
    d = np.where(mask, s.hint_weight, keep).ravel()
    resid = np.where(mask[None], target - auto, 0.0).reshape(2, -1)
    lap = affinity(l_work, auto, s) + sp.diags(d)
    # symmetric positive definite: a symmetric fill-reducing ordering and no pivoting (about 1.5x faster)
    lu = splu(lap.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    flat, a = labels.ravel(), auto.reshape(2, -1)
    out = []
    for g in range(1, int(labels.max()) + 1):
        src = (flat == g).astype(np.float64) * d
        q = lu.solve(src)
        if (flat == g).sum() > 64:  # a scribble colour: its residual varies over its pixels
            r = np.stack([lu.solve(src * resid[c]) for c in range(2)]) / np.maximum(q, 1e-12)
        else:  # a point: one residual
            r = resid[:, flat == g].mean(1, keepdims=True)
        if s.absolute:  # towards the hint's own colour instead of the automatic colour shifted by its residual
            r = (1 - s.absolute) * r + s.absolute * (target.reshape(2, -1)[:, flat == g].mean(1, keepdims=True) - a)
        if gates is not None:
            q = q * gates[g - 1].ravel()
        out.append((q, r))
    return out


def propagate(
    l_work: np.ndarray,
    auto: np.ndarray,
    conf: np.ndarray,
    labels: np.ndarray,
    target: np.ndarray,
    s: Steering,
    gates: np.ndarray | None = None,
) -> np.ndarray:
    """Chroma ``[2,h,w]``: ``auto`` plus the hints' residuals, each spread from its group over the graph.

    For group g, q_g (solved with the group as the only source) says how strongly each pixel hangs on it:
    1 on the group, falling off across edges and with distance, held back by confident pixels. Its
    residual r_g / q_g is flat inside a region (no peak at a point). ``gates`` ``[G,h,w]`` (the network's
    own similarity of each pixel to each group, raised to a power) scale q_g, so a hint reaches the same
    kind of region and not its neighbours of another kind. A pixel takes the q-weighted average of the
    residuals, in full where the summed weight reaches `Steering.reach`, faded out below it."""
    if labels.max() == 0:
        return auto
    total = np.zeros(labels.size)
    acc = np.zeros((2, labels.size))
    for q, r in hint_weights(l_work, auto, conf, labels, target, s, gates):
        total += q
        acc += q * r
    blend = np.clip(total / s.reach, 0.0, 1.0) / np.maximum(total, 1e-12)
    return (auto + (acc * blend).reshape(auto.shape)).astype(np.float32)


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
    frame: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Chroma ``[1,2,h,w]`` (normalised) of one image steered by ``hints``: at the working size when
    points or a scribble are given, else at the prediction's size. ``frame``: the (width, height) the
    hints' pixel coordinates refer to (default: ``l_full``'s; a preview passes the original's)."""
    H, W = l_full.shape
    FW, FH = frame or (W, H)
    hints.check(FW, FH)
    if hints.reference is not None:
        if "distribution" not in prediction.offers:
            raise ChromatizeError("a reference photo needs a model that predicts a colour distribution")
        prior = s.reference_weight * reference_prior(hints.reference, prediction.chroma_classes(), space, s)
        own = prediction.prior_in_scores(**decoding)
        if own is not None:  # Bayes' rule: the scores' training prior out, the reference's in
            prior = prior - s.reference_swap * own.to(prior)
        prediction = prediction.with_log_prior(prior)
    auto = prediction.chroma(**decoding)
    if not hints.placed or not s.propagate:
        return auto
    h, w = render_shape(H, W, s.work_size)
    l_work = np.asarray(Image.fromarray(l_full.astype(np.float32), "F").resize((w, h), Image.BOX))
    auto_w = F.interpolate(auto.float(), size=(h, w), mode="bilinear", align_corners=False)[0].numpy()
    if "confidence" in prediction.offers:
        c = prediction.confidence().float()
        conf = F.interpolate(c, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    else:
        conf = np.ones((h, w), np.float32)
    labels, target = rasterise(hints, (FH, FW), (h, w), space)
    gates = None
    if s.semantic_power > 0 and "distribution" in prediction.offers and labels.max() > 0:
        rh, rw = auto.shape[-2:]
        cells = [anchor(labels, g) for g in range(1, int(labels.max()) + 1)]
        pts = [((x + 0.5) * rw / w, (y + 0.5) * rh / h) for y, x in cells]
        gates = prediction.similarity(pts, (h, w)).numpy() ** s.semantic_power
    return torch.from_numpy(propagate(l_work, auto_w, conf, labels, target, s, gates))[None]
