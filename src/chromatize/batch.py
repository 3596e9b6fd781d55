"""Colouring many files: skip/resume, per-file isolation, logging, chunks side by side (which files are
read and written, and under which names: `batch_files`).

The CLI's `colorize` command and the cluster workers call it; nothing here is specific to a front end.
Rules: an input is never written; an output path is unique per input; a file that is not ours is never
replaced; whatever goes wrong with one file is that file's reported failure and the batch goes on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from .batch_files import (
    Job,
    Outcome,
    check_batch_options,
    check_log_path,
    clean_stale_parts,
    expand_inputs,
    failure_line,
    side_outputs,
)
from .errors import ChromatizeError
from .imageio import (
    DEFAULT_MAX_PIXELS,
    STDERR_LOCK,
    check_writable,
    is_ours,
    save_image,
)
from .manifest import Manifest


@dataclass(frozen=True)
class Settings:
    """How every file of a run is coloured and written; the one thing a local run and each cluster
    worker share (it travels to workers as a plain dict)."""

    decoding: dict  # complete and checked (the card's values with the user's overrides)
    render_size: int  # resolved and checked
    fmt: str
    batch_size: int
    overwrite: bool
    confidence: bool
    max_pixels: int
    flip: bool | None = None  # mirror averaging (None: the model card's)
    hints: dict | None = None  # per-input hint points: {input name or path or "*": {"points": [...]}}
    scribble: str | None = None  # a scribble PNG for every input (path)
    reference: str | None = None  # a reference photo for every input (path)

    @property
    def steered(self) -> bool:
        """Whether hints steer this run's colours."""
        return bool(self.hints or self.scribble or self.reference)


class BatchWorker:
    """Colours jobs with one loaded model; every failure stays with its file."""

    def __init__(self, model, settings: Settings):
        self.m, self.settings = model, settings
        self._steering: tuple | None = None  # (hints table, scribble, reference): read once per worker

    def _hints_for(self, src: Path):
        """The `HintSet` of one input (its points and those for every input, the scribble, the
        reference), or None; the table and the images are parsed and read once, on first use."""
        from .hints import HintSet, hints_for, hints_table, load_reference, load_scribble

        st = self.settings
        if not st.steered:
            return None
        if self._steering is None:
            self._steering = (
                hints_table(st.hints or {}),
                load_scribble(st.scribble) if st.scribble else None,
                load_reference(st.reference) if st.reference else None,
            )
        table, scribble, reference = self._steering
        hs = hints_for(table, src) or HintSet()  # a new set: the cached table is never changed
        hs.scribble, hs.reference = scribble, reference
        return hs if hs else None

    def _load(self, j: Job) -> tuple[Outcome | None, object]:
        from .imageio import is_grayscale, is_toned, open_image

        t0 = time.perf_counter()
        try:
            there = j.dst.exists() or j.dst.is_symlink()
        except OSError as e:  # e.g. a name over 255 bytes: this file's failure, not the batch's
            why = e.strerror or type(e).__name__
            return Outcome(str(j.src), None, "failed", f"output {j.dst.name[:40]}...: {why}"), None
        if there:
            if not is_ours(j.dst):
                why = "exists and was not written by chromatize; refusing to replace it (choose another -o)"
                return Outcome(str(j.src), None, "failed", f"output {j.dst} {why}"), None
            if not (self.settings.overwrite or j.redo):
                return Outcome(str(j.src), str(j.dst), "skipped", "output exists (use --overwrite)"), None
        for side in side_outputs(j.dst, self.settings.confidence):
            try:
                foreign = (side.exists() or side.is_symlink()) and not is_ours(side)
            except OSError:
                foreign = False
            if foreign:
                why = "exists and was not written by chromatize; refusing to replace it (choose another -o)"
                return Outcome(str(j.src), None, "failed", f"confidence map {side} {why}"), None
        try:
            img = open_image(j.src, max_pixels=self.settings.max_pixels)
            said = [img.info["chromatize_note"]] if img.info.get("chromatize_note") else []
            if is_toned(img, gray := is_grayscale(img)):
                said.append("a toned print (one tint, e.g. sepia); coloured from its lightness")
            elif not gray:
                said.append("already colour; colourized from its lightness")
        except Exception as e:  # noqa: BLE001 - any failure is this file's, reported in one line
            return Outcome(str(j.src), None, "failed", failure_line(e), time.perf_counter() - t0), None
        # notes travel in the outcome, so a cluster worker's reach the client as a local run's do
        return None, (img, time.perf_counter() - t0, said)

    def _colour(self, imgs: list, srcs: list[Path]) -> list:
        """Results (image, confidence or None) or the exception, per image; a group that fails is retried
        one image at a time so a bad file cannot take its neighbours down. Inputs with hints go one by
        one (the network runs once; the hints steer its result)."""
        from .inference import _analyse, _colorize_prepared
        from .photo import prepare_input

        st = self.settings

        def single(img, src):
            try:
                hints = self._hints_for(src)
                p = prepare_input(img)
                if st.confidence or hints:
                    v = _analyse(self.m, p, st.decoding, st.render_size, st.flip)
                    return v.image(hints=hints), (v.confidence() if st.confidence else None)
                (out,) = _colorize_prepared(self.m, [p], st.decoding, st.render_size, st.flip, 1)
                return out, None
            except Exception as e:  # noqa: BLE001
                return e

        if st.confidence or st.steered or len(imgs) == 1:
            return [single(i, s) for i, s in zip(imgs, srcs)]
        try:
            prepared = [prepare_input(i) for i in imgs]
            outs = _colorize_prepared(self.m, prepared, st.decoding, st.render_size, st.flip, st.batch_size)
            return [(o, None) for o in outs]
        except Exception:  # noqa: BLE001
            return [single(i, s) for i, s in zip(imgs, srcs)]

    def run(self, jobs: list[Job]) -> list[Outcome]:
        """Colour ``jobs`` (one chunk) and write the outputs; one outcome per job, in order."""
        results: dict[int, Outcome] = {}
        loaded = []
        for n, j in enumerate(jobs):
            early, got = self._load(j)
            if early is not None:
                results[n] = early
            else:
                loaded.append((n, j, *got))
        t1 = time.perf_counter()
        coloured = self._colour([e[2] for e in loaded], [e[1].src for e in loaded]) if loaded else []
        share = (time.perf_counter() - t1) / max(len(loaded), 1)
        for (n, j, img, secs, said), res in zip(loaded, coloured):
            t2 = time.perf_counter()
            try:
                if isinstance(res, BaseException):
                    raise res
                out, conf = res
                notes = save_image(out, j.dst, self.settings.fmt, getattr(img, "format", None))
                if conf is not None:  # in a colour scale with its legend below (0 = no idea, 1 = certain)
                    from .inference import confidence_picture

                    save_image(confidence_picture(conf), side_outputs(j.dst, True)[0], "png")
                took = secs + share + time.perf_counter() - t2
                results[n] = Outcome(str(j.src), str(j.dst), "ok", "", took, said + notes)
            except Exception as e:  # noqa: BLE001 - reading, colouring, metadata or writing: this file's failure
                results[n] = Outcome(str(j.src), None, "failed", failure_line(e), secs + share, said)
        return [results[n] for n in range(len(jobs))]


def check_hint_options(m, hints: dict | None, scribble: str | None, reference: str | None) -> None:
    """Hints that cannot work fail before any file is read: bad points, an unreadable scribble or reference,
    a reference for a model without a colour distribution."""
    from .hints import hints_table, load_reference, load_scribble

    hints_table(hints or {})
    if scribble:
        load_scribble(scribble)
    if reference:
        load_reference(reference)
        if "distribution" not in m.family.offers:
            raise ChromatizeError(f"--reference: the {m.card.family} model has no colour distribution to steer")


def run_settings(m, decoding: dict, render_size: int, flip: bool | None, fmt: str, confidence: bool) -> dict:
    """What decides an output's pixels and files, as the manifest records it (hints added per input)."""
    from .manifest import digest

    return {
        "model": str(m.name),
        "card": digest(m.card.to_json()),
        "decoding": dict(decoding),
        "render_size": render_size,
        "flip": m.card.flip_average if flip is None else bool(flip),
        "format": fmt,
        "confidence": bool(confidence),
    }


def hint_key(hints: dict | None, scribble: str | None, reference: str | None) -> Callable[[Path], str | None]:
    """input -> a digest of the hints that steer it (its points, the scribble's and reference's files)."""
    from .hints import hints_for, hints_table
    from .manifest import digest, fingerprint

    if not (hints or scribble or reference):
        return lambda src: None
    table = hints_table(hints or {})
    files = {k: (str(v), fingerprint(Path(v))) for k, v in (("scribble", scribble), ("reference", reference)) if v}

    def key(src: Path) -> str | None:
        hs = hints_for(table, src)
        return digest({"points": hs.to_dict() if hs else None, **files})

    return key


@contextmanager
def _log_file(log: Path | None):
    """The ``--log`` file (or nowhere); closing it never raises (a full disk is said when writing)."""
    f = open(log, "a") if log else open(os.devnull, "w")  # noqa: SIM115 - closed below, errors swallowed
    try:
        yield f
    finally:
        try:
            f.close()
        except OSError:
            pass


@contextmanager
def _saving(manifest: Manifest):
    try:
        yield
    finally:
        manifest.save()


def _chunks_side_by_side(worker: BatchWorker, jobs: list[Job], size: int) -> Iterator[list[Outcome]]:
    """The outcomes of ``jobs`` in chunks of ``size`` (in order). On the CPU with torch, every network run
    holds one thread and `POLICY.batch_workers` chunks run side by side: the files are the same bytes
    whatever the cores and the load (float sums depend on the thread count in their last bits), and the
    same as a cluster worker's (one thread, chunks of the batch size). A single chunk (one big scan) gets
    the free cores for its full-size output instead (`photo.compose` strips, one thread each)."""
    from .threads import POLICY

    chunks = [jobs[k : k + size] for k in range(0, len(jobs), size)]
    if worker.m.device.type != "cpu" or worker.m.runner is not None or POLICY.mode == "torch":
        yield from (worker.run(c) for c in chunks)  # a GPU, OpenVINO, or threads the caller set itself
        return
    free = POLICY.batch_workers()
    n = min(free, len(chunks))
    with POLICY.holding(1):
        POLICY.strips = max(1, free // max(n, 1))
        try:
            if n <= 1:
                yield from (worker.run(c) for c in chunks)
                return
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n) as pool:
                yield from pool.map(worker.run, chunks)
        finally:
            POLICY.strips = None


def run_batch(
    inputs: list[str],
    out: Path,
    *,
    model: str | None = None,
    render_size: int | None = None,
    decoding: dict | None = None,
    fmt: str = "png",
    device: str = "auto",
    batch_size: int = 8,
    overwrite: bool = False,
    confidence: bool = False,
    log: Path | None = None,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    engine: str = "torch",
    execute: Callable[[list[Job], dict], Iterator[Outcome]] | None = None,
    flip: bool | None = None,
    hints: dict | None = None,
    scribble: str | None = None,
    reference: str | None = None,
) -> tuple[int, int, int]:
    """Colorize every input; returns (done, skipped, failed). Bad files are reported, the rest continue.

    ``execute(jobs, spec)``: colour the jobs elsewhere (e.g. `cluster.run_on_cluster`), yielding outcomes;
    ``spec`` holds what a worker needs to load the same model with the same options.
    ``hints``: per-input hint points (`hints.read_hints_file`'s table as plain dicts); ``scribble`` and
    ``reference``: paths applied to every input (checked here, before any work).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .inference import load_model

    check_batch_options(fmt, batch_size, max_pixels)
    m = load_model(model, device=device, engine=engine)
    decoding, render_size = m.decoding_for(decoding or {}), m.render_size_for(render_size)
    check_hint_options(m, hints, scribble, reference)
    if confidence and "confidence" not in m.family.offers:
        raise ChromatizeError(f"--confidence: the {m.card.family} model gives no confidence map")
    manifest = Manifest.load(out)
    jobs, bad, notes = expand_inputs(inputs, out, fmt, manifest, confidence)
    if manifest.note:
        notes.insert(0, manifest.note)
    if log is not None:
        check_log_path(log, jobs, out)
    check_writable(out)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_parts(out)
    con = Console(stderr=True, soft_wrap=True)
    counts = {"ok": 0, "skipped": 0, "failed": 0}
    recipe = run_settings(m, decoding, render_size, flip, fmt, confidence)
    steering = hint_key(hints, scribble, reference)
    done_before, todo, by_src = [], [], {}
    for j in jobs:
        mine = {**recipe, "hints": steering(j.src)}
        by_src[str(j.src)] = (j, mine)
        action, why = manifest.decide(j.src, j.dst, mine, overwrite)
        if action in ("skip", "changed"):
            said = [why] if action == "changed" else []
            done_before.append(Outcome(str(j.src), str(j.dst), "skipped", why, notes=said))
            continue
        j.redo = action == "redo"
        if why:
            notes.append(f"{j.src}: {why}")
        todo.append(j)
    jobs = todo
    last_save = [time.monotonic()]
    log_broken: list[OSError] = []
    with _log_file(log) as logf:

        def record(o: Outcome) -> None:
            with STDERR_LOCK:  # never while a worker thread has stderr caught (a TIFF decode)
                _record(o)

        def _record(o: Outcome) -> None:
            counts[o.status] += 1
            if o.status == "ok" and o.dst:
                j, mine = by_src[o.src]
                manifest.record(Path(o.dst), j.src, mine, side_outputs(Path(o.dst), confidence))
                if time.monotonic() - last_save[0] > 2.0:
                    manifest.save()
                    last_save[0] = time.monotonic()
            if o.status == "failed":
                con.print(
                    f"[red]failed[/red] {o.src}: {o.reason}"
                    if not o.reason.startswith(o.src)
                    else f"[red]failed[/red] {o.reason}",
                    highlight=False,
                )
            for note in o.notes:
                con.print(f"[yellow]note[/yellow] {o.src}: {note}", highlight=False)
            if not log_broken:
                try:
                    logf.write(o.as_json() + "\n")
                    logf.flush()
                except OSError as e:  # a full disk: the colouring goes on, the log stops (said once)
                    log_broken.append(e)
                    con.print(
                        f"[yellow]warning[/yellow] --log {log}: cannot write ({e.strerror or e}); the log stops here"
                    )

        for note in notes:
            con.print(f"[yellow]note[/yellow] {note}", highlight=False)
        for arg, reason in bad:
            record(Outcome(arg, None, "failed", reason))
        for o in done_before:
            record(o)
        columns = (TextColumn("colorizing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=con, disable=not progress, transient=True) as bar, _saving(manifest):
            task = bar.add_task("", total=len(jobs))
            settings = Settings(
                decoding,
                render_size,
                fmt,
                batch_size,
                overwrite,
                confidence,
                max_pixels,
                flip,
                hints,
                scribble,
                reference,
            )
            if execute is not None:
                spec = {"model": str(m.name), "device": device, "engine": engine, "settings": asdict(settings)}
                for o in execute(jobs, spec):
                    record(o)
                    bar.advance(task)
                clean_stale_parts(out)  # temporary files of workers that died mid-write
            else:
                for outcomes in _chunks_side_by_side(BatchWorker(m, settings), jobs, batch_size):
                    for o in outcomes:
                        record(o)
                        bar.advance(task)
    return counts["ok"], counts["skipped"], counts["failed"]
