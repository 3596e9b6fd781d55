"""A family's spec is the one place its knobs live; its network input can carry more than L.

A toy family, registered only in this test, declares a decoding knob (``gain``) that no front end names
and a network that takes an extra input plane. It trains through `chromatize train`, colours through
the CLI, and is evaluated, tuned and shown in the demo with no front-end edit; OpenVINO runs its
two-plane input like torch does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from chromatize.cli import app
from chromatize.metrics import lab_ab
from chromatize.models.base import ChromaPrediction, Family, Option, chroma_out
from chromatize.models.netinput import NetInput
from chromatize.models.registry import FAMILIES

from .conftest import run_cli, smooth_color_image


def ramp(l_n: torch.Tensor) -> torch.Tensor:
    """The toy's extra plane: the horizontal position, -1 at the left edge to 1 at the right."""
    w = l_n.shape[-1]
    return torch.linspace(-1, 1, w).view(1, 1, 1, w).expand_as(l_n).contiguous()


class ToyNet(nn.Module):
    stride, in_channels = 4, 2

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(2, 8, 3, padding=1), nn.Conv2d(8, 2, 3, padding=1)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == 2, "the toy network sees L and its extra plane"
        return torch.tanh(self.c2(torch.relu(self.c1(x))))

    forward = raw


class ToyPrediction(ChromaPrediction):
    def chroma(self, gain: float, **rest) -> torch.Tensor:
        return self._chroma * gain


class ToyFamily(Family):
    name = "toy_plane"
    summary = "test only: L plus a position plane, a gain knob"
    decoding = {"gain": Option(1.0, "toy chroma gain", low=0.0, high=4.0)}

    def build(self, options):
        return ToyNet()

    def inference_input(self, l_n, conditioning=None):
        return NetInput(l_n, ramp(l_n))

    def training_input(self, l_n, ab_n, opts, net=None):
        return NetInput(l_n, ramp(l_n))

    def from_raw(self, net, raw, l_n):
        return ToyPrediction(raw, l_n)

    def training_step(self, net, batch, opts, aux=None):
        inp, ab_n = batch
        return {"loss": F.mse_loss(chroma_out(net, inp), ab_n)}


@pytest.fixture(scope="module")
def toy_run(tiny_prepared, tmp_path_factory) -> Path:
    from chromatize.training.train import train

    run = tmp_path_factory.mktemp("toy") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(FAMILIES, "toy_plane", ToyFamily())
        train("toy_plane", [str(tiny_prepared)], run, size=32, options={}, progress=False, max_steps=4, batch_size=8)
    return run


@pytest.fixture
def toy(monkeypatch, toy_run) -> Path:
    monkeypatch.setitem(FAMILIES, "toy_plane", ToyFamily())
    return toy_run


def chroma_of(path: Path) -> float:
    return float(np.hypot(*lab_ab(np.asarray(Image.open(path).convert("RGB"))).transpose(2, 0, 1)).mean())


def test_a_new_knob_reaches_colorize_without_a_front_end_edit(toy, tmp_path, capsys):
    r = CliRunner().invoke(app, ["colorize", "--help"], terminal_width=200)
    assert "--gain" in r.output and "toy chroma gain" in r.output
    smooth_color_image(3, 40).convert("L").save(tmp_path / "g.png")
    for gain in ("0", "3"):
        code, _, err = run_cli(
            capsys, "colorize", tmp_path / "g.png", "-o", tmp_path / gain, "--model", toy, "--gain", gain
        )
        assert code == 0, err
    assert chroma_of(tmp_path / "0" / "g.png") < 0.5 < chroma_of(tmp_path / "3" / "g.png")
    code, _, err = run_cli(capsys, "colorize", tmp_path / "g.png", "-o", tmp_path / "x", "--model", toy, "--gain", "9")
    assert code == 2 and "gain: must lie in [0.0, 4.0]" in err


def test_evaluate_applies_a_knob_where_declared_and_says_so(toy, tiny_cls_dir, color_folder, tmp_path, capsys):
    args = ["evaluate", "--data", color_folder, "--model", toy, "--model", tiny_cls_dir, "-o", tmp_path / "r"]
    code, out, err = run_cli(capsys, *args, "--gain", "0.5")
    assert code == 0, err
    assert f"{tiny_cls_dir} (classification) has no gain" in err
    import json

    rows = json.loads((tmp_path / "r" / "metrics.json").read_text())["models"]
    assert rows[str(toy)]["decoding"] == {"gain": 0.5}
    assert rows[str(tiny_cls_dir)]["decoding"] == {"temperature": 0.38}  # its card's, untouched
    code, _, err = run_cli(capsys, *args[:-2], "-o", tmp_path / "r2", "--rebalance", "0.5")
    assert code == 2 and "no model evaluated takes the decoding option 'rebalance'" in err


def test_tune_and_demo_offer_the_knob(toy, tiny_prepared, tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "tune",
        "--model",
        toy,
        "--data",
        tiny_prepared,
        "--gain",
        "0.5,2",
        "--limit",
        "6",
        "--render-size",
        "32",
    )
    assert code == 0, err
    assert "gain" in out.splitlines()[0] and "<- chosen" in out
    from chromatize import demo

    app_ = demo.build_app([str(toy)])
    sliders = [b for b in app_.blocks.values() if b.__class__.__name__ == "Slider" and "steady" not in b.label]
    assert [s.label.split(":")[0] for s in sliders] == ["gain"] and sliders[0].maximum == 4.0
    srv = demo.DemoServer([str(toy)])
    smooth_color_image(3, 40).convert("L").save(tmp_path / "g.png")
    _, outs0, _, _, msg = srv.compare(str(tmp_path / "g.png"), [str(toy)], True, 0.0)
    _, outs3, _, _, _ = srv.compare(str(tmp_path / "g.png"), [str(toy)], True, 3.0)
    assert msg.startswith("Coloured")
    c0, c3 = (np.hypot(*lab_ab(np.asarray(o[0][0])).transpose(2, 0, 1)).mean() for o in (outs0, outs3))
    assert c0 < 0.5 < c3


def test_extra_plane_trains_colours_and_converts(toy):
    from chromatize import inference
    from chromatize.models.store import load_model_dir

    net, card = load_model_dir(toy)
    init = ToyNet()
    assert card.family == "toy_plane" and card.training["stages"][-1]["steps"] == 4
    assert any(not torch.equal(a, b) for a, b in zip(net.state_dict().values(), init.state_dict().values()))
    l_n = torch.rand(1, 1, 30, 45) * 2 - 1  # not a multiple of the stride: padded in one place
    inp = FAMILIES["toy_plane"].inference_input(l_n)
    assert inp.tensor(4).shape == (1, 2, 32, 48)
    assert torch.equal(inp.tensor(4)[:, 1:, 30:], torch.zeros(1, 1, 2, 48))  # planes padded with zeros
    ref = inference.load_model(toy, engine="torch")
    pytest.importorskip("openvino")
    ov = inference.load_model(toy, engine="openvino")
    assert ov.engine == "openvino"
    a = ref.predict(l_n, flip=True).chroma(gain=1.0)
    b = ov.predict(l_n, flip=True).chroma(gain=1.0)
    assert a.shape == (1, 2, 30, 45) and (a - b).abs().max() < 1e-4
    out = inference.colorize(Image.fromarray((np.random.default_rng(0).random((30, 45)) * 255).astype(np.uint8)), toy)
    assert out.size == (45, 30)
