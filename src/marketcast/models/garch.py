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
from typing import Any, ClassVar

import numpy as np

from marketcast.errors import ModelError
from marketcast.models.base import Capabilities, VolatilityForecast, VolatilityModel

__all__ = ["GARCHFit", "fit_garch", "GARCHVolatility", "GJRGARCHVolatility"]

logger = logging.getLogger(__name__)

#: Returns are multiplied by this before fitting (percent returns), and volatilities divided by it.
SCALE = 100.0

# arch's spellings (typed Any: arch declares them as Literals)
_MEANS: dict[str, Any] = {"zero": "Zero", "constant": "Constant"}
_DISTS: dict[str, Any] = {"t": "t", "normal": "normal"}


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


def fit_garch(
    returns: np.ndarray, *, o: int = 0, mean: str = "zero", dist: str = "t", start: GARCHFit | None = None
) -> GARCHFit:
    """Fit GARCH(1, o, 1) to one window of log returns and forecast one step ahead.

    Without ``start``, ``arch`` fits from its own starting values. With ``start`` (yesterday's
    fit in a rolling run), Newton's method on the analytic gradient and Hessian climbs from there
    (:func:`marketcast.models._garch_fast.fit_checked`, the same likelihood as arch's to the last digits);
    where that fails to converge, arch fits from its own start. Raises whatever ``arch`` raises;
    :class:`GARCHVolatility` turns that into a fallback.
    """
    if start is not None and np.isfinite(start.omega):
        from marketcast.models import _garch_fast

        y = SCALE * np.asarray(returns, dtype=np.float64)
        p0 = np.array([start.mu, start.omega, start.alpha, start.gamma, start.beta, start.nu if dist == "t" else 0.0])
        with np.errstate(all="ignore"):
            fast = _garch_fast.fit_checked(y, p0, mean=mean == "constant", o=o, dist_t=dist == "t")
        if fast.converged and np.isfinite(fast.loglik) and fast.variance > 0:
            return _from_params(fast.params, fast.variance, dist, True)
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


def _from_params(p: np.ndarray, variance: float, dist: str, converged: bool) -> GARCHFit:
    return GARCHFit(
        volatility=float(np.sqrt(variance)) / SCALE,
        omega=float(p[1]),
        alpha=float(p[2]),
        gamma=float(p[3]),
        beta=float(p[4]),
        nu=float(p[5]) if dist == "t" else np.inf,
        mu=float(p[0]),
        converged=converged,
    )


def filter_garch(returns: np.ndarray, fit: GARCHFit, *, mean: str = "zero", dist: str = "t") -> GARCHFit:
    """The one-step forecast of ``fit``'s parameters on another window (no refit): arch's
    ``fix(params).forecast(horizon=1)``, the backcast from this window's residuals."""
    from marketcast.models import _garch_fast

    y = np.ascontiguousarray(SCALE * np.asarray(returns, dtype=np.float64))
    p = np.array([fit.mu, fit.omega, fit.alpha, fit.gamma, fit.beta, fit.nu if dist == "t" else 0.0])
    bc = _garch_fast.backcast(y - (y.mean() if mean == "constant" else 0.0))
    _, _, variance = _garch_fast.loglik(y, p, dist == "t", bc)
    return _from_params(p, variance, dist, fit.converged)


class GARCHVolatility(VolatilityModel):
    """GARCH(1,1) volatility forecasts with Student-t innovations, refitted on every window.

    Parameters
    ----------
    mean : {"zero", "constant"}
        Mean of the returns: zero (the paper's :math:`\\mu = 0`) or an estimated constant.
    dist : {"t", "normal"}
        Innovation distribution; with ``"normal"`` the forecast's ``dof`` is infinite.
    refit_every : int
        Refit the parameters every ``refit_every`` windows (rugarch's ``ugarchroll(refit.every=)``)
        and forecast the windows in between with the last fitted parameters (arch's
        ``fix(params).forecast``); 1, the default, refits every window.

    Extra columns: ``omega``, ``alpha``, ``beta``, ``nu`` (``gamma`` for GJR, ``mu`` for a
    constant mean), on the percent scale, and ``converged``. The first window is fitted by arch
    from its own starting values (about 20 ms); each later one starts from the window before
    (Newton's method on the analytic gradient and Hessian in C, ``_garch_fast``: well under 1 ms a window).
    """

    # Not split across processes: arch's optimiser lands a few 1e-5 apart under another BLAS
    # thread count (a worker has one), and at 35 ms a window there is little to gain.
    capabilities = Capabilities()  # one fit per window, fast; windows are not worth processes

    name = "garch"
    #: Order of the asymmetric (GJR) term.
    _o: ClassVar[int] = 0

    def __init__(self, mean: str = "zero", dist: str = "t", refit_every: int = 1):
        self.mean = mean
        self.dist = dist
        self.refit_every = refit_every

    def _check(self) -> None:
        if self.mean not in _MEANS:
            raise ModelError(f"{self.name}: mean must be one of {', '.join(_MEANS)}, got '{self.mean}'")
        if self.dist not in _DISTS:
            raise ModelError(f"{self.name}: dist must be one of {', '.join(_DISTS)}, got '{self.dist}'")
        if isinstance(self.refit_every, bool) or int(self.refit_every) != self.refit_every or self.refit_every < 1:
            raise ModelError(f"{self.name}: refit_every must be a whole number of days >= 1, got {self.refit_every!r}")

    def forecast_windows(self, returns, stats, dates=None) -> VolatilityForecast:
        self._check()
        r = np.atleast_2d(np.asarray(returns, dtype=np.float64))
        n = r.shape[0]
        if r.shape[1] < 10:
            raise ModelError(f"{self.name}: a window of {r.shape[1]} returns is too short")
        cols = {k: np.full(n, np.nan) for k in ("volatility", "omega", "alpha", "gamma", "beta", "nu", "mu")}
        converged = np.zeros(n, dtype=bool)
        last: GARCHFit | None = None  # the latest fit: the next window's start, or its parameters
        every = int(self.refit_every)
        for i in range(n):
            # A window whose refit failed has no parameters to lend: the next one refits (cold).
            refit = last is None or i % every == 0
            try:
                if refit or last is None:
                    fit = fit_garch(r[i], o=self._o, mean=self.mean, dist=self.dist, start=last)
                else:
                    fit = filter_garch(r[i], last, mean=self.mean, dist=self.dist)
                ok = np.isfinite(fit.volatility) and fit.volatility > 0
            except Exception as exc:  # noqa: BLE001 - one bad window must not stop a rolling run
                logger.warning(
                    "%s: window %d of %d: fit failed (%s); using its sample volatility", self.name, i + 1, n, exc
                )
                ok = False
            if refit:
                last = fit if ok else None
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
        keys = (
            ["omega", "alpha"]
            + (["gamma"] if self._o else [])
            + ["beta", "nu"]
            + (["mu"] if self.mean == "constant" else [])
        )
        # Prefixed: DD-EWMA's "alpha" (its smoothing constant) means something else.
        extra = {f"garch_{k}": cols[k] for k in keys}
        extra["converged"] = converged
        return VolatilityForecast(cols["volatility"], extra, dof=dof)


class GJRGARCHVolatility(GARCHVolatility):
    """GJR-GARCH(1,1,1): GARCH with a larger response to negative shocks (``gamma`` > 0), t innovations."""

    name = "gjr-garch"
    _o = 1
