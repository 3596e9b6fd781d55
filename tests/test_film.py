"""Films: reading and writing video, steady colour, chunks that resume, errors, the film benchmark."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from chromatize.steady import Steadier

from .conftest import run_cli

W, H = 96, 64


def scene(t: int, seed: int = 0, w: int = W, h: int = H) -> np.ndarray:
    """Frame ``t`` of a gray scene: a smooth random texture panning 2 px per frame (8-bit RGB)."""
    rng = np.random.default_rng(seed)
    big = Image.fromarray(rng.integers(0, 255, (h // 4, w // 4 + 40), np.uint8)).resize((w + 160, h), Image.BICUBIC)
    g = np.asarray(big)[:, 2 * t : 2 * t + w]
    return np.repeat(g[..., None], 3, 2)


def make_video(
    path: Path, n: int = 24, codec: str = "libx264", audio: bool = True, rate: int = 25, sizes=None, seed: int = 0
) -> Path:
    """A small gray film (optionally with a sine-tone AAC track) written through PyAV."""
    out = av.open(str(path), "w")
    vs = out.add_stream(codec, rate=rate)
    vs.width, vs.height = W, H
    vs.pix_fmt = {"mjpeg": "yuvj420p", "prores_ks": "yuv422p10le", "libvpx-vp9": "yuv420p"}.get(codec, "yuv420p")
    a = out.add_stream("aac", rate=16000) if audio else None
    for t in range(n):
        fr = av.VideoFrame.from_ndarray(scene(t, seed), format="rgb24")
        for p in vs.encode(fr):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    if a is not None:
        samples = 16000 * n // rate
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)[None]
        for k in range(0, samples, 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, k : k + 1024]), format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, k
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
    out.close()
    return path


def audio_packets(path: Path) -> list[tuple]:
    with av.open(str(path)) as c:
        return [(p.pts, p.dts, hashlib.sha1(bytes(p)).hexdigest()) for p in c.demux(c.streams.audio[0]) if p.size]


def video_frames(path: Path) -> tuple[list[np.ndarray], av.video.stream.VideoStream]:
    c = av.open(str(path))
    v = c.streams.video[0]
    frames = [f.to_ndarray(format="rgb24") for f in c.decode(v)]
    return frames, v


def chroma(rgb: np.ndarray) -> float:
    x = rgb.astype(np.int16)
    return float((x.max(-1) - x.min(-1)).mean())


def test_a_film_keeps_size_timing_and_sound(capsys, tmp_path, tiny_cls_dir):
    src = make_video(tmp_path / "reel.mp4", n=30)
    code, out, err = run_cli(capsys, "colorize", src, "-o", tmp_path / "out", "--model", tiny_cls_dir)
    assert code == 0, err
    assert "1 films coloured" in out
    dst = tmp_path / "out" / "reel.mp4"
    frames, v = video_frames(dst)
    with av.open(str(src)) as c:
        s = c.streams.video[0]
        rate, dur = s.average_rate, c.duration
    assert len(frames) == 30 and frames[0].shape == (H, W, 3)
    assert v.average_rate == rate and v.codec_context.name == "h264"
    with av.open(str(dst)) as c:
        assert abs(c.duration - dur) < 50_000  # microseconds
    assert audio_packets(dst) == audio_packets(src)  # the sound is copied, not re-encoded
    assert min(chroma(f) for f in frames) > 3  # coloured
    assert not list((tmp_path / "out").glob(".*parts*"))  # the work folder is gone
    code, out, _ = run_cli(capsys, "colorize", src, "-o", tmp_path / "out", "--model", tiny_cls_dir)
    assert code == 0 and "1 skipped" in out  # reruns skip finished films


@pytest.mark.parametrize(
    "name, codec, written",
    [
        ("a.mkv", "mpeg4", "a.mkv"),
        ("b.avi", "mjpeg", "b.avi"),
        ("c.webm", "libvpx-vp9", "c.mkv"),
        ("d.mov", "prores_ks", "d.mov"),
    ],
)
def test_containers_and_codecs(tmp_path, tiny_cls_dir, name, codec, written):
    from chromatize.film import FilmSettings, colour_film
    from chromatize.inference import load_model

    src = make_video(tmp_path / name, n=6, codec=codec, audio=name.endswith(".mkv"))
    m = load_model(tiny_cls_dir)
    r = colour_film(src, tmp_path / "out", m, FilmSettings(64, m.decoding_for({})))
    assert Path(r.dst).name == written
    frames, v = video_frames(Path(r.dst))
    assert len(frames) == 6 and (v.width, v.height) == (W, H)


def test_a_stopped_run_resumes_with_the_same_bytes(tmp_path, tiny_cls_dir):
    """Chunks finished before a stop are reused, the rest made, and the result is byte for byte the film
    an uninterrupted run makes (every chunk warms up on the frames before it, however the run got there)."""
    from chromatize.film import FilmSettings, colour_film
    from chromatize.inference import load_model

    src = make_video(tmp_path / "f.mp4", n=23)
    m = load_model(tiny_cls_dir)
    s = FilmSettings(64, m.decoding_for({}), chunk=5, warmup=3)
    whole = colour_film(src, tmp_path / "a", m, s)
    assert whole.chunks_done == 5 and whole.chunks_reused == 0
    assert colour_film(src, tmp_path / "b", m, s, stop_after_chunks=2) is None
    parts = tmp_path / "b" / ".f.mp4.parts"
    assert len(list(parts.glob("chunk-*.nut"))) == 2 and not (tmp_path / "b" / "f.mp4").exists()
    (parts / "chunk-000002.nut.part").write_bytes(b"half a chunk")  # what a kill mid-chunk leaves
    again = colour_film(src, tmp_path / "b", m, s)
    assert again.chunks_reused == 2 and again.chunks_done == 3
    assert (tmp_path / "a" / "f.mp4").read_bytes() == (tmp_path / "b" / "f.mp4").read_bytes()
    assert not parts.exists()


def test_a_resumed_film_keeps_its_first_runs_thread_count(tmp_path, tiny_cls_dir):
    """Float sums differ in the last bits between thread counts; a resumed film must not mix them."""
    import torch

    from chromatize.film import FilmSettings, colour_film
    from chromatize.inference import load_model

    src = make_video(tmp_path / "f.mp4", n=9, audio=False)
    m = load_model(tiny_cls_dir)
    s = FilmSettings(64, m.decoding_for({}), chunk=3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        colour_film(src, tmp_path / "o", m, s, stop_after_chunks=1)
        assert json.loads((tmp_path / "o" / ".f.mp4.parts" / "settings.json").read_text())["threads"] == 2
        torch.set_num_threads(1)
        r = colour_film(src, tmp_path / "o", m, s)
        assert r.chunks_reused == 1 and r.threads == 2
        assert torch.get_num_threads() == 1  # the caller's setting is back
    finally:
        torch.set_num_threads(before)


def test_changed_settings_do_not_reuse_chunks(tmp_path, tiny_cls_dir):
    from chromatize.film import FilmSettings, colour_film
    from chromatize.inference import load_model

    src = make_video(tmp_path / "f.mp4", n=12, audio=False)
    m = load_model(tiny_cls_dir)
    colour_film(src, tmp_path / "o", m, FilmSettings(64, m.decoding_for({}), chunk=4), stop_after_chunks=2)
    r = colour_film(src, tmp_path / "o", m, FilmSettings(64, m.decoding_for({}), chunk=4, quality=30))
    assert r.chunks_reused == 0 and r.chunks_done == 3


def test_numbered_frames_are_a_film(capsys, tmp_path, tiny_cls_dir):
    from chromatize.film_batch import split_films

    film = tmp_path / "shot"
    film.mkdir()
    for t in range(10):
        Image.fromarray(scene(t)).save(film / f"frame_{t:04d}.jpg")
    photos = tmp_path / "scans"
    photos.mkdir()
    for t in range(10):
        Image.fromarray(scene(0, seed=t)).save(photos / f"scan{t:03d}.jpg")  # numbered, but unrelated pictures
    rest, films, notes = split_films([str(film), str(photos)], None)
    assert films == [film] and rest == [str(photos)] and len(notes) == 1
    assert split_films([str(film)], False)[1] == []
    code, out, err = run_cli(capsys, "colorize", film, "-o", tmp_path / "out", "--model", tiny_cls_dir)
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "out" / "shot").iterdir())
    assert written == [f"frame_{t:04d}.png" for t in range(10)]
    assert Image.open(tmp_path / "out" / "shot" / "frame_0003.png").size == (W, H)


def test_unusable_films_fail_in_one_line_and_the_rest_go_on(capsys, tmp_path, tiny_cls_dir):
    good = make_video(tmp_path / "good.mp4", n=6, audio=False)
    (tmp_path / "junk.mp4").write_bytes(b"\x00\x01 not a film" * 100)
    cut = make_video(tmp_path / "whole.mp4", n=40)
    (tmp_path / "cut.mp4").write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    sound = av.open(str(tmp_path / "sound.mkv"), "w")
    a = sound.add_stream("aac", rate=16000)
    af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    af.sample_rate, af.pts = 16000, 0
    for p in [*a.encode(af), *a.encode()]:
        sound.mux(p)
    sound.close()
    sizes = tmp_path / "sizes"
    sizes.mkdir()
    for t in range(3):
        Image.fromarray(scene(t, w=W if t < 2 else W + 8)).save(sizes / f"{t:03d}.png")
    args = [good, tmp_path / "junk.mp4", tmp_path / "cut.mp4", tmp_path / "sound.mkv", sizes]
    code, out, err = run_cli(capsys, "colorize", *args, "-o", tmp_path / "out", "--sequence", "--model", tiny_cls_dir)
    assert code == 1
    assert "1 films coloured, 0 skipped (already done), 4 failed" in out
    failures = [ln for ln in err.splitlines() if ln.startswith("failed")]
    assert len(failures) == 4, err
    assert any("junk.mp4: not a readable video" in ln for ln in failures)
    assert any("cut.mp4:" in ln for ln in failures)
    assert any("sound.mkv: has no video stream" in ln for ln in failures)
    assert any("sizes: frame 002.png is 104x64" in ln for ln in failures)
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert left == ["good.mp4"]  # nothing half-written, no work folders of failed films


@pytest.mark.parametrize(
    "args, message", [(["--quality", "60"], "--quality must be"), (["--steady", "-1"], "--steady")]
)
def test_bad_film_options(capsys, tmp_path, tiny_cls_dir, args, message):
    src = make_video(tmp_path / "f.mp4", n=3, audio=False)
    code, _, err = run_cli(capsys, "colorize", src, "-o", tmp_path / "o", "--model", tiny_cls_dir, *args)
    assert code != 0 and message in err


def test_hints_and_cluster_are_refused_for_films(capsys, tmp_path, tiny_cls_dir):
    src = make_video(tmp_path / "f.mp4", n=3, audio=False)
    code, _, err = run_cli(capsys, "colorize", src, "-o", tmp_path / "o", "--hint", "0.5,0.5,red")
    assert code != 0 and "films take none" in err


# ---------------------------------------------------------------- steady colour


def noisy_prediction(t: int, rng, h: int = H, w: int = W) -> np.ndarray:
    """The scene's 'true' chroma (a colour per column of the panning texture) plus per-frame noise."""
    cols = np.arange(w) + 2 * t
    true = np.stack([np.sin(cols / 15.0), np.cos(cols / 23.0)])[:, None, :].repeat(h, 1) * 0.3
    return (true + rng.normal(0, 0.1, (2, h, w))).astype(np.float32), true.astype(np.float32)


def test_steady_colour_follows_the_motion_and_removes_noise():
    from chromatize.color import lightness

    rng = np.random.default_rng(0)
    st, errs_raw, errs_out = Steadier(max_weight=6), [], []
    for t in range(16):
        pred, true = noisy_prediction(t, rng)
        out, share = st.step(lightness(scene(t)[..., 0] / 255.0, gray=True), pred)
        if t >= 8:
            inner = (slice(None), slice(4, -4), slice(4, -8))  # away from the edge that enters the frame
            errs_raw.append(np.abs(pred - true)[inner].mean())
            errs_out.append(np.abs(out - true)[inner].mean())
            assert share > 0.7
    assert st.cuts == 0
    assert np.mean(errs_out) < 0.5 * np.mean(errs_raw)  # the noise averages out, the colour stays put


def test_a_scene_cut_restarts_the_colour():
    from chromatize.color import lightness

    rng = np.random.default_rng(1)
    st = Steadier(max_weight=8)
    for t in range(5):
        st.step(lightness(scene(t, seed=0)[..., 0] / 255.0, gray=True), noisy_prediction(t, rng)[0])
    new = np.full((2, H, W), 0.25, np.float32)
    out, share = st.step(lightness(scene(0, seed=7)[..., 0] / 255.0, gray=True), new)
    assert st.cuts == 1 and share == 0.0
    np.testing.assert_array_equal(out, new)  # nothing of the last shot


def test_frame_by_frame_is_steady_zero():
    st = Steadier(max_weight=0)
    pred = np.random.default_rng(0).normal(size=(2, H, W)).astype(np.float32)
    for t in range(3):
        out, _ = st.step(np.full((H, W), 50, np.float32), pred * t)
        np.testing.assert_array_equal(out, pred * t)


def test_film_benchmark(capsys, tmp_path, tiny_cls_dir):
    clips = []
    for seed in (0, 5):
        d = tmp_path / f"clip{seed}"
        d.mkdir()
        for t in range(6):
            rgb = scene(t, seed).astype(np.float32)
            rgb[..., 0] *= 1.2  # some colour in the truth
            Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(d / f"{t:05d}.png")
        clips.append(d)
    out = tmp_path / "v"
    args = ["evaluate", "--video", clips[0], "--video", clips[1], "-o", out, "--model", tiny_cls_dir]
    code, text, err = run_cli(capsys, *args)
    assert code == 0, err
    res = json.loads((out / "video.json").read_text())
    assert set(res["clips"]) == {"clip0", "clip5"}
    for row in ("gray", "frame_by_frame", "steady"):
        assert np.isfinite(res["mean"][row]["flicker_ab"]) and res["mean"][row]["psnr"] > 10
    assert res["mean"]["gray"]["flicker_ab"] < 1e-3  # gray has no chroma to flicker
    assert res["splice"]["max_ab_difference_any_frame"] == 0  # the cut restarted the colour
    assert Image.open(out / "strip.jpg").width > 200
    assert "| steady |" in text


def test_a_chunk_on_its_own_matches_the_run_through_the_film(tmp_path, tiny_cls_dir):
    """What a cluster worker does (seek to the warm-up frames before its chunk, colour the chunk) gives
    the chunk file a run through the whole film gives."""
    from chromatize.film import FilmSettings, _Parts, colour_chunk, colour_film
    from chromatize.inference import load_model
    from chromatize.video import FilmSource

    src = make_video(tmp_path / "f.mp4", n=20, audio=False)
    m = load_model(tiny_cls_dir)
    s = FilmSettings(64, m.decoding_for({}), chunk=6, warmup=4)
    colour_film(src, tmp_path / "a", m, s, stop_after_chunks=3)
    whole = tmp_path / "a" / ".f.mp4.parts"
    assert [fr.index for fr in FilmSource(src).frames(start=13)] == list(range(13, 20))
    parts = _Parts.existing(tmp_path / "b", threads=json.loads((whole / "settings.json").read_text())["threads"])
    parts.dir.mkdir()
    for k in (0, 2):
        frames, _ = colour_chunk(FilmSource(src), k, parts, m, s)
        assert frames == 6
        assert (parts.dir / f"chunk-{k:06d}.nut").read_bytes() == (whole / f"chunk-{k:06d}.nut").read_bytes()


@pytest.mark.slow
def test_a_film_on_a_local_dask_cluster(tmp_path, tiny_cls_dir):
    from chromatize.cluster import colour_film_on_cluster
    from chromatize.film import FilmSettings, colour_film
    from chromatize.inference import load_model

    src = make_video(tmp_path / "f.mp4", n=20)
    m = load_model(tiny_cls_dir)
    s = FilmSettings(64, m.decoding_for({}), chunk=6, warmup=4)
    spec = {"model": str(tiny_cls_dir), "device": "cpu", "engine": "torch"}
    r = colour_film_on_cluster("local:2", src, tmp_path / "c", m, s, spec=spec)
    assert r.frames == 20 and r.chunks_done == 4 and r.threads == 1
    frames, _ = video_frames(tmp_path / "c" / "f.mp4")
    assert len(frames) == 20
    assert audio_packets(tmp_path / "c" / "f.mp4") == audio_packets(src)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: then a local run gives the same bytes
    try:
        colour_film(src, tmp_path / "l", m, s)
    finally:
        torch.set_num_threads(before)
    assert (tmp_path / "c" / "f.mp4").read_bytes() == (tmp_path / "l" / "f.mp4").read_bytes()


def test_a_variable_frame_rate_keeps_its_timing(tmp_path, tiny_cls_dir):
    """The input's timestamps are copied, so irregular frame times survive (no error, no resampling)."""
    from fractions import Fraction

    from chromatize.film import FilmSettings, colour_film
    from chromatize.inference import load_model

    src = tmp_path / "vfr.mkv"
    out = av.open(str(src), "w")
    vs = out.add_stream("libx264", rate=25, options={"bf": "0"})
    vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
    vs.codec_context.time_base = Fraction(1, 1000)
    times_ms = [0, 40, 80, 200, 240, 500, 540, 580]  # irregular gaps
    for t, ms in enumerate(times_ms):
        fr = av.VideoFrame.from_ndarray(scene(t), format="rgb24")
        fr.pts, fr.time_base = ms, Fraction(1, 1000)
        for p in vs.encode(fr):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    out.close()

    def seconds(path):
        with av.open(str(path)) as c:
            return [round(float(f.time), 3) for f in c.decode(c.streams.video[0])]

    m = load_model(tiny_cls_dir)
    r = colour_film(src, tmp_path / "o", m, FilmSettings(64, m.decoding_for({}), chunk=3))
    assert seconds(r.dst) == seconds(src) == [ms / 1000 for ms in times_ms]


def test_a_second_run_on_the_same_film_and_out_fails_at_once_and_harms_nothing(tmp_path, tiny_cls_dir):
    """Two runs into one OUT shared the film's work folder: the second one's start-up removed the first
    one's chunk in progress (FileNotFoundError; attack matrix). While a run holds the film, another fails
    in one line and leaves the work folder alone; afterwards the film is coloured as usual."""
    from chromatize.errors import ChromatizeError
    from chromatize.film import FilmSettings, colour_film, film_lock
    from chromatize.inference import load_model

    src = make_video(tmp_path / "f.mp4", n=12)
    m = load_model(tiny_cls_dir)
    s = FilmSettings(64, m.decoding_for({}), chunk=5, warmup=3)
    out = tmp_path / "out"
    assert colour_film(src, out, m, s, stop_after_chunks=1) is None
    parts = out / ".f.mp4.parts"
    (parts / "chunk-000001.nut.part").write_bytes(b"the first run is writing this")
    with film_lock(out, "f.mp4"):  # the first run, still at work
        with pytest.raises(ChromatizeError, match="another chromatize run is colouring this film"):
            colour_film(src, out, m, s)
        assert (parts / "chunk-000001.nut.part").exists()
    done = colour_film(src, out, m, s)
    assert done.chunks_reused == 1 and (out / "f.mp4").exists() and not list(out.glob(".*.lock"))
