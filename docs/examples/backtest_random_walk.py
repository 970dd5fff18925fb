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
# # A backtest against the random walk
#
# The VIX paper scores its models on 14 rolling slices of 504 days, 64 days apart, each followed by a
# 21-day horizon. A forecast is only worth having if it beats the naive random walk (tomorrow is
# today), which the paper does not report. Here the SMA of the paper and Corsi's HAR model of the log
# VIX are run beside it through the same backtest.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt

import marketcast as mc

# The real data files: $MARKETCAST_DATA_DIR, else ../shared/data beside the repository.
DATA = Path(os.environ.get("MARKETCAST_DATA_DIR", "../../../shared/data"))

prices = mc.load_prices(DATA / "VIX_History.csv")
bt = mc.backtest(prices, models=["sma", "har", "naive"], window=504, start="2016-01-04", step=64, slices=14,
                 horizon=21)
bt.tail(6)

# %% [markdown]
# Root mean squared error per slice: the slices where the VIX jumped (2018, 2020) dominate every model.

# %%
slices = bt[bt["slice"].astype(str).str.isdigit()].copy()
slices["slice"] = slices["slice"].astype(int)
table = slices.pivot(index="slice", columns="model", values="rmse")
ax = table.plot(marker="o", figsize=(10, 4), logy=True)
ax.set_ylabel("RMSE, 21 days ahead")
ax.set_title("Rolling-origin backtest of the VIX")
plt.show()
table.mean()

# %% [markdown]
# Relative to the random walk (below 1 is better):

# %%
(table.mean() / table["naive"].mean()).round(3)
