"""Choose the hint-propagation settings (`steer.Steering`) on training photos, never on held-out sets.

    python benchmarks/tune_steering.py --data ../shared/data/photos256/train-02.tar --limit 40 \
        --grid keep_weight=1e-3,1e-4 --grid sigma_l=3,6 --points 1,10

The network runs once per photo; every setting and N is a view of that run. Prints one row per setting:
PSNR and re-balanced AuC gains over the gray input at each N (simulated points of Zhang et al. 2017).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time

import numpy as np

from chromatize.evaluate.hints_bench import REFERENCE_SHARE, simulated_points
from chromatize.evaluate.run import gray_of, load_truth, score
from chromatize.hints import HintSet
from chromatize.inference import analyse, load_model
from chromatize.steer import DEFAULT


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="colour photos (a training tar shard or folder)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--points", default="1,10")
    ap.add_argument("--grid", action="append", default=[], help="FIELD=V1,V2 (repeat)")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    ap.add_argument("--reference", action="store_true", help="the reference protocol instead of points")
    a = ap.parse_args()
    m = load_model(a.model)
    truth, _, _ = load_truth(a.data, a.limit, 1)
    if a.reference:  # colour the right 60 % of each photo with its left 40 % as the reference
        refs = [t.crop((0, 0, int(t.width * REFERENCE_SHARE), t.height)) for _, t in truth]
        truth = [(k, t.crop((int(t.width * REFERENCE_SHARE), 0, t.width, t.height))) for k, t in truth]
    arrays = [np.asarray(t) for _, t in truth]
    views = [analyse(t, m) for _, t in truth]
    gray = score([np.asarray(gray_of(t)) for _, t in truth], arrays)
    ns = [int(n) for n in a.points.split(",")]
    draws = [simulated_points(arr, max(ns), 7_000_003 + k) for k, arr in enumerate(arrays)]
    grid = {}
    for g in a.grid:
        key, _, vals = g.partition("=")
        grid[key] = [type(getattr(DEFAULT, key))(float(v)) for v in vals.split(",")]
    rows = []
    if a.reference:
        auto = score([np.asarray(v.image().convert("RGB")) for v in views], arrays, gray["psnr_per_image"])
        print(json.dumps({"automatic psnr": round(auto["psnr"] - gray["psnr"], 3), "hue_gap": auto["hue_gap_max"]}))
    for values in itertools.product(*grid.values()):
        s = dataclasses.replace(DEFAULT, **dict(zip(grid, values)))
        t0 = time.perf_counter()
        row = dict(zip(grid, values))
        if a.reference:
            preds = [
                np.asarray(v.image(hints=HintSet(reference=r), steering=s).convert("RGB")) for v, r in zip(views, refs)
            ]
            r = score(preds, arrays, gray["psnr_per_image"])
            row.update(psnr=round(r["psnr"] - gray["psnr"], 3), hue_gap=round(r["hue_gap_max"], 1))
            row["colour"] = round(r["colourfulness_ratio"], 3)
            print(json.dumps(row), flush=True)
            rows.append(row)
            continue
        for n in ns:
            preds = [np.asarray(v.image(hints=HintSet(d[:n]), steering=s).convert("RGB")) for v, d in zip(views, draws)]
            r = score(preds, arrays, gray["psnr_per_image"])
            row[f"psnr@{n}"] = round(r["psnr"] - gray["psnr"], 3)
            row[f"auc@{n}"] = round(r["auc_rebalanced"] - gray["auc_rebalanced"], 2)
        row["s"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"images": len(truth), "data": a.data, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
