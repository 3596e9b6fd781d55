"""Engines run the network part of a model; pre- and post-processing stay in `inference`.

``torch`` is the reference. ``openvino`` (extra ``chromatize[fast]``) converts the network once per
model (dynamic input shapes) and caches the converted model in the user cache directory. ``auto`` takes
OpenVINO when it is installed and the model converts, else torch.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import ChromatizeError

ENGINES = ("auto", "torch", "openvino")


def cache_dir() -> Path:
    """Where converted models live: $CHROMATIZE_CACHE, else $XDG_CACHE_HOME/chromatize, else ~/.cache/chromatize."""
    env = os.environ.get("CHROMATIZE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chromatize"


def model_key(net: torch.nn.Module, card_json: str) -> str:
    """A digest of the weights and the card: a converted model is reused only for the same model."""
    h = hashlib.sha256(card_json.encode())
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def make_runner(engine: str, net: torch.nn.Module, card_json: str, device: torch.device) -> tuple[str, Callable | None]:
    """(engine actually used, runner or None for torch). ``openvino`` fails with a one-line reason."""
    if engine not in ENGINES:
        raise ChromatizeError(f"--engine takes one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "torch" or device.type != "cpu":
        if engine == "openvino":
            raise ChromatizeError("--engine openvino runs on the CPU only (use --device cpu)")
        return "torch", None
    try:
        from .openvino_engine import OpenVINORunner
    except ImportError:
        if engine == "openvino":
            raise ChromatizeError(
                '--engine openvino needs OpenVINO: pip install ".[fast]" (in the chromatize checkout)'
            ) from None
        return "torch", None
    try:
        return "openvino", OpenVINORunner(net, model_key(net, card_json), cache_dir() / "openvino")
    except ChromatizeError:
        raise
    except Exception as e:  # noqa: BLE001 - auto falls back to the reference engine
        if engine == "openvino":
            raise ChromatizeError(f"--engine openvino: the model did not convert ({type(e).__name__}: {e})") from None
        return "torch", None
