"""Saved models: safetensors + JSON only, bit-identical after loading, tamper-evident."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from marketcast.errors import DataError
from marketcast.intervals import ConformalForecaster
from marketcast.models.baseline import SMA
from marketcast.models.registry import get_model
from marketcast.persistence import data_checksum, load_model, read_manifest, save_model


@pytest.fixture(scope="module")
def prices():
    rng = np.random.default_rng(4)
    s = pd.Series(30 * np.exp(np.cumsum(rng.normal(0, 0.02, 330))), index=pd.bdate_range("2018-01-01", periods=330))
    s.attrs = {"source": "sim.csv", "column": "close"}
    return s


FAST = {
    "naive": {},
    "sma": {"window": 5},
    "har": {},
    "lstm": {"lags": 5, "units": 8, "dense_units": 4, "epochs": 2},
    "two-lstm": {"lags": 5, "vol_lags": 3, "units": 8, "dense_units": 4, "epochs": 2, "networks": 2},
    "cnn-lstm": {"window": 30, "filters": [4, 4], "units": 4, "epochs": 1},
    "gru": {"window": 20, "units": 4, "epochs": 1},
    "xgboost": {"window": 20, "n_estimators": 20},
    "nnar": {"repeats": 3},
    "prophet": {"uncertainty_samples": 50},
    "ensemble": {"members": ["sma", "naive"]},
}


@pytest.mark.parametrize("name", list(FAST))
def test_round_trip_is_bit_identical_and_pickle_free(tmp_path, prices, name):
    model = get_model(name, **FAST[name]).fit(prices)
    path = save_model(model, tmp_path / name, data=prices, metrics={"loss": 0.5})
    files = sorted(p.name for p in path.iterdir())
    assert "model.json" in files and all(f.endswith((".json", ".safetensors")) for f in files)
    for f in path.iterdir():
        assert b"\x80\x04\x95" not in f.read_bytes()[:4096]  # no pickle protocol-4 header anywhere
    loaded = load_model(path)
    as_json = lambda params: json.loads(json.dumps(params, default=list))  # noqa: E731 - tuples become lists
    assert type(loaded) is type(model) and as_json(loaded.get_params()) == as_json(model.get_params())
    np.testing.assert_array_equal(loaded.predict(7), model.predict(7))
    assert loaded.last_date_ == prices.index[-1]
    manifest = read_manifest(path)
    assert manifest["model"] == model.name and manifest["training"]["checksum"] == data_checksum(prices)
    assert manifest["training"]["rows"] == 330 and manifest["metrics"] == {"loss": 0.5}


def test_library_formats_are_their_own_files(tmp_path, prices):
    path = save_model(get_model("xgboost", **FAST["xgboost"]).fit(prices), tmp_path / "x")
    assert (path / "booster.json").exists()
    json.loads((path / "booster.json").read_text())
    path = save_model(get_model("ensemble", members=["prophet", "naive"]).fit(prices), tmp_path / "e")
    assert any(p.name.endswith("prophet.json") for p in path.iterdir())
    e = load_model(path)
    assert np.isfinite(e.predict(3)).all()


def test_conformal_wrapper_round_trip(tmp_path, prices):
    m = ConformalForecaster(SMA(window=5), calibration_windows=10, max_horizon=5).fit(prices)
    loaded = load_model(save_model(m, tmp_path / "c"))
    a, b = m.predict_interval(5, (0.8,)), loaded.predict_interval(5, (0.8,))
    np.testing.assert_array_equal(a.lower[0.8], b.lower[0.8])


def test_tampered_or_foreign_directories_are_refused(tmp_path, prices):
    path = save_model(get_model("lstm", **FAST["lstm"]).fit(prices), tmp_path / "m")
    weights = path / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(DataError, match="does not match its checksum"):
        load_model(path)
    with pytest.raises(DataError, match="not a saved marketcast model"):
        load_model(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text(json.dumps({"format": "pickle"}))
    with pytest.raises(DataError, match="unknown model format"):
        load_model(bad)
    (bad / "model.json").write_text(json.dumps({"format": "marketcast-model/1", "model": "os.system", "params": {}}))
    with pytest.raises(DataError, match="unknown price model"):
        load_model(bad)


def test_failed_save_leaves_no_directory(tmp_path):
    with pytest.raises(Exception):
        save_model(SMA(), tmp_path / "never")  # not fitted
    assert list(tmp_path.iterdir()) == []
