"""Colorize speed on this machine: 64x64 batch throughput, 1-MP end-to-end time, 24-MP peak memory.

Usage: python benchmarks/colorize_speed.py [--model NAME_OR_DIR] [--profile]
The 24-MP case runs in a child process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import subprocess
import sys
import time

import numpy as np
from PIL import Image


def photo(h: int, w: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = 128 + 60 * np.sin(xx / 37.0) * np.cos(yy / 53.0) + rng.normal(0, 8, (h, w))
    return Image.fromarray(np.clip(g, 0, 255).astype(np.uint8), "L")


def big(model: str | None, mp: float) -> None:
    from chromatize.inference import colorize, load_model

    m = load_model(model)
    side = int((mp * 1e6) ** 0.5)
    img = photo(side, side)
    t = time.perf_counter()
    out = colorize(img, m)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{img.width}x{img.height} ({img.width * img.height / 1e6:.1f} MP): {dt:.2f} s, peak RSS {rss:.0f} MiB, "
        f"out {out.size}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--big-child", type=float, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.big_child:
        big(a.model, a.big_child)
        return
    import torch

    from chromatize.inference import colorize, colorize_many, load_model

    m = load_model(a.model)
    print(f"model={m.name} family={m.family} threads={torch.get_num_threads()}")
    imgs = [photo(64, 64, i) for i in range(256)]
    colorize_many(imgs[:8], m)
    t = time.perf_counter()
    colorize_many(imgs, m, batch_size=64)
    dt = time.perf_counter() - t
    print(f"64x64 batch of {len(imgs)}: {len(imgs) / dt:.0f} images/s")
    one = photo(1000, 1000)
    colorize(one, m)
    t = time.perf_counter()
    colorize(one, m)
    print(f"1 MP (1000x1000) end-to-end: {time.perf_counter() - t:.3f} s (render size {m.default_render_size()})")
    if a.profile:
        pr = cProfile.Profile()
        pr.enable()
        colorize(one, m)
        colorize_many(imgs[:64], m, batch_size=64)
        pr.disable()
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(12)
        print(s.getvalue())
    cmd = [sys.executable, __file__, "--big-child", "24"] + (["--model", a.model] if a.model else [])
    print(subprocess.run(cmd, capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
