"""Colouring many files: input expansion, output mapping, skip/resume, per-file isolation, logging.

The CLI's `colorize` command and the demo call it; it is a library module (no printing but through
the console it is given).
"""

from __future__ import annotations

import glob
import json
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ChromatizeError
from .imageio import DEFAULT_MAX_PIXELS, FORMATS, IMAGE_SUFFIXES, check_writable, save_image


@dataclass
class Job:
    src: Path
    dst: Path


def expand_inputs(inputs: list[str], out: Path, fmt: str) -> tuple[list[Job], list[tuple[str, str]]]:
    """Files, folders (recursive, mirrored under OUT) and globs -> jobs; plus (input, reason) for bad args."""
    jobs, bad, seen = [], [], {}
    out_r = out.resolve()

    def suffix(p: Path) -> str:
        return p.suffix if fmt == "same" else FORMATS[fmt][1]

    def add(src: Path, rel: Path) -> None:
        dst = out / rel.with_suffix(suffix(src))
        key = str(dst.resolve())
        if key in seen:  # a.jpg and a.png both given: keep both, the second as a.jpg.png
            dst = out / rel.with_name(rel.name + suffix(src))
            key = str(dst.resolve())
        seen[key] = src
        jobs.append(Job(src, dst))

    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            files = sorted(
                q
                for q in p.rglob("*")
                if q.suffix.lower() in IMAGE_SUFFIXES and not q.is_dir() and out_r not in q.resolve().parents
            )
            for q in files:
                add(q, q.relative_to(p))
        elif p.exists() or p.is_symlink() or not any(c in arg for c in "*?["):
            add(p, Path(p.name))  # a missing or unreadable file is reported with its reason by the reader
        else:
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                bad.append((arg, "no file matches this pattern"))
            for m in matches:
                if not Path(m).is_dir():
                    add(Path(m), Path(Path(m).name))
    inputs_r = {str(j.src.resolve()) for j in jobs}
    for j in jobs:
        if str(j.dst.resolve()) in inputs_r:
            raise ChromatizeError(f"output {j.dst} would overwrite an input; choose another -o/--out")
    return jobs, bad


def run_batch(
    inputs: list[str],
    out: Path,
    model: str | None,
    render_size: int | None,
    decoding: dict,
    fmt: str,
    device: str,
    batch_size: int,
    overwrite: bool,
    confidence: bool,
    log: Path | None,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int, int]:
    """Colorize every input; returns (done, skipped, failed). Bad files are reported, the rest continue."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .imageio import is_grayscale, open_image
    from .inference import analyse, colorize_many, load_model

    if fmt not in ("png", "jpg", "same"):
        raise ChromatizeError(f"--format takes png, jpg or same, got {fmt!r}")
    m = load_model(model, device=device)
    decoding = m.check_decoding(decoding)
    if confidence and "confidence" not in m.family.offers:
        raise ChromatizeError(f"--confidence: the {m.card.family} model gives no confidence map")
    check_writable(out)
    jobs, bad = expand_inputs(inputs, out, fmt)
    con = Console(stderr=True, soft_wrap=True)
    logf = open(log, "a") if log else None
    done = skipped = failed = 0

    def record(src, dst, status, reason="", secs=0.0):
        if logf:
            logf.write(
                json.dumps(
                    {
                        "input": str(src),
                        "output": str(dst) if dst else None,
                        "status": status,
                        "reason": reason,
                        "seconds": round(secs, 4),
                    }
                )
                + "\n"
            )
            logf.flush()

    for arg, reason in bad:
        con.print(f"[red]failed[/red] {arg}: {reason}", highlight=False)
        record(arg, None, "failed", reason)
        failed += 1
    with Progress(
        TextColumn("colorizing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=con,
        disable=not progress,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=len(jobs))
        for k in range(0, len(jobs), max(batch_size, 1)):
            loaded = []
            for j in jobs[k : k + max(batch_size, 1)]:
                t0 = time.perf_counter()
                if j.dst.exists() and not overwrite:
                    skipped += 1
                    record(j.src, j.dst, "skipped", "output exists (use --overwrite)")
                    bar.advance(task)
                    continue
                try:
                    img = open_image(j.src, max_pixels=max_pixels)
                except ChromatizeError as e:
                    failed += 1
                    con.print(f"[red]failed[/red] {e}", highlight=False)
                    record(j.src, None, "failed", str(e), time.perf_counter() - t0)
                    bar.advance(task)
                    continue
                if img.info.get("chromatize_note"):
                    con.print(f"[yellow]note[/yellow] {j.src}: {img.info['chromatize_note']}", highlight=False)
                if not is_grayscale(img):
                    con.print(
                        f"[yellow]warning[/yellow] {j.src}: already colour; colourized from its lightness",
                        highlight=False,
                    )
                loaded.append((j, img, time.perf_counter() - t0))
            if not loaded:
                continue
            t1 = time.perf_counter()
            if confidence:  # one network run per image gives both the colour and the confidence map
                views = [analyse(img, m, render_size=render_size, **decoding) for _, img, _ in loaded]
                results = [v.image() for v in views]
            else:
                results = colorize_many(
                    [img for _, img, _ in loaded], m, render_size=render_size, batch_size=batch_size, **decoding
                )
            share = (time.perf_counter() - t1) / len(loaded)
            for n, ((j, img, secs), result) in enumerate(zip(loaded, results)):
                t2 = time.perf_counter()
                try:
                    save_image(result, j.dst, fmt, img.format)
                    if confidence:
                        save_image(views[n].confidence(), j.dst.with_name(j.dst.stem + ".confidence.png"), "png")
                    done += 1
                    record(j.src, j.dst, "ok", "", secs + share + time.perf_counter() - t2)
                except (ChromatizeError, OSError) as e:
                    failed += 1
                    con.print(f"[red]failed[/red] {j.src}: {e}", highlight=False)
                    record(j.src, None, "failed", str(e), secs + share)
                bar.advance(task)
    if logf:
        logf.close()
    return done, skipped, failed
