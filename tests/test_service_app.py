"""The app in-process (no server): error answers that need a deliberate bug to show, settings."""

from __future__ import annotations

import logging

import httpx
import pytest

from marketcast.errors import MarketcastError
from marketcast.service import create_app
from marketcast.service.saved import ServiceError, saved_model_dir
from marketcast.service.settings import ServiceSettings


@pytest.fixture
def app(tmp_path):
    return create_app(ServiceSettings(data_dir=tmp_path, auth=False))


async def _get(app, path):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


def test_a_500_carries_a_request_id_that_the_log_has(app, caplog):
    import asyncio

    @app.get("/boom")
    async def boom():
        raise RuntimeError("a bug with a secret inside")

    with caplog.at_level(logging.ERROR, logger="marketcast.service"):
        r = asyncio.run(_get(app, "/boom"))
    assert r.status_code == 500
    body = r.json()
    rid = body["request_id"]
    assert r.headers["x-request-id"] == rid and rid in body["detail"]
    assert "secret" not in r.text and "Traceback" not in r.text
    assert any(rid in rec.getMessage() and rec.exc_info for rec in caplog.records)


def test_no_keys_file_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("MARKETCAST_API_KEYS", raising=False)
    with pytest.raises(MarketcastError, match="MARKETCAST_API_KEYS"):
        create_app(ServiceSettings(data_dir=tmp_path))


def test_serve_without_keys_is_one_line_and_exit_2(tmp_path):
    from service_server import cli

    done = cli("serve", "--port", "1", "--data-dir", str(tmp_path), env={"MARKETCAST_API_KEYS": ""})
    assert done.returncode == 2 and "MARKETCAST_API_KEYS" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("bad", ["..", "../x", "a/b", ".x", "", "x" * 101, "a\x00b", "/etc"])
def test_saved_model_ids_stay_inside(tmp_path, bad):
    with pytest.raises(ServiceError) as err:
        saved_model_dir(tmp_path, bad)
    assert err.value.status == 404


def test_version_stays_light():
    import subprocess
    import sys

    code = "import sys, marketcast.cli; sys.exit(any(m in sys.modules for m in ('fastapi', 'uvicorn', 'prometheus_client')))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.realdata
def test_a_stored_series_is_adjusted_only_for_reported_or_confirmed_splits(tmp_path):
    """The service's `adjust_splits` follows the library: never on suspicion; `splits` confirms."""
    from conftest import data_file
    from marketcast.data import read_prices
    from marketcast.data.store import PriceStore
    from marketcast.service.library import prices_of

    store = tmp_path / "store.duckdb"
    frame = read_prices(data_file("NIFTY_SBIN.csv")).frame  # unadjusted, reports no splits
    PriceStore(store).write("yahoo", "SBIN", frame[["open", "high", "low", "close", "volume"]])
    with pytest.raises(ServiceError) as err:
        prices_of({"symbol": "yahoo:SBIN", "adjust_splits": True}, str(store))
    assert err.value.status == 422 and err.value.field == "adjust_splits"
    assert "--split 2014-11-20:10" in err.value.message
    with pytest.raises(ServiceError) as err:
        prices_of({"symbol": "yahoo:SBIN", "splits": ["2014-11-20"]}, str(store))
    assert err.value.status == 422 and err.value.field == "splits"
    raw = prices_of({"symbol": "yahoo:SBIN"}, str(store))
    adjusted = prices_of({"symbol": "yahoo:SBIN", "splits": ["2014-11-20:10"]}, str(store))
    assert adjusted.loc["2014-11-19"] == pytest.approx(raw.loc["2014-11-19"] / 10)
    assert adjusted.loc["2014-11-20":].equals(raw.loc["2014-11-20":])
    inline = {"series": {"dates": ["2020-01-02", "2020-01-03"], "prices": [1.0, 2.0]}, "splits": ["2020-01-03:2"]}
    with pytest.raises(ServiceError) as err:  # not silently ignored
        prices_of(inline, str(store))
    assert err.value.status == 422 and err.value.field == "splits"
