"""The container image: `make base-image`, `make image BASE_IMAGE=marketcast-base:bookworm`, then the image run
with the host network, the service on a free port of 127.0.0.1, called over HTTP; and the CLI through the image.

Needs a Docker engine: the test starts `dockerd` itself when it is installed but not running (CI's .ci/run
installs docker.io), and skips only where no engine can be started at all.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import REPO, data_file

pytestmark = pytest.mark.slow

BASE = "marketcast-base:bookworm"
SOCKET = Path("/var/run/docker.sock")
VIX = "VIX_History.csv"
START, END = "2021-05-18", "2021-05-24"


def _engine_answers(docker: str) -> bool:
    return subprocess.run([docker, "info"], capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="module")
def docker(tmp_path_factory):
    """A docker client with an engine behind it; starts dockerd (and stops it after) when it is not running."""
    client = shutil.which("docker")
    if client is None:
        pytest.skip("Docker cannot be started: no docker client (apt-get install docker.io)")
    if _engine_answers(client):
        yield client
        return
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)
    if dockerd is None:
        pytest.skip("Docker cannot be started: the engine is not running and dockerd is not installed")
    if os.geteuid() != 0:
        pytest.skip("Docker cannot be started: the engine is not running and starting dockerd needs root")
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([dockerd], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None and not _engine_answers(client):
        time.sleep(1)
    if proc.poll() is not None or not _engine_answers(client):
        proc.terminate()
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        pytest.skip(f"Docker cannot be started: dockerd did not come up ({' | '.join(tail)})")
    yield client
    proc.terminate()
    proc.wait(timeout=60)


@pytest.fixture(scope="module")
def image(docker) -> str:
    """Builds the base image (reused when present) and the image; returns marketcast:VERSION."""
    from marketcast._version import __version__

    env = dict(os.environ, DOCKER=docker)
    for target in (["base-image"], ["image", f"BASE_IMAGE={BASE}", f"WHEEL_PY={sys.executable}", f"DOCKER={docker}"]):
        started = time.monotonic()
        result = subprocess.run(["make", "-C", str(REPO), *target], env=env, capture_output=True, text=True,
                                timeout=3600)
        assert result.returncode == 0, f"make {target[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        print(f"make {target[0]}: {time.monotonic() - started:.0f} s")
    tag = f"marketcast:{__version__}"
    size = int(subprocess.run([docker, "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True,
                              text=True, check=True).stdout)
    print(f"{tag}: {size / 1e6:.0f} MB (goal: under 1500 MB)")
    # The goal is 1.5 GB with torch's symbols stripped (make wheelhouse, where the host has strip); a CUDA build
    # of torch alone would pass 4 GB.
    limit = 1.5e9 if shutil.which("strip") else 1.6e9
    assert size < limit, f"{tag} is {size / 1e6:.0f} MB: is a CUDA torch or a build tool in it?"
    return tag


def run(docker: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([docker, *args], capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"docker {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def writable_dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    path.chmod(0o777)  # the image runs as uid 10001
    return path


def test_image_is_non_root_cpu_only_and_runs_the_cli(docker, image):
    inspect = json.loads(run(docker, "image", "inspect", image).stdout)[0]["Config"]
    assert inspect["User"] == "10001:10001"
    assert inspect["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL")
    assert "8000/tcp" in inspect["ExposedPorts"]
    from marketcast._version import __version__

    out = run(docker, "run", "--rm", "--network", "none", image, "marketcast", "--version").stdout
    assert __version__ in out
    out = run(docker, "run", "--rm", "--network", "none", image, "python3", "-c",
              "import os, torch; print(os.getuid(), torch.__version__, torch.version.cuda)").stdout.split()
    assert out == ["10001", "2.13.0+cpu", "None"]
    # no build tools or pip in the image
    out = run(docker, "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c",
              "command -v gcc cc pip pip3 || true").stdout
    assert out.strip() == ""


def test_cli_volatility_on_a_mounted_file(docker, image, tmp_path):
    vix = data_file(VIX)
    out = writable_dir(tmp_path, "out")
    run(docker, "run", "--rm", "--network", "none", "-v", f"{vix.parent}:/data:ro", "-v", f"{out}:/out", image,
        "marketcast", "volatility", f"/data/{vix.name}", "--window", "504", "--from", START, "--to", END,
        "--models", "dd-ewma", "--out", "/out/vol.csv")
    rows = list(csv.DictReader((out / "vol.csv").open()))
    assert [r["date"] for r in rows] == ["2021-05-18", "2021-05-19", "2021-05-20", "2021-05-21", "2021-05-24"]
    # the VIX paper's Table V, DD-EWMA column (also tests/test_paper_vix_deterministic.py)
    assert [round(float(r["volatility"]), 4) for r in rows] == [0.1677, 0.1556, 0.1383, 0.1321, 0.1159]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: dict | None = None, key: str | None = None, timeout: float = 60):
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_service_in_the_image(docker, image, tmp_path):
    vix = data_file(VIX)
    keys = writable_dir(tmp_path, "keys")
    out = run(docker, "run", "--rm", "--network", "none", "-v", f"{keys}:/keys", image,
              "marketcast", "keys", "add", "ci", "--scope", "read", "--file", "/keys/keys").stdout
    key = out.strip().splitlines()[-1].strip()
    assert key and key not in (keys / "keys").read_text()  # only its hash is stored

    port = free_port()
    name = f"marketcast-test-{uuid.uuid4().hex[:8]}"
    # The image's own entrypoint and settings, on 127.0.0.1 only; read-only root as the chart runs it.
    run(docker, "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "-e", "MARKETCAST_HOST=127.0.0.1", "-e", f"MARKETCAST_PORT={port}", "-e", "MARKETCAST_WORKERS=1",
        "-e", "MARKETCAST_API_KEYS=/keys/keys", "-v", f"{keys}:/keys:ro", image)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                status, body = call(f"{base}/healthz", timeout=5)
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            state = run(docker, "inspect", "-f", "{{.State.Running}}", name).stdout.strip()
            logs = run(docker, "logs", "--tail", "30", name, check=False)
            assert state == "true", f"the container stopped:\n{logs.stdout}\n{logs.stderr}"
            assert time.monotonic() < deadline, f"/healthz did not answer in 180 s:\n{logs.stdout}\n{logs.stderr}"
            time.sleep(1)

        # the image's HEALTHCHECK command passes against the running service
        test = json.loads(run(docker, "inspect", "-f", "{{json .Config.Healthcheck.Test}}", name).stdout)
        assert test[0] == "CMD"
        run(docker, "exec", name, *test[1:])

        from marketcast.data import load_series

        series = load_series(vix)
        series = series[series.index <= END].iloc[-600:]
        body = {"series": {"dates": [d.strftime("%Y-%m-%d") for d in series.index],
                           "prices": [float(p) for p in series]},
                "models": ["dd-ewma"], "window": 504, "start": START, "end": END}
        status, answer = call(f"{base}/v1/volatility", body, key=key)
        assert status == 200, answer
        assert [r["date"] for r in answer["rows"]] == ["2021-05-18", "2021-05-19", "2021-05-20", "2021-05-21",
                                                        "2021-05-24"]
        assert [round(r["volatility"], 4) for r in answer["rows"]] == [0.1677, 0.1556, 0.1383, 0.1321, 0.1159]

        assert call(f"{base}/v1/volatility", body)[0] == 401
        assert call(f"{base}/v1/volatility", body, key=key + "x")[0] == 401
    finally:
        logs = run(docker, "logs", "--tail", "20", name, check=False)
        print(logs.stdout[-2000:], logs.stderr[-2000:])
        run(docker, "rm", "-f", "-v", name, check=False)
    assert run(docker, "ps", "-aq", "--filter", f"name={name}").stdout.strip() == ""
