r"""Neural network autoregression: a NumPy port of R's ``forecast::nnetar`` (non-seasonal).

The VIX paper (Thavaneswaran et al., section III.B, Algorithm 2) fits ``nnetar`` to the sample
volatilities :math:`Z_t` of each 504-return window and takes its one-step forecast as the neuro
volatility forecast (NVF, Table V). This module reproduces what ``nnetar`` and
``forecast.nnetar`` do, step by step (Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice*, 3rd ed., section 12.4 "Neural network models"; the R sources of ``forecast`` and
of Venables & Ripley's ``nnet``):

1. **Scaling** (``scale.inputs=TRUE``): the series is centred by its mean and divided by its
   standard deviation (``ddof=1``); targets and lags are on that scale.
2. **Order** (:func:`nnetar_order`): ``p`` is the order of the AR model that
   ``ar(x)`` picks: Yule-Walker with AIC, ``order.max = min(N-1, floor(10 log10 N))``
   (:func:`ar_yule_walker`, a port of ``stats::ar.yw`` and its Levinson-Durbin routine
   ``eureka.f``); at least 1. ``size = round((p + 1) / 2)`` hidden units, rounding halves to
   even as R does (:func:`nnetar_size`).
3. **Networks** (:func:`fit_nnets`): ``repeats = 20`` networks with ``p`` inputs (lags 1..p),
   one hidden layer of ``size`` logistic units (nnet's sigmoid, flat beyond :math:`\pm 15`), a
   linear output, no skip layer, initial weights uniform on :math:`[-0.7, 0.7]` (``rang``), each
   fitted by minimising the sum of squared errors (plus ``decay`` times the squared weights)
   with BFGS (:func:`vmmin`, a port of R's ``vmmin`` from ``src/appl/optim.c`` with nnet's
   settings ``maxit=100, abstol=1e-4, reltol=1e-8``) and the analytic gradient of
   :func:`nnet_sse` (nnet's ``fpass``/``bpass``).
4. **Forecasts** (:func:`nnetar_forecast`): the average of the 20 networks' outputs, unscaled;
   multi-step forecasts are recursive, each forecast fed back as the newest lag.
5. **Intervals** (:func:`nnetar_intervals`): like ``forecast.nnetar(PI=TRUE)``: ``npaths``
   future paths (:func:`nnetar_simulate`) with normal innovations of the residual standard
   deviation (or resampled centred residuals, ``bootstrap=True``), quantiles of type 8.

What differs from R
-------------------
* Random numbers come from NumPy (``numpy.random.default_rng``), not R's Mersenne-Twister,
  so single networks (and the simulated paths) differ from R's; the distribution of the
  averaged forecast over seeds is the same.
* The 20 BFGS runs are executed in lockstep, vectorised across networks (one batched forward
  and backward pass per line-search step, for the networks that need one). Lockstep changes
  nothing: every network follows its own ``vmmin`` path and ends where a run on it alone
  ends. Against the C code only the floating-point summation order differs (same steps, same
  counts); on the non-convex objective such rounding differences can grow over 100
  iterations, so single weights match R's arithmetic approximately, not bit for bit.
* The networks' forward and backward passes run in C (``_nnet_kernel.c``: each hidden unit's
  row computed, squashed and used while it is in cache, about a third faster per forecast
  than the NumPy passes of :class:`_Net`, which remain as its reference and fallback;
  ``MARKETCAST_KERNELS=off`` selects them). The two agree to about 1e-15.
* The inverse-Hessian update keeps the full symmetric matrix rather than R's lower triangle,
  written so that it stays exactly symmetric.
* nnet refuses networks with more than ``MaxNWts = 1000`` weights; this port does not.
* Missing values are not interpolated (``na.interp``): the series must be finite.

The numeric core is plain functions, one module per step: :mod:`.order` (step 2),
:mod:`.network` (step 3's networks), :mod:`marketcast.models._vmmin` (step 3's BFGS),
:mod:`.fit` (``nnetar`` and steps 4-5); :mod:`.models` holds :class:`NNARForecaster` (prices)
and :class:`NNARVolatility` (Algorithm 2 of the VIX paper), thin wrappers. Everything is
importable from ``marketcast.models.nnar``.
"""

from __future__ import annotations

from marketcast.models._vmmin import ABSTOL, RELTOL, VmminResult, vmmin
from marketcast.models.nnar.fit import NNARFit, nnetar, nnetar_forecast, nnetar_intervals, nnetar_simulate
from marketcast.models.nnar.models import VOLATILITY_FLOOR, NNARForecaster, NNARVolatility
from marketcast.models.nnar.network import RANG, _Net, _nnet_kernel, fit_nnets, n_weights, nnet_outputs, nnet_sse
from marketcast.models.nnar.order import ARFit, ar_yule_walker, eureka, lag_matrix, nnetar_order, nnetar_size

__all__ = [
    "eureka",
    "ARFit",
    "ar_yule_walker",
    "nnetar_order",
    "nnetar_size",
    "lag_matrix",
    "n_weights",
    "nnet_outputs",
    "nnet_sse",
    "VmminResult",
    "vmmin",
    "fit_nnets",
    "NNARFit",
    "nnetar",
    "nnetar_forecast",
    "nnetar_simulate",
    "nnetar_intervals",
    "NNARForecaster",
    "NNARVolatility",
    "ABSTOL",
    "RELTOL",
    "RANG",
    "VOLATILITY_FLOOR",
    "_Net",
    "_nnet_kernel",
]
