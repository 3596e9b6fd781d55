"""The README's colour-hint picture: gray | automatic | points drawn | result (| truth), one row per photo.

    python benchmarks/hints_picture.py --truth ../shared/data/kodak24/kodim05.png --points 10 \
        --old ../shared/data/historical/1864UnionSoldier.jpg "0.745,0.67,#27324f" "0.78,0.745,#6f86a8" \
        --out docs/hints.jpg

A ``--truth`` photo gets ``--points`` simulated points drawn from it (the benchmark's user) and a truth
column; an ``--old`` photo takes the points given after it (X,Y,COLOUR as for ``--hint``).
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from chromatize.evaluate.hints_bench import simulated_points
from chromatize.evaluate.report import with_header
from chromatize.hints import Hint, HintSet
from chromatize.inference import analyse, load_model

TILE = 300


def tile(img: Image.Image) -> Image.Image:
    img = img.convert("RGB")
    img.thumbnail((TILE, TILE))
    out = Image.new("RGB", (TILE, TILE), "white")
    out.paste(img, ((TILE - img.width) // 2, (TILE - img.height) // 2))
    return out


def draw_points(img: Image.Image, points: list[Hint]) -> Image.Image:
    out = img.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    r = max(4, max(out.size) // 90)
    for p in points:
        x, y = p.position(*out.size)
        d.ellipse((x - r, y - r, x + r, y + r), fill=p.colour, outline="white", width=max(1, r // 3))
    return out


def row(img: Image.Image, points: list[Hint], model, truth: Image.Image | None) -> list[Image.Image]:
    view = analyse(img, model)
    gray = img.convert("L").convert("RGB")
    cells = [gray, view.image(), draw_points(gray, points), view.image(hints=HintSet(points))]
    return [tile(c) for c in cells + ([truth] if truth is not None else [Image.new("RGB", (1, 1), "white")])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--truth", action="append", default=[], help="a colour photo (simulated points from it)")
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--old", nargs="+", action="append", default=[], help="PHOTO X,Y,COLOUR ...")
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    m = load_model(a.model)
    rows = []
    for k, path in enumerate(a.truth):
        truth = Image.open(path).convert("RGB")
        rows.append(row(truth, simulated_points(np.asarray(truth), a.points, k), m, truth))
    for photo, *pts in a.old:
        rows.append(row(Image.open(photo), [Hint.parse(p) for p in pts], m, None))
    grid = Image.new("RGB", (TILE * 5, TILE * len(rows)), "white")
    for i, cells in enumerate(rows):
        for j, c in enumerate(cells):
            grid.paste(c, (j * TILE, i * TILE))
    grid = with_header(grid, ["gray input", "automatic", "points", "with the points", "truth"])
    grid.save(a.out, quality=88)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
