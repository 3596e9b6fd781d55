"""Reading any image file safely (limits, EXIF, ICC, modes) and writing outputs atomically."""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import ImageReadError

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: larger inputs are refused before decoding
IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
    ".jfif",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".xpm",
    ".tga",
    ".pcx",
}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "La"}
# A colour image is "grayscale" when almost all pixels have a negligible channel spread; JPEG noise
# in gray RGB JPEGs gives spreads of a few levels, real colour photos far more.
GRAY_SPREAD = 12  # 8-bit levels, max(R,G,B) - min(R,G,B)
GRAY_FRACTION = 0.995

FORMATS = {"png": ("PNG", ".png"), "jpg": ("JPEG", ".jpg")}
_SRGB = ImageCms.createProfile("sRGB")


def open_image(
    src: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None, reduce_to: int | None = None
) -> Image.Image:
    """Open and fully decode an image, or raise ImageReadError with a reason a user can act on.

    The size is checked against ``max_pixels`` from the header, before pixels are decoded.
    EXIF orientation is applied; an embedded ICC profile is converted to sRGB.
    ``reduce_to`` (pixels): a larger JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's own scaled
    decoding: a 49-MP upload to the demo takes an eighth of the memory), still at least this size; its
    full size is kept in ``info["chromatize_full_size"]``. Other formats decode at full size.
    """
    label = name or (str(src) if not isinstance(src, bytes) else "<bytes>")
    if isinstance(src, bytes):
        if len(src) == 0:
            raise ImageReadError(f"{label}: empty file (0 bytes)")
        fp: io.BytesIO | Path = io.BytesIO(src)
    else:
        path = Path(src)
        if path.is_dir():
            raise ImageReadError(f"{label}: is a directory, not an image file")
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ImageReadError(f"{label}: file not found (or a broken link)") from None
        except OSError as e:
            raise ImageReadError(f"{label}: cannot be read ({e.strerror or e})") from None
        if not path.is_file():
            raise ImageReadError(f"{label}: not a regular file")
        if size == 0:
            raise ImageReadError(f"{label}: empty file (0 bytes)")
        if not os.access(path, os.R_OK):
            raise ImageReadError(f"{label}: permission denied (the file cannot be read)")
        fp = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(fp)
            w, h = img.size
            if w * h == 0:
                raise ImageReadError(f"{label}: has no pixels ({w}x{h})")
            if w * h > max_pixels:
                raise ImageReadError(
                    f"{label}: too large ({w}x{h} = {w * h / 1e6:.0f} MP, limit {max_pixels / 1e6:.0f} MP)"
                )
            if img.format == "JPEG":
                _check_scans(fp, label)
                if reduce_to and w * h > reduce_to:
                    s = (reduce_to / (w * h)) ** 0.5
                    img.draft(img.mode, (math.ceil(w * s), math.ceil(h * s)))
                    if img.size != (w, h):
                        img.info["chromatize_full_size"] = f"{w}x{h}"
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                img.seek(0)
            if img.format == "TIFF":
                failed: Exception | None = None
                with _c_stderr_caught() as said:
                    try:
                        img.load()
                    except Exception as e:  # noqa: BLE001 - raised below, with libtiff's own words
                        failed = e
                if failed is not None:
                    raise OSError(f"{failed}{'; libtiff: ' + said[0] if said else ''}") from None
            else:
                img.load()
            fmt = img.format
            img = ImageOps.exif_transpose(img)
            img.format = fmt
            if frames > 1:
                img.info["chromatize_note"] = f"{frames} frames: only the first is coloured"
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{label}: not an image (format not recognised)") from None
    except Image.DecompressionBombError as e:  # Pillow's own guard (twice Image.MAX_IMAGE_PIXELS) stays on
        raise ImageReadError(f"{label}: too large (refused by Pillow's decompression-bomb guard: {e})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageReadError(f"{label}: truncated or corrupt image data ({e})") from None
    except Exception as e:  # noqa: BLE001 - Pillow's decoders raise KeyError/TypeError on mangled tags
        raise ImageReadError(f"{label}: corrupt image data ({type(e).__name__}: {e})") from None
    return _to_srgb(img)


STDERR_LOCK = threading.Lock()  # held while fd 2 is caught; printers to stderr beside a decode take it too


@contextlib.contextmanager
def _c_stderr_caught():
    """libtiff prints its warnings and errors on the process's standard error (file descriptor 2), not
    through Python: a fuzzed batch printed 48 such lines among its one-line results. For the time of one
    TIFF decode, fd 2 goes to a temporary file; the lines caught are handed to the caller (the first one
    joins the file's failure message; after a good decode they are dropped). Serialised by a lock: two
    threads decoding TIFFs at once must not swap the descriptor under each other. (Anything another
    thread writes to fd 2 in that window is caught too: a few milliseconds per TIFF.)"""
    said: list[str] = []
    with STDERR_LOCK, tempfile.TemporaryFile() as tmp:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 at all (a detached process): nothing to keep quiet
            yield said
            return
        try:
            os.dup2(tmp.fileno(), 2)
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read(4096).decode(errors="replace")
            # a terminal's progress bar redrawn meanwhile (rich's refresh thread) is not libtiff's: no escapes
            said.extend(line.strip() for line in text.splitlines() if line.strip() and "\x1b" not in line)


MAX_JPEG_SCANS = 100  # a progressive JPEG has about 10; each scan is a decoding pass over the whole image


def _check_scans(fp, label: str) -> None:
    """Refuse a JPEG with more than `MAX_JPEG_SCANS` scans before decoding: 20,000 scans in 573 KB took
    98 s to decode. Counted as SOS markers (0xFF 0xDA; entropy-coded data stuffs its 0xFF bytes)."""
    data = fp.getvalue() if isinstance(fp, io.BytesIO) else Path(fp).read_bytes()
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise ImageReadError(f"{label}: a JPEG of {scans} scans (at most {MAX_JPEG_SCANS}); refusing to decode it")


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert an image with an embedded ICC profile to sRGB (RGB/RGBA/CMYK); others unchanged."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return img
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
        info = dict(img.info)
        conv = ImageCms.profileToProfile(img, src, _SRGB, outputMode=out_mode)
        info.pop("icc_profile", None)
        conv.info.update(info)
        conv.format = img.format
        return conv
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img


def split_alpha(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Separate an alpha channel (kept and put back on output) from the colour part."""
    if img.mode in ("L", "RGB") and "transparency" in img.info:  # a tRNS transparent colour (PNG)
        base = img.copy()
        base.info.pop("transparency", None)
        return base, img.convert("RGBA").getchannel("A")
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA") if img.mode != "LA" else img
        alpha = rgba.getchannel("A")
        base = rgba.convert("L") if img.mode == "LA" else rgba.convert("RGB")
        return base, alpha
    return img, None


def pixel_array(img: Image.Image) -> tuple[np.ndarray, float]:
    """The pixels as stored, without a float copy: (``[H,W]`` gray or ``[H,W,3]`` RGB array, full-scale
    value). 16-bit and float gray keep their precision; other modes become 8-bit RGB (alpha set aside)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img)
        return a, 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float32)
        return a, 255.0 if a.max() > 1.0 else 1.0
    base, _ = split_alpha(img)
    if base.mode in ("L", "1"):
        return np.asarray(base.convert("L")), 255.0
    return np.asarray(base if base.mode == "RGB" else base.convert("RGB")), 255.0


TONED_SPREAD = 6.0  # 95 % of the pixels within this of the tint's hue line (a*b* units): one hue
TONED_CHROMA = 2.0  # ... and the mean tint at least this far from neutral, warm (b* >= 0)


def is_toned(img: Image.Image, gray: bool | None = None) -> bool:
    """A toned print (sepia, gold, selenium ...): colour channels, but one warm hue over the whole
    picture whose strength follows the lightness, not colours. Measured as the spread of a*b* across
    the line of the mean tint (along it, chroma may vary). On ../shared/data/historical: 23 of its 26
    non-gray photos are toned by this rule (1890BostonHospital, 1907Cowboys and the 1880s Brooklyn Bridge
    among them; not: a near-neutral print and two hand-coloured ones); of natural colour photos it
    flags 4.2 % of 400 from photos256 and 5.9 % of 68 from BSDS (misty or single-hued scenes).
    ``gray``: `is_grayscale`'s answer when the caller has it already (gray images are not toned)."""
    from .metrics import lab_ab

    if is_grayscale(img) if gray is None else gray:
        return False
    base, _ = split_alpha(img)
    small = base.convert("RGB")
    small.thumbnail((256, 256))
    ab = lab_ab(np.asarray(small)).reshape(-1, 2)
    tint = ab.mean(0)
    strength = float(np.hypot(*tint))
    if strength < TONED_CHROMA or tint[1] < 0:
        return False
    across = ab @ np.array([-tint[1], tint[0]], np.float32) / strength
    return float(np.percentile(np.abs(across), 95)) <= TONED_SPREAD


def is_grayscale(img: Image.Image) -> bool:
    """True for 1-channel modes and for colour images whose chroma is negligible everywhere."""
    if img.mode in GRAY_MODES:
        return True
    if img.mode == "P":
        img = img.convert("RGB")
    base, _ = split_alpha(img)
    if base.mode != "RGB":
        base = base.convert("RGB")
    small = base if base.width * base.height <= 512 * 512 else base.resize((512, 512), Image.BILINEAR)
    a = np.asarray(small, dtype=np.int16)
    spread = a.max(axis=2) - a.min(axis=2)
    return float((spread <= GRAY_SPREAD).mean()) >= GRAY_FRACTION


PART_PREFIX = ".chromatize-"  # temporary files: .chromatize-<host>-<pid>-<random>.part


def _host() -> str:
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


def part_prefix() -> str:
    """This process's temporary-file prefix: short (any legal output name gets one, however long) and
    naming its owner, so a clean-up can tell a dead run's leftovers from a live run's files."""
    return f"{PART_PREFIX}{_host()}-{os.getpid()}-"


def stale_part(p: Path, max_age_s: float = 86400.0) -> bool:
    """Whether ``p`` is a temporary file of ours whose writer is gone: made on this machine by a process
    that no longer runs, or (another machine's, e.g. a cluster worker) untouched for ``max_age_s``."""
    name = p.name
    if not (name.startswith(PART_PREFIX) and name.endswith(".part")):
        return False
    fields = name[len(PART_PREFIX) :].split("-")
    if len(fields) < 3 or not fields[1].isdigit():
        return False
    if fields[0] == _host():
        pid = int(fields[1])
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
            return False  # still running
        except ProcessLookupError:
            return True
        except OSError:
            return False
    try:
        return time.time() - p.stat().st_mtime > max_age_s
    except OSError:
        return False


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: a reader never sees a half-written file.
    The temporary file's name is `part_prefix` plus a random part (it does not grow with ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=part_prefix(), suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically (temp file + rename)."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text atomically (temp file + rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_writable(out: Path) -> None:
    """Fail before any work when the output folder cannot be written."""
    from .errors import ChromatizeError

    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".chromatize-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ChromatizeError(f"cannot write to output folder {out}: {e.strerror or e}") from None


def writable_kind(kind: str | None) -> str:
    """A Pillow format name we write images as: ``kind`` when Pillow can save it as a picture, else PNG."""
    Image.init()
    return kind if kind in Image.SAVE and kind not in ("XPM", "EPS", "PDF") else "PNG"


@functools.cache
def srgb_icc() -> bytes:
    """littleCMS's sRGB profile with its creation time zeroed, so equal images give equal files."""
    icc = bytearray(ImageCms.ImageCmsProfile(_SRGB).tobytes())
    icc[24:36] = bytes(12)  # ICC header dateTimeNumber
    return bytes(icc)


SOFTWARE_TAG = 0x0131  # EXIF "Software": marks the files we write, so we never replace someone else's
MARK = "chromatize"


def is_ours(path: Path) -> bool:
    """True when ``path`` is an image that chromatize wrote (its EXIF Software tag says so)."""
    try:
        with Image.open(path) as im:
            return str(im.getexif().get(SOFTWARE_TAG, "")).startswith(MARK)
    except Exception:  # noqa: BLE001 - unreadable, not an image, a folder: not ours
        return False


def _dpi(info: dict) -> tuple[float, float] | None:
    """The input's DPI when it is sane (finite, 1..100000), else None (then it is not copied)."""
    d = info.get("dpi")
    try:
        x, y = float(d[0]), float(d[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (x, y) if all(math.isfinite(v) and 1 <= v <= 100_000 for v in (x, y)) else None


def save_image(img: Image.Image, dst: Path, fmt: str, src_format: str | None = None) -> list[str]:
    """Save atomically as ``fmt`` (png, jpg, or same as ``src_format``), keeping EXIF (orientation reset:
    it is applied) and DPI, tagged sRGB and marked as ours. Returns notes on metadata that could not be
    kept (an EXIF block too large for JPEG, an impossible DPI)."""
    from .version import __version__

    notes = []
    kind = FORMATS[fmt][0] if fmt != "same" else writable_kind(src_format)
    if kind in ("JPEG", "BMP", "PPM", "GIF") and img.mode == "RGBA":
        img = img.convert("RGB")
    kw: dict = {"icc_profile": srgb_icc()}
    exif = img.getexif()
    exif[0x0112] = 1
    exif[SOFTWARE_TAG] = f"{MARK} {__version__}"
    blob = exif.tobytes()
    if kind == "JPEG" and len(blob) > 65000:  # a JPEG APP1 segment holds at most 64 KB
        notes.append(f"EXIF block of {len(blob) // 1024} KB does not fit in a JPEG; only the basic tags kept")
        small = Image.Exif()
        small[SOFTWARE_TAG] = exif[SOFTWARE_TAG]
        blob = small.tobytes()
    kw["exif"] = blob
    dpi = _dpi(img.info)
    if dpi:
        kw["dpi"] = dpi
    elif "dpi" in img.info:
        notes.append(f"DPI {img.info['dpi']!r} is not a usable resolution; not copied")
    if kind == "JPEG":
        kw["quality"] = 95
    atomic_write(dst, lambda tmp: img.save(tmp, format=kind, **kw))
    return notes


def render_shape(h: int, w: int, render_size: int, render_min: int = 0) -> tuple[int, int]:
    """Longer side -> ``render_size``, aspect ratio kept; never upscaled, except that a longer side below
    ``render_min`` is upscaled to it (a model trained on larger views of small pictures)."""
    s = min(1.0, render_size / max(h, w))
    if max(h, w) < render_min:
        s = render_min / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))
