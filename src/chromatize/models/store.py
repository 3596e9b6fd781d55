"""Model folders: ``config.json`` (the model card) + ``model.safetensors``, written and rebuilt.

Nothing is ever unpickled: weights load through safetensors only, and must be finite.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..errors import ChromatizeError
from .card import ModelCard

CONFIG, WEIGHTS = "config.json", "model.safetensors"
# decoding tables: kept in fp32 when weights are halved, and never blended when weights are averaged
DECODING_TABLES = ("palette", "centres", "log_prior", "prior")


def save_model_dir(net: nn.Module, card: ModelCard | dict, out: str | Path, half: bool = False) -> Path:
    """Write ``model.safetensors`` (fp16 when ``half``) and the card that `load_model_dir` rebuilds."""
    from safetensors.torch import save_file

    from ..imageio import atomic_write

    card = ModelCard.from_dict(card) if isinstance(card, dict) else card.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def keep(k: str, v: torch.Tensor) -> torch.Tensor:
        halve = half and v.is_floating_point() and k.split(".")[-1] not in DECODING_TABLES
        return (v.half() if halve else v).contiguous().cpu()

    state = {k: keep(k, v) for k, v in net.state_dict().items()}
    atomic_write(out / WEIGHTS, lambda tmp: save_file(state, tmp, metadata={"family": card.family}))
    card.write(out / CONFIG)
    return out


MAX_PARAMETERS = 200_000_000


def check_weights_header(card: ModelCard, w_path: Path) -> None:
    """The card's architecture, built on the meta device (no memory), against the weights file's header
    (shapes only): a mismatch or an absurd size is refused before the real network is allocated."""
    from safetensors import SafetensorError, safe_open

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in card.family_obj.build(card.options).state_dict().items()}
    total = sum(math.prod(s) for s in shapes.values())
    if total > MAX_PARAMETERS:
        raise ChromatizeError(
            f"{w_path.parent}: its card asks for {total:,} parameters; refusing (max {MAX_PARAMETERS:,})"
        )
    try:
        with safe_open(str(w_path), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise ChromatizeError(f"{w_path}: not a safetensors file ({e})") from None
    bad = [k for k in shapes if stored.get(k) != shapes[k]] or sorted(set(stored) - set(shapes))
    if bad:
        raise ChromatizeError(
            f"{w_path}: weights do not match the {card.family} architecture in {CONFIG} (first mismatch: {bad[0]})"
        )


def widened(net: nn.Module, card: ModelCard, options: dict) -> tuple[nn.Module, ModelCard]:
    """The same model with architecture ``options`` changed (e.g. ``{"hints": True}``): every weight it
    had is kept, new ones start as built (a zero-initialised hint branch: the output is unchanged)."""
    d = card.to_dict()
    d["options"] = {**d["options"], **options}
    new_card = ModelCard.from_dict(d)
    new = new_card.family_obj.build(new_card.options)
    _, unexpected = new.load_state_dict(net.state_dict(), strict=False)
    if unexpected:
        raise ChromatizeError(f"options {options} drop weights of the model ({unexpected[0]})")
    return new.eval(), new_card


def load_model_dir(path: str | Path) -> tuple[nn.Module, ModelCard]:
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
    card = ModelCard.read(cfg_path)
    check_weights_header(card, w_path)  # before anything is allocated: a tampered card cannot ask for GBs
    net = card.family_obj.build(card.options)
    try:
        state = load_file(str(w_path))
    except (SafetensorError, OSError) as e:
        raise ChromatizeError(f"{w_path}: not a safetensors file ({e})") from None
    own = net.state_dict()
    bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if bad or set(state) - set(own):
        raise ChromatizeError(
            f"{w_path}: weights do not match the {card.family} architecture in {CONFIG} "
            f"(first mismatch: {(bad or sorted(set(state) - set(own)))[0]})"
        )
    nonfinite = [
        k
        for k, v in state.items()
        if v.is_floating_point() and not torch.isfinite(v.float()).all() and not k.endswith("log_prior")
    ]
    if nonfinite:
        raise ChromatizeError(f"{w_path}: weights hold NaN or infinite values ({nonfinite[0]}); the file is damaged")
    net.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return net.eval(), card
