"""Loading, checking and storing daily price series.

>>> from marketcast.data import load_series
>>> vix = load_series("VIX_History.csv")          # doctest: +SKIP
"""

from marketcast.data.files import PriceData, read_prices
from marketcast.data.quality import QualityReport, check_quality
from marketcast.data.resolve import resolve_input
from marketcast.data.series import as_series, load_series, require_rows, series_from_data, source_of
from marketcast.data.splits import CorporateAction, adjust_for_splits, detect_splits, reported_splits

__all__ = [
    "PriceData",
    "read_prices",
    "load_series",
    "resolve_input",
    "series_from_data",
    "as_series",
    "require_rows",
    "source_of",
    "QualityReport",
    "check_quality",
    "CorporateAction",
    "detect_splits",
    "reported_splits",
    "adjust_for_splits",
]
