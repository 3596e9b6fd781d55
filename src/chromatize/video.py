"""Reading and writing films: video files through PyAV (FFmpeg's libraries, shipped in its wheels) and
folders of numbered frames. Every failure is a one-line `ChromatizeError`.

A film is read as a stream of `Frame` s (index, timestamp, 8-bit RGB or gray pixels), never whole.
Written video is H.264 (libx264) in the input's container (WebM, which cannot hold H.264, becomes
Matroska); the encoder gets the input's timestamps, so duration and frame timing (a variable frame rate
included) carry over. The audio streams are copied packet by packet, unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import ChromatizeError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
OUTPUT_SUFFIX = {".webm": ".mkv"}  # H.264 is not allowed in WebM
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
PART_FORMAT = "nut"  # chunks: FFmpeg's own container keeps exact timestamps and the global header
_NUMBER = re.compile(r"(\d+)(?=\.[^.]+$)")


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def output_name(src: Path) -> str:
    """The output's file name: the input's, in a container that can hold H.264."""
    return src.stem + OUTPUT_SUFFIX.get(src.suffix.lower(), src.suffix.lower())


def numbered_frames(folder: Path) -> list[Path]:
    """The image files of ``folder`` whose names end in a number, in frame order ([] if there are fewer
    than two or some images are not numbered: then it is a folder of photos, not a film)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    numbered = [(int(m.group(1)), p) for p in files if (m := _NUMBER.search(p.name))]
    if len(numbered) < 2 or len(numbered) != len(files):
        return []
    return [p for _, p in sorted(numbered, key=lambda t: (t[0], t[1].name))]


@dataclass
class Frame:
    index: int
    pts: int | None  # in the source's time base (None for numbered frames)
    pixels: np.ndarray  # [H,W,3] or [H,W] uint8


@dataclass
class FilmInfo:
    width: int
    height: int
    rate: Fraction  # frames per second (average)
    frames: int  # count, or an estimate from the duration (0 when unknown)
    exact: bool  # ``frames`` is the container's count, not an estimate
    time_base: Fraction | None
    audio: int  # audio streams
    codec: str

    def describe(self) -> str:
        n = f"{self.frames} frames" if self.frames else "unknown length"
        return f"{self.width}x{self.height}, {float(self.rate):.3g} fps, {n}, {self.codec}"


def _av():
    try:
        import av
    except ImportError as e:  # pragma: no cover - av is a dependency
        raise ChromatizeError("reading video needs PyAV: pip install av") from e
    av.logging.set_level(av.logging.PANIC)  # FFmpeg's own warnings would garble the progress bar
    return av


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


class FilmSource:
    """A film to read: a video file or a folder of numbered frames."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = self.path.name
        if self.path.is_dir():
            self.files = numbered_frames(self.path)
            if not self.files:
                raise ChromatizeError(f"{self.name}: no numbered frames (name0001.png, ...) in this folder")
            from .imageio import open_image

            first = open_image(self.files[0])
            self.info = FilmInfo(first.width, first.height, Fraction(25), len(self.files), True, None, 0, "frames")
            return
        self.files = []
        av = _av()
        try:
            with av.open(str(self.path)) as c:
                if not c.streams.video:
                    raise ChromatizeError(f"{self.name}: has no video stream")
                v = c.streams.video[0]
                rate = v.average_rate or v.guessed_rate or Fraction(25)
                frames = v.frames or (int(c.duration * rate / 1_000_000) if c.duration else 0)
                exact = bool(v.frames)
                if not (v.width and v.height):
                    raise ChromatizeError(f"{self.name}: the video stream has no frame size")
                self.info = FilmInfo(
                    v.width,
                    v.height,
                    Fraction(rate),
                    frames,
                    exact,
                    v.time_base,
                    len(c.streams.audio),
                    v.codec_context.name,
                )
        except ChromatizeError:
            raise
        except FileNotFoundError as e:
            raise ChromatizeError(f"{self.name}: no such file") from e
        except Exception as e:  # av.error.* and the like: the file is not a readable video
            raise ChromatizeError(f"{self.name}: not a readable video ({_one_line(e)})") from e

    def timestamps(self) -> list[int]:
        """Every frame's timestamp in presentation order, from the packets alone (no decoding: a second
        or two for an hour of film). Frame ``i`` of `frames` has timestamp ``timestamps()[i]``.
        ChromatizeError when the timestamps cannot number the frames (missing or repeated)."""
        if self.files:
            return list(range(len(self.files)))
        if getattr(self, "_pts", None) is None:
            av = _av()
            try:
                with av.open(str(self.path)) as c:
                    v = c.streams.video[0]
                    pts = [p.pts for p in c.demux(v) if p.size]
            except Exception as e:
                raise ChromatizeError(f"{self.name}: damaged video ({_one_line(e)})") from e
            if any(t is None for t in pts) or len(set(pts)) != len(pts):
                raise ChromatizeError(f"{self.name}: its frames lack distinct timestamps; colour it without --cluster")
            self._pts = sorted(pts)
        return self._pts

    def frames(self, gray: bool = False, start: int = 0) -> Iterator[Frame]:
        """Every frame in order (decoded on the fly), from frame ``start`` on (a video seeks to the key
        frame before it; `timestamps` number the frames). Raises ChromatizeError when the stream is
        damaged, ends early or changes its frame size."""
        size = (self.info.width, self.info.height)
        if start and not self.files:
            yield from self._frames_from(start, gray)
            return
        if self.files:
            from .imageio import open_image

            for i, f in enumerate(self.files[start:], start):
                img = open_image(f)
                if img.size != size:
                    raise ChromatizeError(
                        f"{self.name}: frame {f.name} is {img.width}x{img.height}, the first {size[0]}x{size[1]}: "
                        "a film needs one frame size"
                    )
                img = img.convert("L" if gray else "RGB")
                yield Frame(i, None, np.asarray(img))
            return
        av = _av()
        i, last_pts = 0, None
        try:
            with av.open(str(self.path)) as c:
                v = c.streams.video[0]
                # FFmpeg's slice threads only (its default): with frame threads ("AUTO"), leaving the loop
                # early (an error, a stop) can hang beside torch's OpenMP (PyAV issues #1849, #1861).
                for fr in c.decode(v):
                    if (fr.width, fr.height) != size:
                        raise ChromatizeError(
                            f"{self.name}: the frame size changes at frame {i} ({size[0]}x{size[1]} -> "
                            f"{fr.width}x{fr.height}); a film needs one frame size"
                        )
                    pts = fr.pts if fr.pts is not None else (last_pts + 1 if last_pts is not None else 0)
                    if last_pts is not None and pts <= last_pts:
                        pts = last_pts + 1  # a repeated timestamp: keep the order, keep every frame
                    last_pts = pts
                    yield Frame(i, pts, fr.to_ndarray(format="gray" if gray else "rgb24"))
                    i += 1
        except ChromatizeError:
            raise
        except Exception as e:
            raise ChromatizeError(f"{self.name}: damaged or truncated video at frame {i} ({_one_line(e)})") from e
        if i == 0:
            raise ChromatizeError(f"{self.name}: no frame could be decoded")
        expected = self.info.frames if self.info.exact else 0
        if expected and i < 0.98 * expected - 1:
            raise ChromatizeError(f"{self.name}: truncated video: {i} of {expected} frames could be decoded")

    def _frames_from(self, start: int, gray: bool) -> Iterator[Frame]:
        stamps = self.timestamps()
        if start >= len(stamps):
            return
        number = {t: i for i, t in enumerate(stamps)}
        size = (self.info.width, self.info.height)
        av = _av()
        try:
            with av.open(str(self.path)) as c:
                v = c.streams.video[0]
                c.seek(stamps[start], stream=v, backward=True, any_frame=False)
                first = True
                for fr in c.decode(v):
                    if (fr.width, fr.height) != size:
                        raise ChromatizeError(f"{self.name}: the frame size changes near frame {start}")
                    i = number.get(fr.pts)
                    if first and (i is None or i > start):  # the seek went past the frame: read from the top
                        c.seek(stamps[0], stream=v, backward=True, any_frame=False)
                        first = False
                        break
                    first = False
                    if i is None or i < start:
                        continue
                    yield Frame(i, fr.pts, fr.to_ndarray(format="gray" if gray else "rgb24"))
                else:
                    return
        except ChromatizeError:
            raise
        except Exception as e:
            raise ChromatizeError(f"{self.name}: damaged or truncated video near frame {start} ({_one_line(e)})") from e
        for fr in self.frames(gray):  # the slow way, after a seek that landed late
            if fr.index >= start:
                yield fr


class ChunkWriter:
    """Encodes frames into one chunk file (H.264 in NUT, the source's timestamps)."""

    def __init__(self, path: str, info: FilmInfo, quality: int, preset: str = "veryfast"):
        av = _av()
        from av.codec.context import Flags

        self.path = path
        self.c = av.open(path, "w", format=PART_FORMAT)
        # No B-frames: timestamps stay in decoding order, so chunks join by copying packets.
        s = self.c.add_stream("libx264", rate=info.rate, options={"crf": str(quality), "preset": preset, "bf": "0"})
        s.width, s.height, s.pix_fmt = info.width, info.height, "yuv420p"
        s.time_base = info.time_base or Fraction(1) / info.rate
        # the encoder counts in the source's time base too (by default it is 1/rate, which would round
        # the timestamps of a variable frame rate onto a regular grid)
        s.codec_context.time_base = s.time_base
        s.codec_context.flags |= Flags.global_header  # SPS/PPS as extradata, as MP4 and Matroska want
        self.s, self.tb, self.av = s, s.time_base, av

    def write(self, rgb: np.ndarray, pts: int) -> None:
        vf = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        vf.pts, vf.time_base = pts, self.tb
        for p in self.s.encode(vf):
            self.c.mux(p)

    def close(self) -> None:
        for p in self.s.encode():
            self.c.mux(p)
        self.c.close()

    def abort(self) -> None:
        """Give up on the chunk: close the file without finishing it and remove it."""
        try:
            self.c.close()
        except Exception:  # noqa: BLE001 - a half-written container may not close cleanly; it goes anyway
            pass
        Path(self.path).unlink(missing_ok=True)


def join_chunks(chunks: list[Path], source: Path | None, dst: str, fmt: str) -> int:
    """Copy the packets of ``chunks`` (in order) and the audio streams of ``source`` into ``dst`` (container
    ``fmt``). Returns the number of video packets written."""
    av = _av()
    n = 0
    first = av.open(str(chunks[0]))
    out = av.open(dst, "w", format=fmt)
    try:
        vo = out.add_stream_from_template(first.streams.video[0])
        extradata = first.streams.video[0].codec_context.extradata
        first.close()
        src, audio = None, []
        if source is not None:
            src = av.open(str(source))
            audio = [(a, out.add_stream_from_template(a)) for a in src.streams.audio]
        for path in chunks:
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                if s.codec_context.extradata != extradata:
                    raise ChromatizeError(f"{path.name}: encoded with other settings than the first chunk")
                for p in c.demux(s):
                    if p.pts is None and p.dts is None:
                        continue  # the demuxer's end-of-stream marker
                    p.stream = vo
                    out.mux(p)
                    n += 1
        if src is not None and audio:
            wanted = {a.index: o for a, o in audio}
            for p in src.demux(*[a for a, _ in audio]):
                if p.dts is None and p.pts is None:
                    continue
                p.stream = wanted[p.stream.index]
                out.mux(p)
        if src is not None:
            src.close()
    finally:
        out.close()
    return n
