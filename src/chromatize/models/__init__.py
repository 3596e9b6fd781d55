"""The three model families, built by name through `registry`."""

from .registry import FAMILIES, build, load_model_dir, save_model_dir  # noqa: F401
