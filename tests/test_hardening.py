"""No file stops a batch, no option is silently ignored, no file that is not ours is replaced."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, TiffImagePlugin

from chromatize import inference
from chromatize.batch import run_batch
from chromatize.errors import ChromatizeError
from chromatize.models.registry import build
from chromatize.models.store import save_model_dir

from .conftest import jpeg_bytes, run_cli, smooth_color_image


def gray(seed: int = 1, size: int = 40) -> Image.Image:
    return smooth_color_image(seed, size).convert("L")


def colorize(capsys, *args) -> tuple[int, str, str]:
    return run_cli(capsys, "colorize", *args)


# ------------------------------------------------------------------ files that used to stop a batch


def test_odd_metadata_and_formats_do_not_stop_a_batch(tiny_reg_dir, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[282], info[283], info[296] = 0.0, 0.0, 2  # x/y resolution 0/0 inches: DPI NaN when read
    gray(1).save(src / "dpi0.tif", tiffinfo=info)
    gray(2).save(src / "dpi_huge.tif", dpi=(2e8, 2e8))
    exif = Image.Exif()
    exif[0x9286] = b"ASCII\0\0\0" + b"x" * 70_000  # UserComment: an EXIF block over 64 KB
    gray(3).save(src / "big_exif.png", exif=exif.tobytes())
    (src / "pic.xpm").write_text(
        '/* XPM */\nstatic char *x[] = {\n"4 4 2 1",\n"a c #000000",\n"b c #FFFFFF",\n'
        '"abab",\n"baba",\n"abab",\n"baba"};\n'
    )
    (src / "loop.png").symlink_to(src / "loop.png")
    for fmt in ("jpg", "same"):
        code, out, err = colorize(capsys, src, "-o", tmp_path / f"out_{fmt}", "--model", tiny_reg_dir, "--format", fmt)
        assert "Traceback" not in err and code == 1, err  # the self-referencing link fails, alone
        assert "4 coloured" in out and "1 failed" in out
        assert "loop.png" in err and err.count("failed") == 1
    assert (tmp_path / "out_same" / "pic.png").is_file()  # XPM cannot be written: PNG instead


def test_exif_too_large_for_jpeg_is_dropped_with_a_note(tiny_reg_dir, tmp_path, capsys):
    exif = Image.Exif()
    exif[0x9286] = b"ASCII\0\0\0" + b"x" * 70_000
    gray(3).save(tmp_path / "big.png", exif=exif.tobytes())
    code, out, err = colorize(
        capsys, tmp_path / "big.png", "-o", tmp_path / "o", "--model", tiny_reg_dir, "--format", "jpg"
    )
    assert code == 0 and "EXIF block" in err
    assert str(Image.open(tmp_path / "o" / "big.jpg").getexif()[0x0131]).startswith("chromatize")


def test_same_names_from_three_folders_give_three_outputs(tiny_reg_dir, tmp_path, capsys):
    for i, d in enumerate("abc"):
        (tmp_path / d).mkdir()
        gray(i, 30 + i).save(tmp_path / d / "x.png")
    args = [tmp_path / d / "x.png" for d in "abc"]
    code, out, err = colorize(capsys, *args, "-o", tmp_path / "o", "--model", tiny_reg_dir)
    assert code == 0 and "3 coloured" in out
    sizes = sorted(Image.open(p).size for p in (tmp_path / "o").glob("*.png"))
    assert sizes == [(30, 30), (31, 31), (32, 32)] and "another input has the name it would get" in err
    code, out, err = colorize(capsys, *args, "-o", tmp_path / "o", "--model", tiny_reg_dir)
    assert "0 coloured, 3 skipped" in out  # the names are stable: a rerun resumes


def test_output_folder_equal_to_input_folder_is_an_error(tiny_reg_dir, tmp_path, capsys):
    gray().save(tmp_path / "x.png")
    code, out, err = colorize(capsys, tmp_path, "-o", tmp_path, "--model", tiny_reg_dir)
    assert code == 2 and "is an input folder" in err


def test_a_file_that_is_not_ours_is_never_replaced(tiny_reg_dir, tmp_path, capsys):
    gray(1).save(tmp_path / "x.jpg")
    gray(2).save(tmp_path / "x.png")  # the user's own file, where our output would go
    before = (tmp_path / "x.png").read_bytes()
    for extra in ([], ["--overwrite"]):
        code, out, err = colorize(capsys, tmp_path / "x.jpg", "-o", tmp_path, "--model", tiny_reg_dir, *extra)
        assert code == 1 and "was not written by chromatize" in err
    assert (tmp_path / "x.png").read_bytes() == before
    code, out, err = colorize(capsys, tmp_path / "x.jpg", "-o", tmp_path / "o", "--model", tiny_reg_dir)
    code, out, err = colorize(capsys, tmp_path / "x.jpg", "-o", tmp_path / "o", "--model", tiny_reg_dir, "--overwrite")
    assert code == 0 and "1 coloured" in out  # our own output may be redone


@pytest.mark.parametrize(
    "args, message",
    [
        (["--temperature", "nan"], "must be a finite number"),
        (["--temperature", "1.5"], "must lie in"),
        (["--batch-size", "0"], "--batch-size must be a positive integer"),
        (["--max-megapixels", "nan"], "--max-megapixels must be a positive finite number"),
        (["--render-size", "0"], "render size must be an integer from 16"),
        (["--engine", "tpu"], "--engine takes one of"),
        (["--format", "gif"], "--format takes png, jpg or same"),
    ],
)
def test_bad_options_are_one_line_errors(args, message, tiny_cls_dir, tmp_path, capsys):
    gray().save(tmp_path / "x.png")
    code, out, err = colorize(capsys, tmp_path / "x.png", "-o", tmp_path / "o", "--model", tiny_cls_dir, *args)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "x.png").exists()


def test_log_must_not_be_an_input_nor_in_a_missing_folder(tiny_reg_dir, tmp_path, capsys):
    gray().save(tmp_path / "x.png")
    before = (tmp_path / "x.png").read_bytes()
    code, out, err = colorize(
        capsys, tmp_path / "x.png", "-o", tmp_path / "o", "--model", tiny_reg_dir, "--log", tmp_path / "x.png"
    )
    assert code == 2 and "is an input image" in err and (tmp_path / "x.png").read_bytes() == before
    code, out, err = colorize(
        capsys,
        tmp_path / "x.png",
        "-o",
        tmp_path / "o",
        "--model",
        tiny_reg_dir,
        "--log",
        tmp_path / "missing" / "log.jsonl",
    )
    assert code == 2 and "its folder does not exist" in err


def test_damaged_card_values_are_refused(tiny_reg_dir, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_reg_dir, bad)
    card = json.loads((bad / "config.json").read_text())
    card["inference"] = {"render_size": 10**12}
    (bad / "config.json").write_text(json.dumps(card))
    gray().save(tmp_path / "x.png")
    code, out, err = colorize(capsys, tmp_path / "x.png", "-o", tmp_path / "o", "--model", bad)
    assert code == 2 and "render_size" in err and "Traceback" not in err


def test_only_dead_runs_temporary_files_are_cleaned(tiny_reg_dir, tmp_path):
    """Issue 24 case 3: the clean-up removed every hidden *.part under OUT (a live run's, a user's)."""
    import subprocess
    import sys

    from chromatize.imageio import part_prefix

    out = tmp_path / "o"
    (out / "sub").mkdir(parents=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        prefix = part_prefix().rsplit("-", 2)[0]  # .chromatize-<host>
        (out / f"{prefix}-{dead_pid}-abc.part").write_bytes(b"half, its writer is dead")
        (out / f"{prefix}-{live.pid}-def.part").write_bytes(b"half, its writer still runs")
        (out / "sub" / ".movie.mkv.part").write_bytes(b"a user's download")
        (out / "keep.part").write_bytes(b"not ours")
        gray().save(tmp_path / "x.png")
        assert run_batch([str(tmp_path / "x.png")], out, model=str(tiny_reg_dir), progress=False) == (1, 0, 0)
        assert not (out / f"{prefix}-{dead_pid}-abc.part").exists()
        assert (out / f"{prefix}-{live.pid}-def.part").exists()
        assert (out / "sub" / ".movie.mkv.part").exists() and (out / "keep.part").exists()
    finally:
        live.kill()


def test_a_name_of_250_bytes_is_coloured(tiny_reg_dir, tmp_path):
    """Issue 24 case 7: the temporary name was the output's plus 15 bytes, so long names never fit."""
    name = "n" * 246 + ".png"
    gray().save(tmp_path / name)
    assert run_batch([str(tmp_path / name)], tmp_path / "o", model=str(tiny_reg_dir), progress=False) == (1, 0, 0)
    assert (tmp_path / "o" / name).is_file()


# ------------------------------------------------------------------ inputs the reader must handle


def test_trns_transparency_is_kept_as_alpha(tiny_reg_dir):
    g = gray(4, 32)
    buf = io.BytesIO()
    g.save(buf, "PNG", transparency=int(np.asarray(g)[0, 0]))
    img = Image.open(io.BytesIO(buf.getvalue()))
    out = inference.colorize(img, str(tiny_reg_dir))
    assert out.mode == "RGBA" and np.asarray(out)[0, 0, 3] == 0 and np.asarray(out)[..., 3].max() == 255


def test_unreadable_file_is_reported_as_such(tiny_reg_dir, tmp_path, monkeypatch):
    from chromatize.errors import ImageReadError
    from chromatize.imageio import open_image

    gray().save(tmp_path / "x.png")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).endswith("x.png") else real(p, mode))
    with pytest.raises(ImageReadError, match="permission denied"):
        open_image(tmp_path / "x.png")


def test_empty_images_are_refused_through_the_api(tiny_reg_dir):
    with pytest.raises(ChromatizeError, match="without pixels"):
        inference.colorize(Image.new("L", (0, 0)), str(tiny_reg_dir))


# ------------------------------------------------------------------ fuzzing: mutated real files


def mutants(n: int, seed: int) -> list[tuple[str, bytes]]:
    """Bit flips, truncations, spliced tags and header edits of JPEG, PNG and TIFF files made here."""
    rng = random.Random(seed)
    bases = []
    for i in range(6):
        img = smooth_color_image(i, 24 + 4 * i)
        exif = Image.Exif()
        exif[0x010F], exif[0x0112], exif[0x011A] = "Cam", rng.choice([1, 3, 6, 8]), (72, 1)
        bases.append(("jpg", jpeg_bytes(img.convert("L"), exif=exif.tobytes())))
        b = io.BytesIO()
        img.save(b, "PNG", exif=exif.tobytes(), dpi=(300, 300))
        bases.append(("png", b.getvalue()))
        b = io.BytesIO()
        img.convert("L").save(b, "TIFF", dpi=(72, 72), compression=rng.choice(["raw", "tiff_lzw"]))
        bases.append(("tif", b.getvalue()))
    out = []
    for k in range(n):
        ext, data = rng.choice(bases)
        data = bytearray(data)
        op = rng.randrange(4)
        if op == 0:  # bit flips
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # truncation
            data = data[: rng.randrange(1, len(data))]
        elif op == 2:  # overwrite a run of bytes near the header (tags, chunk lengths, markers)
            i = rng.randrange(min(len(data), 200))
            data[i : i + 4] = bytes(rng.randrange(256) for _ in range(4))
        else:  # duplicate a slice (spliced segments)
            i, j = sorted(rng.randrange(len(data)) for _ in range(2))
            data[j:j] = data[i : i + 64]
        out.append((f"m{k:04d}.{ext}", bytes(data)))
    return out


def _fuzz(tiny_reg_dir: Path, tmp_path: Path, n: int, seed: int) -> None:
    src = tmp_path / "fuzz"
    src.mkdir()
    for name, data in mutants(n, seed):
        (src / name).write_bytes(data)
    for fmt in ("png", "same"):
        log = tmp_path / f"log_{fmt}.jsonl"
        done, skipped, failed = run_batch(
            [str(src)],
            tmp_path / f"out_{fmt}",
            model=str(tiny_reg_dir),
            fmt=fmt,
            progress=False,
            log=log,
            batch_size=16,
        )
        assert done + skipped + failed == n and done > n // 10
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        assert len(rows) == n
        for r in rows:  # every reason is one line naming the problem, never a bare traceback
            assert "\n" not in r["reason"] and "Traceback" not in r["reason"]
        assert not list((tmp_path / f"out_{fmt}").rglob("*.part"))


def test_fuzzed_files_never_abort_a_batch(tiny_reg_dir, tmp_path):
    _fuzz(tiny_reg_dir, tmp_path, 300, seed=0)


@pytest.mark.slow
def test_fuzzed_files_never_abort_a_batch_thousands(tiny_reg_dir, tmp_path):
    _fuzz(tiny_reg_dir, tmp_path, 3000, seed=1)


def test_resume_refuses_a_crafted_checkpoint_even_when_told_to_trust(tiny_prepared, tmp_path):
    """A checkpoint whose pickle would run code: refused although TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1."""

    run = tmp_path / "run"
    base = [
        sys.executable,
        "-m",
        "chromatize.cli",
        "train",
        "--model",
        "regression",
        "--data",
        str(tiny_prepared),
        "--size",
        "32",
        "-o",
        str(run),
        "--width",
        "8",
        "--batch-size",
        "4",
        "--val-limit",
        "4",
    ]
    subprocess.run([*base, "--max-steps", "1"], check=True, capture_output=True, timeout=300)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": {}, "evil": Evil()}, run / "checkpoints" / "last.ckpt")
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    r = subprocess.run([*base, "--resume", "--max-steps", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and not marker.exists()
    assert "not a plain-data checkpoint" in r.stderr and "Traceback" not in r.stderr


def test_overflowing_weights_fail_instead_of_black_images(tmp_path, capsys):
    """Bit flips that keep the weights finite but make them huge: the output overflows; refused."""
    torch.manual_seed(0)
    net = build("regression", width=8)
    with torch.no_grad():
        net.encoder[0][0].weight.mul_(1e38)  # an exponent bit flipped in every weight of the first conv
    save_model_dir(net, {"family": "regression", "options": {"width": 8}}, tmp_path / "m")
    gray().save(tmp_path / "x.png")
    code, out, err = colorize(capsys, tmp_path / "x.png", "-o", tmp_path / "o", "--model", tmp_path / "m")
    assert code == 1 and "NaN or infinite" in err and not (tmp_path / "o" / "x.png").exists()


def test_resume_keeps_the_earlier_metrics_rows(tiny_prepared, tmp_path):
    from chromatize.training.callbacks import read_metrics
    from chromatize.training.train import train

    opts = dict(size=32, options={"width": 8}, progress=False, batch_size=4, val_limit=4, log_every=1)
    train("regression", [str(tiny_prepared)], tmp_path / "run", max_steps=2, **opts)
    train("regression", [str(tiny_prepared)], tmp_path / "run", resume=True, max_steps=4, **opts)
    steps = sorted({int(r["step"]) for r in read_metrics(tmp_path / "run") if r.get("train_loss_step")})
    assert len(steps) == 4 and steps[:2] == [0, 1]  # the first run's rows are still there


def test_cluster_problems_are_one_line_before_out_is_touched(tmp_path, capsys, monkeypatch):
    """Issue 24 cases 8 and 13: --cluster without Dask gave 40 lines; a bad or unreachable address was
    found after OUT was created, an unreachable one after 20 s."""
    import socket
    import sys
    import time

    from .conftest import run_cli

    gray().save(tmp_path / "x.png")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    t0 = time.time()
    code, _, err = run_cli(
        capsys, "colorize", tmp_path / "x.png", "-o", tmp_path / "o1", "--cluster", f"tcp://127.0.0.1:{port}"
    )
    assert code != 0 and "cannot reach the scheduler" in err and "Traceback" not in err
    assert time.time() - t0 < 10 and not (tmp_path / "o1").exists()
    code, _, err = run_cli(capsys, "colorize", tmp_path / "x.png", "-o", tmp_path / "o2", "--cluster", "nowhere")
    assert code != 0 and "--cluster takes" in err and not (tmp_path / "o2").exists()
    monkeypatch.setitem(sys.modules, "distributed", None)  # the extra is not installed
    code, _, err = run_cli(capsys, "colorize", tmp_path / "x.png", "-o", tmp_path / "o3", "--cluster", "local:2")
    assert code != 0 and 'pip install ".[cluster]"' in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o3").exists()


def test_demo_on_a_busy_port_is_one_line(capsys):
    import socket

    from .conftest import run_cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, out, err = run_cli(capsys, "demo", "--port", str(s.getsockname()[1]))
    assert code != 0 and "choose --port" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "loading the models" not in out


def test_inputs_are_never_skipped_without_a_word(tiny_reg_dir, tmp_path, capsys, monkeypatch):
    """Issue 24 case 9: an empty folder gave '0 coloured', exit 0; a recursive glob with -o under it
    could not be resumed; --log inside OUT was refused; --log hard-linked to an input appended to it;
    a linked sub-folder was skipped in silence."""
    from .conftest import run_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli(capsys, "colorize", "empty", "-o", "o1", "--model", tiny_reg_dir)
    assert code == 1 and "empty: no images found in this folder" in err
    (tmp_path / "in" / "sub").mkdir(parents=True)
    gray().save(tmp_path / "in" / "a.png")
    gray(1).save(tmp_path / "in" / "sub" / "b.png")
    for _ in range(2):
        code, out, err = run_cli(capsys, "colorize", "in/**/*.png", "-o", "in/out", "--model", tiny_reg_dir)
        assert code == 0, err
    assert "2 skipped" in out and "2 matches inside -o in/out left out" in err
    code, out, err = run_cli(
        capsys, "colorize", "in/a.png", "-o", "o2", "--log", "o2/log.jsonl", "--model", tiny_reg_dir
    )
    assert code == 0 and (tmp_path / "o2" / "log.jsonl").is_file()
    os.link(tmp_path / "in" / "a.png", tmp_path / "same.jsonl")
    before = (tmp_path / "in" / "a.png").read_bytes()
    code, out, err = run_cli(capsys, "colorize", "in/a.png", "-o", "o3", "--log", "same.jsonl", "--model", tiny_reg_dir)
    assert code != 0 and "same file as the input" in err and (tmp_path / "in" / "a.png").read_bytes() == before
    (tmp_path / "in2").mkdir()
    (tmp_path / "in2" / "linked").symlink_to(tmp_path / "in" / "sub")
    gray(2).save(tmp_path / "in2" / "c.png")
    code, out, err = run_cli(capsys, "colorize", "in2", "-o", "o4", "--model", tiny_reg_dir)
    assert code == 0 and "a link to a folder, not followed" in err


def test_tampered_cards_are_refused_before_they_cost_anything(tiny_reg_dir, tmp_path, capsys):
    """Issue 24 case 12: render_min 4096 took 75 s and 6.9 GB for a small photo; width 512 allocated
    3.7 GB before the weights were refused; a card nested 100,000 levels deep gave a RecursionError."""
    import resource
    import shutil
    import time

    from .conftest import run_cli

    gray().save(tmp_path / "x.png")

    def tampered(name: str, edit) -> Path:
        d = tmp_path / name
        shutil.copytree(tiny_reg_dir, d)
        card = json.loads((d / "config.json").read_text())
        text = edit(card)
        (d / "config.json").write_text(text if isinstance(text, str) else json.dumps(card))
        return d

    big_min = tampered("min", lambda c: c.setdefault("inference", {}).update(render_min=4096))
    wide = tampered("wide", lambda c: c["options"].update(width=512))
    deep = tampered("deep", lambda c: '{"family": "regression", "options": ' + "[" * 100_000 + "]" * 100_000 + "}")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for d, says in ((big_min, "render_min must be"), (wide, "parameters; refusing"), (deep, "nested too deeply")):
        t0 = time.time()
        code, _, err = run_cli(capsys, "colorize", tmp_path / "x.png", "-o", tmp_path / f"o_{d.name}", "--model", d)
        assert code != 0 and says in err and "Traceback" not in err, err
        assert time.time() - t0 < 10
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert grown_mb < 500


def test_a_full_disk_under_the_log_does_not_stop_the_batch(tiny_reg_dir, tmp_path, capsys):
    """Issue 24 case 5: a full disk that takes the --log file aborted the batch with a traceback."""
    from .conftest import run_cli

    for i in range(3):
        gray(i).save(tmp_path / f"{i}.png")
    args = [tmp_path / f"{i}.png" for i in range(3)]
    code, out, err = run_cli(
        capsys, "colorize", *args, "-o", tmp_path / "o", "--log", "/dev/full", "--model", tiny_reg_dir
    )
    assert code == 0 and "3 coloured" in out and "Traceback" not in err
    assert err.count("cannot write") == 1


def test_a_jpeg_of_thousands_of_scans_is_refused_at_once(tmp_path):
    """Issue 24 case 6: a 573 KB progressive JPEG with 20,000 scans decoded for 98 s."""
    import time

    from chromatize.imageio import ImageReadError, open_image

    buf = io.BytesIO()
    gray(0, 64).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    sos = data.index(b"\xff\xda")
    eoi = data.rindex(b"\xff\xd9")
    scans = data[sos:eoi]
    first_scan_end = scans.index(b"\xff\xda", 2) if scans.count(b"\xff\xda") > 1 else len(scans)
    many = data[:sos] + scans + scans[:first_scan_end] * 3000 + data[eoi:]  # the first scan repeated
    (tmp_path / "scans.jpg").write_bytes(many)
    t0 = time.time()
    with pytest.raises(ImageReadError, match="scans"):
        open_image(tmp_path / "scans.jpg")
    assert time.time() - t0 < 2
    (tmp_path / "ok.jpg").write_bytes(data)
    assert open_image(tmp_path / "ok.jpg").size == (64, 64)  # an ordinary progressive JPEG still opens


def test_libtiff_says_nothing_on_stderr_and_its_words_join_the_message(capfd):
    """Pillow decodes compressed TIFFs with libtiff, which prints its complaints on fd 2 (a fuzzed batch
    printed 48 stray lines). They must join the file's one-line message and leave stderr empty."""
    from chromatize.errors import ImageReadError
    from chromatize.imageio import open_image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(buf, "TIFF", compression="tiff_lzw")
    good = buf.getvalue()
    random.seed(1)
    messages = []
    for _ in range(60):
        d = bytearray(good)
        for _ in range(5):
            d[random.randrange(len(d))] = random.randrange(256)
        try:
            open_image(bytes(d))
        except ImageReadError as e:
            messages.append(str(e))
    open_image(good)  # a good TIFF still decodes
    err = capfd.readouterr().err
    assert err == "", err[:300]
    assert any("libtiff: " in m for m in messages) and all("\n" not in m for m in messages)
