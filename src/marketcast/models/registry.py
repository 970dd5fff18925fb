"""Models by name, imported on first use so that listing them costs nothing.

A new model is one new file plus one line here. Price models and volatility models have
separate name spaces (``prophet`` is both: on prices in ``backtest``/``forecast``, on sample
volatilities in ``volatility``).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from marketcast.errors import ModelError

__all__ = [
    "ModelSpec",
    "get_model",
    "configured_model",
    "configured_models",
    "model_specs",
    "parse_model_list",
    "spec_of",
]

Target = Literal["price", "volatility"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: Target
    path: str  # "module:Class"
    summary: str

    def load(self) -> type:
        module, _, cls = self.path.partition(":")
        return getattr(importlib.import_module(module), cls)


_SPECS: tuple[ModelSpec, ...] = (
    # --- price models ---
    ModelSpec(
        "naive",
        "price",
        "marketcast.models.baseline:Naive",
        "Random walk: every forecast equals the last price (the baseline to beat).",
    ),
    ModelSpec(
        "sma",
        "price",
        "marketcast.models.baseline:SMA",
        "Simple moving average of the last D prices, applied recursively (VIX paper II.A).",
    ),
    ModelSpec(
        "lstm",
        "price",
        "marketcast.models.neural:LSTMForecaster",
        "LSTM(128) + dense(64) on 21 lagged closes, recursive (VIX paper II.B, Table I).",
    ),
    ModelSpec(
        "cnn-lstm",
        "price",
        "marketcast.models.neural:CNNLSTMForecaster",
        "Conv1D 64/128/64 + two BiLSTM(100) on 100-day windows normalised to their first close (Stock-X).",
    ),
    ModelSpec(
        "window-lstm",
        "price",
        "marketcast.models.neural:WindowLSTMForecaster",
        "Two LSTM(100) layers on 100-day normalised windows (Stock-X's LSTM comparison model).",
    ),
    ModelSpec(
        "gru",
        "price",
        "marketcast.models.neural:GRUForecaster",
        "Two GRU(100) layers on 100-day normalised windows (Stock-X comparison).",
    ),
    ModelSpec(
        "lstm-gru",
        "price",
        "marketcast.models.neural:LSTMGRUForecaster",
        "LSTM(100) then GRU(100) on 100-day normalised windows (Stock-X comparison).",
    ),
    ModelSpec(
        "xgboost",
        "price",
        "marketcast.models.boosting:XGBoostForecaster",
        "Gradient-boosted trees on 100-day normalised windows of lagged closes (Stock-X comparison).",
    ),
    ModelSpec(
        "prophet",
        "price",
        "marketcast.models.prophet:ProphetForecaster",
        "Facebook Prophet: trend + seasonality curve fit on the closes (VIX paper II.C).",
    ),
    ModelSpec(
        "har",
        "price",
        "marketcast.models.har:HARForecaster",
        "Heterogeneous autoregression (Corsi 2009) of log prices on day, week and month averages.",
    ),
    ModelSpec(
        "nnar",
        "price",
        "marketcast.models.nnar:NNARForecaster",
        "Neural autoregression, a port of R's forecast::nnetar (20 averaged one-hidden-layer nets).",
    ),
    ModelSpec(
        "two-lstm",
        "price",
        "marketcast.models.two_lstm:TwoLSTM",
        "Two LSTMs: prices and forecast-error volatility, Student-t intervals (VIX paper II.D, Table IV); 5 of each averaged.",
    ),
    ModelSpec(
        "ensemble",
        "price",
        "marketcast.models.ensemble:Ensemble",
        "Mean of member forecasts at each step; default SMA, LSTM and Prophet (VIX paper Tables II-III).",
    ),
    # --- volatility models (one-step forecasts from windows of log returns) ---
    ModelSpec(
        "dd-ewma",
        "volatility",
        "marketcast.models.ewma:DDEWMA",
        "Data-driven EWMA of sign-correlation sample volatilities (VIX paper, Algorithm 1).",
    ),
    ModelSpec(
        "nnar",
        "volatility",
        "marketcast.models.nnar:NNARVolatility",
        "nnetar neural autoregression on the sample volatilities Z_t (VIX paper, Algorithm 2).",
    ),
    ModelSpec(
        "prophet",
        "volatility",
        "marketcast.models.prophet:ProphetVolatility",
        "Prophet on the sample volatilities Z_t (VIX paper, Algorithm 3).",
    ),
    ModelSpec(
        "garch",
        "volatility",
        "marketcast.models.garch:GARCHVolatility",
        "GARCH(1,1) with Student-t innovations (arch), the industry baseline.",
    ),
    ModelSpec(
        "gjr-garch",
        "volatility",
        "marketcast.models.garch:GJRGARCHVolatility",
        "GJR-GARCH(1,1,1) with Student-t innovations (arch): asymmetric response to shocks.",
    ),
    ModelSpec(
        "ensemble",
        "volatility",
        "marketcast.models.ensemble:VolatilityEnsemble",
        "Mean of member volatility forecasts; default DD-EWMA, NNAR and Prophet (ENVF, Table V).",
    ),
)


def model_specs(target: Target | None = None) -> list[ModelSpec]:
    """Registered models, optionally of one target."""
    return [s for s in _SPECS if target is None or s.target == target]


def spec_of(name: str, target: Target) -> ModelSpec:
    key = name.strip().lower()
    for spec in _SPECS:
        if spec.name == key and spec.target == target:
            return spec
    known = ", ".join(s.name for s in model_specs(target))
    raise ModelError(f"unknown {target} model '{name}' (known: {known})")


_GROUP = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*\((.*)\)\s*$")


def get_model(name: str, target: Target = "price", **params: Any):
    """An unfitted model instance by registry name, with hyper-parameters ``params``.

    ``ensemble(sma,lstm)`` builds an ensemble of the named members.
    """
    group = _GROUP.match(name)
    if group:
        if group.group(1).lower() != "ensemble":
            raise ModelError(f"only 'ensemble' takes a list of models, not '{group.group(1)}'")
        members = [m.strip() for m in group.group(2).split(",") if m.strip()]
        return get_model("ensemble", target, members=members, **params)
    spec = spec_of(name, target)
    cls = spec.load()
    from marketcast.models.params import validate_params

    params = validate_params(cls, params, model=spec.name)
    try:
        model = cls(**params)
    except TypeError as exc:
        raise ModelError(f"{name}: {exc}") from None
    if hasattr(model, "member_models"):  # an ensemble: its members' settings are checked now, not at fit
        model.member_models()
    return model


def configured_model(name: str, target: Target, params: dict[str, Any]) -> tuple[Any, set[str]]:
    """An instance of ``name`` with the entries of ``params`` that it takes, and the keys it used.

    An ensemble passes the keys it does not take itself on to the members that do (``epochs``
    reaches its LSTM, ``seed`` every stochastic member), so one ``-p epochs=20`` serves both
    ``lstm`` and ``ensemble(sma,lstm)``.
    """
    model = get_model(name, target)
    names = set(model._param_names())
    own = {k: v for k, v in params.items() if k in names}
    used = set(own)
    rest = {k: v for k, v in params.items() if k not in names}
    if rest and hasattr(model, "member_models") and "member_params" in names:
        member_params = {k: dict(v) for k, v in (own.get("member_params") or model.member_params or {}).items()}
        for member_name, member in zip(model.members, model.member_models()):
            take = {k: v for k, v in rest.items() if k in member._param_names()}
            if take:
                member_params[member_name] = {**member_params.get(member_name, {}), **take}
                used |= set(take)
        if member_params:
            own["member_params"] = member_params
    return get_model(name, target, **own), used


def configured_models(names: list[str], target: Target, params: dict[str, Any]) -> list[Any]:
    """:func:`configured_model` for each name; a key that no model takes is an error.

    ``seed`` is the exception: it is ignored where no model draws random numbers (SMA, DD-EWMA).
    """
    models, used = [], set()
    for name in names:
        model, keys = configured_model(name, target, params)
        models.append(model)
        used |= keys
    unused = sorted(set(params) - used - {"seed"})
    if unused:
        raise ModelError(f"no {target} model in {', '.join(names)} takes the parameter(s) {', '.join(unused)}")
    return models


_LIST_ITEM = re.compile(r"\s*([A-Za-z0-9_\-]+(?:\([^()]*\))?)\s*(?:,|$)")


def parse_model_list(text: str) -> list[str]:
    """Split ``'sma,lstm,ensemble(sma,lstm)'`` into names, keeping parenthesised groups whole."""
    items, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _LIST_ITEM.match(text, pos)
        if not m or m.end() == pos:
            raise ModelError(f"cannot read the model list '{text}' near '{text[pos:]}'")
        items.append(m.group(1).strip())
        pos = m.end()
    if not items:
        raise ModelError("no models given")
    return items
