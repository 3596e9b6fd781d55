"""The demo's request side: reading an upload within its limits, a request's time budget, results
handed to Gradio as files, one-line messages, and `DemoServer`, which holds the offered models and
answers every endpoint (the page itself is built in `demo`)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from . import inference
from .errors import ChromatizeError
from .hints import HintSet, hint_entry, hints_table
from .imageio import atomic_write, is_ours, open_image, save_image

MAX_UPLOAD_MB = 25
MAX_PIXELS = 50_000_000
WORK_PIXELS = 12_000_000  # larger uploads are reduced to this before colouring
REQUEST_SECONDS = 20.0  # an image request's budget; the slowest allowed upload (49 MP) takes 2-6 s
FILM_MAX_FRAMES = 750  # the demo colours clips of up to 30 s at 25 fps (about 90 s of work on 2 cores)


def _load(path: str | None) -> Image.Image:
    if not path:
        raise ChromatizeError("upload an image first")
    p = Path(path)
    if p.stat().st_size > MAX_UPLOAD_MB * 1024 * 1024:
        raise ChromatizeError(f"the file is larger than {MAX_UPLOAD_MB} MB")
    img = open_image(p, max_pixels=MAX_PIXELS, name=p.name, reduce_to=WORK_PIXELS)  # JPEG: decoded smaller
    full = img.info.get("chromatize_full_size", f"{img.width}x{img.height}")
    if img.width * img.height > WORK_PIXELS:  # one huge upload must not hold the only worker for long
        s = (WORK_PIXELS / (img.width * img.height)) ** 0.5
        small = img.resize((max(1, int(img.width * s)), max(1, int(img.height * s))), Image.BOX, reducing_gap=2.0)
        small.info.update(img.info)
        small.format = img.format
        img = small
    if full != f"{img.width}x{img.height}":
        img.info["demo_reduced"] = full
    return img


@functools.lru_cache(maxsize=64)
def _upload_digest(path: str, size: int, mtime_ns: int) -> str:
    """8 hex digits of an upload's bytes, read once per upload (`/compare` keeps one result per model)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:8]


def _reduced(img: Image.Image) -> str:
    """The message's note when `_load` reduced the upload."""
    was = img.info.get("demo_reduced")
    mp = WORK_PIXELS // 1_000_000
    return (
        f" Reduced from {was}: the demo colours at most {mp} MP; `chromatize colorize` keeps full size." if was else ""
    )


def _msg(e: Exception) -> str:
    """Plain text for people and API clients alike: what went wrong, without the server's paths."""
    text = str(e)
    if isinstance(e, BadRequest):
        return text
    return "Could not colour this file: " + (text.split(": ", 1)[-1] if ": " in text else text)


class Deadline:
    """An image request's time budget, checked between its stages (reading the upload, each model): a
    request that has used it up ends with a message instead of starting more work, so one slow file
    cannot hold the only worker for the rest of its models. Cooperative: a stage that has begun runs to
    its end (Python cannot stop a decoder midway); what bounds each stage is the upload limits (25 MB,
    50 MP, JPEGs of at most 100 scans, reduction to 12 MP)."""

    def __init__(self) -> None:
        self.end = time.monotonic() + REQUEST_SECONDS

    def check(self, after: str) -> None:
        if time.monotonic() > self.end:
            raise BadRequest(
                f"this request used up its {REQUEST_SECONDS:g} s after {after}; try a smaller image or fewer models"
            )


class Served:
    """Hands Gradio our result images as PNG files of their own, never as PIL images.

    Gradio caches a returned PIL image under the hash of its bytes and rewrites that file on every
    return (gradio 6.31 `processing_utils.save_pil_to_cache`: `write_bytes`), so two identical results at
    once truncate the file while the first client is downloading it: 1 of 240 hostile-client requests
    ended "peer closed connection ... received 0 bytes". A file path is copied into the cache under a
    temporary name and renamed, once. Files here older than `KEEP_S` are removed as new ones come
    (Gradio has copied them by then)."""

    KEEP_S = 600

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chromatize-demo-results-"))
        weakref.finalize(self, shutil.rmtree, self.dir, True)

    def path(self, img: Image.Image) -> str:
        now = time.time()
        for old in self.dir.glob("*.png"):
            with contextlib.suppress(OSError):
                if now - old.stat().st_mtime > self.KEEP_S:
                    old.unlink()
        fd, name = tempfile.mkstemp(suffix=".png", dir=self.dir)
        with os.fdopen(fd, "wb") as f:
            img.save(f, "PNG", compress_level=1)  # 12 MP: 0.6 s instead of 2.7 s at the default 6, 25 % larger
        return name

    def convert(self, value: Any) -> Any:
        """Every PIL image in a handler's answer (also inside tuples and lists: slider, gallery) as a path."""
        if isinstance(value, Image.Image):
            return self.path(value)
        if isinstance(value, (tuple, list)):
            return type(value)(self.convert(v) for v in value)
        return value

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)  # Gradio reads the signature (SelectData and friends) through __wrapped__
        def handler(*args, **kwargs):
            return self.convert(fn(*args, **kwargs))

        return handler


class BadRequest(ChromatizeError):
    """A request the server refuses as given (its message is shown whole)."""


class UnknownModel(BadRequest):
    """A model name the server does not offer."""


def parse_options(text: str | dict | None) -> dict:
    """Decoding overrides from the API: a JSON object (``{"temperature": 0.4}``), empty for the cards'."""
    if isinstance(text, dict):
        return text
    if not text or not str(text).strip():
        return {}
    try:
        d = json.loads(str(text))
    except json.JSONDecodeError:
        d = None
    if not isinstance(d, dict):
        raise BadRequest('give a JSON object such as {"temperature": 0.4}')
    return d


@dataclass
class DemoServer:
    """The demo's state: the models it offers, its engine and where results are kept (``-o DIR``)."""

    offered: list[str]
    engine: str = "torch"
    save_dir: Path | None = None

    def model(self, name: str | None) -> inference.LoadedModel:
        """Only models the server offers: a request cannot make it read other paths or grow its cache."""
        name = (name or "").strip() or (self.offered[0] if self.offered else inference.default_model_name())
        if name not in self.offered:
            raise UnknownModel(f"Unknown model {name[:80]!r}; this server offers: {', '.join(self.offered)}")
        return inference.load_model(name, engine=self.engine)

    def keep(self, img: Image.Image, src: str, model: str) -> None:
        """With ``-o DIR``: the result as ``<upload stem>.<model>.<8 hex of the upload>.png`` (clipboard
        uploads are all 'image.png'; the digest tells them apart); a file there that chromatize did
        not write is never replaced (the result gets ``-2``, ...)."""
        if self.save_dir is not None:
            save_image(img, self.kept_name(src, model, ".png", ours=is_ours), "png")

    def kept_name(self, src: str, model: str, suffix: str, ours=lambda p: False) -> Path:
        st = os.stat(src)
        base = f"{Path(src).stem[:80]}.{Path(str(model)).name[:40]}.{_upload_digest(src, st.st_size, st.st_mtime_ns)}"
        dst, n = self.save_dir / f"{base}{suffix}", 1
        while (dst.exists() or dst.is_symlink()) and not ours(dst):
            n += 1
            dst = self.save_dir / f"{base}-{n}{suffix}"
        return dst

    @staticmethod
    def decoding(m: inference.LoadedModel, given: dict) -> dict:
        """``given`` checked against the model's family (a bad value is the request's error)."""
        try:
            return m.decoding_for(given)
        except ChromatizeError as e:
            raise BadRequest(str(e)) from None

    def knobs(self) -> dict[str, tuple[Any, list[str]]]:
        """Decoding knobs of the offered models' families: name -> (Option, the offered models taking it)."""
        out: dict[str, tuple[Any, list[str]]] = {}
        for n in self.offered:
            for key, opt in self.model(n).family.decoding.items():
                out.setdefault(key, (opt, []))[1].append(n)
        return out

    def colorize_one(self, path: str | None, model: str | None = None, options: str | dict | None = None):
        """API: one image -> (colour PNG, message). The same pipeline as `chromatize colorize`;
        ``options``: decoding overrides as a JSON object (empty: the model card's values)."""
        try:
            deadline = Deadline()
            m = self.model(model)
            opts = self.decoding(m, parse_options(options))
            img = _load(path)
            deadline.check("reading the upload")
            out = inference.colorize(img, m, **opts)
            self.keep(out, path, m.name)
            return out, _reduced(img).strip()
        except ChromatizeError as e:
            return None, _msg(e)

    def compare(self, path: str | None, models: list[str] | None, override: bool = False, *values, n_alt: int = 3):
        """UI: before/after slider for the first model, a gallery of all chosen models, and for the first
        chosen model that decodes a distribution its confidence map and alternative colourings (named).
        Each model runs once. ``override``: apply the knob ``values`` (in `knobs` order) to the models
        whose family declares them; otherwise every model decodes with its own card's values."""
        try:
            names = list(dict.fromkeys(models or [])) or self.offered[:1]  # each model once, in the order given
            deadline = Deadline()
            ms = [self.model(n) for n in names]
            img = _load(path)
            gray = img.convert("L").convert("RGB")
            given = dict(zip(self.knobs(), values)) if override else {}
            outs, conf, alts, source = [], None, [], ""
            for name, m in zip(names, ms):
                deadline.check(f"colouring with {', '.join(n for _, n in outs)}" if outs else "reading the upload")
                mine = self.decoding(m, {k: v for k, v in given.items() if k in m.family.decoding})
                view = inference.analyse(img, m, **mine)  # the network runs once
                outs.append((view.image(), name))
                self.keep(outs[-1][0], path, name)
                if "confidence" in view.offers and conf is None:
                    conf, source = inference.confidence_picture(view.confidence()), Path(name).name
                    alts = [(a, f"{source}: alternative {i + 1}") for i, a in enumerate(view.alternatives(n_alt))]
            how = "the values set above" if override else "each model card's decoding values"
            extra = f" Confidence and alternatives: {source}." if source else ""
            msg = f"Coloured with {', '.join(names)} at {img.width}x{img.height}, using {how}.{extra}{_reduced(img)}"
            return (gray, outs[0][0]), outs, conf, alts, msg
        except ChromatizeError as e:
            return None, [], None, [], _msg(e)

    @staticmethod
    def load(path: str | None) -> Image.Image:
        return _load(path)

    @staticmethod
    def message(e: Exception) -> str:
        return _msg(e)

    def colorize_with_hints(self, path: str | None, model: str | None = None, hints: str | None = None):
        """API: one image and its hints as JSON (``{"points": [...]}`` or a whole hints file) -> (colour
        PNG, message)."""
        try:
            m = self.model(model)
            d = parse_options(hints)
            try:
                if isinstance(d.get("images"), dict):  # a whole hints file: its first image's hints
                    hs = next(iter(hints_table(d["images"]).values()), HintSet())
                else:
                    hs = hint_entry(d, "this image")
            except ChromatizeError as e:
                raise BadRequest(str(e)) from None
            deadline = Deadline()
            img = _load(path)
            deadline.check("reading the upload")
            return inference.analyse(img, m).image(hints=hs), ""
        except ChromatizeError as e:
            return None, _msg(e)

    def colour_clip(self, path: str | None, model: str | None = None, steady: float = 4.0):
        """API and UI: a short clip -> (coloured MP4, message). The same pipeline as `chromatize colorize`
        on a film; clips longer than `FILM_MAX_FRAMES` frames are refused (the command line has no limit)."""
        from .film import FilmSettings, colour_film
        from .video import FilmSource

        try:
            if not path:
                raise ChromatizeError("upload a clip first")
            m = self.model(model)
            src = FilmSource(path)
            if src.info.frames > FILM_MAX_FRAMES:
                raise ChromatizeError(
                    f"this clip has about {src.info.frames} frames; the demo colours up to {FILM_MAX_FRAMES} "
                    "(use `chromatize colorize` for whole films)"
                )
            settings = FilmSettings(m.render_size_for(None), m.decoding_for({}), steady=float(steady))
            out = Path(tempfile.mkdtemp(prefix="chromatize-film-"))
            # MP4 plays in every browser; the sound is kept when it came in an MP4 or MOV already.
            keep_sound = Path(path).suffix.lower() in (".mp4", ".m4v", ".mov")
            r = colour_film(path, out, m, settings, suffix=".mp4", audio=keep_sound)
            if self.save_dir is not None:
                self.save_dir.mkdir(parents=True, exist_ok=True)
                keep = self.kept_name(path, m.name, ".mp4")  # a film is never replaced: -2, -3, ...
                atomic_write(keep, lambda t: shutil.copyfile(r.dst, t))
            note = "" if keep_sound or not src.info.audio else " (sound dropped: not in an MP4 or MOV)"
            return r.dst, f"{r.frames} frames, {r.cuts} scene cuts, steady over {steady:g} frames{note}."
        except ChromatizeError as e:
            return None, _msg(e)
