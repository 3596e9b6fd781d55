from __future__ import annotations

import numpy as np
import pytest

from chromatize.metrics import (
    AucAccumulator,
    chroma_scale,
    colourfulness,
    histogram_intersection,
    lab_ab,
    psnr,
    rgb_distance,
    ssim,
)

from .conftest import smooth_color_image


def test_psnr_and_rgb_distance_hand_cases():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[..., 0] = 10  # every pixel off by 10 in R: MSE = 100 / 3
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / (100 / 3)))
    assert rgb_distance(a, b) == pytest.approx(10.0)
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)


def test_colourfulness_hand_case():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 0] = 100  # pure red 100: rg = 100, yb = 50, no spread
    assert colourfulness(img) == pytest.approx(0.3 * np.hypot(100, 50))
    gray = np.full((3, 3, 3), 77, np.uint8)
    assert colourfulness(gray) == 0.0


def test_auc_identity_gray_and_shift():
    t = np.asarray(smooth_color_image(2, 40))
    ab = lab_ab(t)
    acc = AucAccumulator()
    acc.add(ab, ab)
    assert acc.auc() == pytest.approx(100.0) and acc.auc(True) == pytest.approx(100.0)
    # gray prediction: error = |ab|; AuC = mean over t of the fraction with |ab| <= t
    g = AucAccumulator()
    g.add(np.zeros_like(ab), ab)
    norm = np.hypot(ab[..., 0], ab[..., 1]).ravel()
    expected = np.mean([(norm <= k).mean() for k in range(151)]) * 100
    assert g.auc() == pytest.approx(expected, abs=0.05)
    # a constant shift by 10 in a: every pixel has error 10, so thresholds 10..150 pass: 141/151
    s = AucAccumulator()
    s.add(ab + np.array([10.0, 0.0], np.float32), ab)
    assert s.auc() == pytest.approx(100 * 141 / 151, abs=1e-6)
    assert s.auc(True) == pytest.approx(100 * 141 / 151, abs=1e-6)


def test_rebalancing_weights_rare_colours():
    # 90 % of pixels in a common colour predicted exactly, 10 % rare ones predicted gray
    true = np.zeros((10, 10, 2), np.float32)
    true[:1] = [60.0, 60.0]
    pred = np.zeros_like(true)
    acc = AucAccumulator()
    acc.add(pred, true)
    assert acc.auc(True) < acc.auc()  # the rare colours weigh half after re-balancing
    assert acc.auc(True) == pytest.approx(0.5 * 100 + 0.5 * 100 * (151 - 85) / 151, abs=0.5)


def test_colourfulness_ratio_and_histogram_of_identity():
    from chromatize.evaluate.run import score

    t = [np.asarray(smooth_color_image(i, 32)) for i in range(3)]
    r = score(t, t)
    assert r["colourfulness_ratio"] == pytest.approx(1.0) and r["auc"] == pytest.approx(100.0)
    assert histogram_intersection([lab_ab(x) for x in t], [lab_ab(x) for x in t]) == pytest.approx(1.0)


def test_chroma_scale_hand_cases():
    t = np.stack(np.meshgrid(np.linspace(-30, 30, 8), np.linspace(5, 40, 8)), -1)  # ab [8,8,2]
    assert chroma_scale(2 * t, t) == pytest.approx(0.5)  # twice too strong
    assert chroma_scale(0.5 * t, t) == pytest.approx(2.0)  # half as strong as it should be
    assert chroma_scale(-t, t) == pytest.approx(-1.0)  # opposite hue everywhere
    assert np.isnan(chroma_scale(np.zeros_like(t), t))  # a gray prediction has no scale
    assert np.isnan(chroma_scale(np.full_like(t, 0.6), t))  # nor one with 8-bit rounding noise


def test_score_reads_opposed_images_and_the_median_scale():
    """One image coloured in the opposite hue (RGB mirrored around its gray), two right: 1 of 3 opposed,
    median scale near 1; the opposed one is also below gray. The gray prediction has neither reading."""
    from chromatize.evaluate.run import gray_of, score

    t = [np.asarray(smooth_color_image(i, 32)) for i in range(3)]
    g = [np.asarray(gray_of(smooth_color_image(i, 32))) for i in range(3)]
    flipped = np.clip(2 * g[0].astype(int) - t[0], 0, 255).astype(np.uint8)
    r = score([flipped, t[1], t[2]], t, [psnr(x, y) for x, y in zip(g, t)])
    assert r["opposed_pct"] == pytest.approx(100 / 3) and r["below_gray_psnr_pct"] == pytest.approx(100 / 3)
    assert r["chroma_scale_median"] == pytest.approx(1.0, abs=0.02)
    rg = score(g, t)
    assert rg["opposed_pct"] is None and rg["chroma_scale_median"] is None
