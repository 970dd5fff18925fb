"""A bounded pool of worker processes for the CPU work of requests.

The event loop only parses, checks keys and hands a call to the pool; a worker runs the library
and returns the response body ready to send. At most ``max_pending`` calls wait or run at once:
the next one is refused (503 with ``Retry-After``) instead of queueing without limit. Workers
are spawned (no fork of a process that holds threads and a DuckDB connection) and die with the
service (Linux: ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from marketcast.service.saved import ServiceError

__all__ = ["WorkerPool", "die_with_parent"]

log = logging.getLogger("marketcast.service")


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphans after a crash)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers end when their pipes close
        pass


def name_process(name: str) -> None:
    """Set the name ``ps`` shows (Linux, at most 15 bytes)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def _init_worker() -> None:
    name_process("mcworker")
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    # Thread counts stay the library's defaults, as in the CLI: GARCH-t's fit, for one, moves in
    # the sixth digit with the BLAS thread count, and the service gives the CLI's numbers.
    # Import what most requests need now, not during the first one.
    import marketcast.models.ewma  # noqa: F401
    import marketcast.service.library  # noqa: F401
    import marketcast.volatility  # noqa: F401


def _ping() -> int:
    return os.getpid()


class WorkerPool:
    """``await pool.run(fn, *args)``: ``fn(*args)`` in a worker process, or 503 when full."""

    def __init__(self, workers: int, max_pending: int, retry_after_s: int = 1) -> None:
        self.workers = max(1, int(workers))
        self.max_pending = max(1, int(max_pending))
        self.retry_after_s = retry_after_s
        self.pending = 0
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker)

    def warm_up(self) -> None:
        """Start every worker now (each imports the library once), so the first requests are fast."""
        futures = [self._executor.submit(_ping) for _ in range(self.workers * 2)]
        for f in futures:
            f.result(timeout=120)

    def _done(self, _future) -> None:
        with self._lock:
            self.pending -= 1

    async def run(self, fn, *args):
        with self._lock:
            if self.pending >= self.max_pending:
                raise ServiceError(503, None, f"the service is busy ({self.pending} calls in progress); retry shortly",
                                   headers={"Retry-After": str(self.retry_after_s)})
            self.pending += 1
        try:
            future = self._executor.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):
            self._done(None)
            self._restart()
            raise ServiceError(503, None, "the worker pool is restarting; retry shortly",
                               headers={"Retry-After": str(self.retry_after_s)}) from None
        # The count drops when the worker is done, not when a client gives up waiting.
        future.add_done_callback(self._done)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.error("a worker process died (out of memory or a crash); restarting the pool")
            self._restart()
            raise

    def _restart(self) -> None:
        old, self._executor = self._executor, self._new_executor()
        old.shutdown(wait=False, cancel_futures=True)

    def alive(self) -> bool:
        procs = getattr(self._executor, "_processes", None) or {}
        return all(p.is_alive() for p in procs.values())

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
