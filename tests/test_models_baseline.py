"""Naive and SMA forecasters, and the protocol every model follows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.errors import DataError, ModelError, NotFittedError
from marketcast.models.baseline import SMA, Naive, sma_forecast
from marketcast.models.registry import get_model, model_specs, parse_model_list


@pytest.fixture
def prices():
    return pd.Series(np.arange(1.0, 31.0), index=pd.bdate_range("2021-01-04", periods=30))


def test_naive_repeats_the_last_value(prices):
    assert Naive().fit(prices).predict(3).tolist() == [30.0, 30.0, 30.0]


def test_sma_is_recursive_as_in_section_ii_a():
    hist = np.array([1.0, 2.0, 3.0, 4.0])
    # window 3: (2+3+4)/3 = 3, then (3+4+3)/3, then (4+3+10/3)/3
    f1 = 3.0
    f2 = (3 + 4 + f1) / 3
    f3 = (4 + f1 + f2) / 3
    f4 = (f1 + f2 + f3) / 3
    np.testing.assert_allclose(sma_forecast(hist, 3, 4), [f1, f2, f3, f4], rtol=1e-14)


def test_sma_window_defaults_to_the_horizon(prices):
    model = SMA().fit(prices)
    assert model.predict(5)[0] == pytest.approx(np.mean(np.arange(26.0, 31.0)))
    assert model.predict(21)[0] == pytest.approx(np.mean(np.arange(10.0, 31.0)))
    assert SMA(window=2).fit(prices).predict(1)[0] == pytest.approx(29.5)


def test_protocol_clone_params_and_errors(prices):
    model = SMA(window=4)
    assert model.get_params() == {"window": 4}
    twin = model.clone()
    assert twin is not model and twin.get_params() == model.get_params() and not hasattr(twin, "n_obs_")
    with pytest.raises(NotFittedError):
        model.predict(2)
    model.fit(prices)
    assert model.n_obs_ == 30 and model.last_date_ == prices.index[-1]
    with pytest.raises(ModelError, match="horizon must be at least 1"):
        model.predict(0)
    # forecast() fits a fresh clone: mean(7..10) = 8.5, then mean(8, 9, 10, 8.5); self is untouched.
    assert model.forecast(prices.iloc[:10], 2).tolist() == pytest.approx([8.5, 8.875])
    assert model.n_obs_ == 30
    with pytest.raises(ModelError, match="unknown parameter"):
        model.set_params(span=3)


def test_too_short_history_names_the_series():
    s = pd.Series([1.0, 2.0], index=pd.bdate_range("2021-01-04", periods=2))
    s.attrs["source"] = "tiny.csv"
    with pytest.raises(DataError, match="tiny.csv: 2 rows, but sma needs at least 5"):
        SMA(window=5).fit(s)


def test_registry_and_model_lists():
    assert {s.name for s in model_specs("price")} >= {"naive", "sma"}
    assert get_model("SMA", window=3).window == 3
    with pytest.raises(ModelError, match="unknown price model 'nope'"):
        get_model("nope")
    with pytest.raises(ModelError, match="sma"):
        get_model("sma", span=2)
    assert parse_model_list("sma, naive,ensemble(sma,lstm)") == ["sma", "naive", "ensemble(sma,lstm)"]
    with pytest.raises(ModelError):
        parse_model_list("sma,,")
