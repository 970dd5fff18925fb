"""The VIX reproduction as a self-contained HTML report with PNG figures (Figures 3-4 and more)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marketcast.report import Chart, Layer, Section, fan_chart, render_html, slice_errors, var_chart, volatility_chart
from marketcast.report.charts import PALETTE
from marketcast.reproduce.vix_paper import VixPaperResult
from marketcast.reproduce.vix_summary import summary_markdown

__all__ = ["write_vix_report"]


def _ours_vs_paper(table: pd.DataFrame, horizon: int) -> Chart:
    rows = table[(table.slice.astype(str) == "mean")]
    models = rows.model.tolist()
    layers = [
        Layer("bar", "ours (mean over seeds)", models, y=rows.rmse.tolist(), color=PALETTE[0]),
        Layer("bar", "paper", models, y=rows.paper_rmse.fillna(0).tolist(), color=PALETTE[1]),
    ]
    return Chart(
        f"Mean RMSE over 14 slices, {horizon}-day forecasts: ours and the paper's (naive: not in the paper)",
        "model",
        "RMSE",
        layers,
    )


def _insample_band(frame: pd.DataFrame) -> Chart:
    """Fig. 3: one-step 95% intervals of the two-LSTM method over the training period."""
    x = pd.to_datetime(frame["date"])
    return Chart(
        "Fig. 3: one-step 95% two-LSTM intervals, 2019-06-03..2021-04-16 (seed 0)",
        "date",
        "VIX",
        [
            Layer(
                "band", "95% interval", x, lower=frame.lower_95, upper=frame.upper_95, color=PALETTE[0], opacity=0.25
            ),
            Layer("line", "one-step forecast", x, y=frame.point, color=PALETTE[0]),
            Layer("scatter", "VIX close", x, y=frame.actual, color="#222222", size=3),
        ],
    )


def write_vix_report(result: VixPaperResult, folder: Path) -> Path:
    """``report.html`` and ``figures/*.png`` in ``folder``."""
    t, x = result.tables, result.extras
    sections = [Section("Summary", summary_markdown(result).split("\n", 2)[2])]
    for name, horizon in (("table2", 21), ("table3", 5)):
        per_slice = t[name][t[name].slice.astype(str).str.isdigit()].assign(slice=lambda f: f.slice.astype(int))
        fc = x.get(f"{name}_forecasts")
        charts = [slice_errors(per_slice), _ours_vs_paper(t[name], horizon)]
        if fc is not None:
            from marketcast.report import backtest_forecasts

            charts.append(backtest_forecasts(fc[fc.seed == result.config.seeds[0]].drop(columns="seed"), 10))
        sections.append(
            Section(
                f"Table {'II' if horizon == 21 else 'III'}: {horizon}-day forecasts over 14 rolling slices",
                "Per-slice RMSE (mean over seeds for LSTM and the ensemble), the mean across slices beside the paper's, "
                "and the forecasts of slice 10 (the COVID-19 spring of 2020).",
                charts,
                [("mean and SD rows", t[name][~t[name].slice.astype(str).str.isdigit()])],
            )
        )
    seed0 = x["table4_forecasts"]
    seed0 = seed0[seed0.seed == result.config.seeds[0]].drop(columns=["seed", "day"])
    history = None
    insample = x.get("table4_insample")
    if insample is not None:
        history = pd.Series(insample.actual.to_numpy()[-60:], index=pd.to_datetime(insample["date"]).to_numpy()[-60:])
    table4 = t["table4"]
    avg = t.get("table4_averaged")
    averaged_fan, averaged_table = [], []
    if avg is not None:
        label = f"two-lstm, {int(avg.networks.iloc[0])} networks averaged"
        averaged_fan = [
            fan_chart(avg.drop(columns=["day", "seed", "networks"]).assign(model=label, actual=avg.price), history)
        ]
        averaged_table = [(f"beyond the paper: marketcast's default ({label})", avg)]
    sections.append(
        Section(
            "Table IV: two-LSTM interval forecasts, 2021-04-19..23",
            "The fan of 90/95/99% intervals of the paper's single pair of LSTMs (seed 0) with the true "
            "prices, the same for marketcast's default that averages several pairs, and the paper's "
            "numbers beside ours in the table (mean over seeds).",
            [fan_chart(seed0.assign(model="two-lstm", actual=seed0.price), history)]
            + averaged_fan
            + ([_insample_band(insample)] if insample is not None else []),
            [("Table IV", table4)]
            + averaged_table
            + [
                ("one-step interval backtest", t["table4_backtest"]),
                ("forecast errors of the first LSTM", t["table4_errors"]),
            ],
        )
    )
    runs = x["table5_runs"]
    runs0 = runs[runs.seed == result.config.seeds[0]]
    sections.append(
        Section(
            "Tables V-VII and Fig. 4: one-day-ahead volatility and risk, 2021-04-26..2021-05-24",
            "Volatility forecasts of every model against the realised absolute return (seed 0).",
            [volatility_chart(runs0)],
            [
                ("accuracy against the realised |return|", t["table5_accuracy"]),
                ("Table V (ours beside the paper's)", t["table5"]),
                ("Table VI", t["table6"]),
                ("Table VII", t["table7"]),
            ],
        )
    )
    var_runs = x["var_runs"]
    sections.append(
        Section(
            f"VaR backtest {result.config.var_start}..{result.config.var_end}",
            "The 5% VaR of each model as a return threshold, the realised VIX log return, and the breaches (red).",
            [var_chart(var_runs, m) for m in var_runs.model.unique()],
            [("breaches and tests", t["var_backtest"]), ("Diebold-Mariano tests against DD-EWMA", t["dm_tests"])],
        )
    )
    return render_html(
        "marketcast: reproduction of the VIX paper", sections, folder / "report.html", png_dir=folder / "figures"
    )
