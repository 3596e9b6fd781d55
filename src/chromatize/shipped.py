"""The models that ship with chromatize (``weights/<name>/``), found without importing torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def default_model_name() -> str:
    p = WEIGHTS_DIR / "DEFAULT"
    if p.is_file():
        return p.read_text().strip()
    return "classification"


def shipped_models() -> dict[str, Path]:
    """Shipped model name -> folder (``weights/<name>/``), default first."""
    out = {}
    if WEIGHTS_DIR.is_dir():
        for d in sorted(WEIGHTS_DIR.iterdir()):
            if (d / "config.json").is_file() and (d / "model.safetensors").is_file():
                out[d.name] = d
    default = default_model_name()
    return dict(sorted(out.items(), key=lambda kv: kv[0] != default))


def card_summary(folder: Path) -> dict[str, Any]:
    """What `chromatize models` shows of a shipped model, read from its card as JSON (no torch, no
    weights: the list comes in a fraction of a second). Loading the model checks the card fully."""
    card = json.loads((folder / "config.json").read_text())
    inference = dict(card.get("inference", {}))
    render = inference.pop("render_size", None)
    inference.pop("render_min", None)
    flip = bool(inference.pop("flip_average", False))
    return {
        "size_mb": round((folder / "model.safetensors").stat().st_size / 1e6, 2),
        "family": card.get("family"),
        "color_space": card.get("color_space"),
        "render_size": render,
        "flip_average": flip,
        "decoding": inference,
        "card": card,
    }
