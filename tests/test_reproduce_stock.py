"""`marketcast reproduce stock-paper --quick`: both protocols, the leak stated, save/reload/train again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import data_dir
from marketcast.cli import main
from marketcast.reproduce.stock_paper import overlap_share, split_windows

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_split_protocols():
    train, test = split_windows(1000, "chronological", 100, 0)
    assert train.max() == 799 and test.min() == 900  # 100 windows purged: no shared day
    assert overlap_share(train, test, 100) == 0.0
    train, test = split_windows(1000, "shuffled", 100, 0)
    assert len(train) == 800 and len(np.intersect1d(train, test)) == 0
    assert overlap_share(train, test, 100) == 1.0  # every shuffled test window has a training neighbour


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not (data_dir() / "NIFTY_SBIN.csv").exists():
        pytest.skip("real data not found")
    out = tmp_path_factory.mktemp("stock-paper")
    assert main(["--quiet", "reproduce", "stock-paper", "--data-dir", str(data_dir()), "--out", str(out), "--quick"]) == 0
    return out


def test_tables_both_protocols_and_models(run):
    t2 = pd.read_csv(run / "table2.csv")
    assert set(t2.dataset) == {"SBIN", "AAOI"} and set(t2.protocol) == {"shuffled", "chronological"}
    assert set(t2.model) == {"cnn-lstm", "window-lstm", "xgboost", "naive"}
    assert {"mse", "mae", "explained_variance", "r2", "max_error", "rmse_price"} <= set(t2.columns)
    shared = t2.set_index(["protocol"]).test_windows_sharing_days_with_training
    assert (shared.loc["shuffled"] == 1.0).all() and (shared.loc["chronological"] == 0.0).all()
    t3 = pd.read_csv(run / "table3.csv")
    assert t3.set_index("dataset").paper_mse.to_dict() == {"SBIN": 0.001, "AAOI": 0.0016}
    assert (run / "report.html").exists() and len(list((run / "figures").glob("*.png"))) == 8
    summary = (run / "summary.md").read_text()
    assert "The paper's protocol leaks" in summary and "naive random walk" in summary


def test_save_reload_train_again(run):
    ft = pd.read_csv(run / "finetune.csv")
    assert ft.step.str.contains("bit-identical forecasts: True").any()
    assert len(ft) == 3 and ft.test_mse.notna().all()
    saved = list((run / "models").iterdir())
    assert saved and {p.name for p in saved[0].iterdir()} == {"model.json", "weights.safetensors"}
