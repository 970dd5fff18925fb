"""Hyper-parameters: one schema from each model's __init__, every value converted or refused in one line."""

from __future__ import annotations

import inspect
import math

import pytest

from marketcast.errors import ModelError
from marketcast.models.params import check_jobs, param_schema, validate_params
from marketcast.models.registry import get_model, model_specs


def test_the_issue_examples_are_one_line_each():
    with pytest.raises(ModelError, match=r"^sma: window expects an integer >= 1, got 'abc'$"):
        get_model("sma", window="abc")
    with pytest.raises(ModelError, match="learning_rate expects a finite number > 0 and <= 1, got 'nan'"):
        get_model("lstm", learning_rate="nan")
    with pytest.raises(ModelError, match="learning_rate expects .* got 10000.0"):
        get_model("lstm", learning_rate=1e4)
    with pytest.raises(ModelError, match="epochs expects an integer >= 1, got 2.5"):
        get_model("lstm", epochs=2.5)
    with pytest.raises(ModelError, match="unknown parameter 'foo'"):
        get_model("sma", foo=1)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "inf", "-inf", "NaN"])
def test_non_finite_floats_are_refused(value):
    for name, key in (("lstm", "learning_rate"), ("xgboost", "subsample"), ("nnar", "decay")):
        with pytest.raises(ModelError, match=f"{name}: {key} expects"):
            get_model(name, **{key: value})


def test_text_is_converted_to_the_declared_type():
    assert get_model("sma", window="7").window == 7
    assert get_model("lstm", epochs="3", learning_rate="0.01", warm_start="true").get_params() | {} == {
        **get_model("lstm").get_params(), "epochs": 3, "learning_rate": 0.01, "warm_start": True}
    assert get_model("har", lags="1,5,22").lags == (1, 5, 22)
    assert get_model("prophet", yearly_seasonality="5").yearly_seasonality == 5
    assert get_model("prophet", yearly_seasonality="auto").yearly_seasonality == "auto"
    assert get_model("nnar", p="none").p is None
    assert get_model("lstm", epochs=4.0).epochs == 4  # an integral float is an integer


@pytest.mark.parametrize("name,key,value", [("gru", "dropout", 1.0), ("cnn-lstm", "dropout", -0.1), ("lstm", "validation", 1),
                                            ("two-lstm", "networks", 0), ("xgboost", "max_depth", -3), ("lstm", "device", "gpu"),
                                            ("lstm", "seed", -1), ("lstm", "warm_start", "maybe"), ("sma", "window", True)])
def test_out_of_range_and_wrong_kinds(name, key, value):
    with pytest.raises(ModelError, match=f"^{name}: {key} expects"):
        get_model(name, **{key: value})


def test_every_registered_model_has_a_schema_whose_defaults_pass():
    for spec in model_specs():
        cls = spec.load()
        schema = param_schema(cls)
        defaults = {k: p.default for k, p in schema.items() if p.default is not inspect.Parameter.empty}
        for key, p in schema.items():
            assert p.describe()  # something to tell the user
            assert p.as_dict()["name"] == key
        validate_params(cls, {k: v for k, v in defaults.items() if k != "model"}, model=spec.name)


def test_set_params_is_checked_too():
    with pytest.raises(ModelError, match="lstm: epochs expects an integer >= 1, got 0"):
        get_model("lstm").set_params(epochs=0)


def test_ensemble_member_params_are_checked():
    with pytest.raises(ModelError, match="sma: window expects an integer >= 1, got 'x'"):
        get_model("ensemble(sma,naive)", member_params={"sma": {"window": "x"}})


def test_jobs():
    assert check_jobs(None) is None and check_jobs(3) == 3
    for bad in (0, -3, True, 1.5):
        with pytest.raises(ModelError, match="--jobs expects an integer >= 1"):
            check_jobs(bad)
    assert not math.isnan(1.0)
