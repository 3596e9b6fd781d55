"""A fine-tuning stage of efficientnet_unet on the CPU: BatchNorm frozen, optionally adversarial (NoGAN).

Reads the same packs as ``gpu_stage.py`` (``scripts/pack_gpu_data.py``: ``photo-*.npz`` and ``tin-*.npz``),
cuts random views of both kinds (``--batch`` each per step, sizes alternating 128/160 px) and trains the
family's cross-entropy with Adam (betas 0.5/0.999) at a constant learning rate (encoder 0.3x), with the
network's BatchNorm layers in eval mode: they normalise with the running statistics of the starting
weights and never update them (their scale and shift still train). Small CPU batches otherwise move
those statistics; the earlier CPU stages, which let them move, drifted.

With ``--lam`` > 0 it is NoGAN-style adversarial fine-tuning (Antic's DeOldify): a conditional PatchGAN
on (L, chroma) at the head's resolution (1/4) is first pre-trained for ``--d-steps`` against the frozen
network's decoded chroma (the card's temperature and adjustment), then the network's loss becomes
cross-entropy + lam x BCE(D(L, decoded), real) while D keeps training.

    python scripts/finetune_stage.py --init src/chromatize/weights/efficientnet_unet --data gpu_data1 \
        --out runs/ft --steps 600 --seconds 2700 --save-steps 500

Writes ``<out>/last`` (and ``<out>/step<N>`` every ``--save-steps``): model folders (card + fp16
safetensors), and ``<out>/log.json`` (loss per step, wall time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_stage as gs  # noqa: E402  (pack loading, random views, L/chroma; also sets up the import path)

from chromatize.models.efficientnet_unet import soft_cross_entropy  # noqa: E402
from chromatize.models.gan import PatchDiscriminator, adversarial_loss, discriminator_loss  # noqa: E402
from chromatize.models.store import load_model_dir, save_model_dir  # noqa: E402
from chromatize.training.stage import with_stage  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--init", type=Path, required=True, help="efficientnet_unet model folder to start from")
    ap.add_argument("--data", type=Path, nargs="+", required=True, help="folders holding the packs")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--init-name", default="", help="how the card names the starting model (default: its folder)")
    ap.add_argument("--lam", type=float, default=0.0, help="adversarial weight (0: plain fine-tuning, no critic)")
    ap.add_argument("--d-steps", type=int, default=150, help="critic pre-training steps (only with --lam > 0)")
    ap.add_argument("--steps", type=int, default=600, help="training steps of the network")
    ap.add_argument("--seconds", type=float, default=0, help="also stop after this wall time (0: no limit)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--d-lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=16, help="views per kind (photos, Tiny ImageNet) per step")
    ap.add_argument("--sizes", default="128,160", help="view sizes, alternating step by step")
    ap.add_argument("--photo-store", type=int, default=224, help="decoded photo size kept in memory")
    ap.add_argument("--save-steps", type=int, default=0, help="also save <out>/step<N> every N network steps")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    if a.threads:
        torch.set_num_threads(a.threads)

    data, sources = {}, {}
    for kind, size in (("photo", a.photo_store), ("tin", 64)):
        arr, sources[kind] = gs.load_packs(a.data, kind, size, 2)
        if not len(arr):
            sys.exit(f"finetune_stage: no {kind}-*.npz pack in {', '.join(map(str, a.data))}")
        data[kind] = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
        print(f"{kind}: {len(arr)} images", flush=True)

    net, card = load_model_dir(a.init)
    if card.family != "efficientnet_unet":
        sys.exit(f"finetune_stage: {a.init} is a {card.family} model; this stage is for efficientnet_unet")
    space = card.color_space
    T, R = card.inference["temperature"], card.inference["rebalance"]
    net = net.to(memory_format=torch.channels_last)

    def train_mode() -> None:
        net.train()
        gs.frozen_batchnorm(net)

    groups = card.family_obj.param_groups(net, {"encoder_lr": 0.3})
    opt = torch.optim.Adam([{"params": g["params"], "lr": a.lr * g["lr_scale"]} for g in groups], betas=(0.5, 0.999))
    disc = PatchDiscriminator(32) if a.lam else None
    opt_d = torch.optim.Adam(disc.parameters(), lr=a.d_lr, betas=(0.5, 0.999)) if a.lam else None
    sizes = [int(s) for s in a.sizes.split(",")]
    d_steps = a.d_steps if a.lam else 0

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        out = sizes[step % len(sizes)]
        parts = [
            gs.lc(gs.random_views(data[kind], a.batch, out, scale, gen), space)
            for kind, scale in (("photo", (0.3, 1.0)), ("tin", (0.5, 1.0)))
        ]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def critic_step(l4, real4, fake4) -> dict[str, float]:
        dr, df = disc(l4, real4), disc(l4, fake4.detach())
        loss = discriminator_loss(dr, df)
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        acc = 0.5 * ((dr > 0).float().mean() + (df < 0).float().mean())
        return {"d": round(float(loss.detach()), 4), "d_acc": round(float(acc), 4)}

    def save(name: str, steps: int) -> None:
        stage = {
            "data": [
                {"sources": sources["photo"], "train_images": len(data["photo"]), "views_seen": steps * a.batch},
                {"sources": sources["tin"], "train_images": len(data["tin"]), "views_seen": steps * a.batch},
            ],
            "steps": steps,
            "view_sizes": sizes,
            "options": {
                "lr": a.lr,
                "encoder_lr": 0.3,
                "batch_per_kind": a.batch,
                "batchnorm": "frozen",
                "adversarial_weight": a.lam,
                "critic_steps": d_steps,
                "precision": "32",
            },
            "init": a.init_name or a.init.name,
            "script": "scripts/finetune_stage.py",
        }
        net.eval()
        save_model_dir(net, with_stage(card, stage), a.out / name, half=True)
        train_mode()

    log = {"args": {k: str(v) for k, v in vars(a).items()}, "rows": []}
    t0 = time.perf_counter()
    steps = 0
    for step in range(d_steps + a.steps):
        l_n, ab_n = batch(step)
        train_mode()
        real4 = F.avg_pool2d(ab_n, net.head_stride).float()
        l4 = F.avg_pool2d(l_n, net.head_stride)
        row: dict[str, float] = {"step": step}
        if step < d_steps:  # critic pre-training against the frozen network
            with torch.no_grad():
                fake4 = net.decode(net.adjusted(net.logits(l_n), R), T)
            row.update(critic_step(l4, real4, fake4))
        else:
            logits = net.logits(l_n)
            ce = soft_cross_entropy(torch.log_softmax(logits.float(), 1), real4, net.bins)  # the family's loss
            loss = ce
            if a.lam:
                fake4 = net.decode(net.adjusted(logits, R), T)
                row.update(critic_step(l4, real4, fake4))
                adv = adversarial_loss(disc(l4, fake4))
                loss = ce + a.lam * adv
                row["adv"] = round(float(adv.detach()), 4)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            row["ce"] = round(float(ce.detach()), 4)
        row["t"] = round(time.perf_counter() - t0, 1)
        log["rows"].append(row)
        if step % 25 == 0:
            print(row, flush=True)
        if a.save_steps and steps and step >= d_steps and steps % a.save_steps == 0:
            save(f"step{steps}", steps)
        if a.seconds and row["t"] > a.seconds:
            break
    save("last", steps)
    log["steps"], log["seconds"] = steps, round(time.perf_counter() - t0, 1)
    (a.out / "log.json").write_text(json.dumps(log, indent=1))
    print(f"done: {steps} steps in {log['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
