"""Risk jobs over HTTP: the universe job of ``marketcast risk`` run by a real server, its files
downloaded and equal to ``marketcast.risk`` run here with the same settings; universes and
weights confined to the service's universes folder."""

from __future__ import annotations

import io
import time

import pandas as pd
import pytest
from conftest import data_file
from service_server import Server, make_keys

import marketcast as mc

pytestmark = pytest.mark.realdata

SYMBOLS = ("AAPL", "KO", "XOM")
SETTINGS = {"models": ["dd-ewma"], "window": 504, "days": 20, "tails": [0.01, 0.05], "notional": 1000.0}


@pytest.fixture(scope="module")
def universes(tmp_path_factory):
    """The service's universes folder: one universe of links to the real files, and weights."""
    root = tmp_path_factory.mktemp("universes")
    folder = root / "three"
    folder.mkdir()
    for s in SYMBOLS:
        source = data_file(f"sp500/daily_adjusted/DA-{s}-T-2021-04-21.csv")
        (folder / source.name).symlink_to(source)
    (root / "weights.csv").write_text("symbol,weight\nAAPL,0.5\nKO,0.3\nXOM,0.2\n")
    (root / "escape").symlink_to(data_file("sp500/daily_adjusted"))  # a link out of the folder
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory, universes):
    root = tmp_path_factory.mktemp("risk-service")
    keys, write_key, read_key = make_keys(root)
    srv = Server(root / "data", keys, extra=("--universes-dir", str(universes)))
    srv.write_key, srv.read_key = write_key, read_key
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log_path.read_text()


def _wait(client, url: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(url).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"the job did not finish in {timeout} s: {job}")


def _error(response, status: int, field: str):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field and body["detail"] and "Traceback" not in response.text, body
    return body


def test_a_risk_jobs_whole_life_and_its_files_equal_the_library(server, universes, tmp_path):
    with server.client(server.write_key) as writer, server.client(server.read_key) as reader:
        r = writer.post("/v1/jobs/risk", json={"universe": "three", "weights": "weights.csv", **SETTINGS})
        assert r.status_code == 202, r.text
        url = r.json()["url"]
        early = reader.get(url + "/files")
        job = _wait(reader, url)
        assert job["state"] == "succeeded", job["error"]
        assert early.status_code in (200, 409)  # 409 while it ran
        assert job["progress"] == 1.0
        assert job["result"]["assets"] == {"universe": 3, "done": 3, "failed": 0}
        assert "survivorship" in job["result"]["survivorship_bias"]
        assert job["result_url"] == url + "/files"
        files = {f["name"]: f for f in reader.get(job["result_url"]).json()["files"]}
        assert {"assets.parquet", "backtests.csv", "portfolio.parquet", "portfolio_backtests.csv", "failures.csv",
                "manifest.json", "report.html"} <= set(files)

        here = tmp_path / "here"
        mc.risk(universes / "three", weights=universes / "weights.csv", local=True, out=here,
                models=SETTINGS["models"], window=SETTINGS["window"], days=SETTINGS["days"],
                tails=SETTINGS["tails"], notional=SETTINGS["notional"])
        for name in ("assets.parquet", "portfolio.parquet"):
            got = reader.get(files[name]["url"])
            assert got.status_code == 200 and got.headers["content-type"] == "application/vnd.apache.parquet"
            pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(got.content)), pd.read_parquet(here / name))
        for name in ("backtests.csv", "portfolio_backtests.csv", "failures.csv"):
            got = reader.get(files[name]["url"])
            assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
            assert got.text == (here / name).read_text(), name
        assets = pd.read_parquet(here / "assets.parquet")
        assert list(assets.columns[:10]) == ["asset", "date", "model", "tail", "volatility", "var", "cvar", "mad",
                                             "return", "breach"]
        assert sorted(assets.asset.unique()) == list(SYMBOLS)

        for name in ("..%2Fjobs.duckdb", "no-such-file.csv", ".hidden", "%2Fetc%2Fpasswd"):
            assert reader.get(f"{url}/files/{name}").status_code == 404, name
        # read keys download, but only write keys start risk jobs
        assert reader.post("/v1/jobs/risk", json={"universe": "three"}).status_code == 403


def test_files_of_a_job_that_writes_none_or_does_not_exist(server):
    with server.client(server.read_key) as reader:
        assert reader.get("/v1/jobs/0123456789abcdef/files").status_code == 404
        assert reader.get("/v1/jobs/0123456789abcdef/files/assets.parquet").status_code == 404


@pytest.mark.parametrize(
    "change, field",
    [
        ({"universe": "../"}, "universe"),
        ({"universe": "/etc"}, "universe"),
        ({"universe": "three/../../.."}, "universe"),
        ({"universe": "escape"}, "universe"),
        ({"universe": "escape/*.csv"}, "universe"),
        ({"universe": "store:/tmp/other.duckdb"}, "universe"),
        ({"universe": "nowhere"}, "universe"),
        ({"weights": "../weights.csv"}, "weights"),
        ({"weights": "/etc/passwd"}, "weights"),
        ({"weights": "missing.csv"}, "weights"),
        ({"tails": [0.0]}, "tails"),
        ({"tails": [1.5]}, "tails"),
        ({"window": 5}, "window"),
        ({"refit_every": 0}, "refit_every"),
        ({"notional": -1}, "notional"),
        ({"models": ["no-such-model"]}, "models"),
        ({"models": ["sma"]}, "models"),  # a price model, not a volatility model
        ({"scheduler": "tcp://10.0.0.1:8786"}, "scheduler"),  # unknown fields are refused
        ({"out": "/tmp/x"}, "out"),
    ],
)
def test_bad_risk_requests_are_422_naming_the_field(server, change, field):
    with server.client(server.write_key) as writer:
        body = {"universe": "three", **SETTINGS, **change}
        _error(writer.post("/v1/jobs/risk", json=body), 422, field)
