"""Jobs: long work (backtests, training, universe risk) that a request starts and polls.

State lives in a DuckDB file in the service's data folder (``jobs.duckdb``), so it survives a
restart: jobs still queued then run after it, and a job that was running when the process died
is marked failed with that reason, never left "running". Each job runs in a process of its
own, at a lower CPU priority than the requests (``nice``), so that a cancel can stop it and a
training job does not starve the light endpoints. The job process reports progress and its
result over a pipe; only the service's process touches the database (DuckDB lets one process
write a file).
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import logging
import multiprocessing
import os
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from marketcast.service.saved import ServiceError

__all__ = ["JobStore", "JobManager"]

log = logging.getLogger("marketcast.service")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    progress DOUBLE,
    created VARCHAR NOT NULL,
    started VARCHAR,
    finished VARCHAR,
    params VARCHAR NOT NULL,
    result VARCHAR,
    error VARCHAR,
    owner VARCHAR,
    pid INTEGER
);
"""
_COLUMNS = ("id", "kind", "state", "progress", "created", "started", "finished", "params", "result", "error", "owner")

INTERRUPTED = "the service stopped while the job was running"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class JobStore:
    """The jobs table. One connection for the service's life, guarded by a lock (threads share it)."""

    def __init__(self, path: str | Path) -> None:
        import duckdb

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            from marketcast.errors import DataError

            raise DataError(
                f"{self.path}: cannot open the job database ({exc}); is another service using this data folder?"
            ) from None
        self._lock = threading.Lock()
        with self._lock:
            self._con.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _rows(self, sql: str, args: list | None = None) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._con.execute(sql, args or []).fetchall()
        return [self._decode(dict(zip(_COLUMNS, r))) for r in rows]

    @staticmethod
    def _decode(row: dict[str, Any]) -> dict[str, Any]:
        for key in ("params", "result", "error"):
            if row[key] is not None:
                row[key] = json.loads(row[key])
        return row

    def insert(self, kind: str, params: dict, owner: str | None, job_id: str | None = None) -> dict[str, Any]:
        job_id = job_id or uuid.uuid4().hex
        with self._lock:
            self._con.execute(
                "INSERT INTO jobs (id, kind, state, created, params, owner) VALUES (?, ?, 'queued', ?, ?, ?)",
                [job_id, kind, _now(), json.dumps(params, default=str), owner],
            )
        return self._must_get(job_id)

    def _must_get(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job is None:
            raise ServiceError(404, "job_id", f"no job '{job_id}'")
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = self._rows(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", [job_id])
        return rows[0] if rows else None

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._rows(f"SELECT {', '.join(_COLUMNS)} FROM jobs ORDER BY created DESC LIMIT ?", [limit])

    def queued(self) -> builtins.list[dict[str, Any]]:
        return self._rows(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state = 'queued' ORDER BY created")

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._con.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
        return {state: int(n) for state, n in rows}

    def update(self, job_id: str, *, only_if: tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Set ``fields``; with ``only_if``, only while the job is in one of those states."""
        for key in ("result", "error"):
            if key in fields and fields[key] is not None:
                fields[key] = json.dumps(fields[key], default=str, allow_nan=False)
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE jobs SET {sets} WHERE id = ?"
        args = [*fields.values(), job_id]
        if only_if:
            sql += f" AND state IN ({', '.join('?' for _ in only_if)})"
            args += list(only_if)
        with self._lock:
            n = self._con.execute(sql + " RETURNING id", args).fetchall()
        return bool(n)

    def fail_interrupted(self) -> int:
        """Mark jobs left 'running' by a process that died as failed, with that reason."""
        error = json.dumps({"status": 500, "detail": INTERRUPTED})
        with self._lock:
            rows = self._con.execute(
                "UPDATE jobs SET state = 'failed', finished = ?, error = ? WHERE state = 'running' RETURNING id",
                [_now(), error],
            ).fetchall()
        return len(rows)


# --- the job process ---------------------------------------------------------------------------


def _job_main(kind: str, params: dict, context: dict, conn) -> None:
    """Entry point of a job's process: run it, send ('progress', x), then ('result', r) or ('error', e)."""
    from marketcast.service.pool import die_with_parent, name_process

    die_with_parent()
    name_process(f"mcjob-{context['job_id'][:8]}")  # what `ps` and `top` show
    try:
        os.nice(10)
    except OSError:
        pass
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if total and (now - last[0] > 0.25 or done >= total):
            last[0] = now
            conn.send(("progress", min(1.0, done / total)))

    try:
        from marketcast.service import library

        store = context.get("store")
        if kind == "backtest":
            result = library.backtest(params, store, progress=progress)
        elif kind == "train":
            result = library.train(params, context["models_dir"], context["model_id"], store, progress=progress)
        elif kind == "risk":
            result = library.risk(
                params, context["out_dir"], context["universes_dir"], context.get("scheduler"), store, progress=progress
            )
        else:
            raise ServiceError(400, "kind", f"unknown job kind {kind}")
        conn.send(("result", result))
    except ServiceError as exc:
        conn.send(("error", {"status": exc.status, "field": exc.field, "detail": exc.message}))
    except MemoryError:
        conn.send(("error", {"status": 500, "detail": "the job ran out of memory"}))
    except BaseException as exc:  # a bug: the log has the traceback, the client a short line
        conn.send(
            (
                "error",
                {
                    "status": 500,
                    "detail": f"internal error in the job ({type(exc).__name__})",
                    "traceback": traceback.format_exc(),
                },
            )
        )
    finally:
        conn.close()


class JobManager:
    """Starts queued jobs in processes of their own (``slots`` at a time), watches and cancels them."""

    def __init__(self, store: JobStore, settings) -> None:
        self.store = store
        self.settings = settings
        self.slots = max(1, int(settings.job_slots))
        self._ctx = multiprocessing.get_context("spawn")
        self._running: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._closed = False

    def start(self) -> None:
        n = self.store.fail_interrupted()
        if n:
            log.warning("marked %d job(s) failed: %s", n, INTERRUPTED)
        self._kick()

    def context_for(self, job: dict) -> dict:
        s = self.settings
        ctx: dict[str, Any] = {
            "store": str(s.store) if s.store else None,
            "models_dir": str(s.models_dir),
            "job_id": job["id"],
        }
        if job["kind"] == "train":
            ctx["model_id"] = job["params"]["id"]
        if job["kind"] == "risk":
            ctx["out_dir"] = str(Path(s.results_dir) / job["id"])
            ctx["scheduler"] = s.dask_scheduler
            ctx["universes_dir"] = str(s.universes_dir)
        return ctx

    def submit(self, kind: str, params: dict, owner: str | None, job_id: str | None = None) -> dict:
        with self._lock:
            waiting = len(self.store.queued())
            if waiting >= self.settings.max_queued_jobs:
                raise ServiceError(
                    503,
                    None,
                    f"{waiting} jobs are waiting already; retry later",
                    headers={"Retry-After": str(max(5, self.settings.retry_after_s))},
                )
            job = self.store.insert(kind, params, owner, job_id)
            self._kick()
        return self.store.get(job["id"]) or job

    def _kick(self) -> None:
        with self._lock:
            if self._closed:
                return
            for job in self.store.queued():
                if len(self._running) >= self.slots:
                    break
                self._launch(job)

    def _launch(self, job: dict) -> None:
        recv, send = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_job_main,
            args=(job["kind"], job["params"], self.context_for(job), send),
            name=f"marketcast-job-{job['id'][:8]}",
            daemon=True,
        )
        proc.start()
        send.close()
        self._running[job["id"]] = (proc, recv)
        self.store.update(job["id"], state="running", started=_now(), progress=0.0, pid=proc.pid)
        threading.Thread(
            target=self._watch, args=(job["id"], proc, recv), daemon=True, name=f"watch-{job['id'][:8]}"
        ).start()

    def _watch(self, job_id: str, proc, conn) -> None:
        outcome: tuple[str, Any] | None = None
        try:
            while True:
                try:
                    kind, value = conn.recv()
                except (EOFError, OSError):
                    break
                if kind == "progress":
                    self.store.update(job_id, only_if=("running",), progress=float(value))
                else:
                    outcome = (kind, value)
        finally:
            conn.close()
            proc.join()
        if self._closed:  # shutdown() has marked the job and may have closed the store already
            return
        if outcome and outcome[0] == "result":
            self.store.update(
                job_id, only_if=("running",), state="succeeded", progress=1.0, finished=_now(), result=outcome[1]
            )
        else:
            error = (
                outcome[1]
                if outcome
                else {"status": 500, "detail": f"the job's process ended unexpectedly (exit code {proc.exitcode})"}
            )
            if error.get("traceback"):
                log.error("job %s failed:\n%s", job_id, error.pop("traceback"))
            self.store.update(job_id, only_if=("running",), state="failed", finished=_now(), error=error)
        with self._lock:
            self._running.pop(job_id, None)
        self._kick()

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued or running job; a finished one is answered with 409."""
        with self._lock:
            job = self.store.get(job_id)
            if job is None:
                raise ServiceError(404, "id", f"no job '{job_id}'")
            if job["state"] not in ("queued", "running"):
                raise ServiceError(409, "id", f"job '{job_id}' is {job['state']} already")
            self.store.update(job_id, only_if=("queued", "running"), state="cancelled", finished=_now())
            entry = self._running.get(job_id)
        if entry is not None:
            proc = entry[0]
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        return self.store._must_get(job_id)

    def running_count(self) -> int:
        return len(self._running)

    def shutdown(self) -> None:
        """Stop running jobs; they are failed with the reason (queued ones run after a restart)."""
        with self._lock:
            self._closed = True
            entries = list(self._running.items())
        for job_id, (proc, _conn) in entries:
            self.store.update(
                job_id,
                only_if=("running",),
                state="failed",
                finished=_now(),
                error={"status": 500, "detail": INTERRUPTED},
            )
            proc.terminate()
        for _job_id, (proc, _conn) in entries:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
