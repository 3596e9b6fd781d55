"""What every model family provides: options, network, training step, decoding and inference defaults.

A family owns everything that differs between model kinds, so callers (training, inference, the CLI,
evaluation, the demo) ask the family instead of comparing names. A `Prediction` is one network run on
a batch; colour, confidence and alternative colourings are views of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ChromatizeError
from .netinput import NetInput, pad_to

__all__ = [
    "ChromaPrediction",
    "DistributionPrediction",
    "Family",
    "NetInput",
    "Option",
    "Prediction",
    "check_options",
    "chroma_out",
    "head_to_input",
    "pad_to",
]


@dataclass(frozen=True)
class Option:
    """One typed option with its default, help text and allowed values."""

    default: Any
    help: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None

    def check(self, family: str, name: str, value: Any) -> Any:
        """``value`` converted to the default's type, or ChromatizeError naming the option."""
        kind = type(self.default) if self.default is not None else str
        try:
            if kind is bool and isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                v = value.lower() in ("true", "1", "yes")
            elif kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            else:
                v = kind(value)
        except (TypeError, ValueError):
            raise ChromatizeError(f"{family} option {name}: expected {kind.__name__}, got {value!r}") from None
        if isinstance(v, float) and not math.isfinite(v):
            raise ChromatizeError(f"{family} option {name}: must be a finite number, got {value!r}")
        if self.choices is not None and v not in self.choices:
            raise ChromatizeError(
                f"{family} option {name}: choose one of {', '.join(map(str, self.choices))}, got {value!r}"
            )
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise ChromatizeError(f"{family} option {name}: must lie in [{self.low}, {self.high}], got {value!r}")
        return v


def check_options(family: str, spec: dict[str, Option], given: dict[str, Any], what: str) -> dict[str, Any]:
    """Defaults of ``spec`` updated with ``given`` (checked); unknown names raise ChromatizeError."""
    unknown = sorted(set(given) - set(spec))
    if unknown:
        known = ", ".join(spec) or "none"
        raise ChromatizeError(f"{family} takes no {what} {unknown[0]!r} (its {what}s: {known})")
    return {
        k: (o.check(family, k, given[k]) if k in given and given[k] is not None else o.default) for k, o in spec.items()
    }


def head_to_input(t: torch.Tensor, l_n: torch.Tensor, head_stride: int) -> torch.Tensor:
    """Upsample a map at 1/``head_stride`` of the padded input (bilinear) to ``l_n``'s size, cropping the
    padding that `pad_to` added."""
    h, w = l_n.shape[-2:]
    if head_stride > 1:
        size = (t.shape[-2] * head_stride, t.shape[-1] * head_stride)
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    return t[..., :h, :w]


def chroma_out(net: nn.Module, inp: NetInput) -> torch.Tensor:
    """A chroma network's output for ``inp`` (padded to its stride, cropped back): training's view."""
    h, w = inp.size
    return net.raw(inp.tensor(net.stride))[..., :h, :w]


class Prediction:
    """One network run on normalised L ``[B,1,h,w]``; chroma and extras are computed from it.

    Decoding options arrive complete and checked (the card's values with the caller's overrides, see
    `inference.Model.decoding_for`); predictions hold no defaults of their own.
    """

    offers: ClassVar[frozenset[str]] = frozenset()

    def chroma(self, **decoding: Any) -> torch.Tensor:
        """Chroma ``[B,2,h,w]`` (normalised units) with the given (complete, checked) decoding options."""
        raise NotImplementedError

    def confidence(self) -> torch.Tensor:
        """Per-pixel confidence ``[B,1,h,w]`` in [0,1]."""
        raise ChromatizeError("this model gives no confidence map")

    def alternatives(self, n: int = 3, seed: int = 0, **decoding: Any) -> list[torch.Tensor]:
        """``n`` alternative chroma maps ``[B,2,h,w]``."""
        raise ChromatizeError("this model gives no alternative colourings")


class ChromaPrediction(Prediction):
    """A network that outputs chroma directly (regression, GAN generator); ``chroma`` may be padded."""

    def __init__(self, chroma: torch.Tensor, l_n: torch.Tensor):
        self._chroma = chroma[..., : l_n.shape[-2], : l_n.shape[-1]]

    def chroma(self, **decoding: Any) -> torch.Tensor:
        return self._chroma


class DistributionPrediction(Prediction):
    """A network that scores chroma classes: annealed mean, top-probability confidence, sampled alternatives.

    ``net`` provides ``adjusted(logits, **opts)`` (log-probabilities), ``decode(logp, temperature)`` and
    ``to_full(map, l_n)`` (head resolution -> input resolution).
    """

    offers = frozenset({"confidence", "alternatives", "distribution"})

    def __init__(self, net: nn.Module, logits: torch.Tensor, l_n: torch.Tensor):
        self.net, self.logits, self.l_n = net, logits.float(), l_n

    def chroma_classes(self) -> torch.Tensor:
        """The chroma ``[K,2]`` (normalised) of the classes the scores are over."""
        return self.net.chroma_classes

    def with_log_prior(self, log_prior: torch.Tensor, weight: float = 1.0) -> DistributionPrediction:
        """The same run with ``weight`` x ``log_prior`` ``[K]`` added to every pixel's scores (a prior
        over the classes, e.g. a reference photo's colour histogram)."""
        shift = weight * log_prior.to(self.logits).view(1, -1, 1, 1)
        return DistributionPrediction(self.net, self.logits + shift, self.l_n)

    def prior_in_scores(self, **decoding: Any) -> torch.Tensor | None:
        """The log class prior ``[K]`` the decoded scores hold with these decoding options, when the
        network knows it (None: unknown, e.g. a model trained with re-weighted classes)."""
        hook = getattr(self.net, "prior_in_scores", None)
        return None if hook is None else hook(**self._opts(decoding)[1])

    def similarity(self, points: list[tuple[float, float]], size: tuple[int, int]) -> torch.Tensor:
        """How alike each pixel's predicted distribution is to that at each of ``points`` ((x, y) in
        input pixels): the Bhattacharyya coefficient in [0, 1], ``[len(points), *size]``."""
        p = torch.softmax(self.logits[0], 0).sqrt()  # [K,h,w] at the head's resolution
        k, hh, ww = p.shape
        idx = [row * ww + col for row, col in (self._head_cell(x, y) for x, y in points)]
        flat = p.reshape(k, -1)
        sim = (flat[:, idx].T @ flat).reshape(1, len(idx), hh, ww)
        sim = self.net.to_full(sim, self.l_n)
        return F.interpolate(sim, size=size, mode="bilinear", align_corners=False)[0].clamp(0, 1)

    def top_colours(self, x: int, y: int, n: int = 5, **decoding: Any) -> list[tuple[torch.Tensor, float]]:
        """The ``n`` likeliest classes at pixel (x, y) of the input: (chroma ``[2]``, probability)."""
        t, adj = self._opts(decoding)
        row, col = self._head_cell(x, y)
        prob = self.net.adjusted(self.logits[:1, :, row : row + 1, col : col + 1], **adj)[0, :, 0, 0].exp()
        p, k = prob.topk(min(n, len(prob)))
        return [(self.chroma_classes()[i], float(q)) for i, q in zip(k, p)]

    def _head_cell(self, x: float, y: float) -> tuple[int, int]:
        """(row, column) of the head's score map that covers input pixel (x, y)."""
        hh, ww = self.logits.shape[-2:]
        hs, ws = self.l_n.shape[-2] / hh, self.l_n.shape[-1] / ww
        return min(int(y / hs), hh - 1), min(int(x / ws), ww - 1)

    @staticmethod
    def _opts(decoding: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        d = dict(decoding)
        return float(d.pop("temperature")), d

    def chroma(self, **decoding: Any) -> torch.Tensor:
        t, adj = self._opts(decoding)
        return self.net.to_full(self.net.decode(self.net.adjusted(self.logits, **adj), t), self.l_n)

    def confidence(self) -> torch.Tensor:
        """Top probability of the model's own distribution, rescaled so that 1/K -> 0 and 1 -> 1."""
        k = self.logits.shape[1]
        top = torch.softmax(self.logits, 1).amax(1, keepdim=True)
        return self.net.to_full(((top - 1.0 / k) / (1 - 1.0 / k)).clamp(0, 1), self.l_n)

    def alternatives(self, n: int = 3, seed: int = 0, grid: int = 3, **decoding: Any) -> list[torch.Tensor]:
        """Gumbel-perturbed decodings; the noise is constant over a ``grid`` x ``grid`` field (bilinearly
        smoothed) so whole regions change colour together instead of pixels flickering."""
        t, adj = self._opts(decoding)
        logp = self.net.adjusted(self.logits, **adj)
        gen = torch.Generator().manual_seed(seed)
        outs = []
        for _ in range(n):
            u = torch.rand(1, logp.shape[1], grid, grid, generator=gen).clamp(1e-6, 1 - 1e-6)
            g = F.interpolate(-torch.log(-torch.log(u)), size=logp.shape[-2:], mode="bilinear", align_corners=False)
            outs.append(self.net.to_full(self.net.decode(logp + g.to(logp.device), max(t, 0.05)), self.l_n))
        return outs


class Family:
    """Base class: one subclass per model kind, registered in `registry`.

    The three option specs are the only place a family's knobs, their ranges and their defaults are
    declared; a trained model's chosen values live in its card. Front ends derive their options from
    these specs (see `cli._knobs`), so a new knob needs no front-end edit.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    options: ClassVar[dict[str, Option]] = {}  # architecture options (stored in the card)
    train_options: ClassVar[dict[str, Option]] = {}  # family-specific training options
    decoding: ClassVar[dict[str, Option]] = {}  # inference knobs (temperature, ...) with their defaults
    offers: ClassVar[frozenset[str]] = frozenset()  # what its predictions offer: confidence, alternatives, distribution
    default_render_size: ClassVar[int] = 128  # a card without inference.render_size renders at this
    manual_optimization: ClassVar[bool] = False

    def check_options(self, given: dict[str, Any]) -> dict[str, Any]:
        return check_options(self.name, self.options, given, "option")

    def check_train_options(self, given: dict[str, Any]) -> dict[str, Any]:
        return check_options(self.name, self.train_options, given, "training option")

    def check_decoding(self, given: dict[str, Any]) -> dict[str, Any]:
        return check_options(self.name, self.decoding, given, "decoding option")

    # -- network
    def build(self, options: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def inference_input(self, l_n: torch.Tensor, conditioning: dict[str, Any] | None = None) -> NetInput:
        """The network input for normalised L ``[B,1,h,w]`` and a user's ``conditioning`` (none for the
        shipped families: L alone)."""
        if conditioning:
            raise ChromatizeError(f"{self.name} takes no conditioning ({', '.join(sorted(conditioning))})")
        return NetInput(l_n)

    def training_input(
        self, l_n: torch.Tensor, ab_n: torch.Tensor, opts: dict[str, Any], net: nn.Module | None = None
    ) -> NetInput:
        """The network input of a training batch (a conditioned family simulates its conditioning from
        the truth ``ab_n`` here, when ``net`` takes it)."""
        return NetInput(l_n)

    def run(self, net: nn.Module, inp: NetInput, run=None, flip: bool = False) -> torch.Tensor:
        """The network part: ``net.raw`` (or an engine's ``run``) on the padded input tensor; ``flip``:
        averaged with the run on the mirrored input (mirrored back)."""
        x = inp.tensor(net.stride)
        f = run if run is not None else net.raw
        raw = f(x).float()
        if flip:
            raw = (raw + f(x.flip(-1)).float().flip(-1)) / 2
        return raw

    def predict(self, net: nn.Module, inp: NetInput, run=None, flip: bool = False) -> Prediction:
        """Run the network once on ``inp``; colour, confidence and alternatives are views of the result.

        An engine may supply ``run`` (padded input tensor -> the same raw output as ``net.raw``);
        pre- and post-processing stay here, identical for every engine.
        """
        raw = self.run(net, inp, run, flip)
        if not torch.isfinite(raw).all() or raw.abs().max() > 1e6:  # e.g. bit flips: huge or overflowing
            raise ChromatizeError(
                "the network produced NaN or infinite (or absurdly large) values: its weights look damaged"
            )
        return self.from_raw(net, raw, inp.l_n)

    def chroma(self, net: nn.Module, inp: NetInput, decoding: dict[str, Any]) -> torch.Tensor:
        """Chroma ``[B,2,h,w]`` of a batch with complete decoding values (a card's ``decoding``): what
        validation, sample grids and training scripts show, decoded exactly as users get it."""
        return self.from_raw(net, self.run(net, inp), inp.l_n).chroma(**decoding)

    def from_raw(self, net: nn.Module, raw: torch.Tensor, l_n: torch.Tensor) -> Prediction:
        return ChromaPrediction(raw, l_n)

    # -- training
    def init_training(self, net: nn.Module, train_images: Any, space: str, opts: dict[str, Any], run: Any) -> None:
        """Before the first step of a fresh run (not a resume, not ``--init``): palettes, priors, pretrained
        weights. ``train_images`` is a callable giving ``n`` RGB training images ``[n,3,S,S]``."""

    def extra_modules(self, opts: dict[str, Any]) -> dict[str, nn.Module]:
        """Networks trained beside the model (a discriminator) and saved in checkpoints only."""
        return {}

    def training_step(
        self, net: nn.Module, batch: tuple[NetInput, torch.Tensor], opts: dict[str, Any], aux: Any = None
    ) -> dict[str, Any]:
        """Losses for one batch ``(network input, true chroma)`` with training options ``opts``; ``loss``
        is optimised (automatic optimisation). ``aux``: what a manually optimised family needs besides
        the network (its extra modules, optimisers and backward; the Lightning module)."""
        raise NotImplementedError

    def configure_optimizers(self, module: Any) -> Any:
        return None  # the default: AdamW over `param_groups`, warm-up and cosine decay

    def param_groups(self, net: nn.Module, opts: dict[str, Any]) -> list[dict[str, Any]]:
        """Parameter groups for the default optimiser (``lr_scale`` multiplies the learning rate)."""
        return [{"params": list(net.parameters()), "lr_scale": 1.0}]

    def validation_logs(self, net: nn.Module, inp: NetInput, ab_n: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def curve_keys(self) -> list[str]:
        """Per-step training logs drawn in ``curves.png``."""
        return ["train_loss_step"]
