"""DD-EWMA's C kernel (_ddewma_kernel.c) against its NumPy reference: the same bits, on real windows."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from conftest import data_file
from marketcast.models import ewma
from marketcast.stats import log_returns, window_stats

kernel = pytest.importorskip("marketcast.models._ddewma_kernel", reason="the C kernel is not built")


def numpy_stats(w):
    """window_stats' NumPy expressions, written out: mean, sign correlation (eq. 3), F(mean), Z_t."""
    mean = w.mean(axis=-1)
    c = w - mean[:, None]
    s = np.sign(c)
    sc = s - s.mean(axis=-1, keepdims=True)
    rho = (c * sc).sum(axis=-1) / np.sqrt((c * c).sum(axis=-1) * (sc * sc).sum(axis=-1))
    f = (w <= mean[:, None]).mean(axis=-1)
    z = np.abs(w - mean[:, None]) / (2.0 * rho * np.sqrt(f * (1.0 - f)))[:, None]
    return mean, rho, f, z


def loop_ddewma(z, alphas=ewma.ALPHA_GRID):
    """Algorithm 1 with plain Python floats, one window: (fess per alpha, last S per alpha)."""
    k = len(z)
    l = int(k * 0.1)
    s0 = float(np.mean(z[:l]))
    fess, last = [], []
    for a in alphas:
        s, f = s0, 0.0
        for t, v in enumerate(z):
            if t >= l:
                f += (v - s) ** 2
            s = a * v + (1 - a) * s
        fess.append(f)
        last.append(s)
    return np.array(fess), np.array(last)


@pytest.fixture(scope="module")
def windows():
    from marketcast.data import load_series

    out = []
    for name in ("sp500/daily_adjusted/DA-AAPL-T-2021-04-21.csv", "sp500/daily_adjusted/DA-XOM-T-2021-04-21.csv",
                 "VIX_History.csv"):
        r = log_returns(load_series(data_file(name))).to_numpy()
        out.append(np.lib.stride_tricks.sliding_window_view(r, 504)[-300:])
    return np.concatenate(out)


@pytest.mark.realdata
def test_window_stats_kernel_gives_numpys_bits(windows, monkeypatch):
    fast = window_stats(windows)
    monkeypatch.setenv(ewma.KERNEL_SWITCH, "numpy")
    slow = window_stats(windows)
    ref = numpy_stats(windows)
    for a, b, c in zip((fast.mean, fast.rho, fast.cdf_mean, fast.z), (slow.mean, slow.rho, slow.cdf_mean, slow.z), ref):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(fast.dof, slow.dof)


@pytest.mark.parametrize("k", [10, 37, 128, 129, 1000, 2053])
def test_window_stats_kernel_on_odd_lengths(k, monkeypatch):
    # NumPy's pairwise summation changes shape at 8 and 128 values: every branch is taken.
    w = np.random.default_rng(k).standard_t(3, (40, k)) * 0.02
    fast = window_stats(w)
    for a, b in zip((fast.mean, fast.rho, fast.cdf_mean, fast.z), numpy_stats(w)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.realdata
def test_smoothing_kernel_gives_the_numpy_recursions_bits(windows, monkeypatch):
    z = window_stats(windows).z
    fast = ewma.dd_ewma(z)
    monkeypatch.setenv(ewma.KERNEL_SWITCH, "numpy")
    assert ewma.kernel_in_use() == "numpy"
    slow = ewma.dd_ewma(z)
    np.testing.assert_array_equal(fast.fess, slow.fess)
    np.testing.assert_array_equal(fast.volatility, slow.volatility)
    np.testing.assert_array_equal(fast.alpha, slow.alpha)
    # Both equal Algorithm 1 with Python floats (the same operations in the same order).
    for i in (0, 299, 450, 899):
        fess, last = loop_ddewma(z[i])
        np.testing.assert_array_equal(fast.fess[i], fess)
        assert fast.volatility[i] == last[np.argmin(fess)]


def test_more_alphas_than_the_kernel_takes_use_numpy(monkeypatch):
    z = np.abs(np.random.default_rng(3).standard_normal((3, 300)))
    alphas = np.linspace(0.001, 0.999, 300)
    res = ewma.dd_ewma(z, alphas)
    for i in range(3):
        fess, last = loop_ddewma(z[i], alphas)
        np.testing.assert_allclose(res.fess[i], fess, rtol=1e-12)


def test_a_missing_kernel_is_said_once_and_numpy_serves(monkeypatch, caplog):
    from marketcast.models import _kernels

    _kernels._say_fallback.cache_clear()
    monkeypatch.delenv(_kernels.ENV_SWITCH, raising=False)  # .ci/kernels runs this file with the kernels off
    for variable in _kernels.ALIASES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(_kernels, "_load", lambda name: None)
    try:
        with caplog.at_level(logging.INFO, logger="marketcast.models.ewma"):
            assert ewma.kernel_in_use() == "numpy"
            z = np.abs(np.random.default_rng(4).standard_normal((2, 200)))
            res = ewma.dd_ewma(z)
            ewma.dd_ewma(z)
        said = [r for r in caplog.records if "not built" in r.getMessage()]
        assert len(said) == 1 and said[0].levelno == logging.WARNING
        fess, _ = loop_ddewma(z[1])
        np.testing.assert_array_equal(res.fess[1], fess)
    finally:
        _kernels._say_fallback.cache_clear()


def test_the_one_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv("MARKETCAST_KERNELS", "off")
    assert ewma.kernel_in_use() == "numpy"


def test_window_stats_kernel_reads_overlapping_rolling_windows_in_place():
    r = np.random.default_rng(11).standard_t(4, 900) * 0.02
    view = np.lib.stride_tricks.sliding_window_view(r, 504)[::3]  # rows 24 bytes apart, overlapping
    fast = window_stats(view)
    for a, b in zip((fast.mean, fast.rho, fast.cdf_mean, fast.z), numpy_stats(np.ascontiguousarray(view))):
        np.testing.assert_array_equal(a, b)
    one = window_stats(view[5])
    np.testing.assert_array_equal(one.z[0], fast.z[5])
