"""Ensembles: the mean of member forecasts at each step (VIX paper, Tables II, III and V).

``ensemble`` on prices is the paper's mean of SMA, LSTM and Prophet; on volatility (ENVF) the
mean of DD-EWMA, NNAR and Prophet. Any registered models can be combined by name:
``ensemble(sma,nnar)``. Members that take a ``seed`` get the ensemble's seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from marketcast.errors import ModelError
from marketcast.models.base import Capabilities, Forecaster, VolatilityForecast, VolatilityModel

__all__ = ["Ensemble", "VolatilityEnsemble", "PRICE_MEMBERS", "VOLATILITY_MEMBERS"]

PRICE_MEMBERS = ("sma", "lstm", "prophet")
VOLATILITY_MEMBERS = ("dd-ewma", "nnar", "prophet")


def _label(members: Sequence[str], default: Sequence[str]) -> str:
    return "ensemble" if tuple(members) == tuple(default) else f"ensemble({','.join(members)})"


def _members(target: str, names: Sequence[str], seed: int, member_params: dict | None = None):
    from marketcast.models.registry import get_model, spec_of

    member_params = member_params or {}
    unknown = set(member_params) - set(names)
    if unknown:
        raise ModelError(f"member_params names models that are not members: {', '.join(sorted(unknown))}")
    out = []
    for name in names:
        if name.startswith("ensemble"):
            raise ModelError("an ensemble cannot contain another ensemble")
        cls: Any = spec_of(name, target).load()  # type: ignore[arg-type]
        kwargs = {"seed": seed} if "seed" in cls._param_names() else {}
        kwargs.update(member_params.get(name, {}))
        out.append(get_model(name, target, **kwargs))  # type: ignore[arg-type]
    if len(out) < 2:
        raise ModelError("an ensemble needs at least two members")
    return out


class Ensemble(Forecaster):
    """Mean of member price forecasts at each step.

    Parameters
    ----------
    members : sequence of str
        Registered price model names (default: the paper's SMA, LSTM, Prophet).
    member_params : dict, optional
        Hyper-parameters per member name, e.g. ``{"lstm": {"epochs": 20}}``.
    seed : int
        Given to every member that takes a seed.
    """

    def __init__(self, members: Sequence[str] = PRICE_MEMBERS, member_params: dict | None = None, seed: int = 0):
        self.members = tuple(members)
        self.member_params = member_params
        self.seed = seed

    @property
    def name(self) -> str:  # type: ignore[override]
        return _label(self.members, PRICE_MEMBERS)

    def member_models(self) -> list[Forecaster]:
        """Unfitted member instances, as the ensemble fits them."""
        return _members("price", self.members, int(self.seed), self.member_params)

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        # Takes a seed for its members whatever they are; no predictive distribution of its own.
        return Capabilities(recursive=any(m.recursive for m in self.member_models()), stochastic=True)

    def min_history(self, horizon: int = 1) -> int:
        return max(m.min_history(horizon) for m in self.member_models())

    def progress_units(self) -> int:
        return sum(m.progress_units() for m in self.member_models())

    def _fit(self, y: pd.Series) -> None:
        self.members_ = [m.fit(y, progress=self._progress) for m in self.member_models()]

    def combine(self, forecasts: Sequence[np.ndarray]) -> np.ndarray:
        """The ensemble forecast from member forecasts (their mean at each step)."""
        return np.mean(np.vstack(forecasts), axis=0)

    def _predict(self, horizon: int) -> np.ndarray:
        return self.combine([m.predict(horizon) for m in self.members_])

    def _condition(self, y: pd.Series) -> None:
        for m in self.members_:
            m.condition(y)

    def _get_state(self):
        arrays, metas = {}, []
        for i, m in enumerate(self.members_):
            a, meta = m._get_state()
            arrays.update({f"m{i}.{k}": v for k, v in a.items()})
            metas.append({"meta": meta, "n_obs": m.n_obs_})
        return arrays, {"members": metas}

    def _set_state(self, arrays, meta) -> None:
        self.members_ = self.member_models()
        for i, (m, mm) in enumerate(zip(self.members_, meta["members"])):
            prefix = f"m{i}."
            m._set_state({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}, mm["meta"])
            m.n_obs_ = int(mm["n_obs"])


class VolatilityEnsemble(VolatilityModel):
    """Mean of member one-step volatility forecasts (the ENVF of Table V)."""

    def __init__(self, members: Sequence[str] = VOLATILITY_MEMBERS, member_params: dict | None = None, seed: int = 0):
        self.members = tuple(members)
        self.member_params = member_params
        self.seed = seed

    @property
    def name(self) -> str:  # type: ignore[override]
        return _label(self.members, VOLATILITY_MEMBERS)

    def member_models(self) -> list[VolatilityModel]:
        return _members("volatility", self.members, int(self.seed), self.member_params)

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        # Worth splitting when a member is slow per window; safe only when every member is.
        members = self.member_models()
        safe = all(m.split_safe for m in members)
        return Capabilities(
            stochastic=any(m.stochastic for m in members),
            split_safe=safe,
            window_parallel=safe and any(m.parallel_windows for m in members),
        )

    def combine(self, forecasts: Sequence[np.ndarray]) -> np.ndarray:
        return np.mean(np.vstack(forecasts), axis=0)

    def forecast_windows(self, returns, stats, dates=None) -> VolatilityForecast:
        parts = [m.forecast_windows(returns, stats, dates).volatility for m in self.member_models()]
        return VolatilityForecast(self.combine(parts))
