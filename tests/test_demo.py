"""The demo: Gradio client API tests (default suite) and a Playwright browser test (marker: browser)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import smooth_color_image, two_regions

gradio_client = pytest.importorskip("gradio_client")
ARTIFACTS = Path(__file__).parent / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir(tiny_cls_dir) -> Path:
    return tiny_cls_dir


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("log") / "demo.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chromatize.cli", "demo", "--port", str(port), "--model", str(model_dir)],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("demo did not start: " + log.read_text())
    proc.log_path = log  # the server's stdout and stderr
    yield url, proc
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def gray_png(tmp_path) -> Path:
    p = tmp_path / "gray.png"
    smooth_color_image(7, 90).convert("L").resize((90, 70)).save(p)
    return p


def test_api_matches_cli(server, model_dir, gray_png, tmp_path):
    from gradio_client import Client, handle_file
    from typer.testing import CliRunner

    from chromatize.cli import app

    url, _ = server
    out, msg = Client(url, verbose=False).predict(
        handle_file(str(gray_png)), str(model_dir), '{"temperature": 0.38}', api_name="/colorize"
    )
    assert msg == ""
    r = CliRunner().invoke(
        app,
        ["colorize", str(gray_png), "-o", str(tmp_path / "cli"), "--model", str(model_dir), "--temperature", "0.38"],
    )
    assert r.exit_code == 0, r.output
    a = np.asarray(Image.open(out).convert("RGB"), np.int16)
    b = np.asarray(Image.open(tmp_path / "cli" / "gray.png").convert("RGB"), np.int16)
    assert a.shape == b.shape == (70, 90, 3) and np.abs(a - b).max() <= 1


def test_api_bad_file_gives_a_message(server, model_dir, tmp_path):
    from gradio_client import Client, handle_file

    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not a picture")
    out, msg = Client(server[0], verbose=False).predict(
        handle_file(str(bad)), str(model_dir), '{"temperature": 0.38}', api_name="/colorize"
    )
    assert out is None and "not an image" in msg


def test_twenty_concurrent_requests(server, model_dir, gray_png, tmp_path):
    from gradio_client import Client, handle_file

    url, proc = server
    files = []
    for i in range(20):  # distinct pictures: identical outputs would share one server cache file
        files.append(tmp_path / f"in{i}.png")
        smooth_color_image(100 + i, 90).convert("L").resize((90, 70)).save(files[-1])

    def one(i: int) -> str:
        try:
            # each client downloads into its own folder (identical results would share one cache path)
            client = Client(url, verbose=False, download_files=str(tmp_path / str(i)))
            out, msg = client.predict(
                handle_file(str(files[i])), str(model_dir), '{"temperature": 0.38}', api_name="/colorize"
            )
            return "ok" if out and Image.open(out).size == (90, 70) else f"bad: {msg}"
        except Exception as e:  # noqa: BLE001 - a refusal (queue full) is acceptable, a crash is not
            return "refused" if "queue" in str(e).lower() or "full" in str(e).lower() else f"error: {e}"

    with ThreadPoolExecutor(20) as ex:
        results = list(ex.map(one, range(20)))
    assert all(r in ("ok", "refused") for r in results), [r for r in results if r not in ("ok", "refused")]
    assert results.count("ok") >= 10
    assert proc.poll() is None
    urllib.request.urlopen(url, timeout=5)  # still serving


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def browser_page(url: str):
    """A page of Debian's headless chromium (driven by Playwright) opened at ``url``; skips when either
    is missing."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            yield page
        finally:
            browser.close()


@pytest.mark.browser
def test_browser_upload_colour_and_bad_file(server, gray_png, tmp_path):
    with browser_page(server[0]) as page:
        page.locator("input[type=file]").first.set_input_files(str(gray_png))
        page.get_by_role("button", name="Colorize").click()
        page.locator("#message").get_by_text("Coloured with").wait_for(timeout=60_000)
        srcs = page.locator("img").evaluate_all("els => els.map(e => e.src)")
        results = []
        for src in srcs:
            if "/file=" in src or "/gradio_api/file=" in src:
                body = page.request.get(src).body()
                results.append(Image.open(io.BytesIO(body)).convert("RGB"))
        coloured = [im for im in results if im.size == (90, 70) and np.asarray(im).std(axis=2).mean() > 2]
        # the after-image of the slider, the gallery and three alternatives
        assert len(coloured) >= 4, f"too few colour results of the upload's size among {[im.size for im in results]}"
        page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
        bad = tmp_path / "renamed.png"
        bad.write_text("plain text renamed to .png")
        page.reload()
        page.locator("input[type=file]").first.set_input_files(str(bad))
        page.get_by_role("button", name="Colorize").click()
        page.locator("#message").get_by_text("not an image").wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "demo_bad_file.png"), full_page=True)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_oversized_uploads_refused_and_server_keeps_working(server, model_dir, gray_png, tmp_path):
    from gradio_client import Client, handle_file

    from .test_robustness import bomb_png

    url, proc = server
    big = tmp_path / "big.png"
    big.write_bytes(bomb_png(8000, 7000))  # 56 MP declared, a few bytes on disk
    out, msg = Client(url, verbose=False).predict(
        handle_file(str(big)), str(model_dir), '{"temperature": 0.38}', api_name="/colorize"
    )
    assert out is None and "too large" in msg
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\0" * (26 * 1024 * 1024))  # over the 25 MB upload limit
    with pytest.raises(Exception, match="(?i)size|large|exceed"):
        Client(url, verbose=False).predict(
            handle_file(str(huge)), str(model_dir), '{"temperature": 0.38}', api_name="/colorize"
        )
    out, msg = Client(url, verbose=False).predict(
        handle_file(str(gray_png)), str(model_dir), '{"temperature": 0.38}', api_name="/colorize"
    )
    assert out and msg == "" and proc.poll() is None


def test_soak_mixed_requests(server, model_dir, tmp_path):
    """50 requests from 10 concurrent clients, good and bad files mixed; bounded in count and time."""
    from gradio_client import Client, handle_file

    from .test_robustness import bomb_png

    url, proc = server
    files = []
    for i in range(50):
        p = tmp_path / f"f{i}.png"
        if i % 5 == 0:
            p.write_text("not a picture")
            files.append((p, "bad"))
        elif i % 5 == 1:
            p.write_bytes(bomb_png(9000, 9000))
            files.append((p, "bad"))
        else:
            smooth_color_image(200 + i, 120).convert("L").resize((160, 120)).save(p)
            files.append((p, "good"))

    def one(i: int) -> str:
        path, kind = files[i]
        client = Client(url, verbose=False, download_files=str(tmp_path / f"d{i}"))
        out, msg = client.predict(handle_file(str(path)), str(model_dir), '{"temperature": 0.38}', api_name="/colorize")
        if kind == "good":
            return "ok" if out and Image.open(out).size == (160, 120) else f"good failed: {msg}"
        return "ok" if out is None and msg else f"bad not refused: {out} {msg}"

    t0 = time.time()
    with ThreadPoolExecutor(10) as ex:
        results = list(ex.map(one, range(50), timeout=300))
    elapsed = time.time() - t0
    rss = peak_rss_mib(proc.pid)
    (ARTIFACTS).mkdir(exist_ok=True)
    (ARTIFACTS / "soak.txt").write_text(
        f"requests=50 clients=10 failures={sum(r != 'ok' for r in results)} "
        f"seconds={elapsed:.1f} server_peak_rss_mib={rss:.0f}\n"
    )
    assert results == ["ok"] * 50, [r for r in results if r != "ok"]
    assert rss < 2048 and proc.poll() is None


def test_each_model_decodes_with_its_own_card_unless_overridden(model_dir, gray_png):
    """The demo colours like the CLI: without an override every model uses its card's values (not the
    first model's), and the sliders are generated from the families' specs, starting at the card's."""
    from chromatize import demo, inference

    shipped = inference.default_model_name()
    srv = demo.DemoServer([shipped, str(model_dir)])
    _, outs, _, _, msg = srv.compare(str(gray_png), [shipped, str(model_dir)], False, 0.0, 0.0)
    for (img, name), ref in zip(outs, (shipped, str(model_dir))):
        cli = inference.colorize(str(gray_png), ref)  # the CLI's default: the card's values
        assert np.array_equal(np.asarray(img), np.asarray(cli)), name
    assert "each model card's" in msg and "Confidence and alternatives: " in msg
    app = demo.build_app([shipped, str(model_dir)])
    sliders = {
        b.label.split(":")[0]: b
        for b in app.blocks.values()
        if b.__class__.__name__ == "Slider" and not b.label.startswith("steady")  # the Film tab's own
    }
    m = inference.load_model(shipped)
    assert set(sliders) == set(m.family.decoding)  # temperature and rebalance, from the spec
    assert all(sliders[k].value == m.defaults[k] for k in sliders)


def test_one_request_runs_the_network_once(model_dir, gray_png, monkeypatch):
    from chromatize import demo, inference

    m = inference.load_model(model_dir)
    calls = []
    real = type(m.net).logits
    monkeypatch.setattr(type(m.net), "logits", lambda self, x: calls.append(1) or real(self, x))
    srv = demo.DemoServer([str(model_dir)])
    (gray, colour), outs, conf, alts, msg = srv.compare(str(gray_png), [str(model_dir)], True, 0.3)
    assert conf is not None and len(alts) == 3 and colour.size == gray.size
    assert len(calls) == 1


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.slow
def test_hostile_clients_cannot_starve_or_grow_the_server(server, model_dir, gray_png, tmp_path):
    """200 requests from 8 threads: unknown and path-like model names, one model repeated 40 times in
    /compare, non-images. Every answer is an answer; the server keeps working and grows < 150 MB."""
    from gradio_client import Client, handle_file

    url, proc = server
    junk = tmp_path / "junk.png"
    junk.write_text("not a picture")
    Client(url, verbose=False).predict(
        handle_file(str(gray_png)), str(model_dir), '{"temperature": 0.3}', api_name="/colorize"
    )
    before = rss_mib(proc.pid)
    bad_names = ["/etc/passwd", "../../weights", "nope", "x" * 500, str(tmp_path), "", "classification "]

    def one(i: int) -> str:
        c = Client(url, verbose=False, download_files=str(tmp_path / f"h{i}"))
        kind = i % 4
        # a picture of its own per request: Gradio names result files by content, and a client reading a
        # file while the next identical result rewrites it can see it cut short
        own = tmp_path / f"in{i}.png"
        smooth_color_image(1000 + i, 64).convert("L").save(own)
        gray_png = own
        if kind == 0:
            out, msg = c.predict(
                handle_file(str(gray_png)), bad_names[i % len(bad_names)], '{"temperature": 0.3}', api_name="/colorize"
            )
            ok = (out is None and "Unknown model" in msg) or (out is not None and msg == "")
            return "ok" if ok and "/etc" not in msg.replace("'/etc/passwd'", "") else f"bad name: {msg}"
        if kind == 1:
            res = c.predict(handle_file(str(gray_png)), [str(model_dir)] * 40, True, 0.3, api_name="/compare")
            return "ok" if len(res[1]) == 1 else f"compare ran {len(res[1])} models"
        if kind == 2:
            out, msg = c.predict(handle_file(str(junk)), str(model_dir), '{"temperature": 0.3}', api_name="/colorize")
            return "ok" if out is None and msg.startswith("Could not colour this file") and "**" not in msg else msg
        out, msg = c.predict(handle_file(str(gray_png)), str(model_dir), '{"temperature": 0.3}', api_name="/colorize")
        return "ok" if out and msg == "" else f"good failed: {msg}"

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(200), timeout=600))
    assert [r for r in results if r != "ok"] == []
    out, msg = Client(url, verbose=False).predict(
        handle_file(str(gray_png)), str(model_dir), '{"temperature": 0.3}', api_name="/colorize"
    )
    assert out and msg == "" and proc.poll() is None
    growth = rss_mib(proc.pid) - before
    (ARTIFACTS).mkdir(exist_ok=True)
    (ARTIFACTS / "hostile.txt").write_text(f"requests=200 threads=8 rss_growth_mib={growth:.1f}\n")
    assert growth < 150


def test_api_colours_with_hints(server, model_dir, tmp_path):
    from gradio_client import Client, handle_file

    two_regions(90, 60).save(tmp_path / "two.png")
    client = Client(server[0], verbose=False)
    plain, msg = client.predict(handle_file(str(tmp_path / "two.png")), str(model_dir), "", api_name="/colorize_hints")
    assert msg == ""
    hints = '{"points": [{"x": 10, "y": 30, "colour": "#1040c0"}]}'
    blue, msg = client.predict(
        handle_file(str(tmp_path / "two.png")), str(model_dir), hints, api_name="/colorize_hints"
    )
    assert msg == ""
    from chromatize.metrics import lab_ab

    left = [lab_ab(np.asarray(Image.open(p).convert("RGB")))[:, :40].reshape(-1, 2).mean(0) for p in (plain, blue)]
    assert left[1][1] < left[0][1] - 5  # b* fell: the left region turned blue
    out, msg = client.predict(
        handle_file(str(tmp_path / "two.png")),
        str(model_dir),
        '{"points": [{"x": 500, "y": 3, "colour": "red"}]}',
        api_name="/colorize_hints",
    )
    assert out is None and "outside the 90x60 image" in msg


def test_api_colours_a_clip_like_the_cli(server, model_dir, tmp_path, capsys):
    """The film tab's endpoint gives the frames `chromatize colorize` gives (same model, same steadiness),
    as an MP4 a browser plays; an overlong clip is refused with a message."""
    import av
    from gradio_client import Client, handle_file

    from .conftest import run_cli
    from .test_film import make_video, video_frames

    src = make_video(tmp_path / "clip.mp4", n=12)
    out, msg = Client(server[0], verbose=False).predict(
        handle_file(str(src)), str(model_dir), 4, api_name="/colour_clip"
    )
    assert "12 frames" in msg, msg
    out = out["video"] if isinstance(out, dict) else out
    mine, v = video_frames(Path(out))
    assert len(mine) == 12 and v.codec_context.name == "h264"
    code, _, err = run_cli(capsys, "colorize", src, "-o", tmp_path / "cli", "--model", model_dir)
    assert code == 0, err
    cli, _ = video_frames(tmp_path / "cli" / "clip.mp4")
    assert max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(mine, cli)) == 0
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1  # the sound came along


@pytest.mark.browser
def test_browser_click_places_a_point_and_recolours(server, tmp_path):
    from chromatize.metrics import lab_ab

    two_regions(150, 100).save(tmp_path / "two.png")
    with browser_page(server[0]) as page:
        page.get_by_role("tab", name="Colour hints").click()
        page.locator("#hint-photo input[type=file]").set_input_files(str(tmp_path / "two.png"))
        page.locator("#hint-message").get_by_text("Click the photo").wait_for(timeout=60_000)
        pic = page.locator("#hint-picture img").first
        before = pic.get_attribute("src")
        box = pic.bounding_box()
        pic.click(position={"x": box["width"] * 0.2, "y": box["height"] * 0.5})  # the left region
        page.locator("#hint-message").get_by_text("Point 1 at").wait_for(timeout=60_000)
        page.wait_for_function("s => document.querySelector('#hint-picture img').src != s", arg=before, timeout=60_000)
        after = pic.get_attribute("src")
        imgs = [Image.open(io.BytesIO(page.request.get(s).body())).convert("RGB") for s in (before, after)]
        page.screenshot(path=str(ARTIFACTS / "demo_hints.png"), full_page=True)
    ab = [lab_ab(np.asarray(im))[:, 5:65].reshape(-1, 2).mean(0) for im in imgs]
    target = lab_ab(np.array([[[0x1F, 0x4F, 0xA0]]], np.uint8))[0, 0]  # the colour picker's start: #1f4fa0
    assert np.linalg.norm(ab[1] - target) < 0.5 * np.linalg.norm(ab[0] - target)  # the region turned blue


def test_kept_results_are_named_uniquely_and_never_replace_others(model_dir, tmp_path):
    """Issue 24 case 4: `demo -o DIR` replaced any DIR/<stem>.<model>.png, and clipboard uploads (all
    'image.png') overwrote each other."""
    from chromatize import demo

    keep = tmp_path / "kept"
    keep.mkdir()
    srv = demo.DemoServer([str(model_dir)], save_dir=keep)
    uploads = []
    for seed in (1, 2):
        d = tmp_path / f"clip{seed}"
        d.mkdir()
        smooth_color_image(seed, 40).convert("L").save(d / "image.png")
        uploads.append(d / "image.png")
    for u in uploads:
        out, msg = srv.colorize_one(str(u), str(model_dir))
        assert out is not None, msg
    kept = sorted(keep.iterdir())
    assert len(kept) == 2 and all(p.name.startswith("image.") for p in kept)
    foreign = kept[0]
    Image.new("RGB", (3, 3), "red").save(foreign)  # someone replaced it with their own file
    srv.colorize_one(str(uploads[0]), str(model_dir))
    srv.colorize_one(str(uploads[1]), str(model_dir))
    assert Image.open(foreign).size == (3, 3)
    assert len(list(keep.iterdir())) == 3  # ours rewritten in place, the foreign name got a -2 beside it


def test_huge_uploads_are_reduced_before_colouring(model_dir, tmp_path, monkeypatch):
    """Issue 24 case 6: a 49 MP upload held the demo's only worker for 8-35 s and took its RSS to 2.8 GB;
    the demo now colours at most `WORK_PIXELS` and says so (measured on a 49 MP JPEG beside a busy core:
    9.2 s and 1.6 GB peak before, 3.9 s and 0.9 GB after)."""
    from chromatize import demo, demo_server

    monkeypatch.setattr(demo_server, "WORK_PIXELS", 2000)  # a small limit keeps the test fast
    smooth_color_image(3, 100).convert("L").save(tmp_path / "big.png")
    srv = demo.DemoServer([str(model_dir)])
    out, msg = srv.colorize_one(str(tmp_path / "big.png"), str(model_dir))
    assert out.width * out.height <= 2000 and "Reduced from 100x100" in msg
    (_, _), outs, _, _, msg = srv.compare(str(tmp_path / "big.png"), [str(model_dir)])
    assert "Reduced from 100x100" in msg
    smooth_color_image(3, 40).convert("L").save(tmp_path / "small.png")
    out, msg = srv.colorize_one(str(tmp_path / "small.png"), str(model_dir))
    assert out.size == (40, 40) and msg == ""


def test_huge_jpeg_uploads_are_decoded_at_a_reduced_scale(model_dir, tmp_path, monkeypatch):
    """A 49-MP JPEG upload took the server to 1.4-1.8 GB (hostile client): JPEGs over `WORK_PIXELS` are
    now decoded by libjpeg at 1/2-1/8 scale, never at full size, and the message names the full size."""
    from chromatize import demo, demo_server
    from chromatize.imageio import open_image

    smooth_color_image(3, 64).convert("L").resize((1600, 1200)).save(tmp_path / "big.jpg", quality=90)
    img = open_image(tmp_path / "big.jpg", reduce_to=30_000)
    assert img.size == (200, 150) and img.info["chromatize_full_size"] == "1600x1200"  # 1/8: at least 30,000 px
    assert open_image(tmp_path / "big.jpg").size == (1600, 1200)  # the CLI keeps full size
    monkeypatch.setattr(demo_server, "WORK_PIXELS", 30_000)
    out, msg = demo.DemoServer([str(model_dir)]).colorize_one(str(tmp_path / "big.jpg"), str(model_dir))
    assert out.size == (200, 150) and "Reduced from 1600x1200" in msg


def test_results_reach_gradio_as_files_never_as_pil_images(model_dir, gray_png, monkeypatch):
    """Gradio rewrites the cache file of a returned PIL image on every identical result, truncating it
    under a client that is still downloading it (the hostile client saw "peer closed connection ...
    received 0 bytes"). Every handler hands Gradio files instead: with Gradio's PIL cache writer broken,
    the API and the page's compare still answer with images (an unwrapped handler fails)."""
    import gradio.processing_utils as pu
    from gradio_client import Client, handle_file

    from chromatize import demo

    def no_pil(*a, **k):
        raise AssertionError("a PIL image reached Gradio's cache writer")

    monkeypatch.setattr(pu, "save_pil_to_cache", no_pil)
    app = demo.build_app([str(model_dir)])
    port = free_port()
    app.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        a, msg = client.predict(handle_file(str(gray_png)), str(model_dir), "", api_name="/colorize")
        b, _ = client.predict(handle_file(str(gray_png)), str(model_dir), "", api_name="/colorize")
        assert msg == "" and Image.open(a).size == (90, 70)
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
        out, _ = client.predict(
            handle_file(str(gray_png)), str(model_dir), '{"points": []}', api_name="/colorize_hints"
        )
        assert Image.open(out).size == (90, 70)
        res = client.predict(
            handle_file(str(gray_png)),
            [str(model_dir)],
            False,
            0.5,
            api_name="/compare",
        )
        assert res[1] and Image.open(res[1][0]["image"]).size == (90, 70)
    finally:
        app.close()


def test_a_request_naming_a_server_file_is_one_line_for_client_and_log(server):
    """Issue 24 case 13: a request naming a server file was refused by Gradio with a traceback in the
    log and ``{"error": null}`` for the client."""
    import json
    import urllib.request

    url, proc = server
    for path in ("/etc/passwd", "/proc/self/environ"):
        body = json.dumps({"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}, "", ""]}).encode()
        req = urllib.request.Request(url + "gradio_api/call/colorize", body, {"Content-Type": "application/json"})
        event = json.loads(urllib.request.urlopen(req, timeout=30).read())["event_id"]
        answer = urllib.request.urlopen(f"{url}gradio_api/call/colorize/{event}", timeout=60).read().decode()
        assert "that file was not uploaded to this server" in answer and "passwd" not in answer.split("data:")[-1]
    with contextlib.suppress(OSError):  # Gradio's file route still refuses
        urllib.request.urlopen(url + "gradio_api/file=/etc/passwd", timeout=10)
        raise AssertionError("the file route served /etc/passwd")
    time.sleep(0.5)
    log = proc.log_path.read_text()
    assert "Traceback" not in log and log.count("refused a request naming a server file") >= 2


def test_a_request_that_used_up_its_time_ends_with_a_message(model_dir, gray_png, monkeypatch):
    """Issue 24: each image request runs with a deadline, checked between its stages; with no time left
    after reading the upload, the demo answers in one line instead of colouring (and of going on to
    the next model in /compare)."""
    from chromatize import demo, demo_server

    srv = demo.DemoServer([str(model_dir)])
    out, msg = srv.colorize_one(str(gray_png), str(model_dir))
    assert out is not None and msg == ""
    monkeypatch.setattr(demo_server, "REQUEST_SECONDS", 0.0)
    out, msg = srv.colorize_one(str(gray_png), str(model_dir))
    assert out is None and "used up its 0 s after reading the upload" in msg
    _, outs, _, _, msg = srv.compare(str(gray_png), [str(model_dir)])
    assert outs == [] and "used up its 0 s" in msg
    out, msg = srv.colorize_with_hints(str(gray_png), str(model_dir), '{"points": []}')
    assert out is None and "used up its 0 s" in msg
