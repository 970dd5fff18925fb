"""``marketcast demo``: the main job on data that ships with a dependency (no network, no files)."""

from __future__ import annotations

from typing import Any

import typer

from marketcast.cli._app import app
from marketcast.cli._common import bars, is_quiet, print_frame


@app.command("demo")
def demo(ctx: typer.Context) -> None:
    """Volatility, risk and backtests on the CBOE VIX history bundled with the `arch` package."""
    import pandas as pd
    from rich.console import Console

    from marketcast import api
    from marketcast.demo_data import bundled_vix

    console = Console()
    quiet = is_quiet(ctx)
    vix = bundled_vix()
    console.print(
        f"[bold]marketcast demo[/]: CBOE VIX closes from arch.data.vix, "
        f"{vix.index[0].date()} .. {vix.index[-1].date()} ({len(vix):,} days)\n"
    )
    vol = api.volatility(vix, models=["dd-ewma"], window=504, start=vix.index[-21], tail=0.05, notional=1000)
    print_frame(
        vol[["date", "volatility", "var", "cvar", "mad", "rho", "dof", "alpha", "abs_return"]],
        title="DD-EWMA one-day-ahead volatility and risk of VIX log returns (window 504, 5% tail, notional 1000)",
        caption="The last row is the live forecast for the next business day. rho: sign correlation; "
        "dof: Student-t degrees of freedom from it.",
    )
    rows = []
    for horizon in (21, 5):
        scores = api.backtest(vix, models=["sma", "naive"], window=504, horizon=horizon, step=64, progress=bars(quiet))
        s = api.backtest_summary(scores)
        for model in ("sma", "naive"):
            m = s[(s.model == model) & (s.stat == "mean")].iloc[0]
            sd = s[(s.model == model) & (s.stat == "sd")].iloc[0]
            rows.append(
                {
                    "horizon": horizon,
                    "model": model,
                    "mean rmse": m.rmse,
                    "sd rmse": sd.rmse,
                    "mean mae": m.mae,
                    "sd mae": sd.mae,
                }
            )
    print_frame(
        pd.DataFrame(rows),
        title=f"Rolling-origin backtest: {scores['slice'].nunique()} slices of 504 days, step 64 (as in the VIX paper)",
        caption="Chronological, leakage-free: every model is fitted only on the days before its horizon.",
    )

    train = vix.iloc[-504:]
    two_lstm: Any = api.train(train, model=api.get_model("two-lstm", seed=0), progress=bars(quiet))
    frame = two_lstm.predict_frame(5, (0.9, 0.95, 0.99))
    print_frame(
        frame.drop(columns="model"),
        title=f"Two-LSTM 5-day VIX interval forecast from {train.index[-1].date()} (VIX paper II.D, seed 0)",
        caption=f"Forecast errors follow a t with {two_lstm.dof_:.2f} degrees of freedom (sign correlation "
        f"{two_lstm.rho_:.3f}); sigma_e is the second LSTM's error-volatility forecast.",
    )
