"""A hostile demo client: 240 requests from 8 threads, huge and malicious uploads among them.

    python benchmarks/hostile_demo.py [--requests 240] [--threads 8]

Starts `chromatize demo` (default model) in a child process and sends through the real API
(`gradio_client`): small gray photos (60 %), a 49-megapixel JPEG (10 %), a JPEG of 3,000 scans (10 %),
junk bytes named .png (10 %) and unknown model names (10 %), shuffled. The queue serves one request at
a time, so the gap between two consecutive answers is the time the second one took once its turn came.
Reports: answers and their kinds, the slowest turn of a small request, the slowest turn of any request,
and the server's peak RSS (VmHWM). Prints JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files(d: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    small = Image.fromarray((rng.random((40, 60)) * 255).astype(np.uint8)).resize((300, 200), Image.BICUBIC)
    small.save(d / "small.png")
    Image.fromarray((rng.random((570, 860)) * 255).astype(np.uint8)).resize((8600, 5700), Image.BILINEAR).save(
        d / "huge.jpg", quality=85
    )
    buf = io.BytesIO()
    small.save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    sos, eoi = data.index(b"\xff\xda"), data.rindex(b"\xff\xd9")
    scans = data[sos:eoi]
    first = scans.index(b"\xff\xda", 2) if scans.count(b"\xff\xda") > 1 else len(scans)
    (d / "scans.jpg").write_bytes(data[:sos] + scans + scans[:first] * 3000 + data[eoi:])
    (d / "junk.png").write_bytes(os.urandom(5000))
    return {"small": d / "small.png", "huge": d / "huge.jpg", "scans": d / "scans.jpg", "junk": d / "junk.png"}


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=240)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    from gradio_client import Client, handle_file

    from chromatize.inference import default_model_name

    model = default_model_name()
    port = free_port()
    d = Path(tempfile.mkdtemp())
    fs = files(d)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(d / "demo.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chromatize", "demo", "--port", str(port)], stdout=log, stderr=log, env=env
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    kinds = ["small"] * 6 + ["huge", "scans", "junk", "badmodel"]
    plan = [kinds[i % len(kinds)] for i in range(a.requests)]
    random.Random(0).shuffle(plan)
    done: list[tuple[float, str, str]] = []
    lock = threading.Lock()

    def one(kind: str) -> None:
        c = Client(url, verbose=False)
        f = fs["small" if kind == "badmodel" else kind]
        name = "no/such/model" if kind == "badmodel" else model
        try:
            out, msg = c.predict(handle_file(str(f)), name, "", api_name="/colorize")
            result = "image" if out else f"message: {msg[:60]}"
        except Exception as e:  # noqa: BLE001 - the client's view of a failure
            result = f"error: {type(e).__name__}: {str(e)[:120]}"
        with lock:
            done.append((time.perf_counter(), kind, result))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(a.threads) as ex:
        list(ex.map(one, plan))
    total = time.perf_counter() - t0
    rss = vm_hwm_mib(proc.pid)
    proc.terminate()
    proc.wait(timeout=30)
    done.sort()
    turns = [(t - prev, kind) for (prev, _, _), (t, kind, _) in zip(done, done[1:])]
    outcome: dict[str, dict[str, int]] = {}
    for _, kind, result in done:
        key = result.split(":")[0] if not result.startswith("message") else result
        outcome.setdefault(kind, {}).setdefault(key, 0)
        outcome[kind][key] += 1
    res = {
        "requests": len(done),
        "threads": a.threads,
        "seconds": round(total, 1),
        "outcomes": outcome,
        "slowest_small_turn_s": round(max(t for t, k in turns if k == "small"), 2),
        "slowest_turn_s": round(max(t for t, _ in turns), 2),
        "slowest_turn_kind": max(turns)[1],
        "server_peak_rss_mib": round(rss),
        "errors": sorted({r for _, _, r in done if r.startswith("error")}),
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
