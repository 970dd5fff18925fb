"""Load benchmark of ``marketcast serve``: ``POST /v1/volatility`` (DD-EWMA, 504-return window,
one day) at 1, 8 and 32 concurrent clients, beside the same call made in-process in the same run,
and the light endpoints' latency while a training job runs.

Bounded: at most 60 s once the server is up (start-up takes 5-10 s on an idle 2-core machine),
at most 64 connections, everything on 127.0.0.1. The load generator
is a small asyncio HTTP/1.1 client with keep-alive (one connection per client), so that it costs
little of the 2 cores the server shares with it. Usage::

    python benchmarks/bench_service.py [--seconds 7] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import data_dir, print_table

MAX_CONNECTIONS = 64
BUDGET_S = 60.0
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(method: str, path: str, port: int, key: str, body: bytes | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Authorization: Bearer {key}"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


async def _client(port: int, requests: list[bytes], stop_at: float, latencies: list, errors: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                m = _LENGTH.search(head)
                await reader.readexactly(int(m.group(1)) if m else 0)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                errors.append(repr(exc))
                return
            latencies.append(time.perf_counter() - t0)
            if head[9:12] != b"200":
                errors.append(head[9:12].decode())
    finally:
        writer.close()


def _cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of a process and its children so far; 0 without psutil."""
    if pid is None:
        return 0.0
    try:
        import psutil
    except ImportError:
        return 0.0
    total = 0.0
    root = psutil.Process(pid)
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    if os.environ.get("BENCH_SERVICE_SPLIT"):  # where the server's CPU goes: event loop vs workers
        t = root.cpu_times()
        print(f"  server main process {t.user + t.system:.2f} s, all {total:.2f} s")
    return total


def load(port: int, requests: list[bytes], clients: int, seconds: float, server_pid: int | None = None) -> dict:
    """``clients`` connections sending ``requests`` in turn for ``seconds`` (after a short warm-up).

    Besides wall-clock figures it reports the CPU time the server (all its processes) and this
    load generator spent per request: on a machine shared with other work they say what the
    same run would reach on idle cores, which the wall-clock figures cannot.
    """
    assert clients <= MAX_CONNECTIONS

    async def run(duration: float):
        latencies: list[float] = []
        errors: list[str] = []
        stop_at = time.perf_counter() + duration
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(port, requests, stop_at, latencies, errors) for _ in range(clients)))
        return latencies, errors, time.perf_counter() - t0

    asyncio.run(run(min(1.0, seconds / 4)))  # warm-up: connections, workers' caches
    server0, client0 = _cpu_seconds(server_pid), time.process_time()
    latencies, errors, wall = asyncio.run(run(seconds))
    server_cpu, client_cpu = _cpu_seconds(server_pid) - server0, time.process_time() - client0
    latencies.sort()
    n = len(latencies)
    pick = (lambda q: latencies[min(n - 1, int(q * n))] * 1000) if n else (lambda q: float("nan"))
    return {"clients": clients, "requests": n, "rps": n / wall, "p50": pick(0.5), "p99": pick(0.99),
            "errors": len(errors), "first_errors": errors[:3],
            "server_ms": server_cpu / max(n, 1) * 1000, "client_ms": client_cpu / max(n, 1) * 1000}


def _in_process(series, window: int, seconds: float) -> dict:
    """The same work without HTTP: the library call, and the service's worker function on the body."""
    from marketcast.service import library
    from marketcast.volatility import rolling_volatility

    body = {"series": {"dates": [d.strftime("%Y-%m-%d") for d in series.index], "prices": series.tolist()},
            "models": ["dd-ewma"], "window": window, "start": None, "end": None, "tail": 0.05, "notional": 1000.0,
            "seed": None, "params": {}, "symbol": None, "column": None, "adjust_splits": False}
    out = {}
    for name, fn in (("library call (rolling_volatility)", lambda: rolling_volatility(series, window=window, n_jobs=1)),
                     ("service worker function (JSON in, JSON out)", lambda: library.volatility(body))):
        fn()
        times = []
        stop = time.perf_counter() + seconds
        cpu0 = time.process_time()
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / len(times)
        times.sort()
        out[name] = {"calls": len(times), "rps": len(times) / sum(times), "p50": times[len(times) // 2] * 1000,
                     "p99": times[min(len(times) - 1, int(0.99 * len(times)))] * 1000, "cpu_ms": cpu * 1000}
    return out


def _start_server(port: int, keys: Path, data: Path, workers: int) -> subprocess.Popen:
    code = "import sys; from marketcast.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
            str(workers), "--data-dir", str(data), "--log-level", "warning"]
    return subprocess.Popen(args, env={**os.environ, "MARKETCAST_API_KEYS": str(keys)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_ready(port: int, proc: subprocess.Popen, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not get ready in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=7.0, help="Measured seconds per concurrency level.")
    parser.add_argument("--workers", type=int, default=2, help="The server's worker processes.")
    parser.add_argument("--clients", default="1,8,32", help="Concurrency levels (at most 64).")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    if max(levels) > MAX_CONNECTIONS:
        raise SystemExit(f"at most {MAX_CONNECTIONS} connections")
    start = time.monotonic()
    from marketcast.data import load_series
    from marketcast.service.keys import add_key

    vix = load_series(data_dir() / "VIX_History.csv")
    window = 504
    series = vix.iloc[-(window + 1):]  # 504 returns: one forecast, the next business day
    body = json.dumps({"series": {"dates": [d.strftime("%Y-%m-%d") for d in series.index],
                                  "prices": series.tolist()}, "models": ["dd-ewma"], "window": window}).encode()
    with tempfile.TemporaryDirectory(prefix="bench_service.") as tmp:
        keys = Path(tmp) / "keys"
        key = add_key(keys, "bench", "write")
        port = _free_port()
        proc = _start_server(port, keys, Path(tmp) / "data", args.workers)
        try:
            _wait_ready(port, proc, time.monotonic() + 120)
            start = time.monotonic()  # the budget counts from here: start-up depends on the machine's load
            reference = _in_process(series, window, 2.0)
            import httpx

            check = httpx.post(f"http://127.0.0.1:{port}/v1/volatility", content=body, timeout=30,
                               headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            assert check.status_code == 200, check.text
            request = _request("POST", "/v1/volatility", port, key, body)
            # Each level and the light phase also spend ~1/4 of its time warming up; the job ~3 s starting.
            seconds = min(args.seconds, (BUDGET_S - 8 - (time.monotonic() - start)) / (1.25 * (len(levels) + 1)))
            results = [load(port, [request], c, seconds, proc.pid) for c in levels]
            light = _light_during_training(port, key, vix, seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    rows = [(name, "-", r["calls"], f"{r['rps']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", 0, f"{r['cpu_ms']:.2f}", "")
            for name, r in reference.items()]
    rows += [("POST /v1/volatility over HTTP", r["clients"], r["requests"], f"{r['rps']:.0f}", f"{r['p50']:.2f}",
              f"{r['p99']:.2f}", r["errors"], f"{r['server_ms']:.2f}", f"{r['client_ms']:.2f}") for r in results]
    rows += [("light GETs during a training job", light["clients"], light["requests"], f"{light['rps']:.0f}",
              f"{light['p50']:.2f}", f"{light['p99']:.2f}", light["errors"], "", "")]
    print_table(f"marketcast serve: DD-EWMA, {window}-return window, one day ({os.cpu_count()} cores, "
                f"{args.workers} workers, {seconds:.1f} s per level, load generator on the same machine)",
                rows, ("what", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors", "server CPU ms/req",
                       "client CPU ms/req"))
    try:
        load_avg = os.getloadavg()[0]
        print(f"load average during the run's end: {load_avg:.1f} on {os.cpu_count()} cores "
              "(above the core count, other work shared the machine and the wall-clock figures suffer)")
    except OSError:
        pass
    for r in [*results, light]:
        if r["errors"]:
            print(f"errors at {r['clients']} clients: {r['first_errors']}")
    print(f"total {time.monotonic() - start:.0f} s")


def _light_during_training(port: int, key: str, vix, seconds: float) -> dict:
    """/healthz, /v1/version and the job's own status at 8 clients while an LSTM trains."""
    import httpx

    train = {"series": {"dates": [d.strftime("%Y-%m-%d") for d in vix.index[-800:]],
                        "prices": vix.iloc[-800:].tolist()}, "model": "lstm", "epochs": 100_000, "seed": 0}
    auth = {"Authorization": f"Bearer {key}"}
    job = httpx.post(f"http://127.0.0.1:{port}/v1/jobs/train", json=train, headers=auth, timeout=30).json()
    deadline = time.monotonic() + 15
    while httpx.get(f"http://127.0.0.1:{port}{job['url']}", headers=auth).json()["state"] != "running":
        if time.monotonic() > deadline:
            raise SystemExit("the training job did not start")
        time.sleep(0.1)
    time.sleep(1.0)  # past the job process's start-up: the network is training now
    requests = [_request("GET", p, port, key) for p in ("/healthz", "/v1/version", job["url"])]
    try:
        return load(port, requests, 8, seconds)
    finally:
        httpx.delete(f"http://127.0.0.1:{port}{job['url']}", headers=auth, timeout=30)


if __name__ == "__main__":
    main()
