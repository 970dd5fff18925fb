"""DD-EWMA volatility, VaR, CVaR and MAD against a plain, independent implementation.

The reference below is written from the paper's formulas with Python loops, SciPy's brentq and
scipy.stats.t (no marketcast code), and run on other stocks, windows, tails and notionals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats as sst

from conftest import data_file
from marketcast.cli import main

pytestmark = pytest.mark.realdata


def reference(returns: np.ndarray, tail: float, notional: float) -> dict:
    n = len(returns)
    mean = sum(returns) / n
    c = [x - mean for x in returns]
    s = [math.copysign(1.0, x) if x != 0 else 0.0 for x in c]
    ms = sum(s) / n
    rho = sum(a * (b - ms) for a, b in zip(c, s)) / math.sqrt(sum(a * a for a in c) * sum((b - ms) ** 2 for b in s))
    F = sum(1 for x in returns if x <= mean) / n
    z = [abs(x) / (2 * rho * math.sqrt(F * (1 - F))) for x in c]
    l = n // 10
    best = None
    for a in [i / 100 for i in range(1, 31)]:
        S = [sum(z[:l]) / l]
        for v in z:
            S.append(a * v + (1 - a) * S[-1])
        fess = sum((z[t - 1] - S[t - 1]) ** 2 for t in range(l + 1, n + 1))
        if best is None or fess < best[0]:
            best = (fess, a, S[n])
    sigma = best[2]
    if rho < math.sqrt(2 / math.pi):
        nu = optimize.brentq(lambda v: 2 * math.sqrt(v - 2) - (v - 1) * rho * special.beta(v / 2, 0.5), 2 + 1e-12, 1e7, xtol=1e-13)
        q = sst.t.ppf(tail, nu)
        k = math.sqrt((nu - 2) / nu)
        var = -notional * sigma * k * q
        cvar = notional * sigma * k * sst.t.pdf(q, nu) / tail * (nu + q * q) / (nu - 1)
    else:
        nu = math.inf
        var = -notional * sigma * sst.norm.ppf(tail)
        cvar = notional * sigma * sst.norm.pdf(sst.norm.ppf(tail)) / tail
    return {"volatility": sigma, "alpha": best[1], "var": var, "cvar": cvar, "rho": rho, "dof": nu,
            "mad": 2 * rho * sigma * math.sqrt(F * (1 - F))}


@pytest.mark.parametrize(
    "name,window,tail,notional,start,end,extra",
    [
        ("IBM_alphavantage_daily.csv", 250, 0.01, 1_000_000.0, "2020-03-02", "2020-03-13", []),
        ("NIFTY_SBIN.csv", 1000, 0.025, 50_000.0, "2016-06-01", "2016-06-08", ["--split", "2014-11-20:10"]),
        ("aaoi.us.txt", 120, 0.10, 1.0, "2017-10-02", "2017-10-05", []),
        ("RELIANCE.BSE_alphavantage_daily.csv", 504, 0.05, 1000.0, "2021-06-01", "2021-06-04", ["--column", "adjusted close"]),
    ],
)
def test_cli_volatility_agrees_with_the_reference(tmp_path, name, window, tail, notional, start, end, extra):
    from marketcast.data import load_series

    path = data_file(name)
    out = tmp_path / "v.json"
    rc = main(["--quiet", "volatility", str(path), "--window", str(window), "--from", start, "--to", end,
               "--tail", str(tail), "--notional", str(notional), "--out", str(out), *extra])
    assert rc == 0
    got = pd.read_json(out)
    column = extra[1] if extra[:1] == ["--column"] else None
    prices = load_series(path, column, adjust_splits=[extra[1]] if extra[:1] == ["--split"] else False)
    r = np.log(prices).diff().dropna()
    assert len(got) == len(r.loc[start:end]) > 0
    for row in got.itertuples():
        i = r.index.get_loc(pd.Timestamp(row.date))
        ref = reference(r.iloc[i - window : i].tolist(), tail, notional)
        assert row.alpha == ref["alpha"]
        for key in ("volatility", "var", "cvar", "mad", "rho"):
            assert getattr(row, key) == pytest.approx(ref[key], rel=1e-9), (row.date, key)
        assert row.dof == pytest.approx(ref["dof"], rel=1e-8)
