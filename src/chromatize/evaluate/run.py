"""Metrics of models against colour truth, through the same inference path users get."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ChromatizeError, ImageReadError
from ..imageio import atomic_write, atomic_write_text, is_grayscale, open_image
from ..metrics import (
    HUE_FAMILIES,
    AucAccumulator,
    chroma_scale,
    colourfulness,
    histogram_intersection,
    hue_counts,
    hue_shares,
    lab_ab,
    psnr,
    rgb_distance,
    ssim,
)
from .report import sample_grid

GRAY = "gray"
HUE_NAMES = list(HUE_FAMILIES)


def load_truth(data: str | Path, limit: int | None, seed: int) -> tuple[list[tuple[str, Image.Image]], int, int]:
    """Colour truth images from a folder, a tar shard or a prepared folder's val split (its cache):
    (images, skipped grayscale, unreadable)."""
    from ..data.datasets import is_prepared, load_cache
    from ..data.prepare import iter_source

    if is_prepared(data):
        arr = load_cache(data, "val")
        idx = list(range(len(arr)))
        if limit is not None and limit < len(idx):
            idx = sorted(random.Random(seed).sample(idx, limit))
        return [(f"val/{i}", Image.fromarray(np.asarray(arr[i]))) for i in idx], 0, 0

    entries = list(iter_source(Path(data), Path(data).name))
    if not entries:
        raise ChromatizeError(f"{data}: no images found")
    if limit is not None and limit < len(entries):
        entries = sorted(random.Random(seed).sample(entries, limit), key=lambda e: e.id)
    out, gray, bad = [], 0, 0
    for e in entries:
        try:
            img = open_image(e.data, name=e.id)
        except ImageReadError:
            bad += 1
            continue
        if is_grayscale(img):
            gray += 1
            continue
        out.append((e.id, img.convert("RGB")))
    return out, gray, bad


def gray_of(img: Image.Image) -> Image.Image:
    """The truth's lightness as an RGB image without chroma (the 'gray' baseline and the model input)."""
    from ..photo import compose, prepare_input

    p = prepare_input(img)
    import torch

    return compose(p, torch.zeros(1, 2, 1, 1), "lab")


def score(preds: list[np.ndarray], truths: list[np.ndarray], gray_psnr: list[float] | None = None) -> dict:
    """All set-level metrics of predictions against truths (8-bit RGB arrays).

    ``gray_psnr``: per-image PSNR of the gray input, for the share of images a model makes worse.
    """
    acc = AucAccumulator()
    pa, ta, scales = [], [], []
    hp, ht = np.zeros(len(HUE_NAMES), np.int64), np.zeros(len(HUE_NAMES), np.int64)
    for p, t in zip(preds, truths):
        a, b = lab_ab(p), lab_ab(t)
        acc.add(a, b)
        hp += hue_counts(a)
        ht += hue_counts(b)
        pa.append(a)
        ta.append(b)
        scales.append(chroma_scale(a, b))
    cfs = [colourfulness(p) for p in preds]
    cf_p, cf_t = np.mean(cfs), np.mean([colourfulness(t) for t in truths])
    psnrs = [psnr(p, t) for p, t in zip(preds, truths)]
    hue_p, hue_t = hue_shares(hp), hue_shares(ht)
    coloured = [s for s in scales if np.isfinite(s)]  # a colourless prediction (gray) has no scale
    below = None if gray_psnr is None else float(100 * np.mean([a < g for a, g in zip(psnrs, gray_psnr)]))
    return {
        "psnr": float(np.mean(psnrs)),
        "psnr_per_image": [round(v, 3) for v in psnrs],
        "below_gray_psnr_pct": below,
        "chroma_scale_median": float(np.median(coloured)) if coloured else None,
        "opposed_pct": float(100 * np.mean([s <= 0 for s in coloured])) if coloured else None,
        "hue_shares": hue_p,
        "hue_shares_truth": hue_t,
        "hue_gap_max": max(abs(hue_p[k] - hue_t[k]) for k in hue_p),
        "ssim": float(np.mean([ssim(p, t) for p, t in zip(preds, truths)])),
        "auc": acc.auc(False),
        "auc_rebalanced": acc.auc(True),
        "colourfulness": float(cf_p),
        "colourfulness_ratio": float(cf_p / max(cf_t, 1e-9)),
        "hist_intersection": histogram_intersection(pa, ta),
        "rgb_distance": float(np.mean([rgb_distance(p, t) for p, t in zip(preds, truths)])),
        "colourfulness_per_image": [round(c, 3) for c in cfs],
        "auc_curve": acc.curve(False).round(5).tolist(),
        "auc_curve_rebalanced": acc.curve(True).round(5).tolist(),
    }


def evaluate(
    data: str | Path,
    models: list[str] | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    render_size: int | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    engine: str = "torch",
    **decoding,
) -> dict:
    """Score every model (default: all shipped) and the gray baseline; write metrics.json/csv and a grid.

    ``decoding`` (e.g. ``temperature``) overrides the model cards' values for every model whose family
    declares it; the others keep their card's, and ``notes`` in the result say so. A knob that no model
    evaluated declares is an error.
    """
    from rich.progress import Progress

    from ..inference import colorize_many, load_model, shipped_models

    names = models or list(shipped_models())
    ms = [load_model(n, engine=engine) for n in names]  # fail on a bad name before the long work
    decoding = {k: v for k, v in decoding.items() if v is not None}
    per_model, notes = applicable_decoding(names, ms, decoding)
    truth, n_gray, n_bad = load_truth(data, limit, seed)
    if not truth:
        raise ChromatizeError(f"{data}: no colour images to evaluate")
    truths = [np.asarray(t) for _, t in truth]
    pick = sorted({i * len(truth) // 8 for i in range(8)})  # spread over the set (ids sort by class)
    rows, samples = {}, {"truth": [truth[i][1] for i in pick]}
    grays = [gray_of(t) for _, t in truth]
    rows[GRAY] = score([np.asarray(g) for g in grays], truths)
    gray_psnr = rows[GRAY]["psnr_per_image"]
    samples[GRAY] = [grays[i] for i in pick]
    with Progress(disable=not progress, transient=True) as bar:
        for name, m, opts in zip(names, ms, per_model):
            task = bar.add_task(f"evaluating {name}", total=len(truth))
            t0 = time.perf_counter()
            preds = []
            for k in range(0, len(truth), 64):
                preds += colorize_many(
                    [t for _, t in truth[k : k + 64]], m, render_size=render_size, batch_size=64, **opts
                )
                bar.update(task, advance=len(truth[k : k + 64]))
            secs = time.perf_counter() - t0
            rows[name] = {
                **score([np.asarray(p.convert("RGB")) for p in preds], truths, gray_psnr),
                "images_per_s": len(truth) / secs,
                "engine": m.engine,
                "decoding": opts,
                "render_size": render_size or m.render_size,
            }
            samples[name] = [preds[i] for i in pick]
    result = {
        "data": str(data),
        "images": len(truth),
        "skipped_grayscale": n_gray,
        "unreadable": n_bad,
        "limit": limit,
        "seed": seed,
        "render_size": render_size,
        "notes": notes,
        "models": rows,
    }
    if out is not None:
        write_outputs({**result, "_truth_images": truths}, samples, Path(out))
    return result


def applicable_decoding(names: list[str], ms: list, decoding: dict) -> tuple[list[dict], list[str]]:
    """Per model, its complete decoding values with the ``decoding`` overrides its family declares; and
    a note for each model a knob was not applied to. A knob no model declares raises ChromatizeError."""
    per, notes = [], []
    for name, m in zip(names, ms):
        mine = {k: v for k, v in decoding.items() if k in m.family.decoding}
        per.append(m.decoding_for(mine))
        skipped = sorted(set(decoding) - set(mine))
        if skipped:
            notes.append(f"{name} ({m.card.family}) has no {', '.join(skipped)}: evaluated with its card's decoding")
    unused = [k for k in decoding if not any(k in m.family.decoding for m in ms)]
    if unused:
        raise ChromatizeError(f"no model evaluated takes the decoding option {unused[0]!r}")
    return per, notes


# metric keys (metrics.json/csv, in this order) and their short column heads in the HTML report
LABELS = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    "auc": "AuC",
    "auc_rebalanced": "AuC re-bal.",
    "colourfulness": "colour",
    "colourfulness_ratio": "colour ratio",
    "hist_intersection": "hist",
    "rgb_distance": "RGB dist.",
    "below_gray_psnr_pct": "below gray %",
    "opposed_pct": "opposed %",
    "chroma_scale_median": "chroma scale",
    "hue_gap_max": "hue gap",
    "images_per_s": "img/s",
}
COLUMNS = list(LABELS)


def cell(r: dict, key: str, fmt: str) -> str:
    """One metric formatted for a table; blank where a row has none (the gray row: below-gray share, chroma scale)."""
    return "" if r.get(key) is None else format(r[key], fmt)


def write_outputs(result: dict, samples: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out / "metrics.json", json.dumps({k: v for k, v in result.items() if k != "_truth_images"}, indent=2)
    )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", *COLUMNS])
    for name, r in result["models"].items():
        w.writerow([name, *[cell(r, c, ".4f") for c in COLUMNS]])
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    cols = [GRAY] + [k for k in samples if k not in (GRAY, "truth")] + ["truth"]
    grid = sample_grid([samples[c] for c in cols], labels=cols)
    atomic_write(out / "samples.png", lambda tmp: grid.save(tmp, format="PNG"))
    atomic_write_text(out / "report.html", html_report(result, grid, cols))


def html_report(result: dict, grid: Image.Image, cols: list[str]) -> str:
    from . import report

    models = result["models"]
    rows = [
        {
            "cls": "gray" if name == GRAY else "",
            "cells": [name] + [cell(r, c, ".3f") for c in COLUMNS],
        }
        for name, r in models.items()
    ]
    truth_cf = [colourfulness(np.asarray(t)) for t in result.get("_truth_images", [])]
    sections = [
        {
            "title": "Metrics",
            "table": {"header": ["model", *(LABELS[c] for c in COLUMNS)], "rows": rows},
            "note": "PSNR/SSIM on 8-bit RGB; AuC of per-pixel CIELAB ab error (thresholds 0..150, x100), raw and "
            "re-balanced by inverse ab-bin frequency (Zhang et al. 2016); colourfulness after Hasler and "
            "Suesstrunk 2003, ratio to the truth's; hist = intersection of ab histograms; RGB distance "
            "= mean Euclidean pixel error on 0-255; below gray % = share of images whose PSNR is below the "
            "gray input's; opposed % = share of images whose predicted colour points away from the truth's "
            "(least-squares chroma scale <= 0: no saturation setting lifts them above gray); chroma scale "
            "= median of that per-image factor (1 = right strength, < 1 too strong for the error, below "
            "1/2 an image falls below gray); hue gap = largest gap (points) "
            "between prediction and truth in the share of coloured pixels (C* > 10) per hue family. "
            "gray = the input's lightness alone.",
            "images": [],
        },
        {
            "title": "Hue balance",
            "table": hue_table(models),
            "images": [],
            "note": "Percent of coloured pixels (CIELAB C* > 10) in each hue family: red-magenta 315-50 deg, "
            "orange-yellow 50-110, green 110-180, cyan-blue 180-315.",
        },
        {
            "title": "Samples",
            "note": " | ".join(cols),
            "table": None,
            "images": [{"alt": "samples: " + " | ".join(cols), "data": report.png_b64(grid)}],
        },
        {
            "title": "AuC curves",
            "note": "",
            "table": None,
            "images": [{"alt": "cumulative ab error curves", "data": report.auc_plot(models)}],
        },
    ]
    if truth_cf:
        sections.append(
            {
                "title": "Colourfulness per image",
                "note": "",
                "table": None,
                "images": [{"alt": "colourfulness histograms", "data": report.colourfulness_plot(models, truth_cf)}],
            }
        )
    summary = (
        f"{result['images']} colour images from {result['data']} ({result['skipped_grayscale']} grayscale "
        f"truth images skipped, {result['unreadable']} unreadable); "
        + (f"a seeded sample (--limit {result['limit']}, seed {result['seed']})" if result["limit"] else "every image")
        + f", render size {result['render_size'] or 'each model card'}."
    )
    return report.render(str(result["data"]), summary, sections)


def hue_table(models: dict) -> dict:
    header = ["model", *HUE_NAMES, "largest gap"]
    first = next(iter(models.values()))
    rows = [{"cls": "gray", "cells": ["truth", *[f"{first['hue_shares_truth'][h]:.1f}" for h in HUE_NAMES], ""]}]
    for name, r in models.items():
        rows.append(
            {
                "cls": "gray" if name == GRAY else "",
                "cells": [name, *[f"{r['hue_shares'][h]:.1f}" for h in HUE_NAMES], f"{r['hue_gap_max']:.1f}"],
            }
        )
    return {"header": header, "rows": rows}


def table(result: dict) -> str:
    """A plain-text table of the headline metrics."""
    lines = [
        f"{'model':18s} {'PSNR':>7s} {'SSIM':>6s} {'AuC':>6s} {'AuC-rb':>7s} {'colour':>7s} {'ratio':>6s} "
        f"{'hist':>5s} {'RGBdist':>8s} {'<gray%':>7s} {'opp%':>5s} {'scale':>5s} {'hue-gap':>7s}  "
        "hue shares (r-m o-y g c-b)"
    ]
    for name, r in result["models"].items():
        below = cell(r, "below_gray_psnr_pct", ".1f")
        opp, scale = cell(r, "opposed_pct", ".1f"), cell(r, "chroma_scale_median", ".2f")
        shares = " ".join(f"{r['hue_shares'][h]:.0f}" for h in HUE_NAMES)
        lines.append(
            f"{name:18s} {r['psnr']:7.2f} {r['ssim']:6.3f} {r['auc']:6.2f} {r['auc_rebalanced']:7.2f} "
            f"{r['colourfulness']:7.2f} {r['colourfulness_ratio']:6.3f} {r['hist_intersection']:5.3f} "
            f"{r['rgb_distance']:8.2f} {below:>7s} {opp:>5s} {scale:>5s} {r['hue_gap_max']:7.1f}  {shares}"
        )
    first = next(iter(result["models"].values()))
    lines.append(f"{'truth':18s} {'':>82s}  " + " ".join(f"{first['hue_shares_truth'][h]:.0f}" for h in HUE_NAMES))
    return "\n".join(lines)
