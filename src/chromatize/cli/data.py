"""`chromatize prepare` and `chromatize palette`: data for training."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import _die, app


@app.command()
def prepare(
    sources: Annotated[list[Path], typer.Argument(help="Image folders (recursive) and/or tar shards.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for manifest.csv, prepare.json, cache/.")],
    size: Annotated[int, typer.Option(help="Working size: smaller images are dropped, the cache is SIZExSIZE.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    val: Annotated[float, typer.Option(help="Fraction for the validation split.")] = 0.05,
    test: Annotated[float, typer.Option(help="Fraction for the test split.")] = 0.05,
    split_as: Annotated[
        Optional[list[str]],
        typer.Option("--split-as", help="SPLIT for every source, or SOURCE=SPLIT for one (e.g. held_out/=test)."),
    ] = None,
    cache: Annotated[bool, typer.Option(help="Write the resized cache used by training.")] = True,
) -> None:
    """Clean, de-duplicate and split images into a manifest and a training cache.

    Example: chromatize prepare ../shared/data/tinyimagenet64/train-0*.tar -o prepared/ --size 64
    """
    from rich.console import Console

    from ..data.prepare import prepare as run_prepare
    from ..data.prepare import summary_table

    forced: dict[str, str] = {}
    for s in split_as or []:
        k, _, v = s.rpartition("=")
        forced[k.rstrip("/") if k else "*"] = v
    res = run_prepare(
        [str(s) for s in sources],
        out,
        size=size,
        seed=seed,
        fractions=(1 - val - test, val, test),
        split_as=forced,
        cache=cache,
        progress=sys.stderr.isatty(),
    )
    con = Console(soft_wrap=True)
    con.print(summary_table(res))
    bad = [r for r in res.rows if not r["split"] and not r["reason"].startswith(("duplicate", "grayscale"))]
    for r in bad[:20]:
        con.print(f"  dropped {r['id']}: {r['reason']}", markup=False, highlight=False)
    if len(bad) > 20:
        con.print(f"  ... and {len(bad) - 20} more (see {out / 'manifest.csv'})")
    con.print(f"manifest: {out / 'manifest.csv'}")


@app.command()
def palette(
    data: Annotated[list[str], typer.Option(help="A prepared folder, or image folders / tar shards (repeat).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="PNG to draw the palette into (a .json beside it).")],
    k: Annotated[int, typer.Option(help="Number of colours.")] = 24,
    color_space: Annotated[str, typer.Option(help="luv or lab.")] = "luv",
    images: Annotated[int, typer.Option(help="Training images to sample pixels from.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Compute a k-means chroma palette over training pixels and draw it.

    Example: chromatize palette --data prepared/ --k 24 -o palette.png
    """
    import tempfile

    from ..data.datasets import is_prepared
    from ..data.prepare import prepare as run_prepare
    from ..imageio import atomic_write, atomic_write_text
    from ..models.palette import chroma_pixels, draw_palette, fit_palette
    from ..training.train import train_images_fn

    if k < 2:
        _die(f"--k must be at least 2, got {k}")
    if color_space not in ("luv", "lab"):
        _die(f"--color-space takes luv or lab, got {color_space!r}")
    with tempfile.TemporaryDirectory() as tmp:
        roots = [Path(d) for d in data] if all(is_prepared(d) for d in data) else [Path(tmp)]
        if roots == [Path(tmp)]:
            run_prepare(data, tmp, size=32, fractions=(1.0, 0.0, 0.0), progress=sys.stderr.isatty())
        from rich.console import Console

        with Console(stderr=True).status(f"fitting {k} colours (k-means over {images} images)"):
            rgb = train_images_fn(roots, 32, seed)(images)
            pal, freq = fit_palette(chroma_pixels(rgb, color_space, seed=seed), k=k, seed=seed)
    img = draw_palette(pal, freq, color_space)
    atomic_write(out, lambda t: img.save(t, format="PNG"))
    atomic_write_text(
        out.with_suffix(".json"),
        json.dumps({"color_space": color_space, "palette": pal.tolist(), "frequency": freq.tolist()}, indent=2),
    )
    typer.echo(f"{len(pal)} colours -> {out}")
