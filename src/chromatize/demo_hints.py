"""The demo's "Colour hints" tab: click the photo to say "this is that colour", see it recoloured.

The network runs once per upload (`HintSession` keeps its result in the browser session's state); each
click only re-runs the propagation (`steer`) and composes a preview at most `PREVIEW` pixels wide, so a
point updates the picture quickly. The full-size PNG and the hints as JSON (what ``chromatize colorize
--hints`` reads) are downloads.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from PIL import Image

from . import color, inference
from .errors import ChromatizeError
from .hints import Hint, HintSet, hints_json

PREVIEW = 800  # longer side of the interactive picture (pixels)
SWATCHES = 5  # the model's likeliest colours offered at a clicked point
ADD = "add a point"


@dataclass
class HintSession:
    """One person's photo, its network run and their hints (kept in the session's Gradio state)."""

    name: str = ""
    result: Any = None  # inference.ColourResult
    points: list[Hint] = field(default_factory=list)
    reference: Image.Image | None = None

    def hints(self) -> HintSet:
        return HintSet(list(self.points), reference=self.reference)

    def picture(self) -> Image.Image:
        return self.result.preview(PREVIEW).image(hints=self.hints())

    def scale(self) -> float:
        h, w = self.result.prepared.l_full.shape
        return max(h, w) / min(max(h, w), PREVIEW)

    def table(self) -> list[list[Any]]:
        return [[i + 1, round(p.x), round(p.y), p.colour] for i, p in enumerate(self.points)]

    def swatches(self, x: float, y: float) -> list[str]:
        """The model's likeliest colours at input pixel (x, y), as ``#rrggbb`` at that pixel's lightness."""
        pred = self.result.prediction
        if "distribution" not in pred.offers:
            return []
        h, w = self.result.prepared.l_full.shape
        rh, rw = pred.l_n.shape[-2:]
        top = pred.top_colours(x * rw / w, y * rh / h, SWATCHES, **self.result.decoding)
        l_n = float(self.result.prepared.l_full[int(y), int(x)]) / color.L_SCALE - 1.0
        out = []
        for ab, _ in top:
            rgb = color.lc_to_rgb(torch.tensor([[[[l_n]]]]), ab.view(1, 2, 1, 1), self.result.model.space)[0, :, 0, 0]
            out.append("#" + "".join(f"{int(round(float(v) * 255)):02x}" for v in rgb))
        return out


def swatch_html(colours: list[str]) -> str:
    if not colours:
        return ""
    cells = "".join(
        f'<span title="{c}" style="display:inline-block;width:2.2em;height:2.2em;margin:2px;'
        f'border:1px solid #888;background:{c}"></span>'
        for c in colours
    )
    return f"<div>the model's likeliest colours there: {cells}</div>"


def _targets(s: HintSession) -> list[str]:
    return [ADD] + [f"move point {i + 1}" for i in range(len(s.points))]


class HintTab:
    """Handlers of the tab; ``srv`` is the `demo.DemoServer` (models offered, loading, messages)."""

    def __init__(self, srv):
        self.srv = srv

    def _out(self, s: HintSession, msg: str, colours: list[str] | None = None):
        pic = s.picture() if s.result is not None else None
        radio = gr.update(choices=colours or [], value=None)
        return (s, pic, s.table(), gr.update(choices=_targets(s), value=ADD), radio, swatch_html(colours or []), msg)

    def upload(self, path: str | None, model: str | None):
        s = HintSession()
        try:
            m = self.srv.model(model)
            img = self.srv.load(path)
            s.name, s.result = Path(path).name, inference.analyse(img, m)
            return self._out(s, f"Click the photo to place a point of the chosen colour ({img.width}x{img.height}).")
        except ChromatizeError as e:
            return self._out(s, self.srv.message(e))

    def click(self, s: HintSession, colour: str, target: str, evt: gr.SelectData):
        if s is None or s.result is None:
            return self._out(HintSession(), "Upload a photo first.")
        try:
            k = s.scale()
            x, y = evt.index[0] * k, evt.index[1] * k
            h, w = s.result.prepared.l_full.shape
            x, y = min(max(x, 0), w - 1), min(max(y, 0), h - 1)
            hint = Hint(int(x), int(y), colour or "#808080")
            if target and target.startswith("move point "):
                i = int(target.rsplit(" ", 1)[1]) - 1
                s.points[i] = Hint(hint.x, hint.y, s.points[i].colour, s.points[i].radius)
                msg = f"Point {i + 1} moved to ({hint.x}, {hint.y})."
            else:
                s.points.append(hint)
                msg = f"Point {len(s.points)} at ({hint.x}, {hint.y}): {hint.colour}."
            return self._out(s, msg, s.swatches(x, y))
        except ChromatizeError as e:
            return self._out(s, self.srv.message(e))

    def recolour_last(self, s: HintSession, colour: str | None):
        """A swatch or the colour picker changed: the last point takes that colour."""
        if s is None or s.result is None or not s.points or not colour:
            return self._out(s or HintSession(), "")
        p = s.points[-1]
        s.points[-1] = Hint(p.x, p.y, colour, p.radius)
        return self._out(s, f"Point {len(s.points)} is now {colour}.")

    def undo(self, s: HintSession):
        if s is not None and s.points:
            s.points.pop()
        return self._out(s or HintSession(), "Last point removed.")

    def clear(self, s: HintSession):
        if s is not None:
            s.points.clear()
        return self._out(s or HintSession(), "All points cleared.")

    def reference(self, s: HintSession, path: str | None):
        from .hints import load_reference

        if s is None or s.result is None:
            return self._out(HintSession(), "Upload a photo first.")
        try:
            s.reference = load_reference(self.srv.load(path)) if path else None
            return self._out(s, "Reference applied." if path else "Reference removed.")
        except ChromatizeError as e:
            s.reference = None
            return self._out(s, self.srv.message(e))

    def downloads(self, s: HintSession):
        """The full-size PNG and the hints JSON as files to download."""
        if s is None or s.result is None:
            return None, None
        folder = Path(tempfile.mkdtemp(prefix="chromatize-hints-"))
        png, js = folder / f"{Path(s.name).stem}.png", folder / f"{Path(s.name).stem}.hints.json"
        s.result.image(hints=s.hints()).save(png)
        js.write_text(hints_json({s.name: HintSet(list(s.points))}))
        return str(png), str(js)


def build_tab(srv, names: list[str], upload: type, served=lambda fn: fn) -> None:
    """The tab's components and events (inside the caller's ``gr.Blocks``); ``upload``: the image
    component class that hands uploads to our own reader; ``served``: wraps each handler so that its
    images reach Gradio as files (`demo.Served`)."""
    tab = HintTab(srv)
    state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            photo = upload(
                type="filepath", label="photo", sources=["upload", "clipboard"], format="png", elem_id="hint-photo"
            )
            model = gr.Dropdown(names, value=names[0] if names else None, label="model")
            colour = gr.ColorPicker("#1f4fa0", label="colour of the next point")
            target = gr.Radio([ADD], value=ADD, label="a click will")
            swatches = gr.Radio([], label="or take one of the model's colours for the last point")
            swatch_view = gr.HTML()
            with gr.Row():
                undo = gr.Button("Undo")
                clear = gr.Button("Clear")
            ref = upload(type="filepath", label="reference photo (optional)", sources=["upload"], format="png")
            table = gr.Dataframe(headers=["point", "x", "y", "colour"], label="points", interactive=False)
            save = gr.Button("Prepare downloads")
            png, js = gr.File(label="full-size PNG"), gr.File(label="hints JSON (chromatize colorize --hints)")
        with gr.Column(scale=2):
            picture = gr.Image(
                label="click to place a point", type="pil", format="png", interactive=False, elem_id="hint-picture"
            )
            msg = gr.Markdown(elem_id="hint-message")
    outs = [state, picture, table, target, swatches, swatch_view, msg]
    one = {"concurrency_limit": 1, "concurrency_id": "colour"}
    photo.change(served(tab.upload), [photo, model], outs, **one)
    model.change(served(tab.upload), [photo, model], outs, **one)
    picture.select(served(tab.click), [state, colour, target], outs, **one)
    swatches.input(served(tab.recolour_last), [state, swatches], outs, **one)
    colour.input(served(tab.recolour_last), [state, colour], outs, **one)
    undo.click(served(tab.undo), [state], outs, **one)
    clear.click(served(tab.clear), [state], outs, **one)
    ref.change(served(tab.reference), [state, ref], outs, **one)
    save.click(tab.downloads, [state], [png, js], **one)
