"""Training settings shared by the neural models: one dataclass, checked in one place."""

from __future__ import annotations

import pytest

from marketcast.errors import ModelError
from marketcast.models.registry import get_model
from marketcast.models.training import TrainingSettings


@pytest.mark.parametrize("name", ["lstm", "cnn-lstm", "window-lstm", "gru", "lstm-gru"])
def test_every_network_model_takes_every_setting_as_a_hyper_parameter(name):
    model = get_model(name, epochs=3, batch_size=8, learning_rate=0.01, validation=0.2, patience=2, seed=7)
    assert set(TrainingSettings.names()) <= set(model.get_params())
    assert model.training == TrainingSettings(epochs=3, batch_size=8, learning_rate=0.01, validation=0.2, patience=2,
                                              seed=7)


def test_defaults_are_each_papers():
    assert (get_model("lstm").training.epochs, get_model("lstm").training.batch_size) == (50, 32)  # VIX Table I
    assert (get_model("cnn-lstm").training.epochs, get_model("cnn-lstm").training.batch_size) == (40, 40)  # Stock-X


def test_two_lstm_gives_its_settings_to_both_networks():
    model = get_model("two-lstm", epochs=4, batch_size=16, learning_rate=0.002, seed=3)
    net = model._lstm(5, seed=11)
    assert net.training == TrainingSettings(epochs=4, batch_size=16, learning_rate=0.002, seed=11)
    assert (net.lags, net.units, net.dense_units, net.scaling) == (5, model.units, model.dense_units, model.scaling)


@pytest.mark.parametrize("bad, message", [
    (dict(epochs=0), "epochs and batch_size"),
    (dict(batch_size=0), "epochs and batch_size"),
    (dict(validation=1.0), "validation must be a share"),
    (dict(patience=3), "needs a validation share"),
])
def test_settings_that_cannot_train_are_refused_naming_the_model(bad, message):
    with pytest.raises(ModelError, match=f"^lstm: .*{message}"):
        TrainingSettings(**bad).check("lstm")
