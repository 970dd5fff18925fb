"""Neural price forecasters: the VIX paper's LSTM and the Stock-X CNN-LSTM with its comparison models.

Two framings of a price series as a supervised problem:

* **lags** (:class:`LSTMForecaster`, VIX paper II.B): inputs are the ``lags`` previous closes,
  standardised with the mean and SD of the training rows only; the target is the next close.
* **normalised windows** (:class:`CNNLSTMForecaster` and the Stock-X comparison models):
  each window of ``window`` closes is divided by its first close, and the target is the next
  close on the same scale (Aadhitya et al., section IV.A), so one network serves any price level.

Multi-step forecasts are recursive: each forecast is fed back as the newest input. torch is
imported only when a network is built, trained or run.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from marketcast.errors import ModelError
from marketcast.models.base import Capabilities, Forecaster, check_is_fitted
from marketcast.models.features import lagged_samples, normalised_windows
from marketcast.models.training import TrainingSettings

__all__ = [
    "LSTMForecaster",
    "CNNLSTMForecaster",
    "WindowLSTMForecaster",
    "GRUForecaster",
    "LSTMGRUForecaster",
    "normalised_windows",
    "lagged_samples",
]


class _NeuralForecaster(Forecaster):
    """Shared plumbing: device, seeding, training history, saving weights."""

    capabilities = Capabilities(recursive=True, stochastic=True)
    # Set by every subclass's __init__ (hyper-parameters) and by training; declared for the plumbing here.
    epochs: int
    batch_size: int
    learning_rate: float
    validation: float
    patience: int | None
    warm_start: bool
    seed: int
    device: str
    history_: dict[str, list[float]]

    def progress_units(self) -> int:
        return int(self.epochs)

    def _device(self):
        from marketcast.models._nets import resolve_device

        return resolve_device(self.device)

    @property
    def training(self) -> TrainingSettings:
        """The model's training settings (its hyper-parameters ``epochs``, ``batch_size``, ...)."""
        return TrainingSettings.of(self)

    def _train(self, X: np.ndarray, y: np.ndarray) -> None:
        """Build (or, with ``warm_start``, keep) the network and train it on ``(X, y)``."""
        from marketcast.models import _nets

        s = self.training.check(self.name)
        device = self._device()
        _nets.use_all_cores()
        keep = bool(s.warm_start) and getattr(self, "net_", None) is not None
        with _nets.seeded(s.seed, device):
            if not keep:
                self.net_ = self._build_net().to(device)
            try:
                history = _nets.train_regressor(
                    self.net_,
                    X,
                    y,
                    epochs=int(s.epochs),
                    batch_size=int(s.batch_size),
                    learning_rate=float(s.learning_rate),
                    validation=float(s.validation),
                    patience=s.patience,
                    seed=int(s.seed),
                    device=device,
                    on_epoch=self._tick,
                )
            except _nets.Diverged as exc:
                self.net_ = None  # weights that diverged are never kept, saved or used
                raise ModelError(
                    f"{self.name}: {exc}; lower learning_rate (now {float(s.learning_rate):g}, "
                    f"e.g. -p learning_rate={float(s.learning_rate) / 10:g})"
                ) from None
        # The epoch whose weights the network ends with: the best validation epoch when early
        # stopping restored it, else the last; counted over the whole history of a warm start.
        done_before = len(self.history_.get("loss", [])) if keep and getattr(self, "history_", None) else 0
        run_best = (
            int(np.argmin(history["val_loss"]))
            if s.patience is not None and history.get("val_loss")
            else len(history["loss"]) - 1
        )
        self.best_epoch_ = done_before + run_best
        if keep and getattr(self, "history_", None):
            history = {k: list(self.history_.get(k, [])) + v for k, v in history.items()}
        self.history_ = history

    def _net_outputs(self, X: np.ndarray) -> np.ndarray:
        from marketcast.models._nets import predict_batches

        return predict_batches(self.net_, X, self._device())

    def n_parameters(self) -> int:
        """Number of trainable parameters of the network (built without training if need be)."""
        net = getattr(self, "net_", None) or self._build_net()
        return int(sum(p.numel() for p in net.parameters() if p.requires_grad))

    def describe_network(self) -> str:
        net = getattr(self, "net_", None) or self._build_net()
        return str(net)

    # persistence
    def _net_state(self) -> dict[str, np.ndarray]:
        from marketcast.models._nets import to_numpy_state

        return {f"net.{k}": v for k, v in to_numpy_state(self.net_).items()}

    def _load_net(self, arrays: dict[str, np.ndarray]) -> None:
        from marketcast.models._nets import from_numpy_state

        self.net_ = self._build_net().to(self._device())
        from_numpy_state(self.net_, {k[4:]: v for k, v in arrays.items() if k.startswith("net.")}, self._device())

    def _build_net(self):
        raise NotImplementedError


class LSTMForecaster(_NeuralForecaster):
    """LSTM price forecaster of the VIX paper (section II.B, Table I).

    ``lags`` previous closes, standardised with the training rows' mean and SD, feed an
    LSTM(``units``); its last hidden state goes through a dense layer of ``dense_units`` and a
    linear output. Adam on the MSE, ``batch_size`` 32, ``epochs`` 50. Forecasts are recursive.

    Parameters
    ----------
    lags, units, dense_units : int
        21, 128 and 64 in Table I.
    dense_activation : {"linear", "relu"}
        Keras' ``layer_dense`` default is linear.
    epochs, batch_size, learning_rate : training settings (Adam's default rate, 1e-3).
    validation : float
        Share of the samples (the latest ones) held out to monitor the loss.
    patience : int, optional
        Early stopping: stop when the validation loss has not improved for this many epochs and
        keep the best weights.
    warm_start : bool
        Refit continues from the current weights (the Stock-X "train again" experiment); the
        scaling is re-estimated on the new rows.
    seed : int
        Seeds weights, batch order and dropout; the same seed gives the same forecasts.
    device : str
        ``"auto"`` (the GPU when present), ``"cpu"`` or ``"cuda"``.

    Notes
    -----
    On the CPU each training step (forward, backward and Adam) runs in one call to a kernel that
    gives each thread a block of the batch's rows for the whole step (``models/_lstm_kernel.c``;
    on 2 cores a Table I fit takes about 0.4 of the time it takes through autograd, ``nn.LSTM`` and
    ``torch.optim.Adam``). Results equal those to float rounding; ``MARKETCAST_KERNELS=off``
    trains through them instead. Predictions always run through ``torch.nn.LSTM``.
    """

    name = "lstm"

    def __init__(
        self,
        lags: int = 21,
        units: int = 128,
        dense_units: int = 64,
        dense_activation: str = "linear",
        epochs: int = 50,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        validation: float = 0.0,
        patience: int | None = None,
        warm_start: bool = False,
        scaling: str = "standard",
        seed: int = 0,
        device: str = "auto",
    ):
        self.lags = lags
        self.scaling = scaling
        self.units = units
        self.dense_units = dense_units
        self.dense_activation = dense_activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation = validation
        self.patience = patience
        self.warm_start = warm_start
        self.seed = seed
        self.device = device

    def min_history(self, horizon: int = 1) -> int:
        return int(self.lags) + 2

    def _build_net(self):
        from marketcast.models._nets import LSTMNet

        if self.dense_activation not in ("linear", "relu"):
            raise ModelError(f"lstm: dense_activation must be 'linear' or 'relu', not '{self.dense_activation}'")
        return LSTMNet(int(self.units), int(self.dense_units), self.dense_activation)

    def _fit(self, y: pd.Series) -> None:
        values = y.to_numpy(dtype=np.float64)
        if self.scaling == "standard":
            self.loc_, spread = float(values.mean()), float(values.std())
        elif self.scaling == "minmax":
            self.loc_, spread = float(values.min()), float(values.max() - values.min())
        else:
            raise ModelError(f"lstm: scaling must be 'standard' or 'minmax', not '{self.scaling}'")
        self.scale_ = spread if spread > 0 else 1.0
        z = (values - self.loc_) / self.scale_
        X, target = lagged_samples(z, int(self.lags))
        self._train(X[:, :, None], target)
        self.tail_ = z[-int(self.lags) :].copy()

    def _predict(self, horizon: int) -> np.ndarray:
        import torch

        lags = int(self.lags)
        buf = np.concatenate([self.tail_, np.zeros(horizon)])
        device = self._device()
        self.net_.eval()
        with torch.inference_mode():
            for h in range(horizon):
                x = torch.as_tensor(buf[h : h + lags], dtype=torch.float32, device=device).reshape(1, lags, 1)
                buf[lags + h] = float(self.net_(x))
        return buf[lags:] * self.scale_ + self.loc_

    def _condition(self, y: pd.Series) -> None:
        # Inputs are scaled with the training rows' mean and SD, as the network learned them.
        self.tail_ = (y.to_numpy(dtype=np.float64)[-int(self.lags) :] - self.loc_) / self.scale_

    def one_step_predictions(self, y: pd.Series) -> pd.Series:
        """One-step-ahead forecasts of ``y[t]`` from the actual ``y[t-lags..t-1]``, for every possible t.

        On the training rows these are the in-sample fitted values the two-LSTM interval
        method needs (VIX paper II.D); dated like the value they forecast.
        """
        values = np.asarray(y, dtype=np.float64)
        z = (values - self.loc_) / self.scale_
        X, _ = lagged_samples(z, int(self.lags))
        pred = self._net_outputs(X[:, :, None]) * self.scale_ + self.loc_
        return pd.Series(pred, index=y.index[int(self.lags) :], name=f"{self.name}_fitted")

    def _get_state(self):
        arrays = self._net_state()
        arrays["tail"] = self.tail_
        return arrays, {"loc": self.loc_, "scale": self.scale_, "history": self.history_}

    def _set_state(self, arrays, meta) -> None:
        self._load_net(arrays)
        self.tail_ = np.asarray(arrays["tail"], dtype=np.float64)
        self.loc_, self.scale_ = float(meta["loc"]), float(meta["scale"])
        self.history_ = meta.get("history", {})


class _WindowForecaster(_NeuralForecaster):
    """Base of the Stock-X models: normalised windows of ``window`` closes (see module docstring)."""

    def __init__(
        self,
        window: int = 100,
        epochs: int = 40,
        batch_size: int = 40,
        learning_rate: float = 1e-3,
        validation: float = 0.0,
        patience: int | None = None,
        warm_start: bool = False,
        seed: int = 0,
        device: str = "auto",
    ):
        self.window = window
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation = validation
        self.patience = patience
        self.warm_start = warm_start
        self.seed = seed
        self.device = device

    def min_history(self, horizon: int = 1) -> int:
        return int(self.window) + 2

    def _fit(self, y: pd.Series) -> None:
        values = y.to_numpy(dtype=np.float64)
        X, target, _ = normalised_windows(values, int(self.window))
        self._train(X, target)
        self.tail_ = values[-int(self.window) :].copy()

    def fit_windows(self, X: np.ndarray, y: np.ndarray, *, progress=None):
        """Train on prepared normalised windows (e.g. a shuffled split, for the Stock-X protocol)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != int(self.window):
            raise ModelError(f"{self.name}: windows must have shape (n, {self.window}), got {X.shape}")
        self._progress = progress
        try:
            self._train(X, np.asarray(y, dtype=np.float64))
        finally:
            self._progress = None
        return self

    def predict_windows(self, X: np.ndarray) -> np.ndarray:
        """Next value (on each window's normalised scale) for every row of ``X``."""
        check_is_fitted(self, ("net_",), what="predict_windows()")
        return self._net_outputs(np.asarray(X, dtype=np.float64))

    def _predict(self, horizon: int) -> np.ndarray:
        w = int(self.window)
        buf = np.concatenate([self.tail_, np.zeros(horizon)])
        for h in range(horizon):
            win = buf[h : h + w]
            buf[w + h] = float(self._net_outputs((win / win[0])[None, :])[0]) * win[0]
        return buf[w:]

    def _condition(self, y: pd.Series) -> None:
        self.tail_ = y.to_numpy(dtype=np.float64)[-int(self.window) :].copy()

    def one_step_predictions(self, y: pd.Series) -> pd.Series:
        """One-step-ahead forecasts of every ``y[t]`` (t >= window) from the actual previous window."""
        X, _, base = normalised_windows(np.asarray(y, dtype=np.float64), int(self.window))
        return pd.Series(self._net_outputs(X) * base, index=y.index[int(self.window) :], name=f"{self.name}_fitted")

    def _get_state(self):
        arrays = self._net_state()
        arrays["tail"] = getattr(self, "tail_", np.empty(0))
        return arrays, {"history": getattr(self, "history_", {})}

    def _set_state(self, arrays, meta) -> None:
        self._load_net(arrays)
        self.tail_ = np.asarray(arrays["tail"], dtype=np.float64)
        self.history_ = meta.get("history", {})


class CNNLSTMForecaster(_WindowForecaster):
    """The Stock-X CNN-LSTM (Aadhitya et al., Fig. 3-4) on normalised 100-day windows.

    TimeDistributed Conv1D 64/128/64 (kernel 3, ReLU) each followed by max-pooling 2, flatten,
    two Bidirectional LSTM(100) each followed by dropout 0.5, a linear dense output; Adam on
    the MSE, batch 40, 40 epochs.

    Parameter count: 883,401 trainable parameters, exactly those of the Keras model
    (conv 256 + 24,704 + 24,640, BiLSTMs 592,800 + 240,800, dense 201). The paper prints
    883,481, with 24,784 for the second convolution, whose true count is
    3 x 64 x 128 + 128 = 24,704: the printed figures confuse 0 and 8 (its BiLSTM rows read
    592,000 and 240,000), so 883,481 is 883,401 misprinted, a 0.009% difference. The LSTMs
    see a sequence of one step, which :class:`~marketcast.models._nets.OneStepBiLSTM`
    computes exactly with Keras' single bias vector per gate (a stock ``torch.nn.LSTM`` would
    add a second bias, +1,600 parameters).

    On the CPU each training step (forward, backward, dropout and Adam) runs in one call to a
    kernel that gives each thread a block of the batch's rows (``models/_cnn_lstm_kernel.c``;
    on 2 cores an epoch takes about 0.55 of the time through autograd). It draws the dropout
    masks as autograd's path does, so results equal that path's to float rounding;
    ``MARKETCAST_KERNELS=off`` trains through autograd instead.
    """

    name = "cnn-lstm"

    def __init__(
        self,
        window: int = 100,
        filters: tuple[int, ...] = (64, 128, 64),
        kernel: int = 3,
        units: int = 100,
        dropout: float = 0.5,
        epochs: int = 40,
        batch_size: int = 40,
        learning_rate: float = 1e-3,
        validation: float = 0.0,
        patience: int | None = None,
        warm_start: bool = False,
        seed: int = 0,
        device: str = "auto",
    ):
        super().__init__(
            window=window,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation=validation,
            patience=patience,
            warm_start=warm_start,
            seed=seed,
            device=device,
        )
        self.filters = tuple(filters)
        self.kernel = kernel
        self.units = units
        self.dropout = dropout

    def _build_net(self):
        from marketcast.models._nets import CNNLSTMNet

        try:
            return CNNLSTMNet(
                int(self.window),
                tuple(int(f) for f in self.filters),
                int(self.kernel),
                int(self.units),
                float(self.dropout),
            )
        except ValueError as exc:
            raise ModelError(f"cnn-lstm: {exc}") from None


class _RecurrentWindowForecaster(_WindowForecaster):
    cells: ClassVar[tuple[str, ...]] = ("lstm", "lstm")

    def __init__(
        self,
        window: int = 100,
        units: int = 100,
        dropout: float = 0.2,
        epochs: int = 40,
        batch_size: int = 40,
        learning_rate: float = 1e-3,
        validation: float = 0.0,
        patience: int | None = None,
        warm_start: bool = False,
        seed: int = 0,
        device: str = "auto",
    ):
        super().__init__(
            window=window,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation=validation,
            patience=patience,
            warm_start=warm_start,
            seed=seed,
            device=device,
        )
        self.units = units
        self.dropout = dropout

    def _build_net(self):
        from marketcast.models._nets import WindowRNNNet

        return WindowRNNNet(self.cells, int(self.units), float(self.dropout))


class WindowLSTMForecaster(_RecurrentWindowForecaster):
    """Two LSTM(100) layers with dropout on normalised windows: the Stock-X LSTM comparison (Table IV)."""

    name = "window-lstm"
    cells = ("lstm", "lstm")


class GRUForecaster(_RecurrentWindowForecaster):
    """Two GRU(100) layers with dropout on normalised windows (Stock-X comparison)."""

    name = "gru"
    cells = ("gru", "gru")


class LSTMGRUForecaster(_RecurrentWindowForecaster):
    """An LSTM(100) layer then a GRU(100) layer on normalised windows (Stock-X comparison)."""

    name = "lstm-gru"
    cells = ("lstm", "gru")
