"""What a run owns in its output folder, recorded in ``OUT/.chromatize-manifest.json``.

For every output written: which input (path, size, modification time), with which settings (model,
its card, decoding values, render size, flip, format, confidence, this input's hints), and its side
outputs (the confidence map). The next run into the same folder decides from it, not from names:

- an input keeps the output name it had (adding ``photo.jpg`` beside ``photo.png`` does not move
  ``photo.png``'s colouring; the newcomer gets ``photo-2.png``), and names recorded for other inputs are
  never handed out;
- unchanged input, same settings: skipped; changed input (size or time): coloured again, with a note;
- other settings (another model, temperature, hints, ...): skipped with a note naming what changed,
  unless ``--overwrite``;
- an input that is gone leaves its output alone.
An output that exists but is not in the manifest is handled as before manifests: replaced only when
chromatize wrote it (`imageio.is_ours`) and ``--overwrite`` is given.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .imageio import atomic_write_text

NAME = ".chromatize-manifest.json"
VERSION = 1


def fingerprint(src: Path) -> dict[str, int] | None:
    try:
        st = os.stat(src)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def changes(old: dict, new: dict) -> str:
    """What differs between two settings records, in words (``temperature 0.7 -> 0.3``)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if k == "decoding" and isinstance(a, dict) and isinstance(b, dict):
            out += [f"{d} {a.get(d)} -> {b.get(d)}" for d in sorted(set(a) | set(b)) if a.get(d) != b.get(d)]
        elif k in ("card", "hints"):
            out.append(f"{k} changed")
        else:
            out.append(f"{k.replace('_', ' ')} {a} -> {b}")
    return ", ".join(out) or "settings changed"


@dataclass
class Manifest:
    out: Path
    entries: dict[str, dict] = field(default_factory=dict)  # output path relative to OUT -> record
    note: str = ""
    _index: tuple | None = field(default=None, repr=False, compare=False)  # see `_names`

    @classmethod
    def load(cls, out: Path) -> Manifest:
        m = cls(Path(out))
        path = m.out / NAME
        try:
            d = json.loads(path.read_text())
            if not (isinstance(d, dict) and isinstance(d.get("outputs"), dict)):
                raise ValueError("not a manifest")
            m.entries = {str(k): v for k, v in d["outputs"].items() if isinstance(v, dict)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            m.note = f"{path} is unreadable ({e}); outputs are judged by their files alone this time"
        return m

    def key(self, dst: Path) -> str:
        try:
            return Path(os.path.relpath(dst, self.out)).as_posix()
        except ValueError:
            return str(dst)

    def _names(self) -> tuple[dict[str, str], dict[str, set[str]]]:
        """(input -> its first recorded output, lower-case output or side name -> the inputs it is
        recorded for), built once and again only after `record`: a batch of N inputs asks N times."""
        if self._index is None:
            by_input: dict[str, str] = {}
            owners: dict[str, set[str]] = {}
            for k, v in self.entries.items():
                src = v.get("input")
                by_input.setdefault(src, k)
                for n in (k, *v.get("side", [])):
                    owners.setdefault(n.lower(), set()).add(src)
            self._index = (by_input, owners)
        return self._index

    def output_of(self, src: Path) -> str | None:
        """The output (relative) recorded for input ``src``, if any."""
        return self._names()[0].get(str(_absolute(src)))

    def owned_by_other(self, dst: Path, src: Path) -> bool:
        """Whether ``dst`` is recorded (as an output or a side output) for an input other than ``src``."""
        return bool(self._names()[1].get(self.key(dst).lower(), set()) - {str(_absolute(src))})

    def record(self, dst: Path, src: Path, settings: dict, side: list[Path]) -> None:
        self._index = None
        self.entries[self.key(dst)] = {
            "input": str(_absolute(src)),
            **(fingerprint(src) or {}),
            "settings": settings,
            "side": [self.key(p) for p in side],
        }

    def save(self) -> None:
        if self.entries:
            text = json.dumps({"version": VERSION, "outputs": self.entries}, indent=1, sort_keys=True)
            atomic_write_text(self.out / NAME, text)

    def decide(self, src: Path, dst: Path, settings: dict, overwrite: bool) -> tuple[str, str]:
        """("new" | "skip" | "changed" | "redo" | "legacy", reason) for writing ``src``'s colouring to
        ``dst``. ``changed``: skipped, but made with other settings (worth a note); ``legacy``: the output
        exists but is not recorded: the file itself decides (`imageio.is_ours`)."""
        try:
            there = dst.exists() or dst.is_symlink()
        except OSError:
            return "new", ""  # the writer reports why (a name too long, ...)
        if not there:
            return "new", ""
        e = self.entries.get(self.key(dst))
        if e is None or e.get("input") != str(_absolute(src)):
            return "legacy", ""
        fp = fingerprint(src)
        if fp is not None and (e.get("size"), e.get("mtime_ns")) != (fp["size"], fp["mtime_ns"]):
            return "redo", "the input changed since it was coloured; coloured again"
        if overwrite:
            return "redo", ""
        if e.get("settings") != settings:
            what = changes(e.get("settings") or {}, settings)
            return "changed", f"coloured earlier with other settings ({what}); --overwrite colours it again"
        return "skip", "output exists (use --overwrite)"


def _absolute(p: Path) -> Path:
    try:
        return Path(p).resolve()
    except (OSError, RuntimeError):
        return Path(p).absolute()
