"""How many threads the network gets: the cores that are free now, not all of them.

Measured (README "Speed on a busy machine", `benchmarks/busy_speed.py`, a 1-megapixel photo, the
default model, 2 cores): two torch threads take 0.127 s idle but 0.365 s beside a busy loop on one core
and 0.473 s when two chromatize processes colour side by side (the threads wait on each other); one
thread takes 0.163 s in all three cases; OpenMP's passive wait policy makes two threads as slow as one
even when idle. So: as many threads as cores are free, re-measured as the work goes.

`ThreadPolicy.apply` is called before each network run. It reads the machine's busy time
(``/proc/stat``) and this process's own CPU time since the last reading, at most every `RECHECK`
seconds, and sets ``torch.set_num_threads`` to the free cores (at least one). ``CHROMATIZE_THREADS=N``
fixes N threads; ``CHROMATIZE_THREADS=torch`` leaves torch's setting alone (the policy off). Off where
``/proc/stat`` does not exist.

Batches (`batch.run_batch`) use the count differently: every network run holds one thread (the bytes of
a file must not depend on the machine) and `batch_workers` chunks are coloured side by side.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RECHECK = 1.0  # seconds between readings
FIRST_SAMPLE = 0.05  # seconds of the first reading (there is no earlier one to compare with)


def _busy_seconds() -> tuple[float, int] | None:
    """(busy CPU seconds of the whole machine since boot, cores) from /proc/stat, or None."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(v) for v in first[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (sum(ticks[:8]) - idle) / hz, os.cpu_count() or 1


class ThreadPolicy:
    """Chooses torch's intra-op threads from the cores that other processes leave free."""

    MAX_BATCH_WORKERS = 4  # images in flight at once in a batch (each holds its full-size arrays)

    def __init__(self) -> None:
        self.mode = os.environ.get("CHROMATIZE_THREADS", "auto").strip().lower() or "auto"
        self._last: tuple[float, float, float] | None = None  # (wall, machine busy, own CPU)
        self.threads: int | None = None
        self.strips: int | None = None  # side-by-side strips of one image's output (None: torch's threads)

    def _reading(self) -> tuple[float, float, float] | None:
        b = _busy_seconds()
        return None if b is None else (time.perf_counter(), b[0], time.process_time())

    def free_cores(self) -> float | None:
        """Cores not used by other processes since the last reading (None: unknown)."""
        now = self._reading()
        if now is None:
            return None
        if self._last is None:
            self._last = now
            time.sleep(FIRST_SAMPLE)
            now = self._reading()
        wall, busy, own = (a - b for a, b in zip(now, self._last))
        self._last = now
        cores = os.cpu_count() or 1
        others = max(0.0, busy - own) / max(wall, 1e-6)
        return max(0.0, cores - others)

    def choose(self) -> int | None:
        """Threads to use now (None: leave torch alone)."""
        if self.mode == "torch":
            return None
        if self.mode != "auto":
            try:
                return max(1, int(self.mode))
            except ValueError:
                return None
        if self._last is not None and time.perf_counter() - self._last[0] < RECHECK and self.threads:
            return self.threads
        free = self.free_cores()
        if free is None:
            return None
        return max(1, min(os.cpu_count() or 1, int(free + 0.5)))

    def apply(self) -> None:
        """Set torch's threads for the next network run (cheap when nothing changes)."""
        n = self.choose()
        if n is None:
            return
        import torch

        if n != torch.get_num_threads():
            torch.set_num_threads(n)
        self.threads = n

    def batch_workers(self) -> int:
        """Chunks of a batch coloured side by side, each network run on one thread (`batch.run_batch`):
        the cores free now (or ``CHROMATIZE_THREADS=N``; 1 when the policy is off), at most
        `MAX_BATCH_WORKERS`. One thread per network run makes a batch's files the same bytes on any
        machine load and core count, and as a cluster worker's; 64x64 images: 46-48 images/s against
        34-35 with one chunk at a time on two threads."""
        return max(1, min(self.MAX_BATCH_WORKERS, self.choose() or 1))

    def fixed_count(self) -> int:
        """The threads to hold for a whole job whose result must not depend on the load (a film): the
        policy's choice now, or torch's setting when the policy is off."""
        import torch

        return self.choose() or torch.get_num_threads()

    @contextmanager
    def holding(self, n: int) -> Iterator[None]:
        """Exactly ``n`` threads for every network run inside, whatever the load (float sums depend on
        the thread count in the last bits, and a film's chunks must come out the same when a run
        resumes); the policy as before afterwards."""
        import torch

        mode, before = self.mode, torch.get_num_threads()
        self.mode = str(n)
        try:
            yield
        finally:
            self.mode = mode
            torch.set_num_threads(before)


POLICY = ThreadPolicy()
