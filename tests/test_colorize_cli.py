from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from chromatize.cli import app
from chromatize.inference import default_model_name
from chromatize.metrics import lab_ab
from chromatize.models.registry import build
from chromatize.models.store import save_model_dir

from .conftest import jpeg_bytes, run_cli, smooth_color_image


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("m") / "reg"
    save_model_dir(
        build("regression", width=8), {"family": "regression", "color_space": "luv", "options": {"width": 8}}, d
    )
    return d


@pytest.fixture
def mixed(tmp_path) -> Path:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    smooth_color_image(1, 40).convert("L").save(root / "a.png")
    smooth_color_image(2, 50).convert("L").save(root / "sub" / "a.png")  # same stem, other folder
    (root / "b photo é.jpg").write_bytes(jpeg_bytes(smooth_color_image(3, 30).convert("L")))
    (root / "truncated.jpg").write_bytes(jpeg_bytes(smooth_color_image(4, 64))[:200])
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("not a picture")
    return root


def digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_folder_with_bad_files(mixed, model_dir, tmp_path):
    before = digests(mixed)
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    args = ["colorize", str(mixed), "-o", str(out), "--model", str(model_dir), "--log", str(log)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output
    assert "3 coloured, 0 skipped (already done), 3 failed" in r.output
    assert "truncated.jpg: truncated or corrupt" in r.output
    assert "zero.png: empty file" in r.output and "text.jpg: not an image" in r.output
    assert digests(mixed) == before  # inputs byte-identical
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert made == ["a.png", "b photo é.png", "sub/a.png"]
    assert Image.open(out / "sub" / "a.png").size == (50, 50)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert {r["status"] for r in rows} == {"ok", "failed"} and all("seconds" in r for r in rows)
    r2 = CliRunner().invoke(app, args)
    assert "0 coloured, 3 skipped (already done), 3 failed" in r2.output
    r3 = CliRunner().invoke(app, args + ["--overwrite", "--format", "jpg"])
    assert "3 coloured" in r3.output and (out / "a.jpg").is_file()


def test_unwritable_output_fails_before_work(mixed, model_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run_cli(capsys, "colorize", mixed / "a.png", "-o", blocker / "out", "--model", model_dir)
    assert code == 2 and err.startswith("error: cannot write to output folder") and err.count("\n") == 1


def test_never_overwrites_an_input(model_dir, tmp_path, capsys):
    smooth_color_image(1, 20).convert("L").save(tmp_path / "x.png")
    code, out, err = run_cli(capsys, "colorize", tmp_path / "x.png", "-o", tmp_path, "--model", model_dir)
    assert code == 2 and "would overwrite an input" in err and "Traceback" not in err


def test_option_the_model_lacks_is_an_error(model_dir, tmp_path, capsys):
    smooth_color_image(1, 20).convert("L").save(tmp_path / "x.png")
    code, out, err = run_cli(
        capsys, "colorize", tmp_path / "x.png", "-o", tmp_path / "o", "--model", model_dir, "--temperature", "0.2"
    )
    assert code == 2 and "regression takes no decoding option 'temperature'" in err
    assert not (tmp_path / "o" / "x.png").exists()


def test_glob_and_missing_input(mixed, model_dir, tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "colorize",
            str(mixed / "*.png"),
            str(tmp_path / "nope.png"),
            "-o",
            str(tmp_path / "o"),
            "--model",
            str(model_dir),
        ],
    )
    assert r.exit_code == 1
    assert "nope.png: file not found" in r.output and (tmp_path / "o" / "a.png").is_file()


def test_bundled_example_is_coloured(tmp_path, capsys):
    """The README's first command: `chromatize colorize --example -o out/` with the default model."""
    code, out, err = run_cli(capsys, "colorize", "--example", "-o", tmp_path / "out")
    assert code == 0, err
    (result,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]  # the manifest is hidden
    assert result.name == "brooklyn_bridge_1880s.png"
    img = Image.open(result)
    src = Image.open(Path(__import__("chromatize").__file__).parent / "examples" / "brooklyn_bridge_1880s.jpg")
    assert img.size == src.size and img.mode == "RGB"
    chroma = np.hypot(*lab_ab(np.asarray(img)).transpose(2, 0, 1))
    assert chroma.mean() > 3 and (chroma > 10).mean() > 0.05, "the example came out (nearly) gray"
    assert default_model_name() == "efficientnet_unet"  # the product decision of the knobs issue


def test_rebalance_option(tmp_path, capsys):
    smooth_color_image(3, 48).convert("L").save(tmp_path / "x.png")
    outs = {}
    for r in ("0", "1"):
        code, _, err = run_cli(
            capsys, "colorize", tmp_path / "x.png", "-o", tmp_path / r, "--model", "efficientnet_unet", "--rebalance", r
        )
        assert code == 0, err
        outs[r] = np.asarray(Image.open(tmp_path / r / "x.png"), np.float32)
    assert np.abs(outs["0"] - outs["1"]).mean() > 0.5  # the option reaches the decoding
    code, _, err = run_cli(
        capsys, "colorize", tmp_path / "x.png", "-o", tmp_path / "c", "--model", "classification", "--rebalance", "0.5"
    )
    assert code == 2 and "no decoding option 'rebalance'" in err


def test_flip_option_reaches_every_path(tmp_path, capsys):
    """--flip / --no-flip: a single image, a batch and the confidence path (the mirror pass changes pixels)."""
    for i in range(3):
        smooth_color_image(10 + i, 48).convert("L").save(tmp_path / f"x{i}.png")
    outs = {}
    for flag in ("--flip", "--no-flip"):
        for extra in ((), ("--confidence",)):
            dst = tmp_path / f"{flag}{len(extra)}"
            code, _, err = run_cli(
                capsys,
                "colorize",
                *sorted(tmp_path.glob("x*.png")),
                "-o",
                dst,
                "--model",
                "efficientnet_unet",
                flag,
                *extra,
            )
            assert code == 0, err
            outs[flag, len(extra)] = [np.asarray(Image.open(dst / f"x{i}.png"), np.float32) for i in range(3)]
    for extra in (0, 1):
        for a, b in zip(outs["--flip", extra], outs["--no-flip", extra]):
            assert np.abs(a - b).mean() > 0.05
    for a, b in zip(outs["--flip", 0], outs["--flip", 1]):  # batched and single-image paths agree
        assert np.abs(a - b).max() <= 1


def test_models_lists_every_shipped_model_with_its_inference_defaults(capsys):
    """One aligned row per shipped model with the values the loaded model uses (the list reads the cards
    as JSON, without torch or the weights: 0.3 s instead of 6 s)."""
    from chromatize.inference import load_model, shipped_models

    code, out, err = run_cli(capsys, "models")
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip() and not line.startswith("(")}
    assert set(rows) == set(shipped_models())
    for name in shipped_models():
        m = load_model(name)
        assert f"{m.card.render_size} px" in rows[name]
        assert ("+ mirror" in rows[name]) == m.card.flip_average, name
        for k, v in m.defaults.items():
            assert f"{k} {v}" in rows[name], (name, k)
    code, out, err = run_cli(capsys, "models", "--details")
    assert code == 0 and "trained on" in out and "validation:" in out


def test_a_name_too_long_fails_alone(tmp_path, capsys):
    """A file name over 255 bytes is that file's one-line failure; the photo beside it is coloured."""
    smooth_color_image(2, 40).convert("L").save(tmp_path / "ok.png")
    long = tmp_path / ("x" * 300 + ".png")
    code, out, err = run_cli(
        capsys, "colorize", tmp_path / "ok.png", long, "-o", tmp_path / "o", "--model", "regression"
    )
    assert code == 1 and "Traceback" not in err
    assert (tmp_path / "o" / "ok.png").is_file() and "1 coloured" in out
    assert "File name too long" in err


def test_confidence_png_has_a_colour_scale_and_legend(tmp_path, capsys, tiny_cls_dir):
    """Issue 26: the CLI's confidence PNG was raw gray 20-93 of 255 with no legend (it looked black)."""
    smooth_color_image(4, 60).convert("L").save(tmp_path / "g.png")
    code, _, err = run_cli(
        capsys, "colorize", tmp_path / "g.png", "-o", tmp_path / "o", "--confidence", "--model", tiny_cls_dir
    )
    assert code == 0, err
    conf = Image.open(tmp_path / "o" / "g.confidence.png")
    assert conf.mode == "RGB" and conf.width == 60 and conf.height > 60  # the legend bar below the map
    a = np.asarray(conf).astype(int)
    assert (a.max(-1) - a.min(-1))[:60].mean() > 20  # a colour scale, not gray
