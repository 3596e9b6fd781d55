"""Callbacks: atomic checkpoints, per-epoch sample grids and loss-curve plots."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image

from .. import color
from ..imageio import atomic_write
from .stage import decoded_chroma


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file and rename: a kill never leaves a half-written one."""

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        """Always ``weights_only=True``: a checkpoint is data, never code (whatever the environment says)."""
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def sample_grid(module, l_n: torch.Tensor, ab_n: torch.Tensor, scale: int = 2) -> Image.Image:
    """Rows of gray | predicted | truth for a batch of validation images, decoded by the family with the
    card's values (what users get)."""
    space = module.space
    with torch.no_grad():
        pred = decoded_chroma(module.family, module.net, l_n, module.card).float()
    gray = color.lc_to_rgb(l_n, torch.zeros_like(ab_n), space)
    cols = [gray, color.lc_to_rgb(l_n, pred, space), color.lc_to_rgb(l_n, ab_n, space)]
    rows = [torch.cat([c[i] for c in cols], dim=2) for i in range(len(l_n))]
    grid = (torch.cat(rows, dim=1).permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    img = Image.fromarray(grid)
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    from ..evaluate.report import with_header

    return with_header(img, ["gray", "predicted", "truth"])


class StepProgressBar(RichProgressBar):
    """Lightning's rich bar, without "Epoch 0/-2" when the run is limited by --max-steps (max_epochs -1)."""

    def _get_train_description(self, current_epoch: int) -> str:
        text = super()._get_train_description(current_epoch)
        if self.trainer.max_epochs == -1:
            text = text.replace(f"Epoch {current_epoch}/-2", f"Epoch {current_epoch}", 1)
        return text


class PlainProgress(L.Callback):
    """Progress for a run whose stderr is not a terminal (a log file, CI, nohup): one line every
    ``every`` seconds, ``step N/M (P %), loss L, elapsed, about T left``, and one at the end."""

    def __init__(self, every: float = 30.0, say=None):
        import sys
        import time

        self.every, self.clock = every, time.monotonic
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.t0 = self.last = None

    @rank_zero_only
    def on_train_start(self, trainer, module):
        self.t0 = self.last = self.clock()
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        self.say(f"training: {total or trainer.max_epochs} {'steps' if total else 'epochs'}")

    @rank_zero_only
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self.say(self._line(trainer, now))

    @rank_zero_only
    def on_train_end(self, trainer, module):
        self.say(self._line(trainer, self.clock()) + " (done)")

    def _line(self, trainer, now: float) -> str:
        step, total = trainer.global_step, trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        m = trainer.callback_metrics
        loss = next((m[k] for k in ("train_loss_step", "train_loss_epoch", "train_loss") if k in m), None)
        text = f"step {step}" + (
            f"/{total} ({100 * step / total:.0f} %)" if total else f", epoch {trainer.current_epoch}"
        )
        if loss is not None:
            text += f", loss {float(loss):.4g}"
        took = now - (now if self.t0 is None else self.t0)
        text += f", {took / 60:.1f} min"
        if total and step:
            text += f", about {took * (total - step) / step / 60:.1f} min left"
        return text


class SampleGrid(L.Callback):
    """After each validation, write ``samples/epoch_XXX.png`` for fixed validation images."""

    def __init__(self, out: Path, n: int = 8):
        self.out, self.n = Path(out), n

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        ds = trainer.datamodule.val_set
        n = min(self.n, len(ds))
        if n == 0:
            return
        items = [ds[int(i)] for i in np.linspace(0, len(ds) - 1, n).round()]
        l_n = torch.stack([a for a, _ in items]).to(module.device)
        ab_n = torch.stack([b for _, b in items]).to(module.device)
        was = module.net.training
        module.net.eval()
        img = sample_grid(module, l_n, ab_n)
        module.net.train(was)
        path = self.out / "samples" / f"epoch_{trainer.current_epoch:03d}.png"
        atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def read_metrics(run: Path) -> list[dict]:
    """Rows of every ``logs/version_*/metrics.csv`` of a run, in order (a resume adds a version)."""
    rows = []
    paths = sorted((Path(run) / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    for p in paths:
        with open(p, newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def plot_curves(rows: list[dict], out: Path, keys: list[str]) -> None:
    """Loss curves (train keys per step, val keys per epoch) to a PNG with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    val_keys = [k for k in ("val_l1", "val_psnr", "val_pixel_acc") if any(r.get(k) for r in rows)]
    fig, axes = plt.subplots(1, 1 + len(val_keys), figsize=(4.5 * (1 + len(val_keys)), 3.5))
    axes = np.atleast_1d(axes)
    for k in keys:
        pts = [(int(r["step"]), float(r[k])) for r in rows if r.get(k)]
        if pts:
            axes[0].plot(*zip(*pts), label=k.replace("_step", ""), lw=1)
    axes[0].set_xlabel("step")
    axes[0].set_title("training losses")
    if axes[0].lines:
        axes[0].set_yscale("log")
        axes[0].legend()
    for ax, k in zip(axes[1:], val_keys):
        pts = [(int(r["step"]), float(r[k])) for r in rows if r.get(k)]
        ax.plot(*zip(*pts), "o-")
        ax.set_title(k)
        ax.set_xlabel("step")
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)


class LossCurves(L.Callback):
    """After each validation, redraw ``curves.png`` from the CSV log (the family says which losses)."""

    def __init__(self, out: Path, keys: list[str]):
        self.out, self.keys = Path(out), keys

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking or trainer.logger is None:
            return
        trainer.logger.save()
        rows = read_metrics(Path(trainer.logger.log_dir).parent.parent)
        if rows:
            plot_curves(rows, self.out / "curves.png", self.keys)
