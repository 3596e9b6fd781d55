"""Colorize speed on this machine, every model and engine in one run: 64x64 batch throughput, a 1-MP photo
end to end (read, colour; and with the PNG write), a 24-MP photo (time and peak RSS, in a child process
so that its peak RSS is its own).

Usage: python benchmarks/colorize_speed.py [--model NAME ...] [--engine torch --engine openvino] [--no-big]
       [--photo ../shared/data/kodak24/kodim05.png] [--mp 24]

``--photo``: time a real photo (turned gray, resized to 1 and 24 MP with its aspect kept) instead of the
synthetic low-colour pattern; real photos have more out-of-gamut colour, so the compose takes longer.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REAL: str | None = None  # --photo: a real photo instead of the pattern


def photo(h: int, w: int, seed: int = 0) -> Image.Image:
    if REAL is not None and h * w > 64 * 64:
        img = Image.open(REAL).convert("L")
        s = (h * w / (img.width * img.height)) ** 0.5
        return img.resize((round(img.width * s), round(img.height * s)), Image.BICUBIC)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = 128 + 60 * np.sin(xx / 37.0) * np.cos(yy / 53.0) + rng.normal(0, 8, (h, w))
    return Image.fromarray(np.clip(g, 0, 255).astype(np.uint8), "L")


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: its own, reset at exec, unlike ru_maxrss after fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big(model: str, engine: str, mp: float) -> dict:
    from chromatize.inference import colorize, load_model

    m = load_model(model, engine=engine)
    side = int((mp * 1e6) ** 0.5)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "big.png"
        photo(side, side).save(p)
        times, rss, size = [], 0.0, None
        for _ in range(3):  # the first call in a fresh process (as one CLI run), then two more
            t = time.perf_counter()
            size = colorize(p, m).size
            times.append(time.perf_counter() - t)
            rss = rss or peak_rss_mib()  # the first call's peak
    return {
        "mp": round(size[0] * size[1] / 1e6, 1),
        "seconds": round(times[0], 2),
        "seconds_again": round(statistics.median(times[1:]), 2),
        "peak_rss_mib": round(rss),
        "size": size,
    }


def timed(fn, repeat: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def small(model: str, engine: str) -> dict:
    from chromatize.imageio import save_image
    from chromatize.inference import colorize, colorize_many, load_model

    m = load_model(model, engine=engine)
    imgs = [photo(64, 64, i) for i in range(256)]
    batch = timed(lambda: colorize_many(imgs, m, batch_size=64), repeat=1)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "one.png"
        photo(1000, 1000).save(p)
        one = timed(lambda: colorize(p, m))
        both = timed(lambda: save_image(colorize(p, m), Path(d) / "out.png", "png"))
    return {
        "engine_used": m.engine,
        "render_size": m.render_size,
        "batch64_img_s": round(len(imgs) / batch),
        "mp1_s": round(one, 3),
        "mp1_with_png_write_s": round(both, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", default=None)
    ap.add_argument("--engine", action="append", default=None)
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--photo", default=None, help="a real photo (resized) instead of the synthetic pattern")
    ap.add_argument("--mp", type=float, default=24, help="megapixels of the big photo (default 24)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    global REAL
    REAL = a.photo
    if a.child:
        model, engine, mp, REAL = json.loads(a.child)
        print(json.dumps(big(model, engine, mp)))
        return
    import torch

    from chromatize.inference import shipped_models

    models = a.model or list(shipped_models())
    engines = a.engine or ["torch", "openvino"]
    print(f"threads={torch.get_num_threads()}")
    print(
        f"| model | engine | 64x64 img/s | 1 MP s | 1 MP + PNG write s | {a.mp:g} MP s (first call) "
        f"| {a.mp:g} MP s (2nd, 3rd: median) | {a.mp:g} MP peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for model in models:
        for engine in engines:
            r = small(model, engine)
            b = {"seconds": "", "seconds_again": "", "peak_rss_mib": ""}
            if not a.no_big:
                cmd = [sys.executable, __file__, "--child", json.dumps([model, engine, a.mp, a.photo])]
                b = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            print(
                f"| {model} | {r['engine_used']} | {r['batch64_img_s']} | {r['mp1_s']} | {r['mp1_with_png_write_s']} "
                f"| {b['seconds']} | {b['seconds_again']} | {b['peak_rss_mib']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
