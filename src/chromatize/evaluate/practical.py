"""`chromatize evaluate --practical`: medical, astronomical, everyday and historical-looking pictures.

The original design warned that some "colour" pictures in these domains are not real colour (stains,
false colour). Each input is flagged from its pixels alone (never its name):
- ``already colour``: it has chroma (it is coloured again from its lightness, and scored against itself);
- single-hue tint: the chroma-weighted circular spread of hue is under 7 degrees (sepia, a filter, a
  fundus photo): the colour is a tint, not the scene's;
- colour on a black background: most pixels near black, the rest saturated (astronomical false colour);
- coloured structures on a bright colourless background (stained microscopy).
Metrics are computed only where the input has colour that is not flagged as false.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..imageio import IMAGE_SUFFIXES, atomic_write, atomic_write_text, is_grayscale, is_toned, open_image
from ..metrics import lab_ab

SKIMAGE_SETS = {
    "medical": ["retina", "immunohistochemistry", "microaneurysms"],
    "astronomical": ["hubble_deep_field", "moon"],
    "everyday": ["astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle"],
    "historical-looking": ["camera"],
}


def skimage_images() -> list[tuple[str, str, Image.Image]]:
    """(category, name, image) for the scikit-image samples that load here (some are fetched on demand)."""
    import skimage.data as d

    out = []
    for cat, names in SKIMAGE_SETS.items():
        for n in names:
            try:
                a = getattr(d, n)()
            except Exception:  # noqa: BLE001 - a sample that needs a download offline is skipped
                continue
            a = a[0] if isinstance(a, tuple) else a
            out.append((cat, n, Image.fromarray(np.asarray(a))))
    return out


TONED = "toned print (one tint; coloured from its lightness, not scored against the tint)"
TINT = "single-hue tint (sepia, stain or filter): colour is not the scene's"
FALSE_DARK = "colour on a black background (astronomical false colour likely)"
STAIN = "coloured structures on a bright colourless background (stain / microscopy likely)"


def colour_flags(img: Image.Image) -> list[str]:
    """Flags computed from the pixels (see the module docstring); thresholds set on the scikit-image
    samples and the historical photos, so they are heuristics, not classifiers."""
    if is_grayscale(img):
        return []
    if is_toned(img, gray=False):  # sepia and the like: not colours, so not a truth to score against
        return [TONED]
    flags = ["already colour"]
    rgb = img.convert("RGB")
    if max(rgb.size) > 256:
        rgb.thumbnail((256, 256))
    a = np.asarray(rgb)
    ab = lab_ab(a)
    chroma = np.hypot(ab[..., 0], ab[..., 1])
    lstar = np.asarray(rgb.convert("L"), np.float32) / 2.55
    chromatic = chroma > 8
    if chromatic.mean() < 0.005:
        return flags
    w = chroma[chromatic]
    z = (w * np.exp(1j * np.arctan2(ab[..., 1], ab[..., 0])[chromatic])).sum() / w.sum()
    hue_spread = float(np.degrees(np.sqrt(-2 * np.log(max(abs(z), 1e-12)))))  # circular std of hue
    strong = (chroma > 15).mean()
    tint = hue_spread < 7 and chromatic.mean() > 0.3
    if tint:  # one hue everywhere (sepia, cyanotype, a filter): reported as a tint, not as a stain
        flags.append(TINT)
    if (lstar < 20).mean() > 0.6 and strong > 0.01:
        flags.append(FALSE_DARK)
    if not tint and (lstar > 80).mean() > 0.25 and strong > 0.3:
        flags.append(STAIN)
    return flags


def folder_images(name: str, path: str | Path) -> list[tuple[str, str, Image.Image]]:
    """(category, file name, image) for the readable images of a user folder (unreadable ones skipped)."""
    out = []
    for p in sorted(Path(path).rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            try:
                out.append((name, p.name, open_image(p)))
            except Exception:  # noqa: BLE001 - reported by colorize; here only pictures that open count
                continue
    return out


def run_practical(
    models: list[str] | None,
    folders: dict[str, str],
    out: str | Path,
    render_size: int | None = None,
    include_skimage: bool = True,
) -> dict:
    """Colour every practical image with every model; write practical.json, a grid PNG and report.html."""
    from ..inference import colorize, load_model, shipped_models
    from . import report
    from .report import sample_grid
    from .run import score as set_score

    names = models or list(shipped_models())
    items = skimage_images() if include_skimage else []
    for k, v in folders.items():
        items += folder_images(k, v)
    ms = [load_model(n) for n in names]
    rows, cols = [], [[] for _ in range(len(ms) + 2)]
    for cat, name, img in items:
        flags = colour_flags(img)
        gray = img.convert("L").convert("RGB")
        outs = [colorize(img, m, render_size=render_size) for m in ms]
        row = {"category": cat, "image": name, "size": list(img.size), "flags": flags, "metrics": {}}
        truthful = "already colour" in flags and len(flags) == 1
        if truthful:
            t = np.asarray(img.convert("RGB"))
            for n, o in zip(names, outs):
                r = set_score([np.asarray(o.convert("RGB"))], [t])
                row["metrics"][n] = {k: round(r[k], 3) for k in ("psnr", "auc_rebalanced", "colourfulness_ratio")}
        row["mean_chroma"] = {
            n: round(float(np.hypot(*lab_ab(np.asarray(o.convert("RGB"))).transpose(2, 0, 1)).mean()), 2)
            for n, o in zip(names, outs)
        }
        rows.append(row)
        for j, im in enumerate([gray, *outs, img]):
            cols[j].append(im)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grid = sample_grid(cols, tile=160, labels=["gray input", *[Path(n).name for n in names], "original"])
    atomic_write(out / "practical.png", lambda tmp: grid.save(tmp, format="PNG"))
    import json

    atomic_write_text(out / "practical.json", json.dumps({"models": names, "images": rows}, indent=2))
    header = (
        ["category", "image", "flags"]
        + [f"{n} PSNR / AuC-rb / colour ratio" for n in names]
        + [f"{n} mean chroma" for n in names]
    )
    trows = []
    for r in rows:
        cells = [r["category"], r["image"], "; ".join(r["flags"]) or "grayscale input"]
        for n in names:
            m = r["metrics"].get(n)
            cells.append(f"{m['psnr']:.2f} / {m['auc_rebalanced']:.1f} / {m['colourfulness_ratio']:.2f}" if m else "-")
        cells += [f"{r['mean_chroma'][n]:.1f}" for n in names]
        trows.append({"cls": "", "cells": cells})
    sections = [
        {
            "title": "Practical images",
            "table": {"header": header, "rows": trows},
            "images": [],
            "note": "Metrics only where the input has colour not flagged as a tint or false colour.",
        },
        {
            "title": "Pictures",
            "table": None,
            "note": "gray | " + " | ".join(names) + " | input",
            "images": [{"alt": "gray | " + " | ".join(names) + " | input", "data": report.png_b64(grid)}],
        },
    ]
    html = report.render("practical images", f"{len(rows)} images, models: {', '.join(names)}", sections)
    atomic_write_text(out / "report.html", html)
    return {"models": names, "images": rows}
