"""`chromatize demo`: a local Gradio page to colour a photo, compare models and tune vividness.

Runs offline: analytics off, system fonts only, bound to 127.0.0.1 unless told otherwise. Inference goes
through the same `inference` functions as the CLI, one request at a time behind a bounded queue.
"""

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

import gradio as gr
import numpy as np
from PIL import Image

from . import inference
from .demo_hints import build_tab
from .errors import ChromatizeError
from .hints import HintSet, hint_entry, hints_table
from .imageio import atomic_write, check_writable, is_ours, open_image, save_image

MAX_UPLOAD_MB = 25
MAX_PIXELS = 50_000_000
WORK_PIXELS = 12_000_000  # larger uploads are reduced to this before colouring
QUEUE_SIZE = 16
REQUEST_SECONDS = 20.0  # an image request's budget; the slowest allowed upload (49 MP) takes 2-6 s
FILM_MAX_FRAMES = 750  # the demo colours clips of up to 30 s at 25 fps (about 90 s of work on 2 cores)


class UploadImage(gr.Image):
    """An image upload whose file reaches our own safe reader untouched (Gradio would decode it first,
    turning a bad file into a bare error instead of our message)."""

    @classmethod
    def get_block_name(cls) -> str:
        return "image"

    def preprocess(self, payload):
        return None if payload is None else payload.path


def example_files() -> list[tuple[str, str]]:
    """(label, path) of bundled example pictures: historical, everyday, medical, astronomical."""
    here = Path(__file__).resolve().parent / "examples"
    out = [("historical", str(here / "brooklyn_bridge_1880s.jpg"))]
    cache = Path(tempfile.gettempdir()) / "chromatize-demo-examples"
    cache.mkdir(exist_ok=True)
    try:
        import skimage.data as d
    except ImportError:  # pragma: no cover
        return out
    for label, name in [("everyday", "chelsea"), ("medical", "microaneurysms"), ("astronomical", "moon")]:
        p = cache / f"{label}_{name}.png"
        if not p.exists():
            try:
                Image.fromarray(np.asarray(getattr(d, name)())).convert("L").save(p)
            except Exception:  # noqa: BLE001 - a sample that would need a download is left out
                continue
        out.append((label, str(p)))
    return out


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

    def build(self) -> gr.Blocks:
        """The Gradio page and its two API endpoints (``/compare``, ``/colorize``)."""
        return _build_page(self)


def _refusals_in_one_line() -> None:
    """A request that names a server file instead of an upload (``{"path": "/etc/passwd"}``) is refused by
    Gradio (`processing_utils._check_allowed` raises InvalidPathError), which then prints a 20-line
    traceback per request in the server's log and answers the client ``{"error": null}``. Here such a
    refusal is also a `gr.Error` that does not print: the client reads "that file was not uploaded to
    this server", the log gets one line. Still an InvalidPathError for Gradio's own handlers (its file
    route answers 403 as before). If a Gradio release renames the function, refusals stay as they were."""
    from gradio import processing_utils as pu
    from gradio.exceptions import InvalidPathError

    check = getattr(pu, "_check_allowed", None)
    if check is None or getattr(check, "chromatize", False):
        return

    class Refused(InvalidPathError, gr.Error):
        def __init__(self, message: str) -> None:
            gr.Error.__init__(self, message, print_exception=False)

    def checked(path, *args, **kwargs):
        try:
            return check(path, *args, **kwargs)
        except InvalidPathError:
            print(f"chromatize demo: refused a request naming a server file ({str(path)[:200]!r})", flush=True)
            raise Refused("that file was not uploaded to this server") from None

    checked.chromatize = True
    pu._check_allowed = checked


def build_app(models: list[str] | None = None, engine: str = "torch", save_dir: Path | None = None) -> gr.Blocks:
    """The demo page for ``models`` (default: every shipped model); each is loaded now, not per request."""
    names = list(dict.fromkeys(models or list(inference.shipped_models())))
    _refusals_in_one_line()
    for n in names:  # fail at start-up, not per request
        inference.load_model(n, engine=engine)
    return DemoServer(names, engine, save_dir).build()


def _build_page(srv: DemoServer) -> gr.Blocks:
    names = srv.offered
    default = names[0] if names else None
    knobs = srv.knobs()
    first = srv.model(default).defaults if default else {}
    served = Served()  # every image answer goes to Gradio as a file of its own
    # delete_cache: uploads and results older than 10 minutes are removed every 5 minutes
    with gr.Blocks(title="chromatize", analytics_enabled=False, delete_cache=(300, 600)) as app:
        gr.Markdown(
            "# chromatize\nDrop a black-and-white photo (or pick an example); compare the models. Each model "
            "colours with its own card's settings unless you override them below. Results download as PNG at "
            "full size. In *Colour hints*, click the photo to tell it what colour something is; in *Film*, "
            "colour a short clip with steady colours."
        )
        with gr.Tab("Compare models"), gr.Row():
            with gr.Column(scale=1):
                inp = UploadImage(type="filepath", label="photo", sources=["upload", "clipboard"], format="png")
                chosen = gr.CheckboxGroup(names, value=[default] if default else [], label="models")
                with gr.Accordion("decoding settings", open=False):
                    override = gr.Checkbox(False, label="override the model cards' values with these")
                    controls = [_control(k, opt, fams, first) for k, (opt, fams) in knobs.items()]
                go = gr.Button("Colorize", variant="primary")
                msg = gr.Markdown(elem_id="message")  # plain text (no markup) for people and API clients
                gr.Examples([p for _, p in example_files()], inputs=inp, label="examples")
            with gr.Column(scale=2):
                slider = gr.ImageSlider(label="before / after", type="pil", format="png")
                gallery = gr.Gallery(label="all chosen models", format="png", columns=3)
                with gr.Row():
                    conf = gr.Image(label="confidence (legend below the map)", type="pil", format="png")
                    alts = gr.Gallery(label="alternative colourings", format="png", columns=3)
        with gr.Tab("Colour hints"):
            build_tab(srv, names, UploadImage, served)
        with gr.Tab("Film"), gr.Row():
            with gr.Column():
                clip = gr.Video(label=f"clip (up to {FILM_MAX_FRAMES} frames)", sources=["upload"])
                film_model = gr.Dropdown(names, value=default, label="model")
                steady = gr.Slider(0, 16, value=4, step=1, label="steady: frames a colour averages (0: frame by frame)")
                film_go = gr.Button("Colour the clip", variant="primary")
            with gr.Column():
                film_out = gr.Video(label="coloured", format="mp4")
                film_msg = gr.Markdown()
        one_queue = {"concurrency_limit": 1, "concurrency_id": "colour"}  # every request in one line
        go.click(
            served(srv.compare),
            [inp, chosen, override, *controls],
            [slider, gallery, conf, alts, msg],
            api_name="compare",
            **one_queue,
        )
        film_go.click(
            served(srv.colour_clip),
            [clip, film_model, steady],
            [film_out, film_msg],
            api_name="colour_clip",
            **one_queue,
        )
        api_in = UploadImage(type="filepath", visible=False, label="image")
        api_model = gr.Textbox(visible=False, label="model")
        api_opts = gr.Textbox(visible=False, label="options")
        api_out = gr.Image(type="pil", format="png", visible=False, label="colour")
        api_msg = gr.Textbox(visible=False, label="message")
        gr.Button(visible=False).click(
            served(srv.colorize_one),
            [api_in, api_model, api_opts],
            [api_out, api_msg],
            api_name="colorize",
            **one_queue,
        )
        api_hints = gr.Textbox(visible=False, label="hints")
        gr.Button(visible=False).click(
            served(srv.colorize_with_hints),
            [api_in, api_model, api_hints],
            [api_out, api_msg],
            api_name="colorize_hints",
            **one_queue,
        )
    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return app


def _control(key: str, opt: Any, models: list[str], first: dict) -> gr.components.Component:
    """A control for one decoding knob, from its spec: a slider for a bounded number, else a text box."""
    start = first.get(key, opt.default)
    label = f"{key}: {opt.help} ({', '.join(Path(m).name for m in models)})"
    if isinstance(opt.default, (int, float)) and opt.low is not None and opt.high is not None:
        step = 1 if isinstance(opt.default, int) else (opt.high - opt.low) / 50
        return gr.Slider(opt.low, opt.high, value=start, step=step, label=label)
    if opt.choices:
        return gr.Dropdown(list(opt.choices), value=start, label=label)
    return gr.Textbox(str(start), label=label)


def check_port(host: str, port: int) -> None:
    """Fail in one line, before the models load, when ``host:port`` cannot be served."""
    import socket

    if not 1 <= port <= 65535:
        raise ChromatizeError(f"--port must be from 1 to 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise ChromatizeError(f"--host {host}: not an address of this machine ({e.strerror or e})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise ChromatizeError(
                f"cannot serve on {host}:{port} ({e.strerror or e}); another program has it? choose --port"
            ) from None


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    models: list[str] | None = None,
    out: Path | None = None,
    engine: str = "torch",
) -> None:
    """Start the server (blocking)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the server process is ours from here on
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if out is not None:
        check_writable(out)
    check_port(host, port)
    print("chromatize demo: loading the models...", flush=True)
    app = build_app(models, engine, out)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])
    app.launch(
        server_name=host,
        server_port=port,
        max_file_size=f"{MAX_UPLOAD_MB}mb",
        show_error=False,
        theme=theme,
        quiet=False,
        footer_links=["api"],
        allowed_paths=[str(Path(example_files()[0][1]).parent)],
    )
