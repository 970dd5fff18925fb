"""The VIX paper's deterministic columns, reproduced from CBOE's VIX history through the CLI.

Tables V-VII (DD-EWMA) and II-III (SMA) are compared with the digits printed in the paper,
read from the paper's own text (../shared/seeds), not from marketcast's transcription.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import paper_tables
from marketcast.cli import main

pytestmark = pytest.mark.realdata

# Three of the 63 printed VaR/CVaR values sit within 3e-5 of a rounding boundary: moving the t
# degrees of freedom in the fifth decimal (what a root finder at R's uniroot tolerance, 1.2e-4,
# allows) flips them; we solve eq. (4) exactly. Every other printed digit of Tables V-VII matches.
ROUNDING_BOUNDARY = {(1, "var"), (8, "var"), (14, "cvar")}


def _digits(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text else 0


def _matches_printed(ours: float, printed: float, decimals: int) -> bool:
    return round(ours, decimals) == round(printed, decimals)


@pytest.fixture(scope="module")
def volatility_csv(vix_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("vol") / "vol.csv"
    rc = main(["--quiet", "volatility", str(vix_path), "--window", "504", "--from", "2021-04-26", "--to",
               "2021-05-24", "--models", "dd-ewma", "--tail", "0.05", "--notional", "1000", "--out", str(out)])
    assert rc == 0
    frame = pd.read_csv(out, parse_dates=["date"])
    assert list(frame.columns[:8]) == ["date", "model", "volatility", "var", "cvar", "mad", "rho", "dof"]
    return frame


def test_forecast_dates_are_the_papers_21_trading_days(volatility_csv):
    dates = volatility_csv["date"].dt.strftime("%Y-%m-%d").tolist()
    assert len(dates) == 21 and dates[0] == "2021-04-26" and dates[-1] == "2021-05-24"
    assert "2021-05-01" not in dates  # trading days only


def test_table_v_dd_ewma_volatility_and_rmse(volatility_csv, vix_paper_text):
    paper = paper_tables.table_v(vix_paper_text)
    assert len(paper) == 21
    for row, p in zip(volatility_csv.itertuples(), paper):
        assert f"{row.volatility:.3f}" == f"{p['ddvf']:.3f}", f"day {p['day']}: DDVF"
        assert f"{row.rmse:.3f}" == f"{p['dd_rmse']:.3f}", f"day {p['day']}: RMSE"


def test_table_vi_dd_ewma_var_and_cvar(volatility_csv, vix_paper_text):
    paper = paper_tables.table_vi(vix_paper_text)
    exact = 0
    for row, p in zip(volatility_csv.itertuples(), paper):
        for col, key in (("var", "dd_var"), ("cvar", "dd_cvar")):
            ours = getattr(row, col)
            if (p["day"], col) in ROUNDING_BOUNDARY:
                # One unit in the third decimal off, because ours is within 3e-5 of x.xxx5.
                assert abs(ours - p[key]) < 0.0005 + 3e-5, (p["day"], col, ours)
                assert abs(abs(ours * 1000 % 1) - 0.5) < 0.03, (p["day"], col, ours)
            else:
                assert _matches_printed(ours, p[key], 3), f"day {p['day']}: {col} {ours:.5f} vs {p[key]}"
                exact += 1
    assert exact == 39


def _zeroin(f, a: float, b: float, tol: float = np.finfo(float).eps ** 0.25) -> float:
    """Brent's (1973) zeroin as R's uniroot runs it: inverse quadratic or secant steps,
    bisection as the safeguard, stop once half the bracket is within 2 eps |b| + tol / 2."""
    eps = np.finfo(float).eps
    fa, fb = f(a), f(b)
    c, fc = a, fa
    for _ in range(1000):
        prev = b - a
        if abs(fc) < abs(fb):
            a, b, c, fa, fb, fc = b, c, b, fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        step = (c - b) / 2
        if abs(step) <= tol_act or fb == 0:
            return b
        if abs(prev) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p, q = cb * t1, 1 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1))
                q = (q - 1) * (t1 - 1) * (t2 - 1)
            p, q = (p, -q) if p > 0 else (-p, q)
            if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(prev * q / 2):
                step = p / q
        if abs(step) < tol_act:
            step = tol_act if step > 0 else -tol_act
        a, fa = b, fb
        b += step
        fb = f(b)
        if (fb > 0) == (fc > 0):
            c, fc = a, fa
    return b


def test_the_authors_uniroot_explains_one_of_the_three_boundary_cells(volatility_csv, vix_paper_text):
    # The authors' published R code: uniroot(function(x) rho*(x-1)*beta(x/2,1/2) - 2*sqrt(x-2), c(2, 15)).
    # At its default tolerance it lands a few 1e-6 off the exact root: that fixes day 1's VaR, and
    # day 8's VaR and day 14's CVaR still differ (what summary.md says).
    from scipy import special, stats

    paper = paper_tables.table_vi(vix_paper_text)
    differ = []
    for row, p in zip(volatility_csv.itertuples(), paper):
        nu = _zeroin(lambda x: row.rho * (x - 1) * special.beta(x / 2, 0.5) - 2 * math.sqrt(x - 2), 2.0, 15.0)
        assert abs(nu - row.dof) < 1e-4
        q = stats.t.ppf(0.05, nu)
        scale = 1000 * row.volatility * math.sqrt((nu - 2) / nu)
        var, cvar = -scale * q, scale * stats.t.pdf(q, nu) / 0.05 * (nu + q * q) / (nu - 1)
        differ += [(p["day"], col) for col, ours, key in (("var", var, "dd_var"), ("cvar", cvar, "dd_cvar"))
                   if not _matches_printed(ours, p[key], 3)]
    assert differ == [(8, "var"), (14, "cvar")]


def test_table_vii_dd_ewma_mad(volatility_csv, vix_paper_text):
    paper = paper_tables.table_vii(vix_paper_text)
    for row, p in zip(volatility_csv.itertuples(), paper):
        assert f"{row.mad:.3f}" == f"{p['dd_mad']:.3f}", f"day {p['day']}: MAD"


def test_last_window_matches_the_papers_summary_statistics(vix):
    # "2019-05-23 to 2021-05-21 ... sample mean 0.0006, standard deviation 0.0865"
    from marketcast.stats import log_returns

    r = log_returns(vix).loc["2019-05-23":"2021-05-21"]
    assert len(r) == 504
    assert f"{r.mean():.4f}" == "0.0006" and f"{r.std():.4f}" == "0.0865"


@pytest.mark.parametrize("horizon,table", [(21, "II"), (5, "III")])
def test_tables_ii_iii_sma_slices(vix_path, vix_paper_text, tmp_path, horizon, table):
    out = tmp_path / "bt.csv"
    rc = main(["--quiet", "backtest", str(vix_path), "--models", "sma,naive", "--window", "504", "--start",
               "2016-01-04", "--step", "64", "--slices", "14", "--horizon", str(horizon), "--out", str(out)])
    assert rc == 0
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["slice", "start", "end", "model", "horizon", "rmse", "mae"]
    sma = scores[scores.model == "sma"].reset_index(drop=True)
    paper = paper_tables.table_ii_iii(vix_paper_text, table)
    # The paper's slice dates (section II.E): first and last slice.
    assert (sma.start[0], sma.end[0]) == ("2016-01-04", "2018-01-02")
    assert (sma.start[13], sma.end[13]) == ("2019-04-25", "2021-04-23")
    for i, p in enumerate(paper["slices"]):
        if table == "II" and i == 7:
            # Table II's 21-day slice 8 (3.1923 / 2.6825) does not follow from the data: the
            # same slice gives 2.2171 / 1.9068, and its 5-day slice 8 in Table III matches.
            assert (round(sma.rmse[i], 4), round(sma.mae[i], 4)) == (2.2171, 1.9068)
            continue
        assert round(sma.rmse[i], 4) == p["sma_rmse"], f"slice {i + 1} rmse"
        assert round(sma.mae[i], 4) == p["sma_mae"], f"slice {i + 1} mae"
    # The mean and SD rows are the mean and the sample SD (ddof=1) of the printed slices.
    printed = [p["sma_rmse"] for p in paper["slices"]]
    mean = sum(printed) / 14
    sd = math.sqrt(sum((x - mean) ** 2 for x in printed) / 13)
    assert round(mean, 4) == paper["mean"]["sma_rmse"] and round(sd, 4) == paper["sd"]["sma_rmse"]
    if table == "III":
        assert round(sma.rmse.mean(), 4) == paper["mean"]["sma_rmse"]
        assert round(sma.rmse.std(ddof=1), 4) == paper["sd"]["sma_rmse"]
        assert round(sma.mae.mean(), 4) == paper["mean"]["sma_mae"]
        assert round(sma.mae.std(ddof=1), 4) == paper["sd"]["sma_mae"]
