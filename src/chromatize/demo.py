"""`chromatize demo`: a local Gradio page to colour a photo, compare models and tune vividness.

Runs offline: analytics off, system fonts only, bound to 127.0.0.1 unless told otherwise. Inference goes
through the same `inference` functions as the CLI, one request at a time behind a bounded queue.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from . import inference
from .errors import ChromatizeError
from .imageio import check_writable, open_image, save_image

MAX_UPLOAD_MB = 25
MAX_PIXELS = 50_000_000
QUEUE_SIZE = 16
SAVE_DIR: Path | None = None  # `chromatize demo -o DIR` also keeps every result here


def _keep(img: Image.Image, src: str, model: str) -> None:
    if SAVE_DIR is not None:
        name = f"{Path(src).stem}.{Path(str(model)).name}.png"
        save_image(img, SAVE_DIR / name, "png")


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
    return open_image(p, max_pixels=MAX_PIXELS, name=p.name)


def _msg(e: Exception) -> str:
    """Plain text for people and API clients alike: what went wrong, without the server's paths."""
    text = str(e)
    if isinstance(e, UnknownModel):
        return text
    return "Could not colour this file: " + (text.split(": ", 1)[-1] if ": " in text else text)


class UnknownModel(ChromatizeError):
    """A model name the server does not offer."""


OFFERED: list[str] = []  # model names/folders this server offers (shipped + given at start-up)
ENGINE = "torch"


def _model(name: str | None) -> inference.Colorizer:
    """Only models the server offers: a request cannot make it read other paths or grow its cache."""
    name = (name or "").strip() or (OFFERED[0] if OFFERED else inference.default_model_name())
    if name not in OFFERED:
        raise UnknownModel(f"Unknown model {name[:80]!r}; this server offers: {', '.join(OFFERED)}")
    return inference.load_model(name, engine=ENGINE)


def confidence_picture(conf: Image.Image) -> Image.Image:
    """The confidence map in a perceptual colour scale (viridis over the square root, so low values are
    told apart) with a legend bar below it: 0 = no idea, 1 = certain."""
    from matplotlib import colormaps
    from PIL import ImageDraw

    v = np.asarray(conf, np.float32) / 255.0
    rgb = (colormaps["viridis"](np.sqrt(v))[..., :3] * 255).astype(np.uint8)
    w, h = conf.size
    bar_h = max(28, h // 12)
    canvas = Image.new("RGB", (w, h + bar_h), "white")
    canvas.paste(Image.fromarray(rgb), (0, 0))
    ramp = np.sqrt(np.linspace(0, 1, max(w - 20, 2)))[None, :].repeat(bar_h // 2, 0)
    canvas.paste(Image.fromarray((colormaps["viridis"](ramp)[..., :3] * 255).astype(np.uint8)), (10, h + 2))
    d = ImageDraw.Draw(canvas)
    for t in (0.0, 0.1, 0.25, 0.5, 1.0):
        x = 10 + int(np.sqrt(t) * (w - 21))
        d.text((min(x, w - 22), h + 2 + bar_h // 2), f"{t:g}", fill="black")
    return canvas


def _temperature(m: inference.Colorizer, temperature: float | None) -> dict:
    """The vividness setting for models whose family decodes with a temperature; none for the others."""
    return {"temperature": temperature} if "temperature" in m.family.decoding and temperature is not None else {}


def default_vividness(model: str | None = None) -> float:
    """The slider's start: the model card's temperature (what the CLI uses by default)."""
    m = inference.load_model(model)
    opt = m.family.decoding.get("temperature")
    return float(m.decoding.get("temperature", opt.default if opt else 0.5))


def colorize_one(path: str | None, model: str | None = None, temperature: float | None = None):
    """API: one image -> (colour PNG, message). The same pipeline as `chromatize colorize`."""
    try:
        m = _model(model)
        img = _load(path)
        out = inference.colorize(img, m, **_temperature(m, temperature))
        _keep(out, path, m.name)
        return out, ""
    except ChromatizeError as e:
        return None, _msg(e)


def compare(path: str | None, models: list[str] | None, temperature: float, n_alternatives: int = 3):
    """UI: before/after slider for the first model, a gallery of all chosen models, and for a model that
    decodes a distribution the confidence map and alternative colourings. Each model runs once."""
    try:
        names = list(dict.fromkeys(models or [])) or OFFERED[:1]  # each model once, in the order given
        ms = [_model(n) for n in names]
        img = _load(path)
        gray = img.convert("L").convert("RGB")
        outs, conf, alts = [], None, []
        for name, m in zip(names, ms):
            view = inference.analyse(img, m, **_temperature(m, temperature))  # the network runs once
            outs.append((view.image(), name))
            _keep(outs[-1][0], path, name)
            if "confidence" in view.offers and conf is None:
                conf = confidence_picture(view.confidence())
                alts = [(a, f"alternative {i + 1}") for i, a in enumerate(view.alternatives(n_alternatives))]
        return (gray, outs[0][0]), outs, conf, alts, f"Coloured with {', '.join(names)} at {img.width}x{img.height}."
    except ChromatizeError as e:
        return None, [], None, [], _msg(e)


def build_app(models: list[str] | None = None, engine: str = "torch") -> gr.Blocks:
    global ENGINE
    ENGINE = engine
    names = list(dict.fromkeys(models or list(inference.shipped_models())))
    for n in names:  # fail at start-up, not per request
        inference.load_model(n, engine=engine)
    OFFERED[:] = names
    default = names[0] if names else None
    # delete_cache: uploads and results older than 10 minutes are removed every 5 minutes
    with gr.Blocks(title="chromatize", analytics_enabled=False, delete_cache=(300, 600)) as app:
        gr.Markdown(
            "# chromatize\nDrop a black-and-white photo (or pick an example); compare the models; "
            "move *vividness* to trade safe colours for bold ones. Results download as PNG at full size."
        )
        with gr.Row():
            with gr.Column(scale=1):
                inp = UploadImage(type="filepath", label="photo", sources=["upload", "clipboard"], format="png")
                chosen = gr.CheckboxGroup(names, value=[default] if default else [], label="models")
                temp = gr.Slider(
                    0.0,
                    1.0,
                    value=default_vividness(default) if default else 0.5,
                    step=0.02,
                    label="vividness: temperature of models that decode a distribution (0 = boldest)",
                )
                go = gr.Button("Colorize", variant="primary")
                msg = gr.Markdown(elem_id="message")  # plain text (no markup) for people and API clients
                gr.Examples([p for _, p in example_files()], inputs=inp, label="examples")
            with gr.Column(scale=2):
                slider = gr.ImageSlider(label="before / after", type="pil", format="png")
                gallery = gr.Gallery(label="all chosen models", format="png", columns=3)
                with gr.Row():
                    conf = gr.Image(label="confidence (legend below the map)", type="pil", format="png")
                    alts = gr.Gallery(label="alternative colourings", format="png", columns=3)
        one_queue = {"concurrency_limit": 1, "concurrency_id": "colour"}  # every request in one line
        go.click(compare, [inp, chosen, temp], [slider, gallery, conf, alts, msg], api_name="compare", **one_queue)
        api_in = UploadImage(type="filepath", visible=False, label="image")
        api_model = gr.Textbox(visible=False, label="model")
        api_temp = gr.Number(visible=False, label="temperature")
        api_out = gr.Image(type="pil", format="png", visible=False, label="colour")
        api_msg = gr.Textbox(visible=False, label="message")
        gr.Button(visible=False).click(
            colorize_one, [api_in, api_model, api_temp], [api_out, api_msg], api_name="colorize", **one_queue
        )
    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return app


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    models: list[str] | None = None,
    out: Path | None = None,
    engine: str = "torch",
) -> None:
    """Start the server (blocking)."""
    global SAVE_DIR
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the server process is ours from here on
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if out is not None:
        check_writable(out)
        SAVE_DIR = out
    app = build_app(models, engine)
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
