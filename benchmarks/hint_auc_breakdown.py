"""Where the re-balanced AuC of hinted pictures is lost: per band of the truth's chroma (CIELAB C*), the
share of the re-balanced weight, the AuC, the mean ab error, and how much of the truth's chroma the
prediction carries along the truth's direction (1: right strength, 0: gray); for N points also whether
the pixels were within a hint's reach (summed reach >= `Steering.reach`), partly (above a tenth of it) or
not. Run it on training photos, never on the held-out sets:

    python benchmarks/hint_auc_breakdown.py --data prepared/photos --limit 80 --points 10

Gray, automatic and N simulated points (Zhang et al. 2017's user, as the benchmark), and the truth's
chroma box-filtered to ``--oracle`` pixels on the long side (what perfect low-resolution colour would
score: the limit the propagation's working size sets).
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


class ReachRecorder:
    """Wraps `steer.hint_weights` to keep the hints' summed, gated reach (work grid, in units of
    `Steering.reach`) of the last photo steered."""

    def __init__(self) -> None:
        self.inner, self.total = steer.hint_weights, None

    def __call__(self, l_work, auto, conf, labels, target, s, gates=None):
        weights = self.inner(l_work, auto, conf, labels, target, s, gates)
        self.total = sum(q for q, _ in weights).reshape(labels.shape) / s.reach
        return weights


def oracle(arr: np.ndarray, side: int) -> np.ndarray:
    """The truth's lightness with its chroma box-filtered to ``side`` pixels (long side), bilinear back up."""
    from skimage import color as skc

    lab = skc.rgb2lab(arr / 255.0)
    h, w = arr.shape[:2]
    sh, sw = max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w)))
    for c in (1, 2):
        small = Image.fromarray(lab[..., c].astype(np.float32), "F").resize((sw, sh), Image.BOX)
        lab[..., c] = np.asarray(small.resize((w, h), Image.BILINEAR))
    return (np.clip(skc.lab2rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="colour photos (a training split, tar shard or folder)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--oracle", default="128,16", help="long sides of the truth-chroma oracle rows")
    a = ap.parse_args()
    m = load_model(a.model)
    truth, _, _ = load_truth(a.data, a.limit, 1)
    arrays = [np.asarray(t) for _, t in truth]
    rec = ReachRecorder()
    steer.hint_weights = rec
    rows: dict[str, list[np.ndarray]] = {"gray": [np.asarray(gray_of(t)) for _, t in truth], "automatic": []}
    rows[f"{a.points} points"], reach = [], []
    for k, ((_, t), arr) in enumerate(zip(truth, arrays)):
        view = analyse(t, m)
        rows["automatic"].append(np.asarray(view.image().convert("RGB")))
        draw = simulated_points(arr, a.points, 7_000_003 + k)  # the tuning script's seeds
        rows[f"{a.points} points"].append(np.asarray(view.image(hints=HintSet(draw)).convert("RGB")))
        up = Image.fromarray(rec.total.astype(np.float32), "F").resize(arr.shape[1::-1], Image.BILINEAR)
        reach.append(np.asarray(up).ravel())
    for side in (int(v) for v in a.oracle.split(",") if v):
        rows[f"truth chroma at {side} px"] = [oracle(arr, side) for arr in arrays]
    true_ab = np.concatenate([lab_ab(arr).reshape(-1, 2) for arr in arrays])
    freq = np.bincount(ab_bins(true_ab), minlength=22 * 22).astype(np.float64)
    weight = 1.0 / freq[ab_bins(true_ab)]
    weight /= weight.sum()
    chroma = np.hypot(true_ab[:, 0], true_ab[:, 1])
    print(
        "re-balanced weight by truth C*: "
        + ", ".join(f"{lo}-{hi} {weight[(chroma >= lo) & (chroma < hi)].sum():.3f}" for lo, hi in BANDS)
    )
    gray = score(rows["gray"], arrays)
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
                auc = 100 * np.mean([(wn * (err[sel] <= t)).sum() for t in range(151)])
                strength = (wn * along[sel]).sum() if lo >= 10 else float("nan")
                e = (wn * err[sel]).sum()
                print(f"  C* {lo:>2}-{hi:<3}{label:9s} weight {w.sum():.3f}  AuC {auc:5.1f}  error {e:5.1f}", end="")
                print(f"  strength {strength:5.2f}")


if __name__ == "__main__":
    main()
