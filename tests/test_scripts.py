"""The GPU-stage scripts, run on the CPU with tiny generated packs (how they are checked before a loan)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from chromatize.models.store import load_model_dir

from .conftest import smooth_color_image

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "chromatize" / "weights" / "efficientnet_unet"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_average_weights_is_the_mean_and_is_recorded(tmp_path):
    from chromatize.models.registry import build
    from chromatize.models.store import save_model_dir

    avg = _script("average_weights")
    dirs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        d = tmp_path / f"m{seed}"
        net = build("regression", width=8)
        for name, buf in net.named_buffers():
            if name.endswith("num_batches_tracked"):
                buf.fill_(100 * seed)  # BatchNorm step counters differ between runs of one lineage
        save_model_dir(net, {"family": "regression", "options": {"width": 8}}, d)
        dirs.append(d)
    net, card = avg.average(dirs, ["one", "two"])
    a, b = (load_model_dir(d)[0].state_dict() for d in dirs)
    for k, v in net.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, (a[k] + b[k]) / 2, atol=1e-6), k
    assert card["training"]["stages"][-1] == {
        "weights": "average",
        "of": ["one", "two"],
        "script": "scripts/average_weights.py",
    }
    save_model_dir(build("regression", width=16), {"family": "regression", "options": {"width": 16}}, tmp_path / "w")
    with pytest.raises(SystemExit, match="cannot be averaged"):
        avg.average([dirs[0], tmp_path / "w"], ["one", "wide"])


@pytest.mark.slow
@pytest.mark.parametrize("family", ["efficientnet_unet", "classification", "hints"])
def test_gpu_stage_trains_on_cpu_and_writes_loadable_models(tmp_path, family, tiny_cls_dir):
    """ "hints": the shipped model widened with the hint branch (issue 27's learned route), BatchNorm frozen."""
    hints, family = family == "hints", "efficientnet_unet" if family == "hints" else family
    init_dir = SHIPPED if family == "efficientnet_unet" else tiny_cls_dir
    pack = _script("pack_gpu_data")
    data = tmp_path / "packs"
    data.mkdir()
    photos = [np.asarray(smooth_color_image(i, 96)) for i in range(12)]
    tins = [np.asarray(smooth_color_image(100 + i, 64)) for i in range(12)]
    photo_ids = [f"train-0{i % 2}.tar/p{i}.jpg" for i in range(12)]
    assert pack.shards_of("photos256", photo_ids) == ["photos256/train-00.tar", "photos256/train-01.tar"]
    pack.write_pack(
        data / "photo-x.npz", [pack.encode_webp(p, 96, 90) for p in photos], pack.shards_of("photos256", photo_ids)
    )
    pack.write_pack(data / "valphoto-x.npz", [pack.encode_webp(p, 96, 90) for p in photos[:4]], ["photos256/v.tar"])
    pack.write_pack(data / "tin-0.npz", [pack.encode_webp(t, 64, 90) for t in tins], ["tinyimagenet64/train-03.tar"])
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "gpu_stage.py"),
        "--init",
        str(init_dir),
        "--data",
        str(data),
        "--out",
        str(out),
        "--seconds",
        "4",
        "--photo-batch",
        "2",
        "--tin-batch",
        "2",
        "--photo-sizes",
        "64,96",
        "--tin-size",
        "64",
        "--photo-store",
        "96",
        "--device",
        "cpu",
        "--workers",
        "1",
        "--save-every",
        "2",
        *(["--arch", "hints=true", "--frozen-bn", "--train-only", "hint_branch"] if hints else []),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    log = json.loads((out / "log.json").read_text())
    assert log["steps"] > 0 and log["seen"]["photo"] > 0 and log["seen"]["tin"] > 0
    assert log["images"] == {"photo": 12, "tin": 12, "valphoto": 4, "valtin": 0}
    finals = [e for e in log["evals"] if e["which"] in ("last", "ema")]
    assert len(finals) == 2 and all(math.isfinite(e["valphoto_loss"]) for e in finals)
    assert all(("valphoto_psnr_hints" in e) == hints for e in log["evals"])
    init, _ = load_model_dir(init_dir)
    snapshots = [e["which"] for e in log["evals"] if e["which"] == "ema60"]  # only once 60 % of the time passed
    for which in ("last", "ema", *snapshots):
        net, card = load_model_dir(out / which)
        assert card.family == family
        stage = card.training["stages"][-1]
        assert stage["script"] == "scripts/gpu_stage.py"
        assert [d["sources"] for d in stage["data"]] == [
            ["photos256/train-00.tar", "photos256/train-01.tar"],
            ["tinyimagenet64/train-03.tar"],
        ]
        old = init.state_dict()
        new = {k: v for k, v in net.state_dict().items() if k in old}
        moved = max(float((new[k].float() - v.float()).abs().max()) for k, v in old.items() if v.is_floating_point())
        assert card.options.get("hints", False) == hints
        if hints:  # only the branch learned: the automatic model, BatchNorm statistics included, is as it was
            assert moved == 0, f"{which}: weights outside the hint branch changed"
            assert float(net.hint_branch.paths[0][-1].weight.detach().abs().max()) > 0
        else:
            assert moved > 0, f"{which}: weights did not change"
        with torch.no_grad():
            assert torch.isfinite(net(torch.zeros(1, 1, 64, 64))).all()


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_finetune_stage_keeps_batchnorm_and_records_the_stage(tmp_path, lam):
    pack = _script("pack_gpu_data")
    data = tmp_path / "packs"
    data.mkdir()
    photos = [np.asarray(smooth_color_image(i, 96)) for i in range(6)]
    tins = [np.asarray(smooth_color_image(100 + i, 64)) for i in range(6)]
    pack.write_pack(data / "photo-x.npz", [pack.encode_webp(p, 96, 90) for p in photos], ["photos256/train-00.tar"])
    pack.write_pack(data / "tin-0.npz", [pack.encode_webp(t, 64, 90) for t in tins], ["tinyimagenet64/train-03.tar"])
    out = tmp_path / "out"
    args = ["--init", str(SHIPPED), "--data", str(data), "--out", str(out), "--steps", "2", "--batch", "2"]
    _script("finetune_stage").main(
        [*args, "--sizes", "64", "--photo-store", "96", "--lam", str(lam), "--d-steps", "1", "--save-steps", "1"]
    )
    log = json.loads((out / "log.json").read_text())
    assert log["steps"] == 2
    assert ("adv" in log["rows"][-1]) == bool(lam) and ("d_acc" in log["rows"][0]) == bool(lam)
    init, _ = load_model_dir(SHIPPED)
    net, card = load_model_dir(out / "last")
    assert (out / "step1").is_dir() and (out / "step2").is_dir()
    before, after = init.state_dict(), net.state_dict()
    moved = [k for k in after if after[k].is_floating_point() and not torch.equal(after[k], before[k])]
    assert any(k.endswith(".weight") for k in moved), "the network did not train"
    bn = [k for k in after if k.endswith(("running_mean", "running_var"))]
    assert bn and not [k for k in bn if k in moved], "BatchNorm statistics moved"
    stage = card.training["stages"][-1]
    assert stage["script"] == "scripts/finetune_stage.py" and stage["steps"] == 2
    assert stage["options"]["adversarial_weight"] == lam and stage["options"]["batchnorm"] == "frozen"
    assert [d["sources"] for d in stage["data"]] == [["photos256/train-00.tar"], ["tinyimagenet64/train-03.tar"]]
    assert not [k for k in card.metrics if k.startswith("carved_val")]
