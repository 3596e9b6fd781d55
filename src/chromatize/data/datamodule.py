"""The Lightning data module used by `chromatize train`: one or several prepared folders, mixed."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import ConcatDataset, DataLoader, WeightedRandomSampler

from .datasets import ColorizationDataset


class ColorizationDataModule(L.LightningDataModule):
    """Train/val loaders over prepared folders (see `chromatize prepare`).

    With several folders, ``mix`` gives each folder's share of the training samples (default: in
    proportion to their sizes); an epoch is ``epoch_images`` samples (default: all training images).
    """

    def __init__(
        self,
        roots: list[str | Path],
        color_space: str = "luv",
        size: int = 64,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        val_limit: int | None = 1000,
        train_limit: int | None = None,
        mix: list[float] | None = None,
        epoch_images: int | None = None,
    ):
        super().__init__()
        self.roots, self.space, self.size, self.bs = [Path(r) for r in roots], color_space, size, batch_size
        self.workers, self.seed, self.val_limit, self.train_limit = num_workers, seed, val_limit, train_limit
        self.mix, self.epoch_images = mix, epoch_images

    def setup(self, stage: str | None = None) -> None:
        self.train_sets = [
            ColorizationDataset(r, "train", self.space, self.size, train=True, seed=self.seed, limit=self.train_limit)
            for r in self.roots
        ]
        self.train_set = ConcatDataset(self.train_sets) if len(self.train_sets) > 1 else self.train_sets[0]
        per_root = None if self.val_limit is None else max(1, self.val_limit // len(self.roots))
        vals = [ColorizationDataset(r, "val", self.space, self.size, limit=per_root) for r in self.roots]
        self.val_set = ConcatDataset(vals) if len(vals) > 1 else vals[0]

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer else 0
        for ds in self.train_sets:
            ds.epoch = epoch
        n = len(self.train_set)
        if len(self.train_sets) == 1 and self.epoch_images is None:
            return DataLoader(
                self.train_set,
                batch_size=self.bs,
                shuffle=True,
                num_workers=self.workers,
                drop_last=n >= self.bs,
                persistent_workers=False,
            )
        mix = self.mix or [len(d) for d in self.train_sets]
        total = sum(mix)
        weights = torch.cat([torch.full((len(d),), m / total / max(len(d), 1)) for d, m in zip(self.train_sets, mix)])
        gen = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        sampler = WeightedRandomSampler(weights, self.epoch_images or n, replacement=True, generator=gen)
        return DataLoader(
            self.train_set,
            batch_size=self.bs,
            sampler=sampler,
            num_workers=self.workers,
            drop_last=(self.epoch_images or n) >= self.bs,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.bs, shuffle=False, num_workers=self.workers)
