"""`chromatize train`: resolves a run configuration, asks the family for its network, runs Lightning.

A run folder holds ``run.json`` (the full configuration, with data paths, for ``--resume``), the model
card ``config.json`` and ``model.safetensors`` (rebuilt by `load_model`), checkpoints, logs, samples.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import color
from ..errors import ChromatizeError
from ..imageio import atomic_write_text
from ..models.card import ModelCard
from ..models.registry import get_family
from ..models.store import load_model_dir, save_model_dir
from .stage import with_stage

GENERIC = {
    "lr": 1e-3,
    "batch_size": 64,
    "epochs": 1,
    "max_steps": -1,
    "precision": "32",
    "devices": 1,
    "num_nodes": 1,
    "seed": 0,
    "ckpt_every": 200,
    "channels_last": True,
    "val_limit": 1000,
    "num_workers": 0,
    "train_limit": None,
    "log_every": 10,
    "val_every": None,
    "init": None,
    "mix": None,
    "epoch_images": None,
}
PRECISIONS = ("32", "16-mixed", "bf16-mixed")


def resolve_model_dir(name_or_dir: str) -> Path:
    """A shipped model name or a model/run folder."""
    p = Path(name_or_dir)
    if p.exists():
        return p
    shipped = Path(__file__).resolve().parent.parent / "weights" / name_or_dir
    if (shipped / "config.json").is_file():
        return shipped
    raise ChromatizeError(f"no model named {name_or_dir!r} (not a shipped model nor a folder)")


def check_generic(opts: dict[str, Any]) -> dict[str, Any]:
    """Generic training options with defaults, checked (one-line errors)."""
    unknown = sorted(set(opts) - set(GENERIC))
    if unknown:
        raise ChromatizeError(f"unknown training option {unknown[0]!r}")
    t = {**GENERIC, **{k: v for k, v in opts.items() if v is not None}}
    for k in ("lr",):
        if not (isinstance(t[k], (int, float)) and math.isfinite(t[k]) and t[k] > 0):
            raise ChromatizeError(f"--{k.replace('_', '-')} must be a positive finite number, got {t[k]!r}")
    for k in ("batch_size", "epochs", "devices", "num_nodes", "ckpt_every", "val_limit", "log_every"):
        if not isinstance(t[k], int) or t[k] < 1:
            raise ChromatizeError(f"--{k.replace('_', '-')} must be a positive integer, got {t[k]!r}")
    if t["precision"] not in PRECISIONS:
        raise ChromatizeError(f"--precision takes one of {', '.join(PRECISIONS)}, got {t['precision']!r}")
    if t["max_steps"] is not None and t["max_steps"] != -1 and t["max_steps"] < 1:
        raise ChromatizeError(f"--max-steps must be a positive integer, got {t['max_steps']!r}")
    return t


def describe_data(roots: list[Path]) -> list[dict[str, Any]]:
    """Training data by name and counts (no machine paths) for the model card."""
    out = []
    for r in roots:
        info = json.loads((r / "prepare.json").read_text())
        counts = {
            s: int(np.load(r / "cache" / f"{s}.npy", mmap_mode="r").shape[0])
            for s in ("train", "val")
            if (r / "cache" / f"{s}.npy").is_file()
        }
        sources = sorted({f"{Path(s['path']).parent.name}/{s['name']}" for s in info.get("sources", [])})
        out.append(
            {
                "sources": sources,
                "size": info["size"],
                "train_images": counts.get("train", 0),
                "carved_val_images": counts.get("val", 0),
            }
        )
    return out


def _prepared(data: list[str], run: Path, size: int) -> list[Path]:
    from ..data.datasets import is_prepared
    from ..data.prepare import prepare

    if all(is_prepared(d) for d in data):
        return [Path(d) for d in data]
    target = run / "data"
    if not is_prepared(target):
        prepare(data, target, size=size, progress=False)
    return [target]


def train_images_fn(roots: list[Path], size: int, seed: int):
    """A callable giving ``n`` RGB training images ``[n,3,size,size]`` in [0,1], drawn over all roots."""
    from ..data.datasets import load_cache

    def sample(n: int) -> torch.Tensor:
        rng = np.random.default_rng(seed)
        caches = [load_cache(r, "train") for r in roots]
        total = sum(len(c) for c in caches)
        out = []
        for c in caches:
            k = min(len(c), max(1, round(n * len(c) / max(total, 1))))
            idx = np.sort(rng.choice(len(c), size=k, replace=False))
            x = torch.from_numpy(np.asarray(c[idx])).permute(0, 3, 1, 2).float() / 255
            if x.shape[-1] != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            out.append(x)
        return torch.cat(out)

    return sample


def new_run(model: str, data: list[str], color_space: str, size: int, options: dict, train_opts: dict) -> dict:
    family = get_family(model)
    if color_space not in color.COLOR_SPACES:
        raise ChromatizeError(f"--color-space takes luv or lab, got {color_space!r}")
    generic = {k: v for k, v in train_opts.items() if k in GENERIC}
    own = {k: v for k, v in train_opts.items() if k not in GENERIC}
    t = {**check_generic(generic), **family.check_train_options(own)}
    card = ModelCard(family=model, color_space=color_space, size=size, options=family.check_options(options))
    return {"card": card.validate().to_dict(), "train": t, "data": [str(d) for d in data]}


def train(
    model: str,
    data: list[str],
    out: str | Path,
    color_space: str = "luv",
    size: int = 64,
    options: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    **train_opts,
) -> ModelCard:
    """Train one family; returns the final model card (with validation figures). See `chromatize train --help`.
    A folder that holds a run already is refused unless ``resume`` (continue it) or ``overwrite`` (start
    over in it: its checkpoints are removed)."""
    run = Path(out)
    last = run / "checkpoints" / "last.ckpt"
    first_process = all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "NODE_RANK"))
    held = (run / "run.json").is_file() or (run / "checkpoints").is_dir()
    if held and not resume and first_process:
        if not overwrite:
            raise ChromatizeError(
                f"{run} holds a training run already: --resume continues it, --overwrite starts over in it"
            )
        shutil.rmtree(run / "checkpoints", ignore_errors=True)
    if resume:
        if not (run / "run.json").is_file():
            raise ChromatizeError(f"--resume: {run} holds no run to resume (no run.json)")
        cfg = json.loads((run / "run.json").read_text())
        for k in ("epochs", "max_steps"):  # a resumed run may be given a longer budget
            if train_opts.get(k) is not None:
                cfg["train"][k] = train_opts[k]
    else:
        cfg = new_run(model, data, color_space, size, dict(options or {}), train_opts)
    fresh = not (resume and last.is_file())
    run.mkdir(parents=True, exist_ok=True)
    roots = _prepared(cfg["data"], run, cfg["card"]["size"])
    init_card, init_net = None, None
    if cfg["train"]["init"] and fresh:
        init_net, init_card = load_model_dir(resolve_model_dir(cfg["train"]["init"]))
        if init_card.family != cfg["card"]["family"]:
            raise ChromatizeError(f"--init is a {init_card.family} model, but --model is {cfg['card']['family']}")
        cfg["card"].update(options=init_card.options, color_space=init_card.color_space, inference=init_card.inference)
    if first_process:  # one writer: under torchrun every rank runs this, and the first one checks above
        atomic_write_text(run / "run.json", json.dumps(cfg, indent=2))
    return _fit(cfg, run, roots, last, fresh, init_card, init_net, progress)


@contextlib.contextmanager
def _quiet(logger: str):
    """Lightning's info messages off for the duration of a run (the level is restored afterwards)."""
    log = logging.getLogger(logger)
    old = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(old)


def _fit(cfg, run, roots, last, fresh, init_card, init_net, progress) -> ModelCard:
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from ..data.datamodule import ColorizationDataModule
    from .callbacks import (
        AtomicCheckpointIO,
        LossCurves,
        PlainProgress,
        SampleGrid,
        StepProgressBar,
        plot_curves,
        read_metrics,
    )
    from .modules import FamilyModule

    t = cfg["train"]
    L.seed_everything(t["seed"], workers=True, verbose=False)
    module = FamilyModule(cfg["card"], t)
    family, card = module.family, module.card
    if init_net is not None:
        module.net.load_state_dict(init_net.state_dict())
    elif fresh:
        family.init_training(module.net, train_images_fn(roots, card.size, t["seed"]), card.color_space, t, run)
    dm = ColorizationDataModule(
        roots,
        card.color_space,
        card.size,
        t["batch_size"],
        t["num_workers"],
        t["seed"],
        t["val_limit"],
        t["train_limit"],
        t["mix"],
        t["epoch_images"],
    )
    per_batch = 2 if family.manual_optimization else 1  # manual optimisation counts both optimiser steps
    ckpt = ModelCheckpoint(
        dirpath=run / "checkpoints", save_last=True, save_top_k=0, every_n_train_steps=t["ckpt_every"] * per_batch
    )
    # a resumed run logs into the next version folder: the earlier rows stay (read together by read_metrics)
    version = 0 if fresh else len(list((run / "logs").glob("version_*")))
    loggers = [CSVLogger(run, name="logs", version=version)]
    devices = int(t["devices"])
    accel = "gpu" if torch.cuda.is_available() else "cpu"
    with warnings.catch_warnings(), _quiet("lightning.pytorch"):
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*is deprecated.*")  # inside Lightning, not our use of it
        warnings.filterwarnings("ignore", ".*Checkpoint directory.*exists and is not empty.*")
        trainer = L.Trainer(
            accelerator=accel,
            devices=devices,
            num_nodes=int(t["num_nodes"]),
            strategy="ddp" if devices * int(t["num_nodes"]) > 1 else "auto",
            precision=t["precision"],
            max_epochs=t["epochs"] if t["max_steps"] in (-1, None) else -1,
            max_steps=(t["max_steps"] * per_batch) if t["max_steps"] not in (-1, None) else -1,
            callbacks=[ckpt, SampleGrid(run), LossCurves(run, family.curve_keys())]
            + ([StepProgressBar()] if progress else [PlainProgress()]),
            logger=loggers,
            plugins=[AtomicCheckpointIO()],
            log_every_n_steps=t["log_every"],
            enable_progress_bar=progress,
            enable_model_summary=False,
            reload_dataloaders_every_n_epochs=1,
            num_sanity_val_steps=0,
            deterministic=False,
            default_root_dir=run,
            val_check_interval=t["val_every"],
            # N batches of the whole run, not of one epoch: an N beyond an epoch's length is no error
            check_val_every_n_epoch=None if t["val_every"] else 1,
        )
        try:
            trainer.fit(module, datamodule=dm, ckpt_path=str(last) if not fresh else None, weights_only=True)
        except pickle.UnpicklingError as e:  # weights_only=True refused something that is not plain data
            raise ChromatizeError(f"{last}: refused, not a plain-data checkpoint ({str(e).splitlines()[0]})") from None
        trainer.save_checkpoint(last)
        # the card's figures are those of the final weights (also for runs shorter than an epoch)
        trainer.validate(module, datamodule=dm, verbose=False)
    if trainer.global_rank == 0:
        figures = {k[4:]: round(float(v), 5) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
        steps = trainer.global_step // per_batch
        opts = {k: v for k, v in t.items() if k not in ("init",)}
        stage = {
            "data": describe_data(roots),
            "size": card.size,
            "steps": steps,
            "epoch": trainer.current_epoch,
            "options": opts,
            "init": Path(t["init"]).name if t["init"] else None,
        }
        card.training = {"stages": list(init_card.training.get("stages", [])) if init_card else []}
        card = with_stage(card, stage)
        card.metrics = {"carved_val": {**figures, "images": len(dm.val_set)}}
        save_model_dir(module.net.float(), card, run)
        rows = read_metrics(run)
        if rows:
            plot_curves(rows, run / "curves.png", family.curve_keys())
    return card
