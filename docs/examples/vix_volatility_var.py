# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # VIX volatility and VaR
#
# One-day-ahead volatility forecasts of the VIX from the 504 log returns before each day, by the VIX
# paper's data-driven EWMA and by a GARCH(1,1) with Student-t innovations, turned into a 5% value at
# risk of a position of 1,000. Then the standard tests of a VaR forecast: did the losses exceed the VaR
# about 5% of the days, and were the breaches independent of each other?

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt

import marketcast as mc

# The real data files: $MARKETCAST_DATA_DIR, else ../shared/data beside the repository.
DATA = Path(os.environ.get("MARKETCAST_DATA_DIR", "../../../shared/data"))
from marketcast.risk_measures import var_backtest

prices = mc.load_prices(DATA / "VIX_History.csv")
prices.tail()

# %% [markdown]
# Forecasts for 2020-2021, each from the returns before its day (no look-ahead).

# %%
vol = mc.volatility(prices, models=["dd-ewma", "garch"], window=504, start="2020-01-02", end="2021-12-31",
                    tail=0.05, notional=1000)
vol[["date", "model", "volatility", "var", "cvar", "mad", "dof"]].head()

# %% [markdown]
# The loss of the position is `-notional * return`; a breach is a day whose loss exceeds the VaR.

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
for ax, (name, frame) in zip(axes, vol.dropna(subset=["return"]).groupby("model")):
    loss = -frame["notional"] * frame["return"]
    breach = loss > frame["var"]
    ax.plot(frame["date"], loss, lw=0.6, color="0.5", label="loss")
    ax.plot(frame["date"], frame["var"], color="C0", label="VaR 5%")
    ax.plot(frame["date"], frame["cvar"], color="C1", lw=0.8, label="CVaR 5%")
    ax.scatter(frame["date"][breach], loss[breach], color="C3", s=12, zorder=3, label="breach")
    ax.set_title(f"{name}: {int(breach.sum())} breaches in {len(frame)} days")
    ax.set_ylabel("loss on 1,000")
axes[0].legend(loc="upper left", ncol=4)
fig.tight_layout()
plt.show()

# %% [markdown]
# Kupiec's test asks whether the breach rate is 5%; Christoffersen's whether breaches cluster; the Basel
# traffic light grades the count.

# %%
import pandas as pd

rows = []
for name, frame in vol.dropna(subset=["return"]).groupby("model"):
    test = var_backtest(frame["return"].to_numpy(), frame["var"].to_numpy(), tail=0.05, notional=1000)
    rows.append({"model": name, **test.as_dict()})
pd.DataFrame(rows)
