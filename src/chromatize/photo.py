"""One photo in and out of the network's terms: any input reduced to full-resolution CIE L* (`Prepared`,
`prepare_input`), the render-size L the network sees (`small_l`), and full-resolution L* + predicted
chroma recombined into the output image (`compose`, with the exact gamut rule `in_gamut`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import color
from .errors import ChromatizeError
from .imageio import open_image, pixel_array, render_shape, split_alpha

_CV2_TO_RGB = {"lab": "COLOR_Lab2RGB", "luv": "COLOR_Luv2RGB"}  # OpenCV codes (float: L 0..100, raw chroma)
STRIP = 256  # rows per strip when converting full-size images (bounds peak memory)
PARALLEL_STRIPS_PX = 2_000_000  # from this size strips run side by side (below, the pool costs more than it gives)


@dataclass
class Prepared:
    """One input reduced to what the network needs, plus what the output must keep."""

    l_full: np.ndarray  # [H,W] float32 CIE L* 0..100
    alpha: Image.Image | None
    info: dict[str, Any]


def _as_pil(img: Image.Image | np.ndarray | str | Path, max_pixels: int | None = None) -> Image.Image:
    if isinstance(img, (str, Path)):
        return open_image(img, **({"max_pixels": max_pixels} if max_pixels else {}))
    if isinstance(img, np.ndarray):
        a = img
        if a.dtype in (np.float32, np.float64):
            a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0]
        if a.dtype == np.uint16 and a.ndim == 2:
            return Image.fromarray(a)
        if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
            raise ChromatizeError(
                f"numpy input must be HxW, HxWx3 or HxWx4 (uint8, uint16 or float), got {a.shape} {a.dtype}"
            )
        return Image.fromarray(a)
    if isinstance(img, Image.Image):
        from PIL import ImageOps

        return ImageOps.exif_transpose(img)
    raise ChromatizeError(f"cannot colorize a {type(img).__name__}: give a path, a PIL image or a numpy array")


def prepare_input(img: Image.Image | np.ndarray | str | Path, max_pixels: int | None = None) -> Prepared:
    """Reduce any input to full-resolution L* (alpha and metadata kept aside)."""
    pil = _as_pil(img, max_pixels)
    if pil.width * pil.height == 0:
        raise ChromatizeError(f"cannot colorize an image without pixels ({pil.width}x{pil.height})")
    info = {k: pil.info[k] for k in ("exif", "dpi") if k in pil.info}
    _, alpha = split_alpha(pil)
    return Prepared(full_lightness(pil), alpha, info)


def full_lightness(pil: Image.Image) -> np.ndarray:
    """CIE L* ``[H,W]`` at full resolution: a lookup table for 8-bit gray, row strips otherwise (bounded
    memory for very large images)."""
    px, top = pixel_array(pil)
    if px.dtype == np.uint8 and px.ndim == 2:
        return color.lightness(np.arange(256, dtype=np.float32) / 255.0, gray=True)[px]
    l_full = np.empty(px.shape[:2], np.float32)
    for y in range(0, px.shape[0], STRIP):
        l_full[y : y + STRIP] = color.lightness(
            np.clip(px[y : y + STRIP].astype(np.float32) / top, 0.0, 1.0), gray=px.ndim == 2
        )
    return l_full


def small_l(p: Prepared, render_size: int, render_min: int = 0) -> torch.Tensor:
    """Normalised L at the render size ``[1,1,h,w]`` (area-filtered; bilinear when upscaled)."""
    h, w = render_shape(*p.l_full.shape, render_size, render_min)
    up = h > p.l_full.shape[0]
    small = (
        Image.fromarray(p.l_full, "F").resize((w, h), Image.BILINEAR if up else Image.BOX)
        if (h, w) != p.l_full.shape
        else p.l_full
    )
    return torch.from_numpy(np.asarray(small, np.float32).copy())[None, None] / color.L_SCALE - 1.0


def upsample(t: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear upsampling of ``[C,h,w]`` float maps to ``[C,H,W]`` via PIL (memory-light)."""
    if t.shape[1:] == (h, w):
        return t
    return np.stack([np.asarray(Image.fromarray(c, "F").resize((w, h), Image.BILINEAR)) for c in t])


def in_gamut(l_raw: np.ndarray, ab: np.ndarray, space: str, iters: int = 6) -> np.ndarray:
    """L + chroma ``[2,H,W]`` (raw units of ``space``) -> sRGB ``[H,W,3]`` in [0,1]. Where a colour falls
    outside sRGB its chroma is shrunk (x0.75 per round, at most ``iters`` rounds, then dropped) instead of
    clipping the RGB, so the output keeps the input's lightness; only those pixels are redone.
    (torch: kornia's conversions on two threads beat a numpy twin by ~1.5x on 1.5-MP strips.)"""
    lt = torch.from_numpy(np.ascontiguousarray(l_raw, np.float32))
    abt = torch.from_numpy(np.ascontiguousarray(ab, np.float32))
    rgb = color.space_to_rgb(torch.cat([lt[None], abt])[None], space, clip=False)[0]
    flat = rgb.reshape(3, -1)
    idx = ((flat < -0.002) | (flat > 1.002)).any(0).nonzero().squeeze(1)
    if idx.numel():
        l_f, ab_f = lt.reshape(1, -1)[:, idx], abt.reshape(2, -1)[:, idx]
        for k in range(iters + 1):
            ab_f = ab_f * 0.75 if k < iters else ab_f * 0  # last resort: neutral, exact L
            sub = color.space_to_rgb(torch.cat([l_f, ab_f])[None, :, None, :], space, clip=False)[0, :, 0]
            flat[:, idx] = sub
            bad = ((sub < -0.002) | (sub > 1.002)).any(0)
            if not bad.any():
                break
            idx, l_f, ab_f = idx[bad], l_f[:, bad], ab_f[:, bad]
    return rgb.clamp_(0.0, 1.0).permute(1, 2, 0).numpy()


def compose(p: Prepared, ab_small: torch.Tensor, space: str) -> Image.Image:
    """Full-resolution L + upsampled chroma -> RGB(A) PIL image (in row strips: bounded memory).

    OpenCV upsamples (bilinear, pixel centres aligned, as Pillow's; smaller outputs go through Pillow's
    filter) and converts every pixel (SIMD, on torch's current thread count). Its output is clipped to
    [0,1], so a pixel with a channel at exactly 0 or 1 may lie outside sRGB: those (real photos: ~7 %),
    and in LUV the nearly black ones, are redone with `in_gamut`, the exact rule, on Pillow's chroma to
    the bit (`resample.PillowBilinear`). Elsewhere OpenCV and kornia agree within 7e-4 (a fifth of a level).
    Against the kornia-and-Pillow path this replaced: ~0.5 % of the pixels one level apart, none more
    (`tests/test_color.py`). From 2 MP on, strips run side by side, one thread each (the numpy part is
    single-threaded). 24-MP real photo, first call: 2.5-3.5 s -> 1.2-2.1 s, median 1.55 (README "Speed")."""
    import cv2

    from .resample import PillowBilinear
    from .threads import POLICY

    cv2.setNumThreads(torch.get_num_threads())
    h, w = p.l_full.shape
    small = ab_small[0].numpy().astype(np.float32)
    scale = color.CHROMA_SCALE[space]
    up = small.shape[1:] != (h, w) and h >= small.shape[1] and w >= small.shape[2]
    if up:
        exact = PillowBilinear(small, h, w)
        ab = cv2.resize(np.ascontiguousarray(small.transpose(1, 2, 0)) * scale, (w, h), interpolation=cv2.INTER_LINEAR)
    else:  # the same size, or smaller (an input under the render size): Pillow's filter, exact already
        ab = np.ascontiguousarray(upsample(small, h, w).transpose(1, 2, 0)) * scale
    out = np.empty((h, w, 3), np.uint8)
    lo, hi = (1e-6,) * 3, (1 - 1e-6,) * 3

    def strip(y: int) -> None:  # L is CIE L* in both spaces; the network's chroma is in `space`
        lab = cv2.merge([p.l_full[y : y + STRIP], ab[y : y + STRIP]])
        rgb = cv2.cvtColor(lab, getattr(cv2, _CV2_TO_RGB[space]))
        edge = cv2.inRange(rgb, lo, hi) == 0  # clipped, or nearly
        if space == "luv":  # below L* 0.45 OpenCV's u, v differ from the exact formula
            edge |= p.l_full[y : y + STRIP] < 1.0
        edge = np.flatnonzero(edge)
        if edge.size:
            px = lab.reshape(-1, 3)[edge]
            if up:
                px[:, 1:] = (exact.at(edge // w + y, edge % w) * scale).T
            rgb.reshape(-1, 3)[edge] = in_gamut(px[:, 0][None], px[:, 1:].T[:, None], space)[0]
        out[y : y + STRIP] = cv2.convertScaleAbs(rgb, alpha=255.0)

    threads = torch.get_num_threads()
    side_by_side = POLICY.strips or threads  # a batch sets how many (its network runs hold one thread)
    if side_by_side > 1 and h * w >= PARALLEL_STRIPS_PX:  # strips side by side, one thread each
        from concurrent.futures import ThreadPoolExecutor

        cv2.setNumThreads(1)
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(side_by_side) as pool:
                list(pool.map(strip, range(0, h, STRIP)))
        finally:
            torch.set_num_threads(threads)
            cv2.setNumThreads(threads)
    else:
        for y in range(0, h, STRIP):
            strip(y)
    img = Image.fromarray(out, "RGB")
    if p.alpha is not None:
        img.putalpha(p.alpha)
    img.info.update(p.info)
    return img
