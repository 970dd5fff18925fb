"""marketcast: fast, honest forecasts of financial time series.

Prices, price intervals, volatility and risk (VaR, CVaR, MAD), with the methods of
Thavaneswaran et al. (VIX paper) and Aadhitya et al. (Stock-X CNN-LSTM paper).

>>> import marketcast as mc
>>> prices = mc.load_prices("VIX_History.csv")                       # doctest: +SKIP
>>> vol = mc.volatility(prices, models=["dd-ewma", "garch"])          # doctest: +SKIP

The functions of :mod:`marketcast.api` are exported here lazily: importing this package is
cheap (``marketcast --version`` loads no pandas, torch, prophet or xgboost); the library loads
on the first call.

Four of the front door's names are also the names of submodules (``marketcast.volatility``,
``marketcast.backtest``, ``marketcast.models``, ``marketcast.report``), and Python binds an
imported submodule onto its package under its name. Those submodules are therefore made
*callable*: ``mc.volatility(...)`` calls :func:`marketcast.api.volatility`, while
``mc.volatility.rolling_volatility`` and ``import marketcast.models.registry`` keep working.
"""

from __future__ import annotations

import importlib
import sys
import types

from marketcast._version import __version__

#: The front door: name -> module that defines it (all in :mod:`marketcast.api` for now).
_EXPORTS = {
    "load_prices": "marketcast.api",
    "check_data": "marketcast.api",
    "volatility": "marketcast.api",
    "backtest": "marketcast.api",
    "forecast": "marketcast.api",
    "train": "marketcast.api",
    "get_model": "marketcast.api",
    "save_model": "marketcast.api",
    "load_model": "marketcast.api",
    "models": "marketcast.api",
    "report": "marketcast.api",
    "risk": "marketcast.universe",
}
#: Front-door names that are also submodules: those submodules become callable.
_FACES = frozenset({"volatility", "backtest", "models", "report"})

__all__ = ["__version__", *_EXPORTS]


def _api_function(name: str):
    return getattr(importlib.import_module(_EXPORTS[name]), name)


class _CallableModule(types.ModuleType):
    """A submodule whose name is also a front-door function: calling it calls the function."""

    def __call__(self, *args, **kwargs):
        return _api_function(self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(types.ModuleType):
    """The ``marketcast`` package: turns a face submodule callable when the import system binds it."""

    def __setattr__(self, name: str, value) -> None:
        if name in _FACES and isinstance(value, types.ModuleType) and not isinstance(value, _CallableModule):
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in _FACES:
        return importlib.import_module(f"{__name__}.{name}")  # binds the (now callable) module here
    if name in _EXPORTS:
        value = _api_function(name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
