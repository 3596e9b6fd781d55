"""chromatize: colour grayscale photographs on a laptop CPU.

The public API is lazy: importing ``chromatize`` does not import torch.
"""

from __future__ import annotations

from typing import Any

from .version import __version__

__all__ = ["colorize", "load_model", "Hint", "ChromatizeError", "__version__"]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name in ("colorize", "load_model"):
        from . import inference

        return getattr(inference, name)
    if name == "Hint":
        from .hints import Hint

        return Hint
    if name == "ChromatizeError":
        from .errors import ChromatizeError

        return ChromatizeError
    raise AttributeError(name)
