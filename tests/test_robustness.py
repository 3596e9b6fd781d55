"""The input matrix: every bad file named with a reason, every odd format coloured correctly."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from chromatize import color, inference
from chromatize.cli import app
from chromatize.errors import ChromatizeError, ImageReadError
from chromatize.imageio import open_image, split_alpha
from chromatize.metrics import lab_ab

from .conftest import jpeg_bytes, smooth_color_image


def bomb_png(w: int = 50000, h: int = 50000) -> bytes:
    """A tiny PNG whose header declares w x h pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def odd_images(tmp: Path) -> dict[str, Path]:
    """Good but odd inputs, one file each."""
    base = smooth_color_image(11, 57)
    g = base.convert("L")
    out = {}

    def save(name, img, **kw):
        out[name] = tmp / name
        img.save(out[name], **kw)

    save("gray16.png", Image.fromarray(np.asarray(g, np.uint16) * 257))
    save("bilevel.png", g.convert("1"))
    save("palette.png", base.convert("P"))
    la = g.convert("LA")
    la.putalpha(120)
    save("la.png", la)
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    save("rgba.png", rgba)
    (tmp / "cmyk.jpg").write_bytes(jpeg_bytes(base.convert("CMYK")))
    out["cmyk.jpg"] = tmp / "cmyk.jpg"
    exif = Image.Exif()
    exif[0x0112] = 8
    (tmp / "rotated.jpg").write_bytes(jpeg_bytes(g.crop((0, 0, 57, 31)), exif=exif.tobytes()))
    out["rotated.jpg"] = tmp / "rotated.jpg"
    save("progressive.jpg", g, progressive=True, quality=90)
    frames = [g, g.transpose(Image.FLIP_LEFT_RIGHT)]
    save("frames.gif", frames[0], save_all=True, append_images=frames[1:])
    save("frames.tif", frames[0], save_all=True, append_images=frames[1:])
    save("gray.webp", g, lossless=True)
    save("gray.bmp", g)
    save("gray.tif", g)
    save("one_by_one.png", Image.new("L", (1, 1), 128))
    save("tall_3x3000.png", Image.fromarray(np.tile(np.linspace(0, 255, 3000)[:, None], (1, 3)).astype(np.uint8)))
    save("odd_37x53.png", g.resize((37, 53)))
    save("spaces and ünïcødé.png", g.resize((20, 30)))
    return out


def bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Bad inputs and the reason each must be named with."""
    bad = {}
    (tmp / "zero.png").write_bytes(b"")
    bad["zero"] = (tmp / "zero.png", "empty file")
    (tmp / "trunc.jpg").write_bytes(jpeg_bytes(smooth_color_image(1, 64))[:400])
    bad["truncated jpeg"] = (tmp / "trunc.jpg", "truncated or corrupt")
    buf = io.BytesIO()
    smooth_color_image(2, 64).save(buf, "PNG")
    (tmp / "trunc.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    bad["truncated png"] = (tmp / "trunc.png", "truncated or corrupt")
    (tmp / "page.jpg").write_text("<html><body>404</body></html>")
    bad["html named jpg"] = (tmp / "page.jpg", "not an image")
    (tmp / "folder.png").mkdir()
    bad["directory named png"] = (tmp / "folder.png", "is a directory")
    (tmp / "dangling.png").symlink_to(tmp / "missing-target.png")
    bad["broken symlink"] = (tmp / "dangling.png", "not found")
    (tmp / "plain.txt").write_text("x")
    bad["path through a file"] = (tmp / "plain.txt" / "inner.png", "cannot be read")
    (tmp / "bomb.png").write_bytes(bomb_png())
    bad["decompression bomb"] = (tmp / "bomb.png", "too large")
    return bad


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> float32 RGB array ``[H,W,3]`` in [0,1] (16-bit precision kept)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img, dtype=np.float32)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / top, 0.0, 1.0)
        return np.repeat(g[..., None], 3, axis=2)
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float32)
        g = np.clip(a / (255.0 if a.max() > 1.0 else 1.0), 0.0, 1.0)
        return np.repeat(g[..., None], 3, axis=2)
    base, _ = split_alpha(img)
    if base.mode != "RGB":
        base = base.convert("RGB")
    return np.asarray(base, dtype=np.float32) / 255.0


def lstar_of(img: Image.Image) -> np.ndarray:
    a = torch.from_numpy(to_rgb_array(img)).permute(2, 0, 1)[None]
    return color.rgb_to_space(a, "lab")[0, 0].numpy()


@pytest.mark.parametrize(
    "name",
    [
        "gray16.png",
        "bilevel.png",
        "palette.png",
        "la.png",
        "rgba.png",
        "cmyk.jpg",
        "rotated.jpg",
        "progressive.jpg",
        "frames.gif",
        "frames.tif",
        "gray.webp",
        "gray.bmp",
        "gray.tif",
        "one_by_one.png",
        "tall_3x3000.png",
        "odd_37x53.png",
        "spaces and ünïcødé.png",
    ],
)
def test_odd_inputs_are_coloured_correctly(name, tmp_path, tiny_cls_dir):
    path = odd_images(tmp_path)[name]
    src = open_image(path)
    out = inference.colorize(path, inference.load_model(tiny_cls_dir))
    assert out.size == src.size
    if name == "rotated.jpg":
        assert out.size == (31, 57)  # EXIF orientation 8 applied
    if name in ("la.png", "rgba.png"):
        assert out.mode == "RGBA"
        assert np.array_equal(np.asarray(out)[..., 3], np.asarray(src.convert("RGBA"))[..., 3])
    assert np.abs(lstar_of(out.convert("RGB")) - lstar_of(src)).mean() <= 1.5
    if min(src.size) >= 8 and name != "bilevel.png":  # pure black and white have no colour at their lightness
        assert np.hypot(*lab_ab(np.asarray(out.convert("RGB"))).transpose(2, 0, 1)).mean() > 2


def test_bad_inputs_are_named(tmp_path):
    for path, reason in bad_files(tmp_path).values():
        with pytest.raises(ImageReadError, match=reason):
            open_image(path)


def test_pixel_limit_is_configurable(tmp_path):
    smooth_color_image(1, 64).save(tmp_path / "x.png")
    with pytest.raises(ImageReadError, match="too large"):
        open_image(tmp_path / "x.png", max_pixels=1000)
    assert open_image(tmp_path / "x.png", max_pixels=4096).size == (64, 64)


def test_cli_matrix(tmp_path, tiny_cls_dir):
    inp = tmp_path / "in"
    inp.mkdir()
    good = odd_images(inp)
    bad = bad_files(inp)
    before = {p: p.read_bytes() for p in inp.rglob("*") if p.is_file() and not p.is_symlink()}
    args = [
        "colorize",
        str(inp),
        str(bad["path through a file"][0]),
        "-o",
        str(tmp_path / "out"),
        "--model",
        str(tiny_cls_dir),
        "--log",
        str(tmp_path / "log.jsonl"),
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1
    assert f"{len(good)} coloured" in r.output
    for label, (path, reason) in bad.items():
        if label in ("directory named png",):
            continue  # folders inside a folder input are searched, not read as images
        assert any(path.name in line and reason in line for line in r.output.splitlines()), (label, r.output)
    assert "frames.gif: 2 frames: only the first is coloured" in r.output
    assert all(p.read_bytes() == b for p, b in before.items())
    for name in good:
        assert (tmp_path / "out" / Path(name).with_suffix(".png")).is_file(), name
    r = CliRunner().invoke(
        app,
        [
            "colorize",
            str(bad["directory named png"][0]),
            "-o",
            str(tmp_path / "o2"),
            "--model",
            str(tiny_cls_dir),
            "--max-megapixels",
            "1",
        ],
    )
    assert r.exit_code == 1 and "no images found in this folder" in r.output  # an empty folder is said


def test_interrupted_write_leaves_no_output(tmp_path):
    from chromatize.imageio import atomic_write

    def boom(tmp):
        Path(tmp).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(tmp_path / "out.png", boom)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ property-based


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 24), w=st.integers(1, 24), space=st.sampled_from(["luv", "lab"]), seed=st.integers(0, 99))
def test_property_colour_round_trip(h, w, space, seed):
    rgb = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))
    back = color.lc_to_rgb(*color.rgb_to_lc(rgb, space), space)
    assert (back - rgb).abs().max() < 1e-3


MODES = ["L", "RGB", "RGBA", "LA", "P", "1", "I;16", "CMYK"]
FORMATS = {
    "PNG": ("L", "RGB", "RGBA", "LA", "P", "1", "I;16"),
    "JPEG": ("L", "RGB", "CMYK"),
    "BMP": ("L", "RGB", "P", "1"),
    "TIFF": ("L", "RGB", "RGBA", "CMYK", "I;16", "1"),
    "WEBP": ("RGB", "RGBA"),
    "GIF": ("L", "P"),
}


# found by CI: a TIFF whose mangled tags make Pillow raise TypeError/KeyError while decoding
BAD_TIFF = bytes.fromhex(
    "49492a00080000000a0000010400010000000100000001010400010000000100000002010300030000008600000003010300"
    "010000000100000006010300010000000200000011010400010000008c000000150103000100000003000000160104000100"
    "0000010000001701040001000000030000001c010300010000000100000001000000080008000800947c7b"
)
# found by hypothesis: a 261x3 dark strip whose predicted chroma stayed outside sRGB after every shrink
# (clipping then moved L* by 2.5 on average); the gamut loop now drops such chroma instead
DARK_STRIP_GIF = bytes.fromhex(
    "474946383761050103008300001111112929295757575c5c5c6565656868686c6c6c6d6d6d8e8e8e909090a5a5a5bfbfbfc2"
    "c2c2d3d3d3d6d6d60000002c0000000005000300000814001d1c085040c102020006344090408001060101003b"
)


@st.composite
def encoded_images(draw):
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    img = smooth_color_image(draw(st.integers(0, 50)), 40).resize((w, h))
    img = Image.fromarray(np.asarray(img.convert("L"), np.uint16) * 257) if mode == "I;16" else img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt)
    data = bytearray(buf.getvalue())
    mutation = draw(st.sampled_from(["none", "truncate", "flip", "zero"]))
    if mutation == "truncate":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif mutation == "flip" and data:
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif mutation == "zero":
        data = bytearray()
    return bytes(data), (w, h), mutation == "none"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=encoded_images())
@example(sample=(BAD_TIFF, (1, 1), False))
@example(sample=(DARK_STRIP_GIF, (5, 3), True))
def test_property_any_bytes_colour_or_our_error(sample, tiny_cls_dir, tmp_path_factory):
    """Any bytes: a colour image of the same size and lightness, or our one-line error; and an intact
    file (no mutation) is always coloured, so a reader that refused everything would fail here."""
    data, _, intact = sample
    path = tmp_path_factory.mktemp("h") / "x.img"
    path.write_bytes(data)
    try:
        src = open_image(path)
        out = inference.colorize(src, inference.load_model(tiny_cls_dir))
    except ChromatizeError:
        assert not intact, "an intact file was refused"
        return
    assert out.size == src.size
    assert np.abs(lstar_of(out.convert("RGB")) - lstar_of(src)).mean() <= 1.5
