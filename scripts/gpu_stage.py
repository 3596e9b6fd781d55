"""One training stage of a model family with the data held on the accelerator.

Made for a short loan of a GPU machine that has none of ../shared and little time: the images come as
packs (``scripts/pack_gpu_data.py``), are decoded once by all CPU cores, kept on the device as uint8,
and every batch is cut, flipped, resized and converted to L/chroma there, so no data loader stands
between the network and the GPU. The loss is the family's own ``training_step`` and the schedule, weight
average and card stage are `chromatize.training.stage`'s (what every front end uses); the learning rate
follows warm-up + cosine over a *time* budget, so the stage ends on time whatever the speed. Families
optimised by one loss train here (efficientnet_unet, classification, regression; not the GAN). It also
runs on a CPU (that is how it is tested), only slowly.

    python scripts/gpu_stage.py --init src/chromatize/weights/efficientnet_unet \
        --data gpu_data1 gpu_data2 --seconds 420 --out $OUT

Learned hints (issue 27, route (a)): ``--arch hints=true`` widens the starting model with the hint branch
(`models/hint_planes.py`, zero-initialised: it starts as the automatic model), and every batch then gets
hint planes simulated from its truth (the family's `training_input`); the evaluation adds the carved-val
PSNR with those simulated hints (a fixed draw), beside the automatic one:

    python scripts/gpu_stage.py --init src/chromatize/weights/efficientnet_unet --arch hints=true \
        --data gpu_data1 gpu_data2 --seconds 420 --encoder-lr 0.1 --out $OUT

Writes ``<out>/last`` and ``<out>/ema`` (model folders: card + fp16 safetensors, loadable by
``chromatize --model``) every ``--save-every`` seconds and at the end, and ``<out>/log.json`` (loss,
images/s, carved-val figures of both).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
try:  # kornia.color needs no Rust; a machine without kornia_rs gets an empty stand-in for kornia.io's import
    import kornia_rs  # noqa: F401
except ImportError:
    _rs = types.ModuleType("kornia_rs")
    _rs.io = types.ModuleType("kornia_rs.io")
    sys.modules["kornia_rs"], sys.modules["kornia_rs.io"] = _rs, _rs.io

from chromatize import color  # noqa: E402
from chromatize.models.card import ModelCard  # noqa: E402
from chromatize.models.store import load_model_dir, save_model_dir, widened  # noqa: E402
from chromatize.training.stage import (  # noqa: E402
    WeightAverage,
    decoded_chroma,
    family_step,
    psnr_rgb,
    warmup_cosine,
    with_stage,
)


def _decode(args: tuple[bytes, int]) -> np.ndarray:
    from PIL import Image

    blob, size = args
    im = Image.open(io.BytesIO(blob)).convert("RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


def load_packs(folders: list[Path], kind: str, size: int, workers: int) -> tuple[np.ndarray, list[str]]:
    """All images of the packs ``<kind>-*.npz`` in ``folders`` as ``[N,size,size,3]`` uint8, and the
    shards they came from (packs written before the packer recorded them: ``["unrecorded"]``)."""
    blobs, sources = [], set()
    for folder in folders:
        for p in sorted(folder.glob(f"{kind}-*.npz")):
            z = np.load(p)
            data, off = z["data"], z["offsets"]
            blobs += [data[off[i] : off[i + 1]].tobytes() for i in range(len(off) - 1)]
            sources.update(json.loads(str(z["sources"])) if "sources" in z.files else ["unrecorded"])
    if not blobs:
        return np.zeros((0, size, size, 3), np.uint8), []
    with ProcessPoolExecutor(workers) as ex:
        arrs = list(ex.map(_decode, [(b, size) for b in blobs], chunksize=256))
    return np.stack(arrs), sorted(sources)


def random_views(
    imgs: torch.Tensor, n: int, out: int, scale: tuple[float, float], gen: torch.Generator
) -> torch.Tensor:
    """``n`` random crops (area share in ``scale``, aspect 3/4..4/3, random flip) of uint8 ``[N,3,H,W]``
    images on their device, resized to ``out`` x ``out``: float RGB in [0, 1]."""
    dev = imgs.device
    idx = torch.randint(len(imgs), (n,), generator=gen, device="cpu").to(dev)
    src = imgs[idx].float().div_(255)
    r = torch.rand(n, 4, generator=gen).to(dev)
    area = scale[0] + (scale[1] - scale[0]) * r[:, 0]
    aspect = torch.exp((r[:, 1] - 0.5) * 2 * math.log(4 / 3))
    sx = (area * aspect).sqrt().clamp(max=1.0)
    sy = (area / aspect).sqrt().clamp(max=1.0)
    tx = (2 * r[:, 2] - 1) * (1 - sx)
    ty = (2 * r[:, 3] - 1) * (1 - sy)
    flip = torch.where(torch.rand(n, generator=gen).to(dev) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    # shrink first (antialiased) so the sampling below never skips more than ~1.5 source pixels
    h = src.shape[-1]
    mid = int(min(h, max(out, out / float(sx.max()) * 1.5)))
    if mid < h:
        src = F.interpolate(src, size=(mid, mid), mode="bilinear", antialias=True, align_corners=False)
    grid = F.affine_grid(theta, (n, 3, out, out), align_corners=False)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False).clamp_(0, 1)


def lc(rgb: torch.Tensor, space: str) -> tuple[torch.Tensor, torch.Tensor]:
    l_n, ab_n = color.rgb_to_lc(rgb, space)
    return l_n.contiguous(memory_format=torch.channels_last), ab_n


@torch.no_grad()
def evaluate(net, card: ModelCard, opts: dict, sets: dict[str, torch.Tensor], size: int, amp) -> dict[str, float]:
    """Carved-val loss and PSNR (decoded by the family with the card's values) of each set at ``size`` px;
    for a hint-taking network also the PSNR with hints simulated from the truth (the same draw each time)."""
    modes = [(m, m.training) for m in net.modules()]  # restored as they were (frozen BatchNorm stays frozen)
    net.eval()
    family, space = card.family_obj, card.color_space
    hinted = getattr(net, "hint_branch", None) is not None
    res = {}
    for name, imgs in sets.items():
        loss = psnr = psnr_h = 0.0
        rng = torch.get_rng_state()
        torch.manual_seed(1234)  # the simulated hints: one fixed draw, whatever the training's state
        for i in range(0, len(imgs), 64):
            rgb = imgs[i : i + 64].float().div(255)
            rgb = F.interpolate(rgb, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            l_n, ab_n = lc(rgb.clamp(0, 1), space)
            with amp():
                loss += float(family_step(family, net, l_n, ab_n, opts)["loss"]) * len(rgb)
                pred = decoded_chroma(family, net, l_n, card)
                if hinted:
                    inp = family.training_input(l_n, ab_n, opts, net)
                    pred_h = family.chroma(net, inp, card.decoding)
            psnr += float(psnr_rgb(l_n, pred, ab_n, space)) * len(rgb)  # batch means, weighted: per-image mean
            if hinted:
                psnr_h += float(psnr_rgb(l_n, pred_h, ab_n, space)) * len(rgb)
        torch.set_rng_state(rng)
        res[f"{name}_loss"] = round(loss / len(imgs), 5)
        res[f"{name}_psnr"] = round(psnr / len(imgs), 4)
        if hinted:
            res[f"{name}_psnr_hints"] = round(psnr_h / len(imgs), 4)
    for m, mode in modes:
        m.training = mode
    return res


def frozen_batchnorm(net: torch.nn.Module) -> None:
    """BatchNorm layers normalise with their running statistics and never update them (small CPU batches
    otherwise move them; their scale and shift still train)."""
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--init", type=Path, required=True, help="model folder to continue from")
    ap.add_argument("--data", type=Path, nargs="+", required=True, help="folders holding the packs")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--init-name", default="", help="how the card names the starting model (default: its folder)")
    ap.add_argument("--seconds", type=float, default=420, help="training wall time (the LR schedule spans it)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--encoder-lr", type=float, default=0.3, help="encoder LR as a fraction of --lr")
    ap.add_argument("--photo-batch", type=int, default=128)
    ap.add_argument("--tin-batch", type=int, default=128)
    ap.add_argument("--photo-sizes", default="128,160,192", help="square sizes the photo views take, per step")
    ap.add_argument("--tin-size", type=int, default=128, help="Tiny ImageNet views are upscaled to this")
    ap.add_argument("--photo-store", type=int, default=224, help="decoded photo size kept on the device")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--save-every", type=float, default=90)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=0, help="decoding processes (0: all cores)")
    ap.add_argument("--max-images", type=int, default=0, help="cap per kind (a quick test); 0: all")
    ap.add_argument("--arch", action="append", default=[], help="KEY=VALUE: widen the starting model (hints=true)")
    ap.add_argument("--frozen-bn", action="store_true", help="BatchNorm statistics frozen (small CPU batches)")
    ap.add_argument("--train-only", default="", help="train only parameters whose name starts with this")
    ap.add_argument("--eval-every", type=float, default=0, help="also evaluate the EMA weights every N seconds")
    a = ap.parse_args()

    t_start = time.perf_counter()
    dev = torch.device(
        "cuda" if a.device == "auto" and torch.cuda.is_available() else ("cpu" if a.device == "auto" else a.device)
    )
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = False  # True spent ~25 s per new input shape on an H200
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def amp():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")

    workers = a.workers or os.cpu_count() or 1
    data, sources = {}, {}
    for kind, size in (("photo", a.photo_store), ("tin", 64), ("valphoto", a.photo_store), ("valtin", 64)):
        arr, sources[kind] = load_packs(a.data, kind, size, workers)
        if a.max_images:
            arr = arr[: a.max_images]
        data[kind] = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous().to(dev)
        print(f"{kind}: {len(arr)} images", flush=True)
    t_data = time.perf_counter() - t_start

    net, card = load_model_dir(a.init)
    if a.arch:
        arch = dict(kv.split("=", 1) for kv in a.arch)  # values as text: the card checks and converts them
        net, card = widened(net, card, arch)
        print(f"widened: { {k: card.options[k] for k in arch} }", flush=True)
    family = card.family_obj
    if family.manual_optimization:
        sys.exit(f"gpu_stage: {card.family} trains with several optimisers; use chromatize train")
    space = card.color_space
    opts = family.check_train_options({"encoder_lr": a.encoder_lr} if "encoder_lr" in family.train_options else {})
    net = net.to(dev).train().to(memory_format=torch.channels_last)
    if a.frozen_bn:
        frozen_batchnorm(net)
    groups = family.param_groups(net, opts)
    for g in groups:  # a group with no learning rate is frozen (no gradients: a hint branch trains ~2x faster)
        if g["lr_scale"] == 0:
            for prm in g["params"]:
                prm.requires_grad_(False)
    if a.train_only:  # e.g. hint_branch: the automatic model stays exactly as it was
        for name, prm in net.named_parameters():
            if not name.startswith(a.train_only):
                prm.requires_grad_(False)
    groups = [{**g, "params": [q for q in g["params"] if q.requires_grad]} for g in groups if g["lr_scale"] > 0]
    groups = [g for g in groups if g["params"]]
    if not groups:
        sys.exit(f"gpu_stage: nothing to train (--train-only {a.train_only!r} names no parameter)")
    opt = torch.optim.AdamW(
        [{"params": g["params"], "lr": a.lr * g["lr_scale"], "scale": g["lr_scale"]} for g in groups],
        lr=a.lr,
        weight_decay=1e-4,
        fused=dev.type == "cuda",
    )
    ema = WeightAverage(net, a.ema)
    ema_net = copy.deepcopy(net)  # the EMA weights are copied into it whenever they are saved

    sizes = [int(s) for s in a.photo_sizes.split(",")]
    val_sets = {k: data[k] for k in ("valphoto", "valtin") if len(data[k])}
    log = {"args": {k: str(v) for k, v in vars(a).items()}, "device": str(dev), "rows": [], "evals": []}
    if dev.type == "cuda":
        log["gpu"] = torch.cuda.get_device_name()
    log["images"] = {k: len(v) for k, v in data.items()}
    log["data_seconds"] = round(t_data, 1)
    log["evals"].append({"step": 0, "which": "init", **evaluate(net, card, opts, val_sets, 160, amp)})
    print(log["evals"][-1], flush=True)

    def stage_card(which: str, step: int, seen: dict[str, int]) -> ModelCard:
        parts = (
            {"sources": sources["photo"], "train_images": int(len(data["photo"])), "views_seen": int(seen["photo"])},
            {"sources": sources["tin"], "train_images": int(len(data["tin"])), "views_seen": int(seen["tin"])},
        )
        parts[0]["view_sizes"], parts[1]["view_size"] = sizes, a.tin_size
        stage = {
            "data": [part for part in parts if part["views_seen"]],
            "steps": step,
            "weights": which,
            "options": {
                "lr": a.lr,
                "encoder_lr": a.encoder_lr,
                "photo_batch": a.photo_batch,
                "tin_batch": a.tin_batch,
                "ema": a.ema,
                "seconds": a.seconds,
                "device": log.get("gpu", dev.type),
                "precision": "bf16-mixed" if dev.type == "cuda" else "32",
                **({"arch": a.arch} if a.arch else {}),
                **({"batchnorm": "frozen"} if a.frozen_bn else {}),
                **({"trained": a.train_only} if a.train_only else {}),
            },
            "init": a.init_name or a.init.name,
            "script": "scripts/gpu_stage.py",
        }
        return with_stage(card, stage)

    def save(step: int, seen: dict[str, int], only_ema: str = "") -> None:
        ema.copy_to(ema_net)
        if only_ema:  # a snapshot kept beside the final weights, in case the stage over-fits
            save_model_dir(ema_net, stage_card("ema", step, seen), a.out / only_ema, half=True)
            return
        for which, m in (("last", net), ("ema", ema_net)):
            save_model_dir(m, stage_card(which, step, seen), a.out / which, half=True)
        (a.out / "log.json").write_text(json.dumps(log, indent=1))

    step, seen = 0, {"photo": 0, "tin": 0}
    t0 = time.perf_counter()
    last_save = last_print = last_eval = t0
    snapshot_done = False
    while True:
        el = time.perf_counter() - t0
        frac = el / a.seconds
        if frac >= 1:
            break
        f = warmup_cosine(frac, warmup=0.04)
        for g in opt.param_groups:
            g["lr"] = a.lr * g["scale"] * f
        s = sizes[step % len(sizes)]
        loss_terms = {}
        with amp():
            total = 0.0
            for kind, bs, out, sc in (
                ("photo", a.photo_batch, s, (0.3, 1.0)),
                ("tin", a.tin_batch, a.tin_size, (0.5, 1.0)),
            ):
                if bs <= 0 or not len(data[kind]):
                    continue
                l_n, ab_n = lc(random_views(data[kind], bs, out, sc, gen), space)
                loss = family_step(family, net, l_n, ab_n, opts)["loss"]
                total = total + loss
                loss_terms[kind] = loss.detach()
                seen[kind] += bs
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        step += 1
        ema.update(net)
        now = time.perf_counter()
        if now - last_print > 15 or step == 5:
            row = {
                "step": step,
                "t": round(now - t0, 1),
                "lr": round(a.lr * f, 7),
                **{k: round(float(v), 4) for k, v in loss_terms.items()},
                "img_s": round(sum(seen.values()) / (now - t0), 1),
            }
            log["rows"].append(row)
            print(row, flush=True)
            last_print = now
        if not snapshot_done and frac >= 0.6:
            save(step, seen, only_ema="ema60")
            log["evals"].append({"step": step, "which": "ema60", **evaluate(ema_net, card, opts, val_sets, 160, amp)})
            print(log["evals"][-1], flush=True)
            snapshot_done = True
        if a.eval_every and now - last_eval > a.eval_every:
            ema.copy_to(ema_net)
            log["evals"].append({"step": step, "which": "ema", **evaluate(ema_net, card, opts, val_sets, 160, amp)})
            print(log["evals"][-1], flush=True)
            last_eval = time.perf_counter()
        if now - last_save > a.save_every:
            save(step, seen)
            last_save = time.perf_counter()
    train_s = time.perf_counter() - t0
    log["train_seconds"] = round(train_s, 1)
    log["steps"] = step
    log["seen"] = seen
    log["img_s"] = round(sum(seen.values()) / train_s, 1)
    save(step, seen)
    for which, m in (("last", net), ("ema", ema_net)):
        log["evals"].append({"step": step, "which": which, **evaluate(m, card, opts, val_sets, 160, amp)})
        print(log["evals"][-1], flush=True)
    (a.out / "log.json").write_text(json.dumps(log, indent=1))
    print(f"done: {step} steps, {log['img_s']} img/s, total {time.perf_counter() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
