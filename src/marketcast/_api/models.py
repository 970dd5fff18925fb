"""The model registry and saved models: ``get_model``, ``models``, ``save_model``, ``load_model``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from marketcast.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

    from marketcast.models.base import Forecaster


def get_model(
    name: str, target: str = "price", *, levels=None, calibration_windows: int = 20, horizon: int = 21, **params: Any
) -> Forecaster:
    """An unfitted model by registry name.

    Parameters
    ----------
    name : str
        A name from :func:`models` (``"lstm"``, ``"garch"``), or ``"ensemble(sma,lstm)"``.
    target : {"price", "volatility"}
        Which name space: ``prophet`` and ``nnar`` are both.
    levels : sequence of float, optional
        Price models only: interval levels the model will be asked for; a model without its own
        predictive distribution is then wrapped in conformal intervals calibrated on
        ``calibration_windows`` backtest windows of up to ``horizon`` steps (``--levels``,
        ``--calibration-windows``, ``--horizon`` of ``marketcast train``).
    **params
        Hyper-parameters (``-p KEY=VALUE``); an ensemble passes on those its members take.

    Returns
    -------
    Forecaster or VolatilityModel
        ``fit`` returns the model; price models then give ``predict``, ``predict_interval`` and
        :meth:`~marketcast.models.base.Forecaster.predict_frame`.

    Raises
    ------
    ModelError
        Unknown model or a parameter no model in it takes.
    """
    if target == "price":
        from marketcast.fitting import price_model

        return price_model(name, params, levels=levels, calibration_windows=calibration_windows, horizon=horizon)
    if target != "volatility":
        raise ModelError(f"target must be 'price' or 'volatility', not '{target}'")
    if levels is not None:
        raise ModelError("levels apply to price models only")
    from marketcast.models.registry import configured_models

    return configured_models([name], "volatility", params)[0]


def models(target: str | None = None) -> pd.DataFrame:
    """The registry as a frame (``marketcast models``).

    Parameters
    ----------
    target : {"price", "volatility"}, optional
        Only the models of this target.

    Returns
    -------
    DataFrame
        ``name, target, summary`` and the default model's
        :class:`~marketcast.models.base.Capabilities`: ``recursive, stochastic,
        native_intervals, split_safe, window_parallel``.
    """
    import pandas as pd

    from marketcast.models.base import Capabilities
    from marketcast.models.registry import get_model as _registered
    from marketcast.models.registry import model_specs

    if target not in (None, "price", "volatility"):
        raise ModelError(f"target must be 'price' or 'volatility', not '{target}'")
    rows = [
        {
            "name": s.name,
            "target": s.target,
            "summary": s.summary,
            **_registered(s.name, s.target).capabilities.as_dict(),
        }
        for s in model_specs(cast(Any, target))  # checked against TARGETS by model_specs
    ]
    return pd.DataFrame(rows, columns=["name", "target", "summary", *Capabilities().as_dict()])


def save_model(
    model: Forecaster,
    path,
    *,
    data: pd.Series | None = None,
    metrics: dict[str, float] | None = None,
    pretrained: list[dict] | None = None,
) -> Path:
    """Save a fitted price model to the directory ``path`` (safetensors + JSON, never pickle).

    Parameters
    ----------
    model : Forecaster
        A fitted price model.
    path : str or Path
        The directory; replaced atomically if it exists.
    data : Series, optional
        The rows the model was trained on: their checksum lets :func:`forecast` with ``load``
        recognise them and forecast from the saved state.
    metrics : dict, optional
        Default: the losses of the epoch whose weights a network keeps.
    pretrained : list of dict, optional
        The ``training`` blocks of the saved models a fine-tuned model started from.
    """
    from marketcast.fitting import training_metrics
    from marketcast.persistence import save_model as _save

    return _save(
        model, path, data=data, metrics=training_metrics(model) if metrics is None else metrics, pretrained=pretrained
    )


def load_model(path) -> Forecaster:
    """Load a model saved by :func:`save_model` or ``marketcast train --save``; files are checked first."""
    from marketcast.persistence import load_model as _load

    return _load(path)


# --------------------------------------------------------------------------- the commands
