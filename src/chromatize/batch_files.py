"""Which files a batch reads and writes: input expansion (folders, globs, lists), the output path of
each input, the ``--log`` check, stale temporary files, and the job and outcome records (`batch` colours
them)."""

from __future__ import annotations

import glob
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ChromatizeError
from .imageio import (
    FORMATS,
    IMAGE_SUFFIXES,
    PART_PREFIX,
    stale_part,
    writable_kind,
)
from .manifest import Manifest

PART_GLOB = f"{PART_PREFIX}*.part"  # temporary files of `imageio.atomic_write`


@dataclass
class Job:
    src: Path
    dst: Path
    redo: bool = False  # replace the output even without --overwrite (the manifest says it is stale)


@dataclass
class Outcome:
    """What happened to one input: ``ok``, ``skipped`` or ``failed`` (with a one-line reason)."""

    src: str
    dst: str | None
    status: str
    reason: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> str:
        d = {
            "input": self.src,
            "output": self.dst,
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 4),
        }
        if self.notes:
            d["notes"] = self.notes
        return json.dumps(d)


def _resolve(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # a symlink loop: keep the path as given, the reader reports it
        return p.absolute()


def output_suffix(src: Path, fmt: str) -> str:
    """The output extension: png/jpg, or the input's own when Pillow can write that format (else .png)."""
    if fmt != "same":
        return FORMATS[fmt][1]
    from PIL import Image

    Image.init()
    kind = Image.registered_extensions().get(src.suffix.lower())
    return src.suffix if writable_kind(kind) == kind else ".png"


def side_outputs(dst: Path, confidence: bool) -> list[Path]:
    """The files written beside an output (its confidence map), reserved and owned like it."""
    return [dst.with_name(dst.stem + ".confidence.png")] if confidence else []


def expand_inputs(
    inputs: list[str], out: Path, fmt: str, manifest: Manifest | None = None, confidence: bool = False
) -> tuple[list[Job], list[tuple[str, str]], list[str]]:
    """Files, folders (recursive, mirrored under OUT) and globs -> (jobs, bad arguments, notes).

    Output names never collide, side outputs (``--confidence``) included: a second input that maps to
    a name already taken gets ``-2``, ``-3``... before its extension (and a note says so). With a
    ``manifest``, an input keeps the name it was given before, and names recorded for other inputs are
    taken.
    """
    jobs, bad, notes, taken = [], [], [], set()
    out_r = _resolve(out)
    manifest = manifest or Manifest(out)

    def free(dst: Path, src: Path) -> bool:
        names = [dst, *side_outputs(dst, confidence)]
        return not any(str(_resolve(q)).lower() in taken or manifest.owned_by_other(q, src) for q in names)

    def add(src: Path, rel: Path) -> None:
        suffix = output_suffix(src, fmt)
        before = manifest.output_of(src)
        dst = out / rel.with_suffix(suffix)
        if before is not None and Path(before).suffix.lower() == suffix.lower():
            dst = out / before  # the name this input had in an earlier run
        n = 1
        while not free(dst, src):
            n += 1
            dst = out / rel.with_name(f"{rel.stem}-{n}{suffix}")
        if n > 1:
            notes.append(f"{src}: output named {dst.name} (another input has the name it would get)")
        for q in [dst, *side_outputs(dst, confidence)]:
            taken.add(str(_resolve(q)).lower())
        jobs.append(Job(src, dst))

    def is_dir(q: Path) -> bool:
        """``Path.is_dir`` without raising: a path too long or behind a folder we may not search is no
        folder (as a file it fails later, alone, with its reason)."""
        try:
            return q.is_dir()
        except OSError:
            return False

    def exists(q: Path) -> bool:
        try:
            return q.exists() or q.is_symlink()
        except OSError:
            return True  # it is there, but unusable: the reader reports why

    def under_out(q: Path) -> bool:
        return out_r in _resolve(q).parents

    for arg in inputs:
        p = Path(arg)
        if is_dir(p):
            if _resolve(p) == out_r:
                raise ChromatizeError(f"-o/--out {out} is an input folder; choose another output folder")
            files, skipped_out = [], 0
            for q, note in _walk(p):
                if note:
                    notes.append(note)
                elif q.suffix.lower() in IMAGE_SUFFIXES:
                    if under_out(q):
                        skipped_out += 1
                    else:
                        files.append(q)
            if skipped_out:
                notes.append(f"{arg}: {skipped_out} images inside -o {out} left out (outputs, not inputs)")
            if not files:
                bad.append((arg, "no images found in this folder"))
            for q in sorted(files):
                add(q, q.relative_to(p))
        elif exists(p) or not any(c in arg for c in "*?["):
            add(p, Path(p.name))  # a missing or unreadable file is reported with its reason by the reader
        else:
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                bad.append((arg, "no file matches this pattern"))
            inside = [m for m in matches if under_out(Path(m))]
            if inside:
                notes.append(f"{arg}: {len(inside)} matches inside -o {out} left out (outputs, not inputs)")
            for m in matches:
                if not is_dir(Path(m)) and m not in inside:
                    add(Path(m), Path(Path(m).name))
    inputs_r = {str(_resolve(j.src)) for j in jobs}
    for j in jobs:
        if str(_resolve(j.dst)) in inputs_r:
            raise ChromatizeError(f"output {j.dst} would overwrite an input; choose another -o/--out")
    return jobs, bad, notes


def _walk(folder: Path) -> Iterator[tuple[Path, str]]:
    """Files under ``folder`` (recursive) as (path, ""), and (path, note) for what is not searched: a
    sub-folder that cannot be read, a link to a folder (not followed)."""

    def said(e: OSError) -> None:
        problems.append(f"{e.filename}: cannot read this folder ({e.strerror or e}); its images were not coloured")

    problems: list[str] = []
    for root, dirs, files in os.walk(folder, onerror=said):
        while problems:
            yield Path(root), problems.pop(0)
        for d in list(dirs):
            if os.path.islink(os.path.join(root, d)):
                yield Path(root, d), f"{Path(root, d)}: a link to a folder, not followed (give it as an input)"
        for f in files:
            yield Path(root, f), ""
    while problems:
        yield folder, problems.pop(0)


def check_log_path(log: Path, jobs: list[Job], out: Path | None = None) -> None:
    """The JSON log must not be an input (by name or by a hard link) or an image, and its folder must
    exist or be OUT (or inside it: chromatize makes OUT)."""
    parent = _resolve(log).parent
    out_r = _resolve(out) if out is not None else None
    if not parent.is_dir() and not (out_r is not None and (parent == out_r or out_r in parent.parents)):
        raise ChromatizeError(f"--log {log}: its folder does not exist")
    if log.is_dir():
        raise ChromatizeError(f"--log {log}: is a folder; give a file name")
    if str(_resolve(log)) in {str(_resolve(j.src)) for j in jobs} or log.suffix.lower() in IMAGE_SUFFIXES:
        raise ChromatizeError(f"--log {log}: is an input image; give a .jsonl file")
    try:
        st = log.stat()
    except OSError:
        return
    for j in jobs:
        try:
            if os.path.samestat(st, j.src.stat()):
                raise ChromatizeError(f"--log {log}: is the same file as the input {j.src}; give a new .jsonl file")
        except OSError:
            continue


def clean_stale_parts(out: Path) -> int:
    """Remove temporary files that killed runs of ours left in ``out`` (`imageio.stale_part`: never a
    live run's, never a file of someone else's)."""
    n = 0
    try:
        found = list(out.rglob(PART_GLOB))
    except OSError:
        return 0
    for p in found:
        try:
            if p.is_file() and not p.is_symlink() and stale_part(p):
                p.unlink()
                n += 1
        except OSError:
            pass
    return n


def failure_line(e: BaseException) -> str:
    """An exception as a batch reports it: our one-line message, or the type and its first line."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text if isinstance(e, ChromatizeError) else f"{type(e).__name__}: {text}" if text else type(e).__name__


def check_batch_options(fmt: str, batch_size: int, max_pixels: float) -> None:
    if fmt not in ("png", "jpg", "same"):
        raise ChromatizeError(f"--format takes png, jpg or same, got {fmt!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ChromatizeError(f"--batch-size must be a positive integer, got {batch_size!r}")
    if not (isinstance(max_pixels, (int, float)) and math.isfinite(max_pixels) and max_pixels >= 1):
        raise ChromatizeError(f"--max-megapixels must be a positive finite number, got {max_pixels!r}")
