"""Portfolio VaR/ES (variance-covariance, HS, FHS) against plain pandas/NumPy loops, on synthetic and real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from marketcast.portfolio import PORTFOLIO_COLUMNS, portfolio_backtests, portfolio_risk

# --- independent reference: loops over days, assets and window rows --------------------------------


def _ewma_z(win: pd.DataFrame, lam: float) -> pd.DataFrame:
    z = win.copy()
    for a in win.columns:
        x = win[a].to_list()
        v = sum(r * r for r in x) / len(x)
        for u, r in enumerate(x):
            z.iloc[u, z.columns.get_loc(a)] = r / math.sqrt(v) if v > 0 else 0.0
            v = lam * v + (1 - lam) * r * r
    return z


def _ewma_corr(z: pd.DataFrame, lam: float) -> np.ndarray:
    n = z.shape[1]
    q = np.zeros((n, n))
    for u in range(len(z)):
        row = z.iloc[u].to_numpy()
        q += lam ** (len(z) - 1 - u) * np.outer(row, row)
    d = np.sqrt(np.diag(q))
    return q / np.outer(d, d)


def _t_var_es(sigma, nu, alpha, notional):
    if math.isinf(nu):
        q = stats.norm.ppf(alpha)
        return -notional * sigma * q, notional * sigma * stats.norm.pdf(q) / alpha
    c = math.sqrt((nu - 2) / nu)
    es = -integrate.quad(lambda u: stats.t.ppf(u, nu) * c, 0, alpha, limit=200)[0] / alpha
    return -notional * sigma * stats.t.ppf(alpha, nu) * c, notional * sigma * es


def _empirical(scen, alpha, notional):
    var_q = np.quantile(scen, alpha, method="inverted_cdf")
    tail = [s for s in scen if s <= var_q]
    return -notional * var_q, -notional * sum(tail) / len(tail)


def _fhs_z(raw: pd.DataFrame, fvol: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Returns over the model's own forecast for their day; 0 (and not covered) where either is missing."""
    z, covered = raw.copy(), {}
    for a in raw.columns:
        n = 0
        for u in range(len(raw)):
            r, s = raw[a].iloc[u], fvol.loc[raw.index[u], a]
            ok = pd.notna(r) and pd.notna(s) and s > 0
            z.iloc[u, z.columns.get_loc(a)] = r / s if ok else 0.0
            n += ok
        covered[a] = n
    return z, covered


def _reference(returns, vols, weights, dates, window, tails, notional, dofs=None, lam=0.94, coverage=0.9,
               fvols=None):
    rows = []
    for day in dates:
        before = returns[returns.index < day].iloc[-window:]
        raw = before
        live = day > returns.index[-1]
        realised = None if live else returns.loc[day]
        base = [a for a in returns.columns
                if weights.get(a, 0) != 0 and before[a].notna().sum() >= coverage * window
                and (live or pd.notna(realised[a]))]
        before = before.fillna(0.0)  # a missing return inside the window: no move that row

        def add(method, vol, risk, members, day=day, realised=realised):
            ret = math.nan
            if realised is not None and members:
                w = weights[members] / weights[members].sum()
                ret = math.log(sum(w[a] * math.exp(realised[a]) for a in members))
            for alpha, (v, e) in zip(tails, risk):
                rows.append(dict(method=method, date=day, tail=alpha, volatility=vol, var=v, cvar=e, ret=ret,
                                 breach=None if realised is None else -notional * ret > v, assets=len(members)))

        z_all = _ewma_z(before[base], lam)
        for m, vol in vols.items():
            members = [a for a in base if pd.notna(vol.loc[day, a]) and vol.loc[day, a] > 0]
            w = weights[members] / weights[members].sum()
            a_vec = np.array([w[a] * vol.loc[day, a] for a in members])
            corr = _ewma_corr(z_all[members], lam)
            sigma_p = math.sqrt(a_vec @ corr @ a_vec)
            nu = math.inf
            if dofs is not None:
                inv = sum(abs(x) / np.abs(a_vec).sum() / dofs[m].loc[day, a] for x, a in zip(a_vec, members))
                nu = 1 / inv
            add(f"varcov:{m}", sigma_p, [_t_var_es(sigma_p, nu, t, notional) for t in tails], members)
        w = weights[base] / weights[base].sum()
        scen = [math.log(sum(w[a] * math.exp(before[a].iloc[u]) for a in base)) for u in range(window)]
        add("hs", float(np.std(scen, ddof=1)), [_empirical(scen, t, notional) for t in tails], base)
        for m, vol in vols.items():
            if fvols is None or m not in fvols:
                continue
            z_m, covered = _fhs_z(raw[base], fvols[m])
            members = [a for a in base if pd.notna(vol.loc[day, a]) and vol.loc[day, a] > 0
                       and covered[a] >= coverage * window]
            w = weights[members] / weights[members].sum()
            scen = [math.log(sum(w[a] * math.exp(vol.loc[day, a] * z_m[a].iloc[u]) for a in members))
                    for u in range(window)]
            add(f"fhs:{m}", float(np.std(scen, ddof=1)), [_empirical(scen, t, notional) for t in tails], members)
    return pd.DataFrame(rows)


def _compare(got: pd.DataFrame, ref: pd.DataFrame):
    assert list(got.columns) == PORTFOLIO_COLUMNS
    key = ["method", "date", "tail"]
    got = got.sort_values(key).reset_index(drop=True)
    ref = ref.sort_values(key).reset_index(drop=True)
    assert got[key].equals(ref[key].astype(got[key].dtypes.to_dict()))
    for col in ["volatility", "var", "cvar"]:
        np.testing.assert_allclose(got[col], ref[col], rtol=1e-9, err_msg=col)
    np.testing.assert_allclose(got["return"], ref["ret"], rtol=1e-10, atol=1e-15)
    assert got["assets"].tolist() == ref["assets"].tolist()
    assert got["breach"].astype(object).where(got["breach"].notna(), None).tolist() == ref["breach"].tolist()


# --- synthetic -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2021-01-04", periods=90)
    cov = 1e-4 * np.array([[1.0, 0.6, 0.3, 0.2, 0.1],
                           [0.6, 2.0, 0.4, 0.3, 0.2],
                           [0.3, 0.4, 1.5, 0.2, 0.1],
                           [0.2, 0.3, 0.2, 0.8, 0.0],
                           [0.1, 0.2, 0.1, 0.0, 1.0]])
    r = pd.DataFrame(rng.multivariate_normal(np.zeros(5), cov, size=len(idx)) * (1 + 2 * (rng.random((90, 1)) < .1)),
                     index=idx, columns=list("abcde"))
    r.iloc[:40, 2] = np.nan          # c starts late: out until it has returns on 90% of the window's rows
    r.iloc[87, 3] = np.nan           # d has no return on one forecast day (and then a hole in its window)
    r.iloc[[60, 70], 1] = np.nan     # b misses two days (inside every window, 95% covered)
    dates = list(idx[-15:]) + [idx[-1] + pd.offsets.BDay(1)]
    vols = {m: pd.DataFrame(np.sqrt(np.diag(cov)) * f * (1 + 0.1 * rng.random((len(dates), 5))),
                            index=pd.DatetimeIndex(dates), columns=r.columns)
            for m, f in [("m1", 1.0), ("m2", 1.3)]}
    vols["m2"].iloc[3, 1] = np.nan   # m2 has no forecast for b on one day
    weights = pd.Series({"a": 3.0, "b": 1.0, "c": 2.0, "d": 1.5, "e": 0.0, "zz": 4.0})  # e: no weight; zz: no data
    return r, vols, weights, dates


@pytest.fixture(scope="module")
def fvols(synthetic):
    """Each model's one-day-ahead volatility on every row of the returns: a GARCH(1,1)-like filter of
    the returns before the row (not the EWMA of the window), with a few holes."""
    r, vols, _, _ = synthetic
    out = {}
    for m, (omega, a, b) in {"m1": (2e-6, 0.10, 0.85), "m2": (5e-6, 0.05, 0.90)}.items():
        x = r.fillna(0.0).to_numpy()
        s2 = np.empty_like(x)
        s2[0] = np.nanvar(r.to_numpy(), axis=0)
        for u in range(1, len(x)):
            s2[u] = omega + a * x[u - 1] ** 2 + b * s2[u - 1]
        out[m] = pd.DataFrame(np.sqrt(s2), index=r.index, columns=r.columns)
    out["m1"].iloc[[55, 56], 0] = np.nan   # m1 has no forecast for a on two days (inside the windows)
    out["m2"].iloc[30:40, 4] = np.nan      # m2 none for e early on
    return out


def test_matches_loops_on_synthetic_data(synthetic, fvols):
    r, vols, weights, dates = synthetic
    got = portfolio_risk(r, vols, weights, dates=dates, window=40, tails=(0.05, 0.1), notional=1000.0,
                         filter_volatility=fvols)
    ref = _reference(r, vols, weights.drop("zz"), dates, 40, (0.05, 0.1), 1000.0, fvols=fvols)
    _compare(got, ref)
    assert set(got["method"]) == {"varcov:m1", "varcov:m2", "hs", "fhs:m1", "fhs:m2"}
    assert len(got) == 5 * len(dates) * 2
    counts = got.groupby("method")["assets"]
    assert counts.max().max() == 4 and counts.min().min() < 4  # weights, windows, returns and forecasts drop assets
    live = got[got["date"] == dates[-1]]
    assert live["return"].isna().all() and live["breach"].isna().all() and live["var"].notna().all()


def test_fhs_standardises_by_the_models_own_volatility(synthetic, fvols):
    """A model whose volatility never changes gives FHS scenarios r * s / s = r: exactly HS. Any
    other standardisation (an EWMA of the window, say) would not."""
    r, vols, weights, dates = synthetic
    r = r.fillna(0.0)
    flat = {"c": pd.DataFrame(0.01, index=pd.DatetimeIndex(dates), columns=r.columns)}
    path = {"c": pd.DataFrame(0.01, index=r.index, columns=r.columns)}
    got = portfolio_risk(r, flat, weights, dates=dates[:-1], window=40, tails=(0.05, 0.1), filter_volatility=path)
    hs = got[got["method"] == "hs"].reset_index(drop=True)
    fhs = got[got["method"] == "fhs:c"].reset_index(drop=True)
    for col in ("volatility", "var", "cvar", "return", "assets"):
        np.testing.assert_allclose(fhs[col], hs[col], rtol=1e-12, err_msg=col)
    # doubling today's forecast against the window's doubles every scenario's return's size
    twice = portfolio_risk(r, {"c": flat["c"] * 2}, weights, dates=dates[:-1], window=40, tails=(0.05,),
                           filter_volatility=path)
    assert (twice.loc[twice["method"] == "fhs:c", "var"].to_numpy() > 1.9 * fhs.loc[fhs["tail"] == 0.05, "var"]).all()
    # without the model's path there is no FHS for it
    assert "fhs:c" not in set(portfolio_risk(r, flat, weights, dates=dates[:2], window=40)["method"])


def test_varcov_with_dof_uses_the_exposure_weighted_t(synthetic):
    r, vols, weights, dates = synthetic
    rng = np.random.default_rng(1)
    dofs = {m: pd.DataFrame(3 + 10 * rng.random(v.shape), index=v.index, columns=v.columns) for m, v in vols.items()}
    dofs["m1"].iloc[:, 0] = np.inf  # the normal for one asset
    got = portfolio_risk(r, vols, weights, dates=dates[-3:], window=40, tails=(0.01,), dof=dofs)
    ref = _reference(r, vols, weights.drop("zz"), dates[-3:], 40, (0.01,), 1.0, dofs=dofs)
    _compare(got, ref)


def test_an_asset_with_no_data_at_all_is_never_in(synthetic):
    r, vols, weights, dates = synthetic
    got = portfolio_risk(r.assign(f=np.nan), vols, pd.concat([weights, pd.Series({"f": 1.0})]),
                         dates=dates[:2], window=40)
    base = portfolio_risk(r, vols, weights, dates=dates[:2], window=40)
    pd.testing.assert_frame_equal(got, base)


def test_assets_on_two_calendars_stay_in(synthetic, fvols):
    # Two exchanges with different holidays: each asset misses some rows of the joint calendar.
    r, vols, weights, dates = synthetic
    r = r.copy()
    r.iloc[[20, 45, 60, 77], [0, 1]] = np.nan
    r.iloc[[30, 50, 66], [3, 4]] = np.nan
    common = [d for d in dates[:-1] if r.loc[d, ["a", "b", "d"]].notna().all()]
    got = portfolio_risk(r, vols, weights, dates=common[-4:], window=40, tails=(0.05,), filter_volatility=fvols)
    ref = _reference(r, vols, weights.drop("zz"), common[-4:], 40, (0.05,), 1.0, fvols=fvols)
    _compare(got, ref)
    assert (got.loc[got["method"] == "hs", "assets"] >= 3).all()
    strict = portfolio_risk(r, vols, weights, dates=common[-4:], window=40, tails=(0.05,), min_coverage=1.0,
                            filter_volatility=fvols)
    assert (strict["assets"] < got["assets"]).all()


def test_too_short_a_history_is_refused(synthetic):
    r, vols, weights, dates = synthetic
    with pytest.raises(ValueError, match="window"):
        portfolio_risk(r, vols, weights, dates=dates, window=80)


def test_backtests_per_method_and_tail(synthetic, fvols):
    r, vols, weights, dates = synthetic
    frame = portfolio_risk(r, vols, weights, dates=dates, window=40, tails=(0.05, 0.1), notional=1000.0,
                           filter_volatility=fvols)
    bt = portfolio_backtests(frame, n_sims=500)
    assert len(bt) == 10 and list(bt.columns[:2]) == ["method", "tail"]
    for row in bt.itertuples():
        g = frame[(frame["method"] == row.method) & (frame["tail"] == row.tail)].dropna(subset=["return"])
        breaches = int(np.sum(-1000.0 * g["return"] > g["var"]))
        assert (row.days, row.breaches) == (len(g), breaches)
        lr = -2 * (stats.binom.logpmf(breaches, len(g), row.tail)
                   - stats.binom.logpmf(breaches, len(g), breaches / len(g)))
        assert row.kupiec_lr == pytest.approx(lr, rel=1e-9, abs=1e-12)


# --- real data ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sp500_returns():
    from conftest import data_file

    closes = {}
    for sym in ["AAPL", "MSFT", "JPM", "XOM"]:
        df = pd.read_csv(data_file(f"sp500/daily_adjusted/DA-{sym}-T-2021-04-21.csv"), parse_dates=["timestamp"])
        closes[sym] = df.set_index("timestamp")["adjusted_close"].sort_index()
    prices = pd.DataFrame(closes).loc["2018-06-01":"2020-06-30"]
    return np.log(prices).diff().iloc[1:]


def test_matches_loops_on_sp500_assets(sp500_returns):
    r = sp500_returns
    window = 250
    dates = list(r.index[-12:]) + [r.index[-1] + pd.offsets.BDay(1)]
    # A plain "model": each asset's standard deviation over the window, known before the day.
    sd = r.rolling(window).std().shift(1)
    last = r.iloc[-window:].std()
    vol = sd.reindex(dates)
    vol.iloc[-1] = last
    weights = pd.Series({"AAPL": 250_000.0, "MSFT": 150_000.0, "JPM": 100_000.0, "XOM": 50_000.0})
    got = portfolio_risk(r, {"sd": vol}, weights, dates=dates, window=window, tails=(0.01, 0.05),
                         notional=1e6, filter_volatility={"sd": sd})
    ref = _reference(r, {"sd": vol}, weights, dates, window, (0.01, 0.05), 1e6, fvols={"sd": sd})
    _compare(got, ref)
    assert (got["assets"] == 4).all()
    # March-June 2020 in the window: the 1% loss of a $1M equity book is tens of thousands.
    assert got["var"].between(1e4, 2e5).all()
