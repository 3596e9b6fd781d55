"""The README's comparison picture: gray input | every shipped model | truth, on evaluation photos and on
genuine old photos (no truth there).

Usage: python benchmarks/comparison_picture.py --photo ../shared/data/bsds300/12084.png ... \
           --old ../shared/data/historical/1907Cowboys.jpg ... --out docs/comparison.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from chromatize.evaluate.report import sample_grid
from chromatize.evaluate.run import gray_of
from chromatize.imageio import open_image
from chromatize.inference import colorize, load_model, shipped_models


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", action="append", default=[], help="colour photo (its gray version is coloured)")
    ap.add_argument("--old", action="append", default=[], help="genuine old photo (coloured as it is)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tile", type=int, default=180)
    a = ap.parse_args()
    names = list(shipped_models())
    models = [load_model(n) for n in names]
    cols: list[list[Image.Image]] = [[] for _ in range(len(names) + 2)]
    for path in a.photo + a.old:
        img = open_image(path).convert("RGB")
        src = gray_of(img) if path in a.photo else img
        cols[0].append(src.convert("L").convert("RGB"))
        for j, m in enumerate(models):
            cols[j + 1].append(colorize(src, m))
        cols[-1].append(img if path in a.photo else Image.new("RGB", img.size, "white"))
    grid = sample_grid(cols, tile=a.tile, labels=["gray input", *names, "truth"])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    grid.save(a.out, quality=85)
    print(f"{a.out}: {grid.width}x{grid.height}")


if __name__ == "__main__":
    main()
