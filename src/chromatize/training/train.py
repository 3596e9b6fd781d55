"""`chromatize train`: the driver that resolves a configuration and runs Lightning."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import color
from ..errors import ChromatizeError
from ..imageio import atomic_write_text
from ..models import FAMILIES, load_model_dir, save_model_dir

DEFAULTS = {"lr": 1e-3, "batch_size": 64, "epochs": 1, "max_steps": -1, "precision": "32", "devices": 1,
            "seed": 0, "loss": "l2", "rebalance": True, "l1_lambda": 100.0, "disc": "global", "ckpt_every": 200,
            "channels_last": True, "val_limit": 1000, "num_workers": 0, "train_limit": None, "palette_images": 2000}


def resolve_model_dir(name_or_dir: str) -> Path:
    """A shipped model name (``regression``, ``classification``, ``gan``) or a model/run folder."""
    p = Path(name_or_dir)
    if p.exists():
        return p
    shipped = Path(__file__).resolve().parent.parent / "weights" / name_or_dir
    if (shipped / "config.json").is_file():
        return shipped
    raise ChromatizeError(f"no model named {name_or_dir!r} (not a shipped model nor a folder)")


def _prepared(data: list[str], run: Path, size: int) -> Path:
    from ..data.datasets import is_prepared
    from ..data.prepare import prepare

    if len(data) == 1 and is_prepared(data[0]):
        return Path(data[0])
    target = run / "data"
    if not is_prepared(target):
        prepare(data, target, size=size, progress=False)
    return target


def fit_palette_from(root: Path, space: str, k: int, n_images: int, seed: int):
    """k-means palette over chroma pixels of up to ``n_images`` training images."""
    from ..data.datasets import load_cache
    from ..models.classification import fit_palette

    imgs = load_cache(root, "train")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(imgs), size=min(n_images, len(imgs)), replace=False))
    rgb = torch.from_numpy(np.asarray(imgs[idx])).permute(0, 3, 1, 2).float() / 255
    _, ab = color.rgb_to_lc(rgb, space)
    px = ab.permute(0, 2, 3, 1).reshape(-1, 2).numpy()
    px = px[rng.choice(len(px), size=min(200_000, len(px)), replace=False)]
    return fit_palette(px, k=min(k, len(px)), seed=seed)


def build_config(model: str, data: list[str], run: Path, color_space: str, size: int, arch: dict, train: dict) -> dict:
    if model not in FAMILIES:
        raise ChromatizeError(f"--model takes one of {', '.join(FAMILIES)}, got {model!r}")
    if color_space not in color.COLOR_SPACES:
        raise ChromatizeError(f"--color-space takes luv or lab, got {color_space!r}")
    t = {**DEFAULTS, **{k: v for k, v in train.items() if v is not None}}
    return {"family": model, "color_space": color_space, "size": size, "model": arch,
            "train": t, "data": [str(d) for d in data], "metrics": {}}


def train(model: str, data: list[str], out: str | Path, color_space: str = "luv", size: int = 64,
          arch: dict | None = None, resume: bool = False, init: str | None = None, progress: bool = True,
          **train_opts) -> dict:
    """Train one family; returns the final config (with validation metrics). See `chromatize train --help`."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from ..data.datamodule import ColorizationDataModule
    from .callbacks import AtomicCheckpointIO, LossCurves, SampleGrid, plot_curves, read_metrics
    from .modules import make_module

    run = Path(out)
    last = run / "checkpoints" / "last.ckpt"
    if resume and (run / "config.json").is_file():
        cfg = json.loads((run / "config.json").read_text())
        for k in ("epochs", "max_steps"):  # a resumed run may be given a longer budget
            if train_opts.get(k) is not None:
                cfg["train"][k] = train_opts[k]
    else:
        if resume:
            raise ChromatizeError(f"--resume: {run} holds no run to resume (no config.json)")
        cfg = build_config(model, data, run, color_space, size, dict(arch or {}), train_opts)
        cfg["train"]["init"] = init
    t = cfg["train"]
    L.seed_everything(t["seed"], workers=True, verbose=False)
    run.mkdir(parents=True, exist_ok=True)
    root = _prepared(cfg["data"], run, cfg["size"])
    init_net = None
    if t.get("init") and not (resume and last.is_file()):
        init_net, init_cfg = load_model_dir(resolve_model_dir(t["init"]))
        if init_cfg["family"] != cfg["family"]:
            raise ChromatizeError(f"--init is a {init_cfg['family']} model, but --model is {cfg['family']}")
        cfg["model"] = {**init_cfg.get("model", {}), **cfg["model"]}
        cfg["color_space"] = init_cfg["color_space"]
    module = make_module(cfg)
    fresh = not (resume and last.is_file())  # a resumed run restores palette and weights from its checkpoint
    if cfg["family"] == "classification" and init_net is None and fresh:
        from ..models.classification import draw_palette

        pal, prior = fit_palette_from(root, cfg["color_space"], module.net.k, t["palette_images"], t["seed"])
        module.net.set_palette(pal, prior)
        draw_palette(pal, prior, cfg["color_space"]).save(run / "palette.png")
    if init_net is not None:
        module.net.load_state_dict(init_net.state_dict())
    if cfg["family"] == "classification" and fresh and t["rebalance"]:
        from .modules import rebalance_weights

        module.class_weights.copy_(rebalance_weights(module.net.prior))  # from the palette just installed
    atomic_write_text(run / "config.json", json.dumps(cfg, indent=2))
    dm = ColorizationDataModule(root, cfg["color_space"], cfg["size"], t["batch_size"], t["num_workers"], t["seed"],
                                t["val_limit"], t["train_limit"])
    per_batch = 2 if cfg["family"] == "gan" else 1  # manual optimisation counts both optimiser steps
    ckpt = ModelCheckpoint(dirpath=run / "checkpoints", save_last=True, save_top_k=0,
                           every_n_train_steps=t["ckpt_every"] * per_batch)
    loggers = [CSVLogger(run, name="logs", version=0)]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(run, name="tb", version=0))
    except ImportError:
        pass
    devices = int(t["devices"])
    accel = "gpu" if torch.cuda.is_available() else "cpu"
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*Checkpoint directory.*exists and is not empty.*")
    trainer = L.Trainer(
        accelerator=accel, devices=devices, strategy="ddp" if devices > 1 else "auto",
        precision=t["precision"], max_epochs=t["epochs"] if t["max_steps"] in (-1, None) else -1,
        max_steps=(t["max_steps"] * per_batch) if t["max_steps"] not in (-1, None) else -1,
        callbacks=[ckpt, SampleGrid(run), LossCurves(run, cfg["family"] == "gan")],
        logger=loggers, plugins=[AtomicCheckpointIO()], log_every_n_steps=t.get("log_every", 10),
        enable_progress_bar=progress, enable_model_summary=False, reload_dataloaders_every_n_epochs=1,
        num_sanity_val_steps=0, deterministic=False, default_root_dir=run,
        val_check_interval=t.get("val_every"),
    )
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume and last.is_file() else None)
    trainer.save_checkpoint(last)
    if trainer.global_rank == 0:
        metrics = {k: round(float(v), 5) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
        cfg["metrics"] = {**metrics, "global_step": trainer.global_step // per_batch, "epoch": trainer.current_epoch}
        save_model_dir(module.net.float(), cfg, run)
        rows = read_metrics(run / "logs" / "version_0" / "metrics.csv")
        if rows:
            plot_curves(rows, run / "curves.png", LossCurves(run, cfg["family"] == "gan").keys)
    return cfg


def export_checkpoint(run: str | Path, dest: str | Path, half: bool = True, extra: dict | None = None) -> Path:
    """Rebuild a run's network from its last checkpoint and write it as a (fp16) model folder."""
    from .modules import make_module

    run = Path(run)
    cfg = json.loads((run / "config.json").read_text())
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    module = make_module(cfg)
    module.load_state_dict(ck["state_dict"], strict=False)
    cfg = {**cfg, **(extra or {})}
    cfg["metrics"] = {**cfg.get("metrics", {}), **(extra or {}).get("metrics", {})}
    return save_model_dir(module.net.float(), cfg, dest, half=half)
