"""The original design's experiment: K=24 palette classification on CIFAR-10 horses (32x32).

The design labels each pixel with one of 24 k-means colours in RGB and reports pixel accuracy (59.8 %
after 100 epochs) and the mean RGB distance. Our classification family predicts chroma classes and keeps
the input's lightness, so its own `val_pixel_acc` is over a chroma-only palette (a different, harder
labelling). For a like-for-like figure this script also fits the design's palette (24 k-means colours in
RGB over the training pixels) and scores the coloured output against it: the share of pixels whose
output falls in the same RGB colour class as the truth.

Usage:
    python benchmarks/horse_experiment.py --prepared runs/horse --run runs/horse_design [--run ...]
        [--model efficientnet_unet] --out docs/horse
Writes a table (markdown) to stdout, the accuracy-per-epoch curve (PNG) and a sample grid (JPEG) under --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from chromatize.data.datasets import load_cache
from chromatize.evaluate.report import sample_grid
from chromatize.evaluate.run import gray_of, score
from chromatize.inference import colorize_many, load_model
from chromatize.training.callbacks import read_metrics


def rgb_palette(train: np.ndarray, k: int = 24, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import MiniBatchKMeans

    px = train.reshape(-1, 3).astype(np.float32)
    rng = np.random.default_rng(seed)
    px = px[rng.choice(len(px), size=min(200_000, len(px)), replace=False)]
    return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096).fit(px).cluster_centers_


def rgb_classes(imgs: np.ndarray, palette: np.ndarray) -> np.ndarray:
    x = imgs.reshape(-1, 1, 3).astype(np.float32)
    return ((x - palette[None]) ** 2).sum(-1).argmin(1).reshape(imgs.shape[:-1])


def row(name: str, preds: list[np.ndarray], truths: np.ndarray, palette: np.ndarray, gray_psnr) -> dict:
    p = np.stack(preds)
    acc = float((rgb_classes(p, palette) == rgb_classes(truths, palette)).mean())
    s = score(list(p), list(truths), gray_psnr)
    dist = float(np.sqrt(((p.astype(np.float32) - truths.astype(np.float32)) ** 2).sum(-1)).mean())
    return {
        "name": name,
        "rgb_palette_acc": 100 * acc,
        "rgb_distance": dist,
        "auc_rb": s["auc_rebalanced"],
        "colourfulness_ratio": s["colourfulness_ratio"],
        "psnr": s["psnr"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--run", action="append", default=[])
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--out", default="docs/horse")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = np.asarray(load_cache(a.prepared, "train")), np.asarray(load_cache(a.prepared, "val"))
    palette = rgb_palette(train)
    pils = [Image.fromarray(t) for t in test]
    grays = [np.asarray(gray_of(t)) for t in pils]
    g = score(grays, list(test))
    rows = [row("gray input", grays, test, palette, g["psnr_per_image"])]
    samples = {"gray": [Image.fromarray(x) for x in grays[:8]]}
    curves = {}
    for spec in a.run + a.model:
        m = load_model(spec)
        settings = [("", {})]
        if spec in a.run and "temperature" in m.family.decoding:
            settings = [(" (mode, T=0)", {"temperature": 0.0}), (" (annealed mean, T=0.38)", {"temperature": 0.38})]
        for label, dec in settings:
            preds = [np.asarray(p.convert("RGB")) for p in colorize_many(pils, m, batch_size=128, **dec)]
            r = row(Path(spec).name + label, preds, test, palette, g["psnr_per_image"])
            if spec in a.run:
                rows_csv = read_metrics(Path(spec))
                accs = [(int(x["epoch"]), float(x["val_pixel_acc"])) for x in rows_csv if x.get("val_pixel_acc")]
                curves[Path(spec).name] = accs
                r["chroma_palette_acc"] = 100 * accs[-1][1] if accs else float("nan")
            rows.append(r)
            samples[r["name"]] = [Image.fromarray(x) for x in preds[:8]]
    samples["truth"] = pils[:8]
    grid = sample_grid(list(samples.values()), tile=96, labels=list(samples))
    grid.convert("RGB").save(out / "samples.jpg", quality=85)
    if curves:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, pts in curves.items():
            ax.plot([e + 1 for e, _ in pts], [100 * v for _, v in pts], "o-", ms=3, label=name)
        ax.axhline(59.8, ls="--", c="gray", label="design (RGB palette, 100 epochs)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test pixel accuracy, chroma palette (%)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "accuracy.png", dpi=90)
    print("| model | RGB-palette acc % | chroma-palette acc % | mean RGB dist | AuC-rb | colour ratio | PSNR |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        cp = r.get("chroma_palette_acc")
        cps = f"{cp:.1f}" if cp is not None else ""
        print(
            f"| {r['name']} | {r['rgb_palette_acc']:.1f} | {cps} | {r['rgb_distance']:.1f} | {r['auc_rb']:.1f} "
            f"| {r['colourfulness_ratio']:.2f} | {r['psnr']:.2f} |"
        )


if __name__ == "__main__":
    main()
