"""The compiled kernels' switch, their fallbacks and the log line that says which path a fit took."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from marketcast.models import _kernels

ALL = ("_lstm_kernel", "_cnn_lstm_kernel", "_nnet_kernel")
SWITCHES = (_kernels.ENV_SWITCH, "MARKETCAST_LSTM_KERNEL", "MARKETCAST_NNET_KERNEL")


@pytest.fixture
def clean_env(monkeypatch):
    for variable in SWITCHES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(_kernels, "_logged", set())
    return monkeypatch


@pytest.mark.parametrize("value", ["off", "OFF", " 0 ", "false", "no"])
def test_one_switch_turns_every_kernel_off(clean_env, value):
    clean_env.setenv("MARKETCAST_KERNELS", value)
    for name in ALL:
        assert not _kernels.kernel_enabled(name)
        assert _kernels.load_kernel(name) is None
        assert _kernels.fallback_reason(name) == f"switched off by MARKETCAST_KERNELS={value.strip().lower()}"


def test_the_older_switches_turn_off_their_own_kernels_only(clean_env):
    assert all(_kernels.kernel_enabled(name) for name in ALL)
    clean_env.setenv("MARKETCAST_LSTM_KERNEL", "torch")
    assert [_kernels.kernel_enabled(name) for name in ALL] == [False, False, True]
    clean_env.delenv("MARKETCAST_LSTM_KERNEL")
    clean_env.setenv("MARKETCAST_NNET_KERNEL", "numpy")
    assert [_kernels.kernel_enabled(name) for name in ALL] == [True, True, False]
    assert _kernels.fallback_reason("_nnet_kernel") == "switched off by MARKETCAST_NNET_KERNEL=numpy"
    clean_env.setenv("MARKETCAST_NNET_KERNEL", "anything else")
    assert _kernels.kernel_enabled("_nnet_kernel")


def test_without_torchs_sgemm_the_training_kernels_fall_back_and_nnar_keeps_its_own(clean_env):
    # As on ARM Linux or macOS, where torch brings no MKL: no crash, a reason to log.
    clean_env.setattr(_kernels, "_blas", lambda: None)
    for name in ("_lstm_kernel", "_cnn_lstm_kernel"):
        assert _kernels.load_kernel(name) is None
        assert "sgemm_" in _kernels.fallback_reason(name) or "not built" in _kernels.fallback_reason(name)
    if _kernels.kernel_built("_nnet_kernel"):
        assert _kernels.fallback_reason("_nnet_kernel") is None


def test_a_kernel_that_was_not_built_says_so(clean_env):
    clean_env.setattr(_kernels, "_load", lambda name: None)
    assert _kernels.load_kernel("_nnet_kernel") is None
    assert not _kernels.kernel_built("_nnet_kernel")
    assert "was not built" in _kernels.fallback_reason("_nnet_kernel")


def test_the_path_is_logged_at_info_once_then_at_debug(clean_env, caplog):
    caplog.set_level(logging.DEBUG, logger="marketcast.models._kernels")
    for _ in range(3):
        _kernels.log_path("LSTMNet", "training through torch autograd (x)")
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.INFO, logging.DEBUG, logging.DEBUG]
    assert caplog.records[0].getMessage() == "LSTMNet: training through torch autograd (x)"


def _fit_lstm():
    import torch

    from marketcast.models import _nets

    torch.manual_seed(0)
    net = _nets.LSTMNet(8, 4, "linear", 1)
    X, y = np.random.default_rng(0).standard_normal((40, 5, 1)), np.zeros(40)
    _nets.train_regressor(net, X, y, epochs=1, batch_size=16, device=torch.device("cpu"))


def test_an_lstm_fit_logs_its_path(clean_env, caplog):
    caplog.set_level(logging.INFO, logger="marketcast.models._kernels")
    clean_env.setenv("MARKETCAST_KERNELS", "off")
    _fit_lstm()
    assert "LSTMNet: training through torch autograd (switched off by MARKETCAST_KERNELS=off)" in caplog.messages
    clean_env.delenv("MARKETCAST_KERNELS")
    _fit_lstm()
    if _kernels.kernel_built("_lstm_kernel"):
        assert any(m.startswith("LSTMNet: training steps in the C kernel _lstm_kernel") for m in caplog.messages)


def test_an_nnar_fit_logs_its_path_and_both_paths_agree(clean_env, caplog):
    from marketcast.models.nnar import nnetar, nnetar_forecast

    caplog.set_level(logging.INFO, logger="marketcast.models._kernels")
    x = np.sin(np.arange(120) / 5) + np.random.default_rng(1).normal(0, 0.1, 120)
    clean_env.setenv("MARKETCAST_KERNELS", "off")
    numpy_path = nnetar_forecast(nnetar(x, repeats=3, rng=0), 3)
    assert "NNAR networks: passes in NumPy (switched off by MARKETCAST_KERNELS=off)" in caplog.messages
    clean_env.delenv("MARKETCAST_KERNELS")
    kernel_path = nnetar_forecast(nnetar(x, repeats=3, rng=0), 3)
    if _kernels.kernel_built("_nnet_kernel"):
        assert "NNAR networks: passes in the C kernel _nnet_kernel" in caplog.messages
    np.testing.assert_allclose(kernel_path, numpy_path, rtol=1e-6)


def test_verbose_cli_shows_the_path(tmp_path):
    idx = pd.bdate_range("2020-01-01", periods=80)
    prices = 50 + np.cumsum(np.random.default_rng(2).normal(0, 1, idx.size))
    path = tmp_path / "p.csv"
    pd.DataFrame({"Date": idx.strftime("%Y-%m-%d"), "Close": prices}).to_csv(path, index=False)
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES} | {"MARKETCAST_KERNELS": "off"}
    cmd = [
        sys.executable,
        "-c",
        "import sys; from marketcast.cli import main; sys.exit(main())",
        "-v",
        "forecast",
        str(path),
        "--model",
        "nnar",
        "-p",
        "repeats=2",
        "--horizon",
        "2",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "NNAR networks: passes in NumPy (switched off by MARKETCAST_KERNELS=off)" in done.stderr
