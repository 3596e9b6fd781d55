"""The one error type users see: a message they can act on, printed in one line by the CLI."""

from __future__ import annotations


class ChromatizeError(Exception):
    """A problem with the user's input, files or options (not a bug)."""


class ImageReadError(ChromatizeError):
    """A file that cannot be read as an image; the message says why."""
