"""What every training front end shares: the schedule, the weight average, the family's step on a batch
and the stage record in the model card.

`chromatize train` (Lightning), ``scripts/gpu_stage.py`` (a time-budgeted stage on a borrowed GPU) and
``scripts/finetune_stage.py`` (a CPU fine-tune) all call these; none writes its own. Torch only (no
Lightning), so the scripts run on a machine that has little installed.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .. import color
from ..models.base import Family
from ..models.card import ModelCard


def psnr_rgb(l_n: torch.Tensor, pred: torch.Tensor, true: torch.Tensor, space: str) -> torch.Tensor:
    """Mean per-image PSNR (dB) between RGB from (L, pred) and from (L, true), on [0,1]."""
    a, b = color.lc_to_rgb(l_n, pred.float(), space), color.lc_to_rgb(l_n, true.float(), space)
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean()


def warmup_cosine(progress: float, warmup: float = 0.05, floor: float = 0.02) -> float:
    """Learning-rate factor at ``progress`` (0..1 of the run, in steps or seconds): linear warm-up over
    the first ``warmup`` share, then a cosine down to ``floor``."""
    if progress < warmup:
        return max(progress / warmup, 0.0)
    p = min((progress - warmup) / max(1.0 - warmup, 1e-9), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


class WeightAverage:
    """Exponential moving average of a network's floating-point state (integer buffers copied)."""

    def __init__(self, net: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.state = {k: v.detach().clone().float() for k, v in net.state_dict().items()}
        self._float = [k for k, v in self.state.items() if v.is_floating_point()]

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        sd = net.state_dict()
        torch._foreach_lerp_([self.state[k] for k in self._float], [sd[k].float() for k in self._float], 1 - self.decay)
        for k, v in sd.items():
            if not v.is_floating_point():
                self.state[k].copy_(v)

    def copy_to(self, net: nn.Module) -> nn.Module:
        own = net.state_dict()
        net.load_state_dict({k: v.to(own[k].dtype) for k, v in self.state.items()})
        return net


def family_step(
    family: Family, net: nn.Module, l_n: torch.Tensor, ab_n: torch.Tensor, opts: dict[str, Any]
) -> dict[str, Any]:
    """The family's losses on one batch of (L, chroma), its network input built by the family."""
    return family.training_step(net, (family.training_input(l_n, ab_n, opts, net), ab_n), opts)


def decoded_chroma(family: Family, net: nn.Module, l_n: torch.Tensor, card: ModelCard) -> torch.Tensor:
    """Chroma of a batch decoded as users get it: the family's decoding with the card's values."""
    return family.chroma(net, family.inference_input(l_n), card.decoding)


def with_stage(card: ModelCard, stage: dict[str, Any]) -> ModelCard:
    """A copy of ``card`` with ``stage`` appended to its training record; its carved-validation figures
    (measured on the weights before this stage) are dropped."""
    d = card.to_dict()
    d["training"] = {**d["training"], "stages": [*d["training"].get("stages", []), stage]}
    d["metrics"] = {k: v for k, v in d["metrics"].items() if not k.startswith("carved_val")}
    return ModelCard.from_dict(d)
