"""Neural forecasters: the Stock-X architecture, Keras semantics, training, seeds, warm starts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from marketcast.errors import ModelError, NotFittedError
from marketcast.models import _nets
from marketcast.models.features import lagged_samples, normalised_windows
from marketcast.models.neural import CNNLSTMForecaster, GRUForecaster, LSTMForecaster, LSTMGRUForecaster, WindowLSTMForecaster


def keras_lstm_params(inputs, units):
    return 4 * (units * (inputs + units) + units)


def torch_bilstm_like(layer: _nets.OneStepBiLSTM) -> torch.nn.LSTM:
    """A bidirectional ``torch.nn.LSTM`` with ``layer``'s weights (its second bias zero)."""
    ref = torch.nn.LSTM(layer.weight_ih.shape[2], layer.units, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for d, suffix in ((0, ""), (1, "_reverse")):
            getattr(ref, f"weight_ih_l0{suffix}").copy_(layer.weight_ih[d])
            getattr(ref, f"weight_hh_l0{suffix}").copy_(layer.weight_hh[d])
            getattr(ref, f"bias_ih_l0{suffix}").copy_(layer.bias[d])
            getattr(ref, f"bias_hh_l0{suffix}").zero_()
    return ref


def test_cnn_lstm_parameter_count_is_the_keras_models():
    net = CNNLSTMForecaster()._build_net()
    by_layer = [sum(p.numel() for p in m.parameters()) for m in (*net.convs, net.lstm1, net.lstm2, net.out)]
    expected = [3 * 1 * 64 + 64, 3 * 64 * 128 + 128, 3 * 128 * 64 + 64,
                2 * keras_lstm_params(640, 100), 2 * keras_lstm_params(200, 100), 201]
    assert by_layer == expected == [256, 24704, 24640, 592800, 240800, 201]
    total = CNNLSTMForecaster().n_parameters()
    assert total == 883_401
    assert abs(total - 883_481) / 883_481 < 0.005  # the paper's printed total


def test_shapes_through_the_network_are_those_of_fig_4():
    net = CNNLSTMForecaster()._build_net()
    h = torch.zeros(2, 100).unsqueeze(-1)
    lengths = []
    for conv in net.convs:
        h = _nets.conv1d_channels_last(h, conv)
        lengths.append(h.shape[1])
        h = _nets.relu_max_pool(h)
        lengths.append(h.shape[1])
    assert lengths == [98, 49, 47, 23, 21, 10] and net.flat == 640


@pytest.mark.parametrize("channels, filters, length", [(1, 4, 9), (3, 5, 8)])
def test_channels_last_conv_equals_torch_conv1d_values_and_gradients(channels, filters, length):
    torch.manual_seed(1)
    conv = torch.nn.Conv1d(channels, filters, 3).double()
    x = torch.randn(2, channels, length, dtype=torch.float64)
    ours = _nets.conv1d_channels_last(x.transpose(1, 2).contiguous(), conv)
    torch.testing.assert_close(ours, conv(x).transpose(1, 2), rtol=1e-12, atol=1e-12)
    inputs = (x.transpose(1, 2).contiguous().requires_grad_(), conv.weight, conv.bias)
    assert torch.autograd.gradcheck(_nets._Conv1dChannelsLast.apply, inputs)


@pytest.mark.parametrize("length", [9, 10])
def test_relu_max_pool_equals_torch_relu_then_max_pool_values_and_gradients(length):
    torch.manual_seed(0)
    h = torch.randn(3, 4, length, dtype=torch.float64)  # (batch, channels, length) for torch's max_pool1d
    h[0, 0, :2] = torch.tensor([-1.0, -1.0])  # a tie below zero: no gradient either way
    h[0, 1, :2] = torch.tensor([2.0, 2.0])  # a positive tie: the first of the pair takes it (TensorFlow's rule)
    g = torch.randn(3, 4, length // 2, dtype=torch.float64)
    ours_in = h.transpose(1, 2).contiguous().requires_grad_()  # ours is channels-last
    ours = _nets.relu_max_pool(ours_in)
    (ours * g.transpose(1, 2)).sum().backward()
    ref_in = h.clone().requires_grad_()
    ref = torch.nn.functional.max_pool1d(torch.relu(ref_in), 2)
    (ref * g).sum().backward()
    assert torch.equal(ours, ref.transpose(1, 2))
    grad = ours_in.grad.transpose(1, 2)
    assert torch.equal(grad, ref_in.grad)
    assert grad[0, 1, 0] == g[0, 1, 0] and grad[0, 1, 1] == 0
    assert grad[0, 0, :2].abs().sum() == 0
    if length % 2:
        assert grad[..., -1].abs().sum() == 0
    smooth = torch.randn(2, length, 3, dtype=torch.float64)  # no ties: differentiable everywhere
    assert torch.autograd.gradcheck(_nets.relu_max_pool, (smooth.requires_grad_(),))


def test_cnn_lstm_forward_equals_the_same_network_built_from_torch_layers():
    torch.manual_seed(2)
    net = CNNLSTMForecaster()._build_net().eval()
    x = 1 + 0.05 * torch.randn(6, 100).cumsum(1)
    h = x.unsqueeze(1)
    for conv in net.convs:
        h = torch.nn.functional.max_pool1d(torch.relu(conv(h)), 2)
    h = h.transpose(1, 2).reshape(6, 640)  # Keras flattens channels-last
    for layer in (net.lstm1, net.lstm2):
        with torch.no_grad():
            h = torch_bilstm_like(layer)(h.unsqueeze(1))[0][:, 0]
    with torch.no_grad():
        torch.testing.assert_close(net(x), net.out(h), rtol=1e-5, atol=1e-6)


def test_one_step_bilstm_equals_torch_lstm_on_a_one_step_sequence():
    torch.manual_seed(3)
    ours = _nets.OneStepBiLSTM(7, 5)
    x = torch.randn(4, 7)
    expected, _ = torch_bilstm_like(ours)(x.unsqueeze(1))
    torch.testing.assert_close(ours(x), expected[:, 0], rtol=1e-6, atol=1e-6)


def test_comparison_models_build():
    for cls in (WindowLSTMForecaster, GRUForecaster, LSTMGRUForecaster):
        assert cls().n_parameters() > 50_000


def test_sample_framings_by_hand():
    X, y = lagged_samples(np.arange(6.0), 3)
    assert X.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]] and y.tolist() == [3, 4, 5]
    X, y, base = normalised_windows(np.array([2.0, 4.0, 6.0, 8.0]), 2)
    assert X.tolist() == [[1.0, 2.0], [1.0, 1.5]] and y.tolist() == [3.0, 2.0] and base.tolist() == [2.0, 4.0]


@pytest.fixture(scope="module")
def wave():
    t = np.arange(260)
    rng = np.random.default_rng(0)
    return pd.Series(20 + 3 * np.sin(t / 6) + rng.normal(0, 0.1, t.size), index=pd.bdate_range("2020-01-01", periods=t.size))


def test_lstm_learns_a_wave_better_than_the_random_walk(wave):
    train, test = wave.iloc[:-10], wave.iloc[-10:]
    model = LSTMForecaster(lags=12, units=16, dense_units=8, epochs=40, seed=1).fit(train)
    f = model.predict(10)
    naive = np.full(10, train.iloc[-1])
    assert np.sqrt(np.mean((f - test.values) ** 2)) < 0.5 * np.sqrt(np.mean((naive - test.values) ** 2))
    assert len(model.history_["loss"]) == 40 and model.history_["loss"][-1] < model.history_["loss"][0]


def test_seeds_are_reproducible_and_leave_global_state_alone(wave):
    state = torch.random.get_rng_state().clone()
    np_state = np.random.get_state()[1].copy()
    a = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=3, seed=7).fit(wave).predict(3)
    b = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=3, seed=7).fit(wave).predict(3)
    c = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=3, seed=8).fit(wave).predict(3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state)


def test_early_stopping_and_validation_history(wave):
    m = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=30, learning_rate=0.0, validation=0.2, patience=3).fit(wave)
    assert len(m.history_["val_loss"]) == 4  # no improvement with a zero learning rate: 1 + patience epochs
    with pytest.raises(ModelError, match="patience"):
        LSTMForecaster(epochs=2, patience=2).fit(wave)


def test_warm_start_continues_training_and_history(wave):
    m = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=3, seed=0).fit(wave)
    first = m.net_.lstm.weight_hh_l0.detach().clone()
    m.set_params(warm_start=True).fit(wave * 1.5)
    assert len(m.history_["loss"]) == 6
    cold = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=3, seed=0, warm_start=True).fit(wave * 1.5)
    assert not torch.equal(cold.net_.lstm.weight_hh_l0, m.net_.lstm.weight_hh_l0)
    assert not torch.equal(first, m.net_.lstm.weight_hh_l0)


def test_one_step_predictions_and_condition(wave):
    m = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=2).fit(wave)
    fitted = m.one_step_predictions(wave)
    assert fitted.index[0] == wave.index[5] and len(fitted) == len(wave) - 5
    # The last one-step prediction uses the same inputs as a forecast from wave[:-1].
    m2 = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=2).fit(wave)
    m2.condition(wave.iloc[:-1])
    assert m2.predict(1)[0] == pytest.approx(fitted.iloc[-1], rel=1e-5)
    assert m2.last_date_ == wave.index[-2]
    with pytest.raises(NotFittedError):
        LSTMForecaster().condition(wave)


def test_window_model_trains_on_prepared_windows(wave):
    X, y, base = normalised_windows(wave.to_numpy(), 20)
    m = CNNLSTMForecaster(window=20, filters=(4, 4), units=4, epochs=2, batch_size=16).fit_windows(X[:150], y[:150])
    pred = m.predict_windows(X[150:])
    assert pred.shape == (X.shape[0] - 150,)
    with pytest.raises(ModelError, match="shape"):
        m.fit_windows(X[:, :10], y)
    with pytest.raises(ModelError, match="too short"):
        CNNLSTMForecaster(window=10).fit(wave)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_gpu_training_when_present(wave):
    m = LSTMForecaster(lags=5, units=8, dense_units=4, epochs=2, device="auto").fit(wave)
    assert next(m.net_.parameters()).is_cuda
    assert np.isfinite(m.predict(3)).all()
