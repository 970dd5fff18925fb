r"""GARCH(1,1) and GJR-GARCH(1,1,1) volatility forecasts with Student-t innovations (the ``arch`` package).

The industry baseline the VIX paper sets its data-driven models against (section III.D: "t-GARCH
applies well only for d.f. greater than four"). For each window of log returns :math:`r_t`,

.. math::

    100\,r_t = \mu + \sigma_t \varepsilon_t, \qquad
    \sigma_t^2 = \omega + (\alpha + \gamma\,I[100\,r_{t-1} - \mu < 0])\,(100\,r_{t-1} - \mu)^2 + \beta\,\sigma_{t-1}^2,

with :math:`\varepsilon_t` a unit-variance Student t with :math:`\nu` degrees of freedom (or the
normal), :math:`\mu = 0` for ``mean="zero"`` and :math:`\gamma = 0` for plain GARCH. The model is
fitted by maximum likelihood on the returns in percent (``arch``'s recommended scale: the
optimiser struggles with variances near 1e-4), and the one-step forecast is
:math:`\hat\sigma_{T+1} = \sqrt{\omega + (\alpha + \gamma I_T)\,e_T^2 + \beta\,\sigma_T^2} / 100`.
The parameters are reported as ``arch`` estimates them, on that percent scale (``omega`` in
squared percent).

The fitted :math:`\nu` is handed back as the forecast's ``dof``, so VaR and CVaR use the model's
own t rather than the sign-correlation one. A window whose optimiser does not report
convergence keeps its estimate with ``converged=False``; a window whose fit raises falls back to
the window's sample volatility (parameters NaN, ``converged=False``), so that one bad window
never stops a rolling run (statsforecast's fallback idea). ``arch`` is imported inside the
functions only.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from marketcast.errors import ModelError
from marketcast.models.base import Capabilities, VolatilityForecast, VolatilityModel

__all__ = ["GARCHFit", "fit_garch", "GARCHVolatility", "GJRGARCHVolatility"]

logger = logging.getLogger(__name__)

#: Returns are multiplied by this before fitting (percent returns), and volatilities divided by it.
SCALE = 100.0

_MEANS = {"zero": "Zero", "constant": "Constant"}
_DISTS = {"t": "t", "normal": "normal"}


@dataclass(frozen=True)
class GARCHFit:
    """One window's fit: the one-step volatility (in return units) and the parameters (percent scale)."""

    volatility: float
    omega: float
    alpha: float
    gamma: float
    beta: float
    nu: float
    mu: float
    converged: bool


def fit_garch(returns: np.ndarray, *, o: int = 0, mean: str = "zero", dist: str = "t") -> GARCHFit:
    """Fit GARCH(1, o, 1) to one window of log returns and forecast one step ahead.

    Raises whatever ``arch`` raises; :class:`GARCHVolatility` turns that into a fallback.
    """
    from arch import arch_model
    from arch.utility.exceptions import DataScaleWarning

    y = SCALE * np.asarray(returns, dtype=np.float64)
    model = arch_model(y, mean=_MEANS[mean], vol="GARCH", p=1, o=o, q=1, dist=_DISTS[dist], rescale=False)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # Rolling runs would repeat the scale warning for every window; the scale is a
        # documented choice. Degenerate windows (all zeros) end in the fallback instead.
        warnings.simplefilter("ignore", DataScaleWarning)
        res = model.fit(disp="off", show_warning=False)
        variance = float(res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0])
    p = res.params
    return GARCHFit(
        volatility=float(np.sqrt(variance)) / SCALE,
        omega=float(p["omega"]),
        alpha=float(p["alpha[1]"]),
        gamma=float(p["gamma[1]"]) if o else 0.0,
        beta=float(p["beta[1]"]),
        nu=float(p["nu"]) if dist == "t" else np.inf,
        mu=float(p["mu"]) if mean == "constant" else 0.0,
        converged=int(res.convergence_flag) == 0,
    )


class GARCHVolatility(VolatilityModel):
    """GARCH(1,1) volatility forecasts with Student-t innovations, refitted on every window.

    Parameters
    ----------
    mean : {"zero", "constant"}
        Mean of the returns: zero (the paper's :math:`\\mu = 0`) or an estimated constant.
    dist : {"t", "normal"}
        Innovation distribution; with ``"normal"`` the forecast's ``dof`` is infinite.

    Extra columns: ``omega``, ``alpha``, ``beta``, ``nu`` (``gamma`` for GJR, ``mu`` for a
    constant mean), on the percent scale, and ``converged``. About 30 ms per 504-return window.
    """

    # Not split across processes: arch's optimiser lands a few 1e-5 apart under another BLAS
    # thread count (a worker has one), and at 35 ms a window there is little to gain.
    capabilities = Capabilities()  # one fit per window, fast; windows are not worth processes

    name = "garch"
    #: Order of the asymmetric (GJR) term.
    _o: ClassVar[int] = 0

    def __init__(self, mean: str = "zero", dist: str = "t"):
        self.mean = mean
        self.dist = dist

    def _check(self) -> None:
        if self.mean not in _MEANS:
            raise ModelError(f"{self.name}: mean must be one of {', '.join(_MEANS)}, got '{self.mean}'")
        if self.dist not in _DISTS:
            raise ModelError(f"{self.name}: dist must be one of {', '.join(_DISTS)}, got '{self.dist}'")

    def forecast_windows(self, returns, stats, dates=None) -> VolatilityForecast:
        self._check()
        r = np.atleast_2d(np.asarray(returns, dtype=np.float64))
        n = r.shape[0]
        if r.shape[1] < 10:
            raise ModelError(f"{self.name}: a window of {r.shape[1]} returns is too short")
        cols = {k: np.full(n, np.nan) for k in ("volatility", "omega", "alpha", "gamma", "beta", "nu", "mu")}
        converged = np.zeros(n, dtype=bool)
        for i in range(n):
            try:
                fit = fit_garch(r[i], o=self._o, mean=self.mean, dist=self.dist)
                ok = np.isfinite(fit.volatility) and fit.volatility > 0
            except Exception as exc:  # noqa: BLE001 - one bad window must not stop a rolling run
                logger.warning("%s: window %d of %d: fit failed (%s); using its sample volatility", self.name, i + 1, n, exc)
                fit, ok = None, False
            if not ok:
                # Fallback: the window's sample volatility; the parameters stay NaN.
                centred = r[i] - (r[i].mean() if self.mean == "constant" else 0.0)
                cols["volatility"][i] = float(np.sqrt(np.mean(centred**2)))
                continue
            for key in cols:
                cols[key][i] = getattr(fit, key)
            converged[i] = fit.converged
        if self.dist == "t":
            # The fitted nu; a fallback window uses the sign-correlation dof of eq. (4).
            dof = np.where(np.isfinite(cols["nu"]), cols["nu"], np.asarray(stats.dof, dtype=np.float64))
        else:
            dof = np.full(n, np.inf)
            cols["nu"] = np.full(n, np.inf)
        keys = ["omega", "alpha"] + (["gamma"] if self._o else []) + ["beta", "nu"] + (["mu"] if self.mean == "constant" else [])
        # Prefixed: DD-EWMA's "alpha" (its smoothing constant) means something else.
        extra = {f"garch_{k}": cols[k] for k in keys}
        extra["converged"] = converged
        return VolatilityForecast(cols["volatility"], extra, dof=dof)


class GJRGARCHVolatility(GARCHVolatility):
    """GJR-GARCH(1,1,1): GARCH with a larger response to negative shocks (``gamma`` > 0), t innovations."""

    name = "gjr-garch"
    _o = 1
