"""`chromatize demo`: a local Gradio page to colour a photo, compare models and tune vividness.

Runs offline: analytics off, system fonts only, bound to 127.0.0.1 unless told otherwise. Inference goes
through the same `inference` functions as the CLI, one request at a time behind a bounded queue.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from . import inference
from .demo_hints import build_tab
from .demo_server import FILM_MAX_FRAMES, MAX_UPLOAD_MB, DemoServer, Served
from .errors import ChromatizeError
from .imageio import check_writable

QUEUE_SIZE = 16


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
    return _build_page(DemoServer(names, engine, save_dir))


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
