"""Print CPU training throughput (images/s at 64x64) per family and per speed option.

Usage: python benchmarks/train_throughput.py [--steps 5] [--batch 64]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from chromatize.models.registry import build


def measure(family: str, kw: dict, batch: int, steps: int, channels_last: bool, bf16: bool) -> float:
    torch.manual_seed(0)
    m = build(family, **kw).train()
    x, y = torch.rand(batch, 1, 64, 64), torch.rand(batch, 2, 64, 64)
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(m.parameters())
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    for i in range(steps + 2):
        if i == 2:
            t = time.perf_counter()
        with ctx():
            loss = (m(x).float() - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t)


def conv_tflops(bf16: bool, n: int = 20) -> float:
    """The box's dense conv throughput: a 3x3 conv, 128 -> 128 channels on 64 x 64 x 64, forward only."""
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
    x = torch.rand(64, 128, 64, 64).contiguous(memory_format=torch.channels_last)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.no_grad(), ctx:
        conv(x)
        t = time.perf_counter()
        for _ in range(n):
            conv(x)
    flops = 2 * 64 * 128 * 128 * 9 * 64 * 64 * n
    return flops / (time.perf_counter() - t) / 1e12


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--families", default="efficientnet_unet,regression,classification,gan")
    a = ap.parse_args()
    print(f"threads={torch.get_num_threads()}  batch={a.batch}  64x64")
    print(f"dense 3x3 conv: fp32 {conv_tflops(False):.2f} TFLOP/s, bf16 {conv_tflops(True):.2f} TFLOP/s")
    for fam in a.families.split(","):
        for cl, bf in [(False, False), (True, False), (False, True), (True, True)]:
            kw = {"bins": 22} if fam == "efficientnet_unet" else {}
            r = measure(fam, kw, a.batch, a.steps, cl, bf)
            print(f"{fam:15s} channels_last={cl!s:5s} bf16={bf!s:5s} {r:7.1f} img/s")


if __name__ == "__main__":
    main()
