"""Films among a batch's inputs: which inputs are films (video files, folders of numbered frames of one
scene), and colouring several of them (`film.colour_film` each) behind one progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import ChromatizeError
from .film import MIN_FILM_FRAMES, FilmResult, FilmSettings, colour_film
from .inference import LoadedModel
from .video import is_video, numbered_frames


def looks_like_film(folder: Path) -> bool:
    """A folder of at least `MIN_FILM_FRAMES` numbered images of one size whose first two frames show the
    same scene (most pixels keep a consistent optical flow): a film's frames, not a folder of photos."""
    from .imageio import open_image
    from .steady import consistent_flow, dis_flow

    try:
        files = numbered_frames(folder)
    except OSError:
        return False
    if len(files) < MIN_FILM_FRAMES or len({f.suffix.lower() for f in files}) != 1:
        return False
    try:
        a, b, c = (open_image(f) for f in files[:3])
    except ChromatizeError:
        return False
    if not a.size == b.size == c.size:
        return False
    scale = max(1, max(a.size) // 320)
    small = [np.asarray(i.convert("L").reduce(scale)) for i in (a, b)]
    return float(consistent_flow(small[1], small[0], dis_flow("fast"))[1].mean()) >= 0.5


def split_films(inputs: list[str], sequence: bool | None) -> tuple[list[str], list[Path], list[str]]:
    """(photo inputs, films, notes): video files are films; a folder is one when ``sequence`` is True, or
    when it is None and the folder `looks_like_film`."""
    photos, films, notes = [], [], []

    def kind(p: Path) -> str:
        try:  # a path too long or behind an unsearchable folder: the photo batch reports it, alone
            return "file" if p.is_file() else "dir" if p.is_dir() else ""
        except OSError:
            return ""

    for arg in inputs:
        p = Path(arg)
        k = kind(p)
        if k == "file" and is_video(p):
            films.append(p)
        elif k == "dir" and sequence:
            films.append(p)
        elif k == "dir" and sequence is None and looks_like_film(p):
            films.append(p)
            notes.append(f"{arg}: numbered frames of one scene, coloured as a film (--no-sequence: as photos)")
        else:
            photos.append(arg)
    return photos, films, notes


def run_films(
    films: list[Path],
    out: Path,
    model: LoadedModel,
    settings: FilmSettings,
    *,
    overwrite: bool = False,
    progress: bool = True,
    say: Callable[[str], None] = print,
    colour: Callable[..., FilmResult | None] | None = None,
) -> tuple[int, int, int]:
    """Colour each film into ``out``; (done, skipped, failed). A failing film is reported in one line and
    the others continue. ``colour``: what colours one film (default `colour_film`; on a cluster,
    `cluster.colour_film_on_cluster` with its address bound)."""
    colour = colour or colour_film
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    settings.check()
    counts = [0, 0, 0]
    con = Console(stderr=True, soft_wrap=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"))
    with Progress(*columns, TimeRemainingColumn(), console=con, disable=not progress, transient=True) as bar:
        for f in films:
            task = bar.add_task(f.name[:30], total=None)

            def on_frame(done: int, total: int, task=task) -> None:
                bar.update(task, completed=done, total=max(total, done) if total else None)

            try:
                r = colour(f, out, model, settings, overwrite=overwrite, on_frame=on_frame)
            except ChromatizeError as e:
                counts[2] += 1
                say(f"failed {e}")
                continue
            except OSError as e:
                counts[2] += 1
                say(f"failed {f}: {e.strerror or e}{'' if not e.filename else f' ({e.filename})'}")
                continue
            finally:
                bar.remove_task(task)
            if r is None:
                counts[1] += 1
                continue
            counts[0] += 1
            again = f", {r.chunks_reused} chunks from an earlier run" if r.chunks_reused else ""
            say(f"{f.name}: {r.frames} frames, {r.cuts} scene cuts{again} -> {r.dst}")
    return counts[0], counts[1], counts[2]
