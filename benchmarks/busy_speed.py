"""Seconds per 1-megapixel photo, idle and on a busy machine, for several thread settings, in one go.

    python benchmarks/busy_speed.py --photo ../shared/data/kodak24/kodim05.png

Each setting runs in a fresh process (thread settings and OpenMP's wait policy are read at start):
idle; beside a busy loop on one core (a second process spinning for the whole measurement); and two
chromatize processes colouring side by side. Prints the median seconds per photo and the ratio to idle.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

WORKER = r"""
import json, sys, time
import torch
from PIL import Image
from chromatize import inference
threads = int(sys.argv[2])
if threads:
    torch.set_num_threads(threads)
img = Image.open(sys.argv[1])
m = inference.load_model()
inference.colorize(img, m)
ts = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter(); inference.colorize(img, m); ts.append(time.perf_counter() - t)
print(json.dumps(ts))
"""


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def run(photo: Path, threads: int, n: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(photo), str(threads), str(n)],
        stdout=subprocess.PIPE,
        env={**os.environ, **env},
        text=True,
    )


def median(p: subprocess.Popen) -> float:
    out, _ = p.communicate()
    return statistics.median(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo", required=True)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--settings", default="2,1,auto", help="threads[:passive], or auto (chromatize's policy)")
    a = ap.parse_args()
    photo = Path(tempfile.mkdtemp()) / "photo_1mp.png"
    Image.open(a.photo).convert("L").resize((1224, 816)).save(photo)
    for setting in a.settings.split(","):
        threads, _, policy = setting.partition(":")
        env = {"OMP_WAIT_POLICY": "PASSIVE"} if policy == "passive" else {}
        n = 0 if threads == "auto" else int(threads)
        env["CHROMATIZE_THREADS"] = "auto" if threads == "auto" else str(n)  # a fixed count: the policy off
        idle = median(run(photo, n, a.runs, env))
        busy_loop = mp.Process(target=spin, args=(120,))
        busy_loop.start()
        try:
            busy = median(run(photo, n, a.runs, env))
        finally:
            busy_loop.terminate()
        pair = [run(photo, n, a.runs, env) for _ in range(2)]
        two = max(median(p) for p in pair)
        print(
            f"{setting:>12s}: idle {idle:.3f} s, beside a busy core {busy:.3f} s ({busy / idle:.1f}x), "
            f"two processes {two:.3f} s ({two / idle:.1f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
