"""Jobs over HTTP: a backtest's and a training's whole life, cancel, a restart of the service, and
the bounded pool (503 with Retry-After). Real server, real worker and job processes."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pandas as pd
import pytest
from service_server import Server, make_keys, series_body

from marketcast.cli import main

pytestmark = pytest.mark.realdata


def wait_for(client, url: str, states=("succeeded", "failed", "cancelled"), timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(url).json()
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {url} still {job['state']} after {timeout} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its parent counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    path, write_key, read_key = make_keys(root)
    return root, path, write_key, read_key


@pytest.fixture(scope="module")
def server(keys):
    root, path, *_ = keys
    srv = Server(root / "data", path)
    yield srv
    srv.stop()


def test_backtest_job_equals_cli(server, keys, vix, vix_path, tmp_path):
    reader_key = keys[3]
    body = {"series": series_body(vix), "models": ["sma", "naive"], "window": 504, "start": "2016-01-04",
            "step": 64, "slices": 3, "horizon": 21}
    with server.client(reader_key) as c:
        r = c.post("/v1/jobs/backtest", json=body)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["state"] in ("queued", "running") and r.headers["location"] == job["url"]
        assert job["params"]["series"] == {"rows": len(vix), "first": "1990-01-02",
                                           "last": vix.index[-1].strftime("%Y-%m-%d")}
        done = wait_for(c, job["url"])
        listed = [j["id"] for j in c.get("/v1/jobs").json()["jobs"]]
    assert done["state"] == "succeeded", done
    assert done["progress"] == 1.0 and done["started"] and done["finished"]
    out = tmp_path / "bt.parquet"
    assert main(["backtest", str(vix_path), "--models", "sma,naive", "--window", "504", "--start", "2016-01-04",
                 "--step", "64", "--slices", "3", "--horizon", "21", "--out", str(out)]) == 0
    cli = pd.read_parquet(out)
    got = pd.DataFrame(done["result"]["scores"])
    for col in ("rmse", "mae"):
        np.testing.assert_array_equal(got[col].to_numpy(float), cli[col].to_numpy(float))
    assert job["id"] in listed


def test_train_job_saves_a_model_that_forecasts_like_the_cli(server, keys, vix, tmp_path):
    writer_key = keys[2]
    body = {"series": series_body(vix), "model": "sma", "id": "sma-vix", "train_to": "2021-04-16",
            "levels": [0.9], "horizon": 5}
    with server.client(writer_key) as c:
        r = c.post("/v1/jobs/train", json=body)
        assert r.status_code == 202, r.text
        done = wait_for(c, r.json()["url"])
        assert done["state"] == "succeeded", done
        assert done["result"]["saved_model"] == "sma-vix" and done["result_url"] == "/v1/saved-models/sma-vix"
        saved = c.get("/v1/saved-models").json()["saved_models"]
        assert [m["id"] for m in saved] == ["sma-vix"]
        manifest = c.get("/v1/saved-models/sma-vix").json()
        assert manifest["model"] == "conformal(sma)" or "sma" in manifest["model"]
        assert manifest["training"]["last"].startswith("2021-04-16")
        # The same id again: 409, unless overwrite.
        again = c.post("/v1/jobs/train", json=body)
        assert again.status_code == 409 and again.json()["field"] == "id"
        fc = c.post("/v1/forecast", json={"series": series_body(vix), "saved_model": "sma-vix", "horizon": 3,
                                          "levels": [0.9], "train_to": "2021-04-16"})
        assert fc.status_code == 200, fc.text
    folder = server.url and (keys[0] / "data" / "models" / "sma-vix")
    assert (folder / "model.json").is_file() and not list(folder.glob("*.pkl"))
    out = tmp_path / "f.parquet"
    from conftest import data_file

    assert main(["forecast", str(data_file("VIX_History.csv")), "--load", str(folder), "--horizon", "3",
                 "--levels", "0.9", "--train-to", "2021-04-16", "--out", str(out)]) == 0
    cli = pd.read_parquet(out)
    got = pd.DataFrame(fc.json()["rows"])
    for col in ("point", "lower_90", "upper_90"):
        np.testing.assert_array_equal(got[col].to_numpy(float), cli[col].to_numpy(float))


def _long_training(vix, model_id: str) -> dict:
    return {"series": series_body(vix, 700), "model": "lstm", "id": model_id, "epochs": 100_000, "seed": 0}


@pytest.mark.slow
def test_cancel_a_running_job(server, keys, vix):
    with server.client(keys[2]) as c:
        job = c.post("/v1/jobs/train", json=_long_training(vix, "to-cancel")).json()
        running = wait_for(c, job["url"], states=("running",), timeout=120)
        assert running["state"] == "running"
        pid = _job_pid(keys[0] / "data", job["id"])
        # A read key cannot cancel a training job; the write key can.
        with server.client(keys[3]) as reader:
            assert reader.delete(job["url"]).status_code == 403
        r = c.delete(job["url"])
        assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
        time.sleep(1)
        assert c.get(job["url"]).json()["state"] == "cancelled"
        assert c.delete(job["url"]).status_code == 409
        assert c.get("/v1/saved-models/to-cancel").status_code == 404
    assert not _alive(pid)


def _job_pid(data_dir, job_id: str) -> int:
    """The job's process, found by the name the service gives it (``mcjob-`` and the id's start)."""
    name = f"mcjob-{job_id[:8]}"
    deadline = time.monotonic() + 60  # the process names itself once started (spawn takes a moment)
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/comm") as fh:
                        if fh.read().strip() == name:
                            return int(entry)
                except OSError:
                    continue
        time.sleep(0.2)
    raise AssertionError(f"no process named {name}")


@pytest.mark.slow
def test_restart_fails_the_running_job_and_runs_the_queued_one(keys, vix, tmp_path):
    root, path, writer_key, _ = keys
    data = tmp_path / "restart"
    first = Server(data, path)
    try:
        with first.client(writer_key) as c:
            long = c.post("/v1/jobs/train", json=_long_training(vix, "interrupted")).json()
            wait_for(c, long["url"], states=("running",), timeout=120)
            queued = c.post("/v1/jobs/backtest", json={"series": series_body(vix, 800), "slices": 2}).json()
            assert c.get(queued["url"]).json()["state"] == "queued"  # one job slot, taken
            pid = _job_pid(data, long["id"])
    finally:
        first.kill()  # kill -9: no shutdown handler runs
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the job's process outlived the service"
    second = Server(data, path)
    try:
        with second.client(writer_key) as c:
            failed = c.get(long["url"]).json()
            assert failed["state"] == "failed"
            assert failed["error"]["detail"] == "the service stopped while the job was running"
            done = wait_for(c, queued["url"])
            assert done["state"] == "succeeded", done
            metrics = c.get("/metrics").text
            assert 'marketcast_jobs{state="failed"} 1.0' in metrics
    finally:
        second.stop()


@pytest.mark.slow
def test_full_pool_answers_503_with_retry_after(keys, vix, tmp_path):
    root, path, writer_key, read_key = keys
    srv = Server(tmp_path / "busy", path, extra=("--max-pending", "1"))
    try:
        slow = {"series": series_body(vix, 700), "model": "lstm", "epochs": 30, "seed": 0}
        answers = {}

        def call():
            with srv.client(read_key) as c:
                answers["slow"] = c.post("/v1/forecast", json=slow)

        t = threading.Thread(target=call)
        t.start()
        time.sleep(1.5)
        with srv.client(read_key) as c:
            busy = c.post("/v1/volatility", json={"series": series_body(vix, 600)})
            assert busy.status_code == 503, busy.text
            assert int(busy.headers["retry-after"]) >= 1 and busy.json()["request_id"]
            assert c.get("/healthz").status_code == 200  # light endpoints still answer
        t.join(300)
        assert answers["slow"].status_code == 200, answers["slow"].text
        with srv.client(read_key) as c:
            assert c.post("/v1/volatility", json={"series": series_body(vix, 600)}).status_code == 200
    finally:
        srv.stop()
