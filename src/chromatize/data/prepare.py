"""`chromatize prepare`: clean, de-duplicate and split image sources into a manifest and a cache.

Sources are image folders (searched recursively; class = parent folder name) and WebDataset-style tar
shards (members ``<class>/<name>.jpg``). The split of a kept image depends only on the seed and the
image's id (``<source>/<path>``), so re-running gives the same manifest and adding new sources never
moves an old image to another split. Among exact duplicates (same bytes) the first one seen, in the
order sources are given, is kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ChromatizeError, ImageReadError
from ..imageio import (
    IMAGE_SUFFIXES,
    atomic_write,
    atomic_write_text,
    is_grayscale,
    is_toned,
    open_image,
    split_alpha,
)

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.csv"
FIELDS = ["id", "source", "class", "split", "reason", "width", "height", "sha256"]


@dataclass
class Entry:
    """One candidate image from a source, with a way to read its bytes."""

    id: str
    source: str
    cls: str
    data: bytes


@dataclass
class PrepareResult:
    """What `prepare` did: manifest rows and counts (for the summary table)."""

    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def kept(self) -> Counter:
        return Counter(r["split"] for r in self.rows if r["split"])

    @property
    def dropped(self) -> Counter:
        return Counter(r["reason"].split(":")[0] for r in self.rows if not r["split"])


def _source_name(path: Path, taken: set[str]) -> str:
    name, i = path.name or "source", 1
    while name in taken:
        i += 1
        name = f"{path.name}#{i}"
    taken.add(name)
    return name


def count_candidates(paths: list[Path]) -> int:
    """How many files `iter_source` will yield (folders: a directory walk; tar shards: their headers)."""
    n = 0
    for path in paths:
        if path.is_dir():
            n += sum(1 for q in path.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file() and tarfile.is_tarfile(path):
            with tarfile.open(path, "r:*") as tf:
                n += sum(1 for m in tf if m.isfile() and Path(m.name).suffix.lower() in IMAGE_SUFFIXES)
    return n


def iter_source(path: Path, name: str) -> Iterator[Entry]:
    """Yield the candidate images of one folder or tar shard, in a deterministic order."""
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES):
            rel = p.relative_to(path).as_posix()
            cls = p.parent.name if p.parent != path else ""
            try:
                data = b"" if p.is_dir() else p.read_bytes()
            except OSError:
                data = b""
            yield Entry(f"{name}/{rel}", name, cls, data)
    elif path.is_file() and tarfile.is_tarfile(path):
        with tarfile.open(path, "r:*") as tf:
            for m in tf:
                if not m.isfile() or Path(m.name).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                f = tf.extractfile(m)
                parts = Path(m.name).parts
                yield Entry(f"{name}/{m.name}", name, parts[-2] if len(parts) > 1 else "", f.read() if f else b"")
    elif not path.exists():
        raise ChromatizeError(f"source not found: {path}")
    else:
        raise ChromatizeError(f"source is neither a folder nor a tar shard: {path}")


def assign_split(image_id: str, seed: int, fractions: tuple[float, float, float]) -> str:
    """Stable split from a hash of (seed, id): independent of every other image."""
    h = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


def to_cache_array(img: Image.Image, size: int) -> np.ndarray:
    """Shorter side to ``size`` (area filter), centre crop to a square: ``[size,size,3]`` uint8."""
    base, _ = split_alpha(img)
    rgb = base.convert("RGB")
    w, h = rgb.size
    s = size / min(w, h)
    if (w, h) != (size, size):
        rgb = rgb.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BOX if s < 1 else Image.BICUBIC)
    w, h = rgb.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(rgb.crop((left, top, left + size, top + size)), dtype=np.uint8)


def check_entry(e: Entry, size: int) -> tuple[str, Image.Image | None]:
    """Return ("", image) for a usable colour image, or (reason, None)."""
    try:
        img = open_image(e.data, name=e.id)
    except ImageReadError as err:
        return "unreadable: " + str(err).split(": ", 1)[-1], None
    if is_grayscale(img):
        return f"grayscale: mode {img.mode}, no chroma", None
    if is_toned(img, gray=False):
        return "toned print: one tint (sepia or the like), not colours", None
    if min(img.size) < size:
        return f"too small: {img.width}x{img.height} < {size}", None
    return "", img


def prepare(
    sources: list[str | Path],
    out: str | Path,
    size: int = 64,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
    split_as: dict[str, str] | None = None,
    cache: bool = True,
    progress: bool = True,
) -> PrepareResult:
    """Clean, de-duplicate and split ``sources``; write ``manifest.csv``, ``prepare.json`` and the cache."""
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ChromatizeError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    if not sources:
        raise ChromatizeError("give at least one source folder or tar shard")
    split_as = split_as or {}
    for s in split_as.values():
        if s not in SPLITS:
            raise ChromatizeError(f"--split-as takes one of {', '.join(SPLITS)}, got {s!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [Path(s) for s in sources]
    for p in paths:
        if not p.exists():
            raise ChromatizeError(f"source not found: {p}")
    taken: set[str] = set()
    names = [_source_name(p, taken) for p in paths]
    res, seen, arrays = PrepareResult(), {}, {s: ([], []) for s in SPLITS}
    t0 = time.perf_counter()
    bar = _progress(progress)
    with bar:
        task = bar.add_task("preparing", total=count_candidates(paths) if progress else None)
        for p, name in zip(paths, names):
            forced = split_as.get(str(p)) or split_as.get(name) or split_as.get("*")
            for e in iter_source(p, name):
                digest = hashlib.sha256(e.data).hexdigest()
                reason, img = check_entry(e, size)
                if not reason and digest in seen:
                    reason = f"duplicate: of {seen[digest]}"
                row = {
                    "id": e.id,
                    "source": e.source,
                    "class": e.cls,
                    "split": "",
                    "reason": reason,
                    "width": img.width if img else "",
                    "height": img.height if img else "",
                    "sha256": digest[:16],
                }
                if not reason:
                    seen[digest] = e.id
                    row["split"] = forced or assign_split(e.id, seed, fractions)
                    if cache:
                        arrays[row["split"]][0].append(to_cache_array(img, size))
                        arrays[row["split"]][1].append(e.id)
                res.rows.append(row)
                bar.advance(task)
    res.seconds = time.perf_counter() - t0
    _write_outputs(out, res, arrays if cache else None, size, seed, fractions, paths, names, split_as)
    return res


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )


def _write_outputs(out, res, arrays, size, seed, fractions, paths, names, split_as) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(res.rows)
    atomic_write_text(out / MANIFEST, buf.getvalue())
    if arrays is not None:
        (out / "cache").mkdir(exist_ok=True)
        for split, (arrs, ids) in arrays.items():
            a = np.stack(arrs) if arrs else np.zeros((0, size, size, 3), np.uint8)
            atomic_write(out / "cache" / f"{split}.npy", lambda tmp, a=a: np.save(open(tmp, "wb"), a))
            atomic_write_text(out / "cache" / f"{split}.ids.txt", "".join(i + "\n" for i in ids))
    info = {
        "size": size,
        "seed": seed,
        "fractions": list(fractions),
        "cache": arrays is not None,
        "sources": [{"path": str(p.resolve()), "name": n} for p, n in zip(paths, names)],
        "split_as": split_as,
        "kept": dict(res.kept),
        "dropped": dict(res.dropped),
        "seconds": round(res.seconds, 2),
    }
    atomic_write_text(out / "prepare.json", json.dumps(info, indent=2))


def summary_table(res: PrepareResult):
    """A rich table: kept per split, dropped per reason, and the read speed."""
    from rich.table import Table

    t = Table(
        title=f"prepared {len(res.rows)} images in {res.seconds:.1f} s "
        f"({len(res.rows) / max(res.seconds, 1e-9):.0f} images/s)"
    )
    t.add_column("outcome")
    t.add_column("images", justify="right")
    for s in SPLITS:
        t.add_row(f"kept: {s}", str(res.kept.get(s, 0)))
    for reason, n in sorted(res.dropped.items()):
        t.add_row(f"dropped: {reason}", str(n))
    return t
