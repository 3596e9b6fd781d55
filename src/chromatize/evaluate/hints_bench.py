"""The colour-hint benchmark: a simulated user gives N points (or a reference photo), against the truth.

Points follow Zhang et al. 2017 ("Real-Time User-Guided Image Colorization with Learned Deep Priors"):
positions from a 2-D Gaussian centred on the image (standard deviation a quarter of each side, clipped
inside), patch sizes drawn uniformly from 1 to 9 pixels, the colour the patch's mean (what an eyedropper
gives). The points of each image come from one seeded draw, so the first N of N=20 are those of N=10.
The network runs once per image; every N is a view of that run. The reference protocol colours the
right 60 % of each photo with the left 40 % (the same scene elsewhere in the frame) as the reference.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ChromatizeError
from ..hints import Hint, HintSet
from ..imageio import atomic_write_text
from .run import GRAY, HUE_NAMES, cell, gray_of, load_truth, score

POINTS = (0, 1, 2, 5, 10, 20, 50)
REFERENCE_SHARE = 0.4  # the reference protocol's left strip


def simulated_points(truth: np.ndarray, n: int, seed: int) -> list[Hint]:
    """``n`` hint points drawn from the truth ``[H,W,3]`` (uint8) as Zhang et al. 2017's simulated user."""
    rng = np.random.default_rng(seed)
    h, w = truth.shape[:2]
    out = []
    for _ in range(n):
        y = int(np.clip(rng.normal(h / 2, h / 4), 0, h - 1))
        x = int(np.clip(rng.normal(w / 2, w / 4), 0, w - 1))
        p = int(rng.integers(1, 10))
        y0, x0 = max(0, y - p // 2), max(0, x - p // 2)
        patch = truth[y0 : y0 + p, x0 : x0 + p].reshape(-1, 3).mean(0)
        colour = "#" + "".join(f"{int(round(v)):02x}" for v in patch)
        out.append(Hint(x, y, colour, radius=p / 2))
    return out


def parse_points(text: str) -> list[int]:
    """``0,1,2,5`` -> [0, 1, 2, 5]; one-line error otherwise."""
    try:
        vals = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ChromatizeError(f"--hints takes comma-separated point counts such as 0,1,5,10, got {text!r}") from None
    if not vals or vals[0] < 0 or vals[-1] > 1000:
        raise ChromatizeError(f"--hints takes point counts from 0 to 1000, got {text!r}")
    return vals


def hint_benchmark(
    data: str | Path,
    model: str | None = None,
    *,
    points: tuple[int, ...] | list[int] = POINTS,
    reference: bool = False,
    limit: int | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Score ``model`` with N simulated points for every N in ``points`` (and with ``reference``, the
    reference protocol) on the colour truth of ``data``; writes hints.json and a report to ``out``."""
    from rich.progress import Progress

    from ..inference import analyse, load_model

    m = load_model(model)
    truth, n_gray, n_bad = load_truth(data, limit, seed)
    if not truth:
        raise ChromatizeError(f"{data}: no colour images to evaluate")
    arrays = [np.asarray(t) for _, t in truth]
    preds: dict[str, list[np.ndarray]] = {f"{n} points": [] for n in points}
    ref_rows: dict[str, list[np.ndarray]] = {"automatic": [], "reference": []}
    ref_truth = []
    t0 = time.perf_counter()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("hint benchmark", total=len(truth))
        for k, ((_, img), arr) in enumerate(zip(truth, arrays)):
            view = analyse(img, m)  # the network runs once per image (on the truth's lightness, as evaluate)
            draw = simulated_points(arr, max(points), seed * 100_003 + k)
            for n in points:
                res = view.image(hints=HintSet(draw[:n])) if n else view.image()
                preds[f"{n} points"].append(np.asarray(res.convert("RGB")))
            if reference:
                w = arr.shape[1]
                cut = max(1, int(round(w * REFERENCE_SHARE)))
                ref, rest = img.crop((0, 0, cut, img.height)), img.crop((cut, 0, w, img.height))
                rv = analyse(rest, m)
                ref_rows["automatic"].append(np.asarray(rv.image().convert("RGB")))
                ref_rows["reference"].append(np.asarray(rv.image(hints=HintSet(reference=ref)).convert("RGB")))
                ref_truth.append(np.asarray(rest))
            bar.advance(task)
    secs = time.perf_counter() - t0
    rows = {GRAY: score([np.asarray(gray_of(t)) for _, t in truth], arrays)}
    gray_psnr = rows[GRAY]["psnr_per_image"]
    for name, pr in preds.items():
        rows[name] = score(pr, arrays, gray_psnr)
    result = {
        "data": str(data),
        "model": m.name,
        "images": len(truth),
        "skipped_grayscale": n_gray,
        "unreadable": n_bad,
        "limit": limit,
        "seed": seed,
        "points": list(points),
        "seconds": round(secs, 1),
        "rows": rows,
    }
    if reference:
        g = score([np.asarray(gray_of(Image.fromarray(t))) for t in ref_truth], ref_truth)
        result["reference"] = {
            GRAY: g,
            **{k: score(v, ref_truth, g["psnr_per_image"]) for k, v in ref_rows.items()},
        }
    if out is not None:
        write_hint_outputs(result, Path(out))
    return result


KEYS = ("psnr", "auc_rebalanced", "colourfulness_ratio", "below_gray_psnr_pct", "hue_gap_max")


def _slim(rows: dict) -> dict:
    return {name: {k: r.get(k) for k in (*KEYS, "hue_shares", "hue_shares_truth")} for name, r in rows.items()}


def gain_cells(r: dict, g: dict) -> list[str]:
    """One row's PSNR, its gain, re-balanced AuC, its gain, colour ratio and below-gray share, formatted
    (the text table and the report both show these)."""
    return [
        f"{r['psnr']:.2f}",
        f"{r['psnr'] - g['psnr']:+.2f}",
        f"{r['auc_rebalanced']:.2f}",
        f"{r['auc_rebalanced'] - g['auc_rebalanced']:+.2f}",
        f"{r['colourfulness_ratio']:.2f}",
        cell(r, "below_gray_psnr_pct", ".1f"),
    ]


WIDTHS = (7, 8, 7, 8, 7, 7)  # of the text table's gain cells


def table(result: dict) -> str:
    """Plain-text table: every row with its gain over the gray input."""
    lines = [
        f"{'':14s} {'PSNR':>7s} {'vs gray':>8s} {'AuC-rb':>7s} {'vs gray':>8s} {'colour':>7s} {'<gray%':>7s} "
        f"{'hue-gap':>7s}"
    ]
    for part in ("rows", "reference"):
        rows = result.get(part)
        if not rows:
            continue
        if part == "reference":
            lines.append(
                f"reference protocol (right {100 - REFERENCE_SHARE * 100:.0f} % coloured, left strip as reference):"
            )
        for name, r in rows.items():
            cells = " ".join(f"{c:>{w}s}" for c, w in zip(gain_cells(r, rows[GRAY]), WIDTHS))
            lines.append(f"{name:14s} {cells} {r['hue_gap_max']:7.1f}")
    return "\n".join(lines)


def psnr_plot(result: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import fig_b64

    rows = result["rows"]
    ns = result["points"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(ns, [rows[f"{n} points"]["psnr"] for n in ns], "o-", label=f"{Path(result['model']).name} + points")
    ax.axhline(rows[GRAY]["psnr"], ls="--", color="gray", label="gray input")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(-0.2 if min(ns) == 0 else min(ns) * 0.8, max(ns) * 1.15)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("simulated points N")
    ax.set_ylabel("PSNR (dB)")
    ax.legend()
    return fig_b64(fig)


def write_hint_outputs(result: dict, out: Path) -> None:
    from .report import render

    out.mkdir(parents=True, exist_ok=True)
    slim = {**result, "rows": _slim(result["rows"])}
    if "reference" in result:
        slim["reference"] = _slim(result["reference"])
    atomic_write_text(out / "hints.json", json.dumps(slim, indent=2))
    sections = []
    for part, title in (("rows", "Points"), ("reference", "Reference photo")):
        rows = result.get(part)
        if not rows:
            continue
        g = rows[GRAY]
        body = [
            {
                "cls": "gray" if name == GRAY else "",
                "cells": [name, *gain_cells(r, g), *[f"{r['hue_shares'][h]:.1f}" for h in HUE_NAMES]],
            }
            for name, r in rows.items()
        ]
        body.append(
            {"cls": "gray", "cells": ["truth", *[""] * 6, *[f"{g['hue_shares_truth'][h]:.1f}" for h in HUE_NAMES]]}
        )
        head = ["", "PSNR", "vs gray", "AuC re-bal.", "vs gray", "colour ratio", "below gray %", *HUE_NAMES]
        sections.append({"title": title, "note": "", "table": {"header": head, "rows": body}, "images": []})
    sections.insert(
        1,
        {
            "title": "PSNR against N",
            "note": "",
            "table": None,
            "images": [{"alt": "PSNR against the number of simulated points", "data": psnr_plot(result)}],
        },
    )
    summary = (
        f"{result['images']} colour images from {result['data']}, model {result['model']}, simulated points "
        f"(Zhang et al. 2017) with seed {result['seed']}; {result['seconds']} s."
    )
    html = render(str(result["data"]), summary, sections)
    atomic_write_text(out / "report.html", html)
