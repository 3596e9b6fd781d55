"""Datasets over a prepared folder's cache: they yield (L, chroma) in the normalised units of `color`."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .. import color
from ..errors import ChromatizeError


def load_cache(root: str | Path, split: str) -> np.ndarray:
    """The ``[N,S,S,3]`` uint8 cache of one split (memory-mapped)."""
    p = Path(root) / "cache" / f"{split}.npy"
    if not p.exists():
        raise ChromatizeError(f"{root} has no cache for split {split!r}: run `chromatize prepare` (with the cache on)")
    return np.load(p, mmap_mode="r")


def is_prepared(root: str | Path) -> bool:
    """True when ``root`` is a folder written by `chromatize prepare`."""
    return (Path(root) / "prepare.json").is_file()


def random_resized_crop(x: torch.Tensor, size: int, rng: random.Random, scale=(0.6, 1.0)) -> torch.Tensor:
    """Crop a random square covering ``scale`` of the area of ``x`` ``[3,H,W]`` and resize it to ``size``."""
    _, h, w = x.shape
    side = int(round(math.sqrt(rng.uniform(*scale)) * min(h, w)))
    top, left = rng.randint(0, h - side), rng.randint(0, w - side)
    x = x[:, top : top + side, left : left + side]
    if side != size:
        x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    return x


class ColorizationDataset(Dataset):
    """(L ``[1,S,S]``, chroma ``[2,S,S]``) pairs; training adds random crop and horizontal flip."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        color_space: str = "luv",
        size: int | None = None,
        train: bool = False,
        seed: int = 0,
        limit: int | None = None,
    ):
        self.images = load_cache(root, split)
        if limit is not None:
            self.images = self.images[:limit]
        self.space, self.train, self.seed = color_space, train, seed
        self.size = size or self.images.shape[1]
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.images)

    def rgb(self, i: int) -> torch.Tensor:
        """The RGB image ``[3,S,S]`` in [0,1], augmented when training."""
        x = torch.from_numpy(np.array(self.images[i])).permute(2, 0, 1).float() / 255.0
        if self.train:
            rng = random.Random(hash((self.seed, self.epoch, i)))
            x = random_resized_crop(x, self.size, rng)
            if rng.random() < 0.5:
                x = x.flip(-1)
        elif x.shape[-1] != self.size:
            x = F.interpolate(x[None], size=(self.size, self.size), mode="bilinear", antialias=True)[0]
        return x

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        l_n, ab_n = color.rgb_to_lc(self.rgb(i)[None], self.space)
        return l_n[0], ab_n[0]
