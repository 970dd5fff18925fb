"""Real data that ships with a dependency, for the demo and offline examples."""

from __future__ import annotations

import pandas as pd

from marketcast.data.series import as_series

__all__ = ["bundled_vix", "bundled_sp500"]


def bundled_vix() -> pd.Series:
    """CBOE VIX daily closes bundled with ``arch`` (``arch.data.vix``), holidays dropped."""
    from arch.data import vix

    s = vix.load()["vix"].dropna()
    s.index = pd.DatetimeIndex(s.index, name="date")
    s.name = "VIX"
    s.attrs = {"source": "arch.data.vix"}
    return as_series(s)


def bundled_sp500() -> pd.Series:
    """S&P 500 daily adjusted closes bundled with ``arch`` (``arch.data.sp500``)."""
    from arch.data import sp500

    s = sp500.load()["Adj Close"].dropna()
    s.index = pd.DatetimeIndex(s.index, name="date")
    s.name = "SP500"
    s.attrs = {"source": "arch.data.sp500"}
    return as_series(s)
