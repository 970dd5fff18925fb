"""Settings that hold for one run of the command line (or a block of library code), kept light to import."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["INTRADAY_MODES", "INTRADAY"]

#: How intraday rows (several per day: minute bars) are read: refused, or each day's last row kept.
INTRADAY_MODES = ("refuse", "close")
#: The mode :func:`marketcast.data.read_prices` uses when given none (``marketcast --daily-closes``).
INTRADAY: ContextVar[str] = ContextVar("marketcast_intraday", default="refuse")
