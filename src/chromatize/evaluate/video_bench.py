"""`chromatize evaluate --video`: colour clips turned gray, frame by frame and steady, against their truth.

Per row (gray input, frame by frame, steady, and the truth itself where it applies):
- per-frame PSNR (RGB), re-balanced AuC and the colourfulness ratio, as for photos;
- flicker: the temporal warping error of Lai et al. 2018 on the chroma: the mean squared CIELAB a*b*
  difference between each frame and the previous frame warped by the optical flow of the *truth* frames,
  over the pixels that pass the flow's forward-backward check (DIS 'medium' at full resolution, a finer
  flow than the one `steady` uses). The same on RGB (0..1) for comparison with papers, where the
  lightness, which every method takes from the input, dominates.
- splice: two clips joined; at the join the steady colour must restart: the largest a*b* difference
  between the joined run's frames of the second clip and that clip coloured alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..film import FilmColourer, FilmSettings
from ..inference import LoadedModel
from ..metrics import AucAccumulator, colourfulness, lab_ab, psnr
from ..photo import compose
from ..steady import Steadier, consistent_flow, dis_flow, l8, remap
from ..video import FilmSource

ROWS = ("gray", "frame_by_frame", "steady")


def truth_frames(path: str | Path, limit: int | None = None) -> list[np.ndarray]:
    """The colour frames of a clip (a folder of numbered frames or a video file), 8-bit RGB."""
    out = []
    for fr in FilmSource(path).frames():
        out.append(fr.pixels if fr.pixels.ndim == 3 else np.repeat(fr.pixels[..., None], 3, 2))
        if limit and len(out) >= limit:
            break
    return out


def warp_errors(frames: list[np.ndarray], flows: list) -> tuple[float, float]:
    """(chroma, RGB) warping error of a frame sequence under the given truth flows (mean over frames)."""
    ab = [lab_ab(f) for f in frames]
    rgb = [f.astype(np.float32) / 255.0 for f in frames]
    ec, er = [], []
    for t in range(1, len(frames)):
        fwd, ok = flows[t]
        if not ok.any():
            continue
        ec.append(float(((ab[t] - remap(ab[t - 1], fwd)) ** 2).sum(-1)[ok].mean()))
        er.append(float(((rgb[t] - remap(rgb[t - 1], fwd)) ** 2).sum(-1)[ok].mean()))
    return float(np.mean(ec)), float(np.mean(er))


def truth_flows(frames: list[np.ndarray]) -> list:
    dis = dis_flow("medium")
    ls = [l8(lab_l(f)) for f in frames]
    return [None] + [consistent_flow(ls[t], ls[t - 1], dis) for t in range(1, len(frames))]


def lab_l(rgb: np.ndarray) -> np.ndarray:
    from ..color import lightness

    return lightness(rgb.astype(np.float32) / 255.0)


def colour_clip(col: FilmColourer, frames: list[np.ndarray], steady: float) -> tuple[dict, dict]:
    """Colour ``frames`` (truth; the network sees only their lightness) frame by frame and steady.
    Returns ({row: [RGB frames]}, {row: seconds per frame})."""
    outs = {r: [] for r in ROWS}
    secs = {"network": 0.0, "steady": 0.0}
    st = Steadier(max_weight=steady)
    for f in frames:
        p, small = col.prepare(f)
        t0 = time.perf_counter()
        ab = col.predict(small)
        t1 = time.perf_counter()
        ab_s = st.step(small[0, 0].numpy(), ab)[0]
        secs["steady"] += time.perf_counter() - t1
        secs["network"] += t1 - t0
        outs["gray"].append(np.asarray(compose(p, torch.zeros(1, 2, 1, 1), "lab")))
        outs["frame_by_frame"].append(col.render(p, ab))
        outs["steady"].append(col.render(p, ab_s))
    return outs, {k: v / len(frames) for k, v in secs.items()}


def video_benchmark(
    clips: list[str | Path],
    model: LoadedModel,
    settings: FilmSettings,
    limit: int | None = None,
    splice: bool = True,
    progress: bool = False,
) -> dict:
    """Score frame-by-frame and steady colour on each clip; ``limit``: the first N frames of each.
    The network keeps one thread count throughout (as a film run does), so the splice check compares
    like with like."""
    from ..threads import POLICY

    with POLICY.holding(POLICY.fixed_count()):
        return _video_benchmark(clips, model, settings, limit, splice, progress)


def _video_benchmark(clips, model, settings, limit, splice, progress) -> dict:
    from rich.progress import track

    col = FilmColourer(model, settings)
    result: dict = {"model": model.name, "steady": settings.steady, "clips": {}, "flow": "DIS medium, full size"}
    firsts, worst = {}, (-1.0, None)
    for clip in track(clips, description="clips", disable=not progress, transient=True):
        name = Path(clip).name
        truth = truth_frames(clip, limit)
        flows = truth_flows(truth)
        outs, secs = colour_clip(col, truth, settings.steady)
        firsts[name] = (truth, outs["steady"])
        row: dict = {"frames": len(truth), "seconds_per_frame": secs}
        cf_t = float(np.mean([colourfulness(f) for f in truth]))
        row["truth"] = dict(zip(("flicker_ab", "flicker_rgb"), warp_errors(truth, flows)))
        row["truth"]["colourfulness"] = cf_t
        for r, frames in outs.items():
            acc = AucAccumulator()
            for o, t in zip(frames, truth):
                acc.add(lab_ab(o), lab_ab(t))
            fab, frgb = warp_errors(frames, flows)
            row[r] = {
                "psnr": float(np.mean([psnr(o, t) for o, t in zip(frames, truth)])),
                "auc_rebalanced": acc.auc(True),
                "colourfulness_ratio": float(np.mean([colourfulness(o) for o in frames]) / max(cf_t, 1e-9)),
                "flicker_ab": fab,
                "flicker_rgb": frgb,
            }
        result["clips"][name] = row
        jump = row["frame_by_frame"]["flicker_ab"] - row["steady"]["flicker_ab"]
        if jump > worst[0]:
            worst = (jump, (name, {k: outs[k] for k in ("frame_by_frame", "steady")}))
    result["mean"] = {
        r: {k: float(np.mean([c[r][k] for c in result["clips"].values()])) for k in result["clips"][name][r]}
        for r in ("truth", *ROWS)
    }
    if splice and len(clips) >= 2:
        result["splice"] = splice_check(col, clips[:2], firsts, settings.steady, limit)
    if worst[1] is not None:  # the clip where steady colour changes most, for a picture
        name, rows = worst[1]
        result["strip"] = {"clip": name, "image": film_strip(rows)}
    return result


def film_strip(rows: dict[str, list[np.ndarray]], frames: int = 5, step: int = 3, tile: int = 240):
    """Consecutive frames side by side (every ``step``-th, from the middle), one row per method, each row
    labelled: colour that jumps between neighbouring frames shows as a change along a row."""
    from PIL import Image, ImageDraw

    n = min(len(v) for v in rows.values())
    start = max(0, n // 2 - frames * step // 2)
    idx = [i for i in range(start, n, step)][:frames]
    h0, w0 = next(iter(rows.values()))[0].shape[:2]
    th = round(tile * h0 / w0)
    label_w, head = 110, 16
    sheet = Image.new("RGB", (label_w + tile * len(idx), head + th * len(rows)), "white")
    d = ImageDraw.Draw(sheet)
    for j, i in enumerate(idx):
        d.text((label_w + j * tile + 4, 2), f"frame {i}", fill="black")
    for r, (label, fr) in enumerate(rows.items()):
        d.text((4, head + r * th + th // 2 - 6), label.replace("_", " "), fill="black")
        for j, i in enumerate(idx):
            sheet.paste(Image.fromarray(fr[i]).resize((tile, th), Image.LANCZOS), (label_w + j * tile, head + r * th))
    return sheet


def write_strip(result: dict, path: Path) -> None:
    from ..imageio import atomic_write

    if "strip" in result:
        atomic_write(path, lambda t: result["strip"]["image"].save(t, format="JPEG", quality=88))


def splice_check(col: FilmColourer, clips: list, firsts: dict, steady: float, limit: int | None) -> dict:
    """Clip A then clip B as one film: did any colour of A reach B's frames?"""
    a, b = (Path(c).name for c in clips)
    truth_a, truth_b = firsts[a][0], firsts[b][0]
    joined, _ = colour_clip(col, truth_a + truth_b, steady)
    mine = joined["steady"][len(truth_a) :]
    alone = firsts[b][1]
    diffs = [float(np.abs(lab_ab(x) - lab_ab(y)).max()) for x, y in zip(mine, alone)]
    return {"clips": [a, b], "max_ab_difference_first_frame": diffs[0], "max_ab_difference_any_frame": max(diffs)}


def table(result: dict) -> str:
    rows = [
        "| row | PSNR dB | AuC rebal. | colourfulness ratio | chroma flicker | RGB flicker |",
        "|---|---|---|---|---|---|",
    ]
    m = result["mean"]
    for r in ("gray", "frame_by_frame", "steady"):
        v = m[r]
        rows.append(
            f"| {r.replace('_', ' ')} | {v['psnr']:.2f} | {v['auc_rebalanced']:.2f} | {v['colourfulness_ratio']:.3f} "
            f"| {v['flicker_ab']:.2f} | {v['flicker_rgb']:.5f} |"
        )
    t = m["truth"]
    rows.append(f"| truth | | | 1 | {t['flicker_ab']:.2f} | {t['flicker_rgb']:.5f} |")
    lines = ["\n".join(rows), ""]
    lines.append("| clip | frames | truth flicker | frame by frame | steady | PSNR f-b-f / steady |")
    lines.append("|---|---|---|---|---|---|")
    for name, c in result["clips"].items():
        lines.append(
            f"| {name} | {c['frames']} | {c['truth']['flicker_ab']:.2f} | {c['frame_by_frame']['flicker_ab']:.2f} "
            f"| {c['steady']['flicker_ab']:.2f} | {c['frame_by_frame']['psnr']:.2f} / {c['steady']['psnr']:.2f} |"
        )
    if "splice" in result:
        s = result["splice"]
        lines.append("")
        lines.append(
            f"splice {s['clips'][0]} + {s['clips'][1]}: largest a*b* difference from colouring the second alone: "
            f"{s['max_ab_difference_first_frame']:.3g} at the cut, "
            f"{s['max_ab_difference_any_frame']:.3g} over its frames"
        )
    return "\n".join(lines)
