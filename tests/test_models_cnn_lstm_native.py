"""The CPU training step of the Stock-X CNN-LSTM against autograd and torch.optim.Adam."""

from __future__ import annotations

import copy
import platform
import sys

import numpy as np
import pytest
import torch

from marketcast.models import _cnn_lstm_native, _kernels, _lstm_native, _nets
from marketcast.models.neural import CNNLSTMForecaster

needs_kernel = pytest.mark.skipif(not _cnn_lstm_native.kernel_available(), reason="kernel not built, no MKL, or switched off")


def network(window=100, filters=(64, 128, 64), units=100, dropout=0.5, seed=0):
    torch.manual_seed(seed)
    net = _nets.CNNLSTMNet(window, filters, 3, units, dropout)
    with torch.no_grad():  # biases and weights away from their initial symmetry
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def windows(n, window, seed=1):
    gen = torch.Generator().manual_seed(seed)
    X = 1 + 0.05 * torch.randn(n, window, generator=gen).cumsum(1)
    return X, 1 + 0.1 * torch.randn(n, 1, generator=gen)


def reference(net, X, y, idx, masks):
    """Sums of squared and absolute errors and the MSE's gradients in float64, with the given dropout masks."""
    ref = copy.deepcopy(net).double()
    h = X[idx].double().unsqueeze(-1)
    for conv in ref.convs:
        h = _nets.relu_max_pool(_nets.conv1d_channels_last(h, conv))
    h = ref.lstm2(ref.lstm1(h.reshape(len(idx), ref.flat)) * masks[0].double()) * masks[1].double()
    err = ref.out(h) - y[idx].double()
    (err * err).mean().backward()
    err = err.detach()
    return float((err * err).sum()), float(err.abs().sum()), ref


def test_kernel_is_built_where_torch_brings_mkl():
    # The README's speed figures rest on it: a broken build must fail here, not skip.
    if sys.platform == "linux" and platform.machine() == "x86_64" and torch.backends.mkl.is_available():
        assert _kernels.kernel_built(_cnn_lstm_native.KERNEL)  # whatever MARKETCAST_KERNELS says


@needs_kernel
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize(("window", "filters", "units", "batch"),
                         [(100, (64, 128, 64), 100, 40), (30, (4, 6), 5, 11), (25, (3,), 4, 3)])
def test_loss_and_gradients_equal_autograd(threads, n_threads, window, filters, units, batch):
    threads(n_threads)
    net = network(window, filters, units)
    X, y = windows(batch + 5, window)
    idx = torch.randperm(batch + 5)[:batch]
    step = _cnn_lstm_native.mse_step(net, X, y)
    sq, ab = step(idx)
    assert set(step.masks.unique().tolist()) == {0.0, 2.0}  # dropout 0.5: kept values scaled by 2
    sq_ref, ab_ref, ref = reference(net, X, y, idx, step.masks)
    assert sq == pytest.approx(sq_ref, rel=1e-5) and ab == pytest.approx(ab_ref, rel=1e-5)
    for (name, p), r in zip(net.named_parameters(), ref.parameters()):
        if r.grad is None:  # the BiLSTMs' recurrent weights multiply zero states
            assert "weight_hh" in name and p.grad is None
            continue
        assert torch.allclose(p.grad.double(), r.grad, rtol=1e-4, atol=1e-5 * float(r.grad.abs().max())), name


@needs_kernel
@pytest.mark.parametrize("n_threads", [1, 2])
def test_adam_steps_equal_torch_adam_without_dropout(threads, n_threads):
    threads(n_threads)
    kernel_net, torch_net = network(30, (4, 6), 5, dropout=0.0), network(30, (4, 6), 5, dropout=0.0)
    X, y = windows(50, 30)
    settings = _lstm_native.Adam(lr=1e-2, eps=1e-7)
    step = _cnn_lstm_native.mse_step(kernel_net, X, y, settings)
    opt = torch.optim.Adam(torch_net.parameters(), lr=settings.lr, betas=settings.betas, eps=settings.eps)
    batches = torch.randperm(50).split(16) * 2  # 8 steps, the last of each pass short
    state = torch.random.get_rng_state()
    for batch in batches:
        sq, _ = step(batch)
        opt.zero_grad()
        err = torch_net(X[batch]) - y[batch]
        (err * err).mean().backward()
        opt.step()
        assert sq == pytest.approx(float((err * err).detach().sum()), rel=1e-4)
    assert torch.equal(torch.random.get_rng_state(), state)  # no dropout, no random numbers
    for (name, p), q in zip(kernel_net.named_parameters(), torch_net.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-5), name


@needs_kernel
def test_cnn_lstm_forecaster_trains_alike_on_both_paths_and_repeats_under_a_seed(monkeypatch):
    # Same dropout masks on both paths (the kernel draws them as autograd's path does), same Adam.
    X, y = windows(120, 40)
    fit = lambda: CNNLSTMForecaster(window=40, epochs=2, batch_size=16, seed=5, device="cpu").fit_windows(  # noqa: E731
        X.numpy(), y.numpy()[:, 0])
    kernel_a, kernel_b = fit(), fit()
    assert kernel_a.history_["loss"] == kernel_b.history_["loss"]
    assert np.array_equal(kernel_a.predict_windows(X[:5].numpy()), kernel_b.predict_windows(X[:5].numpy()))
    monkeypatch.setenv(_lstm_native.ENV_SWITCH, "torch")
    plain = fit()
    assert np.allclose(kernel_a.history_["loss"], plain.history_["loss"], rtol=1e-5)
    assert np.allclose(kernel_a.predict_windows(X[:5].numpy()), plain.predict_windows(X[:5].numpy()), rtol=1e-5)


def test_falls_back_to_autograd_where_the_kernel_does_not_apply(monkeypatch):
    net = network(25, (3,), 4)
    X, y = windows(6, 25)
    with torch.no_grad():
        assert _cnn_lstm_native.mse_step(net, X, y) is None
    assert _cnn_lstm_native.mse_step(copy.deepcopy(net).double(), X.double(), y.double()) is None
    assert _cnn_lstm_native.mse_step(net, X, y[:5]) is None
    assert _cnn_lstm_native.mse_step(net, X[:, None], y) is None
    padded = copy.deepcopy(net)
    padded.convs[0] = torch.nn.Conv1d(1, 3, 3, padding=1)
    assert _cnn_lstm_native.mse_step(padded, X, y) is None
    frozen = copy.deepcopy(net)
    frozen.out.weight.requires_grad_(False)
    assert _cnn_lstm_native.mse_step(frozen, X, y) is None
    monkeypatch.setenv(_lstm_native.ENV_SWITCH, "torch")
    assert not _cnn_lstm_native.kernel_available()
    assert _cnn_lstm_native.mse_step(net, X, y) is None
