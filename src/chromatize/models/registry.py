"""Models register by family name and are rebuilt from ``config.json`` + ``model.safetensors``.

Nothing is ever unpickled: weights load through safetensors only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ChromatizeError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
FAMILIES = ("regression", "classification", "gan")
CONFIG, WEIGHTS = "config.json", "model.safetensors"


def register(name: str):
    """Class decorator: make a model buildable by family name."""

    def deco(cls):
        _REGISTRY[name] = cls
        return cls

    return deco


def _ensure_loaded() -> None:
    from . import classification, gan, regression  # noqa: F401


def build(family: str, **kwargs: Any) -> nn.Module:
    """A fresh model of ``family`` with architecture options ``kwargs``."""
    _ensure_loaded()
    if family not in _REGISTRY:
        raise ChromatizeError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    try:
        return _REGISTRY[family](**kwargs)
    except TypeError as e:
        raise ChromatizeError(f"bad architecture options for {family}: {e}") from None


class PaddedNet(nn.Module):
    """Base: pads L to a multiple of the network's stride (reflect) and crops the output back."""

    stride = 1

    def pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x, (h, w)


def save_model_dir(model: nn.Module, config: dict, out: str | Path, half: bool = False) -> Path:
    """Write ``model.safetensors`` (+ ``config.json``) that `load_model_dir` rebuilds."""
    from safetensors.torch import save_file

    from ..imageio import atomic_write, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() and "palette" not in k else v).contiguous().cpu()
             for k, v in model.state_dict().items()}
    atomic_write(out / WEIGHTS, lambda tmp: save_file(state, tmp, metadata={"family": config["family"]}))
    atomic_write_text(out / CONFIG, json.dumps(config, indent=2))
    return out


def load_model_dir(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a model from a folder holding ``config.json`` and ``model.safetensors``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_file():
        if path.suffix in (".pt", ".pth", ".ckpt", ".pkl", ".bin"):
            raise ChromatizeError(f"{path}: pickle-based weights are refused; give a folder with {WEIGHTS}")
        path = path.parent
    cfg_path, w_path = path / CONFIG, path / WEIGHTS
    if not cfg_path.is_file() or not w_path.is_file():
        raise ChromatizeError(f"{path}: not a model folder (needs {CONFIG} and {WEIGHTS})")
    try:
        config = json.loads(cfg_path.read_text())
        family = config["family"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ChromatizeError(f"{cfg_path}: not a chromatize model config ({e})") from None
    model = build(family, **config.get("model", {}))
    try:
        state = load_file(str(w_path))
    except (SafetensorError, OSError) as e:
        raise ChromatizeError(f"{w_path}: not a safetensors file ({e})") from None
    own = model.state_dict()
    bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if bad or set(state) - set(own):
        raise ChromatizeError(f"{w_path}: weights do not match the {family} architecture in {CONFIG} "
                              f"(first mismatch: {(bad or sorted(set(state) - set(own)))[0]})")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return model.eval(), config
