"""The universe job end to end: in-process, on a LocalCluster, and on a scheduler with two workers.

Six S&P 500 members and the file holding an API error message, a window of 504 returns, the
last 20 days plus the live one, DD-EWMA and GARCH-t, tails 1% and 5%.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import REPO, data_file

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

GOOD = ("AAPL", "JPM", "KO", "MSFT", "PFE", "XOM")
BAD = "BF.B"
SETTINGS = dict(models="dd-ewma,garch", window=504, days=20, tails=(0.01, 0.05))
FLAGS = ["--models", "dd-ewma,garch", "--window", "504", "--days", "20", "--tail", "0.01,0.05"]
TABLES = ("assets.parquet", "backtests.csv", "portfolio.parquet", "portfolio_backtests.csv", "failures.csv")


def sp_file(symbol: str) -> Path:
    return data_file(f"sp500/daily_adjusted/DA-{symbol}-T-2021-04-21.csv")


@pytest.fixture(scope="module")
def universe(tmp_path_factory) -> Path:
    """A folder of links to the real files (never copies)."""
    d = tmp_path_factory.mktemp("universe")
    for s in GOOD + (BAD,):
        (d / sp_file(s).name).symlink_to(sp_file(s))
    return d


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


CLI = [sys.executable, "-c", "import sys; from marketcast.cli import main; sys.exit(main())"]


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env(), timeout=600, **kw)


@pytest.fixture(scope="module")
def reference(universe, tmp_path_factory):
    """An uninterrupted in-process run through the command line."""
    out = tmp_path_factory.mktemp("reference") / "out"
    res = cli("risk", str(universe), *FLAGS, "--local", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "6 of 7 assets done, 1 failed (failures.csv)"
    return out


def read(out: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(out / name) if name.endswith(".parquet") else pd.read_csv(out / name)
            for name in TABLES}


def assert_same_outputs(a: Path, b: Path) -> None:
    ta, tb = read(a), read(b)
    for name in TABLES:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)


def test_outputs_have_the_issues_columns_and_open_in_duckdb(reference):
    import duckdb

    t = read(reference)
    assert list(t["assets.parquet"].columns) == ["asset", "date", "model", "tail", "volatility", "var", "cvar",
                                                 "mad", "return", "breach"]
    assert list(t["backtests.csv"].columns) == ["asset", "model", "tail", "days", "breaches", "expected", "kupiec_lr",
                                                "kupiec_p", "christoffersen_ind_p", "christoffersen_cc_p",
                                                "basel_zone", "es_z2", "es_p"]
    assert list(t["portfolio_backtests.csv"].columns)[:3] == ["method", "tail", "days"]
    assert list(t["failures.csv"].columns) == ["asset", "source", "reason"]
    assets = t["assets.parquet"]
    # 6 assets x 2 models x 2 tails x (20 days + the live one), each once
    assert len(assets) == 6 * 2 * 2 * 21
    assert not assets.duplicated(["asset", "date", "model", "tail"]).any()
    n = duckdb.sql(f"SELECT count(*) FROM '{reference / 'assets.parquet'}' WHERE \"return\" IS NULL").fetchall()[0][0]
    assert n == 6 * 2 * 2  # the live day has no realised return
    live = duckdb.sql(f"SELECT DISTINCT date FROM '{reference / 'assets.parquet'}' WHERE breach IS NULL").fetchall()
    assert [str(d[0]) for d in live] == ["2021-04-22"]
    assert duckdb.sql(f"SELECT count(*) FROM '{reference / 'portfolio.parquet'}'").fetchall()[0][0] > 0
    bt = duckdb.sql(f"SELECT * FROM read_csv_auto('{reference / 'backtests.csv'}')").df()
    assert len(bt) == 6 * 2 * 2 and set(bt["days"]) == {20}


def test_failures_file_names_the_bad_asset_with_the_loaders_reason(reference):
    from marketcast.data import load_series

    fails = pd.read_csv(reference / "failures.csv")
    assert fails["asset"].tolist() == [BAD]
    with pytest.raises(Exception) as err:
        load_series(sp_file(BAD))
    assert fails["reason"].iloc[0] == str(err.value)


def test_same_numbers_as_rolling_volatility_and_independent_var(reference):
    """Each asset's rows are rolling_volatility's for the same window and days (DD-EWMA to the last
    digit; GARCH to the digit under one BLAS thread, as in the workers), and VaR/CVaR at each tail
    follow the standardised-t formulas written here with SciPy."""
    import arch  # noqa: F401  (loaded before the thread limit, as the workers do)
    from threadpoolctl import threadpool_limits

    from marketcast.data import load_series
    from marketcast.volatility import rolling_volatility

    assets = pd.read_parquet(reference / "assets.parquet")
    assets["date"] = pd.to_datetime(assets["date"])
    for symbol in GOOD[:3]:
        prices = load_series(sp_file(symbol), "adjusted_close")
        start = prices.index[-20]
        with threadpool_limits(1):
            vol = rolling_volatility(prices, window=504, start=start, models=["dd-ewma", "garch"], tail=0.01,
                                     notional=1.0, n_jobs=1)
        for model in ("dd-ewma", "garch"):
            want = vol[vol["model"] == model].reset_index(drop=True)
            for tail in (0.01, 0.05):
                got = assets[(assets["asset"] == symbol) & (assets["model"] == model) & (assets["tail"] == tail)]
                got = got.sort_values("date").reset_index(drop=True)
                assert (got["date"].to_numpy() == want["date"].to_numpy()).all()
                np.testing.assert_array_equal(got["volatility"], want["volatility"])
                np.testing.assert_array_equal(got["mad"], want["mad"])
                np.testing.assert_array_equal(got["return"], want["return"])
                s, nu = want["volatility"].to_numpy(), want["dof"].to_numpy()
                scale = np.sqrt((nu - 2) / nu)
                q = stats.t.ppf(tail, nu)
                np.testing.assert_allclose(got["var"], -s * scale * q, rtol=1e-12)
                es = s * scale * stats.t.pdf(q, nu) / tail * (nu + q * q) / (nu - 1)
                np.testing.assert_allclose(got["cvar"], es, rtol=1e-12)
                r = got["return"].to_numpy()
                known = np.isfinite(r)
                assert (got["breach"][known].astype(bool).to_numpy() == (-r[known] > got["var"].to_numpy()[known])).all()
                assert got["breach"][~known].isna().all()


def test_garch_matches_the_volatility_command_within_the_optimisers_tolerance(reference):
    """`marketcast volatility` on the same file and days: DD-EWMA to the last digit; GARCH-t within
    1e-4 relative (arch's optimiser lands a little elsewhere under another BLAS thread count)."""
    res = cli("volatility", str(sp_file("KO")), "--column", "adjusted_close", "--window", "504", "--from",
              "2021-03-24", "--to", "2021-04-21", "--models", "dd-ewma,garch", "--tail", "0.05", "--notional", "1",
              "--out", str(reference.parent / "ko.csv"))
    assert res.returncode == 0, res.stderr
    want = pd.read_csv(reference.parent / "ko.csv", parse_dates=["date"])
    assets = pd.read_parquet(reference / "assets.parquet")
    assets["date"] = pd.to_datetime(assets["date"])
    for model, rtol in (("dd-ewma", 1e-9), ("garch", 1e-4)):
        w = want[want["model"] == model].set_index("date")
        g = assets[(assets["asset"] == "KO") & (assets["model"] == model) & (assets["tail"] == 0.05)].set_index("date")
        assert len(w) == 20
        np.testing.assert_allclose(g.loc[w.index, "volatility"], w["volatility"], rtol=rtol)
        np.testing.assert_allclose(g.loc[w.index, "var"], w["var"], rtol=rtol)


def test_manifest_settings_checksums_versions_and_survivorship(reference, universe):
    m = json.loads((reference / "manifest.json").read_text())
    assert m["status"] == "complete"
    assert m["settings"]["models"] == ["dd-ewma", "garch"] and m["settings"]["window"] == 504
    assert m["assets"] == {"universe": 7, "done": 6, "failed": 1}
    data = {d["asset"]: d for d in m["data"]}
    assert set(data) == set(GOOD)
    assert data["AAPL"]["checksum"] == hashlib.sha256(sp_file("AAPL").read_bytes()).hexdigest()
    assert "survivorship" in m["survivorship_bias"]
    assert m["versions"]["dask"] and m["versions"]["marketcast"]
    html = (reference / "report.html").read_text()
    assert "survivorship" in html.lower()
    for heading in ("Traffic lights", "Most breached assets", "Breach heat map", "Portfolio", "Sectors"):
        assert f">{heading}</h2>" in html
    assert '"type":"heatmap"' in html
    assert "Information Technology" in html  # sectors from constituents.csv beside the folder
    assert 'src="http' not in html  # self-contained
    leftovers = [p.name for p in reference.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_local_cluster_gives_identical_outputs(reference, universe, tmp_path):
    out = tmp_path / "cluster"
    res = cli("risk", str(universe), *FLAGS, "--workers", "2", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "dashboard http://127.0.0.1:" in res.stderr
    assert res.stdout.strip() == "6 of 7 assets done, 1 failed (failures.csv)"
    assert_same_outputs(reference, out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster():
    """`dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays dead) on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    e = env()
    e.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for _ in range(2):
            procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                                           "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                                          env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs[1:]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _ctrl_c_enabled() -> None:
    """A run started in the background (``nohup make test &``) inherits SIGINT ignored, and Python
    then keeps ignoring it; a user's Ctrl-C reaches a foreground command, so the test restores it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_parts(out: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = out / ".parts"
        if parts.is_dir() and len([p for p in parts.glob("*.parquet")]) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {n} parts were written: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"no {n} parts after {timeout} s")


def test_scheduler_with_two_workers_one_killed_mid_run(reference, universe, tmp_path, dask_cluster):
    address, workers = dask_cluster
    out = tmp_path / "sched"
    proc = subprocess.Popen([*CLI, "risk", str(universe), *FLAGS, "--scheduler", address, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        _wait_for_parts(out, 1, proc)
        workers[0].send_signal(signal.SIGKILL)  # kill -9 one worker while tasks run
        workers[0].wait(timeout=30)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert stdout.strip() == "6 of 7 assets done, 1 failed (failures.csv)"
    assert f"Dask scheduler {address}" in stderr
    done = len(list((out / ".parts").glob("*.parquet")))
    assert done == 7
    assert_same_outputs(reference, out)


def test_ctrl_c_leaves_no_partial_output_and_resume_completes_it(reference, universe, tmp_path):
    out = tmp_path / "interrupted"
    args = ["risk", str(universe), *FLAGS, "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            preexec_fn=_ctrl_c_enabled)
    try:
        _wait_for_parts(out, 2, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, f"exit {proc.returncode}: {stderr}"
    assert "marketcast: interrupted" in stderr and "Traceback" not in stderr
    names = {p.name for p in out.iterdir()}
    assert names <= {"manifest.json", ".parts"}, names  # no table, no report, no temporary file
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    before = {p.name: p.stat().st_mtime_ns for p in (out / ".parts").glob("*.parquet")}
    assert 2 <= len(before) < 7
    # resumed in-process: the engine is not part of the settings, and every engine gives the same numbers
    res = cli(*[a for a in args if a not in ("--workers", "2")], "--local", "--resume")
    assert res.returncode == 0, res.stderr
    assert f"resuming: {len(before)} of 7 assets already written, computing {7 - len(before)}" in res.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (out / ".parts").glob("*.parquet")}
    assert all(after[name] == t for name, t in before.items())  # computed only the missing assets
    assert len(after) == 7
    assert_same_outputs(reference, out)
    # other settings cannot resume this folder
    res = cli("risk", str(universe), *FLAGS[:-1], "0.025", "--local", "--out", str(out), "--resume")
    assert res.returncode == 2 and "holds a run with other settings" in res.stderr


def test_weights_by_position_value(reference, universe, tmp_path):
    import marketcast.universe as mu

    weights = tmp_path / "book.csv"
    weights.write_text("symbol,position\nAAPL,3000000\nKO,1000000\nNOTHERE,5\n")
    res = mu.risk(universe, **{**SETTINGS, "models": "dd-ewma"}, local=True, weights=weights)
    assert res.summary == "6 of 7 assets done, 1 failed"
    assert set(res.portfolio["assets"]) == {2}
    assert res.manifest["weights_unknown_symbols"] == ["NOTHERE"]
    # the asset tables do not depend on the weights
    ref = read(reference)["assets.parquet"]
    ref = ref[ref["model"] == "dd-ewma"].reset_index(drop=True).assign(date=lambda f: pd.to_datetime(f["date"]))
    pd.testing.assert_frame_equal(res.assets.drop(columns="dof").reset_index(drop=True), ref,
                                  check_exact=True, check_dtype=False)


@pytest.mark.parametrize("args, message", [
    (["--models", "dd-ewma,nosuchmodel"], "nosuchmodel"),
    (["--tail", "0.01,1.5"], "--tail: 1.5 is outside (0, 1)"),
    (["--window", "100000"], "--window 100000: longer than every asset's history"),
    (["--scheduler", "tcp://127.0.0.1:{port}"], "cannot reach the scheduler"),
    (["--weights", "{weights}"], "names no asset of the universe"),
])
def test_bad_settings_fail_at_once_with_one_line_and_status_2(universe, tmp_path, args, message):
    weights = tmp_path / "w.csv"
    weights.write_text("symbol,weight\nNOPE,1\n")
    args = [a.format(port=_free_port(), weights=weights) for a in args]
    base = {"--models": "dd-ewma", "--days": "20", "--local": None}
    if "--scheduler" in args:
        base.pop("--local")
    flat = [x for k, v in base.items() if k not in args for x in ([k] if v is None else [k, v])]
    out = tmp_path / "out"
    t0 = time.monotonic()
    res = cli("risk", str(universe), *flat, *args, "--out", str(out))
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists()
    assert time.monotonic() - t0 < 60


def test_fhs_standardises_by_each_models_own_forecasts(reference):
    """fhs:dd-ewma is FHS with the returns of each window over DD-EWMA's one-day-ahead forecast for
    their day (rolling_volatility over the 504 days before the first forecast day and the forecast
    days), rescaled by the day's forecast; recomputed here from those forecasts."""
    from marketcast.data import load_series
    from marketcast.portfolio import portfolio_risk
    from marketcast.volatility import rolling_volatility

    port = pd.read_parquet(reference / "portfolio.parquet")
    port["date"] = pd.to_datetime(port["date"])
    returns, paths, today = {}, {}, {}
    for symbol in GOOD:
        prices = load_series(sp_file(symbol), "adjusted_close")
        r = np.log(prices).diff().iloc[1:]
        returns[symbol] = r.iloc[-(504 + 20):]
        vol = rolling_volatility(prices, window=504, start=r.index[-(504 + 20)], models=["dd-ewma"],
                                 tail=0.01, notional=1.0, n_jobs=1)
        s = pd.Series(vol["volatility"].to_numpy(), index=pd.DatetimeIndex(vol["date"]))
        paths[symbol] = s.iloc[:-1]      # the days of the returns
        today[symbol] = s.iloc[-21:]     # the 20 forecast days and the live one
    returns = pd.DataFrame(returns)
    dates = sorted(port["date"].unique())
    want = portfolio_risk(returns, {"dd-ewma": pd.DataFrame(today).reindex(dates)}, pd.Series(1.0, index=GOOD),
                          dates=dates, window=504, tails=(0.01, 0.05),
                          filter_volatility={"dd-ewma": pd.DataFrame(paths)})
    want = want[want["method"] == "fhs:dd-ewma"].reset_index(drop=True)
    got = port[port["method"] == "fhs:dd-ewma"].reset_index(drop=True)
    assert len(got) == 21 * 2 and (got["assets"] == 6).all()
    for col in ("volatility", "var", "cvar"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-12, err_msg=col)
