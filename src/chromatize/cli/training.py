"""`chromatize train` and `chromatize tune`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import _die, app
from ._knobs import KnobGridCommand, given_knobs


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
    overwrite: Annotated[
        bool, typer.Option(help="Start over in an --out that holds a run (its checkpoints are removed).")
    ] = False,
    init: Annotated[Optional[str], typer.Option(help="Start from a shipped model name or a model folder.")] = None,
    opt: Annotated[
        Optional[list[str]],
        typer.Option(help="KEY=VALUE: a family option (repeat), e.g. width=48, class_weights=false."),
    ] = None,
    width: Annotated[Optional[int], typer.Option(help="Base channel width (regression, classification, gan).")] = None,
    k: Annotated[Optional[int], typer.Option(help="Palette size (classification).")] = None,
    head_stride: Annotated[Optional[int], typer.Option(help="Classification head resolution: 1, 2 or 4.")] = None,
    loss: Annotated[Optional[str], typer.Option(help="Regression pixel loss: l2, l1 or smooth_l1.")] = None,
    class_weights: Annotated[
        Optional[bool],
        typer.Option("--class-weights/--no-class-weights", help="Class re-balancing of the loss (classification)."),
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
    from ..models.registry import get_family
    from ..training.train import train as run_train

    fam = get_family(model)
    given = {
        "width": width,
        "k": k,
        "head_stride": head_stride,
        "loss": loss,
        "class_weights": class_weights,
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
    unknown = sorted(k for k in family_train if k not in fam.train_options)
    if unknown:
        arch = ", ".join(fam.options) or "none"
        tr = ", ".join(fam.train_options) or "none"
        _die(f"{model} has no option {unknown[0]!r} (architecture options: {arch}; training options: {tr})")
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
        overwrite=overwrite,
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


@app.command(cls=KnobGridCommand)
def tune(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="Model folder (a run folder) whose card gets the chosen defaults.")],
    data: Annotated[list[str], typer.Option(help="Prepared folder(s): their val split, carved from training data.")],
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Also write every row as JSON here.")] = None,
    render_size: Annotated[
        Optional[str], typer.Option(help="Render sizes to try, comma-separated (default: the card's).")
    ] = None,
    flip: Annotated[
        str, typer.Option(help="Mirror averaging to try: off, on or off,on (on: twice the network time).")
    ] = "off",
    limit: Annotated[int, typer.Option(help="Validation images in all.")] = 1000,
    write: Annotated[bool, typer.Option(help="Store the chosen values in the model card.")] = False,
) -> None:
    """Choose decoding defaults and render size on a carved validation split; optionally write them to the card.

    Each decoding knob of the model's family takes the values to try (comma-separated); a knob not given
    keeps the card's value.

    Example: chromatize tune --model runs/eff --data prepared/ --temperature 0.4,0.7,1 --rebalance 0,0.5,1 --write
    """
    from ..evaluate.tune import tune as run_tune
    from ..evaluate.tune import write_choice
    from ..imageio import atomic_write_text

    def floats(text: str, name: str) -> list[float]:
        try:
            vals = [float(x) for x in text.split(",") if x.strip()]
        except ValueError:
            _die(f"--{name} takes comma-separated numbers, got {text!r}")
        if not vals:
            _die(f"--{name} needs at least one value")
        return vals

    grid: dict = {}
    for key, text in given_knobs(ctx).items():
        grid[key] = [x.strip() for x in text.split(",") if x.strip()]
        if not grid[key]:
            _die(f"--{key.replace('_', '-')} needs at least one value")
    sizes = None if render_size is None else [int(x) for x in floats(render_size, "render-size")]
    words = [w.strip() for w in flip.split(",") if w.strip()]
    if not words or any(w not in ("off", "on") for w in words):
        _die(f"--flip takes off, on or off,on, got {flip!r}")
    flips = tuple(dict.fromkeys(w == "on" for w in words))
    rows, chosen = run_tune(model, data, grid, sizes, limit=limit, progress=sys.stderr.isatty(), flips=flips)
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
