"""The command line: fast start, exit codes, one-line errors, no partial output files."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from marketcast import __version__
from marketcast.cli import main

HEAVY = ("torch", "prophet", "xgboost", "matplotlib", "plotly", "sklearn", "arch", "duckdb", "pandas")


def test_version_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sys; from marketcast.cli import main; sys.exit(main(['--version']))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"marketcast {__version__}"
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY), imported & set(HEAVY)


def run(capsys, *args):
    rc = main(list(args))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_missing_file_is_one_line_and_status_2(capsys, tmp_path):
    out = tmp_path / "v.csv"
    rc, stdout, err = run(capsys, "volatility", str(tmp_path / "none.csv"), "--out", str(out))
    assert rc == 2
    assert err.strip().count("\n") == 0 and "none.csv: no such file" in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_prices_do_not_leave_an_output_file(capsys, tmp_path):
    data = tmp_path / "p.csv"
    data.write_text("Date,Close\n" + "".join(f"2020-01-{d:02d},{d}\n" for d in range(1, 20)) + "2020-01-20,-3\n")
    out = tmp_path / "bt.csv"
    rc, _, err = run(capsys, "backtest", str(data), "--window", "10", "--horizon", "2", "--out", str(out))
    assert rc == 2 and "p.csv: line 21: column 'Close': non-positive price -3 on 2020-01-20" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_window_longer_than_the_data(capsys, tmp_path):
    data = tmp_path / "short.csv"
    data.write_text("Date,Close\n" + "".join(f"2020-01-{d:02d},{d}\n" for d in range(1, 30)))
    rc, _, err = run(capsys, "volatility", str(data), "--window", "504")
    assert rc == 2 and err.startswith("marketcast: error: short.csv: 28 returns before") and "504" in err
    rc, _, err = run(capsys, "backtest", str(data), "--window", "504", "--horizon", "5")
    assert rc == 2 and "short.csv: 29 rows" in err


def test_unsupported_output_format_fails_before_any_work(capsys, tmp_path):
    rc, _, err = run(capsys, "volatility", str(tmp_path / "none.csv"), "--out", str(tmp_path / "x.xlsx"))
    assert rc == 2 and "unsupported output format '.xlsx'" in err


def test_unknown_model_and_usage_errors(capsys, vix_path):
    rc, _, err = run(capsys, "backtest", str(vix_path), "--models", "sma,banana", "--window", "100", "--horizon", "5")
    assert rc == 2 and "unknown price model 'banana'" in err
    rc, _, err = run(capsys, "volatility")
    assert rc == 2 and "Missing argument" in err


@pytest.mark.realdata
def test_backtest_prints_a_table_that_says_it_is_leakage_free(capsys, vix_path):
    rc, out, _ = run(capsys, "--quiet", "backtest", str(vix_path), "--models", "sma,naive", "--window", "504",
                     "--start", "2016-01-04", "--step", "64", "--slices", "3", "--horizon", "21")
    assert rc == 0
    assert "0.8170" in out and "0.7373" in out  # slice 1 of Table II
    assert "leakage-free" in out and "mean" in out and "sd" in out


@pytest.mark.realdata
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_output_formats(tmp_path, vix_path, suffix):
    out = tmp_path / f"v{suffix}"
    assert main(["--quiet", "volatility", str(vix_path), "--from", "2021-05-20", "--to", "2021-05-24", "--out", str(out)]) == 0
    frame = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".json": pd.read_json}[suffix](out)
    assert len(frame) == 3 and {"date", "model", "volatility", "var", "cvar", "mad", "rho", "dof"} <= set(frame.columns)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind


@pytest.mark.realdata
def test_data_check(capsys, tmp_path):
    from conftest import data_file

    rc, out, _ = run(capsys, "data", "check", str(data_file("NIFTY_SBIN.csv")))
    assert rc == 0 and "2014-11-20" in out and "10-for-1" in out and "--split 2014-11-20:10" in out
    rc, out, _ = run(capsys, "data", "check", "--json", str(data_file("NIFTY_SBIN.csv")))
    import json

    report = json.loads(out)
    assert report["rows"] == 5306 and report["suspected_splits"][0]["ratio"] == 10.0
    rc, _, _ = run(capsys, "data", "check", "--strict", str(data_file("NIFTY_SBIN.csv")))
    assert rc == 1


def test_demo_runs_offline(capsys):
    rc, out, _ = run(capsys, "--quiet", "demo")
    assert rc == 0 and "DD-EWMA" in out and "arch.data.vix" in out


def _prices_file(path, closes):
    dates = pd.bdate_range("2019-01-01", periods=len(closes))
    path.write_text("Date,Close\n" + "".join(f"{d.date()},{c}\n" for d, c in zip(dates, closes)))
    return path


def test_constant_prices_are_refused_not_forecast_as_blanks(capsys, tmp_path):
    data = _prices_file(tmp_path / "flat.csv", [10.0] * 80)
    out = tmp_path / "v.csv"
    rc, _, err = run(capsys, "volatility", str(data), "--window", "50", "--out", str(out))
    assert rc == 2 and err.count("\n") == 1
    assert "flat.csv: the 50 returns before" in err and "are all equal (constant prices)" in err
    assert not out.exists()


def test_rows_without_a_price_are_skipped_with_a_note(capsys, tmp_path):
    closes = [str(10 + 0.1 * (i % 7)) for i in range(80)]
    closes[30] = ""
    data = _prices_file(tmp_path / "hole.csv", closes)
    rc, _, err = run(capsys, "volatility", str(data), "--window", "50", "--out", str(tmp_path / "v.csv"))
    assert rc == 0 and "note: hole.csv: skipped 1 row(s) with no 'Close' value, first on 2019-02-12 (line 32)" in err
    rc, _, err = run(capsys, "--quiet", "volatility", str(data), "--window", "50", "--out", str(tmp_path / "w.csv"))
    assert rc == 0 and "note" not in err
    rc, out, _ = run(capsys, "data", "check", "--json", str(data))
    import json

    report = json.loads(out)
    assert report["missing_rows"] == {"Close": [{"date": "2019-02-12", "line": 32}]}
    assert "1 missing value(s) in 'Close', first on 2019-02-12 (line 32)" in report["problems"][0]


def test_data_check_refuses_a_file_without_prices(capsys, tmp_path):
    data = tmp_path / "noclose.csv"
    data.write_text("Date,Volume\n2020-01-02,100\n2020-01-03,200\n")
    rc, _, err = run(capsys, "data", "check", str(data))
    assert rc == 2 and "noclose.csv: no close column (columns: Date, Volume); choose one with --column" in err
    rc, out, _ = run(capsys, "data", "check", "--column", "Volume", str(data))
    assert rc == 0 and "noclose.csv" in out
    empty = tmp_path / "emptyclose.csv"
    empty.write_text("Date,Close\n2020-01-02,\n2020-01-03,\n")
    rc, _, err = run(capsys, "data", "check", str(empty))
    assert rc == 2 and "emptyclose.csv: column 'Close' has no values" in err


def test_operating_system_errors_are_one_line(capsys, tmp_path, monkeypatch):
    # Tests run as root here, which no file permission stops; the failure is simulated where
    # the file is opened, which is where an unreadable file or a full disk shows up.
    import marketcast.data as data_pkg

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "locked.csv"))

    monkeypatch.setattr(data_pkg, "resolve_input", refuse)
    rc, _, err = run(capsys, "volatility", str(tmp_path / "locked.csv"))
    assert rc == 2 and err == f"marketcast: error: {tmp_path / 'locked.csv'}: Permission denied\n"


def test_tables_are_printed_whole_in_a_pipe(capsys, vix_path):
    rc, out, _ = run(capsys, "--quiet", "volatility", str(vix_path), "--from", "2021-05-20", "--to", "2021-05-24",
                     "--models", "dd-ewma,garch")
    assert rc == 0 and "2021-05-24" in out and "174.1002" in out and "…" not in out
