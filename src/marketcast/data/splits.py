"""Suspected splits and bonus issues, and opt-in adjustment for them.

Unadjusted files (the Kaggle NIFTY-50 set, for one) carry every split and bonus issue as an
overnight fall of the price by a simple ratio: SBIN's 10-for-1 split of 2014-11-20 turns a
close of 2910.50 into an open of 294.75. A model fitted across such a day learns a crash that
never happened, so ``data check`` lists them, with their evidence.

Nothing is adjusted on suspicion alone (an index such as the VIX moves by a split's ratio on a bad
day): ``--adjust-splits`` applies the factors the source reports (Alpha Vantage's ``split cf``),
and a suspected split of a close-only file is applied once the user confirms it
(``--split 2014-11-20:10``, :func:`parse_split`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

__all__ = [
    "CorporateAction",
    "detect_splits",
    "reported_splits",
    "parse_split",
    "adjust_for_splits",
    "COMMON_RATIOS",
]

#: Price ratios of common splits, bonus issues and their reverses (3-for-2 = a 1:2 bonus).
COMMON_RATIOS = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 20.0, 25.0, 50.0, 100.0)
#: A jump is no split when the series has more than this many other daily moves at least half its size.
MAX_ORDINARY_MOVES = 2


@dataclass(frozen=True)
class CorporateAction:
    """A day on which the price level changed by ``ratio`` (previous close / new price)."""

    date: pd.Timestamp
    ratio: float
    observed: float
    kind: str  # 'split', 'reverse split', 'jump' (a market move), 'reported' (by the source), 'confirmed' (by the user)
    reason: str = ""  # why a jump is not taken for a split

    @property
    def label(self) -> str:
        if self.kind == "jump":
            return f"overnight move of {1 / self.observed - 1:+.1%}, {self.reason or 'not a common split ratio'}"
        frac = Fraction(self.ratio).limit_denominator(10)
        simple = abs(float(frac) - self.ratio) < 1e-6 * self.ratio
        how = f"{frac.numerator}-for-{frac.denominator}" if simple else f"factor {self.ratio:.6g}"
        if self.kind == "reported":
            return f"split {how} reported by the source"
        if self.kind == "confirmed":
            return f"split {how} confirmed by the user"
        return f"suspected {self.kind} {how} (observed ratio {self.observed:.3f})"

    @property
    def split_option(self) -> str:
        """The ``--split DATE:RATIO`` that confirms this split (:func:`parse_split` reads it)."""
        return f"--split {self.date.date()}:{self.ratio:g}"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["date"] = self.date.date().isoformat()
        d["label"] = self.label
        return d


def detect_splits(
    frame: pd.DataFrame,
    *,
    tolerance: float = 0.08,
    open_tolerance: float = 0.04,
    min_jump: float = 0.25,
    column: str = "close",
) -> list[CorporateAction]:
    """Find overnight jumps that look like splits or bonus issues.

    The overnight ratio is the previous close over today's open (the close where there is no
    open). A jump counts when ``|log ratio|`` exceeds both ``min_jump`` and eight robust
    standard deviations of the daily log returns; it is a suspected split when it lies within
    ``tolerance`` (in log terms; ``open_tolerance`` where the day has a usable open, which carries
    no part of the day's move) of a ratio in :data:`COMMON_RATIOS` or its reciprocal, and the
    series has at most :data:`MAX_ORDINARY_MOVES` other daily moves at least half as large: a
    split stands out from the series' own moves, while a volatility index moves by a split's
    ratio every few years. Other jumps are returned as ``kind='jump'`` with the reason.
    """
    close = frame[column].to_numpy(dtype=float)
    if len(close) < 3:
        return []
    ref = close
    usable = np.zeros(len(close), dtype=bool)
    if "open" in frame.columns:
        opens = frame["open"].to_numpy(dtype=float)
        usable = np.isfinite(opens) & (opens > 0)
        if {"high", "low"} <= set(frame.columns):  # an open outside the day's range is a bad print
            usable &= (opens <= frame["high"].to_numpy() * 1.0001) & (opens >= frame["low"].to_numpy() * 0.9999)
        ref = np.where(usable, opens, close)
    with np.errstate(divide="ignore", invalid="ignore"):
        overnight = close[:-1] / ref[1:]
        log_jump = np.log(overnight)
        log_cc = np.log(close[:-1] / close[1:])
        daily = np.diff(np.log(np.where(close > 0, close, np.nan)))
    daily = daily[np.isfinite(daily)]
    if daily.size < 2:
        return []
    mad = np.median(np.abs(daily - np.median(daily)))
    threshold = max(min_jump, 8 * 1.4826 * mad)
    actions = []
    log_ratios = np.log(np.asarray(COMMON_RATIOS))
    # A real split moves the close-to-close ratio too; requiring both ignores single bad opens.
    hit = np.isfinite(log_jump) & (np.abs(log_jump) > threshold) & (np.abs(log_cc) > threshold)
    hit &= np.sign(log_jump) == np.sign(log_cc)
    moves = np.abs(log_cc)
    moves[~np.isfinite(moves)] = 0.0
    moves[hit] = 0.0  # the candidates themselves are not ordinary moves
    for i in np.flatnonzero(hit):
        lj = log_jump[i]
        dist = np.abs(np.abs(lj) - log_ratios)
        k = int(np.argmin(dist))
        date = frame.index[i + 1]
        tol = open_tolerance if usable[i + 1] else tolerance
        ordinary = int((moves >= 0.5 * abs(lj)).sum())
        if dist[k] > tol or abs(abs(log_cc[i]) - log_ratios[k]) > 2 * tolerance:
            actions.append(CorporateAction(date, float(overnight[i]), float(overnight[i]), "jump"))
        elif ordinary > MAX_ORDINARY_MOVES:
            reason = f"as large as {ordinary} ordinary daily moves of this series"
            actions.append(CorporateAction(date, float(overnight[i]), float(overnight[i]), "jump", reason))
        else:
            ratio = COMMON_RATIOS[k] if lj > 0 else 1.0 / COMMON_RATIOS[k]
            kind = "split" if lj > 0 else "reverse split"
            actions.append(CorporateAction(date, float(ratio), float(overnight[i]), kind))
    return actions


def reported_splits(frame: pd.DataFrame) -> list[CorporateAction]:
    """Splits the source itself reports (Alpha Vantage's ``split cf`` column)."""
    if "split_factor" not in frame.columns:
        return []
    f = frame["split_factor"]
    hits = f[(f.notna()) & (f > 0) & (f != 1.0)]
    return [CorporateAction(d, float(v), float(v), "reported") for d, v in hits.items()]


def parse_split(text: str) -> tuple[pd.Timestamp, float]:
    """``DATE:RATIO`` (``2014-11-20:10``, ``2021-06-01:3/2``) as a date and the price ratio.

    The ratio is shares after over shares before: prices before ``DATE`` are divided by it.
    """
    from marketcast.errors import DataError

    date, sep, ratio = str(text).rpartition(":")
    try:
        when = pd.Timestamp(date) if sep else None
        value = float(Fraction(ratio.strip())) if sep else math.nan
    except (ValueError, ZeroDivisionError):
        when, value = None, math.nan
    if when is None or pd.isna(when) or not (math.isfinite(value) and value > 0 and value != 1):
        raise DataError(
            f"--split expects DATE:RATIO with a positive ratio other than 1 (2014-11-20:10 or 2021-06-01:3/2), "
            f"got '{text}'"
        )
    return when.normalize(), value


def adjust_for_splits(prices: pd.Series, actions: list[CorporateAction]) -> pd.Series:
    """Divide every price before each split date by its ratio, so the series is continuous.

    Jumps that match no common ratio (``kind == 'jump'``) are left alone: a crash is data.
    """
    factor = pd.Series(1.0, index=prices.index)
    for act in actions:
        if act.kind == "jump":
            continue
        factor[prices.index < act.date] *= act.ratio
    out = prices / factor
    out.name = prices.name
    out.attrs = dict(prices.attrs)
    return out
