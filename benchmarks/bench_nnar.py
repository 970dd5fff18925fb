"""Time of one NNAR volatility forecast (Table V's NN 'Time' column: about 1.7 s in R).

The data are those of the paper's last forecast day: the sample volatilities Z_t of the 504
VIX log returns 2019-05-23..2021-05-21, which forecast 2021-05-24 (Table V, day 21: NVF 0.086).
Every method fits 20 networks NNAR(p, size) with p and size chosen as nnetar chooses them, on
nnetar's scaled lag matrix, and averages their one-step forecasts:

* marketcast: the vmmin port with the 20 networks in lockstep and their passes in C
  (``_nnet_kernel.c``; the whole ``nnetar`` fit,
  order selection included, plus the forecast);
* the same with the networks' passes in NumPy (``MARKETCAST_KERNELS=off``: what the C kernel saves);
* the same vmmin port run one network at a time (what lockstep saves);
* scipy.optimize.minimize(method="BFGS", maxiter=100) per network, with the same analytic
  gradient (a different line search, so different weights);
* scikit-learn: 20 ``MLPRegressor(hidden_layer_sizes=(size,), solver="lbfgs", max_iter=100)``,
  as they come (ReLU units, L2 penalty 1e-4) and with ``activation="logistic", alpha=0``,
  which is nnet's model.

Medians of several runs; the machine's other load makes single timings noisy. BLAS runs on
one thread (unless the environment says otherwise): on these tiny matrices extra BLAS threads
only spin, and under load they made the scikit-learn fits 4-30 times slower.

    .venv/bin/python benchmarks/bench_nnar.py
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy is imported

import warnings  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
from scipy import optimize  # noqa: E402

from _common import best_of, data_dir, print_table  # noqa: E402
from marketcast.data import load_series  # noqa: E402
from marketcast.models.nnar import (  # noqa: E402
    fit_nnets,
    lag_matrix,
    n_weights,
    nnet_outputs,
    nnet_sse,
    nnetar,
    nnetar_forecast,
    nnetar_order,
    nnetar_size,
)
from marketcast.stats import log_returns, sample_volatility  # noqa: E402

REPEATS = 20


def marketcast_lockstep(z: np.ndarray, seed: int = 0) -> float:
    return float(nnetar_forecast(nnetar(z, rng=seed), 1)[0])


def numpy_passes(z: np.ndarray, seed: int = 0) -> float:
    """The same fit with the networks' passes in NumPy (``MARKETCAST_KERNELS=off``): what the C kernel saves."""
    with mock.patch.dict(os.environ, {"MARKETCAST_KERNELS": "off"}):
        return marketcast_lockstep(z, seed)


def one_at_a_time(z: np.ndarray, seed: int = 0) -> float:
    center, scale = z.mean(), z.std(ddof=1)
    xs = (z - center) / scale
    p = nnetar_order(xs)
    size = nnetar_size(p)
    X, y = lag_matrix(xs, p)
    rng = np.random.default_rng(seed)
    starts = rng.uniform(-0.7, 0.7, (REPEATS, n_weights(p, size)))
    weights = np.vstack([fit_nnets(X, y, size, init=w[None, :]).x for w in starts])
    last = xs[::-1][:p][None, :]
    return float(nnet_outputs(weights, last, size).mean() * scale + center)


def scipy_bfgs(z: np.ndarray, seed: int = 0) -> float:
    center, scale = z.mean(), z.std(ddof=1)
    xs = (z - center) / scale
    p = nnetar_order(xs)
    size = nnetar_size(p)
    X, y = lag_matrix(xs, p)
    rng = np.random.default_rng(seed)
    weights = []
    for _ in range(REPEATS):
        w0 = rng.uniform(-0.7, 0.7, n_weights(p, size))
        res = optimize.minimize(nnet_sse, w0, args=(X, y, size), jac=True, method="BFGS", options={"maxiter": 100})
        weights.append(res.x)
    last = xs[::-1][:p][None, :]
    return float(nnet_outputs(np.array(weights), last, size).mean() * scale + center)


def sklearn_mlps(z: np.ndarray, seed: int = 0, **options) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    center, scale = z.mean(), z.std(ddof=1)
    xs = (z - center) / scale
    p = nnetar_order(xs)
    size = nnetar_size(p)
    X, y = lag_matrix(xs, p)
    last = xs[::-1][:p][None, :]
    preds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i in range(REPEATS):
            mlp = MLPRegressor(hidden_layer_sizes=(size,), solver="lbfgs", max_iter=100,
                               random_state=seed * 1000 + i, **options)
            preds.append(mlp.fit(X, y).predict(last)[0])
    return float(np.mean(preds) * scale + center)


def main() -> None:
    vix = load_series(data_dir() / "VIX_History.csv")
    r = log_returns(vix)
    i = r.index.get_loc("2021-05-24")
    window = r.iloc[i - 504 : i]
    z = sample_volatility(window.to_numpy())
    p = nnetar_order((z - z.mean()) / z.std(ddof=1))
    print(f"Window {window.index[0].date()}..{window.index[-1].date()}: 504 returns, NNAR({p},{nnetar_size(p)}), "
          f"{REPEATS} networks; Table V (R, nnetar) day 21: NVF 0.086 in about 1.7 s")
    rows = []
    nnet_like = {"activation": "logistic", "alpha": 0.0}
    methods = [  # name, function, timed runs, seeds for the spread of the forecast
        ("marketcast nnetar (20 networks in lockstep)", marketcast_lockstep, 9, 5),
        ("marketcast nnetar, NumPy passes (MARKETCAST_KERNELS=off)", numpy_passes, 9, 5),
        ("marketcast vmmin, one network at a time", one_at_a_time, 3, 3),
        ("scipy BFGS per network (same gradient)", scipy_bfgs, 3, 3),
        ("scikit-learn 20 x MLPRegressor lbfgs (ReLU)", sklearn_mlps, 3, 3),
        ("scikit-learn 20 x MLPRegressor lbfgs (logistic)", lambda x, seed=0: sklearn_mlps(x, seed, **nnet_like), 3, 3),
    ]
    for name, fn, repeat, seeds in methods:
        t = best_of(lambda: fn(z), repeat=repeat)
        forecasts = [fn(z, seed) for seed in range(seeds)]
        rows.append((name, f"{t:.3f}", f"{forecasts[0]:.4f}",
                     f"{np.mean(forecasts):.4f} +- {np.std(forecasts, ddof=1):.4f} ({seeds})"))
    print_table("One NNAR volatility forecast for 2021-05-24 (seconds, median of runs)", rows,
                ("method", "seconds", "forecast (seed 0)", "mean +- sd over seeds (n)"))


if __name__ == "__main__":
    main()
