from __future__ import annotations

import csv
import tarfile

import numpy as np
import torch
from typer.testing import CliRunner

from chromatize.cli import app
from chromatize.data.datasets import ColorizationDataset
from chromatize.data.prepare import prepare

from .conftest import smooth_color_image


def _by_id(rows):
    return {r["id"]: r for r in rows}


def test_cleaning_reasons(messy_folder, tmp_path):
    res = prepare([messy_folder], tmp_path / "p", size=48, progress=False)
    rows = _by_id(res.rows)
    reason = {k.split("/", 1)[1]: v["reason"] for k, v in rows.items()}
    kept = {k.split("/", 1)[1] for k, v in rows.items() if v["split"]}
    assert kept == {"good.jpg", "cmyk.jpg", "rgba.png"}
    assert reason["truncated.jpg"].startswith("unreadable: truncated")
    assert reason["zero.png"].startswith("unreadable: empty file")
    assert reason["text.jpg"].startswith("unreadable: not an image")
    assert reason["gray.png"].startswith("grayscale")
    assert reason["small.png"].startswith("too small")
    assert reason["good_copy.jpg"].startswith("duplicate: of messy/")
    with open(tmp_path / "p" / "manifest.csv", newline="") as f:
        assert list(csv.DictReader(f)) == [{k: str(v) for k, v in r.items()} for r in res.rows]


def test_rgb_image_without_chroma_is_grayscale(tmp_path):
    d = tmp_path / "g"
    d.mkdir()
    smooth_color_image(3, 64).convert("L").convert("RGB").save(d / "grayrgb.jpg", quality=80)
    smooth_color_image(4, 64).save(d / "colour.jpg", quality=80)
    res = prepare([d], tmp_path / "p", size=64, progress=False)
    reasons = {r["id"]: r["reason"] for r in res.rows}
    assert reasons["g/grayrgb.jpg"].startswith("grayscale: mode RGB")
    assert reasons["g/colour.jpg"] == ""


def test_split_is_reproducible_and_stable(color_folder, tmp_path):
    a = prepare([color_folder], tmp_path / "a", size=32, progress=False, fractions=(0.5, 0.25, 0.25))
    b = prepare([color_folder], tmp_path / "b", size=32, progress=False, fractions=(0.5, 0.25, 0.25))
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (tmp_path / "b" / "manifest.csv").read_bytes()
    assert len(a.kept) == 3  # all three splits are used
    new = tmp_path / "new"
    new.mkdir()
    for i in range(100, 130):
        smooth_color_image(i).save(new / f"n{i}.png")
    c = prepare([color_folder, new], tmp_path / "c", size=32, progress=False, fractions=(0.5, 0.25, 0.25))
    old, grown = _by_id(b.rows), _by_id(c.rows)
    assert all(grown[k]["split"] == v["split"] for k, v in old.items())
    assert len(grown) == len(old) + 30
    seed1 = prepare([color_folder], tmp_path / "d", size=32, seed=1, progress=False, fractions=(0.5, 0.25, 0.25))
    assert [r["split"] for r in seed1.rows] != [r["split"] for r in a.rows]


def test_split_as_and_tar_source(tmp_path):
    shard = tmp_path / "shard.tar"
    src = tmp_path / "src" / "n0001"
    src.mkdir(parents=True)
    for i in range(6):
        smooth_color_image(i, 40).save(src / f"x{i}.jpg")
    with tarfile.open(shard, "w") as tf:
        tf.add(src, arcname="n0001")
    res = prepare([shard], tmp_path / "p", size=32, split_as={"*": "test"}, progress=False)
    assert {r["split"] for r in res.rows} == {"test"} and len(res.rows) == 6
    assert {r["class"] for r in res.rows} == {"n0001"}
    ds = ColorizationDataset(tmp_path / "p", "test")
    assert len(ds) == 6


def test_dataset_yields_l_and_chroma(color_folder, tmp_path):
    prepare([color_folder], tmp_path / "p", size=32, progress=False, fractions=(1.0, 0.0, 0.0))
    ds = ColorizationDataset(tmp_path / "p", "train", "lab", size=24, train=True)
    l_n, ab_n = ds[0]
    assert l_n.shape == (1, 24, 24) and ab_n.shape == (2, 24, 24)
    assert l_n.dtype == torch.float32 and -1 <= l_n.min() and l_n.max() <= 1
    assert ab_n.abs().max() > 0.05  # a colour image has chroma
    plain = ColorizationDataset(tmp_path / "p", "train", "lab")  # no augmentation outside training
    from chromatize import color

    raw = torch.from_numpy(np.asarray(plain.images[3])).permute(2, 0, 1).float()[None] / 255
    l_ref, ab_ref = color.rgb_to_lc(raw, "lab")
    assert torch.equal(plain[3][0], l_ref[0]) and torch.equal(plain[3][1], ab_ref[0])
    aug = ColorizationDataset(tmp_path / "p", "train", "lab", train=True)
    assert not torch.equal(aug[3][1], plain[3][1])  # training crops and flips


def test_cli_prepare_prints_summary(messy_folder, tmp_path):
    r = CliRunner().invoke(app, ["prepare", str(messy_folder), "-o", str(tmp_path / "p"), "--size", "48"])
    assert r.exit_code == 0, r.output
    assert "kept: train" in r.output and "dropped: unreadable" in r.output
    assert "text.jpg: unreadable: not an image" in r.output


def test_candidate_count_is_the_progress_total(messy_folder, tmp_path):
    from chromatize.data.prepare import count_candidates

    res = prepare([messy_folder], tmp_path / "p", size=48, progress=False)
    assert count_candidates([messy_folder]) == len(res.rows) == 9
