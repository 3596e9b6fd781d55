"""Tune a model's inference defaults (decoding options, render size) on a carved validation split.

Never tune on held-out sets: pass a prepared folder (its ``val`` split is carved from the training data).
The chosen values are written into the model card, the home of a trained model's chosen values (the
family's spec declares the knobs, their ranges and their untrained defaults).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ChromatizeError

# what "good colour" means here: vivid and accurate at once (the pretrained-model issue's bar)
PSNR_GAIN_MIN = 0.5
COLOURFULNESS_RANGE = (0.8, 1.1)


def violation(r: dict, g: dict) -> float:
    """How far a result is from the bar (0 = meets it): PSNR gain and colourfulness ratio."""
    v = max(0.0, PSNR_GAIN_MIN - (r["psnr"] - g["psnr"]))
    lo, hi = COLOURFULNESS_RANGE
    v += 5 * max(0.0, lo - r["colourfulness_ratio"], r["colourfulness_ratio"] - hi)
    return v


def choose(rows: list[dict]) -> dict:
    """The setting with the highest re-balanced AuC among those that meet the bar, else the nearest to it."""
    ok = [r for r in rows if r["violation"] == 0]
    if ok:
        return max(ok, key=lambda r: r["auc_rebalanced_gain"])
    return min(rows, key=lambda r: (r["violation"], -r["auc_rebalanced_gain"]))


def tune(
    model: str | Path,
    data: list[str],
    grid: dict[str, list[Any]],
    render_sizes: list[int] | None = None,
    *,
    limit: int | None = 1000,
    progress: bool = False,
    flips: tuple[bool, ...] = (False,),
) -> tuple[list[dict], dict]:
    """Score every combination of ``grid`` (decoding options) x ``render_sizes`` x ``flips`` (mirror
    averaging off/on) on the val splits of ``data`` (prepared folders); returns (rows, chosen row).

    ``grid`` values are checked by the model family's spec (strings are converted); a knob not in the
    grid keeps the card's value; ``render_sizes`` None: the card's."""
    from rich.progress import Progress

    from ..data.datasets import is_prepared
    from ..inference import analyse, load_model
    from .run import gray_of, load_truth, score

    bad = [d for d in data if not is_prepared(d)]
    if bad:
        raise ChromatizeError(f"{bad[0]}: tune on a prepared folder (its val split is carved from training data)")
    m = load_model(model)
    grid = {k: [m.decoding_for({k: v})[k] for v in vals] for k, vals in grid.items()}  # checked once, here
    render_sizes = [m.render_size_for(r) for r in (render_sizes or [None])]
    truth = []
    for d in data:
        t, _, _ = load_truth(d, None if limit is None else max(1, limit // len(data)), 0)
        truth += t
    truths = [np.asarray(t) for _, t in truth]
    g = score([np.asarray(gray_of(t)) for _, t in truth], truths)
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] or [{}]
    rows = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("tuning", total=len(truth) * len(render_sizes) * len(flips))
        for rs, fl in itertools.product(render_sizes, flips):
            preds: list[list[np.ndarray]] = [[] for _ in combos]
            for _, im in truth:  # the network runs once per image, render size and flip; decodings are views
                view = analyse(im, m, render_size=rs, flip=fl)  # the card's values; combos override them
                for k, opts in enumerate(combos):
                    preds[k].append(np.asarray(view.image(**opts).convert("RGB")))
                bar.advance(task)
            for opts, pr in zip(combos, preds):
                r = score(pr, truths, g["psnr_per_image"])
                rows.append(
                    {
                        **m.defaults,
                        **opts,
                        "render_size": rs,
                        "flip_average": fl,
                        "psnr_gain": r["psnr"] - g["psnr"],
                        "auc_rebalanced_gain": r["auc_rebalanced"] - g["auc_rebalanced"],
                        "colourfulness_ratio": r["colourfulness_ratio"],
                        "hue_gap_max": r["hue_gap_max"],
                        "below_gray_psnr_pct": r["below_gray_psnr_pct"],
                        "opposed_pct": r["opposed_pct"],
                        "violation": violation(r, g),
                        "images": len(truth),
                    }
                )
    return rows, choose(rows)


def write_choice(model_dir: str | Path, chosen: dict, data_names: list[str]) -> None:
    """Store the chosen defaults in the model card, with the figures that chose them."""
    from ..models.card import ModelCard
    from ..models.store import CONFIG

    path = Path(model_dir) / CONFIG
    card = ModelCard.read(path)
    fam = card.family_obj
    card.inference = {
        **card.inference,
        **{k: chosen[k] for k in fam.decoding if k in chosen},
        "render_size": int(chosen["render_size"]),
        "flip_average": bool(chosen.get("flip_average", False)),
    }
    card.metrics["carved_val_tuning"] = {
        "data": ", ".join(data_names),
        "images": chosen["images"],
        **{
            k: round(float(chosen[k]), 4)
            for k in ("psnr_gain", "auc_rebalanced_gain", "colourfulness_ratio", "hue_gap_max", "below_gray_psnr_pct")
        },
    }
    card.write(path)
