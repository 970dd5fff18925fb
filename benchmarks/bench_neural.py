"""Training speed of the neural models, against a plain PyTorch loop, at equal accuracy.

1. The VIX paper's LSTM (Table I: 21 lags, LSTM(128), dense(64), batch 32, 50 epochs) trained on
   one 504-day window (the 483 training rows of a Table II slice), then its 21-day RMSE.
   Reference points measured on this 2-core machine: Darts' RNNModel 8.8 s, neuralforecast 9.8 s,
   a plain PyTorch loop 5.9 s. Target: under 4.5 s. marketcast trains through its row-block
   kernel (models/_lstm_kernel.c: forward, backward and Adam in one call per batch); the same
   model through autograd, torch.nn.LSTM and torch.optim.Adam (MARKETCAST_KERNELS=off) is
   timed beside it.
2. The Stock-X CNN-LSTM: seconds per epoch over the training windows (the first 80%, 7,296 of the
   history to 2026) of the VIX history (batch 40), through the library's own ``fit_windows``.
   Target: under 3 s. The plain version uses torch.nn.Conv1d, MaxPool1d, torch.nn.LSTM and a
   for-each Adam; ours trains through its row-block kernel (models/_cnn_lstm_kernel.c:
   channels-last convolutions as GEMMs, pooling, the one-step BiLSTMs, dropout and Adam in one
   call per batch).

    .venv/bin/python benchmarks/bench_neural.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time
from unittest import mock

import numpy as np
import torch
from torch import nn

from _common import data_dir, print_table
from marketcast.backtest import rolling_origins
from marketcast.data import load_series
from marketcast.models._lstm_native import ENV_SWITCH
from marketcast.models.features import lagged_samples, normalised_windows
from marketcast.models.neural import CNNLSTMForecaster, LSTMForecaster


def plain_lstm_fit_predict(train: np.ndarray, horizon: int, seed: int) -> np.ndarray:
    """The straightforward way: nn.LSTM with PyTorch's defaults, a DataLoader-free loop."""
    torch.manual_seed(seed)
    loc, scale = train.mean(), train.std()
    z = (train - loc) / scale
    X, y = lagged_samples(z, 21)
    X = torch.tensor(X[:, :, None], dtype=torch.float32)
    y = torch.tensor(y[:, None], dtype=torch.float32)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(1, 128, batch_first=True)
            self.dense = nn.Linear(128, 64)
            self.out = nn.Linear(64, 1)

        def forward(self, x):
            h, _ = self.lstm(x)
            return self.out(self.dense(h[:, -1]))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(50):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
    net.eval()
    buf = list(z[-21:])
    with torch.no_grad():
        for _ in range(horizon):
            buf.append(float(net(torch.tensor(buf[-21:], dtype=torch.float32).reshape(1, 21, 1))))
    return np.array(buf[21:]) * scale + loc


def lstm_table(vix, slices: list[int]) -> None:
    origins = rolling_origins(vix.index, window=504, horizon=21, start="2016-01-04", step=64, slices=14)
    # Warm-up of both paths: imports, first allocations, and torch.optim's first construction
    # (seconds: it imports torch._dynamo), which the kernel path does not need.
    LSTMForecaster(epochs=1, device="cpu").fit(vix.iloc[:200])
    with mock.patch.dict(os.environ, {ENV_SWITCH: "off"}):
        LSTMForecaster(epochs=1, device="cpu").fit(vix.iloc[:200])
    rows = []
    for number in slices:
        sl = origins[number - 1]
        train, test = vix.iloc[sl.train], vix.iloc[sl.test].to_numpy()
        t0 = time.perf_counter()
        ours = LSTMForecaster(seed=0, device="cpu").fit(train).predict(21)
        t_ours = time.perf_counter() - t0
        with mock.patch.dict(os.environ, {ENV_SWITCH: "off"}):  # restores the caller's setting
            t0 = time.perf_counter()
            via_torch = LSTMForecaster(seed=0, device="cpu").fit(train).predict(21)
            t_torch = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain = plain_lstm_fit_predict(train.to_numpy(), 21, seed=0)
        t_plain = time.perf_counter() - t0
        rmse = lambda f: float(np.sqrt(np.mean((f - test) ** 2)))  # noqa: E731
        rows.append((number, f"{t_ours:.2f}", f"{t_torch:.2f}", f"{t_plain:.2f}",
                     f"{rmse(ours):.3f}", f"{rmse(via_torch):.3f}", f"{rmse(plain):.3f}"))
    print_table("LSTM, Table I settings, one 504-day window (483 training rows), 2 cores",
                rows, ("slice", "marketcast s", "via torch s", "plain loop s",
                       "marketcast RMSE", "via torch RMSE", "plain RMSE"))


def plain_cnn_lstm():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.c3 = nn.Conv1d(1, 64, 3), nn.Conv1d(64, 128, 3), nn.Conv1d(128, 64, 3)
            self.pool = nn.MaxPool1d(2)
            self.l1 = nn.LSTM(640, 100, batch_first=True, bidirectional=True)
            self.l2 = nn.LSTM(200, 100, batch_first=True, bidirectional=True)
            self.drop = nn.Dropout(0.5)
            self.out = nn.Linear(200, 1)

        def forward(self, x):
            h = x.unsqueeze(1)
            for c in (self.c1, self.c2, self.c3):
                h = self.pool(torch.relu(c(h)))
            h = h.transpose(1, 2).reshape(x.shape[0], 1, -1)
            h, _ = self.l1(h)
            h, _ = self.l2(self.drop(h))
            return self.out(self.drop(h[:, -1]))

    return Net()


def epoch_seconds(net, X, y, opt, epochs: int) -> tuple[float, float]:
    times, loss = [], 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(X))
        total = 0.0
        net.train()
        for i in range(0, len(X), 40):
            idx = perm[i : i + 40]
            opt.zero_grad(set_to_none=True)
            err = net(X[idx]) - y[idx]
            batch = (err * err).mean()
            batch.backward()
            opt.step()
            total += float(batch.detach()) * len(idx)
        times.append(time.perf_counter() - t0)
        loss = total / len(X)
    return float(np.median(times)), loss


def cnn_table(vix, epochs: int) -> None:
    X, y, _ = normalised_windows(vix.to_numpy(), 100)
    n = int(0.8 * len(X))
    Xt = torch.tensor(X[:n], dtype=torch.float32)
    yt = torch.tensor(y[:n, None], dtype=torch.float32)
    rows = []
    # The library's own training path (fit_windows: batching, seeding, the loss history), timed
    # epoch by epoch through its progress callback.
    stamps = [time.perf_counter()]
    ours = CNNLSTMForecaster(epochs=epochs, seed=0, device="cpu")
    ours.fit_windows(X[:n], y[:n], progress=lambda k=1: stamps.append(time.perf_counter()))
    s = float(np.median(np.diff(stamps)))
    rows.append(("marketcast CNNLSTMForecaster.fit_windows", ours.n_parameters(), f"{s:.2f}", f"{ours.history_['loss'][-1]:.5f}"))
    torch.manual_seed(0)
    plain = plain_cnn_lstm()
    s, loss = epoch_seconds(plain, Xt, yt, torch.optim.Adam(plain.parameters()), epochs)
    rows.append(("plain (nn.LSTM, MaxPool1d, Adam)", sum(p.numel() for p in plain.parameters()), f"{s:.2f}", f"{loss:.5f}"))
    print_table(f"CNN-LSTM, {n:,} VIX training windows of 100 days, batch 40: median seconds per epoch "
                f"over {epochs} epochs, and the training loss after them", rows,
                ("network", "parameters", "s / epoch", f"loss after {epochs}"))


def main() -> None:
    quick = "--quick" in sys.argv
    vix = load_series(data_dir() / "VIX_History.csv")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    lstm_table(vix, [14] if quick else [8, 14])
    cnn_table(vix, 2 if quick else 4)


if __name__ == "__main__":
    main()
