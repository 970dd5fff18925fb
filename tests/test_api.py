"""The Python front door: issue 14's example on the real data, and the same numbers as the command line.

The example names its files relative to the working directory, so each test works in a scratch
folder holding links to the shared files (nothing is copied). The only change to the example is
the neural models' size (epochs, units, networks, training rows: 1-2 years), so that the test takes seconds:
the comparison with the command line is what matters, and it runs with the same settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import data_file
from pandas.testing import assert_frame_equal

import marketcast as mc
from marketcast.api import backtest_summary
from marketcast.cli import main
from marketcast.errors import DataError, MarketcastError, MarketcastWarning, ModelError, NotFittedError

pytestmark = pytest.mark.realdata

#: Small networks: the example's calls with these added take seconds, not minutes.
SMALL_LSTM = dict(units=8, dense_units=4)
SMALL_TWO_LSTM = {"epochs": 1, "params": {"networks": 1, "units": 8, "dense_units": 4}}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for name in ("VIX_History.csv", "NIFTY_SBIN.csv"):
        (tmp_path / name).symlink_to(data_file(name))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli_frame(*args: str, out: str) -> pd.DataFrame:
    """Run ``marketcast ARGS --out OUT`` (Parquet: exact floats) and read the file back with dates as datetimes."""
    assert main(["--quiet", *args, "--out", out]) == 0
    frame = pd.read_parquet(out)
    for col in ("date", "start", "end", "window_start", "window_end"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col])
    return frame


def same(api_frame: pd.DataFrame, cli: pd.DataFrame, drop=()) -> None:
    a = api_frame.drop(columns=list(drop))
    b = cli.drop(columns=list(drop))
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if pd.api.types.is_datetime64_any_dtype(a[col]):
            a[col] = a[col].astype("datetime64[ns]")
            b[col] = b[col].astype("datetime64[ns]")
    assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True, check_dtype=False)


@pytest.mark.slow  # about a minute on 2 shared cores: every call runs twice, once through the CLI
def test_the_issue_example_gives_dated_frames_equal_to_the_command_line(workdir, capsys):
    # --- the example (neural sizes reduced; see the module docstring) ---
    prices = mc.load_prices("VIX_History.csv")
    report = mc.check_data("NIFTY_SBIN.csv")
    vol = mc.volatility(prices, models=["dd-ewma", "garch"], window=504, start="2021-05-18", end="2021-05-24")
    bt = mc.backtest(prices, models=["sma", "naive"], window=504, start="2016-01-04", step=64, slices=14, horizon=21)
    fc = mc.forecast(prices, model="two-lstm", horizon=5, levels=(0.9, 0.95), train_from="2020-04-16",
                     train_to="2021-04-16", seed=0, **SMALL_TWO_LSTM)
    model = mc.get_model("lstm", epochs=1, seed=0, **SMALL_LSTM).fit(prices.loc["2019-04-25":"2021-04-16"])
    frame = model.predict_frame(5, levels=(0.9,))
    mc.save_model(model, "lstm_vix"); again = mc.load_model("lstm_vix")  # noqa: E702
    registry = mc.models()
    # "vol.csv" is the command line's own file, written below with the same settings
    assert main(["--quiet", "volatility", "VIX_History.csv", "--models", "dd-ewma,garch", "--window", "504",
                 "--from", "2021-05-18", "--to", "2021-05-24", "--out", "vol.csv"]) == 0
    html = mc.report(["vol.csv", bt], out="report.html")

    # --- prices: a dated series that says where it came from ---
    assert isinstance(prices, pd.Series) and isinstance(prices.index, pd.DatetimeIndex)
    assert prices.index.is_monotonic_increasing and prices.attrs["source"] == "VIX_History.csv"
    assert prices.loc["2021-04-16"] == pytest.approx(16.25)

    # --- the data check: the object the command prints, and a frame of findings ---
    assert report.rows > 1000 and report.problems
    assert list(report.frame.columns) == ["check", "column", "date", "line", "value", "detail"]
    split = report.frame[report.frame.check == "suspected_split"]
    assert split.date.tolist() == [pd.Timestamp("2014-11-20")] and split.value.iloc[0] == pytest.approx(10)
    capsys.readouterr()
    assert main(["data", "check", "NIFTY_SBIN.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(report.as_dict()))

    # --- volatility: the --out file's columns and numbers (seconds is wall time) ---
    assert vol.date.drop_duplicates().dt.strftime("%Y-%m-%d").tolist() == [
        "2021-05-18", "2021-05-19", "2021-05-20", "2021-05-21", "2021-05-24"]
    assert vol.model.drop_duplicates().tolist() == ["dd-ewma", "garch"]
    same(vol, cli_frame("volatility", "VIX_History.csv", "--models", "dd-ewma,garch", "--window", "504",
                        "--from", "2021-05-18", "--to", "2021-05-24", out="vol.parquet"), drop=["seconds"])
    assert vol.loc[vol.model == "dd-ewma", "volatility"].round(4).tolist() == [0.1677, 0.1556, 0.1383, 0.1321, 0.1159]

    # --- backtest: one row per slice and model, as the --out file ---
    assert list(bt.columns) == ["slice", "start", "end", "model", "horizon", "rmse", "mae"]
    assert len(bt) == 28 and bt.start.iloc[0] == pd.Timestamp("2016-01-04")
    same(bt, cli_frame("backtest", "VIX_History.csv", "--models", "sma,naive", "--window", "504", "--start",
                       "2016-01-04", "--step", "64", "--slices", "14", "--horizon", "21", out="bt.parquet"))
    summary = backtest_summary(bt)
    assert summary.query("model == 'sma' and stat == 'mean'").rmse.round(4).item() == 3.2708  # README / Table II

    # --- forecast: dated business days after the origin, nested intervals, the true prices ---
    assert fc.date.dt.strftime("%Y-%m-%d").tolist() == ["2021-04-19", "2021-04-20", "2021-04-21", "2021-04-22",
                                                        "2021-04-23"]
    assert list(fc.columns) == ["date", "model", "point", "lower_90", "upper_90", "lower_95", "upper_95", "sigma_e",
                                "actual"]
    assert (fc.lower_95 < fc.lower_90).all() and (fc.upper_90 < fc.upper_95).all()
    assert fc.actual.round(2).tolist() == [17.29, 18.68, 17.5, 18.71, 17.33]  # Table IV's prices
    same(fc, cli_frame("forecast", "VIX_History.csv", "--model", "two-lstm", "--horizon", "5", "--levels", "0.9,0.95",
                       "--train-from", "2020-04-16", "--train-to", "2021-04-16", "--seed", "0", "--epochs", "1",
                       "-p", "networks=1", "-p", "units=8", "-p", "dense_units=4", out="fc.parquet"))

    # --- a model of one's own: predict_frame equals `forecast --levels` (conformal, 20 windows) ---
    assert list(frame.columns) == ["date", "model", "point", "lower_90", "upper_90"]
    assert frame.date.iloc[0] == pd.Timestamp("2021-04-19") and len(frame) == 5
    cli = cli_frame("forecast", "VIX_History.csv", "--model", "lstm", "--horizon", "5", "--levels", "0.9",
                    "--train-from", "2019-04-25", "--train-to", "2021-04-16", "--seed", "0", "--epochs", "1",
                    "-p", "units=8", "-p", "dense_units=4",
                    out="lstm.parquet")
    same(frame, cli.drop(columns="actual"))

    # --- saved and loaded: the same network, the same forecasts ---
    assert type(again) is type(model)
    assert np.array_equal(again.predict(5), model.predict(5))
    assert again.manifest_["metrics"]["epoch"] == 1

    # --- the registry and the report ---
    assert list(registry.columns) == ["name", "target", "summary", "recursive", "stochastic", "native_intervals",
                                      "split_safe", "window_parallel"]
    assert {("two-lstm", "price"), ("garch", "volatility")} <= set(zip(registry.name, registry.target))
    two_lstm = registry.set_index(["name", "target"]).loc[("two-lstm", "price")]
    assert two_lstm.native_intervals and two_lstm.stochastic and two_lstm.recursive
    capsys.readouterr()
    assert main(["models"]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in registry.name)
    text = html.read_text()
    assert html.name == "report.html" and "2021-05-18" in text and "vol.csv" in text


def test_forecast_from_a_saved_model_follows_the_commands_policy(workdir):
    prices = mc.load_prices("VIX_History.csv")
    rows = prices.loc["2019-01-01":"2020-12-31"]
    mc.train(rows, model="lstm", epochs=1, seed=0, params=SMALL_LSTM, save="saved")
    # the training rows: forecast from the saved state; other rows: conditioned on their end
    own = mc.forecast(prices, load="saved", train_from="2019-01-01", train_to="2020-12-31", horizon=3)
    later = mc.forecast(prices, load="saved", train_to="2021-06-30", horizon=3)
    assert own.date.iloc[0] == pd.Timestamp("2021-01-01") and later.date.iloc[0] == pd.Timestamp("2021-07-01")
    same(later, cli_frame("forecast", "VIX_History.csv", "--load", "saved", "--train-to", "2021-06-30", "--horizon",
                          "3", out="later.parquet"))


def test_the_front_door_loads_lazily_and_keeps_the_submodules():
    code = ("import sys, marketcast as mc; assert 'pandas' not in sys.modules; "
            "assert callable(mc.volatility) and callable(mc.models) and callable(mc.report) and callable(mc.backtest); "
            "import marketcast.models.registry as r; from marketcast.backtest import rolling_origins; "
            "assert mc.models.registry is r and mc.backtest.rolling_origins is rolling_origins; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert set(mc.__all__) >= {"load_prices", "check_data", "volatility", "backtest", "forecast", "get_model",
                               "save_model", "load_model", "models", "report"}


def test_errors_are_the_librarys_own(workdir):
    with pytest.raises(DataError, match="no_such.csv"):
        mc.load_prices("no_such.csv")
    with pytest.raises(ModelError, match="unknown price model"):
        mc.get_model("lstmm")
    with pytest.raises(ModelError, match="unknown parameter"):
        mc.get_model("lstm", epoch=3)
    with pytest.raises(ModelError, match="target"):
        mc.models("prices")
    with pytest.raises(NotFittedError):
        mc.get_model("sma").predict_frame(3)
    with pytest.raises(MarketcastError, match="horizon"):
        mc.forecast("VIX_History.csv", model="sma", horizon=0)
    with pytest.raises(DataError, match="not a date"):
        mc.forecast("VIX_History.csv", model="sma", train_to="someday")


def test_too_few_calibration_windows_warn(workdir):
    prices = mc.load_prices("VIX_History.csv").iloc[-600:]
    with pytest.warns(MarketcastWarning, match="calibration windows are too few"):
        fc = mc.forecast(prices, model="sma", horizon=3, levels=(0.99,))
    assert list(fc.columns) == ["date", "model", "point", "lower_99", "upper_99", "actual"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MarketcastWarning)
        mc.forecast(prices, model="sma", horizon=3, levels=(0.9,))
