"""The model card: the typed, validated home of a trained model's facts and chosen values (``config.json``).

The knobs themselves, their ranges and their untrained defaults are declared by the family's option specs
(`base.Family`); the card holds the values a trained model uses.

A plain dataclass (standard library: no import cost on the inference path, and validation that raises
our own one-line ChromatizeError naming the field) rather than pydantic. Training writes it, tuning
updates it, `store.load_model_dir` reads and validates it. It never holds a machine path: training
data is described by name and counts, and figures are keyed by the set they were measured on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ChromatizeError
from .registry import get_family

CARD_VERSION = 2
RENDER_SIZE_RANGE = (16, 4096)
RENDER_MIN_MAX = 1024  # a card's smallest render size: at most ~1.5 MP through the network, whatever the input
CARD_MAX_BYTES = 1_000_000


def _finite_numbers(d: Any, where: str) -> None:
    if isinstance(d, dict):
        for k, v in d.items():
            _finite_numbers(v, f"{where}.{k}")
    elif isinstance(d, float) and not math.isfinite(d):
        raise ChromatizeError(f"model card: {where} is not a finite number ({d})")


def _no_paths(d: Any, where: str) -> None:
    if isinstance(d, dict):
        for k, v in d.items():
            _no_paths(v, f"{where}.{k}")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            _no_paths(v, f"{where}[{i}]")
    elif isinstance(d, str) and (d.startswith(("/", "~")) or (len(d) > 2 and d[1:3] in (":\\", ":/"))):
        raise ChromatizeError(f"model card: {where} holds a machine path ({d!r}); describe data by name and counts")


@dataclass
class ModelCard:
    """Facts and defaults of one model.

    Attributes:
        family: model family name (see `registry.FAMILIES`).
        color_space: ``luv`` or ``lab``: the chroma the network predicts.
        size: training working size in pixels (square crops).
        options: architecture options, checked by the family.
        inference: decoding defaults (family-specific, e.g. ``temperature``) and ``render_size``
            (longer side the network sees, pixels).
        training: provenance: data by name and image counts, stages, steps, training options.
        metrics: ``{set name: {figure: value}}``; the set name says where it was measured
            (``carved_val`` = a split carved from the training data, ``bsds300``, ``kodak24``, ...).
    """

    family: str
    color_space: str = "luv"
    size: int = 64
    options: dict[str, Any] = field(default_factory=dict)
    inference: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = CARD_VERSION

    # ------------------------------------------------------------------ views
    @property
    def family_obj(self):
        return get_family(self.family)

    @property
    def decoding(self) -> dict[str, Any]:
        """The family's decoding options with this card's values (what inference uses by default)."""
        fam = self.family_obj
        return fam.check_decoding({k: v for k, v in self.inference.items() if k in fam.decoding})

    @property
    def render_size(self) -> int:
        return int(self.inference.get("render_size", self.family_obj.default_render_size))

    @property
    def render_min(self) -> int:
        """Inputs whose longer side is below this are upscaled to it before the network (0: never)."""
        return int(self.inference.get("render_min", 0))

    @property
    def flip_average(self) -> bool:
        """Average the network's output over the input and its mirror image (twice the network time)."""
        return bool(self.inference.get("flip_average", False))

    # ------------------------------------------------------------------ checks and (de)serialisation
    def validate(self) -> ModelCard:
        """Check every field; returns self, or raises ChromatizeError naming the bad field."""
        from ..color import COLOR_SPACES

        fam = self.family_obj  # raises on an unknown family
        if self.color_space not in COLOR_SPACES:
            raise ChromatizeError(
                f"model card: color_space must be one of {', '.join(COLOR_SPACES)}, got {self.color_space!r}"
            )
        if not isinstance(self.size, int) or isinstance(self.size, bool) or not 8 <= self.size <= 4096:
            raise ChromatizeError(f"model card: size must be an integer in [8, 4096], got {self.size!r}")
        self.options = fam.check_options(self.options)
        extra = set(self.inference) - set(fam.decoding) - {"render_size", "render_min", "flip_average"}
        if extra:
            raise ChromatizeError(f"model card: {self.family} has no inference default {sorted(extra)[0]!r}")
        fam.check_decoding({k: v for k, v in self.inference.items() if k in fam.decoding})
        rs = self.inference.get("render_size", fam.default_render_size)
        lo, hi = RENDER_SIZE_RANGE
        if not isinstance(rs, int) or isinstance(rs, bool) or not lo <= rs <= hi:
            raise ChromatizeError(f"model card: inference.render_size must be an integer in [{lo}, {hi}], got {rs!r}")
        rm = self.inference.get("render_min", 0)
        if not isinstance(rm, int) or isinstance(rm, bool) or not 0 <= rm <= RENDER_MIN_MAX:
            raise ChromatizeError(
                f"model card: inference.render_min must be an integer in [0, {RENDER_MIN_MAX}], got {rm!r}"
            )
        if not isinstance(self.inference.get("flip_average", False), bool):
            raise ChromatizeError(
                f"model card: inference.flip_average must be true or false, got {self.inference['flip_average']!r}"
            )
        _finite_numbers(self.metrics, "metrics")
        _no_paths(self.training, "training")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        if not isinstance(d, dict) or not isinstance(d.get("family"), str):
            raise ChromatizeError("model card: not a chromatize model card (no family)")
        known = {"family", "color_space", "size", "options", "inference", "training", "metrics", "version"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ChromatizeError(f"model card: unknown field {unknown[0]!r}")
        for k in ("options", "inference", "training", "metrics"):
            if not isinstance(d.get(k, {}), dict):
                raise ChromatizeError(f"model card: {k} must be an object")
        return cls(**d).validate()

    @classmethod
    def read(cls, path: str | Path) -> ModelCard:
        try:
            if Path(path).stat().st_size > CARD_MAX_BYTES:
                raise ChromatizeError(f"{path}: a model card of {Path(path).stat().st_size} bytes; cards are small")
            d = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            why = "nested too deeply" if isinstance(e, RecursionError) else e
            raise ChromatizeError(f"{path}: not a readable model card ({why})") from None
        try:
            return cls.from_dict(d)
        except ChromatizeError as e:
            raise ChromatizeError(f"{path}: {e}") from None

    def write(self, path: str | Path) -> None:
        from ..imageio import atomic_write_text

        atomic_write_text(Path(path), self.validate().to_json())
