"""A contact sheet of genuine old photos: input | output for every file of a folder, to look at.

Usage: python benchmarks/historical_sheet.py --data ../shared/data/historical --model efficientnet_unet \
           --out docs/historical.jpg [--pairs-per-row 2] [--tile 200]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from chromatize.evaluate.report import label_header
from chromatize.imageio import IMAGE_SUFFIXES, open_image
from chromatize.inference import colorize, load_model


def fit(im: Image.Image, tile: int) -> Image.Image:
    im = im.convert("RGB")
    s = tile / max(im.size)
    return im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pairs-per-row", type=int, default=2)
    ap.add_argument("--tile", type=int, default=200)
    a = ap.parse_args()
    m = load_model(a.model)
    files = sorted(p for p in Path(a.data).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    t, k = a.tile, a.pairs_per_row
    rows = (len(files) + k - 1) // k
    sheet = Image.new("RGB", (2 * k * t, rows * (t + 14)), "white")
    from PIL import ImageDraw

    d = ImageDraw.Draw(sheet)
    for i, f in enumerate(files):
        img = open_image(f)
        out = colorize(img, m)
        r, c = divmod(i, k)
        x0, y0 = 2 * c * t, r * (t + 14)
        for j, im in enumerate((img, out)):
            im = fit(im, t)
            sheet.paste(im, (x0 + j * t + (t - im.width) // 2, y0 + (t - im.height) // 2))
        d.text((x0 + 4, y0 + t), f.stem[:40], fill="black")
    head = label_header(["input", f"output ({Path(str(m.name)).name})"] * k, sheet.width)
    full = Image.new("RGB", (sheet.width, sheet.height + head.height), "white")
    full.paste(head, (0, 0))
    full.paste(sheet, (0, head.height))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    full.save(a.out, quality=82)
    print(f"{len(files)} photos -> {a.out} ({full.width}x{full.height})")


if __name__ == "__main__":
    main()
