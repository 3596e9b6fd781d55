"""The `chromatize` command line: thin wrappers that parse options and call library functions.

`_app` holds the Typer app; one module per pair of commands (`data`, `training`, `images`, `report`)
registers its commands on it.
"""

from __future__ import annotations

import sys

import typer

from ..errors import ChromatizeError
from . import data, images, report, training  # noqa: F401  (importing them registers the commands)
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: user errors print one line and exit 2."""
    try:
        app()
    except ChromatizeError as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
