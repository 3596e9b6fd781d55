"""The `chromatize` command line: thin wrappers that parse options and call library functions.

One module per pair of commands (`data`, `training`, `colour`, `report`); each registers on `app`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import ChromatizeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Colour grayscale photographs.\n\nExample: chromatize colorize old_scans/ -o coloured/",
)


def _version(value: bool) -> None:
    if value:
        from ..version import __version__

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


def main() -> None:
    """Console entry point: user errors print one line and exit 2."""
    try:
        app()
    except ChromatizeError as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


from . import colour, data, report, training  # noqa: E402,F401  (register the commands)
