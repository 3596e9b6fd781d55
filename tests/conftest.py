"""Shared fixtures: tiny generated images, never ../shared."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def smooth_color_image(seed: int, size: int = 48) -> Image.Image:
    """A colourful, smooth, natural-ish test image (gradients + blobs), deterministic per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    chans = []
    for _ in range(3):
        a, b, c = rng.uniform(-3, 3, 3)
        chans.append(0.5 + 0.5 * np.sin(a * xx * 3 + b * yy * 3 + c))
    arr = np.stack(chans, -1)
    return Image.fromarray((arr * 255).astype(np.uint8), "RGB")


def two_regions(w: int = 96, h: int = 64) -> Image.Image:
    """A gray photo of two flat regions split by a strong edge at x = w/2 (L* about 35 | 75)."""
    a = np.full((h, w), 80, np.uint8)
    a[:, w // 2 :] = 190
    return Image.fromarray(a, "L")


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


@pytest.fixture
def color_folder(tmp_path: Path) -> Path:
    """A folder of 40 colour images in two class sub-folders."""
    root = tmp_path / "colour"
    for i in range(40):
        d = root / f"class{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        smooth_color_image(i).save(d / f"img{i:03d}.png")
    return root


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    """The cleaning matrix of the foundation issue: bad, gray and odd-mode files beside good ones."""
    root = tmp_path / "messy"
    root.mkdir()
    good = smooth_color_image(1, 64)
    (root / "good.jpg").write_bytes(jpeg_bytes(good))
    (root / "truncated.jpg").write_bytes(jpeg_bytes(smooth_color_image(2, 64))[:300])
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("this is not a picture\n")
    smooth_color_image(3, 64).convert("L").save(root / "gray.png")
    (root / "cmyk.jpg").write_bytes(jpeg_bytes(smooth_color_image(4, 64).convert("CMYK")))
    rgba = smooth_color_image(5, 64).convert("RGBA")
    rgba.putalpha(200)
    rgba.save(root / "rgba.png")
    smooth_color_image(6, 32).save(root / "small.png")
    (root / "good_copy.jpg").write_bytes((root / "good.jpg").read_bytes())
    return root


def pytest_configure(config):
    """One torch thread per test process: the suite shares 2 cores with whatever else runs (and the
    thread policy leaves torch's setting alone; its own tests make their own policies)."""
    import os

    import torch

    os.environ["CHROMATIZE_THREADS"] = "torch"
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_cls_dir(tmp_path_factory) -> Path:
    """A tiny classification model with a vivid palette and confident random weights: colours visibly."""
    import torch

    from chromatize.models.registry import build
    from chromatize.models.store import save_model_dir

    torch.manual_seed(0)
    net = build("classification", k=8, width=8)
    ang = torch.linspace(0, 2 * torch.pi, 9)[:-1]
    net.set_palette(torch.stack([0.4 * ang.cos(), 0.4 * ang.sin()], 1), torch.full((8,), 1 / 8))
    with torch.no_grad():
        net.head.bias.copy_(torch.randn(8) * 3)
    d = tmp_path_factory.mktemp("models") / "tiny_cls"
    save_model_dir(
        net,
        {
            "family": "classification",
            "color_space": "luv",
            "options": {"k": 8, "width": 8},
            "inference": {"temperature": 0.38, "render_size": 64},
        },
        d,
    )
    return d


SMALL = {
    "regression": {"width": 8},
    "classification": {"width": 8, "k": 8},
    "gan": {"width": 8},
    "efficientnet_unet": {"decoder_width": 16, "bins": 8},
}  # per family: a tiny network for tests


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the real console entry point (as a user does): (exit status, stdout, stderr)."""
    import sys
    from unittest import mock

    from chromatize.cli import main

    capsys.readouterr()
    with mock.patch.object(sys, "argv", ["chromatize", *map(str, args)]):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture(scope="session")
def tiny_reg_dir(tmp_path_factory) -> Path:
    """A tiny regression model (width 8, seed 0): the cheapest real model for batch and cluster tests."""
    import torch

    from chromatize.models.registry import build
    from chromatize.models.store import save_model_dir

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("m") / "reg"
    save_model_dir(build("regression", width=8), {"family": "regression", "options": {"width": 8}}, d)
    return d


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory) -> Path:
    """A prepared folder of 24 colour images at 32 px (train/val 2:1) for training tests."""
    from chromatize.data.prepare import prepare

    src = tmp_path_factory.mktemp("src") / "c"
    src.mkdir()
    for i in range(24):
        smooth_color_image(i, 36).save(src / f"{i}.png")
    out = tmp_path_factory.mktemp("prep")
    prepare([src.parent], out, size=32, fractions=(0.67, 0.33, 0.0), progress=False)
    return out
