"""Ensembles: the mean of members, reuse of member forecasts in backtests, parsing by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.backtest import backtest
from marketcast.errors import ModelError
from marketcast.models.ensemble import Ensemble, VolatilityEnsemble
from marketcast.models.registry import get_model
from marketcast.volatility import rolling_volatility


@pytest.fixture
def prices():
    rng = np.random.default_rng(2)
    return pd.Series(50 * np.exp(np.cumsum(rng.normal(0, 0.02, 400))), index=pd.bdate_range("2015-01-01", periods=400))


def test_ensemble_is_the_mean_of_its_members(prices):
    e = get_model("ensemble(sma,naive)").fit(prices)
    assert e.name == "ensemble(sma,naive)" and get_model("ensemble").name == "ensemble"
    sma = get_model("sma").fit(prices).predict(5)
    naive = np.full(5, prices.iloc[-1])
    np.testing.assert_allclose(e.predict(5), (sma + naive) / 2)


def test_backtest_reuses_member_forecasts_and_agrees_with_a_standalone_fit(prices):
    both = backtest(prices, ["sma", "naive", "ensemble(sma,naive)"], window=100, horizon=5, step=50)
    alone = backtest(prices, ["ensemble(sma,naive)"], window=100, horizon=5, step=50)
    a = both.scores[both.scores.model == "ensemble(sma,naive)"].rmse.to_numpy()
    np.testing.assert_allclose(a, alone.scores.rmse.to_numpy(), rtol=1e-12)


def test_ensemble_errors():
    with pytest.raises(ModelError, match="at least two"):
        Ensemble(members=("sma",)).member_models()
    with pytest.raises(ModelError, match="cannot contain another ensemble"):
        Ensemble(members=("sma", "ensemble")).member_models()
    with pytest.raises(ModelError, match="only 'ensemble' takes a list"):
        get_model("sma(naive)")


def test_volatility_ensemble_averages_members(prices):
    out = rolling_volatility(prices, window=250, start=prices.index[300], end=prices.index[305],
                             models=["dd-ewma", "garch", VolatilityEnsemble(members=("dd-ewma", "garch"))])
    wide = out.pivot(index="date", columns="model", values="volatility")
    np.testing.assert_allclose(wide["ensemble(dd-ewma,garch)"], (wide["dd-ewma"] + wide["garch"]) / 2, rtol=1e-12)
    alone = rolling_volatility(prices, window=250, start=prices.index[300], end=prices.index[305],
                               models=[VolatilityEnsemble(members=("dd-ewma", "garch"))])
    np.testing.assert_allclose(alone.volatility.to_numpy(), wide["ensemble(dd-ewma,garch)"].to_numpy(), rtol=1e-10)


@pytest.mark.parametrize(("members", "split_safe", "parallel"), [
    (("dd-ewma", "nnar", "prophet"), True, True),  # the paper's ENVF: NNAR and Prophet are worth it
    (("dd-ewma", "garch"), False, False),  # arch's optimiser depends on the thread count
    (("nnar", "garch"), False, False),
])
def test_volatility_ensemble_splits_windows_only_when_every_member_allows_it(members, split_safe, parallel):
    ensemble = VolatilityEnsemble(members=members)
    assert ensemble.split_safe is split_safe
    assert ensemble.parallel_windows is parallel


def test_every_volatility_model_worth_splitting_is_safe_to_split():
    # rolling_volatility reads parallel_windows alone.
    from marketcast.models.registry import model_specs

    for spec in model_specs("volatility"):
        model = get_model(spec.name, target="volatility")
        assert model.split_safe or not model.parallel_windows, spec.name


def test_dd_ewma_is_split_safe_but_not_worth_splitting():
    dd = get_model("dd-ewma", target="volatility")
    assert dd.split_safe and not dd.parallel_windows  # vectorised: nothing to gain from processes
