"""The universe job's settings: checked once, before any work, and hashed to name its parts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import pandas as pd

from marketcast.errors import DataError, ModelError

__all__ = ["RiskSettings", "settings_hash"]


@dataclass(frozen=True)
class RiskSettings:
    """What every asset's work depends on (the universe and the engine are not part of it).

    Parameters
    ----------
    models
        Volatility model names (registry names, e.g. ``dd-ewma``, ``garch``).
    window
        Log returns before each forecast day that the forecast is fitted on.
    days
        Trading days to forecast and backtest, the last ones up to ``to``; the live next
        business day is added.
    tails
        Tail probabilities of VaR and CVaR, each in (0, 1).
    to
        Last day of data used (ISO date); ``None`` for all of it.
    refit_every
        Refit parametric models (GARCH) every K days and filter in between (1: daily).
    notional
        Position size of each asset's VaR and CVaR (and of the portfolio's).
    n_sims, seed
        Simulations of the Acerbi-Szekely Z2 p-value and their seed.
    """

    models: tuple[str, ...] = ("dd-ewma", "garch")
    window: int = 504
    days: int = 250
    tails: tuple[float, ...] = (0.01, 0.05)
    to: str | None = None
    refit_every: int = 1
    notional: float = 1.0
    n_sims: int = 10_000
    seed: int = 0
    column: str | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(str(m).strip().lower() for m in self.models))
        object.__setattr__(self, "tails", tuple(float(t) for t in self.tails))
        if self.to is not None:
            try:
                object.__setattr__(self, "to", pd.Timestamp(self.to).date().isoformat())
            except (ValueError, TypeError):
                raise DataError(f"--to: '{self.to}' is not a date (use YYYY-MM-DD)") from None

    def check(self) -> RiskSettings:
        """Raise a one-line :class:`~marketcast.errors.MarketcastError` for any bad setting."""
        from marketcast.models.registry import get_model

        if not self.models:
            raise ModelError("--models: no models given")
        for name in self.models:
            get_model(name, "volatility")  # unknown names raise a ModelError listing the known ones
        if len(set(self.models)) != len(self.models):
            raise ModelError(f"--models: a model is named twice ({','.join(self.models)})")
        if not self.tails:
            raise DataError("--tail: no tail probabilities given")
        for t in self.tails:
            if not 0.0 < t < 1.0:
                raise DataError(f"--tail: {t:g} is outside (0, 1)")
        if len(set(self.tails)) != len(self.tails):
            raise DataError("--tail: a tail probability is given twice")
        if self.window < 10:
            raise DataError(f"--window must be at least 10 returns, got {self.window}")
        if self.days < 1:
            raise DataError(f"--days must be at least 1, got {self.days}")
        if self.refit_every < 1:
            raise DataError(f"--refit-every must be at least 1, got {self.refit_every}")
        if self.refit_every != 1:
            import inspect

            from marketcast.volatility import rolling_volatility

            if "refit_every" not in inspect.signature(rolling_volatility).parameters:
                raise ModelError("--refit-every: this version refits every day only (use 1)")
        if not self.notional > 0:
            raise DataError(f"--notional must be positive, got {self.notional:g}")
        if self.n_sims < 100:
            raise DataError(f"n_sims must be at least 100, got {self.n_sims}")
        return self

    def as_dict(self) -> dict:
        d = asdict(self)
        d["models"] = list(self.models)
        d["tails"] = list(self.tails)
        return d


def settings_hash(settings: RiskSettings, *extra: str) -> str:
    """A short stable hash of the settings (and ``extra`` strings such as an asset's source)."""
    text = json.dumps([settings.as_dict(), *extra], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
