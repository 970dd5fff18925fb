"""PyTorch networks and the one training loop they share.

Imported only inside the code that trains or runs a network, so ``import marketcast`` never
loads torch. Randomness (initial weights, dropout, batch order) comes from a seed inside
:func:`seeded`, which forks torch's global generator and restores it afterwards: fitting a
model leaves no trace on the caller's random state.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

__all__ = [
    "resolve_device",
    "seeded",
    "LSTMNet",
    "OneStepBiLSTM",
    "CNNLSTMNet",
    "WindowRNNNet",
    "train_regressor",
    "predict_batches",
    "to_numpy_state",
    "from_numpy_state",
]


def resolve_device(device: str = "auto") -> torch.device:
    """``'auto'`` is the GPU when one is present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def use_all_cores() -> None:
    """Give torch every core this process may run on (affinity and cgroup limits respected).

    An explicit ``OMP_NUM_THREADS`` wins: on cores shared with other busy jobs, fewer threads
    can train faster than all of them (OpenMP threads spin while they wait for each other).
    """
    from marketcast.models.features import available_cores

    if os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        return
    n = available_cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's generators seeded, restoring them afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        if device.type == "cuda":
            previous = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
            try:
                yield
            finally:
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous
        else:
            yield


# --- networks ------------------------------------------------------------------------------------


def keras_init_(module: nn.Module) -> None:
    """Initialise like Keras, which the papers used: Glorot-uniform kernels, orthogonal
    recurrent kernels, zero biases and a forget-gate bias of one (``unit_forget_bias``).

    PyTorch's defaults (uniform in +-1/sqrt(units)) train to noticeably different networks in
    the 50 epochs of Table I. PyTorch's LSTM has two bias vectors; the forget bias of one goes
    into ``bias_ih`` and ``bias_hh`` stays zero, so their sum is Keras' single bias.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM | nn.GRU):
            gates = 4 if isinstance(m, nn.LSTM) else 3
            for name, p in m.named_parameters():
                if name.startswith("weight_ih"):
                    for chunk in p.data.chunk(gates, 0):
                        nn.init.xavier_uniform_(chunk)
                elif name.startswith("weight_hh"):
                    for chunk in p.data.chunk(gates, 0):
                        nn.init.orthogonal_(chunk)
                elif name.startswith("bias"):
                    nn.init.zeros_(p)
                    if isinstance(m, nn.LSTM) and name.startswith("bias_ih"):
                        p.data[m.hidden_size : 2 * m.hidden_size] = 1.0


class LSTMNet(nn.Module):
    """LSTM(units) -> dense(dense_units) -> linear output: Table I of the VIX paper.

    Input ``(batch, lags, 1)``; the LSTM's last hidden state feeds the dense layer. Weights are
    initialised like Keras' (:func:`keras_init_`).
    """

    def __init__(self, units: int = 128, dense_units: int = 64, dense_activation: str = "linear", input_size: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(input_size, units, batch_first=True)
        self.dense = nn.Linear(units, dense_units)
        self.activation = nn.ReLU() if dense_activation == "relu" else nn.Identity()
        self.out = nn.Linear(dense_units, 1)
        keras_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x)
        return self.out(self.activation(self.dense(h[:, -1])))


class OneStepBiLSTM(nn.Module):
    """Keras' ``Bidirectional(LSTM(units))`` applied to a sequence of length one.

    In the Stock-X network the ``TimeDistributed`` CNN hands the LSTMs a sequence of a single
    step (shape ``(None, 1, 640)``). With zero initial states, one LSTM step is

    .. math:: c = \\sigma(W_i x + b_i) \\odot \\tanh(W_g x + b_g),\\quad h = \\sigma(W_o x + b_o) \\odot \\tanh(c)

    for each direction: the forget gate and the recurrent weights multiply zeros. Computing that
    directly is exact and avoids a general LSTM kernel; the unused weights are kept so that the
    parameters (and the count, 4 * units * (inputs + units + 1) per direction, Keras' layout
    with one bias vector) are those of the Keras layer.
    """

    def __init__(self, input_size: int, units: int):
        super().__init__()
        self.units = units
        # Gate order i, f, g, o (PyTorch's and Keras' i, f, c, o).
        self.weight_ih = nn.Parameter(torch.empty(2, 4 * units, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2, 4 * units, units))
        self.bias = nn.Parameter(torch.empty(2, 4 * units))
        bound = 1.0 / math.sqrt(units)
        for p in (self.weight_ih, self.weight_hh, self.bias):
            nn.init.uniform_(p, -bound, bound)
        used = torch.cat([torch.arange(0, units), torch.arange(2 * units, 4 * units)])
        self.register_buffer("_used", used, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_ih[:, self._used]  # (2, 3H, in): input, cell and output gates
        b = self.bias[:, self._used]
        gates = torch.einsum("bn,dgn->bdg", x, w) + b
        i, g, o = gates.split(self.units, dim=-1)
        h = torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))
        return h.reshape(x.shape[0], 2 * self.units)  # forward and backward halves, as Keras concatenates


def _max_pool(h: torch.Tensor) -> torch.Tensor:
    """MaxPooling1D(2) with Keras' 'valid' padding: an odd last step is dropped."""
    length = h.shape[-1] // 2 * 2
    return h[..., :length].unflatten(-1, (length // 2, 2)).amax(dim=-1)


class CNNLSTMNet(nn.Module):
    """The Stock-X CNN-LSTM (Aadhitya et al., Fig. 3-4).

    ``TimeDistributed(Conv1D(64, 3, relu))``, max-pool 2, ``Conv1D(128, 3)``, max-pool 2,
    ``Conv1D(64, 3)``, max-pool 2, flatten (10 x 64 = 640), ``Bidirectional(LSTM(100))``
    twice each followed by dropout 0.5, and a linear dense output. Input ``(batch, window)``.
    """

    def __init__(self, window: int = 100, filters=(64, 128, 64), kernel: int = 3, units: int = 100, dropout: float = 0.5):
        super().__init__()
        chans = (1, *filters)
        self.convs = nn.ModuleList(nn.Conv1d(chans[i], chans[i + 1], kernel) for i in range(len(filters)))
        length = window
        for _ in filters:
            length = (length - kernel + 1) // 2
        if length < 1:
            raise ValueError(f"window {window} is too short for {len(filters)} conv+pool stages")
        self.flat = length * filters[-1]
        self.lstm1 = OneStepBiLSTM(self.flat, units)
        self.lstm2 = OneStepBiLSTM(2 * units, units)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(1)
        for conv in self.convs:
            h = _max_pool(torch.relu(conv(h)))
        h = h.transpose(1, 2).reshape(x.shape[0], self.flat)  # Keras flattens channels-last
        h = self.dropout(self.lstm1(h))
        h = self.dropout(self.lstm2(h))
        return self.out(h)


class WindowRNNNet(nn.Module):
    """Stacked recurrent layers on a window: ``cells`` like ``("lstm", "lstm")`` or ``("lstm", "gru")``.

    The Stock-X comparison models (LSTM, GRU, LSTM-GRU): each layer has ``units`` cells and is
    followed by dropout; the last hidden state feeds a linear output. Input ``(batch, window)``.
    """

    def __init__(self, cells=("lstm", "lstm"), units: int = 100, dropout: float = 0.2):
        super().__init__()
        layers = []
        size = 1
        for cell in cells:
            kind = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
            layers.append(kind(size, units, batch_first=True))
            size = units
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(-1)
        for layer in self.layers:
            h, _ = layer(h)
            h = self.dropout(h)
        return self.out(h[:, -1])


# --- training --------------------------------------------------------------------------------------


def train_regressor(
    net: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float = 1e-3,
    validation: float = 0.0,
    patience: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    device: torch.device,
    on_epoch: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Fit ``net`` to ``(X, y)`` by Adam on the mean squared error, Keras' ``fit`` semantics.

    The last ``validation`` share of the samples (in time order) is held out; with ``patience``
    training stops when the validation loss has not improved for that many epochs and the best
    weights are restored. Returns the loss history: ``loss``, ``mae`` (training batches, as
    Keras reports them) and ``val_loss``, ``val_mae`` when there is a validation set.
    """
    X_all = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32, device=device)
    y_all = torch.as_tensor(np.ascontiguousarray(y), dtype=torch.float32, device=device).reshape(-1, 1)
    n_val = int(round(len(X_all) * validation)) if validation else 0
    if n_val >= len(X_all):
        raise ValueError("the validation share leaves no training samples")
    X_tr, y_tr = X_all[: len(X_all) - n_val], y_all[: len(X_all) - n_val]
    X_va, y_va = X_all[len(X_all) - n_val :], y_all[len(X_all) - n_val :]
    opt_kw = {"fused": True} if device.type in ("cpu", "cuda") else {}
    # eps=1e-7 is Keras' default (PyTorch uses 1e-8): the papers trained with Keras.
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate, eps=1e-7, **opt_kw)
    history: dict[str, list[float]] = {"loss": [], "mae": []}
    if n_val:
        history.update(val_loss=[], val_mae=[])
    best, best_state, since = math.inf, None, 0
    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 1)
    n = len(X_tr)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(n, generator=gen).to(device) if shuffle else torch.arange(n, device=device)
        total_sq = total_abs = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            err = net(X_tr[idx]) - y_tr[idx]
            loss = (err * err).mean()
            loss.backward()
            opt.step()
            total_sq += float(loss.detach()) * len(idx)
            total_abs += float(err.detach().abs().sum())
        history["loss"].append(total_sq / n)
        history["mae"].append(total_abs / n)
        if n_val:
            net.eval()
            with torch.inference_mode():
                err = net(X_va) - y_va
                val = float((err * err).mean())
            history["val_loss"].append(val)
            history["val_mae"].append(float(err.abs().mean()))
            if patience is not None:
                if val < best - 1e-12:
                    best, since = val, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    since += 1
                    if since >= patience:
                        if on_epoch is not None:
                            on_epoch(1)
                        break
        if on_epoch is not None:
            on_epoch(1)
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return history


def predict_batches(net: nn.Module, X: np.ndarray, device: torch.device, batch_size: int = 4096) -> np.ndarray:
    """Network outputs for the rows of ``X`` (eval mode, no gradients)."""
    net.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(np.ascontiguousarray(X[start : start + batch_size]), dtype=torch.float32, device=device)
            out.append(net(xb).reshape(-1).cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)


def to_numpy_state(net: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def from_numpy_state(net: nn.Module, arrays: dict[str, np.ndarray], device: torch.device) -> None:
    state = {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in arrays.items()}
    net.load_state_dict(state, strict=True)
    net.eval()
