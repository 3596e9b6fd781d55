"""A strip of frames for the README: the input, frame-by-frame colour and steady colour, one row each.

    python benchmarks/film_strip.py ../shared/data/clips/dance-twirl -o docs/film_clip.jpg --truth
    python benchmarks/film_strip.py ../shared/data/old-films/street-chase -o docs/film_old.jpg

With ``--truth`` the clip is a colour clip: its top row is the truth and the network sees only its
lightness. Every ``--step``-th frame of ``--frames`` consecutive ones from the middle, so a colour that
jumps between neighbouring frames shows along a row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chromatize.evaluate.video_bench import colour_clip, film_strip, truth_frames
from chromatize.film import FilmColourer, FilmSettings
from chromatize.inference import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("film", help="folder of numbered frames or a video file")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--truth", action="store_true", help="the film is colour truth (top row 'truth')")
    ap.add_argument("--model", default=None)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--step", type=int, default=2)
    ap.add_argument("--tile", type=int, default=220)
    a = ap.parse_args()
    m = load_model(a.model)
    s = FilmSettings(m.render_size_for(None), m.decoding_for({}))
    col = FilmColourer(m, s)
    frames = truth_frames(a.film)
    outs, _ = colour_clip(col, frames, s.steady)  # the benchmark's own rows: gray, frame by frame, steady
    top = "truth" if a.truth else "input"
    rows = {top: frames if a.truth else outs["gray"], **{k: outs[k] for k in ("frame_by_frame", "steady")}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    film_strip(rows, frames=a.frames, step=a.step, tile=a.tile).save(a.out, quality=85)
    print(f"{len(frames)} frames -> {a.out}")


if __name__ == "__main__":
    main()
