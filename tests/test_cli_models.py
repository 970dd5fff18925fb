"""`marketcast models`, `train`, `forecast`: the contract later issues and users rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.cli import main


def run(capsys, *args):
    rc = main(list(args))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2019-01-01", periods=300)
    prices = 40 * np.exp(np.cumsum(rng.normal(0, 0.015, idx.size)))
    path = tmp_path / "p.csv"
    pd.DataFrame({"Date": idx.strftime("%Y-%m-%d"), "Close": prices}).to_csv(path, index=False)
    return path, pd.Series(prices, index=idx)


def test_models_lists_every_model_and_describes_one(capsys):
    rc, out, _ = run(capsys, "models")
    assert rc == 0
    for name in ("naive", "sma", "lstm", "cnn-lstm", "two-lstm", "prophet", "xgboost", "nnar", "dd-ewma", "garch", "ensemble"):
        assert name in out
    rc, out, _ = run(capsys, "models", "describe", "cnn-lstm")
    assert rc == 0 and "trainable parameters: 883,401" in out and "epochs = 40" in out
    rc, out, _ = run(capsys, "models", "describe", "dd-ewma", "--target", "volatility")
    assert rc == 0 and "init_fraction" in out
    rc, _, err = run(capsys, "models", "describe", "nope")
    assert rc == 2 and "unknown price model 'nope'" in err


def test_forecast_writes_business_days_after_the_origin_with_intervals(capsys, tmp_path, csv):
    path, prices = csv
    out = tmp_path / "f.csv"
    rc, _, _ = run(capsys, "--quiet", "forecast", str(path), "--model", "sma", "--horizon", "4", "--levels", "0.9,0.95,0.99",
                   "--train-to", "2019-12-31", "--out", str(out))
    assert rc == 0
    f = pd.read_csv(out)
    assert list(f.columns) == ["date", "model", "point", "lower_90", "upper_90", "lower_95", "upper_95", "lower_99", "upper_99", "actual"]
    assert f.date.tolist() == ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-06"]
    assert (f.lower_99 <= f.lower_95).all() and (f.lower_95 <= f.lower_90).all() and (f.upper_90 <= f.upper_99).all()
    assert f.actual.tolist() == pytest.approx(prices.loc["2020-01-01":"2020-01-06"].tolist())
    expected = np.mean(prices.loc[:"2019-12-31"].iloc[-4:])
    assert f.point[0] == pytest.approx(expected)


def test_train_then_forecast_from_the_saved_model_is_identical(capsys, tmp_path, csv):
    path, _ = csv
    model_dir = tmp_path / "lstm"
    rc, out, err = run(capsys, "train", str(path), "--model", "lstm", "--save", str(model_dir), "--epochs", "2",
                       "-p", "units=8", "-p", "dense_units=4", "-p", "lags=5", "--seed", "3")
    assert rc == 0, err
    assert "saved to" in err or "saved to" in out
    direct, loaded = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["--quiet", "forecast", str(path), "--model", "lstm", "--epochs", "2", "-p", "units=8", "-p", "dense_units=4",
                 "-p", "lags=5", "--seed", "3", "--horizon", "5", "--out", str(direct)]) == 0
    assert main(["--quiet", "forecast", "--load", str(model_dir), "--horizon", "5", "--out", str(loaded)]) == 0
    a, b = pd.read_json(direct), pd.read_json(loaded)
    assert a.point.tolist() == b.point.tolist()


def test_fine_tune_a_saved_model_on_another_series(capsys, tmp_path, csv):
    path, prices = csv
    other = tmp_path / "other.csv"
    pd.DataFrame({"Date": prices.index.strftime("%Y-%m-%d"), "Close": prices.to_numpy()[::-1] * 3}).to_csv(other, index=False)
    first, second = tmp_path / "m1", tmp_path / "m2"
    assert main(["--quiet", "train", str(path), "--model", "window-lstm", "--save", str(first), "--epochs", "1",
                 "-p", "window=20", "-p", "units=4"]) == 0
    assert main(["--quiet", "train", str(other), "--load", str(first), "--fine-tune", "--epochs", "1", "--save", str(second)]) == 0
    import json

    manifest = json.loads((second / "model.json").read_text())
    assert len(manifest["state"]["history"]["loss"]) == 2 and manifest["params"]["warm_start"] is True
    rc, out, _ = run(capsys, "forecast", str(other), "--load", str(second), "--horizon", "2")
    assert rc == 0 and "window-lstm" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--model", "sma", "-p", "window"], "--param expects KEY=VALUE"),
        (["--model", "sma", "-p", "span=3"], "unknown parameter(s) span"),
        (["--model", "sma", "--levels", "0.9,1.5"], "interval levels must lie strictly between 0 and 1"),
        (["--model", "sma", "--horizon", "0"], "--horizon must be at least 1"),
        (["--model", "sma", "--train-from", "2030-01-01"], "no rows between 2030-01-01"),
        (["--load", "/nonexistent/dir"], "not a saved marketcast model"),
    ],
)
def test_forecast_errors_are_one_line(capsys, csv, args, message):
    path, _ = csv
    rc, _, err = run(capsys, "forecast", str(path), *args)
    assert rc == 2 and message in err and err.count("\n") == 1
