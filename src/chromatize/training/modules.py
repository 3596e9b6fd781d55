"""The Lightning module: one for every family; the family supplies network, losses and extras."""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from .. import color
from ..models.card import ModelCard


def psnr_rgb(l_n: torch.Tensor, pred: torch.Tensor, true: torch.Tensor, space: str) -> torch.Tensor:
    """Mean per-image PSNR (dB) between RGB from (L, pred) and from (L, true), on [0,1]."""
    a, b = color.lc_to_rgb(l_n, pred.float(), space), color.lc_to_rgb(l_n, true.float(), space)
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean()


def warmup_cosine(step: int, total: int, warmup: float = 0.05, floor: float = 0.02) -> float:
    """LR factor: linear warm-up, then cosine to ``floor``; recomputed from ``total`` so a resumed run
    may be given a longer budget."""
    w = max(int(total * warmup), 1)
    if step < w:
        return (step + 1) / w
    p = min((step - w) / max(total - w, 1), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


class FamilyModule(L.LightningModule):
    """Trains ``card.family``'s network with the family's training step.

    ``train_opts`` holds the generic options (lr, channels_last, ...) and the family's own ones.
    """

    def __init__(self, card: dict[str, Any], train_opts: dict[str, Any]):
        super().__init__()
        self.save_hyperparameters({"card": card, "train_opts": train_opts})
        self.card = ModelCard.from_dict(card)
        self.family = self.card.family_obj
        self.train_opts = train_opts
        self.space = self.card.color_space
        self.net = self.family.build(self.card.options)
        for name, m in self.family.extra_modules(train_opts).items():
            setattr(self, name, m)
        self.channels_last = bool(train_opts.get("channels_last", True))
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        self.automatic_optimization = not self.family.manual_optimization
        self._t: float | None = None

    def _inputs(self, batch):
        l_n, ab_n = batch
        if self.channels_last:
            l_n = l_n.contiguous(memory_format=torch.channels_last)
        return l_n, ab_n

    def training_step(self, batch, idx):
        l_n, ab_n = self._inputs(batch)
        logs = self.family.training_step(self, l_n, ab_n)
        logs = {("train_loss" if k == "loss" else k): v for k, v in logs.items()}
        self.log_dict(logs, prog_bar=True, on_step=True, on_epoch=True)
        now = time.perf_counter()
        if self._t is not None:
            self.log("img_s", len(l_n) / max(now - self._t, 1e-9), prog_bar=True, on_step=True, on_epoch=False)
        self._t = now
        return logs["train_loss"]

    def validation_step(self, batch, idx):
        l_n, ab_n = self._inputs(batch)
        pred = self.net(l_n).float()
        logs = {
            "val_l1": F.l1_loss(pred, ab_n),
            "val_psnr": psnr_rgb(l_n, pred, ab_n, self.space),
            **self.family.validation_logs(self.net, l_n, ab_n),
        }
        self.log_dict(logs, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        own = self.family.configure_optimizers(self)
        if own is not None:
            return own
        lr = self.train_opts["lr"]
        groups = [
            {"params": g["params"], "lr": lr * g["lr_scale"]}
            for g in self.family.param_groups(self.net, self.train_opts)
        ]
        opt = torch.optim.AdamW(groups, lr=lr, weight_decay=1e-4)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
