r"""Interval forecasts from two LSTMs (VIX paper, section II.D and Table IV).

1. The first LSTM (21 lags) forecasts prices; its one-step forecasts on the training rows give
   errors :math:`e_t = P_t - \hat P_t`, :math:`t = p+1..n`.
2. The errors' sign correlation :math:`\hat\rho_e` (eq. 3) fixes the degrees of freedom
   :math:`\nu` of a Student t (eq. 4) and their sample volatilities :math:`Z_t`.
3. The second LSTM (``vol_lags`` = 5 lags) forecasts the error volatility from the :math:`Z_t`,
   recursively for the D days ahead.
4. The :math:`100(1-\alpha)\%` interval is

   .. math:: \hat P_t \pm \sqrt{\tfrac{\nu-2}{\nu}}\; t_{1-\alpha/2,\nu}\; \hat\sigma^e_t \qquad (5)

   with the quantile of the *unit-variance* t, since :math:`\hat\sigma^e_t` is a standard
   deviation. Eq. (5) prints the plain t quantile, but Table IV's intervals are the
   unit-variance ones: their half-widths over :math:`\hat\sigma^e_t` are 1.286, 1.762 and
   3.349 at 90/95/99%, exactly :math:`\sqrt{(\nu-2)/\nu}\,t_{1-\alpha/2,\nu}` for the paper's
   :math:`\nu = 2.7757` (the plain quantiles would be 2.43, 3.33 and 6.33).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from marketcast.errors import ModelError
from marketcast.models.base import Capabilities, Forecaster, IntervalForecast
from marketcast.models.neural import LSTMForecaster
from marketcast.models.training import TrainingSettings
from marketcast.risk_measures import standardized_t_quantile
from marketcast.stats import cdf_at_mean, sample_volatility, sign_correlation, t_dof_from_sign_correlation

__all__ = ["TwoLSTM"]

_TINY = 1e-12
#: Networks of each kind averaged by default; ``networks=1`` is the paper's single pair.
NETWORKS = 5


class TwoLSTM(Forecaster):
    """Two-LSTM price interval forecaster (VIX paper II.D).

    Parameters
    ----------
    lags, vol_lags : int
        Lags of the price LSTM (p = 21) and of the volatility LSTM (q = 5).
    units, dense_units, epochs, batch_size, learning_rate :
        Both LSTMs use the Table I settings.
    networks : int
        How many LSTMs of each kind are trained from different random starts and averaged
        (network k uses ``seed + 1000 k``, its volatility twin ``seed + 1000 k + 1``). The paper
        trains one of each (``networks=1``); averaging, as R's ``nnetar`` does with its 20
        networks, keeps one network's final-iterate bias from deciding where the 5-day path
        heads. See the note in :meth:`_fit`.
    seed : int
        Seeds the first price LSTM; the first volatility LSTM uses ``seed + 1``.
    """

    name = "two-lstm"
    capabilities = Capabilities(recursive=True, stochastic=True, native_intervals=True)

    def __init__(
        self,
        lags: int = 21,
        vol_lags: int = 5,
        units: int = 128,
        dense_units: int = 64,
        epochs: int = 50,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        scaling: str = "standard",
        networks: int = NETWORKS,
        seed: int = 0,
        device: str = "auto",
    ):
        self.lags = lags
        self.networks = networks
        self.scaling = scaling
        self.vol_lags = vol_lags
        self.units = units
        self.dense_units = dense_units
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.device = device

    def min_history(self, horizon: int = 1) -> int:
        return int(self.lags) + int(self.vol_lags) + 12

    def progress_units(self) -> int:
        return 2 * int(self.epochs) * max(int(self.networks), 1)

    def _lstm(self, lags: int, seed: int) -> LSTMForecaster:
        training = replace(TrainingSettings.of(self), seed=seed)  # no validation or early stopping here
        return LSTMForecaster(
            lags=lags, units=self.units, dense_units=self.dense_units, scaling=self.scaling, **training.as_params()
        )

    def _fit(self, y: pd.Series) -> None:
        # One network's last Adam steps leave it biased by a fraction of the error SD (the paper's
        # own errors average -0.71 against an SD of 2.41); a recursive 5-day path then drifts up or
        # down with the seed. Averaging networks from several starts removes most of that drift.
        tick = self._progress
        k = self._n_networks()
        self.price_models_ = [self._lstm(int(self.lags), self._seed_of(i)).fit(y, progress=tick) for i in range(k)]
        self._errors_of(y)
        self.rho_ = float(sign_correlation(self.errors_.to_numpy()))
        self.dof_ = float(t_dof_from_sign_correlation(self.rho_))
        # The training errors' law, kept apart from what condition() recomputes on other data.
        self.error_law_ = {"mean": float(self.errors_.mean()), "rho": self.rho_, "cdf_mean": self.cdf_mean_}
        self.vol_models_ = [
            self._lstm(int(self.vol_lags), self._seed_of(i) + 1).fit(self.z_, progress=tick) for i in range(k)
        ]
        self.vol_fitted_ = _mean_series([m.one_step_predictions(self.z_) for m in self.vol_models_]).clip(lower=_TINY)
        self.history_ = self._history()

    def _errors_of(self, y: pd.Series) -> None:
        """The price networks' one-step errors on ``y`` and their sample volatilities (steps 1-2)."""
        self.fitted_ = _mean_series([m.one_step_predictions(y) for m in self.price_models_])
        self.errors_ = (y.iloc[int(self.lags) :] - self.fitted_).rename("error")
        e = self.errors_.to_numpy()
        self.cdf_mean_ = float(cdf_at_mean(e))
        self.z_ = pd.Series(sample_volatility(e), index=self.errors_.index, name="z")

    def _history(self) -> dict[str, list[float]]:
        """Training curves: each network kind's losses per epoch, averaged over the networks."""
        out: dict[str, list[float]] = {}
        for kind, models in (("price", self.price_models_), ("vol", self.vol_models_)):
            for key in getattr(models[0], "history_", {}) or {}:
                curves = [m.history_[key] for m in models if m.history_.get(key)]
                n = min(len(c) for c in curves) if curves else 0
                if n:
                    out[f"{kind}_{key}"] = np.mean([c[:n] for c in curves], axis=0).tolist()
        return out

    def _condition(self, y: pd.Series) -> None:
        # The networks, and the t distribution of their training errors, stay; the inputs are the
        # new series' latest prices and the volatilities of the networks' errors on it.
        if len(y) < self.min_history():
            raise ModelError(f"{self.name}: {len(y)} rows, but forecasting needs at least {self.min_history()}")
        for m in self.price_models_:
            m.condition(y)
        self._errors_of(y)
        for m in self.vol_models_:
            m.condition(self.z_)
        self.vol_fitted_ = _mean_series([m.one_step_predictions(self.z_) for m in self.vol_models_]).clip(lower=_TINY)

    def n_parameters(self) -> int:
        """Trainable parameters of all the networks: ``networks`` price LSTMs and as many volatility LSTMs."""
        return self._n_networks() * (
            self._lstm(int(self.lags), 0).n_parameters() + self._lstm(int(self.vol_lags), 0).n_parameters()
        )

    def describe_network(self) -> str:
        k = self._n_networks()
        return (
            f"price LSTM ({k} averaged, {int(self.lags)} lags):\n{self._lstm(int(self.lags), 0).describe_network()}\n"
            f"volatility LSTM ({k} averaged, {int(self.vol_lags)} lags of Z_t):\n"
            f"{self._lstm(int(self.vol_lags), 0).describe_network()}"
        )

    def _n_networks(self) -> int:
        if int(self.networks) < 1:
            raise ModelError(f"{self.name}: networks must be at least 1, got {self.networks}")
        return int(self.networks)

    def _seed_of(self, i: int) -> int:
        return int(self.seed) + 1000 * i

    def _predict(self, horizon: int) -> np.ndarray:
        return np.mean([m.predict(horizon) for m in self.price_models_], axis=0)

    def _half_width(self, level: float) -> float:
        return float(-standardized_t_quantile((1.0 - level) / 2.0, self.dof_))

    def _predict_interval(self, horizon: int, levels: tuple[float, ...]) -> IntervalForecast:
        point = self._predict(horizon)
        sigma = np.maximum(np.mean([m.predict(horizon) for m in self.vol_models_], axis=0), _TINY)
        lower = {lv: point - self._half_width(lv) * sigma for lv in levels}
        upper = {lv: point + self._half_width(lv) * sigma for lv in levels}
        return IntervalForecast(point, lower, upper, extra={"sigma_e": sigma})

    def in_sample_intervals(self, y: pd.Series, levels=(0.9, 0.95, 0.99)) -> pd.DataFrame:
        """One-step intervals on the training rows where both LSTMs have inputs (the paper's backtest).

        For the Table IV set-up (training 2019-04-25..2021-04-16) this covers 2019-06-03 ..
        2021-04-16. Columns: ``actual, point, sigma_e, lower_90, upper_90, ...``.
        """
        sigma = self.vol_fitted_
        point = self.fitted_.loc[sigma.index]
        return self._interval_frame(y.loc[sigma.index], point, sigma, levels)

    def _interval_frame(self, actual: pd.Series, point: pd.Series, sigma: pd.Series, levels) -> pd.DataFrame:
        """Columns ``actual, point, sigma_e, lower_90, upper_90, ...``: eq. (5) for each day."""
        frame = pd.DataFrame({"actual": actual, "point": point, "sigma_e": sigma})
        for lv in sorted(levels):
            tag = f"{lv * 100:g}".replace(".", "_")
            frame[f"lower_{tag}"] = point - self._half_width(lv) * sigma
            frame[f"upper_{tag}"] = point + self._half_width(lv) * sigma
        return frame

    def one_step_intervals(self, y: pd.Series, levels=(0.9, 0.95, 0.99)) -> pd.DataFrame:
        """One-step intervals for every day of ``y`` where both networks have inputs, causally.

        The networks and the training errors' law (mean, sign correlation, :math:`F(\bar e)`)
        stay as fitted; each day's interval uses only the prices before it. On days after the
        training rows this is an out-of-sample backtest of the intervals, which
        :meth:`in_sample_intervals` (the paper's) is not. Columns as there.
        """
        law = self.error_law_
        fitted = _mean_series([m.one_step_predictions(y) for m in self.price_models_])
        errors = y.iloc[int(self.lags) :] - fitted
        z = pd.Series(
            sample_volatility(errors.to_numpy(), law["rho"], mean=law["mean"], cdf_mean=law["cdf_mean"]),
            index=errors.index,
            name="z",
        )
        sigma = _mean_series([m.one_step_predictions(z) for m in self.vol_models_]).clip(lower=_TINY)
        point = fitted.loc[sigma.index]
        return self._interval_frame(y.loc[sigma.index], point, sigma, levels)

    def error_summary(self) -> dict[str, float]:
        """The statistics the paper reports for the one-step errors (section II.E.2)."""
        from scipy import stats

        e = self.errors_.to_numpy()
        return {
            "n": int(e.size),
            "mean": float(e.mean()),
            "sd": float(e.std(ddof=1)),
            "skewness": float(stats.skew(e)),
            "excess_kurtosis": float(stats.kurtosis(e)),
            "sign_correlation": self.rho_,
            "dof": self.dof_,
            "acf1_abs": float(pd.Series(np.abs(e)).autocorr(1)),
            "acf1_sq": float(pd.Series(e * e).autocorr(1)),
        }

    def _get_state(self):
        arrays, meta = (
            {},
            {
                "rho": self.rho_,
                "dof": self.dof_,
                "cdf_mean": self.cdf_mean_,
                "price": [],
                "vol": [],
                "n_obs": [],
                "history": getattr(self, "history_", {}),
                "error_law": self.error_law_,
            },
        )
        for i, (pm, vm) in enumerate(zip(self.price_models_, self.vol_models_)):
            for kind, model in (("price", pm), ("vol", vm)):
                a, m = model._get_state()
                arrays |= {f"{kind}{i}.{k}": v for k, v in a.items()}
                meta[kind].append(m)
            meta["n_obs"].append([pm.n_obs_, vm.n_obs_])
        # The in-sample fit (errors, sample volatilities, one-step volatilities) with its dates,
        # so a reloaded model still gives its interval backtest and error statistics.
        arrays |= {
            "insample.dates": _ns(self.errors_.index),
            "insample.fitted": self.fitted_.to_numpy(),
            "insample.errors": self.errors_.to_numpy(),
            "insample.z": self.z_.to_numpy(),
            "insample.vol_dates": _ns(self.vol_fitted_.index),
            "insample.vol_fitted": self.vol_fitted_.to_numpy(),
        }
        return arrays, meta

    def _set_state(self, arrays, meta) -> None:
        def restore(kind: str, i: int, lags: int, seed: int):
            model = self._lstm(lags, seed)
            prefix = f"{kind}{i}."
            model._set_state({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}, meta[kind][i])
            return model

        k = len(meta["price"])
        self.price_models_ = [restore("price", i, int(self.lags), self._seed_of(i)) for i in range(k)]
        self.vol_models_ = [restore("vol", i, int(self.vol_lags), self._seed_of(i) + 1) for i in range(k)]
        for i, (n_price, n_vol) in enumerate(meta["n_obs"]):
            self.price_models_[i].n_obs_, self.vol_models_[i].n_obs_ = int(n_price), int(n_vol)
        self.rho_, self.dof_ = float(meta["rho"]), float(meta["dof"])
        self.history_ = meta.get("history", {})
        if "error_law" in meta:
            self.error_law_ = {k: float(v) for k, v in meta["error_law"].items()}
        if "insample.dates" in arrays:
            dates = _from_ns(arrays["insample.dates"])
            f64 = lambda key: np.asarray(arrays[key], dtype=np.float64)  # noqa: E731
            self.fitted_ = pd.Series(f64("insample.fitted"), index=dates)
            self.errors_ = pd.Series(f64("insample.errors"), index=dates, name="error")
            self.z_ = pd.Series(f64("insample.z"), index=dates, name="z")
            self.vol_fitted_ = pd.Series(f64("insample.vol_fitted"), index=_from_ns(arrays["insample.vol_dates"]))
            self.cdf_mean_ = float(meta.get("cdf_mean", cdf_at_mean(self.errors_.to_numpy())))


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Dates as int64 nanoseconds (safetensors holds numbers; the index's own unit may differ)."""
    return index.values.astype("datetime64[ns]").astype(np.int64)


def _from_ns(values: np.ndarray) -> pd.DatetimeIndex:
    """The inverse of :func:`_ns`."""
    return pd.DatetimeIndex(np.asarray(values, dtype="int64").view("datetime64[ns]"), name="date")


def _mean_series(parts: list[pd.Series]) -> pd.Series:
    return pd.concat(parts, axis=1).mean(axis=1).rename(parts[0].name)
