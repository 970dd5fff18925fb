r"""Portfolio VaR and expected shortfall by variance-covariance, historical and filtered historical simulation.

:func:`portfolio_risk` forecasts, for each day, the one-day VaR and ES (CVaR) of a weighted
portfolio of assets three ways; :func:`portfolio_backtests` backtests them
(:func:`marketcast.risk_backtests.backtest_var_es`).

Conventions
-----------
Asset returns are log returns :math:`r_{i,t}`. The portfolio holds weights :math:`w_i` (normalised
each day to sum to 1 over the assets in that day), so its simple return is
:math:`\sum_i w_i (e^{r_{i,t}} - 1)` and its log return

.. math:: \rho_t = \log\Bigl(1 + \sum_i w_i \bigl(e^{r_{i,t}} - 1\bigr)\Bigr).

``return`` is :math:`\rho_t`, and VaR and ES are positive losses :math:`-N\rho` of a position of
notional :math:`N`, the convention of the single-asset forecasts
(:func:`marketcast.volatility.rolling_volatility`): a breach is ``-notional * return > var``.

The window of day :math:`t` is the ``window`` rows of ``returns`` before it. Filtered historical
simulation standardises them by each model's own volatility: the model's one-day-ahead forecast
:math:`\hat\sigma^m_{i,u}` for each day :math:`u` of the window, made from the ``window`` returns
before :math:`u` (``filter_volatility[m]``; Hull and White, 1998),

.. math:: z^m_{i,u} = r_{i,u} / \hat\sigma^m_{i,u},

and rescales them by today's forecast. Out-of-sample forecasts rather than each day's fit's
in-sample volatilities: the same path serves every day (one series per asset and model, not a
window per day), it works for every model (those without an in-sample path too), and the
:math:`z` carry no look-ahead. The variance-covariance correlation uses returns standardised by a
RiskMetrics EWMA volatility run over the window alone,

.. math:: \hat s_{i,u+1}^2 = \lambda \hat s_{i,u}^2 + (1-\lambda) r_{i,u}^2,\qquad
          \hat s_{i,1}^2 = \tfrac{1}{W}\textstyle\sum_u r_{i,u}^2,
          \qquad z_{i,u} = r_{i,u} / \hat s_{i,u},

so that day :math:`t`'s numbers depend on its window and the forecasts only (not on which other
days were asked for). The volatility models enter through their forecasts for day :math:`t`,
:math:`\hat\sigma^m_{i,t}` (``volatility[m]``, the forecast days), and for FHS through their
forecasts for the days of the windows (``filter_volatility[m]``, the rows of ``returns``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from marketcast.risk_backtests import BACKTEST_COLUMNS, backtest_var_es
from marketcast.risk_measures import conditional_value_at_risk, value_at_risk

__all__ = [
    "PORTFOLIO_COLUMNS",
    "portfolio_risk",
    "portfolio_backtests",
    "ewma_standardized",
    "ewma_portfolio_volatility",
    "historical_var_es",
]

PORTFOLIO_COLUMNS = ["method", "date", "tail", "volatility", "var", "cvar", "return", "breach", "assets"]


def ewma_standardized(window_returns: np.ndarray, ewma_lambda: float = 0.94) -> np.ndarray:
    r"""Window returns (rows = days, oldest first) over their EWMA volatility predicted from the days before.

    :math:`z_{i,u} = r_{i,u}/\hat s_{i,u}` with the recursion in the module's docstring, started at
    the window's mean square; 0 where that volatility is 0 (an asset that never moved).
    """
    r = np.asarray(window_returns, dtype=np.float64)
    sq = r * r
    v0 = sq.mean(axis=0)
    # y_u = lam * y_{u-1} + (1 - lam) r_u^2 with y_{-1} = v0 is the variance predicted for day u + 1.
    y = lfilter([1.0 - ewma_lambda], [1.0, -ewma_lambda], sq, axis=0, zi=(ewma_lambda * v0)[None, :])[0]
    var = np.vstack([v0[None, :], y[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        z = r / np.sqrt(var)
    return np.where(var > 0, z, 0.0)


def ewma_portfolio_volatility(z: np.ndarray, exposure: np.ndarray, ewma_lambda: float = 0.94) -> float:
    r"""Volatility :math:`\sqrt{a^\top R\, a}` with :math:`R` the EWMA correlation of ``z`` (RiskMetrics).

    :math:`Q = \sum_{k\ge0} \lambda^k z_{t-1-k} z_{t-1-k}^\top` over the window (zero mean, the
    latest day weighted most; the normalisation cancels in the correlation),
    :math:`R = \mathrm{diag}(Q)^{-1/2} Q\, \mathrm{diag}(Q)^{-1/2}`, and
    ``exposure`` :math:`a_i = w_i \hat\sigma_{i,t}`. Computed as
    :math:`\sum_k \lambda^k (z_{t-1-k}\cdot b)^2` with :math:`b = a/\sqrt{\mathrm{diag}\,Q}`, without
    forming :math:`R`. An asset whose ``z`` are all 0 is uncorrelated with the others.
    """
    z = np.asarray(z, dtype=np.float64)
    a = np.asarray(exposure, dtype=np.float64)
    c = ewma_lambda ** np.arange(z.shape[0] - 1, -1, -1, dtype=np.float64)
    diag = c @ (z * z)
    live = diag > 0
    b = np.where(live, a / np.sqrt(np.where(live, diag, 1.0)), 0.0)
    variance = c @ (z @ b) ** 2 + np.sum(a[~live] ** 2)
    return float(np.sqrt(variance))


def historical_var_es(scenarios: np.ndarray, tail: float, notional: float = 1.0) -> tuple[float, float]:
    r"""VaR and ES of the empirical law of the portfolio log returns ``scenarios``.

    With :math:`\rho_{(1)} \le \dots \le \rho_{(S)}` and :math:`k = \lceil S\alpha \rceil`:
    :math:`\mathrm{VaR} = -N\rho_{(k)}` (the lower empirical :math:`\alpha`-quantile, NumPy's
    ``inverted_cdf``) and :math:`\mathrm{ES} = -\frac{N}{k}\sum_{j\le k}\rho_{(j)}`, the mean of the
    returns at or below the VaR quantile.
    """
    s = np.sort(np.asarray(scenarios, dtype=np.float64))
    k = max(1, math.ceil(s.size * tail - 1e-9))
    return float(-notional * s[k - 1]), float(-notional * s[:k].mean())


def _varcov_dof(dof_row: np.ndarray | None, exposure: np.ndarray) -> float:
    """The portfolio t's dof: the exposure-weighted mean of 1/dof (inf, the normal, without ``dof``)."""
    if dof_row is None:
        return math.inf
    a = np.abs(exposure)
    inv = np.sum(a / a.sum() * (1.0 / dof_row))
    return math.inf if inv <= 0 else 1.0 / inv


def portfolio_risk(
    returns: pd.DataFrame,
    volatility: dict[str, pd.DataFrame],
    weights: pd.Series,
    *,
    dates,
    window: int = 504,
    tails=(0.01, 0.05),
    notional: float = 1.0,
    dof: dict[str, pd.DataFrame] | None = None,
    filter_volatility: dict[str, pd.DataFrame] | None = None,
    ewma_lambda: float = 0.94,
    seed: int = 0,
    min_coverage: float = 0.9,
) -> pd.DataFrame:
    r"""One-day portfolio VaR and ES for each day in ``dates`` by three methods.

    Parameters
    ----------
    returns
        Wide log returns (DatetimeIndex, oldest first, x asset), NaN where an asset has none;
        it must hold ``window`` rows before the first of ``dates``.
    volatility
        For each model name, its one-day volatility forecasts (rows ``dates``, columns assets).
    weights
        Weight or position value by asset; each day they are normalised to sum to 1 over the
        assets in that day (so with short positions the sum must stay away from 0).
    dates
        The forecast days; a day after the last row of ``returns`` is the live one (no return).
    window
        Returns before each day that HS, FHS and the EWMA correlation use.
    tails
        Tail probabilities :math:`\alpha`.
    notional
        Position :math:`N`; VaR and ES are positive losses of it.
    dof
        Optional, per model, the Student-t degrees of freedom of each asset's forecast (as
        ``volatility``); only variance-covariance uses them, see below.
    filter_volatility
        For each model, its one-day-ahead volatility forecast for each row of ``returns`` (same
        index and columns; NaN where it has none), each made from the returns before that row:
        FHS standardises the window's returns by them. A model without one has no ``fhs`` rows.
    ewma_lambda
        :math:`\lambda` of the EWMA standardisation and correlation of variance-covariance
        (RiskMetrics' 0.94).
    seed
        Accepted for a uniform interface; the three methods are deterministic.
    min_coverage
        Share of the window's rows on which an asset must have a return to be in (see below).

    Returns
    -------
    DataFrame
        :data:`PORTFOLIO_COLUMNS`, one row per method, date and tail. Methods:

        ``varcov:<model>``
            Variance-covariance: :math:`\sigma_p = \sqrt{a^\top R a}`, :math:`a_i = w_i\hat\sigma^m_{i,t}`,
            :math:`R` the EWMA correlation of the window's EWMA-standardised returns
            (:func:`ewma_portfolio_volatility`); VaR and ES of :math:`\sigma_p` times a
            unit-variance t (:func:`marketcast.risk_measures.value_at_risk`), normal without
            ``dof``, else with :math:`1/\nu_p = \sum_i |a_i| \nu_i^{-1} / \sum_i |a_i|`
            (a diversified portfolio is nearer the normal than this; a conservative choice).
        ``hs``
            Historical simulation: the window's portfolio log returns :math:`\rho_u` with today's
            weights, VaR and ES by :func:`historical_var_es`; ``volatility`` is their sample
            standard deviation.
        ``fhs:<model>``
            Filtered historical simulation (volatility-weighted HS of Hull and White, 1998):
            scenarios :math:`\rho_u = \log(1 + \sum_i w_i (e^{\hat\sigma^m_{i,t} z^m_{i,u}} - 1))`
            with :math:`z^m_{i,u} = r_{i,u}/\hat\sigma^m_{i,u}` (``filter_volatility``), VaR and
            ES by :func:`historical_var_es`; ``volatility`` is their standard deviation.

        An asset is in a day's portfolio (``assets`` counts them) when its weight is non-zero, it
        has returns on at least ``min_coverage`` of the window's rows, a return on the day (except
        the live day) and, for a model's methods, a positive volatility forecast that day; for
        FHS also a return and a positive ``filter_volatility`` on ``min_coverage`` of the window's
        rows. Inside the window a missing return (or, for FHS, a missing filter volatility) counts
        as 0, no move on that row (an exchange holiday in a universe of several calendars: the
        move is in the asset's next return). ``return`` is
        the realised :math:`\rho_t` (NaN on the live day), ``breach`` whether
        ``-notional * return > var`` (NA on the live day).
    """
    del seed  # no randomness here; kept so callers pass one settings dict everywhere
    tails = _checked_settings(returns, window, min_coverage, tails)
    assets = returns.columns
    dates = pd.DatetimeIndex(dates)
    models = list(volatility)
    vol = {m: volatility[m].reindex(index=dates, columns=assets).to_numpy(dtype=np.float64) for m in models}
    dofs = {
        m: dof[m].reindex(index=dates, columns=assets).to_numpy(dtype=np.float64)
        for m in models
        if dof is not None and m in dof
    }
    panel = _Panel(returns, weights, window, min_coverage)
    filter_paths = filter_volatility or {}
    fhs = {m: _FilteredReturns(panel, filter_paths[m]) for m in models if m in filter_paths}
    methods = [f"varcov:{m}" for m in models] + ["hs"] + [f"fhs:{m}" for m in fhs]
    rows = _Rows(tails, notional)

    @functools.lru_cache(maxsize=256)
    def unit_risk(nu: float) -> list[tuple[float, float]]:  # VaR and ES per unit of volatility
        return [(value_at_risk(1.0, nu, t, notional), conditional_value_at_risk(1.0, nu, t, notional)) for t in tails]

    for j, day in enumerate(dates):
        pos, base = panel.day(day)
        z = ewma_standardized(panel.r0[pos - window : pos], ewma_lambda)
        members = {m: base & np.isfinite(vol[m][j]) & (vol[m][j] > 0) for m in models}
        for m in models:
            member = members[m]
            if not member.any():
                rows.add_empty(f"varcov:{m}", day)
                continue
            a = panel.weights_of(member) * np.where(member, vol[m][j], 0.0)
            sigma_p = ewma_portfolio_volatility(z, a, ewma_lambda)
            nu = _varcov_dof(dofs[m][j][member] if m in dofs else None, a[member])
            risk = [(sigma_p * v, sigma_p * e) for v, e in unit_risk(nu)]
            rows.add(f"varcov:{m}", day, sigma_p, risk, panel.realised(pos, member), member)
        rows.add_scenarios("hs", day, panel, pos, base, panel.growth[pos - window : pos])
        for m, filtered in fhs.items():
            member = members[m] & filtered.covered(pos)
            growth = np.expm1(filtered.z[pos - window : pos] * np.where(member, vol[m][j], 0.0))
            rows.add_scenarios(f"fhs:{m}", day, panel, pos, member, growth)
    return rows.frame(methods)


def _checked_settings(returns: pd.DataFrame, window: int, min_coverage: float, tails) -> tuple[float, ...]:
    if window < 2:
        raise ValueError(f"window must be at least 2 returns, got {window}")
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    tails = tuple(float(t) for t in tails)
    for t in tails:
        if not 0.0 < t < 1.0:
            raise ValueError(f"tail probability must be in (0, 1), got {t}")
    if not isinstance(returns.index, pd.DatetimeIndex) or not returns.index.is_monotonic_increasing:
        raise ValueError("returns must have an increasing DatetimeIndex")
    return tails


class _Panel:
    """The returns and weights every day reads, as full-width arrays prepared once.

    A day's members are a boolean mask over all assets; weights outside it are 0, which keeps the
    daily loop free of column copies.
    """

    def __init__(self, returns: pd.DataFrame, weights, window: int, min_coverage: float) -> None:
        self.index = returns.index
        self.assets = returns.columns
        self.window = window
        self.min_coverage = min_coverage
        self.r_all = returns.to_numpy(dtype=np.float64)
        self.r0 = np.where(np.isfinite(self.r_all), self.r_all, 0.0)
        self.growth = np.expm1(self.r0)
        self.missing = _missing_counts(~np.isfinite(self.r_all))
        w_all = pd.Series(weights, dtype=np.float64).reindex(returns.columns).to_numpy()
        self.w0 = np.where(np.isfinite(w_all), w_all, 0.0)

    def day(self, day: pd.Timestamp) -> tuple[int, np.ndarray]:
        """The row of ``day`` (``len(index)`` for the live day) and the assets in that day."""
        pos = int(self.index.searchsorted(day, side="left"))
        if pos < self.window:
            raise ValueError(f"{day.date()}: {pos} rows of returns before it, the window needs {self.window}")
        base = (self.w0 != 0) & self.covered(self.missing, pos)
        if pos < len(self.index):
            base &= np.isfinite(self.r_all[pos]) if self.index[pos] == day else False
        return pos, base

    def covered(self, missing: np.ndarray, pos: int) -> np.ndarray:
        """Assets missing at most ``1 - min_coverage`` of the window before row ``pos``."""
        return self.window - (missing[pos] - missing[pos - self.window]) >= self.min_coverage * self.window

    def weights_of(self, member: np.ndarray) -> np.ndarray:
        w = np.where(member, self.w0, 0.0)
        return w / w.sum()

    def realised(self, pos: int, member: np.ndarray) -> float:
        """The portfolio's log return on row ``pos`` (NaN on the live day or without members)."""
        if pos >= len(self.index) or not member.any():
            return math.nan
        return float(np.log1p(self.growth[pos] @ self.weights_of(member)))


class _FilteredReturns:
    """FHS's standardised returns of one model, :math:`z^m_{i,u} = r_{i,u}/\\hat\\sigma^m_{i,u}`.

    0, and counted missing, where the return or the forecast for its day is missing.
    """

    def __init__(self, panel: _Panel, filter_volatility: pd.DataFrame) -> None:
        self._panel = panel
        s_path = filter_volatility.reindex(index=panel.index, columns=panel.assets).to_numpy(dtype=np.float64)
        ok = np.isfinite(panel.r_all) & np.isfinite(s_path) & (s_path > 0)
        self.z = np.where(ok, panel.r_all / np.where(ok, s_path, 1.0), 0.0)
        self._missing = _missing_counts(~ok)

    def covered(self, pos: int) -> np.ndarray:
        return self._panel.covered(self._missing, pos)


def _missing_counts(missing: np.ndarray) -> np.ndarray:
    """Cumulative count of missing rows per asset, a row of zeros first (so windows are differences)."""
    return np.vstack([np.zeros((1, missing.shape[1])), np.cumsum(missing, axis=0)])


class _Rows:
    """The output rows, one per method, day and tail, collected column by column."""

    def __init__(self, tails: tuple[float, ...], notional: float) -> None:
        self.tails = tails
        self.notional = notional
        self.columns: dict[str, list] = {c: [] for c in PORTFOLIO_COLUMNS}

    def add(self, method, day, vol_p, risk, realised, member) -> None:
        n_in = int(member.sum())
        for t, (v, e) in zip(self.tails, risk):
            breach = pd.NA if not (np.isfinite(realised) and np.isfinite(v)) else bool(-self.notional * realised > v)
            for column, value in zip(PORTFOLIO_COLUMNS, (method, day, t, vol_p, v, e, realised, breach, n_in)):
                self.columns[column].append(value)

    def add_empty(self, method, day) -> None:
        self.add(method, day, math.nan, [(math.nan, math.nan)] * len(self.tails), math.nan, np.zeros(0, bool))

    def add_scenarios(self, method, day, panel: _Panel, pos: int, member: np.ndarray, growth: np.ndarray) -> None:
        """HS and FHS: the window's scenarios of simple returns ``growth`` with today's weights."""
        if not member.any():
            self.add_empty(method, day)
            return
        scen = np.log1p(growth @ panel.weights_of(member))
        risk = [historical_var_es(scen, t, self.notional) for t in self.tails]
        self.add(method, day, float(np.std(scen, ddof=1)), risk, panel.realised(pos, member), member)

    def frame(self, methods: list[str]) -> pd.DataFrame:
        out = pd.DataFrame(self.columns, columns=PORTFOLIO_COLUMNS)
        out["date"] = pd.to_datetime(out["date"])
        out["breach"] = out["breach"].astype("boolean")
        out["assets"] = out["assets"].astype(np.int64)
        order = {name: k for k, name in enumerate(methods)}
        out = out.sort_values(
            ["method", "date", "tail"], key=lambda c: c.map(order) if c.name == "method" else c, kind="stable"
        ).reset_index(drop=True)
        out.attrs["notional"] = float(self.notional)
        return out


def portfolio_backtests(
    frame: pd.DataFrame, *, notional: float | None = None, n_sims: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """Backtest each method and tail of a :func:`portfolio_risk` frame.

    Columns ``method, tail`` and :data:`marketcast.risk_backtests.BACKTEST_COLUMNS`. ``notional``
    defaults to the one the frame was made with (``frame.attrs``), else 1. The Z2 p-value is
    simulated under each day's t implied by its VaR and ES
    (:func:`marketcast.risk_backtests.implied_t_law`): for variance-covariance that is its own
    law, for HS and FHS, whose laws are empirical, a t with the same VaR and ES.
    """
    if notional is None:
        notional = float(frame.attrs.get("notional", 1.0))
    records = []
    for (method, tail), g in frame.groupby(["method", "tail"], sort=False):
        g = g.sort_values("date")
        row = backtest_var_es(
            g["return"].to_numpy(dtype=np.float64),
            g["var"].to_numpy(dtype=np.float64),
            g["cvar"].to_numpy(dtype=np.float64),
            tail=float(tail),
            notional=notional,
            n_sims=n_sims,
            seed=seed,
        )
        records.append({"method": method, "tail": float(tail), **row})
    return pd.DataFrame(records, columns=["method", "tail", *BACKTEST_COLUMNS])
