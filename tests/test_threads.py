"""The thread policy: the network gets the cores other processes leave free."""

from __future__ import annotations

import pytest

from chromatize import threads


class FakeMachine:
    """Wall time, the machine's busy CPU seconds and this process's CPU seconds, advanced by hand."""

    def __init__(self, monkeypatch, cores: int = 2):
        self.wall = self.busy = self.own = 0.0
        monkeypatch.setattr(threads, "_busy_seconds", lambda: (self.busy, cores))
        monkeypatch.setattr(threads.time, "perf_counter", lambda: self.wall)
        monkeypatch.setattr(threads.time, "process_time", lambda: self.own)
        monkeypatch.setattr(threads.time, "sleep", lambda s: self.advance(s))
        monkeypatch.setattr(threads.os, "cpu_count", lambda: cores)
        self.others, self.mine = 0.0, 0.0  # cores busy with other processes / with ours

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.busy += (self.others + self.mine) * seconds
        self.own += self.mine * seconds


@pytest.mark.parametrize(
    ("others", "mine", "want"),
    [(0.0, 0.0, 2), (0.0, 2.0, 2), (1.0, 1.0, 1), (1.0, 0.0, 1), (2.0, 0.0, 1), (0.3, 1.7, 2)],
)
def test_threads_follow_the_free_cores(monkeypatch, others, mine, want):
    monkeypatch.setenv("CHROMATIZE_THREADS", "auto")
    m = FakeMachine(monkeypatch)
    m.others, m.mine = others, mine
    p = threads.ThreadPolicy()
    assert p.choose() == want  # the first reading samples the machine briefly
    m.advance(2.0)
    assert p.choose() == want  # later readings: since the last one


def test_the_neighbour_leaving_gives_the_core_back(monkeypatch):
    monkeypatch.setenv("CHROMATIZE_THREADS", "auto")
    m = FakeMachine(monkeypatch)
    p = threads.ThreadPolicy()
    m.others = 1.0
    assert p.choose() == 1
    p.threads = 1
    m.advance(0.5)
    assert p.choose() == 1  # re-measured at most every RECHECK seconds
    m.others = 0.0
    m.advance(threads.RECHECK + 0.1)
    assert p.choose() == 2


def test_fixed_count_or_off(monkeypatch):
    monkeypatch.setenv("CHROMATIZE_THREADS", "3")
    assert threads.ThreadPolicy().choose() == 3
    monkeypatch.setenv("CHROMATIZE_THREADS", "torch")
    assert threads.ThreadPolicy().choose() is None
    monkeypatch.setenv("CHROMATIZE_THREADS", "auto")
    monkeypatch.setattr(threads, "_busy_seconds", lambda: None)  # no /proc/stat: torch's setting stays
    assert threads.ThreadPolicy().choose() is None


def test_apply_sets_torch_threads(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("CHROMATIZE_THREADS", "1")
    try:
        threads.ThreadPolicy().apply()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_batch_gives_the_same_bytes_on_one_or_two_threads(tmp_path, monkeypatch):
    """Issue 24 case 8: a batch's files must not depend on the thread count (float sums in oneDNN's
    1x1 convolutions differ in their last bits between one and two threads, which moved 0.002 % of the
    pixels by a level). Batches now hold one thread per network run and colour chunks side by side."""
    import hashlib

    from chromatize.batch import run_batch
    from chromatize.threads import POLICY

    from .conftest import smooth_color_image

    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        smooth_color_image(i, 160).convert("L").resize((200, 150)).save(src / f"p{i:02d}.png")
    digests = {}
    for n in ("1", "2"):
        monkeypatch.setattr(POLICY, "mode", n)
        assert run_batch([str(src)], tmp_path / n, model="efficientnet_unet", progress=False, batch_size=4)[0] == 12
        digests[n] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / n).glob("*.png")}
    assert digests["1"] == digests["2"]
