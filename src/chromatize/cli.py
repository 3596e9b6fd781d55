"""The `chromatize` command line: thin wrappers that parse options and call library functions."""

from __future__ import annotations

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
    con = Console()
    con.print(summary_table(res))
    bad = [r for r in res.rows if not r["split"] and not r["reason"].startswith(("duplicate", "grayscale"))]
    for r in bad[:20]:
        con.print(f"  dropped {r['id']}: {r['reason']}", markup=False, highlight=False)
    if len(bad) > 20:
        con.print(f"  ... and {len(bad) - 20} more (see {out / 'manifest.csv'})")
    con.print(f"manifest: {out / 'manifest.csv'}")


def main() -> None:
    """Console entry point: user errors print one line and exit 2."""
    try:
        app()
    except ChromatizeError as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
