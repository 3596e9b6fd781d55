"""Pillow's bilinear resize of float images, evaluated at chosen output pixels only, bit for bit.

`photo.compose` upsamples the chroma with OpenCV (fast, threaded), which agrees with Pillow's
bilinear filter to the last float bits, not exactly. The pixels whose colour lies near the edge of the
sRGB gamut are then redone with the exact rule, and for those a last-bit difference can cross the
rule's threshold (1-7 pixels in 30 MP moved by up to 38 levels before this module). So for them the
chroma is taken here, exactly as ``Image.resize(size, Image.BILINEAR)`` on an "F" image computes it
(Pillow's ``libImaging/Resample.c``: coefficients in doubles, a horizontal pass stored as float32, then a
vertical one; each output a sum in doubles, taps in order). `tests/test_color.py` checks equality
with Pillow on random sizes, up and down.
"""

from __future__ import annotations

import numpy as np


def _coeffs(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pillow's ``precompute_coeffs`` for the bilinear filter over a whole axis: (first tap, taps,
    normalised weights ``[out_size, ksize]``, zero past the taps)."""
    scale = float(np.float32(in_size)) / out_size  # (double)(in1 - in0) / outSize, in0/in1 floats
    filterscale = max(scale, 1.0)
    support = filterscale  # the bilinear filter's support is 1
    ksize = int(np.ceil(support)) * 2 + 1
    center = (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C's (int) truncates toward zero
    xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size) - xmin
    k = np.zeros((out_size, ksize))
    for x in range(ksize):
        t = np.abs(((x + xmin) - center + 0.5) * (1.0 / filterscale))
        k[:, x] = np.where((x < xmax) & (t < 1.0), 1.0 - t, 0.0)
    ww = np.zeros(out_size)
    for x in range(ksize):  # summed in tap order, as Pillow does
        ww = ww + k[:, x]
    k = np.where(ww[:, None] != 0.0, k / np.where(ww == 0.0, 1.0, ww)[:, None], k)
    return xmin, xmax, k


class PillowBilinear:
    """``small`` ``[C,hs,ws]`` float32 resized to ``h x w`` by Pillow's bilinear filter, evaluated only
    where asked (`at`), equal bit for bit to the full resize there. Pillow's horizontal pass is made
    whole at once (``[C, hs, w]``: small, the source rows are few); the vertical pass runs per pixel."""

    def __init__(self, small: np.ndarray, h: int, w: int) -> None:
        c, hs, ws = small.shape
        self.hs = hs
        if ws == w:  # no horizontal pass: the input rows themselves
            self.rows = small.astype(np.float32)
        else:
            xmin, _, k = _coeffs(ws, w)
            ss = np.zeros((c, hs, w))
            for x in _taps(k):  # summed in tap order, in doubles, stored as float32 (Pillow's imTemp)
                ss = ss + small[:, :, np.minimum(xmin + x, ws - 1)].astype(np.float64) * k[:, x]
            self.rows = ss.astype(np.float32)
        self.down = _coeffs(hs, h) if hs != h else None

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """``[C, len(ys)]`` float32: the resized image at the output pixels ``(ys, xs)``."""
        if self.down is None:
            return self.rows[:, ys, xs]
        ymin, _, k = self.down
        first, ky = ymin[ys], k[ys]
        ss = np.zeros((self.rows.shape[0], ys.size))
        for y in _taps(k):
            ss = ss + self.rows[:, np.minimum(first + y, self.hs - 1), xs].astype(np.float64) * ky[:, y]
        return ss.astype(np.float32)


def _taps(k: np.ndarray) -> list[int]:
    """The tap positions with any weight (a weight of 0 adds exactly nothing to Pillow's sums)."""
    return [x for x in range(k.shape[1]) if k[:, x].any()]


def bilinear_at(small: np.ndarray, h: int, w: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """`PillowBilinear` at the output pixels ``(ys, xs)`` in one call."""
    return PillowBilinear(small, h, w).at(ys, xs)
