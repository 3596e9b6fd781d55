"""The `chromatize` command line: thin wrappers that parse options and call library functions."""

from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ChromatizeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Colour grayscale photographs.\n\nExample: chromatize colorize old_scans/ -o coloured/",
)


def _version(value: bool) -> None:
    if value:
        from .version import __version__

        typer.echo(f"chromatize {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Colour grayscale photographs."""


def _die(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", err=True, fg="red")
    raise typer.Exit(code)


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

    from .data.prepare import prepare as run_prepare
    from .data.prepare import summary_table

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
def train(
    model: Annotated[
        str,
        typer.Option(
            help="Family: efficientnet_unet, classification, regression or gan (`chromatize models --families`)."
        ),
    ],
    data: Annotated[
        list[str], typer.Option(help="A prepared folder (repeat to mix several), or image folders / tar shards.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Run folder: checkpoints, logs, samples, model.")],
    color_space: Annotated[str, typer.Option(help="luv (as in the original design) or lab.")] = "luv",
    size: Annotated[int, typer.Option(help="Training image size.")] = 64,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs over the train split.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many batches (overrides --epochs).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per batch (per device).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate.")] = None,
    devices: Annotated[int, typer.Option(help="Devices (CPU processes or GPUs); >1 uses DDP.")] = 1,
    num_nodes: Annotated[int, typer.Option(help="Machines taking part (DDP; launch one process per machine).")] = 1,
    precision: Annotated[str, typer.Option(help="32, 16-mixed or bf16-mixed.")] = "32",
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    init: Annotated[Optional[str], typer.Option(help="Start from a shipped model name or a model folder.")] = None,
    opt: Annotated[
        Optional[list[str]], typer.Option(help="KEY=VALUE: a family option (repeat), e.g. width=48, rebalance=false.")
    ] = None,
    width: Annotated[Optional[int], typer.Option(help="Base channel width (regression, classification, gan).")] = None,
    k: Annotated[Optional[int], typer.Option(help="Palette size (classification).")] = None,
    head_stride: Annotated[Optional[int], typer.Option(help="Classification head resolution: 1, 2 or 4.")] = None,
    loss: Annotated[Optional[str], typer.Option(help="Regression pixel loss: l2, l1 or smooth_l1.")] = None,
    rebalance: Annotated[
        Optional[bool], typer.Option("--rebalance/--no-rebalance", help="Class re-balancing (classification).")
    ] = None,
    l1_lambda: Annotated[Optional[float], typer.Option(help="Weight of L1 in the GAN generator loss.")] = None,
    disc: Annotated[Optional[str], typer.Option(help="GAN discriminator: global (FC + sigmoid) or patch.")] = None,
    mix: Annotated[Optional[str], typer.Option(help="Shares of several --data folders, e.g. 0.6,0.4.")] = None,
    epoch_images: Annotated[
        Optional[int], typer.Option(help="Samples per epoch (default: all training images).")
    ] = None,
    ckpt_every: Annotated[Optional[int], typer.Option(help="Checkpoint every N batches.")] = None,
    val_limit: Annotated[Optional[int], typer.Option(help="Validation images per epoch.")] = None,
    val_every: Annotated[Optional[int], typer.Option(help="Validate every N batches (default: each epoch).")] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="Data loader worker processes.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = None,
    log_every: Annotated[Optional[int], typer.Option(help="Log to CSV every N batches.")] = None,
) -> None:
    """Train or fine-tune a colorization model on CPU, one GPU or several (DDP).

    Example: chromatize train --model efficientnet_unet --data prepared/ -o runs/eff --precision bf16-mixed
    Example: chromatize train --model classification --data prepared/ -o runs/cls --epochs 3
    """
    from .models.registry import get_family
    from .training.train import train as run_train

    fam = get_family(model)
    given = {
        "width": width,
        "k": k,
        "head_stride": head_stride,
        "loss": loss,
        "rebalance": rebalance,
        "l1_lambda": l1_lambda,
        "disc": disc,
    }
    extra = {name: v for name, v in given.items() if v is not None}
    for item in opt or []:
        key, sep, val = item.partition("=")
        if not sep:
            _die(f"--opt takes KEY=VALUE, got {item!r}")
        extra[key.strip().replace("-", "_")] = val
    options = {key: v for key, v in extra.items() if key in fam.options}
    family_train = {key: v for key, v in extra.items() if key not in fam.options}
    mix_list = None
    if mix:
        try:
            mix_list = [float(x) for x in mix.split(",")]
        except ValueError:
            _die(f"--mix takes comma-separated numbers, got {mix!r}")
        if len(mix_list) != len(data) or any(not (x >= 0) or x == float("inf") for x in mix_list) or not sum(mix_list):
            _die(f"--mix needs one non-negative share per --data folder ({len(data)}), got {mix!r}")
    card = run_train(
        model,
        data,
        out,
        color_space=color_space,
        size=size,
        options=options,
        resume=resume,
        progress=sys.stderr.isatty(),
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        devices=devices,
        num_nodes=num_nodes,
        precision=precision,
        init=init,
        mix=mix_list,
        epoch_images=epoch_images,
        ckpt_every=ckpt_every,
        val_limit=val_limit,
        val_every=val_every,
        num_workers=num_workers,
        seed=seed,
        log_every=log_every,
        **family_train,
    )
    typer.echo(f"model written to {out} ({json.dumps(card.metrics)})")


@app.command()
def colorize(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Image files, folders (recursive) or globs.")] = None,
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output folder (sub-folders of folder inputs mirrored).")
    ] = Path("colorized"),
    example: Annotated[
        bool, typer.Option(help="Add the bundled example photo (an 1880s print) to the inputs.")
    ] = False,
    model: Annotated[
        Optional[str], typer.Option(help="Shipped model name or model folder (default: the default).")
    ] = None,
    render_size: Annotated[
        Optional[int], typer.Option(help="Longer side the network sees (default: the model's).")
    ] = None,
    temperature: Annotated[
        Optional[float],
        typer.Option(help="Vividness of distribution models: 0 = mode, 1 = mean (default: the model card's)."),
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
) -> None:
    """Colour grayscale photos; never touches the inputs, skips finished outputs.

    Example: chromatize colorize scans/ old.jpg -o coloured/ --model classification
    Example: chromatize colorize --example -o out/
    """
    from .batch import run_batch

    if cluster is not None:
        from .cluster import run_on_cluster

    inputs = list(inputs or [])
    if example:
        inputs.append(str(Path(__file__).resolve().parent / "examples" / "brooklyn_bridge_1880s.jpg"))
    if not inputs:
        _die("give images, folders or globs to colorize (or --example)")
    if not (math.isfinite(max_megapixels) and max_megapixels > 0):
        _die(f"--max-megapixels must be a positive finite number, got {max_megapixels}")
    done, skipped, failed = run_batch(
        inputs,
        out,
        model=model,
        render_size=render_size,
        decoding={"temperature": temperature},
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
    )
    typer.echo(f"{done} coloured, {skipped} skipped (already done), {failed} failed -> {out}")
    if failed:
        raise typer.Exit(1)


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

    from .data.datasets import is_prepared
    from .data.prepare import prepare as run_prepare
    from .imageio import atomic_write, atomic_write_text
    from .models.palette import chroma_pixels, draw_palette, fit_palette
    from .training.train import train_images_fn

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


@app.command()
def models(
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Also write the list as JSON here.")] = None,
    families: Annotated[bool, typer.Option(help="List the model families and their options instead.")] = False,
) -> None:
    """List the shipped models with size, colour space, training data and validation metrics.

    Example: chromatize models
    """
    from .inference import default_model_name, load_model, shipped_models
    from .models.registry import FAMILIES

    if families:
        for name, fam in FAMILIES.items():
            typer.echo(f"{name}: {fam.summary}")
            for kind, spec in (
                ("option", fam.options),
                ("training option", fam.train_options),
                ("decoding", fam.decoding),
            ):
                for key, o in spec.items():
                    typer.echo(f"    {kind} {key} (default {o.default}): {o.help}")
        return
    rows = []
    default = default_model_name()
    for name, d in shipped_models().items():
        card = load_model(name).card
        mb = (d / "model.safetensors").stat().st_size / 1e6
        rows.append({"name": name, "default": name == default, "size_mb": round(mb, 2), **card.to_dict()})
        flag = " (default)" if name == default else ""
        figs = "; ".join(
            f"{k}: " + ", ".join(f"{m}={v:.4g}" for m, v in f.items() if isinstance(v, (int, float)))
            for k, f in card.metrics.items()
        )
        data = card.training.get("summary") or ", ".join(
            sorted({s for st in card.training.get("stages", []) for d_ in st.get("data", []) for s in d_["sources"]})
        )
        typer.echo(
            f"{name}{flag}: {card.family}, {mb:.1f} MB, {card.color_space}, render {card.render_size} px, "
            f"decoding {card.decoding or 'none'}; trained on {data}; {figs}"
        )
    if not rows:
        typer.echo("no shipped models are installed")
    if out:
        from .imageio import atomic_write_text

        atomic_write_text(out, json.dumps(rows, indent=2))


@app.command()
def evaluate(
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
    temperature: Annotated[
        Optional[float], typer.Option(help="Temperature override (models that decode a distribution).")
    ] = None,
    engine: Annotated[str, typer.Option(help="Network engine: torch (reference), openvino, or auto.")] = "torch",
) -> None:
    """Score models against colour truth (PSNR, SSIM, AuC, colourfulness), with a gray baseline row.

    Example: chromatize evaluate --data ../shared/data/tinyimagenet64/val.tar --limit 2000 -o r/
    Example: chromatize evaluate --practical --folder scans=my_scans/ -o practical/
    """
    if practical:
        from .evaluate.practical import run_practical

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
    from .evaluate.run import evaluate as run_eval
    from .evaluate.run import table

    res = run_eval(
        data, model, limit, seed, render_size, out, progress=sys.stderr.isatty(), engine=engine, temperature=temperature
    )
    typer.echo(table(res))
    typer.echo(f"{res['images']} images ({res['skipped_grayscale']} grayscale skipped) -> {out}/metrics.json")


@app.command()
def tune(
    model: Annotated[str, typer.Option(help="Model folder (a run folder) whose card gets the chosen defaults.")],
    data: Annotated[list[str], typer.Option(help="Prepared folder(s): their val split, carved from training data.")],
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Also write every row as JSON here.")] = None,
    temperature: Annotated[
        str, typer.Option(help="Temperatures to try (comma-separated).")
    ] = "0.2,0.3,0.4,0.5,0.7,1.0",
    rebalance: Annotated[
        Optional[str], typer.Option(help="Logit adjustments to try (efficientnet_unet), e.g. 0,0.5,1.")
    ] = None,
    render_size: Annotated[str, typer.Option(help="Render sizes to try (comma-separated).")] = "128,192,256",
    limit: Annotated[int, typer.Option(help="Validation images in all.")] = 1000,
    write: Annotated[bool, typer.Option(help="Store the chosen values in the model card.")] = False,
) -> None:
    """Choose decoding defaults and render size on a carved validation split; optionally write them to the card.

    Example: chromatize tune --model runs/eff --data prepared/ --rebalance 0,0.5,1 --write -o tune.json
    """
    from .evaluate.tune import tune as run_tune
    from .evaluate.tune import write_choice
    from .imageio import atomic_write_text

    def floats(text: str, name: str) -> list[float]:
        try:
            vals = [float(x) for x in text.split(",") if x.strip()]
        except ValueError:
            _die(f"--{name} takes comma-separated numbers, got {text!r}")
        if not vals:
            _die(f"--{name} needs at least one value")
        return vals

    grid: dict = {"temperature": floats(temperature, "temperature")}
    if rebalance:
        grid["rebalance"] = floats(rebalance, "rebalance")
    sizes = [int(x) for x in floats(render_size, "render-size")]
    rows, chosen = run_tune(model, data, grid, sizes, limit, progress=sys.stderr.isatty())
    keys = [k for k in rows[0] if k not in ("images",)]
    typer.echo("  ".join(f"{k:>10s}" for k in keys))
    for r in rows:
        mark = "  <- chosen" if r is chosen else ""
        typer.echo("  ".join(f"{r[k]:10.3f}" if isinstance(r[k], float) else f"{r[k]:>10}" for k in keys) + mark)
    if out:
        atomic_write_text(out, json.dumps({"rows": rows, "chosen": chosen}, indent=2))
    if write:
        write_choice(model, chosen, [Path(d).name for d in data])
        typer.echo(f"defaults written to {Path(model) / 'config.json'}")


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
    from .demo import launch

    launch(host, port, model, out, engine)


def main() -> None:
    """Console entry point: user errors print one line and exit 2."""
    try:
        app()
    except ChromatizeError as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
