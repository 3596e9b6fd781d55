"""The one colorize pipeline: the CLI, the Python API, evaluation and the demo all call it.

file -> imageio (EXIF, ICC, modes) -> full-resolution L -> L at the render size -> network -> chroma
-> upsampled to full size -> recombined with the full-resolution L (lightness kept) -> RGB (+ alpha).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .errors import ChromatizeError
from .hints import Hint, HintSet
from .imageio import render_shape
from .models.base import Family, Prediction
from .models.card import RENDER_SIZE_RANGE, ModelCard
from .models.netinput import NetInput
from .photo import Prepared, compose, prepare_input, small_l, upsample
from .shipped import WEIGHTS_DIR, default_model_name, shipped_models  # noqa: F401 - part of this module's API


@dataclass
class LoadedModel:
    """A loaded model: network + model card; its family decides how predictions are decoded.

    ``defaults`` are the card's decoding values, checked once when the model is loaded.
    """

    net: torch.nn.Module
    card: ModelCard
    name: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    engine: str = "torch"
    runner: Any = None  # the engine's replacement for the network part (None: torch)
    defaults: dict[str, Any] = field(init=False)

    def __post_init__(self):
        self.defaults = self.card.decoding

    @property
    def family(self) -> Family:
        return self.card.family_obj

    @property
    def space(self) -> str:
        return self.card.color_space

    @property
    def render_size(self) -> int:
        return self.card.render_size

    def decoding_for(self, given: dict[str, Any]) -> dict[str, Any]:
        """The complete decoding values: the card's, overridden by the non-None ``given`` ones (checked
        here, once; an option the family lacks is an error)."""
        given = {k: v for k, v in given.items() if v is not None}
        if not given:
            return dict(self.defaults)
        checked = self.family.check_decoding(given)
        return {**self.defaults, **{k: checked[k] for k in given}}

    def render_size_for(self, render_size: int | None) -> int:
        """``render_size`` checked, or the card's when None."""
        return self.render_size if render_size is None else check_render_size(render_size)

    @property
    def takes_hints(self) -> bool:
        """Whether the network itself takes colour hints as input planes (a learned-hints model)."""
        return bool(self.card.options.get("hints", False))

    def network_input(self, l_small: torch.Tensor, conditioning: dict[str, Any] | None = None) -> NetInput:
        """What the network sees for normalised L ``[B,1,h,w]`` (built by the family)."""
        return self.family.inference_input(l_small, conditioning)

    @torch.no_grad()
    def predict(self, inp: NetInput | torch.Tensor, flip: bool | None = None) -> Prediction:
        """Run the network on ``inp`` (normalised L alone, or a NetInput), and on its mirror image when
        ``flip`` (default: the card's ``flip_average``)."""
        flip = self.card.flip_average if flip is None else flip
        if isinstance(inp, torch.Tensor):
            inp = self.network_input(inp)
        if self.device.type == "cpu" and self.runner is None:
            from .threads import POLICY

            POLICY.apply()  # as many threads as cores are free now (see `threads`)
        return self.family.predict(self.net, inp.to(self.device), self.runner, flip=flip)


CACHE_SIZE = 4  # loaded models kept per process (least recently used dropped first)
_CACHE: OrderedDict[tuple, LoadedModel] = OrderedDict()


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ChromatizeError("--device cuda: no CUDA GPU is available here (use --device cpu)")
    if device not in ("cpu", "cuda"):
        raise ChromatizeError(f"--device takes auto, cpu or cuda, got {device!r}")
    return torch.device(device)


def model_folder(name_or_dir: str | Path | None) -> Path:
    """The resolved folder of a shipped model name (``None`` = the default) or a model/run folder."""
    if name_or_dir is None:
        name_or_dir = default_model_name()
    p = Path(name_or_dir)
    if not p.exists():
        shipped = shipped_models()
        if str(name_or_dir) not in shipped:
            names = ", ".join(shipped) or "none installed"
            raise ChromatizeError(f"no model {name_or_dir!r}: give a model folder or a shipped name ({names})")
        p = shipped[str(name_or_dir)]
    if p.is_file():
        p = p.parent
    return p.resolve()


def _digest(folder: Path) -> str:
    """The card's bytes and the weights file's size and time: a changed model is loaded again."""
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        f = folder / name
        try:
            st = f.stat()
            h.update(f.read_bytes() if name == "config.json" else f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()


def load_model(name_or_dir: str | Path | None = None, device: str = "cpu", engine: str = "torch") -> LoadedModel:
    """A shipped model by name (``None`` = the default) or a model/run folder.

    Cached per process (at most `CACHE_SIZE` models), keyed by the resolved folder and a digest of its
    card and weights, so an edited card (``tune --write``) is seen at once. ``engine``: ``torch``
    (reference), ``openvino`` or ``auto`` (OpenVINO when installed and the model converts); see `engines`.
    """
    from .engines import make_runner
    from .models.store import load_model_dir

    dev = resolve_device(device)
    given = name_or_dir
    p = model_folder(name_or_dir)
    key = (str(p), _digest(p), str(dev), engine)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    net, card = load_model_dir(p)
    net = net.to(dev).eval()
    used, runner = make_runner(engine, net, card.to_json(), dev)
    name = str(given) if given is not None else default_model_name()
    m = LoadedModel(net, card, name=name, device=dev, engine=used, runner=runner)
    _CACHE[key] = m
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return m


# ---------------------------------------------------------------- public API


def _model(model: LoadedModel | str | Path | None) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model)


@dataclass
class ColourResult:
    """One input and one network run: the colour image, the confidence map and alternatives are views."""

    model: LoadedModel
    prepared: Prepared
    prediction: Prediction
    decoding: dict[str, Any]  # complete and checked
    frame: tuple[int, int] | None = None  # (width, height) of the input hints refer to (None: prepared's)
    l_small: torch.Tensor | None = None  # the network's input L (a hint-taking network runs again with hints)
    flip: bool | None = None

    @property
    def offers(self) -> frozenset[str]:
        return self.prediction.offers

    def _decoding(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """This result's decoding values with ``overrides`` (checked), or unchanged without any."""
        return self.model.decoding_for({**self.decoding, **overrides}) if overrides else self.decoding

    def chroma(self, **decoding: Any) -> torch.Tensor:
        """Chroma at the render size ``[1,2,h,w]`` (normalised units; overrides checked here)."""
        return self.prediction.chroma(**self._decoding(decoding))

    def image(self, hints: HintSet | None = None, steering: Any = None, **decoding: Any) -> Image.Image:
        """The coloured image at full resolution (decoding options override this result's), steered by
        ``hints`` when given (see `steer`; ``steering``: its settings). The network does not run again, except
        a hint-taking one (card option ``hints``), which runs once more with the points as its input."""
        if hints:
            from .steer import DEFAULT, steered_chroma

            chroma = steered_chroma(
                self._hinted(hints),
                self._decoding(decoding),
                self.prepared.l_full,
                hints,
                self.model.space,
                steering or DEFAULT,
                self.frame,
            )
            return compose(self.prepared, chroma, self.model.space)
        return compose(self.prepared, self.chroma(**decoding), self.model.space)

    def _hinted(self, hints: HintSet) -> Prediction:
        """The prediction to steer: this one, or for a hint-taking network a new run with the points and
        scribble as its hint planes (`models.hint_planes`)."""
        if not self.model.takes_hints or self.l_small is None or not hints.placed:
            return self.prediction
        from .steer import hint_planes

        h, w = self.prepared.l_full.shape
        planes = hint_planes(hints, self.frame or (w, h), self.l_small.shape[-2:], self.model.space)
        return self.model.predict(self.model.network_input(self.l_small, {"hint_planes": planes}), self.flip)

    def preview(self, max_side: int) -> ColourResult:
        """The same network run, composed at most ``max_side`` pixels on the longer side (an interactive
        view: hints and decoding apply as at full size, the picture is quicker to make)."""
        h, w = self.prepared.l_full.shape
        if max(h, w) <= max_side:
            return self
        ph, pw = render_shape(h, w, max_side)
        small = np.array(Image.fromarray(self.prepared.l_full, "F").resize((pw, ph), Image.BOX), np.float32)
        alpha = None if self.prepared.alpha is None else self.prepared.alpha.resize((pw, ph), Image.BOX)
        return ColourResult(
            self.model, Prepared(small, alpha, {}), self.prediction, self.decoding, (w, h), self.l_small, self.flip
        )

    def confidence(self) -> Image.Image:
        """Per-pixel confidence as an 8-bit gray image of the input's size (255 = certain)."""
        c = self.prediction.confidence()[0].numpy().astype(np.float32)
        full = upsample(c, *self.prepared.l_full.shape)[0]
        return Image.fromarray((np.clip(full, 0, 1) * 255).round().astype(np.uint8), "L")

    def alternatives(self, n: int = 3, seed: int = 0, grid: int = 3) -> list[Image.Image]:
        """``n`` alternative colourings drawn from the predicted distribution; the random perturbation is
        constant over a ``grid`` x ``grid`` field, so regions change colour together."""
        return [
            compose(self.prepared, ab, self.model.space)
            for ab in self.prediction.alternatives(n, seed, grid=grid, **self.decoding)
        ]


def analyse(
    img: Image.Image | np.ndarray | str | Path,
    model: LoadedModel | str | None = None,
    *,
    render_size: int | None = None,
    flip: bool | None = None,
    **decoding: Any,
) -> ColourResult:
    """Run the network once on ``img`` (twice with ``flip``, the card's ``flip_average`` by default);
    colour, confidence and alternatives are then views of the result."""
    m = _model(model)
    opts, rs = m.decoding_for(decoding), m.render_size_for(render_size)
    return _analyse(m, prepare_input(img), opts, rs, flip)


def _analyse(m: LoadedModel, p: Prepared, opts: dict[str, Any], rs: int, flip: bool | None) -> ColourResult:
    """`analyse` with checked settings (batch workers check once per run)."""
    l_small = small_l(p, rs, m.card.render_min)
    return ColourResult(m, p, m.predict(l_small, flip), opts, None, l_small, flip)


def check_render_size(rs: Any) -> int:
    """``rs`` if it is an integer render size in `RENDER_SIZE_RANGE`, else ChromatizeError."""
    lo, hi = RENDER_SIZE_RANGE
    if isinstance(rs, bool) or not isinstance(rs, int) or not lo <= rs <= hi:
        raise ChromatizeError(f"render size must be an integer from {lo} to {hi}, got {rs!r}")
    return rs


def colorize_many(
    images: list,
    model: LoadedModel | str | None = None,
    *,
    render_size: int | None = None,
    batch_size: int = 16,
    flip: bool | None = None,
    **decoding: Any,
) -> list[Image.Image]:
    """Colorize several inputs; inputs of the same render shape go through the network together.
    ``flip``: also run the mirror images and average (default: the model card's ``flip_average``)."""
    m = _model(model)
    opts, rs = m.decoding_for(decoding), m.render_size_for(render_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ChromatizeError(f"batch size must be a positive integer, got {batch_size!r}")
    return _colorize_prepared(m, [prepare_input(i) for i in images], opts, rs, flip, batch_size)


def _colorize_prepared(
    m: LoadedModel, prepared: list[Prepared], opts: dict[str, Any], rs: int, flip: bool | None, batch_size: int
) -> list[Image.Image]:
    """`colorize_many` with checked settings (batch workers check once per run)."""
    smalls = [small_l(p, rs, m.card.render_min) for p in prepared]
    chroma: list[torch.Tensor | None] = [None] * len(prepared)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(smalls):
        groups.setdefault(tuple(s.shape[-2:]), []).append(i)
    for idx in groups.values():
        for k in range(0, len(idx), batch_size):
            chunk = idx[k : k + batch_size]
            ab = m.predict(torch.cat([smalls[i] for i in chunk]), flip).chroma(**opts).cpu()
            for j, i in enumerate(chunk):
                chroma[i] = ab[j : j + 1]
    return [compose(p, c, m.space) for p, c in zip(prepared, chroma)]


def colorize(
    img: Image.Image | np.ndarray | str | Path,
    model: LoadedModel | str | None = None,
    *,
    render_size: int | None = None,
    flip: bool | None = None,
    hints: list[Hint] | HintSet | None = None,
    scribble: Image.Image | str | Path | None = None,
    reference: Image.Image | str | Path | None = None,
    **decoding: Any,
) -> Image.Image:
    """Colorize one image (path, PIL image or numpy array) and return a PIL image of the same size.

    ``decoding`` options are the model's (e.g. ``temperature`` for distribution models); defaults come
    from its model card, as does ``flip`` (average with the mirror image's prediction).

    Colour hints steer the result (`steer`): ``hints`` a list of `Hint` points (``Hint(x, y,
    "#1f4fa0")``: this object is this colour), ``scribble`` an RGBA image of the photo's size with
    colours painted on transparent ground, ``reference`` a colour photo whose colours to borrow.
    """
    hs = hint_set(hints, scribble, reference)
    if hs:
        return analyse(img, model, render_size=render_size, flip=flip, **decoding).image(hints=hs)
    return colorize_many([img], model, render_size=render_size, flip=flip, **decoding)[0]


def hint_set(
    hints: list[Hint] | HintSet | None = None,
    scribble: Image.Image | str | Path | None = None,
    reference: Image.Image | str | Path | None = None,
) -> HintSet:
    """Points, a scribble and a reference (paths or images) as one checked `HintSet`."""
    from .hints import load_reference, load_scribble

    base = hints if isinstance(hints, HintSet) else HintSet(list(hints or []))
    return HintSet(
        list(base.points),
        load_scribble(scribble) if scribble is not None else base.scribble,
        load_reference(reference) if reference is not None else base.reference,
    )  # a new set: a HintSet the caller passed is not changed


def alternatives(
    img,
    n: int = 3,
    model: LoadedModel | str | None = None,
    *,
    render_size: int | None = None,
    seed: int = 0,
    grid: int = 3,
    **decoding: Any,
) -> list[Image.Image]:
    """``n`` alternative colourings (see `ColourResult.alternatives`)."""
    return analyse(img, model, render_size=render_size, **decoding).alternatives(n, seed, grid)


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
