"""Render size against quality and time on the BSDS photos (justifies the default --render-size).

Usage: python benchmarks/render_size.py [--model NAME_OR_DIR] [--data ../shared/data/bsds300] [--sizes 64,96,...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from chromatize.evaluate.run import gray_of, load_truth, score
from chromatize.inference import colorize_many, load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default="../shared/data/bsds300")
    ap.add_argument("--sizes", default="64,96,128,192,256,384,512")
    ap.add_argument("--temperature", type=float, default=None)
    a = ap.parse_args()
    m = load_model(a.model)
    truth, _, _ = load_truth(a.data, None, 0)
    truths = [np.asarray(t) for _, t in truth]
    g = score([np.asarray(gray_of(t)) for _, t in truth], truths)
    print(f"model={m.name}  images={len(truth)}  data={a.data}")
    print(f"{'render':>7s} {'PSNR':>7s} {'AuC-rb':>7s} {'colour ratio':>13s} {'s/image':>8s}")
    print(f"{'gray':>7s} {g['psnr']:7.2f} {g['auc_rebalanced']:7.2f} {g['colourfulness_ratio']:13.3f} {'-':>8s}")
    for rs in [int(s) for s in a.sizes.split(",")]:
        t = time.perf_counter()
        preds = colorize_many([im for _, im in truth], m, render_size=rs, batch_size=16, temperature=a.temperature)
        dt = (time.perf_counter() - t) / len(truth)
        r = score([np.asarray(p.convert("RGB")) for p in preds], truths)
        print(f"{rs:7d} {r['psnr']:7.2f} {r['auc_rebalanced']:7.2f} {r['colourfulness_ratio']:13.3f} {dt:8.3f}")


if __name__ == "__main__":
    main()
