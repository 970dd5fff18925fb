"""The VIX paper's reproduction as a Markdown summary: ours beside the paper's printed numbers,
and the cell-by-cell check of the deterministic columns (:func:`deterministic_checks`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketcast.reproduce.vix_paper import EARLIER_START, TABLE_IV_TRAIN, VixPaperConfig, VixPaperResult

__all__ = ["summary_markdown", "deterministic_checks"]


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def deterministic_checks(tables: dict[str, pd.DataFrame]) -> list[dict]:
    """Cell-by-cell comparison of the deterministic columns with the paper's printed digits."""
    checks = []
    dd5 = tables["table5"][tables["table5"].model == "dd-ewma"]
    dd6 = tables["table6"][tables["table6"].model == "dd-ewma"]
    dd7 = tables["table7"][tables["table7"].model == "dd-ewma"]
    for label, frame, ours, theirs, digits in [
        ("Table V DD-EWMA volatility (DDVF)", dd5, "volatility", "paper_volatility", 3),
        ("Table V DD-EWMA RMSE", dd5, "rmse", "paper_rmse", 3),
        ("Table VI DD-EWMA VaR", dd6, "var", "paper_var", 3),
        ("Table VI DD-EWMA CVaR", dd6, "cvar", "paper_cvar", 3),
        ("Table VII DD-EWMA MAD", dd7, "mad", "paper_mad", 3),
    ]:
        a, b = frame[ours].to_numpy(), frame[theirs].to_numpy()
        same = np.round(a, digits) == np.round(b, digits)
        checks.append(
            {
                "what": label,
                "cells": int(same.size),
                "equal": int(same.sum()),
                "differ": [(int(d), float(x), float(y)) for d, x, y, ok in zip(frame.day, a, b, same) if not ok],
            }
        )
    for name, label in (("table2", "Table II SMA (21-day)"), ("table3", "Table III SMA (5-day)")):
        t = tables[name]
        sma = t[(t.model == "sma") & t.slice.str.isdigit()]
        cells = np.concatenate([np.round(sma.rmse, 4) == sma.paper_rmse, np.round(sma.mae, 4) == sma.paper_mae])
        differ = [
            (int(s), float(r), float(p)) for s, r, p in zip(sma.slice, sma.rmse, sma.paper_rmse) if round(r, 4) != p
        ]
        checks.append(
            {
                "what": label + " per-slice RMSE and MAE",
                "cells": int(cells.size),
                "equal": int(cells.sum()),
                "differ": differ,
            }
        )
    return checks


def _earlier_origins_lines(t: dict[str, pd.DataFrame]) -> list[str]:
    """The check of the deterministic point models on the origins before the paper's slices."""
    parts, verdicts = [], []
    for name, horizon in (("table2_earlier", 21), ("table3_earlier", 5)):
        frame = t.get(name)
        if frame is None or frame.empty:
            continue
        means = frame[frame.slice == "mean"].set_index("model").rmse
        n = int(frame.slice.str.isdigit().sum() / frame.model.nunique())
        naive = float(means["naive"])
        cells = ", ".join(f"{m} {means[m]:.4f} ({100 * (naive - means[m]) / naive:+.1f}%)" for m in ("har", "sma"))
        parts.append(f"{horizon}-day over {n} slices: naive {naive:.4f}, {cells}")
        winners = [m for m in ("har", "sma") if means[m] < naive]
        verb = "nothing beats" if not winners else " and ".join(winners) + (" beats" if len(winners) == 1 else " beat")
        verdicts.append(f"at {horizon} days {verb} the random walk there")
    if not parts:
        return []
    return [
        "",
        f"Out of the paper's sample, the same models unchanged on the 504-day windows, 64 rows apart, from "
        f"{EARLIER_START} to the paper's first slice (% = how far the RMSE lies below the random walk's): "
        + "; ".join(parts)
        + ". So "
        + "; ".join(verdicts)
        + ". A model that wins on the paper's 14 slices "
        "need not win elsewhere: read the 14-slice ranking with that in mind.",
    ]


def summary_markdown(result: VixPaperResult) -> str:
    """What matches the paper exactly, what differs and why, and what the paper left out."""
    t = result.tables
    cfg = result.config
    lines = [
        "# Reproduction of the VIX paper (Thavaneswaran et al.)",
        "",
        f"Data: CBOE VIX daily closes. Stochastic models ran under {len(cfg.seeds)} seed(s) "
        f"({', '.join(map(str, cfg.seeds))}); their rows give the mean over seeds and its SD. "
        f"LSTM epochs: {cfg.lstm_epochs} (Table I: 50).",
        "",
        "All evaluation is chronological: every model is fitted only on data before the days it forecasts.",
        "",
        "## Deterministic columns against the printed digits",
        "",
    ]
    lines += _deterministic_lines(t)
    lines += _point_forecast_lines(t, cfg)
    lines += _interval_lines(t)
    lines += _volatility_lines(t, cfg)
    lines += ["", "## Time", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in result.seconds.items()]
    return "\n".join(lines) + "\n"


def _deterministic_lines(t: dict[str, pd.DataFrame]) -> list[str]:
    """The summary's deterministic cells against the printed digits, and why the few differ."""
    lines: list[str] = []
    for c in deterministic_checks(t):
        lines.append(f"- {c['what']}: {c['equal']} of {c['cells']} printed values equal.")
        for day, ours, theirs in c["differ"]:
            lines.append(f"  - {'slice' if 'SMA' in c['what'] else 'day'} {day}: ours {ours:.5f}, paper {theirs}")
    lines += [
        "",
        "Why the few differences:",
        "- Table II's 21-day SMA slice 8 (3.1923 / 2.6825) does not follow from the data; the same slice "
        "gives 2.2171 / 1.9068, and the 5-day slice 8 of Table III matches exactly. Table II's FE mean and SD "
        "rows are the mean and SD of its printed slices, so they differ from ours by the same amount.",
        "- Three VaR/CVaR cells lie within 3e-5 of a rounding boundary: a change of nu in its fifth decimal "
        "moves them across it. We solve eq. (4) for nu to machine precision. The authors' published R code "
        "solves it with uniroot(rho*(x-1)*beta(x/2,1/2) - 2*sqrt(x-2), c(2, 15)) at the default tolerance "
        "(1.2e-4); a port of R's zeroin with that bracket matches 40 of the 42 cells (day 8's VaR and day 14's "
        "CVaR still differ, and need a nu above the exact root, where that solver lands below it). None of 360 "
        "variants (two forms of the equation, 45 brackets, 4 tolerances), nor rounding rho or nu to 3-6 "
        "decimals, matches all 42, so what remains lies outside the solver. The paper's own text gives "
        "nu = 3.9284 and rho = 0.7041 for the window 2019-05-23..2021-05-21, whose Table VI day-21 VaR and CVaR "
        "we match with rho = 0.70420 and nu = 3.92983.",
        "- Sample volatilities use the square root in 2 rho sqrt(F(1-F)) (the paper's printed formula drops it; "
        "only the square-root form reproduces Tables V-VII).",
        "",
    ]
    return lines


def _point_forecast_lines(t: dict[str, pd.DataFrame], cfg: VixPaperConfig) -> list[str]:
    """The summary's Tables II-III: mean RMSEs, the best model against the random walk, earlier origins."""
    lines: list[str] = []
    lines += [
        "## Point forecasts (Tables II-III): mean RMSE across the 14 slices",
        "",
        "| horizon | model | ours (mean over seeds) | SD over seeds | paper |",
        "|---|---|---|---|---|",
    ]
    best = {}
    for name, horizon in (("table2", 21), ("table3", 5)):
        rows = t[name][t[name].slice == "mean"]
        for r in rows.itertuples():
            lines.append(f"| {horizon} | {r.model} | {_fmt(r.rmse)} | {_fmt(r.rmse_sd)} | {_fmt(r.paper_rmse)} |")
        extended = t.get(f"{name}_extended")
        extra = (
            extended[(extended.slice == "mean") & (extended.model != "naive")]
            if extended is not None
            else rows.iloc[:0]
        )
        for r in extra.itertuples():
            lines.append(f"| {horizon} | {r.model} (beyond the paper, seed {cfg.seeds[0]}) | {_fmt(r.rmse)} | | |")
        averaged = t.get(f"{name}_seed_mean")
        if averaged is not None:
            averaged = averaged[averaged.slice == "mean"]
            for r in averaged.itertuples():
                lines.append(f"| {horizon} | {r.model} (beyond the paper) | {_fmt(r.rmse)} | | |")
            extra = pd.concat([extra, averaged])
        candidates = pd.concat([rows[rows.model != "naive"][["model", "rmse"]], extra[["model", "rmse"]]])
        b = candidates.loc[candidates.rmse.idxmin()]
        naive = float(rows[rows.model == "naive"].rmse.iloc[0])
        paper_best = rows.dropna(subset=["paper_rmse"]).sort_values("paper_rmse").iloc[0]
        best[horizon] = (b.model, float(b.rmse), naive, paper_best.model, float(paper_best.paper_rmse), len(candidates))
    lines.append("")
    for horizon, (model, rmse, naive, pmodel, prmse, k) in best.items():
        verdict = "beats" if rmse < naive else "does not beat"
        lines.append(
            f"- {horizon}-day: our best of {k} models, {model} ({rmse:.4f}), {verdict} the naive random walk "
            f"({naive:.4f}): {100 * (naive - rmse) / naive:+.1f}%. The paper's best is {pmodel} "
            f"({prmse:.4f}); ours is {100 * (rmse - prmse) / prmse:+.1f}% from it. The paper reports no "
            "random-walk baseline, and picking the best of several models on the same 14 slices flatters it."
        )
    lines += _earlier_origins_lines(t)
    return lines


def _interval_lines(t: dict[str, pd.DataFrame]) -> list[str]:
    """The summary's Table IV: intervals, prices inside them per seed, their coverage backtests."""
    lines: list[str] = []
    iv = t["table4"]
    bt = t["table4_backtest"]
    seeds = t["table4_seeds"]
    lines += [
        "",
        "## Interval forecasts (Table IV)",
        "",
        f"Two LSTMs trained on {TABLE_IV_TRAIN[0]}..{TABLE_IV_TRAIN[1]}; intervals use the unit-variance t "
        "quantile, which is what reproduces Table IV's widths from its sigma column.",
        "",
        "| day | date | price | ours point | paper point | ours 95% | paper 95% |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in iv.itertuples():
        lines.append(
            f"| {r.day} | {pd.Timestamp(r.date).date()} | {r.price:.2f} | {r.point:.3f} | {r.paper_point:.3f} | "
            f"({r.lower_95:.3f}, {r.upper_95:.3f}) | ({r.paper_lower_95:.3f}, {r.paper_upper_95:.3f}) |"
        )
    lines += [
        "",
        "Prices inside the 95% interval, per seed: "
        + ", ".join(f"seed {s}: {n} of 5" for s, n in zip(seeds.seed, seeds.prices_inside_95))
        + " (the paper: 5 of 5). A single LSTM's recursive 5-day path goes up or down with its seed.",
        "",
    ]
    avg = t.get("table4_averaged")
    if avg is not None:
        n_in = int(((avg.price >= avg.lower_95) & (avg.price <= avg.upper_95)).sum())
        lines += [
            f"Beyond the paper, marketcast's default two-LSTM averages {int(avg.networks.iloc[0])} networks of each "
            f"kind (as R's nnetar averages 20): under seed {int(avg.seed.iloc[0])} its 95% interval holds "
            f"{n_in} of 5 prices; points " + ", ".join(f"{v:.3f}" for v in avg.point) + ".",
            "",
        ]
    if "sample" not in bt.columns:
        bt = bt.assign(sample="in-sample (the paper's)")
    for (sample, level), g in bt.groupby(["sample", "level"], sort=False):
        lines.append(
            f"- {sample}, one-step {level:.0%} intervals, {g.start.iloc[0].date()}..{g.end.iloc[0].date()} "
            f"({int(g.days.iloc[0])} days): coverage {g.coverage.mean():.1%} (SD over seeds "
            f"{g.coverage.std(ddof=1) if len(g) > 1 else 0:.1%}), Kupiec p-value {g.kupiec_pvalue.mean():.3f}"
        )
    lines += [
        "",
        "The paper's backtest scores its networks on the rows they were trained on. The out-of-sample rows keep "
        "the networks and the training errors' t law fixed and score each later day from the prices before it.",
    ]
    return lines


def _volatility_lines(t: dict[str, pd.DataFrame], cfg: VixPaperConfig) -> list[str]:
    """The summary's Tables V-VII: accuracy, speed, the VaR backtest and Diebold-Mariano tests."""
    lines: list[str] = []
    acc = t["table5_accuracy"]
    lines += [
        "",
        "## Volatility and risk (Tables V-VII)",
        "",
        "RMSE of each day's volatility forecast against the realised |return| over the 21 days:",
        "",
        "| model | RMSE vs abs(return) | SD over seeds |",
        "|---|---|---|",
    ]
    for r in acc.itertuples():
        lines.append(f"| {r.model} | {_fmt(r.rmse_vs_abs_return)} | {_fmt(r.rmse_vs_abs_return_sd)} |")
    t5 = t["table5"]
    speed = t5.groupby("model", sort=False)[["seconds", "paper_seconds"]].mean()
    lines += [
        "",
        "Seconds per forecast (ours on this machine; the paper's R):",
        "",
        "| model | ours | paper |",
        "|---|---|---|",
    ]
    for model, r in speed.iterrows():
        lines.append(f"| {model} | {r.seconds:.4f} | {_fmt(r.paper_seconds, 3)} |")
    var = t["var_backtest"]
    lines += [
        "",
        f"## VaR backtest {cfg.var_start}..{cfg.var_end} (5% tail, what the paper left out)",
        "",
        "| model | days | breaches | rate | Kupiec p | Christoffersen cc p | Basel |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in var.itertuples():
        lines.append(
            f"| {r.model} | {r.days} | {r.breaches} | {r.breach_rate:.1%} | {r.kupiec_pvalue:.3f} | "
            f"{r.conditional_coverage_pvalue:.3f} | {r.traffic_light} |"
        )
    lines += ["", "Diebold-Mariano tests against DD-EWMA (squared error of the volatility forecast vs |return|):", ""]
    for r in t["dm_tests"].itertuples():
        lines.append(f"- {r.model}: statistic {r.statistic:.3f}, p-value {r.pvalue:.3f}: {r.at_5pct}")
    return lines
