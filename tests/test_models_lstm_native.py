"""The CPU training kernel of the one-layer LSTM against torch.nn.LSTM: values, gradients, fallbacks."""

from __future__ import annotations

import platform
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from marketcast.models import _lstm_native, _nets
from marketcast.models.neural import LSTMForecaster

needs_kernel = pytest.mark.skipif(not _lstm_native.kernel_available(), reason="LSTM kernel not built or no MKL")


@pytest.fixture
def threads():
    """Run with a given torch thread count, restored afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def reference(lstm: torch.nn.LSTM, x: torch.Tensor, upstream: torch.Tensor):
    """h_T and the weight gradients of sum(h_T * upstream), in float64 through torch.nn.LSTM."""
    ref = torch.nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True).double()
    ref.load_state_dict({k: v.double() for k, v in lstm.state_dict().items()})
    h = ref(x.double())[0][:, -1]
    (h * upstream.double()).sum().backward()
    return h, [p.grad for p in ref.parameters()]


def kernel_run(lstm, x, upstream, pool=None):
    for p in lstm.parameters():
        p.grad = None
    h = _lstm_native.lstm_last_hidden(x, lstm, pool)
    assert h is not None
    (h * upstream).sum().backward()
    return h.detach(), [p.grad.clone() for p in lstm.parameters()]


def test_kernel_is_built_where_torch_brings_mkl():
    # The speed claims of the README rest on it: a broken build must fail here, not skip.
    if sys.platform == "linux" and platform.machine() == "x86_64" and torch.backends.mkl.is_available():
        assert _lstm_native.kernel_available()


@needs_kernel
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize(("batch", "steps", "inputs", "units"),
                         [(32, 21, 1, 128), (3, 21, 1, 128), (37, 5, 3, 16), (20, 1, 2, 8)])
def test_values_and_gradients_equal_torch_lstm(threads, n_threads, batch, steps, inputs, units):
    threads(n_threads)
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(inputs, units, batch_first=True)
    _nets.keras_init_(lstm)
    with torch.no_grad():  # non-zero second bias and recurrent weights that matter
        lstm.bias_hh_l0.uniform_(-0.5, 0.5)
        lstm.weight_hh_l0.mul_(1.5)
    x, upstream = torch.randn(batch, steps, inputs), torch.randn(batch, units)
    h, grads = kernel_run(lstm, x, upstream)
    h_ref, grads_ref = reference(lstm, x, upstream)
    assert torch.allclose(h.double(), h_ref, atol=2e-6)
    for name, g, r in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), grads, grads_ref):
        assert torch.allclose(g.double(), r, rtol=1e-4, atol=1e-5 * float(r.abs().max())), name


@needs_kernel
def test_same_inputs_give_bit_identical_results_and_buffers_are_reused(threads):
    threads(2)
    torch.manual_seed(2)
    lstm = torch.nn.LSTM(1, 64, batch_first=True)
    pool: list[torch.Tensor] = []
    big, small = torch.randn(32, 21, 1), torch.randn(3, 21, 1)
    up_big, up_small = torch.randn(32, 64), torch.randn(3, 64)
    first = kernel_run(lstm, big, up_big, pool)
    assert len(pool) == 1  # handed back after the backward
    buffer = pool[0]
    small_run = kernel_run(lstm, small, up_small, pool)  # a smaller batch in the same buffer
    again = kernel_run(lstm, big, up_big, pool)
    assert pool[0] is buffer
    assert torch.equal(first[0], again[0]) and all(torch.equal(a, b) for a, b in zip(first[1], again[1]))
    h_ref, grads_ref = reference(lstm, small, up_small)
    assert torch.allclose(small_run[0].double(), h_ref, atol=2e-6)
    assert torch.allclose(small_run[1][1].double(), grads_ref[1], atol=1e-5 * float(grads_ref[1].abs().max()))


@needs_kernel
def test_a_second_backward_through_released_states_is_refused():
    lstm = torch.nn.LSTM(1, 8, batch_first=True)
    h = _lstm_native.lstm_last_hidden(torch.randn(4, 3, 1), lstm, [])
    loss = h.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward twice"):
        loss.backward()


def test_falls_back_to_torch_where_the_kernel_does_not_apply(monkeypatch):
    lstm = torch.nn.LSTM(1, 8, batch_first=True)
    x = torch.randn(4, 3, 1)
    with torch.no_grad():
        assert _lstm_native.lstm_last_hidden(x, lstm) is None  # inference: nn.LSTM serves
    assert _lstm_native.lstm_last_hidden(x.requires_grad_(), lstm) is None  # the input's gradient
    x = x.detach()
    assert _lstm_native.lstm_last_hidden(x.double(), lstm.double()) is None
    assert _lstm_native.lstm_last_hidden(x[:, :0], lstm.float()) is None  # no time steps
    for other in (torch.nn.LSTM(1, 8, batch_first=True, bidirectional=True), torch.nn.LSTM(1, 8, num_layers=2,
                  batch_first=True), torch.nn.LSTM(1, 8)):
        assert _lstm_native.lstm_last_hidden(x, other) is None
    monkeypatch.setenv(_lstm_native.ENV_SWITCH, "torch")
    assert not _lstm_native.kernel_available()
    assert _lstm_native.lstm_last_hidden(x, torch.nn.LSTM(1, 8, batch_first=True)) is None


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
    # Same network and data; only float rounding differs, and four epochs of Adam keep it small.
    assert np.allclose(kernel_a.history_["loss"], plain.history_["loss"], rtol=1e-5)
    assert np.allclose(kernel_a.predict(5), plain.predict(5), rtol=1e-5)
