"""Decoding knobs as command-line options, generated from the families' specs when a command runs.

No command names a knob: `KnobCommand` adds one ``--<knob>`` option per decoding option that any
registered family declares (`models.base.Family.decoding`), with that spec's help and range, and hands
the given values to the command as ``ctx.meta["decoding"]`` (only those given). A family that gains a
knob, or a new family, shows up in ``--help`` and is accepted with no edit here or in a command.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import typer
from typer.core import TyperCommand

PREFIX = "knob__"


def decoding_knobs() -> dict[str, tuple[Any, list[str]]]:
    """Knob name -> (its Option in the first family declaring it, the families declaring it)."""
    from ..models.registry import FAMILIES

    out: dict[str, tuple[Any, list[str]]] = {}
    for fam in FAMILIES.values():
        for key, opt in fam.decoding.items():
            out.setdefault(key, (opt, []))[1].append(fam.name)
    return out


def _py_type(opt: Any, many: bool) -> Any:
    if many or opt.default is None or isinstance(opt.default, (bool, str)):
        return str  # lists (a tuning grid) and booleans are parsed and checked by the family's spec
    return type(opt.default)


def knob_params(many: bool = False) -> list:
    """One Typer option per decoding knob of the registered families (built through Typer's public API
    from a generated signature, so they render and parse like every other option)."""
    params = []
    for key, (opt, fams) in decoding_knobs().items():
        rng = f" [{opt.low:g}..{opt.high:g}]" if opt.low is not None and opt.high is not None else ""
        what = "values to try, comma-separated" if many else "default: the model card's"
        help_ = f"{opt.help}{rng} ({', '.join(fams)}; {what})."
        default = typer.Option(None, f"--{key.replace('_', '-')}", help=help_)
        kind = inspect.Parameter.KEYWORD_ONLY
        params.append(
            inspect.Parameter(f"{PREFIX}{key}", kind, default=default, annotation=Optional[_py_type(opt, many)])
        )

    def knobs(**kw):  # pragma: no cover - never called: only its signature is read
        pass

    knobs.__signature__ = inspect.Signature(params)
    tmp = typer.Typer()
    tmp.command()(knobs)
    tmp.command("unused")(lambda: None)  # a group, so the command keeps its name
    return list(typer.main.get_command(tmp).commands["knobs"].params)


class KnobCommand(TyperCommand):
    """A Typer command whose decoding-knob options come from the family registry when it runs.

    ``many_knobs``: each knob takes a comma-separated list (``tune``'s grid) instead of one value. The
    command function takes ``ctx: typer.Context`` and reads the given knobs with `given_knobs`.
    """

    many_knobs = False

    def get_params(self, ctx) -> list:
        own = super().get_params(ctx)
        names = {p.name for p in own}
        extra = [p for p in knob_params(self.many_knobs) if p.name not in names]
        return own[:-1] + extra + own[-1:]  # before --help

    def invoke(self, ctx) -> Any:
        knobs = {k[len(PREFIX) :]: ctx.params.pop(k) for k in list(ctx.params) if k.startswith(PREFIX)}
        ctx.meta["decoding"] = {k: v for k, v in knobs.items() if v is not None}
        return super().invoke(ctx)


class KnobGridCommand(KnobCommand):
    many_knobs = True


def given_knobs(ctx: typer.Context) -> dict[str, Any]:
    """The decoding knobs given on the command line of the running command (name -> value)."""
    return dict(ctx.meta.get("decoding", {}))
