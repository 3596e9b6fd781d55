"""Colouring on a local Dask cluster: same files as a local run; a killed worker loses nothing."""

from __future__ import annotations

import functools
import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from chromatize.batch import run_batch
from chromatize.cluster import run_on_cluster

from .conftest import smooth_color_image

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")


def photos(root: Path, n: int, size: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        smooth_color_image(i, size).convert("L").save(root / f"p{i:03d}.png")
    return root


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run(inputs, out, tiny_reg_dir, cluster=None, log=None):
    execute = None if cluster is None else functools.partial(run_on_cluster, cluster)
    return run_batch(
        [str(inputs)], out, model=str(tiny_reg_dir), progress=False, execute=execute, batch_size=4, log=log
    )


@pytest.mark.slow
def test_cluster_gives_the_same_files_as_a_local_run(tiny_reg_dir, tmp_path):
    src = photos(tmp_path / "in", 200, 96)
    assert run(src, tmp_path / "local", tiny_reg_dir) == (200, 0, 0)
    assert run(src, tmp_path / "dask", tiny_reg_dir, "local:2") == (200, 0, 0)
    assert digests(tmp_path / "local") == digests(tmp_path / "dask")
    assert run(src, tmp_path / "dask", tiny_reg_dir, "local:2") == (0, 200, 0)  # resume: all done


def test_cluster_small_batch_matches_and_reports_bad_files(tiny_reg_dir, tmp_path):
    """Same files and the same per-file notes as a local run (issue 24 case 8: the cluster dropped the
    'already colour' and 'N frames' notes)."""
    import json

    src = photos(tmp_path / "in", 12, 64)
    (src / "broken.png").write_bytes(b"not a png")
    smooth_color_image(50, 64).save(src / "colour.png")
    frames = [smooth_color_image(i, 32).convert("L") for i in (60, 61)]
    frames[0].save(src / "two.gif", save_all=True, append_images=frames[1:])
    assert run(src, tmp_path / "local", tiny_reg_dir, log=tmp_path / "local.jsonl") == (14, 0, 1)
    assert run(src, tmp_path / "dask", tiny_reg_dir, "local:2", log=tmp_path / "dask.jsonl") == (14, 0, 1)
    assert digests(tmp_path / "local") == digests(tmp_path / "dask")

    def notes(log):
        return sorted(
            (Path(d["input"]).name, n)
            for d in map(json.loads, log.read_text().splitlines())
            for n in d.get("notes", [])
        )

    assert notes(tmp_path / "local.jsonl") == notes(tmp_path / "dask.jsonl")
    assert ("colour.png", "already colour; colourized from its lightness") in notes(tmp_path / "dask.jsonl")
    assert ("two.gif", "2 frames: only the first is coloured") in notes(tmp_path / "dask.jsonl")


def _worker_pids() -> list[int]:
    """Worker processes: LocalCluster's nannies (in this process) spawn them as our children."""
    out = []
    for p in psutil.Process().children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and any("spawn_main" in c for c in p.cmdline()):
                out.append(p.pid)
        except psutil.Error:
            continue
    return out


@pytest.mark.slow
def test_killing_a_worker_mid_run_loses_nothing(tiny_reg_dir, tmp_path):
    src = photos(tmp_path / "in", 48, 320)
    out = tmp_path / "dask"
    result = {}
    t = threading.Thread(target=lambda: result.update(r=run(src, out, tiny_reg_dir, "local:2")))
    t.start()
    deadline, killed = time.time() + 120, None
    while time.time() < deadline and killed is None:
        done = list(out.glob("*.png")) if out.is_dir() else []
        pids = _worker_pids()
        if len(done) >= 2 and pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    t.join(timeout=300)
    assert killed is not None, "no worker was killed: the run ended too early"
    assert result["r"][2] == 0 and result["r"][0] + result["r"][1] == 48
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in src.glob("*.png"))
    assert not list(out.rglob("*.part"))
    assert run(src, tmp_path / "local", tiny_reg_dir) == (48, 0, 0)
    assert digests(tmp_path / "local") == digests(out)  # every file complete and identical
