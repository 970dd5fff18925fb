"""``marketcast data fetch`` and ``marketcast data list``, in-process, with the network mocked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from marketcast.cli import main
from marketcast.data.sources import _http

FIX = Path(__file__).parent / "fixtures" / "sources"
KEY = "DEMOKEY123"


pytestmark = pytest.mark.usefixtures("no_network")  # any socket use fails the test (conftest.py)


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "store" / "marketcast.duckdb"
    monkeypatch.setenv("MARKETCAST_STORE", str(path))
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", KEY)
    return path


class Network:
    """Replaces the HTTP client factory: answers by host from recorded files."""

    def __init__(self, monkeypatch):
        self.answers: dict[str, object] = {}
        self.requests: list[httpx.Request] = []
        monkeypatch.setattr(_http, "make_client", self.make_client)

    def make_client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[request.url.host]
        if isinstance(answer, httpx.Response):
            return answer
        if isinstance(answer, str):
            return httpx.Response(200, text=answer)
        return httpx.Response(200, json=answer)


@pytest.fixture
def network(monkeypatch) -> Network:
    net = Network(monkeypatch)
    net.answers["www.alphavantage.co"] = json.loads((FIX / "av_daily_IBM_full.json").read_text())
    net.answers["query1.finance.yahoo.com"] = json.loads((FIX / "yahoo_chart_AAPL.json").read_text())
    net.answers["cdn.cboe.com"] = (FIX / "cboe_VIX_History.csv").read_text()
    return net


def test_fetch_prints_one_summary_line(store, network, capsys):
    assert main(["data", "fetch", "IBM", "--source", "alphavantage"]) == 0
    out, err = capsys.readouterr()
    assert out == f"alphavantage:IBM: added 22 rows; 22 rows 2024-05-01 .. 2024-05-31 in {store}\n"
    assert err == ""
    assert store.exists()
    # again: nothing new
    assert main(["data", "fetch", "ibm", "-s", "alphavantage"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("alphavantage:IBM: up to date, no new rows; 22 rows")


def test_fetch_other_sources_and_explicit_store(tmp_path, network, capsys, monkeypatch):
    monkeypatch.delenv("MARKETCAST_STORE", raising=False)
    path = tmp_path / "other.duckdb"
    assert main(["data", "fetch", "AAPL", "--source", "yahoo", "--store", str(path)]) == 0
    assert main(["data", "fetch", "VIX", "--source", "cboe", "--store", str(path)]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"yahoo:AAPL: added 26 rows; 26 rows 2020-08-03 .. 2020-09-08 in {path}"
    assert lines[1] == f"cboe:VIX: added 20 rows; 20 rows 2021-04-12 .. 2021-05-07 in {path}"


def test_fetch_full_reports_the_replacement(store, network, capsys):
    main(["data", "fetch", "IBM", "--source", "alphavantage"])
    capsys.readouterr()
    assert main(["data", "fetch", "IBM", "--source", "alphavantage", "--full"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("alphavantage:IBM: re-fetched the full history (full history requested), 0 new rows; 22 rows")


def test_rejected_key_is_one_line_and_exit_2(store, network, capsys):
    network.answers["www.alphavantage.co"] = json.loads((FIX / "av_error_invalid_apikey.json").read_text())
    assert main(["data", "fetch", "IBM", "--source", "alphavantage"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("marketcast: error: alphavantage: the API key was rejected")
    assert "Traceback" not in err and KEY not in err
    assert not store.exists() or main(["data", "list"]) == 0


def test_missing_key_names_the_variable(store, network, capsys, monkeypatch):
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY")
    monkeypatch.delenv("ALPHA_VANTAGE_API_KEY", raising=False)
    assert main(["data", "fetch", "IBM", "--source", "alphavantage"]) == 2
    err = capsys.readouterr().err
    assert "ALPHAVANTAGE_API_KEY" in err and err.count("\n") == 1
    assert network.requests == []


def test_premium_endpoint_suggests_alternatives(store, network, capsys):
    network.answers["www.alphavantage.co"] = json.loads((FIX / "av_information_premium.json").read_text())
    assert main(["data", "fetch", "IBM", "--source", "alphavantage", "--adjusted"]) == 2
    err = capsys.readouterr().err
    assert "TIME_SERIES_DAILY_ADJUSTED needs a premium key" in err and "--source yahoo" in err


def test_unknown_source_and_bad_adjusted(store, network, capsys):
    assert main(["data", "fetch", "IBM", "--source", "bloomberg"]) == 2
    assert "choose one of: alphavantage, yahoo, cboe" in capsys.readouterr().err
    assert main(["data", "fetch", "VIX", "--source", "cboe", "--adjusted"]) == 2
    assert "--adjusted applies to --source alphavantage only" in capsys.readouterr().err
    assert network.requests == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_out_writes_the_stored_series(store, network, tmp_path, capsys, suffix):
    out = tmp_path / f"ibm{suffix}"
    assert main(["data", "fetch", "IBM", "--source", "alphavantage", "--out", str(out)]) == 0
    if suffix == ".csv":
        table = pd.read_csv(out)
    elif suffix == ".parquet":
        table = pd.read_parquet(out)
    else:
        table = pd.read_json(out, orient="records", dtype={"date": str})
    assert list(table.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert len(table) == 22
    assert str(table["date"].iloc[-1])[:10] == "2024-05-31" and table["close"].iloc[-1] == 166.85
    assert f"wrote 22 rows to {out}" in capsys.readouterr().err


def test_bad_out_path_fails_before_any_request(store, network, tmp_path, capsys):
    assert main(["data", "fetch", "IBM", "--source", "alphavantage", "--out", str(tmp_path / "ibm.txt")]) == 2
    assert "unsupported output format" in capsys.readouterr().err
    assert main(["data", "fetch", "IBM", "--source", "alphavantage", "--out", str(tmp_path / "no" / "ibm.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert network.requests == []
    assert not store.exists()


def test_list_shows_the_stored_series(store, network, capsys):
    assert main(["data", "list"]) == 0
    assert "no series in" in capsys.readouterr().out
    main(["data", "fetch", "IBM", "--source", "alphavantage"])
    main(["data", "fetch", "AAPL", "--source", "yahoo"])
    capsys.readouterr()
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for text in ("alphavantage", "IBM", "2024-05-01", "2024-05-31", "yahoo", "AAPL", "2020-09-08", "UTC"):
        assert text in out
    assert "22" in out and "26" in out


def test_rate_limit_is_exit_2(store, network, capsys, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    network.answers["query1.finance.yahoo.com"] = httpx.Response(429, text="Too Many Requests")
    assert main(["data", "fetch", "AAPL", "--source", "yahoo"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("marketcast: error: yahoo: rate limit reached (HTTP 429")
    assert len(network.requests) == 5


def test_importing_the_cli_loads_neither_duckdb_nor_httpx():
    code = "import sys, marketcast.cli; print(sorted(m for m in ('duckdb', 'httpx') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_fetched_series_is_usable_as_data(store, network, tmp_path, capsys):
    assert main(["data", "fetch", "AAPL", "--source", "yahoo"]) == 0
    out = tmp_path / "vol.csv"
    assert main(["-q", "volatility", "yahoo:AAPL", "--column", "adj_close", "--window", "10",
                 "--from", "2020-08-24", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) > 0 and table["date"].iloc[0] == "2020-08-24"
    assert main(["volatility", "yahoo:MSFT", "--window", "10"]) == 2
    assert "yahoo:MSFT: not in the store" in capsys.readouterr().err
