"""End-to-end film figures: speed, memory, sound, and a kill -9 in the middle.

    python benchmarks/film_bench.py --clip ../shared/data/clips/cows -o /tmp/film_bench [--long]

Makes gray 854x480 H.264 films with an AAC sound track from a DAVIS clip (played forwards and backwards
in a loop, so there is no cut), then through the real command line (`chromatize colorize`):
- speed: frames per second for a 30-second film, end to end (decode, colour, encode; start-up included);
- sound: the output's audio packets against the input's (pts, dts and bytes);
- kill -9: a second run is killed once its first chunk is finished; the rerun must reuse that chunk
  and give a file byte-identical to the uninterrupted run;
- memory (``--long``): peak RSS of a 10-minute film against a 10-second one (GNU time's %M).
Writes ``film_bench.json`` and prints it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

RATE = 25
# One thread count for every run: float sums differ in the last bits between thread counts, so an
# uninterrupted run and a killed-and-resumed one are compared at the same count (a resumed film reuses
# the count its chunks were made with; see `threads.ThreadPolicy.holding`).
ENV = {**os.environ, "CHROMATIZE_THREADS": os.environ.get("CHROMATIZE_THREADS", "2")}


def make_film(frames_dir: Path, seconds: float, path: Path) -> Path:
    files = sorted(frames_dir.glob("*.jpg")) + sorted(frames_dir.glob("*.png"))
    frames = [np.asarray(Image.open(f).convert("L").convert("RGB").resize((854, 480))) for f in files]
    n = int(seconds * RATE)
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=RATE, options={"crf": "18", "preset": "veryfast"})
    vs.width, vs.height, vs.pix_fmt = 854, 480, "yuv420p"
    a = out.add_stream("aac", rate=44100)
    loop = 2 * len(frames) - 2
    for i in range(n):
        k = i % loop
        k = k if k < len(frames) else loop - k
        for p in vs.encode(av.VideoFrame.from_ndarray(frames[k], format="rgb24")):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    samples = 44100 * n // RATE
    for k in range(0, samples, 1024):
        t = np.arange(k, min(k + 1024, samples)) / 44100
        pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        af = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
        af.sample_rate, af.pts = 44100, k
        for p in a.encode(af):
            out.mux(p)
    for p in a.encode():
        out.mux(p)
    out.close()
    return path


def audio_packets(path: Path) -> list:
    with av.open(str(path)) as c:
        return [(p.pts, p.dts, hashlib.sha1(bytes(p)).hexdigest()) for p in c.demux(c.streams.audio[0]) if p.size]


def colorize(src: Path, out: Path, timed: bool = False) -> tuple[float, int | None, str]:
    """(seconds, peak RSS kB or None, stderr) of one `chromatize colorize` run."""
    cmd = [sys.executable, "-m", "chromatize", "colorize", str(src), "-o", str(out)]
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if timed and gnu_time:
        cmd = [gnu_time, "-f", "RSS_KB %M", *cmd]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"colorize failed: {r.stderr[-2000:]}")
    rss = next((int(ln.split()[1]) for ln in r.stderr.splitlines() if ln.startswith("RSS_KB")), None)
    return secs, rss, r.stderr


def killed_run(src: Path, out: Path) -> dict:
    """Kill -9 a run as soon as its first chunk is on disk, then rerun it."""
    cmd = [sys.executable, "-m", "chromatize", "colorize", str(src), "-o", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    parts = out / f".{src.name}.parts"
    while p.poll() is None and not list(parts.glob("chunk-*.nut")):
        time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    chunks_at_kill = len(list(parts.glob("chunk-*.nut")))
    partial = bool(list(parts.glob("*.part")))  # the chunk being written when killed (removed on rerun)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    return {
        "chunks_on_disk_at_kill": chunks_at_kill,
        "partial_chunk_at_kill": partial,
        "work_folder_left_after_rerun": parts.exists(),
        "rerun_seconds": round(time.perf_counter() - t0, 1),
        "rerun_says": [ln for ln in r.stderr.splitlines() if "frames" in ln],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", required=True, help="folder of colour frames (a DAVIS clip)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--long", action="store_true", help="also the 10-minute film (about 30 minutes on 2 cores)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res: dict = {"threads": ENV["CHROMATIZE_THREADS"]}
    f30 = make_film(Path(a.clip), 30, a.out / "film30s.mp4")
    secs, rss, _ = colorize(f30, a.out / "whole", timed=True)
    n = int(30 * RATE)
    res["speed_30s_film"] = {"frames": n, "seconds": round(secs, 1), "fps_end_to_end": round(n / secs, 2)}
    dst = a.out / "whole" / "film30s.mp4"
    res["audio_identical"] = audio_packets(dst) == audio_packets(f30)
    res["audio_packets"] = len(audio_packets(f30))
    res["killed"] = killed_run(f30, a.out / "killed")
    res["killed"]["same_bytes_as_uninterrupted"] = (a.out / "killed" / "film30s.mp4").read_bytes() == dst.read_bytes()
    if a.long:
        f10 = make_film(Path(a.clip), 10, a.out / "film10s.mp4")
        _, rss10, _ = colorize(f10, a.out / "short", timed=True)
        f600 = make_film(Path(a.clip), 600, a.out / "film10min.mp4")
        s600, rss600, _ = colorize(f600, a.out / "long", timed=True)
        res["memory"] = {
            "rss_10s_kb": rss10,
            "rss_10min_kb": rss600,
            "ratio": round(rss600 / rss10, 3) if rss10 and rss600 else None,
            "fps_10min": round(600 * RATE / s600, 2),
        }
    (a.out / "film_bench.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
