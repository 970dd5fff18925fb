"""Loading and checking price data: ``load_prices``, ``check_data``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from marketcast.errors import DataError, MarketcastWarning

if TYPE_CHECKING:
    import pandas as pd

    from marketcast.data.quality import QualityReport


def load_prices(data, *, column: str | None = None, adjust_splits: bool | Sequence[str] = False) -> pd.Series:
    """Read one daily price series.

    Parameters
    ----------
    data : str, Path or Series
        A price file as published (CBOE, Kaggle NIFTY-50 and ``*.us.txt``, Alpha Vantage and Yahoo
        exports; CSV, TXT or Parquet), or ``SOURCE:SYMBOL`` (``yahoo:AAPL``) fetched earlier into
        the local store with ``marketcast data fetch``. A Series is validated and returned.
    column : str, optional
        The price column (default: the close). ``--column``.
    adjust_splits : bool or list of str
        ``True`` (``--adjust-splits``): divide prices before each split or bonus issue the source
        reports by its ratio. Nothing is adjusted on suspicion alone: a file that reports no
        splits but shows suspected ones is refused with them listed, to be confirmed as
        ``["2014-11-20:10", ...]`` (``--split DATE:RATIO``), which adjusts for those and the
        reported ones. A note says what was adjusted.

    Returns
    -------
    Series
        Positive float prices on a sorted ``DatetimeIndex``; ``attrs["source"]`` names the file,
        ``attrs["column"]`` the column, ``attrs["skipped_missing"]`` rows left out for lack of a
        price (if any).

    Warns
    -----
    MarketcastWarning
        When rows without a price were left out, and what splits were adjusted for.

    Raises
    ------
    DataError
        The file cannot be read, has no such column, holds non-positive prices, or has suspected
        splits that ``adjust_splits=True`` will not adjust without confirmation.
    """
    from marketcast.data import as_series, resolve_input

    if _is_series(data):
        if column is not None or adjust_splits:
            raise DataError("column and adjust_splits apply to files, not to a Series already loaded")
        return as_series(data)
    if not isinstance(data, str | Path):
        raise DataError(f"data must be a file path, SOURCE:SYMBOL or a Series, not {type(data).__name__}")
    series = resolve_input(data, column=column, adjust_splits=adjust_splits)
    for note in series.attrs.get("notes", []):  # e.g. intraday rows taken to daily closes
        warnings.warn(note, MarketcastWarning, stacklevel=2)
    skipped = series.attrs.get("skipped_missing")
    if skipped:  # a return then spans the days around the hole
        warnings.warn(
            f"{series.attrs.get('source')}: skipped {skipped['rows']} row(s) with no "
            f"'{series.attrs.get('column')}' value, first on {skipped['first']} ({skipped['where']})",
            MarketcastWarning,
            stacklevel=2,
        )
    return series


def _is_series(value) -> bool:
    return type(value).__name__ == "Series" and type(value).__module__.startswith("pandas")


def check_data(data, *, column: str | None = None) -> QualityReport:
    """The data-quality report of a price file (``marketcast data check``).

    Parameters
    ----------
    data : str or Path
        A price file.
    column : str, optional
        The price column a model would use (default: the close).

    Returns
    -------
    QualityReport
        Rows, date range, gaps, missing values, non-positive prices, inconsistent bars and
        suspected splits; ``problems`` lists what to act on, ``as_dict()`` is what ``--json``
        prints, and ``frame`` has one row per finding (``check, column, date, line, value,
        detail``).
    """
    from marketcast.data import check_quality, read_prices

    price_data = read_prices(data)
    for note in price_data.notes:
        warnings.warn(note, MarketcastWarning, stacklevel=2)
    return check_quality(price_data, column)


# --------------------------------------------------------------------------- models


def _prices(data, column, adjust_splits) -> pd.Series:
    return load_prices(data, column=column, adjust_splits=adjust_splits)
