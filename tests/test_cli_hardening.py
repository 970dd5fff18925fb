"""Issue 15's examples on the command line: one line and exit 2 (or a correct result), no traceback, no leftover."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from marketcast.cli import hoist_global_flags, main


def run(capsys, *args):
    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def one_line_error(rc, err, *fragments):
    assert rc == 2, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    for f in fragments:
        assert f in err, err


@pytest.fixture()
def prices(tmp_path):
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2015-01-01", periods=700)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
    path = tmp_path / "good.csv"
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": close.round(4)}).to_csv(path, index=False)
    return path


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def test_one_row_file(capsys, tmp_path):
    path = tmp_path / "one_row.csv"
    path.write_text("Date,Close\n2020-01-02,10\n")
    for cmd in (["volatility"], ["backtest"], ["forecast", "--model", "sma"]):
        rc, _, err = run(capsys, *cmd, path, "--out", tmp_path / "o.csv")
        one_line_error(rc, err, "one_row.csv", "needs at least")
    assert files_in(tmp_path) == ["one_row.csv"]


@pytest.mark.parametrize(
    "cmd", [["forecast", "--model", "sma"], ["backtest", "--models", "sma"], ["train", "--model", "sma"]]
)
def test_bad_window_value(capsys, tmp_path, prices, cmd):
    extra = ["--save", tmp_path / "m"] if cmd[0] == "train" else ["--out", tmp_path / "o.csv"]
    rc, _, err = run(capsys, *cmd[:1], prices, *cmd[1:], "-p", "window=abc", *extra)
    one_line_error(rc, err, "sma: window expects an integer >= 1, got 'abc'")
    assert files_in(tmp_path) == ["good.csv"]


@pytest.mark.parametrize(
    "param,says",
    [
        ("learning_rate=nan", "learning_rate expects a finite number"),
        ("learning_rate=1e4", "learning_rate expects a finite number > 0 and <= 1"),
        ("epochs=2.5", "epochs expects an integer >= 1, got 2.5"),
    ],
)
def test_silent_nonsense_is_refused(capsys, tmp_path, prices, param, says):
    rc, _, err = run(capsys, "forecast", prices, "--model", "lstm", "-p", param, "--out", tmp_path / "f.csv")
    one_line_error(rc, err, "lstm: " + says)
    rc, _, err = run(capsys, "backtest", prices, "--models", "lstm", "-p", param, "--out", tmp_path / "b.csv")
    one_line_error(rc, err, says)
    assert files_in(tmp_path) == ["good.csv"]


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one(capsys, tmp_path, prices, jobs):
    rc, _, err = run(capsys, "volatility", prices, "--jobs", jobs, "--out", tmp_path / "v.csv")
    one_line_error(rc, err, f"--jobs expects an integer >= 1, got {jobs}")


def test_train_save_load_the_simplest_model(capsys, tmp_path, prices):
    rc, out, err = run(capsys, "train", prices, "--model", "sma", "--save", tmp_path / "m")
    assert rc == 0, err
    rc, _, err = run(capsys, "forecast", "--load", tmp_path / "m", "-H", "3", "--out", tmp_path / "f.csv")
    assert rc == 0, err
    f = pd.read_csv(tmp_path / "f.csv")
    close = pd.read_csv(prices)["Close"].to_numpy()
    assert f["point"].iloc[0] == pytest.approx(close[-3:].mean())  # SMA with window = horizon (3)
    assert files_in(tmp_path) == ["f.csv", "good.csv", "m"]


@pytest.mark.realdata
def test_train_sma_on_the_vix(capsys, tmp_path):
    from conftest import data_file

    rc, out, err = run(capsys, "train", data_file("VIX_History.csv"), "--model", "sma", "--save", tmp_path / "m")
    assert rc == 0 and "Traceback" not in err, err


@pytest.mark.parametrize(
    "model,key,value", [("naive", "nothing", 1), ("sma", "window", 100000), ("xgboost", "window", 50)]
)
def test_edited_model_json_is_one_line(capsys, tmp_path, prices, model, key, value):
    params = ["-p", "n_estimators=5"] if model == "xgboost" else []
    rc, _, err = run(capsys, "train", prices, "--model", model, "--save", tmp_path / "m", *params)
    assert rc == 0, err
    manifest = tmp_path / "m" / "model.json"
    data = json.loads(manifest.read_text())
    data["params"][key] = value
    manifest.write_text(json.dumps(data))
    rc, _, err = run(capsys, "forecast", "--load", tmp_path / "m", "--out", tmp_path / "f.csv")
    one_line_error(rc, err)
    assert ("do not fit the saved weights" in err) or ("unknown parameter" in err)
    assert not (tmp_path / "f.csv").exists()


def test_global_flags_after_the_subcommand(capsys, tmp_path, prices):
    assert hoist_global_flags(["volatility", "f.csv", "-q", "-v"]) == ["-q", "-v", "volatility", "f.csv"]
    assert hoist_global_flags(["data", "check", "--", "-q"]) == ["data", "check", "--", "-q"]
    rc, out, err = run(capsys, "forecast", prices, "--model", "naive", "-q", "--out", tmp_path / "f.csv")
    assert rc == 0 and err == "", err  # -q after the subcommand: no "wrote ..." note
    rc, out, err = run(capsys, "forecast", prices, "--model", "naive", "-v", "--out", tmp_path / "f.csv")
    assert rc == 0 and "wrote" in err


_OFFLINE = (
    "import sys, time, httpx\n"
    "from marketcast.data.sources import _http\n"
    "def refuse(request): raise httpx.ConnectError('offline', request=request)\n"
    "_http.make_client = lambda: httpx.Client(transport=httpx.MockTransport(refuse))\n"
    "time.sleep = lambda s: None\n"
    "from marketcast.cli import main; sys.exit(main())\n"
)


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_silences_the_retry_warnings_of_an_offline_fetch(tmp_path, quiet):
    args = ["data", "fetch", "AAPL", "--source", "yahoo", "--store", tmp_path / "s.duckdb"] + (["-q"] if quiet else [])
    out = subprocess.run(
        [sys.executable, "-c", _OFFLINE, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert ("retrying" in out.stderr) is not quiet, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("marketcast: error: yahoo")


def _cli(args, **kw):
    code = "import sys; from marketcast.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        **kw,
    )


def test_dash_reads_stdin_on_the_command_line(prices):
    out = _cli(["data", "check", "-", "--json"], input=prices.read_text())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == 700 and json.loads(out.stdout)["file"] == "<stdin>"


def test_fifo_on_the_command_line(tmp_path, prices):
    out = subprocess.run(
        [
            "bash",
            "-c",
            f'"{sys.executable}" -c "import sys; from marketcast.cli import main; sys.exit(main())" '
            f'forecast <(cat "{prices}") --model naive -H 2 -q',
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1", "utf-8-sig"])
def test_encodings_on_the_command_line(capsys, tmp_path, prices, encoding):
    path = tmp_path / f"p_{encoding}.csv"
    path.write_bytes(
        prices.read_text()
        .replace("Close", "Clôture" if encoding != "utf-8-sig" else "Close")
        .replace("Clôture", "Close")
        .encode(encoding)
    )
    rc, out, err = run(capsys, "forecast", path, "--model", "naive", "-H", "1", "--out", tmp_path / "f.csv")
    assert rc == 0, err


def test_intraday_file_refused_or_taken_to_daily_closes(capsys, tmp_path):
    path = tmp_path / "minutes.csv"
    stamps = pd.date_range("2020-01-02 09:30", periods=390, freq="min")
    days = [
        stamps + pd.Timedelta(days=d)
        for d in range(40)
        if (pd.Timestamp("2020-01-02") + pd.Timedelta(days=d)).weekday() < 5
    ]
    idx = days[0].append(days[1:])
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, len(idx))))
    pd.DataFrame(
        {
            "timestamp": idx.strftime("%Y-%m-%d %H:%M:%S"),
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": 1,
        }
    ).to_csv(path, index=False)
    rc, _, err = run(capsys, "volatility", path, "--window", "10", "--out", tmp_path / "v.csv")
    one_line_error(rc, err, "minutes.csv: intraday data", "--daily-closes")
    rc, _, err = run(capsys, "volatility", path, "--window", "10", "--daily-closes", "--out", tmp_path / "v.csv")
    assert rc == 0, err
    assert "note: minutes.csv: intraday rows taken to daily closes" in err
    assert len(pd.read_csv(tmp_path / "v.csv")) == 1


@pytest.mark.realdata
def test_splits_are_adjusted_only_when_reported_or_confirmed(capsys, tmp_path):
    """Issue 15: following `data check`'s advice must not rewrite history on suspicion alone."""
    from conftest import data_file

    sbin, vix = data_file("NIFTY_SBIN.csv"), data_file("VIX_History.csv")
    window = ["--window", "504", "--from", "2016-06-01", "--to", "2016-06-03"]
    rc, _, err = run(capsys, "volatility", sbin, *window, "--adjust-splits", "--out", tmp_path / "o.csv")
    one_line_error(rc, err, "NIFTY_SBIN.csv", "reports no splits", "--split 2014-11-20:10")
    rc, _, err = run(capsys, "volatility", sbin, *window, "--split", "2014-11-20:x", "--out", tmp_path / "o.csv")
    one_line_error(rc, err, "--split expects DATE:RATIO", "'2014-11-20:x'")
    assert files_in(tmp_path) == []
    rc, _, err = run(capsys, "volatility", sbin, *window, "--split", "2014-11-20:10", "--out", tmp_path / "o.csv")
    assert (
        rc == 0 and "note: NIFTY_SBIN.csv: adjusted for splits: 2014-11-20 split 10-for-1 confirmed by the user" in err
    )
    # an index: nothing reported, nothing suspected (its 1:2 day of 2018-02-05 is a market move), nothing adjusted
    rc, _, err = run(
        capsys,
        "volatility",
        vix,
        "--from",
        "2018-02-05",
        "--to",
        "2018-02-06",
        "--adjust-splits",
        "--out",
        tmp_path / "v.csv",
    )
    assert rc == 0 and "adjusted for splits: nothing" in err
    rc, out, _ = run(capsys, "data", "check", vix)
    assert rc == 0 and "suspected split" not in out


@pytest.mark.realdata
def test_progress_lines_when_stderr_is_piped(tmp_path):
    """Issue 15: piped output shows plain progress lines (every $MARKETCAST_PROGRESS_SECONDS), in units of work."""
    from conftest import data_file

    env = {**os.environ, "MARKETCAST_PROGRESS_SECONDS": "0.1"}
    args = ["volatility", data_file("VIX_History.csv"), "--models", "nnar", "-p", "repeats=2", "--jobs", "1",
            "--from", "2021-05-03", "--to", "2021-05-14", "--out", tmp_path / "v.csv"]
    proc = subprocess.run([sys.executable, "-m", "marketcast", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("volatility forecasts: ")]
    assert lines and lines[-1].startswith("volatility forecasts: 10/10 (100%), done in "), proc.stderr
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr  # no terminal codes in a log
    quiet = subprocess.run([sys.executable, "-m", "marketcast", "-q", *map(str, args)], capture_output=True,
                           text=True, env=env, timeout=600)
    assert quiet.returncode == 0 and quiet.stderr == ""


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_ctrl_c_during_the_final_write(capsys, tmp_path, prices, monkeypatch, suffix):
    """Issue 15: SIGINT during the final write is not swallowed: 130, the message, no file left."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv" if suffix == ".csv" else "to_parquet", interrupted)
    rc, _, err = run(capsys, "volatility", prices, "--window", "100", "--out", tmp_path / f"v{suffix}")
    assert rc == 130 and err.strip() == "marketcast: interrupted", err
    assert files_in(tmp_path) == ["good.csv"]
