"""OpenVINO engine: the network part (``net.raw`` on padded L) converted once, cached, run in fp32."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import openvino as ov
import torch


class _Raw(torch.nn.Module):
    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.raw(x)


class OpenVINORunner:
    """Callable: the padded network input ``[B,C,H,W]`` (`NetInput.tensor`; H, W multiples of the net's
    stride, C = ``net.in_channels``: L and any conditioning planes) -> the network's raw output."""

    def __init__(self, net: torch.nn.Module, key: str, cache: Path, precision: str = "f32"):
        folder = cache / f"{key}-{ov.__version__}"
        xml = folder / "model.xml"
        if not xml.is_file():
            self._convert(net, folder)
        core = ov.Core()
        self.compiled = core.compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": precision})
        self.precision = precision

    @staticmethod
    def _convert(net: torch.nn.Module, folder: Path) -> None:
        """Convert with dynamic batch and size, written to a temporary folder renamed into place."""
        s, c = int(getattr(net, "stride", 32)), int(getattr(net, "in_channels", 1))
        example = torch.zeros(1, c, 2 * s, 3 * s)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape arithmetic: the input shape is dynamic
            model = ov.convert_model(_Raw(net.eval()), example_input=example, input=[ov.PartialShape([-1, c, -1, -1])])
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "model.xml").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.compiled(np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32))[0]
        return torch.from_numpy(np.asarray(out))
