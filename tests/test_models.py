from __future__ import annotations

import pytest
import torch

from chromatize.errors import ChromatizeError
from chromatize.models import FAMILIES, build, load_model_dir, save_model_dir
from chromatize.models.classification import fit_palette, quantize, rebalance_weights


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("hw", [(32, 32), (37, 51), (1, 1), (3, 70)])
def test_shapes_any_size(family, hw):
    net = build(family, width=8).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, *hw))
    assert out.shape == (2, 2, *hw) and torch.isfinite(out).all()


def test_gan_generator_is_the_design():
    net = build("gan", width=8)
    assert len(net.down) == 5 and len(net.up) == 5
    assert isinstance(net.out[-1], torch.nn.Tanh)
    from chromatize.models.gan import Discriminator

    d = Discriminator(8)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and isinstance(d.fc, torch.nn.Linear)
    p = d.prob(torch.rand(3, 1, 64, 64), torch.rand(3, 2, 64, 64))
    assert p.shape == (3, 1) and ((p > 0) & (p < 1)).all()


def test_annealed_mean_limits():
    net = build("classification", k=4, width=8).eval()
    net.set_palette(torch.tensor([[0.5, 0.0], [-0.5, 0.0], [0.0, 0.5], [0.0, -0.5]]), torch.full((4,), 0.25))
    logits = torch.tensor([3.0, 1.0, 0.0, 0.0]).view(1, 4, 1, 1)
    mode = net.decode(logits, 0.0)
    assert torch.allclose(mode.flatten(), torch.tensor([0.5, 0.0]))
    p = torch.softmax(logits, 1).flatten()
    mean = net.decode(logits, 1.0).flatten()
    assert torch.allclose(mean, p @ net.palette, atol=1e-6)
    vivid = net.decode(logits, 0.1).flatten()
    assert mean.norm() < vivid.norm() <= mode.flatten().norm() + 1e-6
    dist = net.distribution(torch.rand(1, 1, 16, 16))
    assert dist.shape == (1, 4, 16, 16) and torch.allclose(dist.sum(1), torch.ones(1, 16, 16), atol=1e-5)


def test_palette_and_weights():
    rng = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.3, 0.3], [-0.3, 0.2], [0.0, -0.4]])
    pts = torch.cat([c + 0.01 * torch.randn(500, 2, generator=rng) for c in centres]).numpy()
    pal, freq = fit_palette(pts, k=3)
    assert pal.shape == (3, 2) and abs(freq.sum() - 1) < 1e-6
    assert all(min(((torch.tensor(pal) - c) ** 2).sum(1)) < 1e-3 for c in centres)
    idx = quantize(centres.view(1, 3, 2).permute(0, 2, 1).unsqueeze(-1), torch.tensor(pal))
    assert sorted(idx.flatten().tolist()) == [0, 1, 2]
    w = rebalance_weights(torch.tensor([0.7, 0.2, 0.1]))
    assert w[2] > w[1] > w[0] and abs(float((torch.tensor([0.7, 0.2, 0.1]) * w).sum()) - 1) < 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_export_reload_identical(family, tmp_path):
    net = build(family, width=8).eval()
    cfg = {"family": family, "color_space": "luv", "model": {"width": 8}}
    save_model_dir(net, cfg, tmp_path / family)
    net2, cfg2 = load_model_dir(tmp_path / family)
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        assert torch.equal(net(x), net2(x))
    assert cfg2["family"] == family


def test_refuses_pickles_and_mismatches(tmp_path):
    net = build("regression", width=8)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    with pytest.raises(ChromatizeError, match="pickle"):
        load_model_dir(tmp_path / "w.pt")
    save_model_dir(net, {"family": "regression", "model": {"width": 8}}, tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"family": "regression", "model": {"width": 16}}')
    with pytest.raises(ChromatizeError, match="do not match"):
        load_model_dir(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"family": "transformer"}')
    with pytest.raises(ChromatizeError, match="unknown model family"):
        load_model_dir(tmp_path / "m")
