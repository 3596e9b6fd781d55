"""`chromatize evaluate`: metrics of models against colour truth, through the same inference path users get."""

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
from ..metrics import AucAccumulator, colourfulness, histogram_intersection, lab_ab, psnr, rgb_distance, ssim

GRAY = "gray"


def load_truth(data: str | Path, limit: int | None, seed: int) -> tuple[list[tuple[str, Image.Image]], int, int]:
    """Colour truth images from a folder or tar shard: (images, skipped grayscale, unreadable)."""
    from ..data.prepare import iter_source

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
    from ..inference import compose, prepare_input

    p = prepare_input(img)
    import torch

    return compose(p, torch.zeros(1, 2, 1, 1), "lab")


def score(preds: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    """All set-level metrics of predictions against truths (8-bit RGB arrays)."""
    acc = AucAccumulator()
    pa, ta = [], []
    for p, t in zip(preds, truths):
        a, b = lab_ab(p), lab_ab(t)
        acc.add(a, b)
        pa.append(a)
        ta.append(b)
    cf_p = np.mean([colourfulness(p) for p in preds])
    cf_t = np.mean([colourfulness(t) for t in truths])
    return {"psnr": float(np.mean([psnr(p, t) for p, t in zip(preds, truths)])),
            "ssim": float(np.mean([ssim(p, t) for p, t in zip(preds, truths)])),
            "auc": acc.auc(False), "auc_rebalanced": acc.auc(True),
            "colourfulness": float(cf_p), "colourfulness_ratio": float(cf_p / max(cf_t, 1e-9)),
            "hist_intersection": histogram_intersection(pa, ta),
            "rgb_distance": float(np.mean([rgb_distance(p, t) for p, t in zip(preds, truths)])),
            "auc_curve": acc.curve(False).round(5).tolist(), "auc_curve_rebalanced": acc.curve(True).round(5).tolist()}


def evaluate(data: str | Path, models: list[str] | None = None, limit: int | None = None, seed: int = 0,
             render_size: int | None = None, out: str | Path | None = None, temperature: float | None = None,
             progress: bool = False) -> dict:
    """Score every model (default: all shipped) and the gray baseline; write metrics.json/csv and a grid."""
    from ..inference import colorize_many, load_model, shipped_models

    names = models or list(shipped_models())
    truth, n_gray, n_bad = load_truth(data, limit, seed)
    if not truth:
        raise ChromatizeError(f"{data}: no colour images to evaluate")
    truths = [np.asarray(t) for _, t in truth]
    rows, samples = {}, {"truth": [t for _, t in truth[:8]]}
    grays = [gray_of(t) for _, t in truth]
    rows[GRAY] = score([np.asarray(g) for g in grays], truths)
    samples[GRAY] = grays[:8]
    for name in names:
        m = load_model(name)
        t0 = time.perf_counter()
        preds = []
        for k in range(0, len(truth), 256):
            preds += colorize_many([t for _, t in truth[k:k + 256]], m, temperature, render_size, batch_size=64)
        secs = time.perf_counter() - t0
        rows[name] = {**score([np.asarray(p.convert("RGB")) for p in preds], truths),
                      "images_per_s": len(truth) / secs}
        samples[name] = preds[:8]
    result = {"data": str(data), "images": len(truth), "skipped_grayscale": n_gray, "unreadable": n_bad,
              "limit": limit, "seed": seed, "render_size": render_size, "models": rows}
    if out is not None:
        write_outputs(result, samples, Path(out))
    return result


COLUMNS = ["psnr", "ssim", "auc", "auc_rebalanced", "colourfulness", "colourfulness_ratio", "hist_intersection",
           "rgb_distance", "images_per_s"]


def write_outputs(result: dict, samples: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", *COLUMNS])
    for name, r in result["models"].items():
        w.writerow([name, *[("" if r.get(c) is None else f"{r[c]:.4f}") for c in COLUMNS]])
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    cols = [GRAY] + [k for k in samples if k not in (GRAY, "truth")] + ["truth"]
    tile = 96
    grid = Image.new("RGB", (tile * len(cols), tile * len(samples["truth"])), "white")
    for j, c in enumerate(cols):
        for i, im in enumerate(samples[c]):
            grid.paste(im.convert("RGB").resize((tile, tile), Image.LANCZOS), (j * tile, i * tile))
    atomic_write(out / "samples.png", lambda tmp: grid.save(tmp, format="PNG"))


def table(result: dict) -> str:
    """A plain-text table of the headline metrics."""
    lines = [f"{'model':16s} {'PSNR':>7s} {'SSIM':>6s} {'AuC':>6s} {'AuC-rb':>7s} {'colour':>7s} {'ratio':>6s} "
             f"{'hist':>5s} {'RGBdist':>8s}"]
    for name, r in result["models"].items():
        lines.append(f"{name:16s} {r['psnr']:7.2f} {r['ssim']:6.3f} {r['auc']:6.2f} {r['auc_rebalanced']:7.2f} "
                     f"{r['colourfulness']:7.2f} {r['colourfulness_ratio']:6.3f} {r['hist_intersection']:5.3f} "
                     f"{r['rgb_distance']:8.2f}")
    return "\n".join(lines)
