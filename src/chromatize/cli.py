"""The `chromatize` command line: thin wrappers that parse options and call library functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ChromatizeError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Colour grayscale photographs.\n\nExample: chromatize colorize old_scans/ -o coloured/")


@app.callback()
def _root() -> None:
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
    split_as: Annotated[Optional[list[str]], typer.Option(
        "--split-as", help="SPLIT for every source, or SOURCE=SPLIT for one (e.g. held_out/=test).")] = None,
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
    res = run_prepare([str(s) for s in sources], out, size=size, seed=seed, fractions=(1 - val - test, val, test),
                      split_as=forced, cache=cache, progress=sys.stderr.isatty())
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
    model: Annotated[str, typer.Option(help="Family: regression, classification or gan.")],
    data: Annotated[list[str], typer.Option(help="A prepared folder, or image folders / tar shards (repeat).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Run folder: checkpoints, logs, samples, model.")],
    color_space: Annotated[str, typer.Option(help="luv (as in the original design) or lab.")] = "luv",
    size: Annotated[int, typer.Option(help="Training image size.")] = 64,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs over the train split.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many batches (overrides --epochs).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per batch (per device).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate.")] = None,
    devices: Annotated[int, typer.Option(help="Devices (CPU processes or GPUs); >1 uses DDP.")] = 1,
    precision: Annotated[str, typer.Option(help="32, 16-mixed or bf16-mixed.")] = "32",
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    init: Annotated[Optional[str], typer.Option(help="Start from a shipped model name or a model folder.")] = None,
    width: Annotated[Optional[int], typer.Option(help="Base channel width of the network.")] = None,
    k: Annotated[int, typer.Option(help="Palette size (classification).")] = 24,
    head_stride: Annotated[int, typer.Option(help="Classification head resolution: 1, 2 or 4.")] = 2,
    loss: Annotated[str, typer.Option(help="Regression pixel loss: l2, l1 or smooth_l1.")] = "l2",
    rebalance: Annotated[bool, typer.Option(help="Class re-balancing (classification).")] = True,
    l1_lambda: Annotated[float, typer.Option(help="Weight of L1 in the GAN generator loss.")] = 100.0,
    disc: Annotated[str, typer.Option(help="GAN discriminator: global (FC + sigmoid) or patch.")] = "global",
    ckpt_every: Annotated[int, typer.Option(help="Checkpoint every N batches.")] = 200,
    val_limit: Annotated[int, typer.Option(help="Validation images per epoch.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    log_every: Annotated[int, typer.Option(help="Log to CSV every N batches.")] = 10,
) -> None:
    """Train or fine-tune a colorization model on CPU, one GPU or several (DDP).

    Example: chromatize train --model classification --data prepared/ -o runs/cls --epochs 3
    """
    from .training.train import train as run_train

    arch: dict = {} if width is None else {"width": width}
    if model == "classification":
        arch.update(k=k, head_stride=head_stride)
    cfg = run_train(model, data, out, color_space=color_space, size=size, arch=arch, resume=resume, init=init,
                    progress=sys.stderr.isatty(), epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr,
                    devices=devices, precision=precision, loss=loss, rebalance=rebalance, l1_lambda=l1_lambda,
                    disc=disc, ckpt_every=ckpt_every, val_limit=val_limit, seed=seed,
                    log_every=log_every)
    typer.echo(f"model written to {out} ({json.dumps(cfg['metrics'])})")


@app.command()
def colorize(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Image files, folders (recursive) or globs.")] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder (sub-folders of folder inputs mirrored).")] = Path("colorized"),
    example: Annotated[bool, typer.Option(help="Add the bundled example photo (an 1880s print) to the inputs.")] = False,
    model: Annotated[Optional[str], typer.Option(help="Shipped model name or model folder (default: the default).")] = None,
    render_size: Annotated[Optional[int], typer.Option(help="Longer side the network sees (default: the model's).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Classification vividness: 0 = mode, 1 = mean.")] = None,
    format: Annotated[str, typer.Option(help="png, jpg or same (as the input).")] = "png",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Images per network batch.")] = 8,
    overwrite: Annotated[bool, typer.Option(help="Redo outputs that exist (default: skip them, so runs resume).")] = False,
    confidence: Annotated[bool, typer.Option(help="Also write <name>.confidence.png (classification).")] = False,
    log: Annotated[Optional[Path], typer.Option(help="Append one JSON line per file to this file.")] = None,
    max_megapixels: Annotated[float, typer.Option(help="Refuse larger images (checked before decoding).")] = 100.0,
) -> None:
    """Colour grayscale photos; never touches the inputs, skips finished outputs.

    Example: chromatize colorize scans/ old.jpg -o coloured/ --model classification
    Example: chromatize colorize --example -o out/
    """
    from .colorize_cli import run_batch

    inputs = list(inputs or [])
    if example:
        inputs.append(str(Path(__file__).resolve().parent / "examples" / "brooklyn_bridge_1880s.jpg"))
    if not inputs:
        _die("give images, folders or globs to colorize (or --example)")
    done, skipped, failed = run_batch(inputs, out, model, render_size, temperature, format, device, batch_size,
                                      overwrite, confidence, log, progress=sys.stderr.isatty(),
                                      max_pixels=int(max_megapixels * 1e6))
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
    from .models.classification import draw_palette
    from .training.train import fit_palette_from

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(data[0]) if len(data) == 1 and is_prepared(data[0]) else Path(tmp)
        if root == Path(tmp):
            run_prepare(data, tmp, size=32, fractions=(1.0, 0.0, 0.0), progress=False)
        pal, freq = fit_palette_from(root, color_space, k, images, seed)
    img = draw_palette(pal, freq, color_space)
    atomic_write(out, lambda t: img.save(t, format="PNG"))
    atomic_write_text(out.with_suffix(".json"), json.dumps({"color_space": color_space, "palette": pal.tolist(),
                                                            "frequency": freq.tolist()}, indent=2))
    typer.echo(f"{len(pal)} colours -> {out}")


@app.command()
def models(
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Also write the list as JSON here.")] = None,
) -> None:
    """List the shipped models with size, colour space, training data and validation metrics.

    Example: chromatize models
    """
    from .inference import default_model_name, shipped_models

    rows = []
    for name, d in shipped_models().items():
        cfg = json.loads((d / "config.json").read_text())
        mb = (d / "model.safetensors").stat().st_size / 1e6
        met = cfg.get("metrics", {})
        rows.append({"name": name, "default": name == default_model_name(), "size_mb": round(mb, 2),
                     "color_space": cfg["color_space"], "family": cfg["family"],
                     "data": cfg.get("trained_on", ""), "metrics": met})
        flag = " (default)" if name == default_model_name() else ""
        vals = ", ".join(f"{k}={v:.3f}" for k, v in met.items() if isinstance(v, float))
        typer.echo(f"{name}{flag}: {mb:.1f} MB, {cfg['color_space']}, trained on {cfg.get('trained_on', '?')}; {vals}")
    if not rows:
        typer.echo("no shipped models are installed")
    if out:
        from .imageio import atomic_write_text

        atomic_write_text(out, json.dumps(rows, indent=2))


@app.command()
def evaluate(
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for metrics.json/csv, samples.png, report.html.")],
    data: Annotated[Optional[str], typer.Option(help="Folder, tar shard or prepared folder (val split) of colour "
                                                     "photos: the truth.")] = None,
    practical: Annotated[bool, typer.Option(help="Colour the medical/astronomical/everyday/historical samples.")] = False,
    folder: Annotated[Optional[list[str]], typer.Option(help="NAME=PATH: a folder of your own for --practical.")] = None,
    model: Annotated[Optional[list[str]], typer.Option(help="Model name or folder (repeat); default: all shipped.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate a seeded random subset of N images.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --limit subset.")] = 0,
    render_size: Annotated[Optional[int], typer.Option(help="Render size (default: each model's).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Classification temperature override.")] = None,
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
    from .evaluate import evaluate as run_eval
    from .evaluate import table

    res = run_eval(data, model, limit, seed, render_size, out, temperature)
    typer.echo(table(res))
    typer.echo(f"{res['images']} images ({res['skipped_grayscale']} grayscale skipped) -> {out}/metrics.json")


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to bind (keep 127.0.0.1 unless you mean to share it).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    model: Annotated[Optional[list[str]], typer.Option(help="Models to offer (repeat); default: all shipped.")] = None,
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Also keep every result here (optional).")] = None,
) -> None:
    """Start the local web demo: upload a photo, compare models, tune vividness, download PNG.

    Example: chromatize demo --port 7860   (then open http://127.0.0.1:7860)
    """
    from .demo import launch

    launch(host, port, model, out)


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
