from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from chromatize.data.datasets import ColorizationDataset
from chromatize.errors import ChromatizeError
from chromatize.models.netinput import NetInput
from chromatize.models.registry import FAMILIES
from chromatize.models.store import load_model_dir
from chromatize.training.modules import FamilyModule
from chromatize.training.stage import family_step
from chromatize.training.train import new_run, train, train_images_fn

from .conftest import SMALL

FAST = dict(batch_size=16, val_limit=8, ckpt_every=1, log_every=1)


@pytest.fixture(scope="module")
def tiny(tiny_prepared) -> Path:
    return tiny_prepared


def _opts(**kw):
    return {**FAST, **kw}


class _Stub:
    """What a family's training step needs from the Lightning module, without a Trainer."""

    def __init__(self, mod: FamilyModule, opts):
        self._opts = opts
        self.disc = getattr(mod, "disc", None)

    def optimizers(self):
        return self._opts

    def manual_backward(self, loss):
        loss.backward()


def _losses(run: Path, key: str = "train_loss_step") -> dict[int, float]:
    from chromatize.training.callbacks import read_metrics

    return {int(r["step"]): float(r[key]) for r in read_metrics(run) if r.get(key)}


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_decreases_on_fixed_batch(family, tiny):
    """The family's own training step (for the GAN: discriminator and generator updates) lowers its loss."""
    torch.manual_seed(0)
    opts = {"lr": 3e-3, "pretrained": False} if family == "efficientnet_unet" else {"lr": 3e-3}
    cfg = new_run(family, [str(tiny)], "luv", 32, SMALL[family], opts)
    mod = FamilyModule(cfg["card"], cfg["train"]).to(memory_format=torch.contiguous_format)
    fam = mod.family
    fam.init_training(mod.net, train_images_fn([tiny], 32, 0), "luv", mod.train_opts, None)
    ds = ColorizationDataset(tiny, "train", "luv")
    l_n, ab_n = (torch.stack(t) for t in zip(*[ds[i] for i in range(8)]))
    if fam.manual_optimization:
        opts = fam.configure_optimizers(mod)
        stub = _Stub(mod, opts)
        d0 = [p.detach().clone() for p in mod.disc.parameters()]
        batch = (NetInput(l_n), ab_n)
        logs = [fam.training_step(mod.net, batch, mod.train_opts, aux=stub) for _ in range(30)]
        assert float(logs[-1]["g_l1"]) < 0.7 * float(logs[0]["g_l1"])
        assert all(torch.isfinite(torch.as_tensor(x["d_loss"])) and torch.isfinite(x["g_adv"]) for x in logs)
        assert any(not torch.equal(a, b) for a, b in zip(d0, mod.disc.parameters()))  # D was trained
        return
    groups = fam.param_groups(mod.net, mod.train_opts)
    opt = torch.optim.Adam([{"params": g["params"], "lr": 3e-3} for g in groups])
    first = float(family_step(fam, mod.net, l_n, ab_n, mod.train_opts)["loss"].detach())
    for _ in range(30):
        opt.zero_grad()
        family_step(fam, mod.net, l_n, ab_n, mod.train_opts)["loss"].backward()
        opt.step()
    assert float(family_step(fam, mod.net, l_n, ab_n, mod.train_opts)["loss"].detach()) < 0.7 * first


@pytest.mark.parametrize("family", FAMILIES)
def test_train_export_and_reload(family, tiny, tmp_path):
    extra = {"pretrained": False} if family == "efficientnet_unet" else {}
    card = train(
        family,
        [str(tiny)],
        tmp_path / "run",
        size=32,
        options=SMALL[family],
        progress=False,
        max_steps=3,
        **_opts(**extra),
    )
    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "curves.png").is_file()
    assert list((run / "samples").glob("epoch_*.png"))
    assert card.training["stages"][-1]["steps"] == 3 and "psnr" in card.metrics["carved_val"]
    assert str(tiny) not in (run / "config.json").read_text()  # the card holds no machine path
    net, card2 = load_model_dir(run)
    assert card2 == card
    cfg = json.loads((run / "run.json").read_text())
    mod = FamilyModule(cfg["card"], cfg["train"])
    ck = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    mod.load_state_dict(ck["state_dict"])
    x = torch.rand(2, 1, 32, 32)
    trained = mod.net.eval().to(memory_format=torch.contiguous_format)  # training runs channels_last
    with torch.no_grad():
        assert torch.equal(trained(x), net(x))


def test_val_every_counts_batches_of_the_whole_run(tiny, tmp_path):
    """--val-every N validates every N batches of the run, also when N is longer than an epoch (Lightning
    alone refuses that with a traceback)."""
    from chromatize.training.callbacks import read_metrics

    run = tmp_path / "run"
    opts = _opts(batch_size=4, val_every=6)  # 16 training images: 4 batches per epoch
    train("regression", [str(tiny)], run, size=32, options=SMALL["regression"], progress=False, max_steps=13, **opts)
    val_steps = sorted({int(r["step"]) for r in read_metrics(run) if r.get("val_psnr")})
    assert [s for s in val_steps if s < 13] == [5, 11]  # after batches 6 and 12 (steps count from 0)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "chromatize.cli", "train", *args]


def _tiny_regression(data, *more: str) -> list[str]:
    """`chromatize train` arguments for a tiny regression run (the subprocess tests below)."""
    return ["--model", "regression", "--data", str(data), "--size", "32", "--width", "8", "--val-limit", "8", *more]


@pytest.mark.slow
def test_kill_9_then_resume_gives_same_losses(tiny, tmp_path):
    # one batch per epoch: fixed data order
    args = _tiny_regression(tiny, "--max-steps", "16", "--batch-size", "64", "--ckpt-every", "1", "--log-every", "1")
    subprocess.run(_cli(*args, "-o", str(tmp_path / "full")), check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen(
        _cli(*args, "-o", str(tmp_path / "cut")), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ckpt, step, deadline = tmp_path / "cut" / "checkpoints" / "last.ckpt", 0, time.time() + 120
    while step < 3 and time.time() < deadline and proc.poll() is None:
        if ckpt.is_file():
            step = torch.load(ckpt, weights_only=False, map_location="cpu")["global_step"]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= step < 16, "the run must be killed part-way"
    assert not list(ckpt.parent.glob("*.part"))  # no half-written checkpoint survives
    subprocess.run(_cli(*args, "-o", str(tmp_path / "cut"), "--resume"), check=True, capture_output=True, timeout=300)
    resumed = torch.load(ckpt, weights_only=False)["global_step"]
    full, cut = _losses(tmp_path / "full"), _losses(tmp_path / "cut")
    assert resumed == 16 and set(full) == set(range(16))
    # the first loss after the checkpoint is the same; later ones drift only by float summation order
    assert cut[step] == pytest.approx(full[step], rel=1e-4)
    assert all(cut[s] == pytest.approx(full[s], rel=2e-2) for s in range(step, 16))


def test_init_finetunes_from_a_model(tiny, tmp_path):
    train(
        "classification",
        [str(tiny)],
        tmp_path / "base",
        size=32,
        options={"width": 8, "k": 6},
        progress=False,
        max_steps=2,
        **_opts(),
    )
    base, _ = load_model_dir(tmp_path / "base")
    card = train(
        "classification",
        [str(tiny)],
        tmp_path / "ft",
        size=32,
        init=str(tmp_path / "base"),
        progress=False,
        max_steps=2,
        **_opts(lr=1e-4),
    )
    assert card.options["k"] == 6 and len(card.training["stages"]) == 2
    ft, _ = load_model_dir(tmp_path / "ft")
    assert torch.equal(ft.palette, base.palette)  # the palette travels with the model
    diffs = [float((a - b).abs().max()) for a, b in zip(ft.parameters(), base.parameters())]
    assert 0 < max(diffs) < 0.05  # moved a little from the start point, not re-initialised


@pytest.mark.slow
def test_ddp_two_cpu_processes(tiny, tmp_path):
    more = ["-o", str(tmp_path / "ddp"), "--max-steps", "3", "--batch-size", "8", "--devices", "2"]
    cmd = _cli(*_tiny_regression(tiny, *more))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "ddp" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "ddp" / "run.json").read_text())["train"]["devices"] == 2
    assert "model written" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "transformer"], "unknown model family 'transformer'"),
        (["--model", "regression", "--k", "8"], "regression has no option 'k' (architecture options:"),
        (["--model", "classification", "--opt", "head_stride=3"], "head_stride: choose one of 1, 2, 4"),
        (["--model", "classification", "--lr", "nan"], "--lr must be a positive finite number"),
        (["--model", "classification", "--batch-size", "0"], "--batch-size must be a positive integer"),
        (["--model", "classification", "--precision", "64"], "--precision takes one of"),
    ],
)
def test_bad_options_fail_at_parse_time(args, message, tiny, tmp_path):
    from typer.testing import CliRunner

    from chromatize.cli import app

    r = CliRunner().invoke(app, ["train", *args, "--data", str(tiny), "-o", str(tmp_path / "r")])
    assert r.exit_code != 0 and isinstance(r.exception, (ChromatizeError, SystemExit))
    assert message in str(r.exception) + r.output
    assert not (tmp_path / "r" / "checkpoints").exists()  # nothing was trained


@pytest.mark.slow
def test_two_nodes_with_torchrun_on_one_box(tiny, tmp_path):
    """The multi-machine path: two torchrun 'nodes' (node ranks 0 and 1) on localhost, one process each,
    `--num-nodes 2`; Lightning picks up torchrun's environment and trains with DDP over gloo."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["-m", "chromatize.cli", "train", *_tiny_regression(tiny, "-o", str(tmp_path / "mn"), "--max-steps", "3")]
    args += ["--batch-size", "8", "--devices", "1", "--num-nodes", "2"]
    # Both 'nodes' are this box: gloo must talk over loopback. Without GLOO_SOCKET_IFNAME it uses the address
    # the host name resolves to, which on a CI sandbox may be unreachable (the collective then times out).
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(rank),
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(port),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    # On failure show each rank's error lines first (a bare tail is mostly torchrun's banner).
    why = [[ln[:300] for ln in o[1].splitlines() if "rror" in ln or "imeout" in ln][:8] for o in outs]
    assert all(p.returncode == 0 for p in procs), why
    assert (tmp_path / "mn" / "model.safetensors").is_file()
    card = json.loads((tmp_path / "mn" / "config.json").read_text())
    assert card["training"]["stages"][-1]["steps"] == 3
    assert json.loads((tmp_path / "mn" / "run.json").read_text())["train"]["num_nodes"] == 2


def test_step_limited_run_shows_no_negative_epoch_count():
    import lightning.pytorch as L

    from chromatize.training.callbacks import StepProgressBar

    seen = {}
    for max_epochs, max_steps in ((-1, 3), (3, -1)):
        bar = StepProgressBar()
        trainer = L.Trainer(
            accelerator="cpu", max_steps=max_steps, max_epochs=max_epochs, logger=False, enable_checkpointing=False
        )
        bar._trainer = trainer  # what Lightning sets when the bar is attached to a fit
        seen[max_epochs] = bar._get_train_description(0).strip()
    assert seen == {-1: "Epoch 0", 3: "Epoch 0/2"}


def test_training_into_an_existing_run_needs_resume_or_overwrite(tiny, tmp_path):
    """Issue 24 case 11: a second `train -o RUN` without --resume silently retrained over the run."""
    from typer.testing import CliRunner

    from chromatize.cli import app

    run = tmp_path / "r"
    args = ["train", *_tiny_regression(tiny, "-o", str(run), "--max-steps", "1", "--batch-size", "8")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    card = (run / "config.json").read_bytes()
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "holds a training run already" in str(again.exception) + again.output
    assert (run / "config.json").read_bytes() == card  # untouched
    over = CliRunner().invoke(app, [*args, "--overwrite"])
    assert over.exit_code == 0, over.output


def test_an_unknown_opt_names_both_kinds_of_option(tiny, tmp_path):
    """Issue 26: `--opt foo=1` listed only the training options, not the architecture's."""
    from typer.testing import CliRunner

    from chromatize.cli import app

    r = CliRunner().invoke(
        app, ["train", "--model", "classification", "--data", str(tiny), "--opt", "foo=1", "-o", str(tmp_path / "r")]
    )
    text = str(r.exception) + r.output
    assert r.exit_code != 0 and "architecture options: k, width, head_stride" in text and "class_weights" in text


def test_a_run_without_a_terminal_says_how_far_it_is():
    """Issue 26: a non-terminal `train` printed only a Lightning warning for minutes."""
    from types import SimpleNamespace

    import torch

    from chromatize.training.callbacks import PlainProgress

    said = []
    ticks = iter([0.0, 60.0, 120.0, 120.0])
    bar = PlainProgress(every=30, say=said.append)
    bar.clock = lambda: next(ticks)
    tr = SimpleNamespace(max_steps=100, max_epochs=-1, global_step=0, current_epoch=0, callback_metrics={})
    bar.on_train_start(tr, None)
    tr.global_step, tr.callback_metrics = 25, {"train_loss_step": torch.tensor(0.5)}
    bar.on_train_batch_end(tr, None, None, None, 0)
    tr.global_step = 50
    bar.on_train_batch_end(tr, None, None, None, 0)
    bar.on_train_end(tr, None)
    assert said[0] == "training: 100 steps"
    assert said[1] == "step 25/100 (25 %), loss 0.5, 1.0 min, about 3.0 min left"
    assert said[-1].startswith("step 50/100 (50 %)") and said[-1].endswith("(done)")
