"""Where the re-balanced AuC of hinted pictures is lost: per band of the truth's chroma (CIELAB C*), the
share of the re-balanced weight, the AuC, the mean ab error, and how much of the truth's chroma the
prediction carries along the truth's direction (1: right strength, 0: gray); for N points also whether
the pixels were within a hint's reach (summed reach >= `Steering.reach`), partly (above a tenth of it) or
not. Settings are chosen from its figures on training photos only:

    python benchmarks/hint_auc_breakdown.py --data prepared/photos --limit 80 --points 10

On a held-out set (``--seed 0``: the points `chromatize evaluate` draws) its oracle rows show what a bar
asks of any method; nothing is chosen from them.

Gray, automatic and N simulated points (Zhang et al. 2017's user, as the benchmark), and the truth's
chroma box-filtered to ``--oracle`` pixels on the long side (what perfect low-resolution colour would
score: the limit the propagation's working size sets). Then the palette the points carry: each pixel
by how far (CIELAB ab) the truth's colour is from the nearest point's colour, with an oracle row that
gives every pixel the nearest point's colour (a perfect assignment of the points' flat colours; where
no point carries a pixel's colour, only the network's own colours can score).
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from chromatize import steer
from chromatize.evaluate.hints_bench import simulated_points
from chromatize.evaluate.run import gray_of, load_truth, score
from chromatize.hints import HintSet
from chromatize.inference import analyse, load_model
from chromatize.metrics import ab_bins, lab_ab

BANDS = ((0, 10), (10, 30), (30, 50), (50, 80), (80, 300))
PALETTE_BANDS = ((0, 10), (10, 20), (20, 35), (35, 60), (60, 300))


class ReachRecorder:
    """Wraps `steer.hint_weights` to keep the hints' summed, gated reach (work grid, in units of
    `Steering.reach`) of the last photo steered."""

    def __init__(self) -> None:
        self.inner, self.total = steer.hint_weights, None

    def __call__(self, l_work, auto, conf, labels, target, s, gates=None):
        weights = self.inner(l_work, auto, conf, labels, target, s, gates)
        self.total = sum(q for q, _ in weights).reshape(labels.shape) / s.reach
        return weights


def to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB ``[H,W,3]`` -> 8-bit sRGB; colours outside sRGB are clipped, as any rendering clips them."""
    import warnings

    from skimage import color as skc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rgb = skc.lab2rgb(lab)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def oracle(arr: np.ndarray, side: int) -> np.ndarray:
    """The truth's lightness with its chroma box-filtered to ``side`` pixels (long side), bilinear back up."""
    from skimage import color as skc

    lab = skc.rgb2lab(arr / 255.0)
    h, w = arr.shape[:2]
    sh, sw = max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w)))
    for c in (1, 2):
        small = Image.fromarray(lab[..., c].astype(np.float32), "F").resize((sw, sh), Image.BOX)
        lab[..., c] = np.asarray(small.resize((w, h), Image.BILINEAR))
    return to_rgb(lab)


def nearest_hint(arr: np.ndarray, true_ab: np.ndarray, hints) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the distance from the truth's ab (``true_ab``, as the metrics compute it) to the nearest
    hint colour's, and the truth's lightness with that hint's chroma (the perfect-assignment oracle)."""
    from skimage import color as skc

    hab = lab_ab(np.array([[h.rgb for h in hints]], np.uint8))[0]
    d = np.linalg.norm(true_ab[..., None, :] - hab[None, None], axis=-1)
    lab = skc.rgb2lab(arr / 255.0)
    lab[..., 1:] = hab[d.argmin(-1)]
    return d.min(-1), to_rgb(lab)


def banded_auc(err: np.ndarray, weight: np.ndarray, sel: np.ndarray) -> float:
    """Re-balanced AuC (0..100) of the pixels ``sel``."""
    wn = weight[sel] / weight[sel].sum()
    return 100 * np.mean([(wn * (err[sel] <= t)).sum() for t in range(151)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="colour photos (a training split, tar shard or folder)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7_000_003, help="first photo's seed (`chromatize evaluate`: 0)")
    ap.add_argument("--oracle", default="128,16", help="long sides of the truth-chroma oracle rows")
    a = ap.parse_args()
    m = load_model(a.model)
    truth, _, _ = load_truth(a.data, a.limit, 1)
    arrays = [np.asarray(t) for _, t in truth]
    rec = ReachRecorder()
    steer.hint_weights = rec
    rows: dict[str, list[np.ndarray]] = {"gray": [np.asarray(gray_of(t)) for _, t in truth], "automatic": []}
    rows[f"{a.points} points"], reach, near = [], [], []
    oracle_rows, true_abs = [], []
    for k, ((_, t), arr) in enumerate(zip(truth, arrays)):
        view = analyse(t, m)
        rows["automatic"].append(np.asarray(view.image().convert("RGB")))
        draw = simulated_points(arr, a.points, a.seed + k)  # default: the tuning script's seeds
        rows[f"{a.points} points"].append(np.asarray(view.image(hints=HintSet(draw)).convert("RGB")))
        true_abs.append(lab_ab(arr))
        dist, best = nearest_hint(arr, true_abs[-1], draw)
        near.append(dist.ravel())
        oracle_rows.append(best)
        up = Image.fromarray(rec.total.astype(np.float32), "F").resize(arr.shape[1::-1], Image.BILINEAR)
        reach.append(np.asarray(up).ravel())
    for side in (int(v) for v in a.oracle.split(",") if v):
        rows[f"truth chroma at {side} px"] = [oracle(arr, side) for arr in arrays]
    rows["each pixel the nearest point's colour"] = oracle_rows
    true_ab = np.concatenate([ab.reshape(-1, 2) for ab in true_abs])
    freq = np.bincount(ab_bins(true_ab), minlength=22 * 22).astype(np.float64)
    weight = 1.0 / freq[ab_bins(true_ab)]
    weight /= weight.sum()
    chroma = np.hypot(true_ab[:, 0], true_ab[:, 1])
    print(
        "re-balanced weight by truth C*: "
        + ", ".join(f"{lo}-{hi} {weight[(chroma >= lo) & (chroma < hi)].sum():.3f}" for lo, hi in BANDS)
    )
    gray = score(rows["gray"], arrays)
    palette: dict[str, np.ndarray] = {}
    for name, preds in rows.items():
        r = score(preds, arrays)
        dp, da = r["psnr"] - gray["psnr"], r["auc_rebalanced"] - gray["auc_rebalanced"]
        print(f"\n{name}: PSNR {dp:+.2f} dB, AuC re-bal. {da:+.2f} over gray")
        pred_ab = np.concatenate([lab_ab(p).reshape(-1, 2) for p in preds])
        err = np.linalg.norm(pred_ab - true_ab, axis=1)
        along = (pred_ab * true_ab).sum(1) / np.maximum(chroma, 1e-6) ** 2
        reached = np.concatenate(reach) if name.endswith("points") else None
        for lo, hi in BANDS:
            band = (chroma >= lo) & (chroma < hi)
            parts = [("", band)]
            if reached is not None:
                parts += [
                    ("  reached", band & (reached >= 1)),
                    ("  partly", band & (reached < 1) & (reached > 0.1)),
                    ("  not", band & (reached <= 0.1)),
                ]
            for label, sel in parts:
                w = weight[sel]
                if w.sum() == 0:
                    continue
                wn = w / w.sum()
                strength = (wn * along[sel]).sum() if lo >= 10 else float("nan")
                e = (wn * err[sel]).sum()
                auc = banded_auc(err, weight, sel)
                print(f"  C* {lo:>2}-{hi:<3}{label:9s} weight {w.sum():.3f}  AuC {auc:5.1f}  error {e:5.1f}", end="")
                print(f"  strength {strength:5.2f}")
        palette[name] = err
    dist = np.concatenate(near)
    print(f"\nre-balanced AuC by the distance (ab) from the truth's colour to the nearest point's (of {a.points}):")
    sels = [(dist >= lo) & (dist < hi) for lo, hi in PALETTE_BANDS]
    print(f"  {'distance':38s}" + "".join(f"{f'{lo}-{hi}':>9s}" for lo, hi in PALETTE_BANDS))
    print(f"  {'share of the weight':38s}" + "".join(f"{weight[sel].sum():9.3f}" for sel in sels))
    for name, err in palette.items():
        print(f"  {name:38s}" + "".join(f"{banded_auc(err, weight, sel):9.1f}" for sel in sels))


if __name__ == "__main__":
    main()
