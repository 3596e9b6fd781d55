"""Steady colour for films: each frame's chroma carried along optical flow from the frames before it.

A still-image colouriser run frame by frame flickers: small changes in the gray input flip a garment
from red to blue and back. `Steadier` keeps, for every pixel, a running mean of the chroma predicted for
the same scene point in earlier frames. The previous output chroma and its weight (how many frames it
already averages) are warped into the current frame by dense optical flow (OpenCV's DIS); where the flow
passes the forward-backward check (Sundaram et al. 2010, as used by Lai et al. 2018) the warped chroma is
averaged with the new prediction, elsewhere (occlusions, new objects) the new prediction stands alone.
The weight is capped (`max_weight`), so a colour never freezes: it follows the predictions with a lag of
about that many frames. When most of the frame loses its flow (a scene cut) everything is reset, so no
colour of one shot reaches the next.

Everything here works at the network's render size (a few hundred pixels a side): flow is computed on
the same small lightness the network sees, and the output chroma is then upsampled as for a still.
A pixel's flow is trusted when it passes the forward-backward check and the previous frame, warped, has
the same lightness there (give or take ``light_tol`` and the frame's overall change of exposure).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


def _cv2():
    import cv2

    cv2.setNumThreads(1)  # the frames are small; torch has the cores
    return cv2


def dis_flow(preset: str = "fast"):
    """An OpenCV DIS optical-flow object (``calc(I0, I1)`` on uint8 gray; flow maps I0's pixels into I1)."""
    cv2 = _cv2()
    return cv2.DISOpticalFlow_create(PRESETS[preset])


def l8(l_norm: np.ndarray) -> np.ndarray:
    """Lightness 0..100 (or normalised -1..1 when ``l_norm.min() < 0``) as the uint8 image flow wants."""
    x = np.asarray(l_norm, np.float32)
    x = (x + 1.0) * 50.0 if x.min() < 0 else x
    return np.clip(x * 2.55 + 0.5, 0, 255).astype(np.uint8)


def remap(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``img`` ``[H,W]`` or ``[H,W,C]`` sampled at ``x + flow(x)`` (bilinear, edges replicated)."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistent_flow(cur: np.ndarray, prev: np.ndarray, dis) -> tuple[np.ndarray, np.ndarray]:
    """Flow from ``cur`` into ``prev`` and the mask of pixels whose flow is trusted.

    Trusted: the backward flow taken at the forward flow's end point brings the pixel back (the
    forward-backward check with the tolerance of Sundaram et al. 2010: |f + b|^2 < 0.01 (|f|^2 + |b|^2)
    + 0.5), and that end point lies inside the frame.
    """
    fwd = dis.calc(cur, prev, None)
    bwd = dis.calc(prev, cur, None)
    bw = remap(bwd, fwd)
    d = ((fwd + bw) ** 2).sum(-1)
    ok = d < 0.01 * ((fwd**2).sum(-1) + (bw**2).sum(-1)) + 0.5
    h, w = cur.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    x, y = gx + fwd[..., 0], gy + fwd[..., 1]
    ok &= (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return fwd, ok


@dataclass
class Steadier:
    """Carries chroma from frame to frame. ``step(l, ab)`` takes a frame's lightness ``[h,w]`` (L* 0..100
    or the network's normalised L) and the chroma predicted for it ``[2,h,w]``; returns the steady chroma.

    ``max_weight``: frames a pixel's colour averages at most (0 = frame by frame).
    ``cut_share``: a frame where less than this share of pixels keeps a trusted flow starts a new shot.
    """

    max_weight: float = 8.0
    cut_share: float = 0.3
    light_tol: float = 12.0  # also distrust pixels whose lightness moved by more than this (L*; 0 = off)
    preset: str = "fast"
    _prev: tuple | None = field(default=None, repr=False)
    _dis: object = field(default=None, repr=False)
    cuts: int = 0

    def reset(self) -> None:
        self._prev = None

    def step(self, light: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, float]:
        """(steady chroma ``[2,h,w]``, share of pixels carried from the previous frame)."""
        cur = l8(light)
        ab_hw = np.ascontiguousarray(np.moveaxis(np.asarray(ab, np.float32), 0, -1))
        if self.max_weight <= 0 or self._prev is None or self._prev[0].shape != cur.shape:
            out, weight, share = ab_hw, np.ones(cur.shape, np.float32), 0.0
        else:
            if self._dis is None:
                self._dis = dis_flow(self.preset)
            prev_l, prev_ab, prev_w = self._prev
            fwd, ok = consistent_flow(cur, prev_l, self._dis)
            if self.light_tol > 0 and ok.any():
                # The warped last frame must look like this one, up to a change of exposure (old films
                # flicker in brightness): two shots can have flows that pass the check, not this.
                d = cur.astype(np.float32) - remap(prev_l, fwd).astype(np.float32)
                ok &= np.abs(d - np.median(d[ok])) < self.light_tol * 2.55
            share = float(ok.mean())
            if share < self.cut_share:
                self.cuts += 1
                out, weight, share = ab_hw, np.ones(cur.shape, np.float32), 0.0
            else:
                w = remap(prev_w, fwd) * ok
                carried = remap(prev_ab, fwd)
                out = (carried * w[..., None] + ab_hw) / (w[..., None] + 1.0)
                weight = np.minimum(w + 1.0, self.max_weight)
        self._prev = (cur, out, weight)
        return np.moveaxis(out, -1, 0), share
