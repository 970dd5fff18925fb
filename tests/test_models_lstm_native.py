"""The CPU training step of the Table I LSTM network against autograd and torch.optim.Adam."""

from __future__ import annotations

import copy
import platform
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from marketcast.models import _kernels, _lstm_native, _nets
from marketcast.models.neural import LSTMForecaster

needs_kernel = pytest.mark.skipif(not _lstm_native.kernel_available(), reason="LSTM kernel not built, no MKL, or switched off")


def network(units=128, dense=64, activation="linear", inputs=1, seed=1):
    torch.manual_seed(seed)
    net = _nets.LSTMNet(units, dense, activation, inputs)
    with torch.no_grad():  # non-zero biases and recurrent weights that matter
        net.lstm.bias_hh_l0.uniform_(-0.5, 0.5)
        net.lstm.weight_hh_l0.mul_(1.5)
        net.dense.bias.uniform_(-0.3, 0.3)
        net.out.bias.fill_(0.2)
    return net


def reference(net, X, y, idx):
    """Sums of squared and absolute errors and the MSE's gradients, in float64 through autograd."""
    ref = copy.deepcopy(net).double()
    err = ref(X[idx].double()) - y[idx].double()
    (err * err).mean().backward()
    err = err.detach()
    return float((err * err).sum()), float(err.abs().sum()), [p.grad for p in ref.parameters()]


def test_kernel_is_built_where_torch_brings_mkl():
    # The speed claims of the README rest on it: a broken build must fail here, not skip.
    if sys.platform == "linux" and platform.machine() == "x86_64" and torch.backends.mkl.is_available():
        assert _kernels.kernel_built(_lstm_native.KERNEL)  # whatever MARKETCAST_KERNELS says


@needs_kernel
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize(("batch", "steps", "inputs", "units", "dense", "activation"),
                         [(32, 21, 1, 128, 64, "linear"), (3, 21, 1, 128, 64, "relu"), (37, 5, 3, 16, 8, "relu"),
                          (20, 1, 2, 8, 4, "linear")])
def test_loss_and_gradients_equal_autograd(threads, n_threads, batch, steps, inputs, units, dense, activation):
    threads(n_threads)
    net = network(units, dense, activation, inputs)
    X, y = torch.randn(batch + 9, steps, inputs), torch.randn(batch + 9, 1)
    idx = torch.randperm(batch + 9)[:batch]
    sq, ab = _lstm_native.mse_step(net, X, y)(idx)
    sq_ref, ab_ref, grads_ref = reference(net, X, y, idx)
    assert sq == pytest.approx(sq_ref, rel=1e-5) and ab == pytest.approx(ab_ref, rel=1e-5)
    for (name, p), r in zip(net.named_parameters(), grads_ref):
        assert torch.allclose(p.grad.double(), r, rtol=1e-4, atol=1e-5 * float(r.abs().max())), name


@needs_kernel
@pytest.mark.parametrize("n_threads", [1, 2])
def test_adam_steps_equal_torch_adam(threads, n_threads):
    threads(n_threads)
    kernel_net, torch_net = network(32, 16), network(32, 16)
    X, y = torch.randn(80, 21, 1), torch.randn(80, 1)
    settings = _lstm_native.Adam(lr=1e-2, eps=1e-7)
    step = _lstm_native.mse_step(kernel_net, X, y, settings)
    opt = torch.optim.Adam(torch_net.parameters(), lr=settings.lr, betas=settings.betas, eps=settings.eps)
    for batch in torch.randperm(80).split(32) * 3:  # 9 steps, the last of each pass short
        sq, _ = step(batch)
        opt.zero_grad()
        err = torch_net(X[batch]) - y[batch]
        (err * err).mean().backward()
        opt.step()
        assert sq == pytest.approx(float((err * err).detach().sum()), rel=1e-4)
    for (name, p), q in zip(kernel_net.named_parameters(), torch_net.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-5), name
        assert p.grad is None  # the Adam path leaves .grad alone


@needs_kernel
def test_same_inputs_give_bit_identical_results_and_buffers_are_reused(threads):
    threads(2)
    net = network(64, 16)
    X, y = torch.randn(50, 21, 1), torch.randn(50, 1)
    step = _lstm_native.mse_step(net, X, y)
    big, small = torch.arange(32), torch.tensor([7, 3, 41])
    first = step(big), [p.grad.clone() for p in net.parameters()]
    work = step.work
    small_sums = step(small)
    small_grads = [p.grad.clone() for p in net.parameters()]
    again = step(big), [p.grad.clone() for p in net.parameters()]
    assert step.work is work  # a smaller batch in the same buffer
    assert first[0] == again[0] and all(torch.equal(a, b) for a, b in zip(first[1], again[1]))
    sq_ref, _, grads_ref = reference(net, X, y, small)
    assert small_sums[0] == pytest.approx(sq_ref, rel=1e-5)
    assert torch.allclose(small_grads[1].double(), grads_ref[1], atol=1e-5 * float(grads_ref[1].abs().max()))


@needs_kernel
def test_bad_batches_are_refused():
    # The check is KernelStep's, so it holds for the CNN-LSTM's step too.
    X, y = torch.randn(10, 4, 1), torch.randn(10, 1)
    step = _lstm_native.mse_step(network(8, 4), X, y)
    with pytest.raises(IndexError, match="outside the 10 samples"):
        step(torch.tensor([0, 10]))
    with pytest.raises(IndexError):
        step(torch.tensor([-1]))
    with pytest.raises(ValueError, match="int64"):
        step(torch.tensor([0, 1], dtype=torch.int32))
    with pytest.raises(ValueError):
        step(torch.tensor([], dtype=torch.int64))


def test_falls_back_to_autograd_where_the_kernel_does_not_apply(monkeypatch):
    X, y = torch.randn(6, 3, 1), torch.randn(6, 1)
    net = network(8, 4)
    with torch.no_grad():
        assert _lstm_native.mse_step(net, X, y) is None
    assert _lstm_native.mse_step(copy.deepcopy(net).double(), X.double(), y.double()) is None
    assert _lstm_native.mse_step(net, X[:, :0], y) is None  # no time steps
    assert _lstm_native.mse_step(net, X, y[:5]) is None
    assert _lstm_native.mse_step(net, torch.randn(6, 3, 2), y) is None  # features the LSTM does not take
    for other in (torch.nn.LSTM(1, 8, batch_first=True, bidirectional=True),
                  torch.nn.LSTM(1, 8, num_layers=2, batch_first=True), torch.nn.LSTM(1, 8)):
        changed = copy.deepcopy(net)
        changed.lstm = other
        assert _lstm_native.mse_step(changed, X, y) is None
    frozen = copy.deepcopy(net)
    frozen.lstm.weight_hh_l0.requires_grad_(False)
    assert _lstm_native.mse_step(frozen, X, y) is None
    monkeypatch.setenv(_lstm_native.ENV_SWITCH, "torch")
    assert not _lstm_native.kernel_available()
    assert _lstm_native.mse_step(net, X, y) is None


@needs_kernel
def test_lstm_forecaster_trains_alike_on_both_paths_and_repeats_under_a_seed(monkeypatch):
    t = np.arange(260)
    y = pd.Series(20 + 3 * np.sin(t / 9) + 0.02 * t, index=pd.bdate_range("2020-01-01", periods=len(t)))
    fit = lambda: LSTMForecaster(epochs=4, seed=3, device="cpu").fit(y)  # noqa: E731
    kernel_a, kernel_b = fit(), fit()
    assert np.array_equal(kernel_a.predict(5), kernel_b.predict(5))
    assert kernel_a.history_["loss"] == kernel_b.history_["loss"]
    monkeypatch.setenv(_lstm_native.ENV_SWITCH, "torch")
    plain = fit()
    # Same network, data and Adam; only float rounding differs, and four epochs keep it small.
    assert np.allclose(kernel_a.history_["loss"], plain.history_["loss"], rtol=1e-5)
    assert np.allclose(kernel_a.predict(5), plain.predict(5), rtol=1e-5)
