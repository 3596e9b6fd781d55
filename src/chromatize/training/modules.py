"""The Lightning module: one for every family; the family supplies network, losses and extras."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from ..models.card import ModelCard
from .stage import decoded_chroma, psnr_rgb, warmup_cosine


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
        inp = self.family.training_input(l_n, ab_n, self.train_opts, self.net)
        return (inp.channels_last() if self.channels_last else inp), ab_n

    def training_step(self, batch, idx):
        inp, ab_n = self._inputs(batch)
        logs = self.family.training_step(self.net, (inp, ab_n), self.train_opts, aux=self)
        logs = {("train_loss" if k == "loss" else k): v for k, v in logs.items()}
        self.log_dict(logs, prog_bar=True, on_step=True, on_epoch=True)
        now = time.perf_counter()
        if self._t is not None:
            self.log("img_s", len(inp) / max(now - self._t, 1e-9), prog_bar=True, on_step=True, on_epoch=False)
        self._t = now
        return logs["train_loss"]

    def validation_step(self, batch, idx):
        inp, ab_n = self._inputs(batch)
        pred = decoded_chroma(self.family, self.net, inp.l_n, self.card).float()
        logs = {
            "val_l1": F.l1_loss(pred, ab_n),
            "val_psnr": psnr_rgb(inp.l_n, pred, ab_n, self.space),
            **self.family.validation_logs(self.net, inp, ab_n),
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
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine((s + 1) / total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
