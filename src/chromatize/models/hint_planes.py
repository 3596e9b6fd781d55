"""User colour hints as network input (the learned route of Zhang et al. 2017, "Real-Time User-Guided
Image Colorization with Learned Deep Priors"): three planes at the network's input size, the hint's
chroma where a hint is and zero elsewhere (two planes), and the hint mask (one plane).

`simulate_hint_planes` draws them from the truth for training, as that paper's simulated user: a
geometric number of points (p = 1/8: one sample in eight has none, seven on average), positions from a
centred Gaussian, square patches of 1-9 pixels at 256 px (scaled with the image), the patch's mean chroma
as the colour. The benchmark's user (`evaluate.hints_bench.simulated_points`) is the same one.

`HintBranch` turns the planes (with L) into additions to the three decoder stages of efficientnet_unet
at strides 16, 8 and 4, each through a zero-initialised 1x1 convolution, so a widened network starts
out exactly as the one it was widened from and learns how far a hint should reach.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PLANES = 3  # hint chroma (2, zero where no hint) and the hint mask (1)
MEAN_POINTS = 7.0  # geometric with p = 1/8: P(0) = 1/8, mean 7
MAX_POINTS = 50


def simulate_hint_planes(ab_n: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Hint planes ``[B,3,H,W]`` drawn from the true chroma ``ab_n`` ``[B,2,H,W]`` (normalised)."""
    b, _, h, w = ab_n.shape
    dev = ab_n.device
    p = 1.0 / (1.0 + MEAN_POINTS)
    u = torch.rand(b, generator=gen).clamp_min(1e-12)
    counts = torch.floor(torch.log(u) / torch.log1p(torch.tensor(-p))).clamp(max=MAX_POINTS).long()
    planes = torch.zeros(b, PLANES, h, w, device=dev, dtype=torch.float32)
    top = int(counts.max())
    if top == 0:
        return planes
    scale = max(h, w) / 256.0
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    ab = ab_n.float()
    for k in range(top):
        active = (counts > k).to(dev)
        size = torch.clamp(torch.round(torch.randint(1, 10, (b,), generator=gen) * scale), min=1).long().to(dev)
        cy = (torch.randn(b, generator=gen) * h / 4 + h / 2).clamp(0, h - 1).long().to(dev)
        cx = (torch.randn(b, generator=gen) * w / 4 + w / 2).clamp(0, w - 1).long().to(dev)
        y0, x0 = (cy - size // 2).clamp(min=0), (cx - size // 2).clamp(min=0)
        y1, x1 = (y0 + size).clamp(max=h), (x0 + size).clamp(max=w)
        box = (ys >= y0.view(b, 1, 1)) & (ys < y1.view(b, 1, 1)) & (xs >= x0.view(b, 1, 1)) & (xs < x1.view(b, 1, 1))
        box &= active.view(b, 1, 1)
        m = box.unsqueeze(1).float()
        colour = (ab * m).sum((2, 3), keepdim=True) / m.sum((2, 3), keepdim=True).clamp_min(1.0)
        planes[:, :2] = torch.where(box.unsqueeze(1), colour.expand(-1, -1, h, w), planes[:, :2])
        planes[:, 2:] = torch.maximum(planes[:, 2:], m)
    return planes


def pooled(planes: torch.Tensor, l_n: torch.Tensor, stride: int) -> torch.Tensor:
    """``[B,4,H/s,W/s]``: the mean hint chroma of each cell's hinted pixels, whether it has any, and L."""
    m = F.avg_pool2d(planes[:, 2:], stride)
    ab = F.avg_pool2d(planes[:, :2] * planes[:, 2:], stride) / m.clamp_min(1e-6)
    return torch.cat([ab, (m > 0).to(ab.dtype), F.avg_pool2d(l_n, stride)], 1)


def _zero_conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class HintBranch(nn.Module):
    """Hint planes and L -> additions ``[B,c,H/s,W/s]`` for decoder stages at strides 16, 8, 4 (channels
    ``outs``). The stride-16 path has dilated convolutions (a reach of 15 cells, 240 input pixels), the
    finer ones two plain 3x3 convolutions each."""

    strides = (16, 8, 4)

    def __init__(self, outs: tuple[int, int, int], width: int = 48):
        super().__init__()

        def conv(cin: int, cout: int, dil: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dil, dilation=dil), nn.ReLU(inplace=True))

        self.paths = nn.ModuleList(
            [
                nn.Sequential(conv(4, width), conv(width, width, 2), conv(width, width, 4), _zero_conv(width, outs[0])),
                nn.Sequential(conv(4, width // 2), conv(width // 2, width // 2), _zero_conv(width // 2, outs[1])),
                nn.Sequential(conv(4, width // 2), conv(width // 2, width // 2), _zero_conv(width // 2, outs[2])),
            ]
        )

    def forward(self, planes: torch.Tensor, l_n: torch.Tensor) -> list[torch.Tensor]:
        return [path(pooled(planes, l_n, s)) for path, s in zip(self.paths, self.strides)]
