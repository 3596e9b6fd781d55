"""`chromatize colorize` and `chromatize demo`."""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import _die, app
from ._knobs import KnobCommand, given_knobs


@app.command(cls=KnobCommand)
def colorize(
    ctx: typer.Context,
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Image files, folders (recursive) or globs.")] = None,
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output folder (sub-folders of folder inputs mirrored).")
    ] = Path("colorized"),
    example: Annotated[
        bool, typer.Option(help="Add the bundled example photo (an 1880s print) to the inputs.")
    ] = False,
    model: Annotated[
        Optional[str], typer.Option(help="Shipped model name or model folder (default: the shipped default model).")
    ] = None,
    render_size: Annotated[
        Optional[int], typer.Option(help="Longer side the network sees (default: the model card's).")
    ] = None,
    flip: Annotated[
        Optional[bool],
        typer.Option(
            "--flip/--no-flip",
            help="Average with the mirror image's prediction (twice the network time; default: the card's).",
        ),
    ] = None,
    format: Annotated[str, typer.Option(help="png, jpg or same (as the input).")] = "png",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Images per network batch.")] = 8,
    overwrite: Annotated[
        bool, typer.Option(help="Redo outputs that exist (default: skip them, so runs resume).")
    ] = False,
    confidence: Annotated[bool, typer.Option(help="Also write <name>.confidence.png (distribution models).")] = False,
    log: Annotated[Optional[Path], typer.Option(help="Append one JSON line per file to this file.")] = None,
    max_megapixels: Annotated[float, typer.Option(help="Refuse larger images (checked before decoding).")] = 100.0,
    engine: Annotated[str, typer.Option(help="Network engine: torch (reference), openvino, or auto.")] = "torch",
    cluster: Annotated[
        Optional[str],
        typer.Option(help="Dask scheduler address (tcp://host:8786) or local[:N] worker processes (extra: cluster)."),
    ] = None,
    hint: Annotated[
        Optional[list[str]],
        typer.Option(
            help="X,Y,COLOUR[,RADIUS]: this object is this colour (repeat). Pixels, or fractions like 0.4,0.7; COLOUR #rrggbb or a CSS name."
        ),
    ] = None,
    hints: Annotated[
        Optional[Path],
        typer.Option(help="JSON file of per-image hint points (the demo's download; format in the README)."),
    ] = None,
    scribble: Annotated[
        Optional[Path], typer.Option(help="PNG of the photo's size with colours painted on transparent ground.")
    ] = None,
    reference: Annotated[Optional[Path], typer.Option(help="A colour photo whose colours to borrow.")] = None,
    sequence: Annotated[
        Optional[bool],
        typer.Option(
            "--sequence/--no-sequence",
            help="Folders of numbered frames are films (default: when they look like one scene).",
        ),
    ] = None,
    steady: Annotated[
        float, typer.Option(help="Films: frames a colour is averaged over along the motion (0: frame by frame).")
    ] = 4.0,
    quality: Annotated[int, typer.Option(help="Films: H.264 quality, 0 (best) to 51; 18 looks like the input.")] = 18,
) -> None:
    """Colour grayscale photos and films; never touches the inputs, skips finished outputs.

    Films (mp4, mov, mkv, avi, webm; folders of numbered frames) get steady colours carried along the
    motion, keep their size, timing and sound, and resume where a killed run stopped.

    Decoding knobs (--temperature, ...) apply to models whose family declares them; `chromatize models
    --families` lists each family's. Defaults come from the model card.

    Example: chromatize colorize scans/ old.jpg -o coloured/ --model classification
    Example: chromatize colorize --example -o out/
    Example: chromatize colorize photo.jpg -o out/ --hint 0.5,0.2,skyblue --hint 120,340,#8b0000
    Example: chromatize colorize newsreel.mp4 -o out/ --quality 20
    """
    from ..batch import run_batch
    from ..film_batch import split_films

    if cluster is not None:
        from ..cluster import check_address, run_on_cluster

        check_address(cluster)  # before anything is read or written

    inputs = list(inputs or [])
    if example:
        inputs.append(str(Path(__file__).resolve().parents[1] / "examples" / "brooklyn_bridge_1880s.jpg"))
    if not inputs:
        _die("give images, folders or globs to colorize (or --example)")
    if not (math.isfinite(max_megapixels) and max_megapixels > 0):
        _die(f"--max-megapixels must be a positive finite number, got {max_megapixels}")
    table = hint_table(hint, hints)
    photos, films, notes = split_films(inputs, sequence)
    for note in notes:
        typer.echo(f"note {note}", err=True)
    if films:
        if table or scribble or reference:
            _die("colour hints apply to photos; films take none yet (colour the films in a separate run)")
        done, skipped, failed = _films(
            films, out, ctx, model, render_size, flip, device, engine, steady, quality, overwrite, cluster
        )
        if not photos:
            typer.echo(f"{done} films coloured, {skipped} skipped (already done), {failed} failed -> {out}")
            raise typer.Exit(1 if failed else 0)
        typer.echo(f"{done} films coloured, {skipped} skipped, {failed} failed; now the photos", err=True)
    done, skipped, failed = run_batch(
        photos,
        out,
        model=model,
        render_size=render_size,
        decoding=given_knobs(ctx),
        fmt=format,
        device=device,
        batch_size=batch_size,
        overwrite=overwrite,
        confidence=confidence,
        log=log,
        progress=sys.stderr.isatty(),
        max_pixels=int(max_megapixels * 1e6),
        engine=engine,
        execute=None if cluster is None else functools.partial(run_on_cluster, cluster),
        flip=flip,
        hints=table,
        scribble=None if scribble is None else str(scribble),
        reference=None if reference is None else str(reference),
    )
    typer.echo(f"{done} coloured, {skipped} skipped (already done), {failed} failed -> {out}")
    if failed:
        raise typer.Exit(1)


def _films(
    films, out, ctx, model, render_size, flip, device, engine, steady, quality, overwrite, cluster
) -> tuple[int, int, int]:
    from ..film import FilmSettings
    from ..film_batch import run_films
    from ..inference import load_model

    m = load_model(model, device=device, engine=engine)
    settings = FilmSettings(
        m.render_size_for(render_size),
        m.decoding_for(given_knobs(ctx)),
        flip=flip,
        steady=steady,
        quality=quality,
    )
    settings.check()
    colour = None
    if cluster is not None:
        from ..cluster import colour_film_on_cluster

        colour = functools.partial(colour_film_on_cluster, cluster)
    return run_films(
        films,
        out,
        m,
        settings,
        overwrite=overwrite,
        progress=sys.stderr.isatty(),
        say=lambda s: typer.echo(s, err=True),
        colour=colour,
    )


def hint_table(points: list[str] | None, path: Path | None) -> dict | None:
    """``--hint`` points (for every input) and a ``--hints`` file as one plain table, checked."""
    from ..hints import Hint, read_hints_file

    table = {k: v.to_dict() for k, v in read_hints_file(path).items()} if path else {}
    if points:
        every = table.setdefault("*", {"points": []})
        every["points"] = every["points"] + [Hint.parse(p).to_dict() for p in points]
    return table or None


@app.command()
def demo(
    host: Annotated[
        str, typer.Option(help="Address to bind (keep 127.0.0.1 unless you mean to share it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    model: Annotated[Optional[list[str]], typer.Option(help="Models to offer (repeat); default: all shipped.")] = None,
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Also keep every result here (optional).")] = None,
    engine: Annotated[str, typer.Option(help="Network engine: torch (reference), openvino, or auto.")] = "torch",
) -> None:
    """Start the local web demo: upload a photo, compare models, tune vividness, download PNG.

    Example: chromatize demo --port 7860   (then open http://127.0.0.1:7860)
    """
    from ..demo import launch

    launch(host, port, model, out, engine)
