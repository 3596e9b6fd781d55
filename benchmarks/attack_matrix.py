"""The attack matrix of issue 24, re-run through the real command line: each numbered case as a scenario,
plus a batch of fuzzed files. Every scenario checks what a person would lose or see: files coloured or
skipped as they should be, files that are not ours untouched, one line per problem, never a traceback.

    python benchmarks/attack_matrix.py [--fuzz 1500] [--model efficientnet_unet] [-o /tmp/attack]

Prints one line per check (ok / FAILED with what was seen) and a JSON summary: checks, failures, lost
files (intact inputs of the fuzz batch not coloured), tracebacks (in any output of any command).
Cases that need a second machine state (train into a run, the demo on a busy port, the cluster without
Dask) are covered by tests named in the summary, not re-run here.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS: list[dict] = []
WORDS = ["harbour", "market", "aunt", "bridge", "mill", "street"]
TRACEBACKS = 0
TRACEBACKS_SEEN: list[str] = []  # where: the command and the traceback's last lines


def photo(seed: int, size: int = 64) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    g = 90 + 80 * np.sin(6 * xx + seed) * np.cos(4 * yy) + rng.normal(0, 6, (size, size))
    return Image.fromarray(np.clip(g, 0, 255).astype(np.uint8), "L")


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> tuple[int, str]:
    """Run `chromatize ...`; (exit code, stdout + stderr). Counts tracebacks."""
    r = subprocess.run(
        [sys.executable, "-m", "chromatize", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    out = r.stdout + r.stderr
    _tracebacks(" ".join(args), out)
    return r.returncode, out


def _tracebacks(what: str, out: str) -> None:
    global TRACEBACKS
    n = out.count("Traceback (most recent call last)")
    if n:
        TRACEBACKS += n
        TRACEBACKS_SEEN.append(f"{what[:160]}: ...{out[out.index('Traceback') :][-700:]}")


def check(case: str, what: str, ok: bool, seen: str = "") -> None:
    RESULTS.append({"case": case, "check": what, "ok": bool(ok), "seen": "" if ok else seen[-400:]})
    print(f"{'ok    ' if ok else 'FAILED'} case {case}: {what}" + ("" if ok else f"\n       seen: {seen[-400:]!r}"))


def log_rows(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def case_1(d: Path, model: str) -> None:
    inp, out = d / "in", d / "out"
    inp.mkdir()
    photo(1).save(inp / "photo.png")
    cli("colorize", str(inp), "-o", str(out), "--model", model)
    first = (out / "photo.png").read_bytes()
    photo(2).save(inp / "photo.jpg", quality=92)
    rc, text = cli("colorize", str(inp), "-o", str(out), "--model", model)
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    check("1", "an added photo.jpg is coloured under its own name, photo.png kept", len(names) == 2 and rc == 0, text)
    check("1", "photo.png's output untouched by the rerun", (out / "photo.png").read_bytes() == first, str(names))
    photo(3).save(inp / "photo.png")  # changed input
    rc, text = cli("colorize", str(inp), "-o", str(out), "--model", model)
    check(
        "1", "a changed input is redone and said", (out / "photo.png").read_bytes() != first and "changed" in text, text
    )


def case_2(d: Path, model: str) -> None:
    inp, out = d / "in", d / "out"
    inp.mkdir()
    out.mkdir()
    photo(4).save(inp / "a.png")
    photo(5).save(inp / "a.confidence.png")
    (out / "b.confidence.png").write_bytes(b"someone else's file")
    photo(6).save(inp / "b.png")
    rc, text = cli("colorize", str(inp), "-o", str(out), "--model", model, "--confidence")
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    want = ["a-2.confidence.png", "a-2.png", "a.confidence.confidence.png", "a.confidence.png", "b.confidence.png"]
    check("2", "a.png and a.confidence.png: two outputs, two maps, distinct names", files == want, str(files))
    check(
        "2",
        "a foreign b.confidence.png is never replaced; b.png fails in one line naming it",
        (out / "b.confidence.png").read_bytes() == b"someone else's file" and "b.confidence.png exists" in text,
        text,
    )


def two_runs_at_once(inp: Path, out: Path, model: str) -> tuple[list[int], list[str]]:
    """`chromatize colorize inp -o out` twice at the same time: (exit codes, outputs)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "chromatize", "colorize", str(inp), "-o", str(out), "--model", model],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    texts = [p.communicate(timeout=600)[0] for p in procs]
    return [p.returncode for p in procs], texts


def case_3(d: Path, model: str) -> None:
    inp, out = d / "in", d / "out"
    inp.mkdir()
    (out / "sub").mkdir(parents=True)
    (out / "sub" / ".movie.mkv.part").write_bytes(b"a user's half-downloaded film")
    for i in range(12):
        photo(10 + i).save(inp / f"{WORDS[i % 6]}-{'abcdefghijkl'[i]}.png")  # not numbered frames (a film)
    codes, texts = two_runs_at_once(inp, out, model)
    _tracebacks("one of two runs at once (photos)", "\n".join(texts))
    check(
        "3",
        "two runs into one OUT at once: both finish without a failed file",
        all(c == 0 for c in codes)
        and not any("failed" in t.split("coloured")[-1] and " 0 failed" not in t for t in texts),
        "\n".join(texts),
    )
    check("3", "a user's hidden .part file under OUT is kept", (out / "sub" / ".movie.mkv.part").exists())
    ours = [p for p in out.rglob("*.part") if p.name != ".movie.mkv.part"]
    check("3", "no temporary file left", not ours, str(ours))


def case_3_film(d: Path, model: str) -> None:
    """The same for a film (numbered frames): the two runs shared its work folder."""
    inp, out = d / "frames", d / "out"
    inp.mkdir()
    for i in range(40):
        photo(70 + i // 10).save(inp / f"frame{i:04d}.png")
    codes, texts = two_runs_at_once(inp, out, model)
    both = "\n".join(texts)
    _tracebacks("one of two runs at once (a film)", both)
    ok = "No such file" not in both and (
        all(c == 0 for c in codes) or "another chromatize run is colouring this film" in both
    )
    check("3", "two runs on one film into one OUT: one colours it, the other says so in one line", ok, both)
    rc, text = cli("colorize", str(inp), "-o", str(out), "--model", model)
    check("3", "and a rerun finds it done", rc == 0 and len(list((out / "frames").glob("*.png"))) == 40, text)


def case_5_7_9(d: Path, model: str) -> None:
    inp, out = d / "in", d / "out"
    inp.mkdir()
    photo(20).save(inp / "ok.jpg", quality=90)
    photo(21).save(inp / ("n" * 246 + ".png"))  # 250 bytes: the longest names must work (case 7)
    locked = inp / "locked"
    locked.mkdir()
    photo(22).save(locked / "inside.png")
    locked.chmod(0)
    deep = inp
    for _ in range(12):
        deep = deep / ("d" * 200)
    try:
        deep.mkdir(parents=True)
        photo(23).save(deep / "deep.png")
    except OSError:
        pass
    (inp / "empty").mkdir()
    log = d / "log.jsonl"
    try:
        rc, text = cli("colorize", str(inp), "-o", str(out), "--model", model, "--log", str(log))
    finally:
        locked.chmod(0o755)
    check(
        "5",
        "ok.jpg is coloured beside unreadable, deep and long paths",
        (out / "ok.png").exists() or (out / "ok.jpg").exists(),
        text,
    )
    check("7", "a 250-byte name is coloured", any(p.name.startswith("n" * 200) for p in out.iterdir()), text)
    if os.geteuid() != 0:  # root reads a folder of mode 000
        check("9", "the unreadable folder is named, not skipped in silence", "locked" in text, text)
    rc, text = cli("colorize", str(inp / "empty"), "-o", str(d / "out2"), "--model", model)
    check("9", "an empty folder says so and fails", rc != 0 and "no image" in text.lower(), text)
    rc, text = cli("colorize", str(inp / "ok.jpg"), "-o", str(d / "out3"), "--model", model, "--log", "/dev/full")
    check(
        "5",
        "a full disk under --log is a warning, the photo still coloured",
        rc == 0 and any((d / "out3").iterdir()),
        text,
    )
    rc, text = cli("colorize", str(inp / "ok.jpg"), "-o", str(d / "out4"), "--model", model, "--log", str(d))
    check("9", "--log naming a folder is one line", rc != 0 and len(text.strip().splitlines()) <= 2, text)
    rc, text = cli(
        "colorize", str(inp / "ok.jpg"), "-o", str(d / "out5"), "--model", model, "--log", str(d / "out5" / "log.jsonl")
    )
    check(
        "9", "--log inside the output folder chromatize creates", rc == 0 and (d / "out5" / "log.jsonl").exists(), text
    )
    sub = inp / "coloured"
    rc, text = cli("colorize", str(inp / "ok.jpg"), "-o", str(sub), "--model", model)
    rc, text = cli("colorize", str(inp), "-o", str(sub), "--model", model)
    check(
        "9",
        "outputs inside OUT under the input folder are left out with a note",
        "left out" in text or "inside" in text,
        text,
    )


def case_6(d: Path, model: str) -> None:
    img = photo(30, 48).convert("RGB")
    b = io.BytesIO()
    img.save(b, "JPEG", progressive=True)
    data = b.getvalue()
    sos = data.index(b"\xff\xda")
    eoi = data.rindex(b"\xff\xd9")
    scan = b"\xff\xda\x00\x0c\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00" + b"\x00" * 4
    bomb = data[:eoi] + scan * 3000 + data[eoi:]
    (d / "in").mkdir()
    (d / "in" / "scans.jpg").write_bytes(bomb[: max(sos, 0)] + bomb[sos:])
    photo(31).save(d / "in" / "fine.png")
    t = time.perf_counter()
    rc, text = cli("colorize", str(d / "in"), "-o", str(d / "out"), "--model", model)
    took = time.perf_counter() - t
    check(
        "6",
        "a JPEG of 3,000 scans is refused in one line, fine.png coloured",
        "scans" in text and (d / "out" / "fine.png").exists(),
        text,
    )
    check("6", f"and quickly ({took:.1f} s for the run)", took < 60, text)


def case_8(d: Path, model: str) -> None:
    inp = d / "in"
    inp.mkdir()
    for i in range(6):
        photo(40 + i, 200).save(inp / f"c{i}.png")  # 200 px: two threads used to move pixels here
    Image.new("RGB", (40, 40), (200, 30, 30)).save(inp / "colour.png")  # "already colour" note
    rc1, t1 = cli("colorize", str(inp), "-o", str(d / "local"), "--model", model, env={"CHROMATIZE_THREADS": "2"})
    rc0, t0 = cli("colorize", str(inp), "-o", str(d / "local1"), "--model", model, env={"CHROMATIZE_THREADS": "1"})
    rc2, t2 = cli("colorize", str(inp), "-o", str(d / "cluster"), "--model", model, "--cluster", "local:2")
    files = [p.name for p in (d / "cluster").iterdir() if not p.name.startswith(".")]
    same = all(
        (d / "local" / n).read_bytes() == (d / "cluster" / n).read_bytes() == (d / "local1" / n).read_bytes()
        for n in files
    )
    check(
        "8",
        "the cluster's files equal local runs on two and on one thread, byte for byte",
        rc0 == rc1 == rc2 == 0 and len(files) == 7 and same,
        t1 + t2,
    )
    check("8", "the cluster carries per-file notes back", ("colour" in t2 and "colour" in t1), t2)
    t = time.perf_counter()
    rc, text = cli("colorize", str(inp), "-o", str(d / "never"), "--model", model, "--cluster", "tcp://127.0.0.1:1")
    check(
        "8",
        "an unreachable scheduler is one line, fast, before OUT exists",
        rc != 0 and not (d / "never").exists() and time.perf_counter() - t < 30,
        text,
    )


def case_10(d: Path, model: str) -> None:
    inp, out = d / "in", d / "out"
    inp.mkdir()
    photo(50).save(inp / "x.png")
    cli("colorize", str(inp), "-o", str(out), "--model", model)
    before = (out / "x.png").read_bytes()
    rc, text = cli("colorize", str(inp), "-o", str(out), "--model", model, "--temperature", "0.2")
    check("10", "other settings into the same OUT are said", "setting" in text.lower(), text)
    rc, text = cli("colorize", str(inp), "-o", str(out), "--model", model, "--temperature", "0.2", "--overwrite")
    check("10", "--overwrite redoes them", (out / "x.png").read_bytes() != before, text)


def case_12(d: Path, model: str) -> None:
    from chromatize.inference import model_folder

    src = model_folder(model)
    for what, edit in (
        ("render_min 4096", lambda c: {**c, "render_min": 4096}),
        ("a card nested 100,000 deep", None),
    ):
        m = d / what.replace(" ", "_").replace(",", "")
        shutil.copytree(src, m)
        card = json.loads((m / "config.json").read_text())
        if edit is None:
            (m / "config.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
        else:
            (m / "config.json").write_text(json.dumps(edit(card)))
        photo(60).save(d / "p.png")
        t = time.perf_counter()
        rc, text = cli("colorize", str(d / "p.png"), "-o", str(d / ("out_" + m.name)), "--model", str(m))
        check(
            "12",
            f"a tampered card ({what}) is refused in one line, fast",
            rc != 0 and time.perf_counter() - t < 30 and len(text.strip().splitlines()) <= 3,
            text,
        )


def fuzz(d: Path, model: str, n: int) -> int:
    """n mutated JPEG/PNG/TIFF files and n // 10 intact ones in one batch; returns lost intact files."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_hardening import mutants

    inp = d / "in"
    inp.mkdir()
    for name, data in mutants(n, seed=24):
        (inp / name).write_bytes(data)
    intact = [f"intact{i:03d}.png" for i in range(n // 10)]
    for i, name in enumerate(intact):
        photo(100 + i, 40).save(inp / name)
    log = d / "log.jsonl"
    rc, text = cli("colorize", str(inp), "-o", str(d / "out"), "--model", model, "--log", str(log), timeout=3600)
    rows = log_rows(log)
    lost = [r for r in rows if Path(r["input"]).name in intact and r["status"] != "ok"]
    check(
        "fuzz", f"{n} fuzzed + {len(intact)} intact files: one log row each", len(rows) == n + len(intact), text[-400:]
    )
    check("fuzz", "every intact file coloured", not lost, str(lost[:3]))
    check("fuzz", "every failure one line", all("\n" not in r.get("reason", "") for r in rows))
    check("fuzz", "no temporary file left", not list((d / "out").rglob("*.part")))
    return len(lost)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fuzz", type=int, default=1500)
    ap.add_argument("--model", default="efficientnet_unet")
    ap.add_argument("-o", "--out", default=None)
    a = ap.parse_args()
    root = Path(a.out) if a.out else Path(tempfile_dir())
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t = time.perf_counter()
    for name, fn in (
        ("1", case_1),
        ("2", case_2),
        ("3", case_3),
        ("3-film", case_3_film),
        ("5-7-9", case_5_7_9),
        ("6", case_6),
    ):
        d = root / f"case{name}"
        d.mkdir()
        fn(d, a.model)
    for name, fn in (("8", case_8), ("10", case_10), ("12", case_12)):
        d = root / f"case{name}"
        d.mkdir()
        fn(d, a.model)
    (root / "fuzz").mkdir()
    lost = fuzz(root / "fuzz", a.model, a.fuzz)
    failures = [r for r in RESULTS if not r["ok"]]
    print(
        json.dumps(
            {
                "checks": len(RESULTS),
                "failures": len(failures),
                "lost_files": lost,
                "tracebacks": TRACEBACKS,
                "tracebacks_seen": TRACEBACKS_SEEN,
                "seconds": round(time.perf_counter() - t),
                "by_tests_not_here": {
                    "4 (demo -o)": "tests/test_demo.py::test_kept_results_are_named_uniquely_and_never_replace_others",
                    "11 (train into a run)": "tests/test_train.py::"
                    "test_training_into_an_existing_run_needs_resume_or_overwrite",
                    "13 (cluster without Dask, busy port)": "tests/test_hardening.py",
                },
            },
            indent=1,
        )
    )
    sys.exit(1 if failures or lost or TRACEBACKS else 0)


def tempfile_dir() -> str:
    import tempfile

    return str(Path(tempfile.gettempdir()) / "chromatize-attack-matrix")


if __name__ == "__main__":
    random.seed(0)
    main()
