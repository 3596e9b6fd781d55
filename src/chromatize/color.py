"""RGB <-> LUV / Lab on batched torch tensors, and the one normalisation of L and chroma.

Conversions come from ``kornia.color`` (sRGB, D65), checked against scikit-image in the tests.
Normalised units, used by every model and dataset:
    L_n      = L / 50 - 1                 (L in 0..100  ->  -1..1)
    chroma_n = (u, v) / 180  or  (a, b) / 110   (the sRGB gamut lies inside -1..1)
"""

from __future__ import annotations

import numpy as np
import torch
from kornia import color as kc

COLOR_SPACES: tuple[str, ...] = ("luv", "lab")
L_SCALE = 50.0
CHROMA_SCALE: dict[str, float] = {"luv": 180.0, "lab": 110.0}


def _check(space: str) -> None:
    if space not in CHROMA_SCALE:
        from .errors import ChromatizeError

        raise ChromatizeError(f"unknown colour space {space!r}; choose one of {', '.join(COLOR_SPACES)}")


def rgb_to_space(rgb: torch.Tensor, space: str = "luv") -> torch.Tensor:
    """RGB in [0,1] ``[B,3,H,W]`` -> raw L, chroma1, chroma2 (L in 0..100)."""
    _check(space)
    rgb = rgb.clamp(0.0, 1.0)
    return kc.rgb_to_luv(rgb) if space == "luv" else kc.rgb_to_lab(rgb)


def space_to_rgb(x: torch.Tensor, space: str = "luv", clip: bool = True) -> torch.Tensor:
    """Raw L, chroma -> RGB; clipped to [0,1] unless ``clip=False`` (then out-of-gamut values show)."""
    _check(space)
    if space == "luv":
        rgb = kc.luv_to_rgb(x)
    else:
        rgb = kc.lab_to_rgb(x, clip=False)
    rgb = torch.nan_to_num(rgb, nan=0.0)
    return rgb.clamp(0.0, 1.0) if clip else rgb


def normalize(x: torch.Tensor, space: str = "luv") -> tuple[torch.Tensor, torch.Tensor]:
    """Raw ``[B,3,H,W]`` colour -> (L_n ``[B,1,H,W]``, chroma_n ``[B,2,H,W]``)."""
    _check(space)
    return x[:, :1] / L_SCALE - 1.0, x[:, 1:] / CHROMA_SCALE[space]


def denormalize(l_n: torch.Tensor, ab_n: torch.Tensor, space: str = "luv") -> torch.Tensor:
    """(L_n, chroma_n) -> raw ``[B,3,H,W]`` colour."""
    _check(space)
    return torch.cat([(l_n + 1.0) * L_SCALE, ab_n * CHROMA_SCALE[space]], dim=1)


def rgb_to_lc(rgb: torch.Tensor, space: str = "luv") -> tuple[torch.Tensor, torch.Tensor]:
    """RGB in [0,1] -> normalised (L, chroma): what the networks see and predict."""
    return normalize(rgb_to_space(rgb, space), space)


def lc_to_rgb(l_n: torch.Tensor, ab_n: torch.Tensor, space: str = "luv") -> torch.Tensor:
    """Normalised (L, chroma) -> RGB in [0,1] (clipped to the gamut)."""
    return space_to_rgb(denormalize(l_n, ab_n, space), space)


def lightness(rgb: np.ndarray, gray: bool | None = None) -> np.ndarray:
    """CIE L* (0..100) of sRGB ``[...,3]`` or gray values ``[...]`` (``gray=True``) in [0,1] (numpy, float32).

    The same maths as ``kornia.color.rgb_to_lab`` (D65; Y from linear sRGB), without computing a* b*:
    the input side of inference only needs lightness, and a gray image needs one channel, not three.
    """
    x = np.asarray(rgb, dtype=np.float32)
    lin = np.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92).astype(np.float32)
    gray = (x.ndim != 3 or x.shape[-1] != 3) if gray is None else gray
    y = lin if gray else lin @ np.array([0.212671, 0.715160, 0.072169], np.float32)
    f = np.where(y > 0.008856, np.cbrt(y), 7.787 * y + 4.0 / 29.0)
    return (116.0 * f - 16.0).astype(np.float32)
