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
# # A two-LSTM interval fan
#
# The VIX paper's interval forecast: one LSTM forecasts the price, a second the size of its error, and
# the interval is a unit-variance Student t whose degrees of freedom come from the sign correlation of
# the errors. Trained on 2019-04-25..2021-04-16, it forecasts the five business days that follow, as in
# the paper's Table IV.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt

import marketcast as mc

# The real data files: $MARKETCAST_DATA_DIR, else ../shared/data beside the repository.
DATA = Path(os.environ.get("MARKETCAST_DATA_DIR", "../../../shared/data"))

prices = mc.load_prices(DATA / "VIX_History.csv")
levels = (0.5, 0.8, 0.9, 0.95)
fc = mc.forecast(prices, model="two-lstm", horizon=5, levels=levels, train_from="2019-04-25",
                 train_to="2021-04-16", seed=0)
fc

# %% [markdown]
# Nested intervals, widest palest, with the prices that followed.

# %%
history = prices.loc["2021-02-01":"2021-04-16"]
fig, ax = plt.subplots(figsize=(10, 4))
ax.plot(history.index, history.to_numpy(), color="0.3", label="VIX")
for i, level in enumerate(sorted(levels, reverse=True)):
    pct = round(level * 100)
    ax.fill_between(fc["date"], fc[f"lower_{pct}"], fc[f"upper_{pct}"], color="C0", alpha=0.15 + 0.15 * i,
                    lw=0, label=f"{pct}%")
ax.plot(fc["date"], fc["point"], color="C0", marker="o", label="forecast")
ax.plot(fc["date"], fc["actual"], color="C3", marker="x", ls="", label="actual")
ax.legend(loc="upper left", ncol=3)
ax.set_title("Two-LSTM interval forecast of the VIX, 2021-04-19..23")
plt.show()

# %% [markdown]
# How many of the five true prices each interval held:

# %%
{level: int(((fc["actual"] >= fc[f"lower_{round(level * 100)}"])
             & (fc["actual"] <= fc[f"upper_{round(level * 100)}"])).sum()) for level in levels}
