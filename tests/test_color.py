from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skc

from chromatize import color
from chromatize.errors import ChromatizeError

from .conftest import smooth_color_image

SK = {"luv": (skc.rgb2luv, skc.luv2rgb), "lab": (skc.rgb2lab, skc.lab2rgb)}


@pytest.mark.parametrize("space", color.COLOR_SPACES)
def test_round_trip_random(space):
    rgb = torch.rand(4, 3, 17, 23, generator=torch.Generator().manual_seed(0))
    l_n, ab_n = color.rgb_to_lc(rgb, space)
    assert l_n.shape == (4, 1, 17, 23) and ab_n.shape == (4, 2, 17, 23)
    assert (color.lc_to_rgb(l_n, ab_n, space) - rgb).abs().max() < 1e-3


@pytest.mark.parametrize("space", color.COLOR_SPACES)
def test_round_trip_real_image(space):
    arr = np.asarray(smooth_color_image(7, 64), dtype=np.float32) / 255
    rgb = torch.from_numpy(arr).permute(2, 0, 1)[None]
    back = color.lc_to_rgb(*color.rgb_to_lc(rgb, space), space)
    assert (back - rgb).abs().max() < 1e-3


@pytest.mark.parametrize("space", color.COLOR_SPACES)
def test_agrees_with_skimage(space):
    rgb = np.random.default_rng(1).random((9, 11, 3)).astype(np.float64)
    ours = color.rgb_to_space(torch.from_numpy(rgb).float().permute(2, 0, 1)[None], space)[0].permute(1, 2, 0)
    assert np.abs(ours.numpy() - SK[space][0](rgb)).max() < 0.01
    back = color.space_to_rgb(torch.from_numpy(SK[space][0](rgb)).float().permute(2, 0, 1)[None], space)
    assert np.abs(back[0].permute(1, 2, 0).numpy() - rgb).max() < 1e-3


@pytest.mark.parametrize("space", color.COLOR_SPACES)
def test_edge_colours(space):
    edges = torch.tensor(
        [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=torch.float32
    ).T.reshape(1, 3, 8, 1)
    l_n, ab_n = color.rgb_to_lc(edges, space)
    assert torch.isfinite(l_n).all() and torch.isfinite(ab_n).all()
    assert l_n[0, 0, 0, 0] == pytest.approx(-1, abs=1e-4) and l_n[0, 0, 1, 0] == pytest.approx(1, abs=1e-4)
    assert ab_n[0, :, :2].abs().max() < 1e-3  # black and white carry no chroma
    assert ab_n.abs().max() <= 1.0  # the normalisation keeps the sRGB gamut inside [-1, 1]
    assert (color.lc_to_rgb(l_n, ab_n, space) - edges).abs().max() < 1e-3


def test_out_of_gamut_is_clipped_and_in_gamut_kept():
    l_n = torch.zeros(1, 1, 2, 2)
    ab_n = torch.tensor([1.0, 1.0, 0.02, -0.02]).view(1, 1, 2, 2).expand(1, 2, 2, 2).clone()
    raw = color.space_to_rgb(color.denormalize(l_n, ab_n, "luv"), "luv", clip=False)
    assert raw[..., 0, :].min() < 0 or raw[..., 0, :].max() > 1  # the first row is really out of gamut
    assert raw[..., 1, :].min() >= 0 and raw[..., 1, :].max() <= 1  # the second is inside
    rgb = color.lc_to_rgb(l_n, ab_n, "luv")
    assert torch.allclose(rgb, raw.clamp(0, 1), atol=1e-6)  # clipped where out, untouched where in


def test_unknown_space():
    with pytest.raises(ChromatizeError):
        color.rgb_to_lc(torch.rand(1, 3, 2, 2), "hsv")


@pytest.mark.parametrize("space", ["luv", "lab"])
def test_in_gamut_keeps_lightness_and_range(space):
    from chromatize.photo import in_gamut

    rng = np.random.default_rng(1)
    lum = rng.uniform(5, 95, (30, 30)).astype(np.float32)
    ch = rng.uniform(-150, 150, (2, 30, 30)).astype(np.float32)  # mostly far outside sRGB
    rgb = in_gamut(lum, ch, space)
    assert rgb.min() >= 0 and rgb.max() <= 1
    back = color.lightness(rgb)  # shrinking chroma, not clipping RGB, keeps L* close to the input's
    assert np.percentile(np.abs(back - lum), 90) < 1.0  # clipping RGB instead gives 16-18 here


@pytest.mark.parametrize("space", ["luv", "lab"])
def test_compose_is_the_exact_gamut_rule_within_one_level(space):
    """`compose` converts with OpenCV and sends only clipped (and, in LUV, nearly black) pixels through
    `in_gamut`; its picture must be `in_gamut`'s everywhere within one level, dark and saturated pixels
    included (a mutant that trusts OpenCV's clipped values, or drops the dark-pixel rule, fails)."""
    from chromatize.photo import Prepared, compose, in_gamut

    rng = np.random.default_rng(3)
    h, w = 96, 128
    lum = rng.uniform(0, 100, (h, w)).astype(np.float32)
    lum[:8] = rng.uniform(0, 0.6, (8, w))  # nearly black rows: OpenCV's LUV differs there
    scale = color.CHROMA_SCALE[space]
    ab = (rng.uniform(-1, 1, (2, h, w)) * rng.uniform(0, 1, (1, h, w)) ** 2).astype(np.float32)
    got = np.asarray(compose(Prepared(lum, None, {}), torch.from_numpy(ab)[None], space)).astype(int)
    want = (in_gamut(lum, ab * scale, space) * 255 + 0.5).astype(int)
    assert np.abs(got - want).max() <= 1
    assert (np.abs(got - want) > 0).mean() < 0.01


def test_bilinear_at_is_pillows_resize_bit_for_bit():
    """`resample.bilinear_at` must equal Pillow's bilinear resize of an "F" image exactly (compose uses it
    for the pixels on the gamut's edge), up and down, with one axis kept, on random sizes."""
    from PIL import Image

    from chromatize.resample import bilinear_at

    rng = np.random.default_rng(0)
    sizes = [((37, 53), (370, 531)), ((64, 64), (48, 200)), ((20, 31), (20, 95)), ((5, 3), (5, 3)), ((1, 7), (9, 70))]
    sizes += [
        ((int(a), int(b)), (int(a * rng.uniform(0.3, 11)) + 1, int(b * rng.uniform(0.3, 11)) + 1))
        for a, b in rng.integers(1, 90, (30, 2))
    ]
    for (hs, ws), (h, w) in sizes:
        small = rng.normal(0, 0.4, (2, hs, ws)).astype(np.float32)
        full = np.stack([np.asarray(Image.fromarray(c, "F").resize((w, h), Image.BILINEAR)) for c in small])
        ys, xs = rng.integers(0, h, 3000), rng.integers(0, w, 3000)
        assert np.array_equal(bilinear_at(small, h, w, ys, xs), full[:, ys, xs]), ((hs, ws), (h, w))


def test_compose_gives_the_same_bytes_in_parallel_strips_and_in_one_line(monkeypatch):
    """From `PARALLEL_STRIPS_PX` on, strips run side by side on one thread each; the picture must be the
    one the strips give one after the other (and on one thread), byte for byte."""
    from chromatize import photo
    from chromatize.photo import Prepared, compose

    rng = np.random.default_rng(5)
    h, w = 700, 600
    lum = rng.uniform(0, 100, (h, w)).astype(np.float32)
    ab = torch.from_numpy((rng.uniform(-1, 1, (1, 2, 40, 30)) * 0.8).astype(np.float32))
    monkeypatch.setattr(photo, "PARALLEL_STRIPS_PX", 1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        side_by_side = np.asarray(compose(Prepared(lum, None, {}), ab, "lab"))
        assert torch.get_num_threads() == 2  # restored
        torch.set_num_threads(1)
        one_line = np.asarray(compose(Prepared(lum, None, {}), ab, "lab"))
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(side_by_side, one_line)
