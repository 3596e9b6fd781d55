"""Colour hints a person gives: points, a scribble, a reference photo; parsed, checked and stored.

A `Hint` says "the object at (x, y) is this colour". Coordinates are input pixels (integers) or
fractions of the width and height (numbers with a fractional part, 0 < v < 1, e.g. 0.4); the colour is
``#rrggbb``, ``#rgb`` or a CSS colour name. Only the hint's chroma is used: the photo keeps its own
lightness. `HintSet` bundles the points, an optional scribble (an RGBA image of the photo's size, colours
painted on transparent ground) and an optional reference photo whose colours are borrowed.

The JSON file that ``--hints`` reads (and the demo writes) maps input file names to their hints::

    {"version": 1,
     "images": {"photo.jpg": {"points": [{"x": 0.42, "y": 0.7, "colour": "#1f4fa0", "radius": 6}]}}}

A key may be the file's name or its path as given on the command line; ``"*"`` applies to every input.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageColor

from .errors import ChromatizeError

HINTS_VERSION = 1
MAX_POINTS = 1000
MAX_RADIUS = 500


def parse_colour(text: str) -> tuple[int, int, int]:
    """``#rrggbb``, ``#rgb`` or a CSS colour name -> 8-bit RGB; ChromatizeError otherwise."""
    try:
        rgb = ImageColor.getrgb(str(text).strip())
    except (ValueError, AttributeError):
        raise ChromatizeError(f"unknown colour {text!r}: give #rrggbb or a CSS colour name such as 'navy'") from None
    return tuple(int(v) for v in rgb[:3])  # type: ignore[return-value]


def _coord(v: Any, what: str) -> float | int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise ChromatizeError(f"hint {what} must be a number, got {v!r}")
    return int(v) if isinstance(v, int) or float(v).is_integer() else float(v)


@dataclass(frozen=True)
class Hint:
    """One colour point: position (pixels, or fractions 0 < v < 1), colour, optional radius in pixels."""

    x: float
    y: float
    colour: str
    radius: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "x", _coord(self.x, "x"))
        object.__setattr__(self, "y", _coord(self.y, "y"))
        parse_colour(self.colour)
        if self.radius is not None:
            r = _coord(self.radius, "radius")
            if not 0 <= r <= MAX_RADIUS:
                raise ChromatizeError(f"hint radius must lie in [0, {MAX_RADIUS}] pixels, got {self.radius!r}")

    @property
    def rgb(self) -> tuple[int, int, int]:
        return parse_colour(self.colour)

    def position(self, width: int, height: int) -> tuple[float, float]:
        """Pixel position in an image of ``width`` x ``height``; ChromatizeError when outside it."""
        x = self.x * width if isinstance(self.x, float) and 0 < self.x < 1 else self.x
        y = self.y * height if isinstance(self.y, float) and 0 < self.y < 1 else self.y
        if not (0 <= x < width and 0 <= y < height):
            raise ChromatizeError(f"hint at ({self.x}, {self.y}) lies outside the {width}x{height} image")
        return float(x), float(y)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: Any) -> Hint:
        if not isinstance(d, dict) or not {"x", "y"} <= set(d) or not ({"colour", "color"} & set(d)):
            raise ChromatizeError(f"a hint point needs x, y and colour, got {d!r}"[:200])
        extra = set(d) - {"x", "y", "colour", "color", "radius"}
        if extra:
            raise ChromatizeError(f"a hint point has no field {sorted(extra)[0]!r} (its fields: x, y, colour, radius)")
        return cls(d["x"], d["y"], d.get("colour", d.get("color")), d.get("radius"))

    @classmethod
    def parse(cls, text: str) -> Hint:
        """``X,Y,COLOUR[,RADIUS]`` as given to ``--hint``."""
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) not in (3, 4):
            raise ChromatizeError(f"--hint takes X,Y,COLOUR[,RADIUS] (e.g. 0.4,0.7,#1f4fa0), got {text!r}")

        def num(s: str, what: str) -> float | int:
            try:
                return int(s) if s.lstrip("-").isdigit() else float(s)
            except ValueError:
                raise ChromatizeError(f"--hint {text!r}: {what} must be a number, got {s!r}") from None

        radius = num(parts[3], "radius") if len(parts) == 4 else None
        return cls(num(parts[0], "x"), num(parts[1], "y"), parts[2], radius)


@dataclass
class HintSet:
    """Everything a person said about one photo's colours."""

    points: list[Hint] = field(default_factory=list)
    scribble: Image.Image | None = None  # RGBA, the photo's size; opaque pixels are hints
    reference: Image.Image | None = None  # a colour photo whose colours to borrow

    def __post_init__(self):
        self.points = [p if isinstance(p, Hint) else Hint.from_dict(p) for p in self.points]
        if len(self.points) > MAX_POINTS:
            raise ChromatizeError(f"at most {MAX_POINTS} hint points per image, got {len(self.points)}")

    @property
    def placed(self) -> bool:
        """Whether hints sit on the photo itself (points or a scribble; a reference does not)."""
        return bool(self.points) or self.scribble is not None

    def __bool__(self) -> bool:
        return self.placed or self.reference is not None

    def check(self, width: int, height: int) -> None:
        """Every point inside the image and the scribble of its size (one-line errors)."""
        for p in self.points:
            p.position(width, height)
        if self.scribble is not None and self.scribble.size != (width, height):
            w, h = self.scribble.size
            raise ChromatizeError(
                f"the scribble is {w}x{h} but the photo is {width}x{height}: paint on a same-size PNG"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"points": [p.to_dict() for p in self.points]}


def load_scribble(src: str | Path | Image.Image) -> Image.Image:
    """A scribble (a PNG path or an image: colours on transparent ground) as RGBA; one-line errors."""
    from .imageio import open_image

    img = src if isinstance(src, Image.Image) else open_image(src)
    if img.mode not in ("RGBA", "LA", "PA") and "transparency" not in img.info:
        where = "" if isinstance(src, Image.Image) else f"{src}: "
        raise ChromatizeError(f"{where}a scribble needs a transparent ground (an RGBA PNG with colours painted on it)")
    return img.convert("RGBA")


def load_reference(src: str | Path | Image.Image) -> Image.Image:
    """A reference photo (a path chromatize reads, or an image); it must be in colour."""
    from .imageio import is_grayscale, open_image

    img = src if isinstance(src, Image.Image) else open_image(src)
    if is_grayscale(img):
        where = "" if isinstance(src, Image.Image) else f"{src}: "
        raise ChromatizeError(f"{where}the reference photo has no colour to borrow")
    return img.convert("RGB")


def hint_entry(entry: Any, name: str) -> HintSet:
    """The hints of one image as the JSON gives them (``{"points": [...]}``, or the bare list), checked."""
    if isinstance(entry, list):
        entry = {"points": entry}
    if not isinstance(entry, dict) or set(entry) - {"points"}:
        raise ChromatizeError(f'hints for {name!r} must be {{"points": [...]}}')
    try:
        return HintSet(list(entry.get("points", [])))
    except ChromatizeError as e:
        raise ChromatizeError(f"hints for {name}: {e}") from None


def hints_table(images: dict[str, Any]) -> dict[str, HintSet]:
    """The ``images`` object of a hints file (input name -> its hints) as checked `HintSet`s."""
    return {str(name): hint_entry(entry, str(name)) for name, entry in images.items()}


def read_hints_file(path: str | Path) -> dict[str, HintSet]:
    """Per-input hints from a JSON file (format in this module's doc); checked, one-line errors."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ChromatizeError(f"{path}: not a readable hints file ({e})") from None
    if not isinstance(d, dict) or not isinstance(d.get("images"), dict):
        raise ChromatizeError(
            f'{path}: a hints file is {{"version": 1, "images": {{"<file name>": {{"points": [...]}}}}}}'
        )
    if d.get("version", HINTS_VERSION) != HINTS_VERSION:
        raise ChromatizeError(f"{path}: hints file version {d.get('version')!r}; this chromatize reads version 1")
    try:
        return hints_table(d["images"])
    except ChromatizeError as e:
        raise ChromatizeError(f"{path}: {e}") from None


def hints_json(per_image: dict[str, HintSet]) -> str:
    """The JSON that `read_hints_file` reads back."""
    return json.dumps({"version": HINTS_VERSION, "images": {k: v.to_dict() for k, v in per_image.items()}}, indent=2)


def hints_for(table: dict[str, HintSet], src: str | Path) -> HintSet | None:
    """The hints of one input: those under its path as given (else its name), plus those under ``"*"``."""
    own = table.get(str(src)) or table.get(Path(src).name)
    every = table.get("*")
    if own is None and every is None:
        return None
    return HintSet([*(own.points if own else []), *(every.points if every else [])])
