"""A real ``marketcast serve`` on 127.0.0.1 and a free port, for the service's tests.

The server runs as a subprocess (uvicorn, worker processes, jobs: everything as deployed) with
its own data folder and keys file; tests talk to it over HTTP with httpx.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``marketcast ARGS`` in a subprocess (stdout and stderr captured)."""
    code = "import sys; from marketcast.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def make_keys(folder: Path) -> tuple[Path, str, str]:
    """A keys file with a write key and a read key; returns (file, write key, read key)."""
    path = folder / "keys"
    keys = []
    for name, scope in (("writer", "write"), ("reader", "read")):
        done = cli("keys", "add", name, "--scope", scope, "--file", str(path))
        assert done.returncode == 0, done.stderr
        keys.append(done.stdout.strip().splitlines()[-1])
    return path, keys[0], keys[1]


class Server:
    def __init__(self, data_dir: Path, keys_file: Path, *, workers: int = 1, extra: tuple[str, ...] = (),
                 env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        code = "import sys; from marketcast.cli import main; sys.exit(main(sys.argv[1:]))"
        args = [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(workers), "--data-dir", str(data_dir), "--log-level", "warning", *extra]
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "MARKETCAST_API_KEYS": str(keys_file), **(env or {})})
        self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the server did not get ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def kill(self) -> None:
        """Kill -9: the way a crash or an OOM kill ends the process."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def series_body(prices, n: int | None = None) -> dict:
    rows = prices if n is None else prices.iloc[-n:]
    return {"dates": [d.strftime("%Y-%m-%d") for d in rows.index], "prices": [float(x) for x in rows]}
