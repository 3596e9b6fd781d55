"""Average the weights of two or more models of one lineage (a "model soup", Wortsman et al. 2022).

    python scripts/average_weights.py runs/s6/ema src/chromatize/weights/efficientnet_unet -o runs/soup2 \
        --names "stage 6 EMA" "stage 4 EMA"

Floating-point tensors (BatchNorm statistics included) are averaged; BatchNorm's step counters are the
first model's; every other tensor, and the decoding tables that must not be blended
(`store.DECODING_TABLES`: ``centres``, ``log_prior``, the palette and its prior), must be identical in
all models and are copied. The card is the first
model's, with the averaging recorded as a stage that names the parts (``--names``: labels, never
machine paths). Weights are written in fp16, as shipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from chromatize.models.store import DECODING_TABLES, load_model_dir, save_model_dir
from chromatize.training.stage import with_stage


def average(paths: list[Path], names: list[str]):
    nets, cards = zip(*(load_model_dir(p) for p in paths))
    if len({(c.family, c.color_space, repr(c.options)) for c in cards}) != 1:
        raise SystemExit("the models differ in family, colour space or options: they cannot be averaged")
    states = [n.state_dict() for n in nets]
    out = {}
    for k, v in states[0].items():
        same = all(torch.equal(s[k], v) for s in states[1:])
        if k.endswith("num_batches_tracked"):  # a BatchNorm step counter, unused in eval: the first's
            out[k] = v
        elif not v.is_floating_point() or k.split(".")[-1] in DECODING_TABLES:
            if not same:
                raise SystemExit(f"{k} differs between the models: they are not of one lineage")
            out[k] = v
        else:
            out[k] = torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype)
    nets[0].load_state_dict(out)
    d = with_stage(cards[0], {"weights": "average", "of": names, "script": "scripts/average_weights.py"}).to_dict()
    d["metrics"] = {}  # figures of the first model do not describe the average
    return nets[0], d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", type=Path, nargs="+", help="model folders (two or more)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--names", nargs="+", required=True, help="how the card names each model, in order")
    a = ap.parse_args()
    if len(a.models) < 2 or len(a.names) != len(a.models):
        raise SystemExit("give two or more model folders and one --names label for each")
    net, card = average(a.models, a.names)
    save_model_dir(net, card, a.out, half=True)
    print(f"average of {len(a.models)} models written to {a.out}")


if __name__ == "__main__":
    main()
