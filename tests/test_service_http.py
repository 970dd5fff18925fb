"""The service over HTTP: a real ``marketcast serve`` on 127.0.0.1, every endpoint and status code.

Numbers are checked against the CLI run on the same data in the same test (the service must add
nothing of its own), not against stored outputs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from service_server import Server, make_keys, series_body

from marketcast.cli import main

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("service")
    keys, write_key, read_key = make_keys(root)
    srv = Server(root / "data", keys)
    srv.write_key, srv.read_key, srv.root = write_key, read_key, root
    yield srv
    srv.stop()
    # Keys never reach the log.
    log = srv.log_path.read_text()
    assert write_key not in log and read_key not in log


@pytest.fixture(scope="module")
def reader(server):
    with server.client(server.read_key) as c:
        yield c


@pytest.fixture(scope="module")
def writer(server):
    with server.client(server.write_key) as c:
        yield c


def _error(response, status: int, field: str | None = "__any__"):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["detail"] and body["request_id"]
    assert "Traceback" not in response.text
    if field != "__any__":
        assert body["field"] == field, body
    return body


# --- open endpoints and keys ---------------------------------------------------------------------


def test_probes_and_metrics_are_open(server):
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["workers"] == "ok"
        c.get("/v1/version")  # a 401, counted below
        text = c.get("/metrics").text
    assert 'marketcast_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'marketcast_http_errors_total{method="GET",route="/v1/version",status="401"}' in text
    assert "marketcast_http_request_duration_seconds_bucket" in text
    assert 'marketcast_jobs{state="running"}' in text
    assert c.is_closed


def test_keys_401_and_scopes(server, reader):
    with server.client() as anonymous:
        r = anonymous.get("/v1/version")
        _error(r, 401, "Authorization")
        assert r.headers["www-authenticate"] == "Bearer"
    with server.client("mc_not-a-key") as wrong:
        _error(wrong.get("/v1/models"), 401)
    with server.client(server.write_key[:-1]) as almost:
        _error(almost.get("/v1/models"), 401)
    version = reader.get("/v1/version")
    assert version.status_code == 200 and version.json()["api"] == "v1"
    # A read key cannot start training or risk jobs.
    _error(reader.post("/v1/jobs/train", json={"symbol": "cboe:VIX", "model": "sma"}), 403, "Authorization")
    _error(reader.post("/v1/jobs/risk", json={"universe": "sp500"}), 403, "Authorization")


def test_openapi_and_docs(server):
    with server.client() as c:
        schema = c.get("/openapi.json").json()
        assert c.get("/docs").status_code == 200
    assert {"/v1/volatility", "/v1/forecast", "/v1/jobs/train", "/v1/saved-models/{model_id}"} <= set(schema["paths"])
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_models(reader):
    names = {(m["name"], m["target"]) for m in reader.get("/v1/models").json()["models"]}
    assert ("dd-ewma", "volatility") in names and ("cnn-lstm", "price") in names
    cnn = reader.get("/v1/models/cnn-lstm").json()
    assert cnn["trainable_parameters"] == 883_401  # the Keras model's, as `models describe` shows
    garch = reader.get("/v1/models/garch", params={"target": "volatility"}).json()
    assert garch["target"] == "volatility" and "defaults" in garch
    _error(reader.get("/v1/models/no-such-model"), 404, "name")
    _error(reader.get("/v1/models/sma", params={"target": "colour"}), 422, "target")


# --- volatility and forecasts: the CLI's numbers -------------------------------------------------


def _cli_frame(tmp_path, *args) -> pd.DataFrame:
    out = tmp_path / "cli.parquet"
    assert main([*args, "--out", str(out)]) == 0
    return pd.read_parquet(out)


def _compare(rows: list[dict], frame: pd.DataFrame, columns: list[str]) -> None:
    got = pd.DataFrame(rows)
    assert len(got) == len(frame)
    for col in columns:
        expected = frame[col]
        if not pd.api.types.is_numeric_dtype(expected) or str(expected.dtype).startswith("date"):
            assert [str(v)[:10] for v in got[col]] == [str(v)[:10] for v in expected], col
        else:
            want = expected.to_numpy(dtype=float)
            have = got[col].astype(float).to_numpy()
            finite = np.isfinite(want)
            np.testing.assert_array_equal(have[finite], want[finite], err_msg=col)  # JSON keeps every digit
            assert np.isnan(have[~finite]).all(), col  # infinities and NaN travel as null


def test_volatility_equals_cli(reader, vix_path, vix, tmp_path):
    body = {
        "series": series_body(vix),
        "models": ["dd-ewma", "garch"],
        "window": 504,
        "start": "2021-05-18",
        "end": "2021-05-24",
        "tail": 0.05,
        "notional": 1000,
    }
    r = reader.post("/v1/volatility", json=body)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    cli = _cli_frame(
        tmp_path,
        "volatility",
        str(vix_path),
        "--window",
        "504",
        "--from",
        "2021-05-18",
        "--to",
        "2021-05-24",
        "--models",
        "dd-ewma,garch",
    )
    _compare(rows, cli, ["date", "model", "volatility", "var", "cvar", "mad", "rho", "dof", "alpha", "return"])
    assert rows[0]["date"] == "2021-05-18" and round(rows[0]["volatility"], 4) == 0.1677  # Table V


def test_volatility_defaults_forecast_the_next_business_day(reader, vix):
    r = reader.post("/v1/volatility", json={"series": series_body(vix, 505)})
    assert r.status_code == 200, r.text
    (row,) = r.json()["rows"]
    assert row["model"] == "dd-ewma" and row["return"] is None
    assert pd.Timestamp(row["date"]) == vix.index[-1] + pd.offsets.BDay(1)


@pytest.mark.parametrize(
    "model, extra, columns",
    [
        ("nnar", {"seed": 0}, ["point"]),  # stochastic: the same seed gives the CLI's digits
        ("sma", {"levels": [0.9, 0.95]}, ["point", "lower_90", "upper_90", "lower_95", "upper_95"]),  # conformal
    ],
)
def test_forecast_equals_cli(reader, vix_path, vix, tmp_path, model, extra, columns):
    body = {
        "series": series_body(vix),
        "model": model,
        "horizon": 3,
        "train_from": "2019-04-25",
        "train_to": "2021-04-16",
        **extra,
    }
    r = reader.post("/v1/forecast", json=body)
    assert r.status_code == 200, r.text
    flags = ["--seed", "0"] if "seed" in extra else ["--levels", "0.9,0.95"]
    cli = _cli_frame(
        tmp_path,
        "forecast",
        str(vix_path),
        "--model",
        model,
        "--horizon",
        "3",
        *flags,
        "--train-from",
        "2019-04-25",
        "--train-to",
        "2021-04-16",
    )
    _compare(r.json()["rows"], cli, ["date", "model", *columns, "actual"])
    assert r.json()["rows"][0]["date"] == "2021-04-19"


# --- bad input: 4xx naming the field, never a traceback ------------------------------------------


def _bad(vix, change):
    body = {"series": series_body(vix, 600), "window": 504}
    change(body)
    return body


def _set(path, value):
    def change(body):
        *head, last = path
        node = body
        for p in head:
            node = node[p]
        node[last] = value

    return change


BAD_VOLATILITY = [
    (_set(("series", "prices", 3), -1.0), "series.prices", "non-positive"),
    (_set(("series", "prices", 3), 0.0), "series.prices", "non-positive"),
    (_set(("series", "prices", 3), "abc"), "series.prices[3]", "number"),
    (_set(("series", "prices", 3), None), "series.prices[3]", "number"),
    (_set(("series", "dates", 3), "2000-01-01"), "series.dates", "increasing"),
    (lambda b: b["series"]["dates"].__setitem__(4, b["series"]["dates"][3]), "series.dates", "increasing"),
    (_set(("series", "dates", 3), "not a date"), "series.dates[3]", "date"),
    (lambda b: b["series"]["prices"].pop(), "series", "values"),
    (_set(("window",), 700), "series", "window of 700"),
    (_set(("models",), ["no-such-model"]), "models", "unknown volatility model"),
    (_set(("params",), {"no_such_parameter": 1}), "params", "no_such_parameter"),
    (_set(("tail",), 1.5), "tail", "less than 1"),
    (_set(("notional",), -5), "notional", "greater than 0"),
    (_set(("symbol",), "cboe:VIX"), "body", "exactly one"),
    (_set(("surprise",), 1), "surprise", "not permitted"),
]


@pytest.mark.parametrize("change, field, words", BAD_VOLATILITY)
def test_bad_volatility_payloads(reader, vix, change, field, words):
    body = _error(reader.post("/v1/volatility", json=_bad(vix, change)), 422, field)
    assert words in body["detail"], body


@pytest.mark.parametrize(
    "body, field",
    [
        ({"model": "sma", "levels": [0.9, 1.0]}, "levels"),
        ({"model": "sma", "levels": [0.0]}, "levels"),
        ({"model": "sma", "horizon": 0}, "horizon"),
        ({"model": "sma", "params": {"window": "wide"}}, "params"),
        ({"model": "lstm", "params": {"hidden_size": 64}}, "params"),
        ({"model": "nonsense"}, "model"),
        ({}, "body"),
        ({"model": "sma", "train_from": "2030-01-01"}, "train_from"),
    ],
)
def test_bad_forecast_payloads(reader, vix, body, field):
    _error(reader.post("/v1/forecast", json={"series": series_body(vix, 600), **body}), 422, field)


def test_not_json_415_and_413(server, reader):
    _error(reader.post("/v1/volatility", content=b"dates,prices\n", headers={"Content-Type": "text/csv"}), 415, "body")
    _error(reader.post("/v1/volatility", data={"a": "b"}), 415, "body")
    _error(
        reader.post("/v1/volatility", content=b"{not json", headers={"Content-Type": "application/json"}), 422, "body"
    )
    big = b'{"series": {"dates": [], "prices": [' + b"1.0," * (3 * 1024 * 1024) + b"1.0]}}"
    assert len(big) > 10 * 1024 * 1024
    _error(reader.post("/v1/volatility", content=big, headers={"Content-Type": "application/json"}), 413, "body")

    def chunks():  # no Content-Length: the limit counts what arrives
        for _ in range(12):
            yield b" " * (1024 * 1024)

    _error(reader.post("/v1/volatility", content=chunks(), headers={"Content-Type": "application/json"}), 413)


def test_symbol_from_a_missing_store(reader):
    r = reader.post("/v1/volatility", json={"symbol": "cboe:NOPE"})
    assert r.status_code in (404, 422), r.text
    assert r.json()["field"] == "symbol"
    _error(reader.post("/v1/volatility", json={"symbol": "/etc/passwd"}), 422, "symbol")


# --- ids: 404, and never a path outside the model folder -----------------------------------------


@pytest.mark.parametrize(
    "model_id",
    ["nope", "..", "...", ".hidden", "a%2F..%2F..%2Fetc", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "x" * 300, "escape"],
)
def test_saved_model_ids_cannot_escape(server, reader, model_id, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.json").write_text(json.dumps({"format": "marketcast-model/1", "model": "sma"}))
    link = server.root / "data" / "models" / "escape"
    if not link.exists():
        link.symlink_to(outside, target_is_directory=True)
    r = reader.get(f"/v1/saved-models/{model_id}")
    assert r.status_code == 404, r.text
    body = {"series": {"dates": ["2020-01-01", "2020-01-02"], "prices": [1.0, 2.0]}, "saved_model": model_id}
    assert reader.post("/v1/forecast", json=body).status_code in (404, 422)
    assert "outside" not in reader.get("/v1/saved-models").text


def test_unknown_job_and_route(reader):
    _error(reader.get("/v1/jobs/0123456789abcdef"), 404, "job_id")
    _error(reader.delete("/v1/jobs/0123456789abcdef"), 404, "job_id")
    _error(reader.get("/v1/no-such-endpoint"), 404)


def test_risk_job_on_an_unknown_universe_is_422_or_501(writer):
    from marketcast.service import library

    r = writer.post("/v1/jobs/risk", json={"universe": "no-such-universe"})
    _error(r, 501) if library.risk_function() is None else _error(r, 422, "universe")
