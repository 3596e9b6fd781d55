"""Reruns into the same output folder (issue 24 cases 1, 2, 10): the manifest decides, not the names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from chromatize.batch import run_batch

from .conftest import smooth_color_image


def gray(seed: int = 0, size: int = 40) -> Image.Image:
    return smooth_color_image(seed, size).convert("L")


def log_lines(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def test_adding_a_file_with_the_same_stem_colours_it_and_keeps_the_first(tmp_path, tiny_reg_dir):
    """Case 1: in/photo.png coloured; add in/photo.jpg and rerun: photo.jpg was 'skipped' (photo.png's
    colouring had its name), photo.png was coloured again into photo-2.png, and the new photo never."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    gray(1).save(src / "photo.png")
    assert run_batch([str(src)], out, model=str(tiny_reg_dir), progress=False) == (1, 0, 0)
    first = (out / "photo.png").read_bytes()
    gray(2, 44).save(src / "photo.jpg")
    log = tmp_path / "log.jsonl"
    assert run_batch([str(src)], out, model=str(tiny_reg_dir), progress=False, log=log) == (1, 1, 0)
    by_input = {Path(r["input"]).name: r for r in log_lines(log)}
    assert by_input["photo.png"]["status"] == "skipped" and Path(by_input["photo.png"]["output"]).name == "photo.png"
    assert by_input["photo.jpg"]["status"] == "ok" and Path(by_input["photo.jpg"]["output"]).name == "photo-2.png"
    assert (out / "photo.png").read_bytes() == first
    assert Image.open(out / "photo-2.png").size == (44, 44)  # the new photo's colouring, at its size


def test_a_changed_input_is_coloured_again(tmp_path, tiny_reg_dir):
    src, out = tmp_path / "a.png", tmp_path / "out"
    gray(1).save(src)
    run_batch([str(src)], out, model=str(tiny_reg_dir), progress=False)
    gray(3, 36).save(src)
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    assert run_batch([str(src)], out, model=str(tiny_reg_dir), progress=False) == (1, 0, 0)
    assert Image.open(out / "a.png").size == (36, 36)


def test_confidence_maps_are_reserved_and_owned(tmp_path, tiny_cls_dir):
    """Case 2: inputs a.png and a.confidence.png gave one overwritten output while the log said ok;
    someone else's out/a.confidence.png was replaced."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    gray(1).save(src / "a.png")
    gray(2, 30).save(src / "a.confidence.png")
    r = run_batch([str(src)], out, model=str(tiny_cls_dir), progress=False, confidence=True)
    assert r == (2, 0, 0)
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert len(names) == 4  # two colourings, two confidence maps, none overwritten
    sizes = sorted(Image.open(out / n).size for n in names if "confidence" not in n.replace("a.confidence.png", "X"))
    assert (30, 30) in sizes and (40, 40) in sizes
    other = tmp_path / "out2"
    other.mkdir()
    Image.new("RGB", (5, 5), "red").save(other / "b.confidence.png")  # someone else's file
    gray(4).save(src / "b.png")
    r = run_batch([str(src / "b.png")], other, model=str(tiny_cls_dir), progress=False, confidence=True)
    assert r == (0, 0, 1)
    assert Image.open(other / "b.confidence.png").size == (5, 5)


def test_other_settings_are_said_and_redone_with_overwrite(tmp_path, tiny_cls_dir, capsys):
    """Case 10: another model or temperature into the same OUT printed '1 skipped (already done)'."""
    src, out = tmp_path / "a.png", tmp_path / "out"
    gray(1).save(src)
    run_batch([str(src)], out, model=str(tiny_cls_dir), progress=False)
    before = (out / "a.png").read_bytes()
    capsys.readouterr()
    r = run_batch([str(src)], out, model=str(tiny_cls_dir), progress=False, decoding={"temperature": 0.9})
    err = capsys.readouterr().err
    assert r == (0, 1, 0) and "other settings (temperature 0.38 -> 0.9)" in err and "--overwrite" in err
    assert (out / "a.png").read_bytes() == before
    r = run_batch(
        [str(src)], out, model=str(tiny_cls_dir), progress=False, decoding={"temperature": 0.9}, overwrite=True
    )
    assert r == (1, 0, 0) and (out / "a.png").read_bytes() != before
    r = run_batch([str(src)], out, model=str(tiny_cls_dir), progress=False, decoding={"temperature": 0.9})
    assert r == (0, 1, 0)  # now it matches: plainly done


def test_changed_hints_are_said(tmp_path, tiny_cls_dir, capsys):
    src, out = tmp_path / "a.png", tmp_path / "out"
    gray(1).save(src)
    blue = {"*": {"points": [{"x": 0.5, "y": 0.5, "colour": "#1040c0"}]}}
    run_batch([str(src)], out, model=str(tiny_cls_dir), progress=False, hints=blue)
    was = np.asarray(Image.open(out / "a.png").convert("RGB")).astype(int)
    red = {"*": {"points": [{"x": 0.5, "y": 0.5, "colour": "#c01010"}]}}
    capsys.readouterr()
    assert run_batch([str(src)], out, model=str(tiny_cls_dir), progress=False, hints=red) == (0, 1, 0)
    assert "hints changed" in capsys.readouterr().err
    assert run_batch([str(src)], out, model=str(tiny_cls_dir), progress=False, hints=red, overwrite=True) == (1, 0, 0)
    now = np.asarray(Image.open(out / "a.png").convert("RGB")).astype(int)
    assert (now[..., 0] - now[..., 2]).mean() > (was[..., 0] - was[..., 2]).mean() + 5  # redder now


def test_an_unreadable_manifest_is_a_note_not_a_failure(tmp_path, tiny_reg_dir, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".chromatize-manifest.json").write_text("{not json")
    gray(1).save(tmp_path / "a.png")
    assert run_batch([str(tmp_path / "a.png")], out, model=str(tiny_reg_dir), progress=False) == (1, 0, 0)
    assert "unreadable" in capsys.readouterr().err
    assert json.loads((out / ".chromatize-manifest.json").read_text())["outputs"]  # rewritten
