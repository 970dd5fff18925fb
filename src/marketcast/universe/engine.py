"""Where the assets are computed: in this process, on a LocalCluster, or on an existing Dask cluster.

Only asset specs (a few strings) and the settings travel to the workers; each worker loads its
own assets and writes one Parquet part per asset (:func:`marketcast.universe.work.run_asset`),
and sends back a small summary. The client never receives a data frame through the scheduler.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from marketcast.errors import DataError
from marketcast.universe.settings import RiskSettings
from marketcast.universe.sources import AssetSpec
from marketcast.universe.work import run_asset

__all__ = ["Engine", "run_assets"]

#: BLAS/OpenMP thread caps inside workers: one worker per core must not start a pool per core.
THREAD_CAPS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
#: Task retries after a worker dies (parts are idempotent, so a rerun duplicates nothing).
RETRIES = 3
GIB = 1 << 30
#: Dask settings of the LocalCluster the job starts: a batch of long tasks needs no statistical
#: profiler sampling each worker's stack every 10 ms, nor memory and system monitors 10 and 2
#: times a second. On two cores Dask's defaults took ~8% of a core while idle and more while busy
#: (~2% with these), CPU the assets' work then lacks. The dashboard still shows tasks and memory.
BATCH_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "500ms",
}


@dataclass(frozen=True)
class Engine:
    """``local`` (in-process), ``cluster`` (a LocalCluster of ``workers`` processes) or ``scheduler``."""

    kind: str = "cluster"
    workers: int | None = None
    scheduler: str | None = None
    memory_limit: int | None = None

    @classmethod
    def choose(cls, *, local: bool = False, workers: int | None = None, scheduler: str | None = None) -> Engine:
        if sum([bool(local), workers is not None, scheduler is not None]) > 1:
            raise DataError("choose one of --local, --workers and --scheduler")
        if local:
            return cls("local")
        if scheduler is not None:
            if not scheduler.strip():
                raise DataError("--scheduler: empty address")
            return cls("scheduler", scheduler=scheduler.strip())
        if workers is not None and workers < 1:
            raise DataError(f"--workers must be at least 1, got {workers}")
        return cls("cluster", workers=workers)

    def describe(self) -> dict:
        return {"kind": self.kind, "workers": self.workers, "scheduler": self.scheduler}


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _memory_limit(n_workers: int) -> int:
    import psutil

    share = int(psutil.virtual_memory().total * 0.8 / max(n_workers, 1))
    return max(GIB, min(4 * GIB, share))


def connect(engine: Engine, echo: Callable[[str], None]):
    """A Dask client (and the LocalCluster it owns, or ``None``); unreachable schedulers raise a DataError."""
    from distributed import Client

    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    if not verbose:  # Dask's INFO lines only with --verbose
        for name in ("distributed", "tornado", "bokeh"):
            logging.getLogger(name).setLevel(logging.ERROR)
    if engine.kind == "scheduler":
        if not engine.scheduler:
            raise DataError("--scheduler: empty address")
        address = engine.scheduler
        if "://" not in address:
            address = f"tcp://{address}"
        try:
            client = Client(address, timeout="5s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise DataError(
                f"--scheduler {engine.scheduler}: cannot reach the scheduler "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None
        except ValueError as exc:
            raise DataError(f"--scheduler {engine.scheduler}: not a scheduler address ({exc})") from None
        n = len(client.scheduler_info().get("workers", {}))
        echo(f"Dask scheduler {address}: {n} worker{'s' if n != 1 else ''}; dashboard {client.dashboard_link}")
        return client, None
    n = engine.workers or _cores()
    limit = engine.memory_limit or _memory_limit(n)
    cluster = local_cluster(n, limit, worker_logs=logging.WARNING if verbose else logging.CRITICAL)
    try:
        client = Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    echo(
        f"Dask LocalCluster: {n} worker process{'es' if n != 1 else ''}, 1 thread and "
        f"{limit / GIB:.1f} GiB each; dashboard {client.dashboard_link}"
    )
    return client, cluster


def local_cluster(n_workers: int, memory_limit: int | str, worker_logs: int = logging.ERROR):
    """The LocalCluster the job starts: ``n_workers`` processes of one thread, BLAS and OpenMP held
    to one thread (:data:`THREAD_CAPS`), :data:`BATCH_CONFIG`, listening on 127.0.0.1 only.

    ``worker_logs``: the level from which the workers' log lines reach the terminal. Without
    ``--verbose`` only critical ones: a heartbeat that a loaded machine delays prints a Dask
    traceback at ERROR although Dask retries it, and what the job itself must say (a failed
    asset, a worker lost for good) reaches the user through ``failures.csv`` and the summary.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set(BATCH_CONFIG):  # the nannies hand this config to their worker processes
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=worker_logs,
            env=dict(THREAD_CAPS),
        )


def _failed(spec: AssetSpec, reason: str) -> dict:
    return {
        "asset": spec.asset,
        "source": spec.source,
        "status": "failed",
        "reason": reason,
        "part": None,
        "worker_pid": None,
    }


def _no_progress(n: int = 1) -> None:
    pass


def run_assets(
    specs: Sequence[AssetSpec],
    settings: RiskSettings,
    parts_dir: str,
    engine: Engine,
    *,
    progress: Callable[[int], None] | None = None,
    echo: Callable[[str], None] = lambda s: None,
    client=None,
) -> list[dict]:
    """Run :func:`run_asset` for every spec on ``engine``; the summaries in the order of ``specs``."""
    tick = progress or _no_progress
    if not specs:
        return []
    if engine.kind == "local":
        out = []
        for spec in specs:
            out.append(run_asset(spec, settings, parts_dir))
            tick(1)
        return out
    own = client is None
    cluster = None
    if own:
        client, cluster = connect(engine, echo)
    futures = []
    try:
        from distributed import as_completed

        from marketcast.universe.settings import settings_hash

        keys = [f"marketcast-risk-{spec.asset}-{settings_hash(settings, spec.key())}" for spec in specs]
        futures = client.map(
            run_asset, list(specs), settings=settings, parts_dir=str(parts_dir), key=keys, retries=RETRIES, pure=False
        )
        where = {f.key: i for i, f in enumerate(futures)}
        results: list[dict | None] = [None] * len(specs)
        for fut in as_completed(futures, loop=client.loop):
            i = where[fut.key]
            try:
                results[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after every retry: that asset fails
                line = str(exc).splitlines()[0] if str(exc) else ""
                results[i] = _failed(specs[i], f"{specs[i].asset}: {type(exc).__name__}: {line}".rstrip(": "))
            tick(1)
        return [r for r in results if r is not None]
    finally:
        if futures:
            try:
                client.cancel(futures, force=True)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
