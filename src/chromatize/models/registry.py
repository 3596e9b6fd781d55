"""The model families by name. Adding a family: subclass `base.Family` and list it here."""

from __future__ import annotations

from ..errors import ChromatizeError
from .base import Family
from .classification import ClassificationFamily
from .efficientnet_unet import EfficientNetUNetFamily
from .gan import GANFamily
from .regression import RegressionFamily

FAMILIES: dict[str, Family] = {
    f.name: f for f in (EfficientNetUNetFamily(), ClassificationFamily(), RegressionFamily(), GANFamily())
}


def get_family(name: str) -> Family:
    """The family called ``name``; ChromatizeError listing the known ones otherwise."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ChromatizeError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}") from None


def build(family: str, **options):
    """A fresh network of ``family`` with architecture ``options`` (checked by the family)."""
    return get_family(family).build(options)
