from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from chromatize.data.datasets import ColorizationDataset
from chromatize.data.prepare import prepare
from chromatize.models import FAMILIES, load_model_dir
from chromatize.training.modules import make_module
from chromatize.training.train import build_config, train

from .conftest import smooth_color_image

FAST = dict(batch_size=16, val_limit=8, ckpt_every=1, log_every=1, width=8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src") / "c"
    src.mkdir()
    for i in range(24):
        smooth_color_image(i, 36).save(src / f"{i}.png")
    out = tmp_path_factory.mktemp("prep")
    prepare([src.parent], out, size=32, fractions=(0.67, 0.33, 0.0), progress=False)
    return out


def _opts(**kw):
    o = {k: v for k, v in FAST.items() if k != "width"}
    o.update(kw)
    return o


def _losses(run: Path, key: str = "train_loss_step") -> dict[int, float]:
    with open(run / "logs" / "version_0" / "metrics.csv") as f:
        return {int(r["step"]): float(r[key]) for r in csv.DictReader(f) if r.get(key)}


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_decreases_on_fixed_batch(family, tiny):
    torch.manual_seed(0)
    cfg = build_config(family, [str(tiny)], tiny, "luv", 32, {"width": 8}, {"lr": 3e-3})
    mod = make_module(cfg)
    ds = ColorizationDataset(tiny, "train", "luv")
    l_n, ab_n = (torch.stack(t) for t in zip(*[ds[i] for i in range(8)]))
    if family == "classification":
        from chromatize.models.classification import fit_palette

        px = ab_n.permute(0, 2, 3, 1).reshape(-1, 2).numpy()
        mod.net.set_palette(*fit_palette(px, k=24))
    opt = torch.optim.Adam(mod.net.parameters(), lr=3e-3)

    def loss():
        if family == "gan":
            return torch.nn.functional.l1_loss(mod.net(l_n), ab_n)  # the GAN's L1 term
        return mod.loss(l_n, ab_n)

    first = float(loss().detach())
    for _ in range(30):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert float(loss().detach()) < 0.7 * first


@pytest.mark.parametrize("family", FAMILIES)
def test_train_export_and_reload(family, tiny, tmp_path):
    cfg = train(family, [str(tiny)], tmp_path / "run", arch={"width": 8}, progress=False, max_steps=3, **_opts())
    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "curves.png").is_file()
    assert list((run / "samples").glob("epoch_*.png"))
    assert cfg["metrics"]["global_step"] == 3 and "val_psnr" in cfg["metrics"]
    net, _ = load_model_dir(run)
    mod = make_module(cfg)
    ck = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    mod.load_state_dict(ck["state_dict"])
    x = torch.rand(2, 1, 32, 32)
    trained = mod.net.eval().to(memory_format=torch.contiguous_format)  # training runs channels_last
    with torch.no_grad():
        assert torch.equal(trained(x), net(x))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "chromatize.cli", "train", *args]


def test_kill_9_then_resume_gives_same_losses(tiny, tmp_path):
    args = ["--model", "regression", "--data", str(tiny), "--max-steps", "16", "--batch-size", "64", "--width", "8",
            "--val-limit", "8", "--ckpt-every", "1", "--log-every", "1"]  # one batch per epoch: fixed data order
    subprocess.run(_cli(*args, "-o", str(tmp_path / "full")), check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen(_cli(*args, "-o", str(tmp_path / "cut")), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt, step, deadline = tmp_path / "cut" / "checkpoints" / "last.ckpt", 0, time.time() + 120
    while step < 3 and time.time() < deadline and proc.poll() is None:
        if ckpt.is_file():
            step = torch.load(ckpt, weights_only=False, map_location="cpu")["global_step"]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= step < 16, "the run must be killed part-way"
    assert not list(ckpt.parent.glob("*.part"))  # no half-written checkpoint survives
    subprocess.run(_cli(*args, "-o", str(tmp_path / "cut"), "--resume"), check=True, capture_output=True,
                   timeout=300)
    resumed = torch.load(ckpt, weights_only=False)["global_step"]
    full, cut = _losses(tmp_path / "full"), _losses(tmp_path / "cut")
    assert resumed == 16 and set(full) == set(range(16))
    # the first loss after the checkpoint is the same; later ones drift only by float summation order
    assert cut[step] == pytest.approx(full[step], rel=1e-4)
    assert all(cut[s] == pytest.approx(full[s], rel=2e-2) for s in range(step, 16))


def test_init_finetunes_from_a_model(tiny, tmp_path):
    train("classification", [str(tiny)], tmp_path / "base", arch={"width": 8, "k": 6}, progress=False,
          max_steps=2, **_opts())
    base, _ = load_model_dir(tmp_path / "base")
    cfg = train("classification", [str(tiny)], tmp_path / "ft", init=str(tmp_path / "base"), progress=False,
                max_steps=2, **_opts(lr=1e-4))
    assert cfg["model"]["k"] == 6
    ft, _ = load_model_dir(tmp_path / "ft")
    assert torch.equal(ft.palette, base.palette)  # the palette travels with the model
    diffs = [float((a - b).abs().max()) for a, b in zip(ft.parameters(), base.parameters())]
    assert 0 < max(diffs) < 0.05  # moved a little from the start point, not re-initialised


def test_ddp_two_cpu_processes(tiny, tmp_path):
    cmd = _cli("--model", "regression", "--data", str(tiny), "-o", str(tmp_path / "ddp"), "--max-steps", "3",
               "--batch-size", "8", "--devices", "2", "--width", "8",
           "--val-limit", "8")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "ddp" / "model.safetensors").is_file()
    assert '"global_step": 3' in r.stdout
