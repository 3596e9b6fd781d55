"""Colouring a film: frames streamed through the network and `steady.Steadier`, written in chunks.

A film is cut into chunks of ``chunk`` frames. Each chunk is encoded to its own file in a work folder
next to the output (``.<name>.parts/``), atomically, and the chunks are joined (packets copied, the
audio added) when the last one is done; a killed run therefore continues at the first unfinished chunk.
So that a chunk does not depend on how the run got there, every chunk starts its steady colour afresh
and first runs through the ``warmup`` frames before it (their outputs discarded): a rerun, a resumed run
and a chunk coloured elsewhere give the same pixels, and the seam does not jump, because the colour of
the frames before it is already carried into the chunk's first frame.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ChromatizeError
from .imageio import atomic_write, atomic_write_text
from .inference import LoadedModel
from .photo import Prepared, compose, full_lightness, small_l
from .steady import Steadier
from .threads import POLICY
from .video import CONTAINERS, ChunkWriter, FilmSource, Frame, join_chunks, output_name

QUALITY_RANGE = (0, 51)
MIN_FILM_FRAMES = 8


@dataclass
class FilmSettings:
    """How a film is coloured. ``steady``: frames a colour averages at most (0: every frame on its own);
    ``quality``: x264's constant rate factor (lower is better and larger; 18 looks like the input)."""

    render_size: int
    decoding: dict[str, Any]
    flip: bool | None = None  # the card's flip averaging unless given
    steady: float = 4.0
    quality: int = 18
    chunk: int = 250
    warmup: int = 16
    preset: str = "veryfast"

    def check(self) -> None:
        lo, hi = QUALITY_RANGE
        if isinstance(self.quality, bool) or not isinstance(self.quality, int) or not lo <= self.quality <= hi:
            raise ChromatizeError(f"--quality must be an integer from {lo} (best) to {hi}, got {self.quality!r}")
        if not (np.isfinite(self.steady) and 0 <= self.steady <= 100):
            raise ChromatizeError(f"--steady must be from 0 (frame by frame) to 100 frames, got {self.steady}")
        if self.chunk < 1 or self.warmup < 0:
            raise ChromatizeError("chunk must be >= 1 frame and warmup >= 0")


@dataclass
class _Seen:
    """A frame remembered for the next chunk's warm-up: its small lightness and (once computed) chroma."""

    small: torch.Tensor
    ab: np.ndarray | None = None


@dataclass
class FilmColourer:
    """Colours frames one after another: network, then steady colour, then full resolution."""

    model: LoadedModel
    settings: FilmSettings
    steadier: Steadier = field(init=False)

    def __post_init__(self):
        self.steadier = Steadier(max_weight=self.settings.steady)

    def prepare(self, pixels: np.ndarray) -> tuple[Prepared, torch.Tensor]:
        from PIL import Image

        p = Prepared(full_lightness(Image.fromarray(pixels)), None, {})
        return p, small_l(p, self.settings.render_size, self.model.card.render_min)

    def predict(self, small: torch.Tensor) -> np.ndarray:
        """The network's chroma ``[2,h,w]`` for one frame's small lightness (always alone in its batch, so
        a frame's chroma does not depend on its neighbours)."""
        ab = self.model.predict(small, self.settings.flip).chroma(**self.settings.decoding)
        return ab[0].float().cpu().numpy()

    def steady(self, small: torch.Tensor, ab: np.ndarray) -> np.ndarray:
        return self.steadier.step(small[0, 0].numpy(), ab)[0]

    def render(self, p: Prepared, ab: np.ndarray) -> np.ndarray:
        return np.asarray(compose(p, torch.from_numpy(np.ascontiguousarray(ab))[None], self.model.space))

    def colour(self, pixels: np.ndarray) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
        """The next frame, coloured (8-bit RGB of the frame's size), with its small lightness and the
        network's own chroma (what a later warm-up needs)."""
        p, small = self.prepare(pixels)
        ab = self.predict(small)
        return self.render(p, self.steady(small, ab)), small, ab

    def restart(self, before: list[_Seen]) -> None:
        """Start a chunk: steady colour afresh, warmed up on the frames ``before`` it (predicted now if
        their chroma is not known yet); only the chunk's own scene cuts are counted from here."""
        self.steadier = Steadier(max_weight=self.settings.steady)
        for seen in before:
            if seen.ab is None:
                seen.ab = self.predict(seen.small)
            self.steady(seen.small, seen.ab)
        self.steadier.cuts = 0


def _digest(src: FilmSource, m: LoadedModel, s: FilmSettings) -> dict:
    st = src.path.stat()
    return {
        "source": {"name": src.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns},
        "model": {"name": m.name, "card": hashlib.sha256(m.card.to_json().encode()).hexdigest(), "engine": m.engine},
        "settings": asdict(s),
        "version": 1,
    }


class _Parts:
    """The work folder of one film: chunk files, their order, and what settings made them."""

    def __init__(self, out: Path, name: str, record: dict, frames: bool, threads: int):
        self.dir = out / f".{name}.parts"
        self.frames = frames
        self.suffix = ".done" if frames else ".nut"
        self.threads = threads
        meta = self.dir / "settings.json"
        if self.dir.exists():
            try:
                old = json.loads(meta.read_text())
                same = {k: v for k, v in old.items() if k != "threads"} == json.loads(json.dumps(record))
                threads = int(old["threads"]) if same else threads
            except (OSError, ValueError, KeyError, TypeError):
                same = False
            if same:  # resume with the threads the finished chunks were made with: the same last bits
                self.threads = threads
            else:  # chunks from other settings or another version of the input: start over
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob("*.part"):
            stale.unlink()  # a chunk that was being written when the last run died
        atomic_write_text(meta, json.dumps({**record, "threads": self.threads}, indent=1, default=str))

    @classmethod
    def existing(cls, folder: Path, threads: int) -> _Parts:
        """A work folder another process set up (a cluster worker writes its chunks into it)."""
        parts = cls.__new__(cls)
        parts.dir, parts.frames, parts.suffix, parts.threads = Path(folder), False, ".nut", threads
        return parts

    def path(self, k: int) -> Path:
        return self.dir / f"chunk-{k:06d}{self.suffix}"

    def done(self, k: int) -> bool:
        return self.path(k).exists()

    def chunks(self) -> list[Path]:
        return sorted(self.dir.glob(f"chunk-*{self.suffix}"))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def film_lock(out: Path, name: str) -> Iterator[None]:
    """One run at a time per film and output folder. Two runs colouring the same film into one OUT shared
    its work folder: the second one's start-up removed the first one's chunk in progress, which then
    failed ("No such file or directory ... chunk-000000.done.part"; found by the attack matrix). The
    lock is an advisory `flock` on ``OUT/.<name>.lock`` (released when the process ends, however it
    ends); a second run fails in one line at once. Where `fcntl` does not exist, no lock."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = out / f".{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ChromatizeError(
                f"{name}: another chromatize run is colouring this film into {out} now; "
                "run the command again when it has finished (it will reuse that run's chunks)"
            ) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
    finally:
        os.close(fd)


@dataclass
class FilmResult:
    src: str
    dst: str
    frames: int
    chunks_done: int
    chunks_reused: int
    cuts: int
    threads: int  # the network's threads for the whole film (a resumed film keeps its first run's)


def colour_film(
    src: str | Path,
    out: Path,
    model: LoadedModel,
    settings: FilmSettings,
    *,
    overwrite: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
    stop_after_chunks: int | None = None,
    suffix: str | None = None,
    audio: bool = True,
) -> FilmResult | None:
    """Colour the film ``src`` (video file or folder of numbered frames) into ``out``: ``out/<name>`` (video,
    H.264, audio copied) or ``out/<folder>/`` (frames as PNG). Returns None when the output exists and
    ``overwrite`` is off. ``on_frame(done, total)`` reports progress (total 0 when unknown).
    ``stop_after_chunks``: stop (as if killed) after finishing that many chunks in this run (for tests).
    ``suffix``: the output container by its suffix (default: the input's); ``audio``: copy the sound."""
    settings.check()
    source = FilmSource(src)
    is_frames = bool(source.files)
    name, dst = _output(source, out, suffix)
    if _finished(out, name, dst, overwrite):
        return None
    out.mkdir(parents=True, exist_ok=True)
    with film_lock(out, name):
        if _finished(out, name, dst, overwrite):  # another run finished it while this one started
            return None
        parts = _Parts(out, name, _digest(source, model, settings), is_frames, POLICY.fixed_count())
        with POLICY.holding(parts.threads):
            return _colour_film(source, out, name, dst, parts, model, settings, on_frame, stop_after_chunks, audio)


def _output(source: FilmSource, out: Path, suffix: str | None = None) -> tuple[str, Path]:
    """The output's name and path; ChromatizeError when it would overwrite the input."""
    name = source.path.name if source.files else output_name(source.path)
    if suffix and not source.files:
        name = Path(name).stem + suffix
    dst = out / name
    src_real, dst_real = source.path.resolve(), dst.resolve()
    if dst_real == src_real or src_real in dst_real.parents:
        raise ChromatizeError(f"{source.name}: the output {dst} would overwrite the input; choose another -o folder")
    return name, dst


def _finished(out: Path, name: str, dst: Path, overwrite: bool) -> bool:
    return dst.exists() and not overwrite and not (out / f".{name}.parts").exists()


def _join(parts: _Parts, source: FilmSource, dst: Path, audio: bool = True) -> None:
    fmt = CONTAINERS.get(dst.suffix.lower(), "matroska")
    chunks = parts.chunks()
    try:
        atomic_write(dst, lambda t: join_chunks(chunks, source.path if audio else None, t, fmt))
    except OSError as e:
        raise ChromatizeError(f"{dst}: could not write the joined film ({e.strerror or e})") from e


def colour_chunk(
    source: FilmSource, k: int, parts: _Parts, model: LoadedModel, settings: FilmSettings
) -> tuple[int, int]:
    """Chunk ``k`` of a video into its part file, on its own: seek to the warm-up frames before it, then
    colour its frames (what a cluster worker does; the same pixels as a run through the whole film).
    Returns (frames, scene cuts)."""
    start, end = k * settings.chunk, (k + 1) * settings.chunk
    col = FilmColourer(model, settings)
    tmp = str(parts.path(k)) + ".part"
    writer = ChunkWriter(tmp, source.info, settings.quality, settings.preset)
    n, before = 0, []
    try:
        with POLICY.holding(parts.threads):
            for fr in source.frames(gray=True, start=max(0, start - settings.warmup)):
                if fr.index >= end:
                    break
                if fr.index < start:  # warm-up: carried into the chunk, not written
                    before.append(_Seen(col.prepare(fr.pixels)[1]))
                    continue
                if n == 0:
                    col.restart(before)
                writer.write(col.colour(fr.pixels)[0], fr.pts)
                n += 1
        writer.close()
        os.replace(tmp, parts.path(k))
    except BaseException:
        writer.abort()
        raise
    return n, col.steadier.cuts


def _colour_film(source, out, name, dst, parts, model, settings, on_frame, stop_after_chunks, audio):
    is_frames = bool(source.files)
    written: list[Path] = []
    col = FilmColourer(model, settings)
    total = source.info.frames
    ring: deque[_Seen] = deque(maxlen=max(settings.warmup, 1))
    k_now, writer, tmp, n, done_now, reused = -1, None, None, 0, 0, 0
    cuts = 0

    def finish() -> None:
        nonlocal writer, tmp, done_now
        if writer is not None:
            writer.close()
            os.replace(tmp, parts.path(k_now))
            done_now += 1
        elif tmp is not None:  # numbered frames: the marker says every frame of the chunk is written
            Path(tmp).write_text("")
            os.replace(tmp, parts.path(k_now))
            done_now += 1
        writer = tmp = None

    try:
        for fr in _frames(source):
            k = fr.index // settings.chunk
            if k != k_now:
                finish()
                if stop_after_chunks is not None and done_now >= stop_after_chunks:
                    return None
                k_now = k
                if parts.done(k):
                    reused += 1
                else:
                    tmp = str(parts.path(k)) + ".part"
                    if not is_frames:
                        writer = ChunkWriter(tmp, source.info, settings.quality, settings.preset)
                    cuts += col.steadier.cuts
                    col.restart(list(ring) if settings.warmup else [])
            n += 1
            if tmp is None:  # a finished chunk: only its last frames matter (the next chunk's warm-up)
                if settings.warmup and fr.index >= (k + 1) * settings.chunk - settings.warmup:
                    ring.append(_Seen(col.prepare(fr.pixels)[1]))
                if on_frame:
                    on_frame(n, total)
                continue
            rgb, small, ab = col.colour(fr.pixels)
            if writer is not None:
                writer.write(rgb, fr.pts)
            else:
                written.append(out / name / (source.files[fr.index].stem + ".png"))
                _write_frame(written[-1], rgb)
            ring.append(_Seen(small, ab))
            if on_frame:
                on_frame(n, total)
        finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        elif tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if sys.exc_info()[0] is ChromatizeError:  # the input is unusable: a rerun cannot finish it either
            parts.remove()
            for f in written:
                f.unlink(missing_ok=True)
            if is_frames and dst.is_dir() and not any(dst.iterdir()):
                dst.rmdir()
        raise
    cuts += col.steadier.cuts
    if not is_frames:
        _join(parts, source, dst, audio)
    parts.remove()
    return FilmResult(str(source.path), str(dst), n, done_now, reused, cuts, parts.threads)


def _frames(source: FilmSource) -> Iterator[Frame]:
    # Video: the decoder's luma is the lightness input (a gray film's exact values; for a colour source
    # the same as a gray conversion); numbered frames: the images as they are.
    return source.frames(gray=not source.files)


def _write_frame(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    atomic_write(path, lambda t: Image.fromarray(rgb).save(t, format="PNG"))
