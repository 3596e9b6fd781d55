"""Annealed-mean temperature against PSNR, re-balanced AuC and colourfulness on a validation set.

Tune on the validation split carved from the training shards (never on the held-out val.tar):
    python benchmarks/tune_temperature.py --model runs/cls --data prepared/ --limit 1000
"""

from __future__ import annotations

import argparse

import numpy as np

from chromatize.evaluate import gray_of, load_truth, score
from chromatize.inference import colorize_many, load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="a prepared folder (its val split) or a folder of photos")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--temperatures", default="0.1,0.2,0.3,0.38,0.5,0.6,0.8,1.0")
    a = ap.parse_args()
    m = load_model(a.model)
    truth, _, _ = load_truth(a.data, a.limit, 0)
    truths = [np.asarray(t) for _, t in truth]
    g = score([np.asarray(gray_of(t)) for _, t in truth], truths)
    print(f"{len(truth)} images; gray: PSNR {g['psnr']:.2f}  AuC-rb {g['auc_rebalanced']:.2f}")
    print(f"{'T':>5s} {'dPSNR':>7s} {'dAuC-rb':>8s} {'colour ratio':>13s}")
    for t in [float(x) for x in a.temperatures.split(",")]:
        preds = colorize_many([im for _, im in truth], m, t, batch_size=64)
        r = score([np.asarray(p.convert("RGB")) for p in preds], truths)
        print(f"{t:5.2f} {r['psnr'] - g['psnr']:7.2f} {r['auc_rebalanced'] - g['auc_rebalanced']:8.2f} "
              f"{r['colourfulness_ratio']:13.3f}")


if __name__ == "__main__":
    main()
