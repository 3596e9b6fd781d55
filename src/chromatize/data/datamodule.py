"""The Lightning data module used by `chromatize train`."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from .datasets import ColorizationDataset


class ColorizationDataModule(L.LightningDataModule):
    """Train/val loaders over a prepared folder (see `chromatize prepare`)."""

    def __init__(self, root: str | Path, color_space: str = "luv", size: int = 64, batch_size: int = 64,
                 num_workers: int = 0, seed: int = 0, val_limit: int | None = 1000, train_limit: int | None = None):
        super().__init__()
        self.root, self.space, self.size, self.bs = root, color_space, size, batch_size
        self.workers, self.seed, self.val_limit, self.train_limit = num_workers, seed, val_limit, train_limit

    def setup(self, stage: str | None = None) -> None:
        self.train_set = ColorizationDataset(self.root, "train", self.space, self.size, train=True, seed=self.seed,
                                             limit=self.train_limit)
        self.val_set = ColorizationDataset(self.root, "val", self.space, self.size, limit=self.val_limit)

    def train_dataloader(self) -> DataLoader:
        self.train_set.epoch = self.trainer.current_epoch if self.trainer else 0
        return DataLoader(self.train_set, batch_size=self.bs, shuffle=True, num_workers=self.workers,
                          drop_last=len(self.train_set) >= self.bs, persistent_workers=False)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.bs, shuffle=False, num_workers=self.workers)
