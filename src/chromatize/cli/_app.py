"""The Typer app and the helpers every command module shares."""

from __future__ import annotations

from typing import Annotated

import typer

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
