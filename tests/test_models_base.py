"""The model protocols: capabilities declared once per model, one rule for fitted state, dated forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.errors import ModelError, NotFittedError
from marketcast.models.base import Capabilities, Forecaster, IntervalForecast, check_is_fitted
from marketcast.models.registry import get_model, model_specs


class Last(Forecaster):
    name = "last"

    def _fit(self, y):
        self.last_ = float(y.iloc[-1])

    def _predict(self, horizon):
        return np.full(horizon, self.last_)


@pytest.fixture
def prices():
    idx = pd.bdate_range("2020-01-01", periods=200)
    return pd.Series(np.linspace(10, 20, 200) * (1 + 0.01 * np.sin(np.arange(200))), index=idx)


def test_every_registered_model_declares_capabilities_that_match_what_it_does():
    for spec in model_specs():
        model = get_model(spec.name, spec.target)
        caps = model.capabilities
        assert isinstance(caps, Capabilities), spec
        assert model.stochastic is caps.stochastic
        assert ("seed" in model.get_params()) or not caps.stochastic, spec  # a stochastic model takes a seed
        if spec.target == "price":
            assert model.has_native_intervals is caps.native_intervals
            implements = type(model)._predict_interval is not Forecaster._predict_interval
            assert implements is caps.native_intervals, spec
        else:
            assert model.parallel_windows is caps.window_parallel and model.split_safe is caps.split_safe
            assert caps.split_safe or not caps.window_parallel, spec


def test_a_declaration_that_contradicts_the_class_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match="native_intervals"):
        class Liar(Forecaster):  # noqa: F841
            capabilities = Capabilities(native_intervals=True)
    with pytest.raises(TypeError, match="split_safe"):
        Capabilities(window_parallel=True)


def test_one_rule_for_fitted_state(prices):
    model = Last()
    for call in (lambda: model.predict(2), lambda: model.predict_frame(2), lambda: model.condition(prices)):
        with pytest.raises(NotFittedError, match="last: call fit"):
            call()
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    model.fit(prices)
    check_is_fitted(model)
    check_is_fitted(model, ("n_obs_", "last_"))
    with pytest.raises(NotFittedError, match="before saving"):
        check_is_fitted(model, ("booster_",), what="saving")
    assert issubclass(NotFittedError, ModelError)


def test_predict_frame_is_dated_by_the_business_days_after_the_history(prices):
    model = Last().fit(prices.loc[:"2020-03-06"])  # a Friday
    frame = model.predict_frame(3)
    assert list(frame.columns) == ["date", "model", "point"]
    assert frame.date.dt.strftime("%Y-%m-%d").tolist() == ["2020-03-09", "2020-03-10", "2020-03-11"]
    assert (frame.point == prices.loc["2020-03-06"]).all()
    assert frame.attrs == {"model": "last", "origin": "2020-03-06"}


def test_intervals_of_a_model_without_a_distribution_are_conformal_on_its_training_rows(prices):
    from marketcast.intervals import ConformalForecaster

    rows = prices.iloc[:150]
    frame = Last().fit(rows).predict_frame(4, levels=(0.8, 0.9))
    assert list(frame.columns) == ["date", "model", "point", "lower_80", "upper_80", "lower_90", "upper_90"]
    wrapped = ConformalForecaster(Last(), calibration_windows=20, max_horizon=4).fit(rows).predict_frame(4, (0.8, 0.9))
    pd.testing.assert_frame_equal(frame, wrapped)
    # by hand: the 18th smallest of 20 log errors at each step (ceil(21 * 0.8) = 17 -> index 16)
    values = rows.to_numpy()
    origins = [150 - 4 - 4 * k for k in range(20)][::-1]
    errors = np.array([np.log(values[o:o + 4] / values[o - 1]) for o in origins])
    q = np.sort(np.abs(errors), axis=0)[16]
    np.testing.assert_allclose(frame.upper_80, values[-1] * np.exp(q))


def test_interval_forecast_frame_names_levels_as_percentages():
    iv = IntervalForecast(np.ones(2), {0.9: np.zeros(2), 0.995: np.zeros(2)}, {0.9: np.full(2, 2.0), 0.995: np.full(2, 3.0)})
    assert list(iv.to_frame().columns) == ["point", "lower_90", "upper_90", "lower_99_5", "upper_99_5"]
