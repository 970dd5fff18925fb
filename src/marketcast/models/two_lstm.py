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

import numpy as np
import pandas as pd

from marketcast.models.base import Forecaster, IntervalForecast
from marketcast.models.neural import LSTMForecaster
from marketcast.risk import standardized_t_quantile
from marketcast.stats import cdf_at_mean, sample_volatility, sign_correlation, t_dof_from_sign_correlation

__all__ = ["TwoLSTM"]

_TINY = 1e-12


class TwoLSTM(Forecaster):
    """Two-LSTM price interval forecaster (VIX paper II.D).

    Parameters
    ----------
    lags, vol_lags : int
        Lags of the price LSTM (p = 21) and of the volatility LSTM (q = 5).
    units, dense_units, epochs, batch_size, learning_rate :
        Both LSTMs use the Table I settings.
    seed : int
        Seeds the price LSTM; the volatility LSTM uses ``seed + 1``.
    """

    name = "two-lstm"
    stochastic = True

    def __init__(self, lags: int = 21, vol_lags: int = 5, units: int = 128, dense_units: int = 64, epochs: int = 50,
                 batch_size: int = 32, learning_rate: float = 1e-3, scaling: str = "standard", seed: int = 0,
                 device: str = "auto"):
        self.lags = lags
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
        return 2 * int(self.epochs)

    def _lstm(self, lags: int, seed: int) -> LSTMForecaster:
        return LSTMForecaster(lags=lags, units=self.units, dense_units=self.dense_units, epochs=self.epochs,
                              batch_size=self.batch_size, learning_rate=self.learning_rate, scaling=self.scaling, seed=seed,
                              device=self.device)

    def _fit(self, y: pd.Series) -> None:
        tick = self._progress
        self.price_model_ = self._lstm(int(self.lags), int(self.seed)).fit(y, progress=tick)
        self.fitted_ = self.price_model_.one_step_predictions(y)
        self.errors_ = (y.iloc[int(self.lags):] - self.fitted_).rename("error")
        e = self.errors_.to_numpy()
        self.rho_ = float(sign_correlation(e))
        self.dof_ = float(t_dof_from_sign_correlation(self.rho_))
        self.cdf_mean_ = float(cdf_at_mean(e))
        self.z_ = pd.Series(sample_volatility(e), index=self.errors_.index, name="z")
        self.vol_model_ = self._lstm(int(self.vol_lags), int(self.seed) + 1).fit(self.z_, progress=tick)
        self.vol_fitted_ = self.vol_model_.one_step_predictions(self.z_).clip(lower=_TINY)

    def _predict(self, horizon: int) -> np.ndarray:
        return self.price_model_.predict(horizon)

    def _half_width(self, level: float) -> float:
        return float(-standardized_t_quantile((1.0 - level) / 2.0, self.dof_))

    def _predict_interval(self, horizon: int, levels: tuple[float, ...]) -> IntervalForecast:
        point = self.price_model_.predict(horizon)
        sigma = np.maximum(self.vol_model_.predict(horizon), _TINY)
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
        frame = pd.DataFrame({"actual": y.loc[sigma.index], "point": point, "sigma_e": sigma})
        for lv in sorted(levels):
            tag = f"{lv * 100:g}".replace(".", "_")
            frame[f"lower_{tag}"] = point - self._half_width(lv) * sigma
            frame[f"upper_{tag}"] = point + self._half_width(lv) * sigma
        return frame

    def error_summary(self) -> dict[str, float]:
        """The statistics the paper reports for the one-step errors (section II.E.2)."""
        from scipy import stats

        e = self.errors_.to_numpy()
        return {
            "n": int(e.size), "mean": float(e.mean()), "sd": float(e.std(ddof=1)),
            "skewness": float(stats.skew(e)), "excess_kurtosis": float(stats.kurtosis(e)),
            "sign_correlation": self.rho_, "dof": self.dof_,
            "acf1_abs": float(pd.Series(np.abs(e)).autocorr(1)), "acf1_sq": float(pd.Series(e * e).autocorr(1)),
        }

    def _get_state(self):
        pa, pm = self.price_model_._get_state()
        va, vm = self.vol_model_._get_state()
        arrays = {f"price.{k}": v for k, v in pa.items()} | {f"vol.{k}": v for k, v in va.items()}
        meta = {"price": pm, "vol": vm, "rho": self.rho_, "dof": self.dof_,
                "n_obs": [self.price_model_.n_obs_, self.vol_model_.n_obs_]}
        return arrays, meta

    def _set_state(self, arrays, meta) -> None:
        self.price_model_ = self._lstm(int(self.lags), int(self.seed))
        self.price_model_._set_state({k[6:]: v for k, v in arrays.items() if k.startswith("price.")}, meta["price"])
        self.vol_model_ = self._lstm(int(self.vol_lags), int(self.seed) + 1)
        self.vol_model_._set_state({k[4:]: v for k, v in arrays.items() if k.startswith("vol.")}, meta["vol"])
        self.price_model_.n_obs_, self.vol_model_.n_obs_ = (int(n) for n in meta["n_obs"])
        self.rho_, self.dof_ = float(meta["rho"]), float(meta["dof"])
