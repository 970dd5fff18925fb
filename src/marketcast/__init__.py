"""marketcast: fast, honest forecasts of financial time series.

Prices, price intervals, volatility and risk (VaR, CVaR, MAD), with the methods of
Thavaneswaran et al. (VIX paper) and Aadhitya et al. (Stock-X CNN-LSTM paper).
Importing this package is cheap: heavy libraries load inside the code that needs them.
"""

from marketcast._version import __version__

__all__ = ["__version__"]
