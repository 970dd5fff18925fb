"""How the neural models train: one set of settings shared by every network model.

The LSTM of the VIX paper, the Stock-X CNN-LSTM and its comparison models, and the two-LSTM
interval model all train with Adam on the MSE; :class:`TrainingSettings` holds the settings they
share, checks them in one place, and is what the training loop reads. The settings stay plain
hyper-parameters of each model (``LSTMForecaster(epochs=20)``, ``-p epochs=20``, the saved
``model.json``), scikit-learn style; ``model.training`` gathers them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from marketcast.errors import ModelError

__all__ = ["TrainingSettings"]


@dataclass(frozen=True)
class TrainingSettings:
    """Training settings of a neural model.

    Parameters
    ----------
    epochs, batch_size : int
        Passes over the samples, and samples per Adam step.
    learning_rate : float
        Adam's step size (Keras' and torch's default 1e-3).
    validation : float
        Share of the samples (the latest ones) held out to monitor the loss.
    patience : int, optional
        Early stopping: stop when the validation loss has not improved for this many epochs and
        keep the best weights.
    warm_start : bool
        A refit continues from the current weights (the Stock-X "train again" experiment).
    seed : int
        Seeds weights, batch order and dropout; the same seed gives the same forecasts.
    device : str
        ``"auto"`` (the GPU when present), ``"cpu"`` or ``"cuda"``.
    """

    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-3
    validation: float = 0.0
    patience: int | None = None
    warm_start: bool = False
    seed: int = 0
    device: str = "auto"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, model: Any) -> TrainingSettings:
        """The settings among ``model``'s hyper-parameters; those it does not take keep their defaults."""
        return cls(**{name: getattr(model, name) for name in cls.names() if hasattr(model, name)})

    def check(self, name: str) -> TrainingSettings:
        """Raise :class:`~marketcast.errors.ModelError` naming ``name`` for settings that cannot train."""
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise ModelError(f"{name}: epochs and batch_size must be at least 1")
        if not 0.0 <= float(self.validation) < 1.0:
            raise ModelError(f"{name}: validation must be a share in [0, 1)")
        if self.patience is not None and not self.validation:
            raise ModelError(f"{name}: early stopping (patience) needs a validation share")
        return self

    def as_params(self) -> dict[str, Any]:
        """The settings as keyword hyper-parameters of a model."""
        return asdict(self)
