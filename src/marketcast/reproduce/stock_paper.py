"""The Stock-X paper's experiments as code (Aadhitya et al., CNN-LSTM), honestly evaluated.

For each dataset (SBIN, AAOI, IBM, RELIANCE from ``../shared/data``) the closes become 100-day
windows normalised to their first close, the target the next close on that scale (section IV.A).
Every model is trained and scored under two protocols:

* ``shuffled`` (the paper's): windows shuffled, then split 80/20. Overlapping windows share 99
  of their 100 days, so almost every test window has near-copies in the training set: the
  scores measure interpolation, not forecasting. We run it to reproduce the paper.
* ``chronological`` (ours, the default everywhere else): the first 80% of windows train, and
  the test windows start after the last training target (100 windows purged at the boundary),
  so no test day was ever seen in training.

Models: the CNN-LSTM, the paper's comparison models (an LSTM and XGBoost) and the naive random
walk (tomorrow = today). Metrics as Table II: MSE, MAE, explained variance, R2, max error (on the
normalised scale, as the paper's), plus the RMSE in price units. Then the save / reload / train
again experiment of section IV.C.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketcast.data import load_series
from marketcast.errors import DataError
from marketcast.metrics import point_metrics
from marketcast.models.features import normalised_windows

__all__ = ["DATASETS", "StockPaperConfig", "StockPaperResult", "reproduce_stock_paper", "split_windows"]

#: Dataset name -> (file in ../shared/data, the paper's Table III MSE).
DATASETS: dict[str, tuple[str, float]] = {
    "SBIN": ("NIFTY_SBIN.csv", 0.001),
    "AAOI": ("aaoi.us.txt", 0.0016),
    "IBM": ("IBM_alphavantage_daily.csv", 0.0027),
    "RELIANCE": ("RELIANCE.BSE_alphavantage_daily.csv", 0.0145),
}
#: Splits the unadjusted Kaggle files do not report, confirmed against the exchange's record:
#: SBIN's 10-for-1 split of 2014-11-20 (close 2910.50, next open 294.75). The others' sources report theirs.
CONFIRMED_SPLITS: dict[str, tuple[str, ...]] = {"SBIN": ("2014-11-20:10",)}
#: Table II (CNN-LSTM on "sample NSE/NASDAQ data, shuffled") and Table IV (MSE by model).
PAPER_TABLE_II = {"mse": 0.035, "mae": 0.075, "explained_variance": 0.935370, "r2": 0.9353, "max_error": 0.174930}
PAPER_TABLE_IV = {"cnn-lstm": 0.035, "window-lstm": 0.045, "xgboost": 0.047}
PROTOCOLS = ("shuffled", "chronological")
MODELS = ("cnn-lstm", "window-lstm", "xgboost", "naive")


@dataclass(frozen=True)
class StockPaperConfig:
    """What to run.

    ``validation`` is the share of the *training* windows (the last ones, in time order) held out
    for the validation curves of Figs. 6-7, so the test windows stay unseen; the networks thus
    train on 72% of all windows. The paper plots a validation loss without saying where its
    validation data came from; ``validation=0`` trains on the full 80%.
    """

    datasets: tuple[str, ...] = tuple(DATASETS)
    epochs: int = 40
    seed: int = 0
    window: int = 100
    validation: float = 0.1
    finetune_from: str = "SBIN"
    finetune_to: str = "IBM"

    @classmethod
    def quick(cls) -> StockPaperConfig:
        return cls(datasets=("SBIN", "AAOI"), epochs=2, finetune_to="AAOI")


@dataclass
class StockPaperResult:
    tables: dict[str, pd.DataFrame]
    config: StockPaperConfig
    histories: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def split_windows(n: int, protocol: str, window: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and test windows under a protocol (80/20, see the module docstring)."""
    n_train = int(0.8 * n)
    if protocol == "shuffled":
        order = np.random.default_rng(seed).permutation(n)
        return np.sort(order[:n_train]), np.sort(order[n_train:])
    if protocol == "chronological":
        # Window i spans days i..i+window (target included): purge the windows that share days.
        test = np.arange(n_train + window, n)
        return np.arange(n_train), test
    raise DataError(f"unknown protocol '{protocol}' (use shuffled or chronological)")


def overlap_share(train: np.ndarray, test: np.ndarray, window: int) -> float:
    """Share of test windows that share at least one day with some training window."""
    train_sorted = np.sort(train)
    pos = np.searchsorted(train_sorted, test)
    nearest = np.full(test.size, np.inf)
    for shift in (-1, 0):
        j = np.clip(pos + shift, 0, train_sorted.size - 1)
        nearest = np.minimum(nearest, np.abs(train_sorted[j] - test))
    return float(np.mean(nearest <= window))


def _model(name: str, config: StockPaperConfig) -> Any:  # the registry's Forecaster, with the window API
    from marketcast.models.registry import get_model

    if name == "xgboost":
        return get_model("xgboost", window=config.window, seed=config.seed)
    return get_model(name, window=config.window, epochs=config.epochs, seed=config.seed, validation=config.validation)


def _load(data_dir: Path, name: str) -> pd.Series:
    if name not in DATASETS:
        raise DataError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)})")
    path = Path(data_dir) / DATASETS[name][0]
    # Unadjusted splits would put a fake 90% crash in SBIN's windows: use the adjusted series.
    return load_series(path, adjust_splits=list(CONFIRMED_SPLITS.get(name, ())) or True)


def reproduce_stock_paper(
    data_dir: str | Path,
    config: StockPaperConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    model_dir: Path | None = None,
) -> StockPaperResult:
    """Tables II-IV and the save/reload/train-again experiment of the Stock-X paper."""
    config = config or StockPaperConfig()
    rows, histories, predictions, seconds = [], {}, {}, {}
    total = len(config.datasets) * len(PROTOCOLS) * len(MODELS)
    done = 0
    series = {name: _load(Path(data_dir), name) for name in config.datasets}
    for name, prices in series.items():
        X, y, base = normalised_windows(prices.to_numpy(), config.window)
        target_dates = prices.index[config.window :]
        for protocol in PROTOCOLS:
            train, test = split_windows(len(X), protocol, config.window, config.seed)
            shared = overlap_share(train, test, config.window)
            for model_name in MODELS:
                t0 = time.perf_counter()
                if model_name == "naive":
                    pred = X[test, -1]
                else:
                    model = _model(model_name, config).fit_windows(X[train], y[train])
                    pred = model.predict_windows(X[test])
                    if hasattr(model, "history_"):
                        histories[f"{name}/{protocol}/{model_name}"] = model.history_
                seconds[f"{name}/{protocol}/{model_name}"] = time.perf_counter() - t0
                scores = point_metrics(y[test], pred)
                price_rmse = float(np.sqrt(np.mean(((pred - y[test]) * base[test]) ** 2)))
                rows.append(
                    {
                        "dataset": name,
                        "protocol": protocol,
                        "model": model_name,
                        "train_windows": int(train.size),
                        "test_windows": int(test.size),
                        "test_windows_sharing_days_with_training": shared,
                        **{k: scores[k] for k in ("mse", "mae", "explained_variance", "r2", "max_error")},
                        "rmse_price": price_rmse,
                    }
                )
                if model_name == "cnn-lstm":
                    predictions[f"{name}/{protocol}"] = pd.DataFrame(
                        {"date": target_dates[test], "actual": y[test] * base[test], "predicted": pred * base[test]}
                    )
                done += 1
                if progress is not None:
                    progress("models", done, total)
    scores = pd.DataFrame(rows)
    tables = {"table2": _table2(scores), "table3": _table3(scores), "table4": _table4(scores)}
    tables["finetune"] = finetune_experiment(series, config, model_dir)
    return StockPaperResult(tables, config, histories, predictions, seconds)


def _table2(scores: pd.DataFrame) -> pd.DataFrame:
    out = scores.copy()
    for k, v in PAPER_TABLE_II.items():
        out[f"paper_{k}"] = np.where(out.model == "cnn-lstm", v, np.nan)
    return out


def _table3(scores: pd.DataFrame) -> pd.DataFrame:
    cnn = scores[scores.model == "cnn-lstm"][["dataset", "protocol", "mse"]].copy()
    naive = scores[scores.model == "naive"].set_index(["dataset", "protocol"]).mse
    cnn["naive_mse"] = [naive[(d, p)] for d, p in zip(cnn.dataset, cnn.protocol)]
    cnn["paper_mse"] = cnn.dataset.map({k: v[1] for k, v in DATASETS.items()})
    return cnn.reset_index(drop=True)


def _table4(scores: pd.DataFrame) -> pd.DataFrame:
    g = scores.groupby(["protocol", "model"], sort=False)[["mse", "mae", "r2"]].mean().reset_index()
    g["paper_mse"] = g.model.map(PAPER_TABLE_IV)
    return g


def finetune_experiment(series: dict[str, pd.Series], config: StockPaperConfig, model_dir: Path | None) -> pd.DataFrame:
    """Section IV.C: train on one stock, save, reload (identical forecasts), train again on another.

    Both stocks use the chronological protocol. Reports the training loss before and after, the
    test MSE on the second stock after fine-tuning and after training from scratch for as many
    epochs, and whether the reloaded model forecast bit-identically.
    """
    import tempfile

    from marketcast.persistence import load_model, save_model

    first, second = config.finetune_from, config.finetune_to
    if first not in series or second not in series:
        raise DataError(f"the fine-tune experiment needs datasets {first} and {second}")
    rows = []
    X1, y1, _ = normalised_windows(series[first].to_numpy(), config.window)
    tr1, te1 = split_windows(len(X1), "chronological", config.window, config.seed)
    model = _model("cnn-lstm", config).fit(series[first].iloc[: tr1[-1] + config.window + 1])
    rows.append(
        {
            "step": f"train on {first}",
            "epochs": config.epochs,
            "first_epoch_loss": model.history_["loss"][0],
            "last_epoch_loss": model.history_["loss"][-1],
            "test_dataset": first,
            "test_mse": float(np.mean((model.predict_windows(X1[te1]) - y1[te1]) ** 2)),
        }
    )
    folder = Path(model_dir) if model_dir is not None else Path(tempfile.mkdtemp(prefix="stockx-"))
    path = save_model(model, folder / f"cnn-lstm-{first.lower()}", data=series[first])
    reloaded: Any = load_model(path)  # the CNN-LSTM, with its window API
    same = bool(np.array_equal(reloaded.predict_windows(X1[te1]), model.predict_windows(X1[te1])))
    X2, y2, _ = normalised_windows(series[second].to_numpy(), config.window)
    tr2, te2 = split_windows(len(X2), "chronological", config.window, config.seed)
    before = float(np.mean((reloaded.predict_windows(X2[tr2]) - y2[tr2]) ** 2))
    reloaded.set_params(warm_start=True).fit_windows(X2[tr2], y2[tr2])
    tuned_hist = reloaded.history_["loss"][-config.epochs :]
    rows.append(
        {
            "step": f"reload (bit-identical forecasts: {same}), train again on {second}",
            "epochs": config.epochs,
            "loss_before_training_again": before,
            "first_epoch_loss": tuned_hist[0],
            "last_epoch_loss": tuned_hist[-1],
            "test_dataset": second,
            "test_mse": float(np.mean((reloaded.predict_windows(X2[te2]) - y2[te2]) ** 2)),
        }
    )
    scratch = _model("cnn-lstm", config).fit_windows(X2[tr2], y2[tr2])
    rows.append(
        {
            "step": f"from scratch on {second}",
            "epochs": config.epochs,
            "first_epoch_loss": scratch.history_["loss"][0],
            "last_epoch_loss": scratch.history_["loss"][-1],
            "test_dataset": second,
            "test_mse": float(np.mean((scratch.predict_windows(X2[te2]) - y2[te2]) ** 2)),
        }
    )
    out = pd.DataFrame(rows)
    out.attrs["reloaded_identical"] = same
    return out


def summary_markdown(result: StockPaperResult) -> str:
    """``summary.md``: the leak of the paper's protocol, Tables III, IV and II, and the fine-tune."""
    cfg = result.config
    t2, t3, t4, ft = (result.tables[k] for k in ("table2", "table3", "table4", "finetune"))
    lines = _intro_lines(cfg, t2) + _table3_lines(t3) + _table4_lines(t4) + _table2_lines(t2) + _finetune_lines(cfg, ft)
    return "\n".join(lines) + "\n"


def _intro_lines(cfg, t2: pd.DataFrame) -> list[str]:
    lines = [
        "# Reproduction of the Stock-X paper (Aadhitya et al., CNN-LSTM)",
        "",
        f"Datasets: {', '.join(cfg.datasets)} (splits and bonus issues adjusted). 100-day windows normalised to "
        f"their first close; {cfg.epochs} epochs, batch 40, seed {cfg.seed}, 10% of the training windows for "
        "validation curves.",
        "",
        "**The paper's protocol leaks.** It shuffles overlapping windows before an 80/20 split, so test windows "
        "share 99 of their 100 days with training windows: ",
    ]
    shuffled = t2[(t2.protocol == "shuffled") & (t2.model == "naive")]
    lines[-1] += (
        f"{shuffled.test_windows_sharing_days_with_training.mean():.0%} of shuffled test windows share days "
        "with the training set, against 0% under our chronological split. Scores under the shuffled "
        "protocol measure interpolation between neighbours, not forecasting; the chronological scores are "
        "the honest ones, and the naive random walk is the bar to clear."
    )
    return lines


def _table3_lines(t3: pd.DataFrame) -> list[str]:
    lines = [
        "",
        "## Table III: CNN-LSTM test MSE per dataset (normalised scale)",
        "",
        "| dataset | protocol | CNN-LSTM | naive | paper |",
        "|---|---|---|---|---|",
    ]
    for r in t3.itertuples():
        lines.append(f"| {r.dataset} | {r.protocol} | {r.mse:.5f} | {r.naive_mse:.5f} | {r.paper_mse} |")
    return lines


def _table4_lines(t4: pd.DataFrame) -> list[str]:
    lines = [
        "",
        "## Table IV: mean test MSE over the datasets, by model",
        "",
        "| protocol | model | MSE | MAE | R2 | paper MSE |",
        "|---|---|---|---|---|---|",
    ]
    for r in t4.itertuples():
        paper = "" if not np.isfinite(r.paper_mse) else f"{r.paper_mse}"
        lines.append(f"| {r.protocol} | {r.model} | {r.mse:.5f} | {r.mae:.5f} | {r.r2:.4f} | {paper} |")
    chrono = t4[t4.protocol == "chronological"].set_index("model")
    best = chrono.drop(index="naive").mse.idxmin()
    verdict = "beats" if chrono.mse[best] < chrono.mse["naive"] else "does not beat"
    lines += [
        "",
        f"Chronologically, the best learned model is {best} (MSE {chrono.mse[best]:.5f}), which {verdict} "
        f"the naive random walk (MSE {chrono.mse['naive']:.5f}).",
    ]
    return lines


def _table2_lines(t2: pd.DataFrame) -> list[str]:
    lines = [
        "",
        "## Table II: CNN-LSTM scores",
        "",
        "| dataset | protocol | MSE | MAE | explained variance | R2 | max error |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in t2[t2.model == "cnn-lstm"].itertuples():
        lines.append(
            f"| {r.dataset} | {r.protocol} | {r.mse:.5f} | {r.mae:.5f} | {r.explained_variance:.4f} | "
            f"{r.r2:.4f} | {r.max_error:.4f} |"
        )
    p = PAPER_TABLE_II
    lines += [
        f"| paper | shuffled | {p['mse']} | {p['mae']} | {p['explained_variance']} | {p['r2']} | {p['max_error']} |",
        "",
    ]
    return lines


def _finetune_lines(cfg, ft: pd.DataFrame) -> list[str]:
    lines = [
        "## Save, reload, train again (section IV.C)",
        "",
    ]
    for r in ft.itertuples():
        extra = (
            f", loss on {cfg.finetune_to} before training again {r.loss_before_training_again:.5f}"
            if "loss_before_training_again" in ft.columns and np.isfinite(r.loss_before_training_again)
            else ""
        )
        lines.append(
            f"- {r.step}: training loss {r.first_epoch_loss:.5f} -> {r.last_epoch_loss:.5f}{extra}; "
            f"test MSE on {r.test_dataset} {r.test_mse:.5f}"
        )
    jump = float(ft.loss_before_training_again.iloc[1]) / float(ft.last_epoch_loss.iloc[0])
    lines += [
        "",
        "The saved model is weights (safetensors) plus JSON; reloading gives "
        f"{'bit-identical' if ft.attrs.get('reloaded_identical') else 'DIFFERENT'} forecasts. On the second "
        f"stock the reloaded model's loss starts at {jump:.1f} times its final loss on the first "
        f'(the paper saw about 0.055 -> 0.153, "estimated, not accurate"), and after training again its test '
        f"MSE is {ft.test_mse.iloc[1]:.5f} against {ft.test_mse.iloc[2]:.5f} when trained from scratch for as many "
        "epochs.",
        "",
    ]
    return lines
