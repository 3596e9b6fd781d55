"""Colour hints: parsing, the JSON round trip, propagation that recolours a region, scribble, reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from chromatize import Hint, inference
from chromatize.errors import ChromatizeError
from chromatize.hints import HintSet, hints_for, hints_json, read_hints_file
from chromatize.metrics import lab_ab

from .conftest import run_cli, two_regions


def mean_ab(img: Image.Image, cols: slice) -> np.ndarray:
    return lab_ab(np.asarray(img.convert("RGB")))[:, cols].reshape(-1, 2).mean(0)


def test_hint_parsing_and_checks():
    h = Hint.parse("0.25,0.5,#1f4fa0")
    assert h.position(200, 100) == (50.0, 50.0) and h.rgb == (31, 79, 160)
    assert Hint.parse("12,7,navy,4").position(200, 100) == (12.0, 7.0)
    for text, msg in [
        ("1,2", "X,Y,COLOUR"),
        ("a,2,red", "x must be a number"),
        ("1,2,reddish", "unknown colour 'reddish'"),
        ("1,2,red,-3", "radius must lie in"),
    ]:
        with pytest.raises(ChromatizeError, match=msg):
            Hint.parse(text)
    with pytest.raises(ChromatizeError, match=r"outside the 200x100 image"):
        Hint(250, 10, "red").position(200, 100)
    with pytest.raises(ChromatizeError, match="scribble is 3x3 but the photo is 4x4"):
        HintSet(scribble=Image.new("RGBA", (3, 3))).check(4, 4)


def test_hints_file_round_trip_and_errors(tmp_path):
    table = {"a.jpg": HintSet([Hint(0.5, 0.25, "#ff0000", 3)]), "*": HintSet([Hint(1, 2, "navy")])}
    p = tmp_path / "h.json"
    p.write_text(hints_json(table))
    back = read_hints_file(p)
    assert back["a.jpg"].points == table["a.jpg"].points and back["*"].points == table["*"].points
    assert [x.colour for x in hints_for(back, "in/a.jpg").points] == ["#ff0000", "navy"]  # own, then "*"
    assert hints_for({"x.png": back["a.jpg"]}, "b.png") is None
    for body, msg in [
        ("{", "not a readable hints file"),
        ('{"images": []}', "a hints file is"),
        ('{"version": 2, "images": {}}', "version 2"),
        ('{"images": {"a.jpg": {"points": [{"x": 1, "y": 2}]}}}', "needs x, y and colour"),
        ('{"images": {"a.jpg": {"points": [{"x": 1, "y": 2, "colour": "red", "size": 3}]}}}', "no field 'size'"),
    ]:
        p.write_text(body)
        with pytest.raises(ChromatizeError, match=msg):
            read_hints_file(p)


def test_a_point_recolours_its_region_not_a_dot(tiny_cls_dir):
    img = two_regions()
    m = inference.load_model(tiny_cls_dir)
    auto = inference.colorize(img, m)
    blue = inference.colorize(img, m, hints=[Hint(10, 32, "#1040c0")])  # one point, left region
    left, right = slice(0, 44), slice(52, 96)
    target = lab_ab(np.array([[[16, 64, 192]]], np.uint8))[0, 0]
    moved = mean_ab(blue, left) - mean_ab(auto, left)
    want = target - mean_ab(auto, left)
    assert moved @ want > 0.5 * (want @ want)  # the whole left region went most of the way to the hint's chroma
    far = lab_ab(np.asarray(blue.convert("RGB")))[:, 36:44]  # 26+ pixels from the point: no fading dot
    assert np.linalg.norm(far.reshape(-1, 2).mean(0) - target) < 0.5 * np.linalg.norm(want)
    assert np.abs(mean_ab(blue, right) - mean_ab(auto, right)).max() < 3  # across the edge: unchanged
    from skimage.color import rgb2lab  # the photo keeps its lightness

    l_in = rgb2lab(np.asarray(img.convert("RGB")))[..., 0]
    l_out = rgb2lab(np.asarray(blue.convert("RGB")))[..., 0]
    assert np.abs(l_in - l_out).mean() < 1.5


def test_scribble_and_reference_steer_the_colours(tiny_cls_dir, tmp_path):
    img = two_regions()
    m = inference.load_model(tiny_cls_dir)
    auto = inference.colorize(img, m)
    scr = Image.new("RGBA", img.size, (0, 0, 0, 0))
    scr.paste((200, 30, 30, 255), (60, 20, 80, 40))  # a red stroke in the right region
    scr.save(tmp_path / "s.png")
    red = inference.colorize(img, m, scribble=tmp_path / "s.png")
    target = lab_ab(np.array([[[200, 30, 30]]], np.uint8))[0, 0]
    right = slice(52, 96)
    assert np.linalg.norm(mean_ab(red, right) - target) < 0.5 * np.linalg.norm(mean_ab(auto, right) - target)
    ref = Image.new("RGB", (40, 40), (30, 160, 40))  # all green
    green = inference.colorize(img, m, reference=ref)
    g = lab_ab(np.array([[[30, 160, 40]]], np.uint8))[0, 0]
    whole = slice(0, 96)
    assert np.linalg.norm(mean_ab(green, whole) - g) < np.linalg.norm(mean_ab(auto, whole) - g)
    with pytest.raises(ChromatizeError, match="no colour to borrow"):
        inference.colorize(img, m, reference=img.convert("RGB"))


def test_cli_hints_and_file(tiny_cls_dir, tmp_path, capsys):
    two_regions().save(tmp_path / "p.png")
    base = ["colorize", tmp_path / "p.png", "--model", tiny_cls_dir]
    code, _, err = run_cli(capsys, *base, "-o", tmp_path / "auto")
    assert code == 0, err
    code, _, err = run_cli(capsys, *base, "-o", tmp_path / "one", "--hint", "0.1,0.5,#1040c0")
    assert code == 0, err
    (tmp_path / "h.json").write_text(
        json.dumps({"version": 1, "images": {"p.png": {"points": [{"x": 10, "y": 32, "colour": "#1040c0"}]}}})
    )
    code, _, err = run_cli(capsys, *base, "-o", tmp_path / "file", "--hints", tmp_path / "h.json")
    assert code == 0, err
    one, file_, auto = (np.asarray(Image.open(tmp_path / d / "p.png"), np.int16) for d in ("one", "file", "auto"))
    assert np.abs(one - file_).max() <= 1 and np.abs(one - auto).mean() > 3  # same point, two ways; it acts
    for extra, msg in [
        (["--hint", "1,2,reddish"], "unknown colour 'reddish'"),
        (["--scribble", tmp_path / "p.png"], "needs a transparent ground"),
        (["--reference", tmp_path / "p.png"], "no colour to borrow"),
        (["--hints", tmp_path / "nope.json"], "not a readable hints file"),
    ]:
        code, _, err = run_cli(capsys, *base, "-o", tmp_path / "bad", *extra)
        assert code == 2 and msg in err and "Traceback" not in err, (extra, err)
    code, out, err = run_cli(capsys, *base, "-o", tmp_path / "far", "--hint", "500,2,red")
    assert code == 1 and "outside the 96x64 image" in err


def test_hint_benchmark_writes_figures_and_points_help(tiny_cls_dir, color_folder, tmp_path, capsys):
    args = ["evaluate", "--data", color_folder, "--model", tiny_cls_dir, "--limit", "6", "-o", tmp_path / "h"]
    code, out, err = run_cli(capsys, *args, "--hint-points", "0,1,20", "--reference-crop")
    assert code == 0, err
    res = json.loads((tmp_path / "h" / "hints.json").read_text())
    rows = res["rows"]
    assert list(rows) == ["gray", "0 points", "1 points", "20 points"] and res["images"] == 6
    assert rows["20 points"]["psnr"] > rows["0 points"]["psnr"] + 1  # points drawn from the truth help
    assert set(res["reference"]) == {"gray", "automatic", "reference"}
    assert "PSNR against N" in (tmp_path / "h" / "report.html").read_text()
    assert "20 points" in out and "reference protocol" in out
    code, _, err = run_cli(capsys, *args, "--hint-points", "1,x")
    assert code == 2 and "comma-separated point counts" in err


def test_a_reference_replaces_the_class_prior_the_scores_hold(monkeypatch):
    """Bayes' rule: with a reference whose histogram is the training prior itself, the scores are the
    network's own (no re-balancing); with none of the swap they would keep the card's re-balancing too."""
    from chromatize import steer

    m = inference.load_model("efficientnet_unet")
    view = inference.analyse(two_regions(), m)
    own = view.prediction.net.log_prior.float()
    assert torch.allclose(view.prediction.prior_in_scores(**view.decoding), (1 - view.decoding["rebalance"]) * own)
    monkeypatch.setattr(steer, "reference_prior", lambda *a: own.clone())
    ref = HintSet(reference=Image.new("RGB", (8, 8), "red"))
    steered = steer.steered_chroma(view.prediction, view.decoding, view.prepared.l_full, ref, m.space)
    unbalanced = view.prediction.chroma(**{**view.decoding, "rebalance": 0.0})
    assert torch.allclose(steered, unbalanced, atol=1e-5)
    assert not torch.allclose(view.prediction.chroma(**view.decoding), unbalanced, atol=1e-3)


def test_simulated_hint_planes_are_zhangs_user():
    """Geometric number of points (one sample in eight has none), patches of the truth's mean chroma."""
    from chromatize.models.hint_planes import simulate_hint_planes

    gen = torch.Generator().manual_seed(0)
    ab = torch.zeros(4000, 2, 32, 32)
    ab[:, 0], ab[:, 1] = 0.3, -0.2  # one colour: every hint must carry it
    planes = simulate_hint_planes(ab, gen)
    mask = planes[:, 2]
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    empty = float((mask.sum((1, 2)) == 0).float().mean())
    assert 0.10 < empty < 0.15  # 1/8
    on = mask > 0
    assert torch.allclose(planes[:, 0][on], torch.tensor(0.3)) and torch.allclose(planes[:, 1][on], torch.tensor(-0.2))
    assert float(planes[:, :2][~on.unsqueeze(1).expand(-1, 2, -1, -1)].abs().max()) == 0.0
    ramp = torch.linspace(-1, 1, 64).view(1, 1, 1, 64).expand(64, 2, 64, 64).contiguous()
    p = simulate_hint_planes(ramp, gen)  # a horizontal ramp: a patch's colour is its columns' mean
    for k in range(64):
        cols = p[k, 2].sum(0).nonzero().flatten()
        if len(cols) and p[k, 2].sum() == p[k, 2].amax(0).sum() * p[k, 2].amax(1).sum():  # one square patch
            assert torch.allclose(p[k, 0][p[k, 2] > 0], ramp[0, 0, 0, cols].mean(), atol=1e-5)


def test_a_hint_taking_network_starts_as_the_automatic_one_and_reruns_with_the_hints():
    """`store.widened` adds the hint branch at zero: same colours, hints or not; once the branch has
    weights, `image(hints=...)` runs the network again with the hints as planes."""
    from chromatize.models.store import widened

    m = inference.load_model("efficientnet_unet")
    net, card = widened(m.net, m.card, {"hints": True})
    wide = inference.LoadedModel(net, card, "wide")
    img, hints = two_regions(), HintSet([Hint(0.25, 0.5, "#c02020"), Hint(0.75, 0.5, "#2040c0")])
    a, b = inference.analyse(img, m), inference.analyse(img, wide)
    assert wide.takes_hints and not m.takes_hints
    assert np.array_equal(np.asarray(a.image(hints=hints)), np.asarray(b.image(hints=hints)))
    assert b._hinted(hints) is not b.prediction and a._hinted(hints) is a.prediction
    with torch.no_grad():
        for path in net.hint_branch.paths:
            path[-1].weight.normal_(0, 0.5)
    rerun = b._hinted(hints).chroma(**b.decoding) - b.prediction.chroma(**b.decoding)
    assert float(rerun.abs().max()) > 0.02  # the network's own colours moved with the hints
    moved = np.abs(np.asarray(b.image(hints=hints), np.int16) - np.asarray(a.image(hints=hints))).mean()
    assert moved > 0.05  # and the steered picture with them
    assert np.array_equal(np.asarray(b.image()), np.asarray(a.image()))  # no hints: the automatic run
    with pytest.raises(ChromatizeError, match="takes no conditioning 'palette'"):
        wide.network_input(b.l_small, {"palette": 1})
