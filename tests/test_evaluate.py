from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from chromatize.cli import app
from chromatize.errors import ChromatizeError
from chromatize.evaluate.practical import FALSE_DARK, STAIN, TINT, TONED, colour_flags
from chromatize.models.registry import build
from chromatize.models.store import save_model_dir

from .conftest import smooth_color_image


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("m") / "reg"
    save_model_dir(
        build("regression", width=8), {"family": "regression", "color_space": "luv", "options": {"width": 8}}, d
    )
    return d


def made_images() -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    gray = smooth_color_image(1, 96).convert("L")
    g = np.asarray(gray, np.float32) / 255
    sepia = np.stack([g * 1.0, g * 0.85, g * 0.62], -1)
    stain = np.full((96, 96, 3), 245.0)
    for _ in range(40):  # brown and blue blobs on a white slide
        y, x, r = rng.integers(0, 96, 2).tolist() + [int(rng.integers(4, 9))]
        yy, xx = np.ogrid[:96, :96]
        blob = (yy - y) ** 2 + (xx - x) ** 2 < r * r
        stain[blob] = [150, 90, 40] if rng.random() < 0.5 else [70, 80, 170]
    space = np.zeros((96, 96, 3))
    for _ in range(60):  # coloured specks on black
        y, x = rng.integers(0, 95, 2)
        space[y : y + 2, x : x + 2] = rng.integers(80, 255, 3)
    return {
        "gray": gray,
        "natural": smooth_color_image(2, 96),
        "sepia": Image.fromarray((sepia * 255).astype(np.uint8)),
        "stain": Image.fromarray(stain.astype(np.uint8)),
        "space": Image.fromarray(space.astype(np.uint8)),
    }


def test_flags_from_pixels_not_names():
    imgs = made_images()
    assert colour_flags(imgs["gray"]) == []
    assert colour_flags(imgs["natural"]) == ["already colour"]
    assert colour_flags(imgs["sepia"]) == [TONED]
    assert STAIN in colour_flags(imgs["stain"]) and TINT not in colour_flags(imgs["stain"])
    assert FALSE_DARK in colour_flags(imgs["space"])


def test_practical_with_user_folder(model_dir, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for i, img in enumerate(made_images().values()):
        img.save(folder / f"{i}_{'x' * i}.png")  # names carry no hint
    (folder / "broken.png").write_bytes(b"nope")
    from chromatize.evaluate.practical import run_practical

    res = run_practical([str(model_dir)], {"mine": str(folder)}, tmp_path / "out", include_skimage=False)
    assert len(res["images"]) == 5
    flagged = {r["image"]: r["flags"] for r in res["images"]}
    assert flagged["0_.png"] == [] and flagged["2_xx.png"] == [TONED]
    assert (tmp_path / "out" / "report.html").stat().st_size > 1000 and (tmp_path / "out" / "practical.png").is_file()
    natural = [r for r in res["images"] if r["flags"] == ["already colour"]]
    assert natural and all(str(model_dir) in r["metrics"] for r in natural)


def test_evaluate_cli_is_deterministic_with_gray_row(model_dir, tmp_path):
    data = tmp_path / "truth"
    data.mkdir()
    for i in range(12):
        smooth_color_image(i, 40).save(data / f"{i}.png")
    smooth_color_image(99, 40).convert("L").save(data / "gray.png")
    args = ["evaluate", "--data", str(data), "--model", str(model_dir), "--limit", "10", "--seed", "3"]
    r1 = CliRunner().invoke(app, args + ["-o", str(tmp_path / "a")])
    r2 = CliRunner().invoke(app, args + ["-o", str(tmp_path / "b")])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output
    m1 = json.loads((tmp_path / "a" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "b" / "metrics.json").read_text())
    for m in (m1, m2):
        m["models"][str(model_dir)].pop("images_per_s")
    assert m1 == m2
    assert set(m1["models"]) == {"gray", str(model_dir)}
    assert m1["images"] + m1["skipped_grayscale"] == 10
    gray = m1["models"]["gray"]
    assert gray["colourfulness_ratio"] < 0.01 and gray["auc"] < 100
    assert gray["opposed_pct"] is None and m1["models"][str(model_dir)]["chroma_scale_median"] is not None
    html = (tmp_path / "a" / "report.html").read_text()
    assert "<table" in html and html.count("data:image/png;base64,") >= 3
    assert (tmp_path / "a" / "metrics.csv").read_text().startswith("model,psnr")


def test_samples_show_every_model_evaluated(model_dir, tiny_cls_dir, tmp_path):
    """With several models the sample grid has a column for each, between gray and truth (it once kept
    only the last model's)."""
    from chromatize.evaluate.run import evaluate

    data = tmp_path / "truth"
    data.mkdir()
    for i in range(4):
        smooth_color_image(i, 32).save(data / f"{i}.png")
    evaluate(data, [str(model_dir), str(tiny_cls_dir)], out=tmp_path / "r", progress=False)
    html = (tmp_path / "r" / "report.html").read_text()
    assert f"gray | {model_dir} | {tiny_cls_dir} | truth" in html
    assert Image.open(tmp_path / "r" / "samples.png").width == 4 * 128  # 128 px tiles


def test_bright_sepia_print_is_a_tint_not_a_stain():
    """Genuine sepia photos are mostly bright paper with a strong warm tone (like 1890Surfer)."""
    g = 0.8 + 0.2 * np.asarray(smooth_color_image(5, 96).convert("L"), np.float32) / 255
    sepia = Image.fromarray((np.stack([g, g * 0.84, g * 0.6], -1) * 255).astype(np.uint8))
    flags = colour_flags(sepia)
    assert flags == [TONED] and STAIN not in flags  # a toned print: neither colour truth nor a stain


def test_tune_writes_the_chosen_defaults_into_the_card(tiny_cls_dir, color_folder, tmp_path):
    import shutil

    from chromatize.data.prepare import prepare
    from chromatize.evaluate.tune import tune, write_choice
    from chromatize.models.card import ModelCard

    prepare([color_folder], tmp_path / "p", size=32, fractions=(0.5, 0.5, 0.0), progress=False)
    model = tmp_path / "m"
    shutil.copytree(tiny_cls_dir, model)
    rows, chosen = tune(
        str(model), [str(tmp_path / "p")], {"temperature": [0.2, 1.0]}, [32, 48], limit=10, flips=(False, True)
    )
    assert len(rows) == 8 and chosen in rows
    assert {r["render_size"] for r in rows} == {32, 48} and {r["flip_average"] for r in rows} == {False, True}
    at32 = [r for r in rows if r["render_size"] == 32 and not r["flip_average"]]
    mean, vivid = (next(r for r in at32 if r["temperature"] == t) for t in (1.0, 0.2))
    assert vivid["colourfulness_ratio"] > mean["colourfulness_ratio"]  # the figures move with the setting
    flipped = next(r for r in rows if r["render_size"] == 32 and r["flip_average"] and r["temperature"] == 0.2)
    assert flipped["psnr_gain"] != vivid["psnr_gain"]  # the mirror pass changes the output
    write_choice(model, chosen, ["p"])
    card = ModelCard.read(model / "config.json")
    assert card.inference == {
        "temperature": chosen["temperature"],
        "render_size": chosen["render_size"],
        "flip_average": chosen["flip_average"],
    }
    assert card.flip_average == chosen["flip_average"]
    assert card.metrics["carved_val_tuning"]["images"] == chosen["images"]
    with pytest.raises(ChromatizeError, match="prepared folder"):
        tune(str(model), [str(color_folder)], {"temperature": [0.5]}, [32])


def test_toned_prints_are_told_from_gray_and_from_colour(tmp_path):
    """Issue 26: toned prints were 'already colour', scored against their tint, and kept by `prepare`."""
    from chromatize.data.prepare import Entry, check_entry
    from chromatize.imageio import is_toned

    g = np.asarray(smooth_color_image(5, 96).convert("L"), np.float32) / 255
    sepia = Image.fromarray((np.stack([g, g * 0.84, g * 0.6], -1) * 255).astype(np.uint8))
    assert is_toned(sepia)
    assert not is_toned(sepia.convert("L")) and not is_toned(smooth_color_image(5, 96))
    buf = io.BytesIO()
    sepia.save(buf, "PNG")
    reason, img = check_entry(Entry("sepia.png", "test", "", buf.getvalue()), 32)
    assert img is None and reason.startswith("toned print")
