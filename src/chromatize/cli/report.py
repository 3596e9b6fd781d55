"""`chromatize models` and `chromatize evaluate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import _die, app
from ._knobs import KnobCommand, given_knobs


@app.command()
def models(
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Also write the list as JSON here.")] = None,
    families: Annotated[bool, typer.Option(help="List the model families and their options instead.")] = False,
    details: Annotated[bool, typer.Option(help="Also show each model's training data and validation figures.")] = False,
) -> None:
    """List the shipped models: size, colour space, render size, decoding values (``--details``: training
    and validation figures too).

    Example: chromatize models
    """
    if families:
        from ..models.registry import FAMILIES

        for name, fam in FAMILIES.items():
            typer.echo(f"{name}: {fam.summary}")
            for kind, spec in (
                ("option", fam.options),
                ("training option", fam.train_options),
                ("decoding", fam.decoding),
            ):
                for key, o in spec.items():
                    where = "a model's card sets its own; untrained default" if kind == "decoding" else "default"
                    typer.echo(f"    {kind} {key} ({where} {o.default}): {o.help}")
        return
    from ..shipped import card_summary, default_model_name, shipped_models

    default = default_model_name()
    rows = [{"name": n, "default": n == default, **card_summary(d)} for n, d in shipped_models().items()]
    if not rows:
        typer.echo("no shipped models are installed")
    table = [("model", "size", "space", "render", "decoding (from the card)")]
    for r in rows:
        dec = ", ".join(f"{k} {v}" for k, v in r["decoding"].items()) or "none (the network outputs chroma)"
        render = f"{r['render_size']} px" + (" + mirror" if r["flip_average"] else "")
        name = r["name"] + (" (default)" if r["default"] else "")
        table.append((name, f"{r['size_mb']:.1f} MB", r["color_space"], render, dec))
    widths = [max(len(t[i]) for t in table) for i in range(4)]
    for t in table:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(t, widths)) + "  " + t[4])
    if details:
        import textwrap

        for r in rows:
            card = r["card"]
            figs = "; ".join(
                f"{k}: " + ", ".join(f"{m}={v:.4g}" for m, v in f.items() if isinstance(v, (int, float)))
                for k, f in card.get("metrics", {}).items()
            )
            training = card.get("training", {})
            data = training.get("summary") or ", ".join(
                sorted({s for st in training.get("stages", []) for d_ in st.get("data", []) for s in d_["sources"]})
            )
            typer.echo("")
            typer.echo(textwrap.fill(f"{r['name']}: trained on {data}", 100, subsequent_indent="    "))
            typer.echo(
                textwrap.fill(
                    f"validation: {figs or 'none recorded'}", 100, initial_indent="    ", subsequent_indent="    "
                )
            )
    elif rows:
        typer.echo("(chromatize models --details: training data and validation figures)")
    if out:
        from ..imageio import atomic_write_text

        atomic_write_text(
            out, json.dumps([{k: v for k, v in r.items() if k != "card"} | r["card"] for r in rows], indent=2)
        )


@app.command(cls=KnobCommand)
def evaluate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for metrics.json/csv, samples.png, report.html.")],
    data: Annotated[
        Optional[str],
        typer.Option(help="Folder, tar shard or prepared folder (val split) of colour photos: the truth."),
    ] = None,
    practical: Annotated[
        bool, typer.Option(help="Colour the medical/astronomical/everyday/historical samples.")
    ] = False,
    folder: Annotated[
        Optional[list[str]], typer.Option(help="NAME=PATH: a folder of your own for --practical.")
    ] = None,
    model: Annotated[
        Optional[list[str]], typer.Option(help="Model name or folder (repeat); default: all shipped.")
    ] = None,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate a seeded random subset of N images.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --limit subset.")] = 0,
    render_size: Annotated[Optional[int], typer.Option(help="Render size (default: each model's).")] = None,
    engine: Annotated[str, typer.Option(help="Network engine: torch (reference), openvino, or auto.")] = "torch",
    hint_points: Annotated[
        Optional[str],
        typer.Option(help="Colour-hint benchmark: simulated user points per image, e.g. 0,1,2,5,10,20,50."),
    ] = None,
    reference_crop: Annotated[
        bool, typer.Option(help="Colour-hint benchmark: also colour each photo with a crop of itself as reference.")
    ] = False,
    video: Annotated[
        Optional[list[str]],
        typer.Option(help="Film benchmark: a colour clip (video file or folder of frames; repeat), turned gray."),
    ] = None,
    steady: Annotated[float, typer.Option(help="Film benchmark: the steady colour's frames (as colorize).")] = 4.0,
) -> None:
    """Score models against colour truth (PSNR, SSIM, AuC, colourfulness), with a gray baseline row.

    A decoding knob (--temperature, ...) applies to the models whose family declares it; the others run
    with their card's values, and the output says so.

    Example: chromatize evaluate --data ../shared/data/tinyimagenet64/val.tar --limit 2000 -o r/
    Example: chromatize evaluate --practical --folder scans=my_scans/ -o practical/
    Example: chromatize evaluate --data ../shared/data/kodak24 --hint-points 0,1,2,5,10,20,50 --reference-crop -o h/
    Example: chromatize evaluate --video ../shared/data/clips/blackswan --video ../shared/data/clips/cows -o v/
    """
    if video:
        _video_benchmark(ctx, video, model, render_size, engine, steady, limit, out)
        return
    if practical:
        from ..evaluate.practical import run_practical

        folders = {}
        for f in folder or []:
            name, sep, path = f.partition("=")
            if not sep or not Path(path).is_dir():
                _die(f"--folder takes NAME=PATH with an existing folder, got {f!r}")
            folders[name] = path
        res = run_practical(model, folders, out, render_size)
        for r in res["images"]:
            typer.echo(f"{r['category']:18s} {r['image']:28s} {'; '.join(r['flags']) or 'grayscale input'}")
        typer.echo(f"report: {out / 'report.html'}")
        return
    if not data:
        _die("give --data (colour truth) or --practical")
    if hint_points is not None or reference_crop:
        from ..evaluate.hints_bench import hint_benchmark, parse_points
        from ..evaluate.hints_bench import table as hint_table

        if model and len(model) > 1:
            _die("the colour-hint benchmark takes one --model")
        counts = parse_points(hint_points) if hint_points is not None else [0]
        res = hint_benchmark(
            data,
            model[0] if model else None,
            points=counts,
            reference=reference_crop,
            limit=limit,
            seed=seed,
            out=out,
            progress=sys.stderr.isatty(),
        )
        typer.echo(hint_table(res))
        typer.echo(f"{res['images']} images -> {out}/hints.json")
        return
    from ..evaluate.run import evaluate as run_eval
    from ..evaluate.run import table

    res = run_eval(
        data,
        model,
        limit=limit,
        seed=seed,
        render_size=render_size,
        out=out,
        progress=sys.stderr.isatty(),
        engine=engine,
        **given_knobs(ctx),
    )
    for note in res["notes"]:
        typer.echo(f"note: {note}", err=True)
    typer.echo(table(res))
    typer.echo(f"{res['images']} images ({res['skipped_grayscale']} grayscale skipped) -> {out}/metrics.json")


def _video_benchmark(ctx, clips, model, render_size, engine, steady, limit, out) -> None:
    from ..evaluate.video_bench import table, video_benchmark, write_strip
    from ..film import FilmSettings
    from ..imageio import atomic_write_text
    from ..inference import load_model

    if model and len(model) > 1:
        _die("the film benchmark takes one --model")
    for c in clips:
        if not Path(c).exists():
            _die(f"--video {c}: no such file or folder")
    m = load_model(model[0] if model else None, engine=engine)
    settings = FilmSettings(m.render_size_for(render_size), m.decoding_for(given_knobs(ctx)), steady=steady)
    settings.check()
    res = video_benchmark(clips, m, settings, limit=limit, progress=sys.stderr.isatty())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "video.json", json.dumps({k: v for k, v in res.items() if k != "strip"}, indent=1))
    text = table(res)
    atomic_write_text(out / "video.md", text + "\n")
    write_strip(res, out / "strip.jpg")
    typer.echo(text)
    typer.echo(f"{len(clips)} clips -> {out}/video.json, {out}/strip.jpg")
