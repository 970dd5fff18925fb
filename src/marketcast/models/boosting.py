"""XGBoost on normalised windows of closes: the Stock-X paper's XGBoost comparison model.

The framing is the Stock-X one (Aadhitya et al., section IV.A, and Table IV where XGBoost scores
an MSE of 0.047 against the CNN-LSTM's 0.035): every window of ``window`` consecutive closes is
divided by its first close, and the target is the next close on the same scale. One model then
serves any price level. Multi-step forecasts are recursive: each forecast joins the window as
its newest value and the oldest drops out.

xgboost is imported only inside the methods that train or run a booster. A fitted model is saved
as the booster's own JSON (``Booster.save_raw("json")``), a safe format that reloads to
bit-identical forecasts; no pickle.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from marketcast.errors import ModelError
from marketcast.models.base import Capabilities, Forecaster, check_is_fitted
from marketcast.models.features import available_cores, normalised_windows

__all__ = ["XGBoostForecaster", "normalised_windows", "available_cores", "import_xgboost"]


def import_xgboost():
    """Import xgboost with OpenMP's *passive* wait policy, unless the environment sets one.

    XGBoost bundles its own OpenMP runtime, which reads ``OMP_WAIT_POLICY`` once, when the
    library loads. With the default (active, spinning) policy, threads that share their cores
    with other busy processes wait for each other at every one of the thousands of barriers of
    a fit: measured here, 2 threads on 2 shared cores took 20-55 s for a fit that takes 1.1 s
    on one thread; with the passive policy 1.2-1.8 s. The variable is set only around the
    import and removed again, so no other library sees it. Results do not depend on the thread
    count (checked: identical predictions with 1 and 2 threads).
    """
    import sys

    if "xgboost" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        import xgboost

        return xgboost
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import xgboost
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)
    return xgboost


class XGBoostForecaster(Forecaster):
    """Gradient-boosted trees on normalised windows of closes (Stock-X's XGBoost comparison model).

    Parameters
    ----------
    window : int
        Closes per input window (100 in Stock-X; 21, the VIX paper's LSTM lag count, also works).
    n_estimators, max_depth, learning_rate, subsample, colsample_bytree : XGBoost settings
        300 trees of depth 4 at rate 0.05, each on 80% of the rows and 80% of the columns.
    seed : int
        ``random_state`` of the row and column subsampling; the same seed gives the same model.
    n_jobs : int, optional
        Threads; by default the cores this process may use. Results do not depend on it. On a
        busy machine whose cores are shared, one thread can be much faster: every OpenMP
        barrier of a multi-threaded fit then waits for the scheduler (see :func:`import_xgboost`).

    The objective is squared error and trees are grown with the ``hist`` method. ``min_history``
    is ``window + 1`` (one training window); a useful model needs a few hundred.
    """

    name = "xgboost"
    capabilities = Capabilities(recursive=True, stochastic=True)

    def __init__(
        self,
        window: int = 100,
        n_estimators: int = 300,
        max_depth: int = 4,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        seed: int = 0,
        n_jobs: int | None = None,
    ):
        self.window = window
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.seed = seed
        self.n_jobs = n_jobs

    def min_history(self, horizon: int = 1) -> int:
        return int(self.window) + 1

    def _regressor(self):
        xgboost = import_xgboost()

        if int(self.n_estimators) < 1 or int(self.max_depth) < 1:
            raise ModelError("xgboost: n_estimators and max_depth must be at least 1")
        for label in ("subsample", "colsample_bytree"):
            if not 0.0 < float(getattr(self, label)) <= 1.0:
                raise ModelError(f"xgboost: {label} must lie in (0, 1], got {getattr(self, label)}")
        if not float(self.learning_rate) > 0:
            raise ModelError(f"xgboost: learning_rate must be positive, got {self.learning_rate}")
        return xgboost.XGBRegressor(
            n_estimators=int(self.n_estimators),
            max_depth=int(self.max_depth),
            learning_rate=float(self.learning_rate),
            subsample=float(self.subsample),
            colsample_bytree=float(self.colsample_bytree),
            objective="reg:squarederror",
            tree_method="hist",
            random_state=self.seed,
            n_jobs=int(self.n_jobs) if self.n_jobs is not None else available_cores(),
        )

    def _train(self, X: np.ndarray, y: np.ndarray) -> None:
        reg = self._regressor()
        reg.fit(X, y)
        self.booster_ = reg.get_booster()

    def _fit(self, y: pd.Series) -> None:
        if int(self.window) < 1:
            raise ModelError(f"xgboost: window must be at least 1, got {self.window}")
        values = y.to_numpy(dtype=np.float64)
        X, target, _ = normalised_windows(values, int(self.window))
        self._train(X, target)
        self.tail_ = values[-int(self.window) :].copy()

    def _condition(self, y: pd.Series) -> None:
        # Windows are normalised to their first value, so the trees apply to any price level.
        if len(y) < int(self.window):
            raise ModelError(f"xgboost: {len(y)} rows, but a window of {self.window} is needed to forecast")
        self.tail_ = y.to_numpy(dtype=np.float64)[-int(self.window) :].copy()

    def fit_windows(self, X: np.ndarray, y: np.ndarray):
        """Train on prepared normalised windows (e.g. the Stock-X shuffled 80/20 split); returns ``self``.

        Only :meth:`predict_windows` works afterwards: there is no last window to recurse from.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != int(self.window):
            raise ModelError(f"xgboost: windows must have shape (n, {self.window}), got {X.shape}")
        self._train(X, np.asarray(y, dtype=np.float64))
        return self

    def predict_windows(self, X: np.ndarray) -> np.ndarray:
        """Next value, on each window's normalised scale, for every row of ``X``."""
        check_is_fitted(self, ("booster_",), what="predict_windows()")
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return np.asarray(self.booster_.inplace_predict(X), dtype=np.float64).reshape(-1)

    def _predict(self, horizon: int) -> np.ndarray:
        w = int(self.window)
        buf = np.concatenate([self.tail_, np.zeros(horizon)])
        for h in range(horizon):
            win = buf[h : h + w]
            buf[w + h] = self.predict_windows((win / win[0])[None, :])[0] * win[0]
        return buf[w:]

    def one_step_predictions(self, y: pd.Series) -> pd.Series:
        """One-step-ahead forecasts of every ``y[t]`` (t >= window) from the actual previous window."""
        X, _, base = normalised_windows(np.asarray(y, dtype=np.float64), int(self.window))
        index = y.index[int(self.window) :] if isinstance(y, pd.Series) else None
        return pd.Series(self.predict_windows(X) * base, index=index, name=f"{self.name}_fitted")

    # --- persistence: the booster's own JSON (text in meta), the last window as an array ---

    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, ("booster_",), what="saving")
        # The booster in XGBoost's own JSON format, written as its own file by persistence.
        meta: dict[str, Any] = {"files": {"booster.json": bytes(self.booster_.save_raw("json")).decode("utf-8")}}
        if hasattr(self, "n_obs_"):
            meta.update(
                n_obs=int(self.n_obs_),
                first_date=pd.Timestamp(self.first_date_).isoformat(),
                last_date=pd.Timestamp(self.last_date_).isoformat(),
            )
        return {"tail": getattr(self, "tail_", np.empty(0))}, meta

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        xgboost = import_xgboost()
        booster = xgboost.Booster()
        booster.load_model(bytearray(meta["files"]["booster.json"].encode("utf-8")))
        booster.set_param({"nthread": int(self.n_jobs) if self.n_jobs is not None else available_cores()})
        self.booster_ = booster
        self.tail_ = np.asarray(arrays["tail"], dtype=np.float64)
        if "n_obs" in meta:
            self.n_obs_ = int(meta["n_obs"])
            self.first_date_ = pd.Timestamp(meta["first_date"])
            self.last_date_ = pd.Timestamp(meta["last_date"])
