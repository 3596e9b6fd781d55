"""RGB <-> LUV / Lab on batched torch tensors, and the one normalisation of L and chroma.

Conversions come from ``kornia.color`` (sRGB, D65), checked against scikit-image in the tests.
Normalised units, used by every model and dataset:
    L_n      = L / 50 - 1                 (L in 0..100  ->  -1..1)
    chroma_n = (u, v) / 180  or  (a, b) / 110   (the sRGB gamut lies inside -1..1)
"""

from __future__ import annotations

from typing import Literal

import torch
from kornia import color as kc

ColorSpace = Literal["luv", "lab"]
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
