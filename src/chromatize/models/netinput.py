"""What a network sees: normalised L plus whatever a family conditions on, built and padded in one place.

A `NetInput` holds L ``[B,1,H,W]`` and optional conditioning planes ``[B,C,H,W]`` (hint colours, a hint
mask, ...). It pads both to the network's stride (L by reflection, planes with zeros: no conditioning in
the padding), mirrors both for flip averaging, and gives engines one ``[B,1+C,H,W]`` tensor. Front ends
never build network tensors; a family turns L and the user's conditioning into a NetInput
(`Family.inference_input`) and a training batch into one (`Family.training_input`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ChromatizeError


def pad_to(x: torch.Tensor, stride: int, mode: str = "reflect") -> torch.Tensor:
    """Pad ``[B,C,H,W]`` at the bottom/right to multiples of ``stride`` (``reflect``, falling back to
    replicate when the image is smaller than the padding; or ``zeros``)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    if ph or pw:
        if mode == "zeros":
            return F.pad(x, (0, pw, 0, ph))
        mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x


@dataclass(frozen=True)
class NetInput:
    """Normalised L ``[B,1,H,W]`` and conditioning planes ``[B,C,H,W]`` (``None``: C = 0)."""

    l_n: torch.Tensor
    planes: torch.Tensor | None = None

    def __post_init__(self):
        if self.l_n.dim() != 4 or self.l_n.shape[1] != 1:
            raise ChromatizeError(f"network input: L must be [B,1,H,W], got {list(self.l_n.shape)}")
        p = self.planes
        if p is not None and (p.dim() != 4 or p.shape[0] != self.l_n.shape[0] or p.shape[-2:] != self.l_n.shape[-2:]):
            raise ChromatizeError(
                f"network input: planes {list(p.shape)} do not match L {list(self.l_n.shape)} (batch and size)"
            )

    @property
    def channels(self) -> int:
        """Channels of `tensor`: 1 + conditioning planes."""
        return 1 + (0 if self.planes is None else self.planes.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.l_n.shape[-2:])

    def __len__(self) -> int:
        return self.l_n.shape[0]

    def tensor(self, stride: int = 1) -> torch.Tensor:
        """``[B,1+C,H',W']``: L and the planes padded to multiples of ``stride``, concatenated."""
        x = pad_to(self.l_n, stride)
        if self.planes is None:
            return x
        return torch.cat([x, pad_to(self.planes.to(x.dtype), stride, "zeros")], 1)

    def to(self, device: torch.device | str) -> NetInput:
        return NetInput(self.l_n.to(device), None if self.planes is None else self.planes.to(device))

    def channels_last(self) -> NetInput:
        cl = torch.channels_last
        return NetInput(
            self.l_n.contiguous(memory_format=cl),
            None if self.planes is None else self.planes.contiguous(memory_format=cl),
        )

    @staticmethod
    def cat(inputs: list[NetInput]) -> NetInput:
        """Stack inputs of the same size and planes into one batch."""
        planes = [i.planes for i in inputs]
        if any(p is None for p in planes) and not all(p is None for p in planes):
            raise ChromatizeError("network input: cannot batch inputs with and without conditioning planes")
        return NetInput(
            torch.cat([i.l_n for i in inputs]),
            None if planes[0] is None else torch.cat(planes),  # type: ignore[arg-type]
        )

    def __getitem__(self, k: slice) -> NetInput:
        return NetInput(self.l_n[k], None if self.planes is None else self.planes[k])
