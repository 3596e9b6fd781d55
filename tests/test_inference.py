from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from chromatize import inference
from chromatize.errors import ChromatizeError
from chromatize.imageio import open_image
from chromatize.metrics import lab_ab

from .conftest import jpeg_bytes, smooth_color_image


@pytest.fixture(scope="module")
def cls_model(tiny_cls_dir):
    """The shared tiny classification model (conftest): exercises the whole path."""
    return inference.load_model(tiny_cls_dir)


def lstar(img: Image.Image) -> np.ndarray:
    from chromatize import color

    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255
    return color.rgb_to_space(torch.from_numpy(a).permute(2, 0, 1)[None], "lab")[0, 0].numpy()


def gray_of(img: Image.Image) -> Image.Image:
    return Image.fromarray(lstar(img).round().astype(np.uint8))  # any gray image will do


def inputs() -> dict[str, Image.Image]:
    base = smooth_color_image(3, 61)
    g8 = base.convert("L")
    g16 = Image.fromarray(np.asarray(g8, dtype=np.uint16) * 257)
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    cmyk = open_image(jpeg_bytes(base.convert("CMYK")))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    rot = open_image(jpeg_bytes(g8.crop((0, 0, 61, 40)), exif=exif.tobytes()))
    return {"gray8": g8, "gray16": g16, "rgba": rgba, "cmyk": cmyk, "exif_rotated": rot}


@pytest.mark.parametrize("kind", ["gray8", "gray16", "rgba", "cmyk", "exif_rotated"])
def test_size_and_lightness_kept(kind, cls_model):
    img = inputs()[kind]
    out = inference.colorize(img, cls_model)
    assert out.size == img.size
    if kind == "exif_rotated":
        assert out.size == (40, 61)
    if kind == "rgba":
        assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], np.asarray(img)[..., 3])
    if kind == "gray16":  # L* of the 16-bit gray values themselves (sRGB-encoded gray)
        from chromatize import color

        g = torch.from_numpy(np.asarray(img, np.float32) / 65535).expand(3, -1, -1)[None]
        ref = color.rgb_to_space(g, "lab")[0, 0].numpy()
    else:
        ref = lstar(img.convert("RGB"))
    assert np.abs(lstar(out) - ref).mean() <= 1.5
    assert np.hypot(*lab_ab(np.asarray(out.convert("RGB"))).transpose(2, 0, 1)).mean() > 3  # chroma present


def test_16_bit_lightness_keeps_its_precision():
    ramp = Image.fromarray((np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16))
    l16 = inference.prepare_input(ramp).l_full
    l8 = inference.prepare_input(Image.fromarray((np.asarray(ramp) // 257).astype(np.uint8))).l_full
    assert len(np.unique(l16)) > 1000 > len(np.unique(l8))  # 4096 levels, not 256
    assert np.abs(l16 - l8).max() < 0.5


def test_api_takes_path_array_and_pil(cls_model, tmp_path):
    g = smooth_color_image(5, 40).convert("L")
    g.save(tmp_path / "g.png")
    a = inference.colorize(tmp_path / "g.png", cls_model)
    b = inference.colorize(np.asarray(g), cls_model)
    c = inference.colorize(g, cls_model)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(np.asarray(b), np.asarray(c))
    with pytest.raises(ChromatizeError, match="numpy input must be"):
        inference.colorize(np.zeros((4, 4, 7), np.uint8), cls_model)


def test_batch_equals_single(cls_model):
    imgs = [smooth_color_image(i, 40).convert("L") for i in range(3)] + [smooth_color_image(9, 33).convert("L")]
    many = inference.colorize_many(imgs, cls_model, batch_size=4)
    for img, out in zip(imgs, many):
        single = np.asarray(inference.colorize(img, cls_model), dtype=np.int16)
        assert np.abs(single - np.asarray(out, dtype=np.int16)).max() <= 1


def test_temperature_trades_vividness(cls_model):
    g = smooth_color_image(2, 64).convert("L")
    sat = [
        np.hypot(*lab_ab(np.asarray(inference.colorize(g, cls_model, temperature=t))).transpose(2, 0, 1)).mean()
        for t in (0.0, 0.38, 1.0)
    ]
    assert sat[0] > sat[2] and sat[1] > sat[2]  # the mean (T=1) is the least vivid


def test_confidence_and_coherent_alternatives(cls_model):
    g = smooth_color_image(4, 64).convert("L")
    conf = inference.analyse(g, cls_model).confidence()
    assert conf.size == g.size and conf.mode == "L"
    alts = inference.alternatives(g, n=3, model=cls_model, seed=1)
    assert len(alts) == 3 and all(a.size == g.size for a in alts)
    abs_ = [lab_ab(np.asarray(a.convert("RGB"))) for a in alts]
    assert any(np.abs(abs_[0] - x).mean() > 2 for x in abs_[1:])  # they differ

    # spatially coherent: neighbouring pixels change together. Compare with per-pixel sampling (noise
    # drawn independently for every head pixel): its differences flicker from pixel to pixel.
    def roughness(alts):
        d = lab_ab(np.asarray(alts[0].convert("RGB"))) - lab_ab(np.asarray(alts[1].convert("RGB")))
        return np.abs(np.diff(d, axis=1)).mean() / (np.abs(d).mean() + 1e-6)

    per_pixel = inference.alternatives(g, n=2, model=cls_model, seed=1, grid=32)
    assert roughness(alts) < 0.5 * roughness(per_pixel)


def test_metadata_kept_and_srgb_tagged(cls_model, tmp_path):
    from chromatize.imageio import save_image

    g = smooth_color_image(6, 50).convert("L")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    buf = io.BytesIO()
    g.save(buf, "JPEG", exif=exif.tobytes(), dpi=(300, 300))
    out = inference.colorize(open_image(buf.getvalue()), cls_model)
    save_image(out, tmp_path / "o.png", "png")
    back = Image.open(tmp_path / "o.png")
    assert back.getexif().get(0x010F) == "TestCam"
    assert round(back.info["dpi"][0]) == 300 and back.info.get("icc_profile")


def test_one_network_run_gives_colour_confidence_and_alternatives(cls_model, monkeypatch):
    calls = []
    real = type(cls_model.net).logits
    monkeypatch.setattr(type(cls_model.net), "logits", lambda self, x: calls.append(1) or real(self, x))
    view = inference.analyse(smooth_color_image(4, 48).convert("L"), cls_model)
    view.image(), view.confidence(), view.alternatives(3), view.image(temperature=0.1)
    assert len(calls) == 1


def test_card_flip_average_runs_the_mirror_pass_too(tiny_cls_dir, tmp_path, monkeypatch):
    import json
    import shutil

    flipped = tmp_path / "flipped"
    shutil.copytree(tiny_cls_dir, flipped)
    cfg = json.loads((flipped / "config.json").read_text())
    cfg["inference"] = {**cfg.get("inference", {}), "flip_average": True}
    (flipped / "config.json").write_text(json.dumps(cfg))
    plain, both = inference.load_model(tiny_cls_dir), inference.load_model(flipped)
    g = smooth_color_image(5, 48).convert("L")
    calls = []
    real = type(both.net).logits
    monkeypatch.setattr(type(both.net), "logits", lambda self, x: calls.append(1) or real(self, x))
    out = np.asarray(inference.colorize(g, both))
    assert len(calls) == 2  # the image and its mirror
    assert np.array_equal(out, np.asarray(inference.analyse(g, plain, flip=True).image()))
    assert not np.array_equal(out, np.asarray(inference.colorize(g, plain)))


def test_every_shipped_model_colours_through_the_api():
    g = smooth_color_image(7, 40).convert("L")
    names = list(inference.shipped_models())
    assert inference.default_model_name() in names and len(names) >= 3
    for name in names:
        m = inference.load_model(name)
        out = inference.colorize(g, name)
        assert out.size == g.size and out.mode == "RGB"
        chroma = np.hypot(*lab_ab(np.asarray(out)).transpose(2, 0, 1))
        assert np.isfinite(chroma).all() and chroma.mean() > 0.5, name  # some colour, not NaN-black
        for key, opt in m.family.decoding.items():  # defaults are the card's, not the spec's or the network's
            card_value = m.card.inference[key]
            assert np.array_equal(np.asarray(out), np.asarray(inference.colorize(g, name, **{key: card_value})))
            if opt.default != card_value:
                other = inference.colorize(g, name, **{key: opt.default})
                assert not np.array_equal(np.asarray(out), np.asarray(other)), (name, key)


def test_no_import_changes_process_wide_state():
    # third-party libraries first (torch adds warning filters of its own), then a snapshot, then ours
    code = (
        "import PIL.Image as I, warnings, torch, kornia, skimage.metrics, safetensors, numpy; "
        "a = I.MAX_IMAGE_PIXELS; f = list(warnings.filters); "
        "import chromatize.imageio, chromatize.inference, chromatize.batch, chromatize.evaluate.run; "
        "assert I.MAX_IMAGE_PIXELS == a and warnings.filters == f; print('ok')"
    )
    import subprocess

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "ok", r.stderr


def test_inference_path_is_light():
    code = (
        "import sys, chromatize.inference, chromatize.cli; "
        "bad = [m for m in ('lightning', 'gradio', 'chromatize.training') if m in sys.modules]; print(bad)"
    )
    import subprocess

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
    r = subprocess.run(
        [sys.executable, "-c", "import chromatize, sys; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert r.stdout.strip() == "False"
