"""Lightning modules: one for the regression and classification families, one for the GAN."""

from __future__ import annotations

import math
import time

import lightning as L
import torch
import torch.nn.functional as F

from .. import color
from ..models import build
from ..models.classification import quantize, rebalance_weights
from ..models.gan import make_discriminator

PIXEL_LOSSES = {"l2": F.mse_loss, "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss}


def psnr_rgb(l_n: torch.Tensor, pred: torch.Tensor, true: torch.Tensor, space: str) -> torch.Tensor:
    """Mean per-image PSNR (dB) between RGB from (L, pred) and from (L, true), on [0,1]."""
    a, b = color.lc_to_rgb(l_n, pred.float(), space), color.lc_to_rgb(l_n, true.float(), space)
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean()


class _Base(L.LightningModule):
    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg = config
        self.space = config["color_space"]
        self.net = build(config["family"], **config.get("model", {}))
        if config["train"].get("channels_last", True):
            self.net = self.net.to(memory_format=torch.channels_last)
        self._t = None

    def _throughput(self, n: int) -> None:
        now = time.perf_counter()
        if self._t is not None:
            self.log("img_s", n / max(now - self._t, 1e-9), prog_bar=True, on_step=True, on_epoch=False)
        self._t = now

    def _inputs(self, batch):
        l_n, ab_n = batch
        if self.cfg["train"].get("channels_last", True):
            l_n = l_n.contiguous(memory_format=torch.channels_last)
        return l_n, ab_n

    def validation_step(self, batch, idx):
        l_n, ab_n = self._inputs(batch)
        pred = self.net(l_n).float()
        self.log("val_l1", F.l1_loss(pred, ab_n), prog_bar=True, sync_dist=True)
        self.log("val_psnr", psnr_rgb(l_n, pred, ab_n, self.space), prog_bar=True, sync_dist=True)
        if self.cfg["family"] == "classification":
            net = self.net
            logits = net._full(net.logits(l_n), l_n)
            acc = (logits.argmax(1) == quantize(ab_n, net.palette)).float().mean()
            self.log("val_pixel_acc", acc, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.cfg["train"]["lr"], weight_decay=1e-4)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def warmup_cosine(step: int, total: int, warmup: float = 0.05, floor: float = 0.02) -> float:
    """LR factor: linear warm-up, then cosine to ``floor``; recomputed from ``total`` so a resumed run
    may be given a longer budget."""
    w = max(int(total * warmup), 1)
    if step < w:
        return (step + 1) / w
    p = min((step - w) / max(total - w, 1), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


class PixelModule(_Base):
    """Regression (pixel loss) and classification (cross-entropy over the palette)."""

    def __init__(self, config: dict):
        super().__init__(config)
        if config["family"] == "classification":
            w = rebalance_weights(self.net.prior) if config["train"].get("rebalance", True) else None
            self.register_buffer("class_weights", w if w is not None else torch.ones(self.net.k))

    def loss(self, l_n: torch.Tensor, ab_n: torch.Tensor) -> torch.Tensor:
        if self.cfg["family"] == "classification":
            logits = self.net.logits(l_n)
            s = self.net.head_stride
            target_ab = F.avg_pool2d(ab_n, s) if s > 1 else ab_n
            target = quantize(target_ab, self.net.palette)
            return F.cross_entropy(logits.float(), target, weight=self.class_weights)
        return PIXEL_LOSSES[self.cfg["train"].get("loss", "l2")](self.net(l_n).float(), ab_n)

    def training_step(self, batch, idx):
        l_n, ab_n = self._inputs(batch)
        loss = self.loss(l_n, ab_n)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self._throughput(len(l_n))
        return loss


class GANModule(_Base):
    """pix2pix-style: generator loss = BCE(D(L, G(L)), real) + lambda * L1; discriminator BCE."""

    def __init__(self, config: dict):
        super().__init__(config)
        t = config["train"]
        self.disc = make_discriminator(t.get("disc", "global"), t.get("disc_width", 32))
        self.automatic_optimization = False

    def configure_optimizers(self):
        lr = self.cfg["train"]["lr"]
        g = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.5, 0.999))
        d = torch.optim.Adam(self.disc.parameters(), lr=lr, betas=(0.5, 0.999))
        return [g, d]

    def training_step(self, batch, idx):
        l_n, ab_n = self._inputs(batch)
        opt_g, opt_d = self.optimizers()
        lam = self.cfg["train"].get("l1_lambda", 100.0)
        fake = self.net(l_n)
        # discriminator
        d_real, d_fake = self.disc(l_n, ab_n), self.disc(l_n, fake.detach())
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                        + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d.zero_grad()
        self.manual_backward(loss_d)
        opt_d.step()
        # generator
        d_gen = self.disc(l_n, fake)
        adv = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        l1 = F.l1_loss(fake, ab_n)
        loss_g = adv + lam * l1
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        opt_g.step()
        self.log_dict({"train_loss": loss_g, "g_adv": adv, "g_l1": l1, "d_loss": loss_d}, prog_bar=True,
                      on_step=True, on_epoch=True)
        self._throughput(len(l_n))
        return loss_g


def make_module(config: dict) -> L.LightningModule:
    return GANModule(config) if config["family"] == "gan" else PixelModule(config)
