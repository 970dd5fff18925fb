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
    rc, out, _ = run(capsys, "models", "describe", "ensemble(sma,lstm)")
    assert rc == 0 and "members:" in out and "75,393 trainable parameters" in out
    rc, out, _ = run(capsys, "models", "describe", "two-lstm")
    assert rc == 0 and f"trainable parameters: {5 * 2 * 75_393:,}" in out and "volatility LSTM (5 averaged" in out


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


@pytest.mark.parametrize("model,params", [("prophet", ["-p", "uncertainty_samples=0"]), ("xgboost", ["-p", "n_estimators=10", "-p", "window=20"]),
                                          ("nnar", ["-p", "repeats=2"])])
def test_forecast_load_with_the_models_own_data_or_new_data(capsys, tmp_path, csv, model, params):
    path, prices = csv
    saved = tmp_path / model
    assert main(["--quiet", "train", str(path), "--model", model, "--save", str(saved), "--train-to", "2019-12-31", *params]) == 0
    own = tmp_path / "own.csv"
    # The rows it was trained on: it forecasts from its saved state, whatever the model.
    rc, _, err = run(capsys, "--quiet", "forecast", str(path), "--load", str(saved), "--train-to", "2019-12-31",
                     "--horizon", "3", "--out", str(own))
    assert rc == 0, err
    assert pd.read_csv(own).date.tolist() == ["2020-01-01", "2020-01-02", "2020-01-03"]
    # The whole file: the origin is its last row, which needs a model that can start from new data.
    rc, out, err = run(capsys, "--quiet", "forecast", str(path), "--load", str(saved), "--horizon", "2")
    if model == "prophet":
        assert rc == 2 and "prophet: can only forecast from the end of its own training data" in err
    else:
        assert rc == 0 and str((prices.index[-1] + pd.offsets.BDay(1)).date()) in out


def test_conditioned_xgboost_uses_the_new_windows(csv):
    from marketcast.models.boosting import XGBoostForecaster

    _, prices = csv
    model = XGBoostForecaster(window=20, n_estimators=10).fit(prices.iloc[:200])
    later = prices.iloc[:260]
    expected = XGBoostForecaster(window=20, n_estimators=10).fit(prices.iloc[:200])
    expected.tail_ = later.to_numpy()[-20:]
    np.testing.assert_array_equal(model.condition(later).predict(3), expected.predict(3))


def test_backtest_takes_seed_and_params_and_ensembles_pass_them_on(capsys, tmp_path, csv):
    path, _ = csv
    a, b, c = (tmp_path / f"{x}.csv" for x in "abc")
    args = ["--quiet", "backtest", str(path), "--models", "sma,ensemble(sma,lstm)", "--window", "150", "--horizon", "5",
            "--slices", "2", "-p", "epochs=1", "-p", "units=4", "-p", "dense_units=2", "-p", "lags=5"]
    assert main([*args, "--seed", "1", "--out", str(a)]) == 0
    assert main([*args, "--seed", "1", "--out", str(b)]) == 0
    assert main([*args, "--seed", "2", "--out", str(c)]) == 0
    fa, fb, fc = (pd.read_csv(x) for x in (a, b, c))
    pd.testing.assert_frame_equal(fa, fb)
    ens = lambda f: f[f.model == "ensemble(sma,lstm)"].rmse.tolist()  # noqa: E731
    assert ens(fa) != ens(fc) and fa[fa.model == "sma"].rmse.tolist() == fc[fc.model == "sma"].rmse.tolist()
    rc, _, err = run(capsys, "backtest", str(path), "--models", "sma", "--window", "150", "--horizon", "5", "-p", "epochs=3")
    assert rc == 2 and "no price model in sma takes the parameter(s) epochs" in err


def test_epochs_reach_an_ensembles_lstm():
    from marketcast.models.registry import configured_model

    model, used = configured_model("ensemble(sma,lstm)", "price", {"epochs": 3, "seed": 4})
    members = model.member_models()
    assert used == {"epochs", "seed"} and model.seed == 4
    assert members[1].epochs == 3 and members[1].seed == 4 and model.member_params == {"lstm": {"epochs": 3}}


def test_saved_metrics_are_the_kept_epochs_and_fine_tuning_keeps_its_lineage(tmp_path, csv):
    import json
    import stat

    path, prices = csv
    first, second = tmp_path / "m1", tmp_path / "m2"
    assert main(["--quiet", "train", str(path), "--model", "lstm", "--save", str(first), "--epochs", "6", "-p", "lags=5",
                 "-p", "units=4", "-p", "dense_units=2", "-p", "validation=0.2", "-p", "patience=2"]) == 0
    manifest = json.loads((first / "model.json").read_text())
    val = manifest["state"]["history"]["val_loss"]
    best = min(range(len(val)), key=val.__getitem__)
    assert manifest["metrics"]["epoch"] == best + 1 and manifest["metrics"]["val_loss"] == val[best]
    from marketcast.io import default_mode

    # Not the owner-only modes of the temporary folder it was written in (0o700): what umask gives.
    assert stat.S_IMODE(first.stat().st_mode) == default_mode(directory=True) != 0o700
    assert stat.S_IMODE((first / "model.json").stat().st_mode) == default_mode()
    other = tmp_path / "other.csv"
    pd.DataFrame({"Date": prices.index.strftime("%Y-%m-%d"), "Close": prices.to_numpy() * 2}).to_csv(other, index=False)
    assert main(["--quiet", "train", str(other), "--load", str(first), "--fine-tune", "--epochs", "1", "--save", str(second)]) == 0
    tuned = json.loads((second / "model.json").read_text())
    assert tuned["training"]["source"] == "other.csv" and tuned["pretrained"] == [manifest["training"]]


def test_conformal_levels_beyond_the_calibration_get_a_note(capsys, csv):
    path, _ = csv
    rc, _, err = run(capsys, "forecast", str(path), "--model", "sma", "--horizon", "2", "--levels", "0.9,0.99",
                     "--calibration-windows", "10")
    assert rc == 0 and "note: 10 calibration windows are too few for conformal 99% intervals" in err
    assert "--calibration-windows 99 or more" in err and "90%" not in err
    rc, _, err = run(capsys, "forecast", str(path), "--model", "sma", "--horizon", "2", "--levels", "0.9", "--calibration-windows", "10")
    assert rc == 0 and "note" not in err
