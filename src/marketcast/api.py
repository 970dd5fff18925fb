"""The Python front door: what every command of ``marketcast`` does, as one function each.

>>> import marketcast as mc
>>> prices = mc.load_prices("VIX_History.csv")                                    # doctest: +SKIP
>>> vol = mc.volatility(prices, models=["dd-ewma", "garch"], start="2021-05-18")   # doctest: +SKIP
>>> fc = mc.forecast(prices, model="sma", horizon=5, levels=(0.9,))               # doctest: +SKIP

Names, parameters and defaults are those of the command line's options (``--from`` is
``start``, ``-p KEY=VALUE`` is ``params={KEY: VALUE}``, ``--jobs`` is ``jobs``); every function
returns pandas objects whose columns and numbers are those of the command's ``--out`` file. The
command line, the service and the universe job call these functions and hold no model logic.
Wrong input raises a :class:`~marketcast.errors.MarketcastError` (the command line exits with
status 2, the service answers 4xx).
"""

from marketcast._api.common import ProgressFactory
from marketcast._api.data import check_data, load_prices
from marketcast._api.evaluation import backtest, backtest_summary, report, volatility
from marketcast._api.forecasting import forecast, train
from marketcast._api.models import get_model, load_model, models, save_model

__all__ = [
    "load_prices",
    "check_data",
    "volatility",
    "backtest",
    "backtest_summary",
    "forecast",
    "train",
    "get_model",
    "save_model",
    "load_model",
    "models",
    "report",
    "ProgressFactory",
]
