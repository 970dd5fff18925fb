"""The VIX paper's experiments as code: Tables II-VII, Figures 3-4, and what the paper left out.

:func:`reproduce_vix_paper` runs every experiment on the CBOE VIX history and returns long
tables with the paper's printed numbers beside ours:

* Tables II-III: 14 rolling slices (504 days from 2016-01-04, step 64), horizons 21 and 5;
  SMA, LSTM, Prophet, their ensemble, and the naive random walk the paper omits.
* Table IV: two-LSTM intervals for 2021-04-19..23, and the one-step 95% intervals over
  2019-06-03..2021-04-16 with their coverage and a Kupiec test per level.
* Tables V-VII: rolling one-day volatility for 2021-04-26..2021-05-24 (window 504) with
  DD-EWMA, NNAR, Prophet, their ensemble and GARCH-t; VaR and CVaR at 5%, MAD.
* A longer VaR backtest (2019-2021) with breach rates, Kupiec and Christoffersen tests, the
  Basel traffic light, and Diebold-Mariano tests of every model against DD-EWMA.

Stochastic models run under several seeds; their rows give the mean over seeds and the SD.
:mod:`marketcast.reproduce.vix_summary` writes the result as the Markdown summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marketcast.backtest import VIX_PAPER_SLICES, backtest
from marketcast.data.series import as_series
from marketcast.metrics import diebold_mariano
from marketcast.reproduce import vix_paper_values as paper
from marketcast.risk_measures import kupiec_test, var_backtest
from marketcast.volatility import forecast_count, rolling_volatility

__all__ = ["VixPaperConfig", "VixPaperResult", "reproduce_vix_paper", "TABLE_IV_TRAIN", "TABLE_V_DAYS"]

TABLE_IV_TRAIN = ("2019-04-25", "2021-04-16")
#: Beyond the paper: the days after Table IV's training rows on which its intervals are scored out of sample.
TABLE_IV_AFTER = ("2021-04-19", "2021-12-31")
TABLE_V_DAYS = ("2021-04-26", "2021-05-24")
POINT_MODELS = ("sma", "lstm", "prophet", "ensemble", "naive")
VOL_MODELS = ("dd-ewma", "nnar", "prophet", "ensemble", "garch")
LEVELS = (0.9, 0.95, 0.99)
#: The paper's Table V model columns, by our model name.
_PAPER_VOL = {"dd-ewma": "dd", "nnar": "nn", "prophet": "pp", "ensemble": "en"}
_PAPER_VOL_V = {
    "dd-ewma": ("ddvf", "dd_rmse", "dd_time"),
    "nnar": ("nvf", "nn_rmse", "nn_time"),
    "prophet": ("pvf", "pp_rmse", "pp_time"),
    "ensemble": ("envf", None, None),
}


@dataclass(frozen=True)
class VixPaperConfig:
    """What to run. ``quick`` keeps the structure but trims seeds, epochs and the VaR period."""

    seeds: tuple[int, ...] = (0, 1, 2)
    lstm_epochs: int = 50
    var_start: str = "2019-01-02"
    var_end: str = "2021-12-31"
    tail: float = 0.05
    notional: float = 1000.0

    @classmethod
    def quick(cls) -> VixPaperConfig:
        return cls(seeds=(0,), lstm_epochs=10, var_start="2021-01-04", var_end="2021-06-30")


@dataclass
class VixPaperResult:
    tables: dict[str, pd.DataFrame]
    config: VixPaperConfig
    seconds: dict[str, float] = field(default_factory=dict)
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)


def _seed_stats(frames: Sequence[pd.DataFrame], keys: list[str], values: list[str]) -> pd.DataFrame:
    """Mean over seeds of ``values`` (by ``keys``), with their SD (``<value>_sd``, 0 for one seed)."""
    stacked = pd.concat(frames, ignore_index=True)
    g = stacked.groupby(keys, sort=False)[values]
    mean = g.mean()
    sd = g.std(ddof=1).fillna(0.0).add_suffix("_sd")
    return pd.concat([mean, sd], axis=1).reset_index()


# --- Tables II and III ------------------------------------------------------------------------


def _point_models(seed: int, epochs: int):
    from marketcast.models.ensemble import Ensemble
    from marketcast.models.neural import LSTMForecaster
    from marketcast.models.prophet import ProphetForecaster

    lstm: dict[str, Any] = {"epochs": epochs} if epochs != 50 else {}
    return [
        "sma",
        LSTMForecaster(seed=seed, **lstm),
        ProphetForecaster(seed=seed),
        Ensemble(seed=seed, member_params={"lstm": lstm} if lstm else None),
        "naive",
    ]


def point_table(
    prices: pd.Series, horizon: int, config: VixPaperConfig, tick=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table II (horizon 21) or III (horizon 5): per-slice RMSE/MAE, then mean and SD rows.

    Returns the table and the per-seed forecasts of every slice (for the report).
    """
    runs, forecasts = [], []
    for seed in config.seeds:
        res = backtest(
            prices, _point_models(seed, config.lstm_epochs), horizon=horizon, progress=tick, **VIX_PAPER_SLICES
        )
        per_slice = res.scores.assign(seed=seed)
        summary = per_slice.groupby("model", sort=False)[["rmse", "mae"]]
        rows = pd.concat([summary.mean().assign(slice="mean"), summary.std(ddof=1).assign(slice="sd")]).reset_index()
        runs.append(
            pd.concat([per_slice[["slice", "model", "rmse", "mae"]].astype({"slice": str}), rows], ignore_index=True)
        )
        forecasts.append(res.forecasts.assign(seed=seed))
    table = _seed_stats(runs, ["slice", "model"], ["rmse", "mae"])
    printed: dict[str, Any] = paper.TABLE_II if horizon == 21 else paper.TABLE_III
    lookup = {str(i + 1): row for i, row in enumerate(printed["slices"])} | {
        "mean": printed["mean"],
        "sd": printed["sd"],
    }
    table["paper_rmse"] = [lookup[s].get(f"{m}_rmse", np.nan) for s, m in zip(table.slice, table.model)]
    table["paper_mae"] = [lookup[s].get(f"{m}_mae", np.nan) for s, m in zip(table.slice, table.model)]
    table["seeds"] = len(config.seeds)
    order = {m: i for i, m in enumerate(POINT_MODELS)}
    slice_order = {str(i): i for i in range(1, 15)} | {"mean": 15, "sd": 16}
    table = table.sort_values(
        by=["slice", "model"], key=lambda c: c.map(slice_order) if c.name == "slice" else c.map(order)
    )
    cols = ["slice", "model", "rmse", "mae", "rmse_sd", "mae_sd", "seeds", "paper_rmse", "paper_mae"]
    return table[cols].reset_index(drop=True), pd.concat(forecasts, ignore_index=True)


def _slices_with_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-slice RMSE/MAE rows followed by each model's ``mean`` and ``sd`` rows."""
    per_slice = scores[["slice", "model", "rmse", "mae"]].astype({"slice": str})
    g = scores.groupby("model", sort=False)[["rmse", "mae"]]
    rows = pd.concat([g.mean().assign(slice="mean"), g.std(ddof=1).assign(slice="sd")]).reset_index()
    return pd.concat([per_slice, rows[["slice", "model", "rmse", "mae"]]], ignore_index=True)


def extended_table(prices: pd.Series, horizon: int, config: VixPaperConfig, tick=None) -> pd.DataFrame:
    """Beyond the paper: HAR, NNAR and XGBoost on the same slices (first seed), with the naive baseline."""
    from marketcast.models.boosting import XGBoostForecaster
    from marketcast.models.nnar import NNARForecaster

    seed = config.seeds[0]
    models: list[Any] = ["har", NNARForecaster(seed=seed), XGBoostForecaster(window=21, seed=seed), "naive"]
    res = backtest(prices, models, horizon=horizon, progress=tick, **VIX_PAPER_SLICES)
    return _slices_with_summary(res.scores).assign(seed=seed)


#: Origins before the paper's first slice, for checking the deterministic models out of its sample.
EARLIER_START = "2004-01-02"


def earlier_slices(index: pd.DatetimeIndex) -> int:
    """How many of the paper's 504-row, step-64 windows fit between 2004 and its first slice."""
    first = int(index.searchsorted(pd.Timestamp(EARLIER_START)))
    last = int(index.searchsorted(pd.Timestamp(VIX_PAPER_SLICES["start"])))
    return max(0, (last - first - VIX_PAPER_SLICES["window"]) // VIX_PAPER_SLICES["step"] + 1)


def earlier_origins_table(prices: pd.Series, horizon: int, tick=None) -> pd.DataFrame:
    """Beyond the paper: naive, SMA and HAR on every 504-day window (step 64) from 2004 whose
    test days end before the paper's first slice (2016-01-04).

    The same models with the same settings as on the paper's 14 slices: whether a model that
    beats the random walk there does so on data the paper never used.
    """
    slices = earlier_slices(prices.index)
    if slices < 2:
        return pd.DataFrame(columns=["slice", "model", "rmse", "mae", "horizon"])
    res = backtest(
        prices,
        ["sma", "har", "naive"],
        horizon=horizon,
        window=VIX_PAPER_SLICES["window"],
        start=EARLIER_START,
        step=VIX_PAPER_SLICES["step"],
        slices=slices,
        progress=tick,
    )
    return _slices_with_summary(res.scores).assign(horizon=horizon)


def seed_average_table(forecasts: pd.DataFrame, models=("lstm", "ensemble")) -> pd.DataFrame:
    """Beyond the paper: score the mean of each stochastic model's forecasts over the seeds.

    The seeds were run anyway; averaging their forecasts is the deep-ensemble estimate of the
    same model, free of one network's seed. Rows are named ``"<model> (mean of k seeds)"``.
    """
    f = forecasts[forecasts.model.isin(models)]
    k = f.seed.nunique()
    mean = f.groupby(["slice", "model", "step"], sort=False).agg(
        actual=("actual", "first"), forecast=("forecast", "mean")
    )
    err = (mean.forecast - mean.actual).groupby(level=["slice", "model"], sort=False)
    per_slice = pd.DataFrame(
        {
            "rmse": err.apply(lambda e: float(np.sqrt(np.mean(e * e)))),
            "mae": err.apply(lambda e: float(np.mean(np.abs(e)))),
        }
    ).reset_index()
    per_slice["model"] = per_slice.model + f" (mean of {k} seeds)"
    g = per_slice.groupby("model", sort=False)[["rmse", "mae"]]
    rows = pd.concat([g.mean().assign(slice="mean"), g.std(ddof=1).assign(slice="sd")]).reset_index()
    out = pd.concat([per_slice.astype({"slice": str}), rows[["slice", "model", "rmse", "mae"]]], ignore_index=True)
    return out.assign(seed=-1)


# --- Table IV -------------------------------------------------------------------------------------


def interval_tables(prices: pd.Series, config: VixPaperConfig, tick=None) -> dict[str, pd.DataFrame]:
    """Table IV (two-LSTM intervals), the in-sample interval backtest and the error statistics.

    Every seed trains the paper's single pair of LSTMs. Beyond the paper, ``table4_averaged``
    gives marketcast's default two-LSTM (``NETWORKS`` pairs averaged) under the first seed.
    """
    from marketcast.models.two_lstm import NETWORKS, TwoLSTM

    train = prices.loc[TABLE_IV_TRAIN[0] : TABLE_IV_TRAIN[1]]
    dates = pd.bdate_range(train.index[-1] + pd.offsets.BDay(1), periods=5)
    actual = prices.reindex(dates).to_numpy()
    forecasts, backtests, errors = [], [], []
    insample: pd.DataFrame | None = None
    for seed in config.seeds:
        model = TwoLSTM(seed=seed, epochs=config.lstm_epochs, networks=1).fit(train, progress=tick)
        iv = model.predict_interval(5, LEVELS)
        frame = iv.to_frame().assign(day=np.arange(1, 6), date=dates, price=actual, seed=seed)
        forecasts.append(frame)
        inside = model.in_sample_intervals(train, LEVELS)
        if insample is None:
            insample = inside.assign(seed=seed)
        # The paper's backtest scores the rows the networks were trained on; the days after them,
        # with the networks fixed, are the out-of-sample test it leaves out.
        later = model.one_step_intervals(prices.loc[TABLE_IV_TRAIN[0] : TABLE_IV_AFTER[1]], LEVELS)
        later = later.loc[TABLE_IV_AFTER[0] :]
        for sample, frame in (("in-sample (the paper's)", inside), ("out-of-sample", later)):
            for level in LEVELS:
                tag = f"{level * 100:g}"
                hit = (frame.actual >= frame[f"lower_{tag}"]) & (frame.actual <= frame[f"upper_{tag}"])
                lr, p = kupiec_test(int((~hit).sum()), len(hit), 1 - level)
                backtests.append(
                    {
                        "seed": seed,
                        "sample": sample,
                        "level": level,
                        "start": frame.index[0],
                        "end": frame.index[-1],
                        "days": len(hit),
                        "coverage": float(hit.mean()),
                        "misses": int((~hit).sum()),
                        "kupiec_lr": lr,
                        "kupiec_pvalue": p,
                    }
                )
        errors.append(pd.DataFrame([{"statistic": k, "value": v} for k, v in model.error_summary().items()]))
    cols = ["point", "sigma_e"] + [f"{side}_{level * 100:g}" for level in LEVELS for side in ("lower", "upper")]
    table = _seed_stats(forecasts, ["day", "date", "price"], cols)
    per_seed = pd.concat(forecasts, ignore_index=True)
    inside95 = (per_seed.price >= per_seed.lower_95) & (per_seed.price <= per_seed.upper_95)
    table["share_of_seeds_inside_95"] = inside95.groupby(per_seed.day).mean().to_numpy()
    for key in ("point", "sigma_e", "lower_90", "upper_90", "lower_95", "upper_95", "lower_99", "upper_99"):
        table[f"paper_{key}"] = [row[key] for row in paper.TABLE_IV]
    table = table[
        ["day", "date", "price"]
        + cols
        + [c + "_sd" for c in ("point", "sigma_e")]
        + ["share_of_seeds_inside_95"]
        + [c for c in table.columns if c.startswith("paper_")]
    ]
    err = _seed_stats(errors, ["statistic"], ["value"])
    err["paper"] = err.statistic.map(paper.TABLE_IV_ERRORS)
    held = inside95.groupby(per_seed.seed).sum()
    averaged = TwoLSTM(seed=config.seeds[0], epochs=config.lstm_epochs, networks=NETWORKS).fit(train, progress=tick)
    avg = (
        averaged.predict_interval(5, LEVELS)
        .to_frame()
        .assign(day=np.arange(1, 6), date=dates, price=actual, seed=config.seeds[0], networks=NETWORKS)
    )
    avg = avg[["day", "date", "price", "seed", "networks"] + cols]
    if insample is None:
        raise ValueError("the VIX reproduction needs at least one seed")
    return {
        "table4": table,
        "table4_averaged": avg,
        "table4_backtest": pd.DataFrame(backtests),
        "table4_errors": err,
        "table4_seeds": pd.DataFrame({"seed": held.index, "prices_inside_95": held.to_numpy()}),
        "table4_insample": insample.reset_index(names="date"),
        "table4_forecasts": per_seed,
    }


# --- Tables V, VI, VII ------------------------------------------------------------------------


def _vol_models(seed: int):
    from marketcast.models.ensemble import VolatilityEnsemble
    from marketcast.models.nnar import NNARVolatility

    return ["dd-ewma", NNARVolatility(seed=seed), "prophet", VolatilityEnsemble(seed=seed), "garch"]


def volatility_tables(prices: pd.Series, config: VixPaperConfig, tick=None) -> dict[str, pd.DataFrame]:
    """Tables V-VII for the 21 days of 2021-04-26..2021-05-24, models under every seed."""
    runs = []
    for seed in config.seeds:
        out = rolling_volatility(
            prices,
            window=504,
            start=TABLE_V_DAYS[0],
            end=TABLE_V_DAYS[1],
            models=_vol_models(seed),
            tail=0.05,
            notional=1000.0,
            progress=tick,
        )
        out["day"] = out.groupby("model").cumcount() + 1
        runs.append(out.assign(seed=seed))
    per_seed = pd.concat(runs, ignore_index=True)
    values = ["volatility", "var", "cvar", "mad", "rmse", "seconds"]
    table = _seed_stats(runs, ["day", "date", "model", "abs_return"], values)
    order = {m: i for i, m in enumerate(VOL_MODELS)}
    table = table.sort_values(["model", "day"], key=lambda c: c.map(order) if c.name == "model" else c).reset_index(
        drop=True
    )
    v = {row["day"]: row for row in paper.TABLE_V}
    vi = {row["day"]: row for row in paper.TABLE_VI}
    vii = {row["day"]: row for row in paper.TABLE_VII}

    def paper_col(source, key_of):
        return [source[d][key_of(m)] if key_of(m) else np.nan for d, m in zip(table.day, table.model)]

    t5 = table[["day", "date", "model", "volatility", "volatility_sd", "abs_return", "rmse", "seconds"]].copy()
    t5["paper_volatility"] = paper_col(v, lambda m: _PAPER_VOL_V.get(m, (None,))[0])
    t5["paper_rmse"] = paper_col(v, lambda m: _PAPER_VOL_V.get(m, (None, None))[1])
    t5["paper_seconds"] = paper_col(v, lambda m: _PAPER_VOL_V.get(m, (None, None, None))[2])
    t6 = table[["day", "date", "model", "var", "cvar", "var_sd", "cvar_sd"]].copy()
    t6["paper_var"] = paper_col(vi, lambda m: f"{_PAPER_VOL[m]}_var" if m in _PAPER_VOL else None)
    t6["paper_cvar"] = paper_col(vi, lambda m: f"{_PAPER_VOL[m]}_cvar" if m in _PAPER_VOL else None)
    t7 = table[["day", "date", "model", "mad", "mad_sd"]].copy()
    t7["paper_mad"] = paper_col(vii, lambda m: f"{_PAPER_VOL[m]}_mad" if m in _PAPER_VOL else None)
    realised = (
        per_seed.assign(sq=(per_seed.volatility - per_seed.abs_return) ** 2)
        .groupby(["model", "seed"], sort=False)
        .sq.mean()
        .pow(0.5)
        .groupby("model", sort=False)
        .agg(["mean", "std"])
        .rename(columns={"mean": "rmse_vs_abs_return", "std": "rmse_vs_abs_return_sd"})
        .reset_index()
    )
    return {"table5": t5, "table6": t6, "table7": t7, "table5_accuracy": realised, "table5_runs": per_seed}


# --- VaR backtest -----------------------------------------------------------------------------------


def var_tables(prices: pd.Series, config: VixPaperConfig, tick=None) -> dict[str, pd.DataFrame]:
    """One-day VaR backtest over ``var_start..var_end`` for every volatility model (first seed)."""
    vol = rolling_volatility(
        prices,
        window=504,
        start=config.var_start,
        end=config.var_end,
        models=_vol_models(config.seeds[0]),
        tail=config.tail,
        notional=config.notional,
        progress=tick,
    )
    vol = vol[vol["return"].notna()]
    rows, dm = [], []
    base = vol[vol.model == "dd-ewma"].set_index("date")
    for model, g in vol.groupby("model", sort=False):
        bt = var_backtest(g["return"].to_numpy(), g["var"].to_numpy(), config.tail, config.notional)
        rows.append({"model": model, "start": g.date.min(), "end": g.date.max(), **bt.as_dict()})
        if model != "dd-ewma":
            g = g.set_index("date")
            e_model = (g.volatility - g.abs_return).reindex(base.index)
            e_base = base.volatility - base.abs_return
            stat, p = diebold_mariano(e_model.to_numpy(), e_base.to_numpy())
            verdict = (
                "equal accuracy"
                if not p < 0.05
                else (f"{model} more accurate" if stat < 0 else "dd-ewma more accurate")
            )
            dm.append(
                {
                    "model": model,
                    "against": "dd-ewma",
                    "loss": "squared error of volatility vs |return|",
                    "days": int(len(base)),
                    "statistic": stat,
                    "pvalue": p,
                    "at_5pct": verdict,
                }
            )
    return {"var_backtest": pd.DataFrame(rows), "dm_tests": pd.DataFrame(dm), "var_runs": vol}


# --- everything ---------------------------------------------------------------------------------------


def reproduce_vix_paper(
    prices: pd.Series,
    config: VixPaperConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> VixPaperResult:
    """Run every experiment of the VIX paper on ``prices`` (the CBOE VIX closes).

    ``progress(stage, done, total)`` is called as work advances, for a progress bar.
    """
    config = config or VixPaperConfig()
    prices = as_series(prices)
    need = pd.Timestamp(TABLE_V_DAYS[1])
    if prices.index[0] > pd.Timestamp("2014-01-06") or prices.index[-1] < need:
        from marketcast.errors import DataError

        raise DataError(
            f"{prices.attrs.get('source', 'data')}: the VIX paper needs closes from 2014 to {need.date()} "
            f"(this series covers {prices.index[0].date()}..{prices.index[-1].date()})"
        )
    from marketcast.models.two_lstm import NETWORKS

    n_seeds = len(config.seeds)
    stages = [
        ("table2", 14 * 5 * n_seeds, lambda t: point_table(prices, 21, config, t)),
        ("table3", 14 * 5 * n_seeds, lambda t: point_table(prices, 5, config, t)),
        ("table2_extended", 14 * 4, lambda t: extended_table(prices, 21, config, t)),
        ("table3_extended", 14 * 4, lambda t: extended_table(prices, 5, config, t)),
        ("table2_earlier", earlier_slices(prices.index) * 3, lambda t: earlier_origins_table(prices, 21, t)),
        ("table3_earlier", earlier_slices(prices.index) * 3, lambda t: earlier_origins_table(prices, 5, t)),
        ("table4", 2 * config.lstm_epochs * (n_seeds + NETWORKS), lambda t: interval_tables(prices, config, t)),
        (
            "table5",
            5 * n_seeds * forecast_count(prices, 504, *TABLE_V_DAYS),
            lambda t: volatility_tables(prices, config, t),
        ),
        (
            "var",
            5 * forecast_count(prices, 504, config.var_start, config.var_end),
            lambda t: var_tables(prices, config, t),
        ),
    ]
    tables: dict[str, pd.DataFrame] = {}
    seconds: dict[str, float] = {}
    extras: dict[str, object] = {}
    for name, total, run in stages:
        done = [0]

        def tick(n: int = 1, name=name, total=total, done=done) -> None:
            done[0] += n
            if progress is not None:
                progress(name, done[0], total)

        t0 = time.perf_counter()
        out = run(tick)
        seconds[name] = time.perf_counter() - t0
        if name in ("table2", "table3"):
            tables[name], extras[f"{name}_forecasts"] = out
            if n_seeds > 1:
                tables[f"{name}_seed_mean"] = seed_average_table(out[1])
        elif isinstance(out, pd.DataFrame):
            tables[name] = out
        else:
            for key, frame in out.items():
                (extras if key.endswith(("_runs", "_insample", "_forecasts")) else tables)[key] = frame
    seconds["total"] = sum(seconds.values())
    return VixPaperResult(tables=tables, config=config, seconds=seconds, extras=extras)
