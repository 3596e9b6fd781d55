"""Pack prepared training data into small files for a GPU machine that has none of ../shared.

The device machine receives only the working tree and a few carried folders (64 MiB in all), so the
training images travel as compressed bytes: photos256 (the prepared *train* split only, 256 px
squares from the prepare cache, re-encoded as WebP at ``--photo-size``) and Tiny ImageNet (the
original JPEG bytes of the prepared *train* split). A small pack of the carved *val* splits goes with
them so the run can report held-apart figures. The split comes from ``chromatize prepare``: nothing of
val.tar, BSDS or Kodak is ever packed.

    python scripts/pack_gpu_data.py --photos prepared/photos --tin prepared/tin64 \
        --tin-source ../shared/data/tinyimagenet64 --out gpu_data1 --budget-mb 34 --tin-start 0

Each pack is ``<kind>-<name>.npz`` with ``data`` (uint8, the files' bytes end to end), ``offsets``
(int64, n + 1) and ``sources`` (JSON list of the shards its images came from, e.g.
``tinyimagenet64/train-00.tar``, for the model card). ``scripts/gpu_stage.py`` reads them.
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def encode_webp(arr: np.ndarray, size: int, quality: int) -> bytes:
    im = Image.fromarray(np.asarray(arr))
    if im.size != (size, size):
        im = im.resize((size, size), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "WEBP", quality=quality, method=4)
    return buf.getvalue()


def shards_of(dataset: str, ids: list[str]) -> list[str]:
    """``<dataset>/<shard>`` of prepared ids ``<shard>/<member>``, sorted, each once."""
    return sorted({f"{dataset}/{i.split('/', 1)[0]}" for i in ids})


def write_pack(path: Path, blobs: list[bytes], sources: list[str]) -> int:
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    np.savez(
        path, data=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets, sources=np.array(json.dumps(sources))
    )
    return path.stat().st_size


def tin_bytes(source: Path, ids: list[str]) -> list[bytes]:
    """Original JPEG bytes of Tiny ImageNet ids ``<shard>/<member>`` in the given order."""
    by_shard: dict[str, list[str]] = {}
    for i in ids:
        shard, member = i.split("/", 1)
        by_shard.setdefault(shard, []).append(member)
    found: dict[str, bytes] = {}
    for shard, members in by_shard.items():
        want = set(members)
        with tarfile.open(source / shard) as tf:
            for m in tf:
                if m.name in want:
                    found[f"{shard}/{m.name}"] = tf.extractfile(m).read()
    return [found[i] for i in ids]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, required=True, help="prepared photos256 folder (chromatize prepare)")
    ap.add_argument("--tin", type=Path, required=True, help="prepared Tiny ImageNet folder")
    ap.add_argument("--tin-source", type=Path, required=True, help="the Tiny ImageNet shards (original bytes)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget-mb", type=float, default=34.0, help="size of this folder's packs in MiB")
    ap.add_argument("--tin-start", type=int, default=0, help="first Tiny ImageNet train image of this folder")
    ap.add_argument("--with-photos", action="store_true", help="pack the photos and the val packs here")
    ap.add_argument("--photo-size", type=int, default=224)
    ap.add_argument("--quality", type=int, default=80)
    ap.add_argument("--val-tin", type=int, default=800, help="Tiny ImageNet val images in the val pack")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    used = 0
    # the photos' dataset name, from the folder `chromatize prepare` read (e.g. photos256)
    first = Path(json.loads((a.photos / "prepare.json").read_text())["sources"][0]["path"])
    photo_set = first.parent.name if first.is_file() else first.name
    if a.with_photos:
        for split, kind in (("train", "photo"), ("val", "valphoto")):
            arr = np.load(a.photos / "cache" / f"{split}.npy", mmap_mode="r")
            photo_ids = (a.photos / "cache" / f"{split}.ids.txt").read_text().split()
            blobs = [encode_webp(arr[i], a.photo_size, a.quality) for i in range(len(arr))]
            used += write_pack(a.out / f"{kind}-photos256.npz", blobs, shards_of(photo_set, photo_ids))
            print(f"{kind}: {len(blobs)} images, {used / 2**20:.1f} MiB so far")
        val_ids = (a.tin / "cache" / "val.ids.txt").read_text().split()[: a.val_tin]
        used += write_pack(
            a.out / "valtin-tin64.npz", tin_bytes(a.tin_source, val_ids), shards_of(a.tin_source.name, val_ids)
        )
        print(f"valtin: {len(val_ids)} images, {used / 2**20:.1f} MiB so far")
    ids = (a.tin / "cache" / "train.ids.txt").read_text().split()
    left = a.budget_mb * 2**20 - used
    n = max(int(left / 1500), 0)  # first guess from the mean size, then trimmed to the budget
    chosen = ids[a.tin_start : a.tin_start + n]
    blobs = tin_bytes(a.tin_source, chosen)
    sizes = np.cumsum([len(b) for b in blobs])
    keep = int(np.searchsorted(sizes, left - 4096))
    used += write_pack(a.out / f"tin-{a.tin_start}.npz", blobs[:keep], shards_of(a.tin_source.name, chosen[:keep]))
    print(f"tin: images {a.tin_start}..{a.tin_start + keep} ({keep}), folder {used / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
