"""The universe job: VaR and ES of every asset of an index and of the portfolio, with backtests.

:func:`risk` (``marketcast.risk``; ``marketcast risk`` on the command line) resolves a universe
(:mod:`~marketcast.universe.sources`), computes each asset in a worker
(:mod:`~marketcast.universe.work`) on Dask or in-process (:mod:`~marketcast.universe.engine`),
combines the parts and the portfolio (:mod:`~marketcast.universe.outputs`) and writes the
universe page (:mod:`~marketcast.universe.report`).
"""

from marketcast.universe.job import RiskResult, risk
from marketcast.universe.settings import RiskSettings
from marketcast.universe.sources import AssetSpec, resolve_universe

__all__ = ["risk", "RiskResult", "RiskSettings", "AssetSpec", "resolve_universe"]
