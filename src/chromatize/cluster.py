"""Colouring an archive on a Dask cluster (extra ``chromatize[cluster]``).

The client sends chunks of files as ordinary Dask tasks; a worker plugin loads the model once per
worker process at start-up. Plain tasks (not actors) keep what Dask gives for free: a failed task is
retried, and when a worker dies its tasks are re-run elsewhere. Outputs are written atomically into
the output folder, which every worker must see (shared storage); re-running after a crash skips the
outputs already written, exactly as a local run does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch import BatchWorker, Settings
from .batch_files import Job, Outcome
from .errors import ChromatizeError

if TYPE_CHECKING:
    from .film import FilmResult, FilmSettings
    from .inference import LoadedModel

try:
    from distributed import WorkerPlugin
except ImportError:  # the cluster extra is not installed; `connect` says how to get it
    WorkerPlugin = object

CHUNK = 8  # files per task: large enough to batch the network, small enough to spread and retry
PLUGIN = "chromatize-model"


class ModelPlugin(WorkerPlugin):
    """Dask worker plugin: loads the model once when the worker starts; tasks reuse it."""

    idempotent = True
    name = PLUGIN

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.worker: BatchWorker | None = None

    def setup(self, worker=None) -> None:
        import torch

        from .inference import load_model
        from .threads import POLICY

        # one thread per network run, as a local batch holds (`batch._chunks_side_by_side`): the same
        # bytes on any worker machine's core count (films pass the count their chunks were made with)
        threads = int(self.spec.get("threads") or 1)
        POLICY.mode = str(threads)
        torch.set_num_threads(threads)
        s = self.spec
        m = load_model(s["model"], device=s["device"], engine=s["engine"])
        self.worker = BatchWorker(m, Settings(**s["settings"]))

    def teardown(self, worker=None) -> None:
        self.worker = None


def colour_chunk(pairs: list[tuple[str, str, bool]], started: float) -> list[dict]:
    """Task: colour ``pairs`` (input, output, redo) with this worker's model; one outcome dict per file.

    An output that this batch already wrote (a retried chunk after a worker died) counts as done.
    """
    from distributed import get_worker

    from .imageio import is_ours

    plugin = get_worker().plugins[PLUGIN]
    if plugin.worker is None:
        plugin.setup()
    jobs = [Job(Path(s), Path(d), bool(r)) for s, d, r in pairs]
    out = []
    for o in plugin.worker.run(jobs):
        d = Path(o.dst) if o.dst else None
        if o.status == "skipped" and d is not None and is_ours(d) and d.stat().st_mtime >= started:
            o = Outcome(o.src, o.dst, "ok", "written by an earlier try of this batch")
        out.append(asdict(o))
    return out


def film_chunk_task(src: str, parts_dir: str, k: int, spec: dict, settings: dict, threads: int) -> tuple[int, int]:
    """Task: chunk ``k`` of the film ``src`` into ``parts_dir`` (see `film.colour_chunk`); (frames, cuts)."""
    from .film import FilmSettings, _Parts, colour_chunk
    from .inference import load_model
    from .video import FilmSource

    parts = _Parts.existing(Path(parts_dir), threads)
    if parts.done(k):  # a retry after the chunk was written
        return 0, 0
    m = load_model(spec["model"], device=spec["device"], engine=spec["engine"])  # cached per worker process
    return colour_chunk(FilmSource(src), k, parts, m, FilmSettings(**settings))


CONNECT_TIMEOUT = "5s"


def check_address(address: str) -> int | None:
    """Check ``--cluster`` before any work: Dask installed, the address well formed. Returns the worker
    count of ``local[:N]`` (None for a scheduler address)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ChromatizeError('--cluster needs Dask: pip install ".[cluster]" (in the chromatize checkout)') from None
    if address == "local" or address.startswith("local:"):
        n = address.partition(":")[2]
        if n and (not n.isdigit() or int(n) < 1):
            raise ChromatizeError(f"--cluster local:N takes a positive worker count, got {address!r}")
        return int(n) if n else max(1, (os.cpu_count() or 2) // 2)
    if "://" not in address and ":" not in address:
        raise ChromatizeError(f"--cluster takes tcp://host:port or local[:N], got {address!r}")
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if host and port.isdigit():  # tcp-like: is anyone listening? (seconds, not Dask's long timeout)
        import socket

        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
        except OSError as e:
            raise ChromatizeError(f"--cluster {address}: cannot reach the scheduler ({e.strerror or e})") from None
    return None


def connect(address: str):
    """A Dask client: ``local[:N]`` starts N worker processes here; anything else is a scheduler address."""
    workers = check_address(address)
    from distributed import Client, LocalCluster

    if workers is not None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster, 1
    try:
        return Client(address, timeout=CONNECT_TIMEOUT), None, None
    except OSError as e:
        raise ChromatizeError(f"--cluster {address}: cannot reach the scheduler ({e})") from None


def run_on_cluster(address: str, jobs: list[Job], spec: dict[str, Any], chunk: int | None = None) -> Iterator[Outcome]:
    """Colour ``jobs`` on the cluster at ``address``; yields outcomes as chunks finish. A chunk is the
    batch size (`CHUNK` without settings), as a local run's chunks: the same network batches, the same bytes."""
    chunk = chunk or int(spec.get("settings", {}).get("batch_size") or CHUNK)
    client, cluster, threads = connect(address)
    from distributed import as_completed

    try:
        client.register_plugin(ModelPlugin({**spec, "threads": threads}), name=PLUGIN)
        started = time.time() - 1.0
        chunks = [jobs[k : k + chunk] for k in range(0, len(jobs), chunk)]
        futures = [
            client.submit(colour_chunk, [(str(j.src), str(j.dst), j.redo) for j in c], started, retries=2, pure=False)
            for c in chunks
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            try:
                for d in fut.result():
                    yield Outcome(**d)
            except Exception as e:  # noqa: BLE001 - a chunk that failed on every try: its files failed
                for j in chunks[index[fut.key]]:
                    yield Outcome(str(j.src), None, "failed", f"cluster task failed: {type(e).__name__}: {e}")
    finally:
        _close(client, cluster)


def _close(client, cluster) -> None:
    """Close a client and the local cluster it started, if any (closing twice is harmless in Dask)."""
    client.close()
    if cluster is not None:
        cluster.close()


def colour_film_on_cluster(
    address: str,
    src: str | Path,
    out: Path,
    model: LoadedModel,
    settings: FilmSettings,
    *,
    spec: dict | None = None,
    overwrite: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
) -> FilmResult | None:
    """`colour_film` with the chunks spread over a Dask cluster (`cluster.connect`): each worker seeks to
    its chunk's warm-up frames, so the seams are those of a local run; the client joins the chunks. The
    film and ``out`` must be on storage every worker sees under the same path. ``spec``: how a worker
    loads the model (default: ``model``'s name on the CPU with its engine)."""
    from .film import FilmResult, _digest, _finished, _join, _output, _Parts, film_lock
    from .video import FilmSource

    settings.check()
    source = FilmSource(src)
    if source.files:
        raise ChromatizeError(f"{source.name}: --cluster colours video files; colour folders of frames without it")
    name, dst = _output(source, out)
    if _finished(out, name, dst, overwrite):
        return None
    total = len(source.timestamps())
    chunks = -(-total // settings.chunk)
    spec = spec or {"model": str(model.name), "device": "cpu", "engine": model.engine}
    from distributed import as_completed

    client, cluster, threads = connect(address)  # before OUT is touched: a bad address changes nothing
    try:
        out.mkdir(parents=True, exist_ok=True)
        with film_lock(out, name):
            if _finished(out, name, dst, overwrite):  # another run finished it meanwhile
                return None
            parts = _Parts(out, name, _digest(source, model, settings), False, threads or 1)
            todo = [k for k in range(chunks) if not parts.done(k)]
            futures = {
                client.submit(
                    film_chunk_task,
                    str(source.path),
                    str(parts.dir),
                    k,
                    spec,
                    asdict(settings),
                    parts.threads,
                    retries=2,
                    pure=False,
                ): k
                for k in todo
            }
            done, cuts = total - sum(min(settings.chunk, total - k * settings.chunk) for k in todo), 0
            for fut in as_completed(list(futures)):
                try:
                    frames, c = fut.result()
                except Exception as e:  # noqa: BLE001 - the chunk failed on every try: the film fails
                    raise ChromatizeError(
                        f"{source.name}: chunk {futures[fut]} failed on the cluster ({type(e).__name__}: {e}); "
                        "run again to redo only the missing chunks"
                    ) from None
                done, cuts = done + frames, cuts + c
                if on_frame:
                    on_frame(done, total)
            _close(client, cluster)  # the workers are done: free them before the join
            _join(parts, source, dst)
            parts.remove()
    finally:
        _close(client, cluster)
    return FilmResult(str(source.path), str(dst), total, len(todo), chunks - len(todo), cuts, parts.threads)
