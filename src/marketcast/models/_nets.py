"""PyTorch networks and the one training loop they share.

Imported only inside the code that trains or runs a network, so ``import marketcast`` never
loads torch. Randomness (initial weights, dropout, batch order) comes from a seed inside
:func:`seeded`, which forks torch's global generator and restores it afterwards: fitting a
model leaves no trace on the caller's random state.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable, Iterator
from typing import cast

import numpy as np
import torch
from torch import nn

from marketcast.models import _cnn_lstm_native, _lstm_native
from marketcast.models._kernels import Adam, fallback_reason, log_path

__all__ = [
    "resolve_device",
    "seeded",
    "LSTMNet",
    "OneStepBiLSTM",
    "CNNLSTMNet",
    "conv1d_channels_last",
    "relu_max_pool",
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

    KERNEL = _lstm_native.KERNEL

    def mse_step(self, X: torch.Tensor, y: torch.Tensor, adam: Adam | None = None):
        """Training steps on ``(X, y)`` by the CPU kernel (:func:`_lstm_native.mse_step`), or ``None``.

        Forward, backward and Adam in one call per batch; on the paper's batch of 32 a Table I fit
        takes about 0.4 of its time through autograd, ``nn.LSTM`` and ``torch.optim.Adam``. Where
        the kernel does not apply (GPU, not built), :func:`train_regressor` uses those.
        """
        return _lstm_native.mse_step(self, X, y, adam)


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One GEMM over all four gates of both directions: the forget-gate rows are computed
        # and dropped, which costs less than gathering the used rows on every call.
        n, units = x.shape[0], self.units
        gates = torch.addmm(self.bias.reshape(-1), x, self.weight_ih.reshape(-1, x.shape[1]).t())
        gates = gates.view(n, 2, 4, units)
        io = torch.sigmoid(gates[:, :, 0::3])  # input and output gates
        c = io[:, :, 0] * torch.tanh(gates[:, :, 2])
        h = io[:, :, 1] * torch.tanh(c)
        return h.reshape(n, 2 * units)  # forward and backward halves, as Keras concatenates


class _Conv1dChannelsLast(torch.autograd.Function):
    """``Conv1D`` ('valid', stride 1) on channels-last input ``(batch, length, channels)`` as one GEMM.

    Keras' layout: the windows of ``kernel`` steps are laid out as rows (im2col) and multiplied
    by the ``(filters, channels * kernel)`` weight matrix, so the forward pass is one GEMM and
    the backward pass two, plus ``kernel`` shifted adds for the input gradient. Written by hand
    so that the network stays channels-last from input to flatten (no transposes, Keras'
    flattening order) at no cost: on these short sequences (length 23-100, batch 40) it is as
    fast as oneDNN's convolution, whose reorders take about as long as its GEMMs. The weights
    keep ``torch.nn.Conv1d``'s shape ``(filters, channels, kernel)``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, channels = x.shape
        filters, _, kernel = weight.shape
        steps = length - kernel + 1
        cols = x.unfold(1, kernel, 1).reshape(batch * steps, channels * kernel)  # (.., channel, tap)
        matrix = weight.reshape(filters, channels * kernel)
        ctx.save_for_backward(cols, matrix)
        ctx.dims = batch, length, channels, kernel
        return torch.addmm(bias, cols, matrix.t()).view(batch, steps, filters)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cols, matrix = ctx.saved_tensors
        batch, length, channels, kernel = ctx.dims
        steps = length - kernel + 1
        flat = grad.reshape(batch * steps, -1)
        d_x = d_weight = d_bias = None
        if ctx.needs_input_grad[0]:
            d_cols = (flat @ matrix).view(batch, steps, channels, kernel)
            d_x = grad.new_zeros(batch, length, channels)
            for tap in range(kernel):
                d_x[:, tap : tap + steps] += d_cols[..., tap]
        if ctx.needs_input_grad[1]:
            # cols' @ grad, then transposed: several times faster than grad' @ cols for one channel
            d_weight = (cols.t() @ flat).t().reshape(-1, channels, kernel)
        if ctx.needs_input_grad[2]:
            d_bias = flat.sum(0)
        return d_x, d_weight, d_bias


def conv1d_channels_last(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv(x)`` for channels-last ``x`` of shape ``(batch, length, channels)``: see :class:`_Conv1dChannelsLast`."""
    return _Conv1dChannelsLast.apply(x, conv.weight, conv.bias)


class _ReLUMaxPool(torch.autograd.Function):
    """``MaxPooling1D(2)(relu(h))`` over axis 1 of ``(batch, length, channels)``, Keras' 'valid'
    padding (an odd last step is dropped).

    max(relu(a), relu(b)) = relu(max(a, b)), so the pair's maximum is taken first. The backward
    pass sends each gradient to the first maximum of its pair when that maximum is positive,
    as TensorFlow's MaxPool gradient does (``amax`` would split ties; ties feed only zeros
    through the ReLU). Written by hand because autograd's version of the same composition
    spends more time in its comparisons and scatters than the convolutions it follows.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        n = h.shape[1]
        even = n // 2 * 2
        a, b = h[:, 0:even:2], h[:, 1:even:2]
        first = a >= b
        top = torch.where(first, a, b)
        ctx.save_for_backward(first, top > 0)
        ctx.odd = n % 2
        return top.clamp_min_(0.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        first, live = ctx.saved_tensors
        grad = grad * live
        to_first = grad * first
        out = torch.stack((to_first, grad - to_first), dim=2).flatten(1, 2)
        return nn.functional.pad(out, (0, 0, 0, 1)) if ctx.odd else out


def relu_max_pool(h: torch.Tensor) -> torch.Tensor:
    """ReLU then MaxPooling1D(2) ('valid') over axis 1 of ``(batch, length, channels)``: see :class:`_ReLUMaxPool`."""
    return _ReLUMaxPool.apply(h)


class CNNLSTMNet(nn.Module):
    """The Stock-X CNN-LSTM (Aadhitya et al., Fig. 3-4).

    ``TimeDistributed(Conv1D(64, 3, relu))``, max-pool 2, ``Conv1D(128, 3)``, max-pool 2,
    ``Conv1D(64, 3)``, max-pool 2, flatten (10 x 64 = 640), ``Bidirectional(LSTM(100))``
    twice each followed by dropout 0.5, and a linear dense output. Input ``(batch, window)``.
    """

    def __init__(
        self, window: int = 100, filters=(64, 128, 64), kernel: int = 3, units: int = 100, dropout: float = 0.5
    ):
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

    KERNEL = _cnn_lstm_native.KERNEL

    def mse_step(self, X: torch.Tensor, y: torch.Tensor, adam: Adam | None = None):
        """Training steps on ``(X, y)`` by the CPU kernel (:func:`_cnn_lstm_native.mse_step`), or ``None``.

        Forward, backward, dropout and Adam in one call per batch; where the kernel does not
        apply (GPU, not built), :func:`train_regressor` uses autograd and ``torch.optim.Adam``.
        """
        return _cnn_lstm_native.mse_step(self, X, y, adam)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(-1)  # channels-last, as Keras: flattening it gives Keras' order
        for conv in self.convs:
            h = relu_max_pool(conv1d_channels_last(h, cast(nn.Conv1d, conv)))
        h = h.reshape(x.shape[0], self.flat)
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


#: An epoch loss this many times the lowest so far (on the scaled targets) means training diverged.
DIVERGENCE_FACTOR = 1e3


class Diverged(ArithmeticError):
    """Training diverged: a non-finite epoch loss, or one that exploded past the lowest so far."""

    def __init__(self, epoch: int, loss: float, lowest: float):
        super().__init__(f"training diverged at epoch {epoch} (loss {loss:.3g})")
        self.epoch, self.loss, self.lowest = epoch, loss, lowest


def _log_training_path(net: nn.Module, by_kernel: bool) -> None:
    """Say (INFO, ``marketcast -v``) whether ``net`` trains through its C kernel or autograd, and why."""
    kernel = getattr(net, "KERNEL", None)
    if by_kernel:
        path = f"training steps in the C kernel {kernel} ({torch.get_num_threads()} threads)"
    else:
        reason = fallback_reason(kernel) if kernel else "no C kernel for this network"
        reason = reason or "the kernel does not take this network's layout, dtype or device"
        path = f"training through torch autograd ({reason})"
    log_path(type(net).__name__, path)


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
    # eps=1e-7 is Keras' default (PyTorch uses 1e-8): the papers trained with Keras.
    adam = Adam(lr=learning_rate, eps=1e-7)
    # A network may bring its own step (loss, gradients and the same Adam in one call): the CPU
    # kernels of LSTMNet and CNNLSTMNet. Otherwise autograd and torch.optim.
    own_step = getattr(net, "mse_step", None)
    kernel_step = own_step(X_tr, y_tr, adam) if own_step is not None else None
    _log_training_path(net, kernel_step is not None)
    opt = None
    if kernel_step is None:  # built only here: its first construction in a process takes seconds
        opt_kw = {"fused": True} if device.type in ("cpu", "cuda") else {}
        opt = torch.optim.Adam(net.parameters(), lr=adam.lr, betas=adam.betas, eps=adam.eps, **opt_kw)
    history: dict[str, list[float]] = {"loss": [], "mae": []}
    if n_val:
        history.update(val_loss=[], val_mae=[])
    best, best_state, since = math.inf, None, 0
    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 1)
    n = len(X_tr)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(n, generator=gen).to(device) if shuffle else torch.arange(n, device=device)
        step = kernel_step if kernel_step is not None else functools.partial(_autograd_step, net, opt, X_tr, y_tr)
        total_sq = total_abs = 0.0
        for start in range(0, n, batch_size):
            sq, ab = step(order[start : start + batch_size])
            total_sq += sq
            total_abs += ab
        epoch_loss = total_sq / n
        lowest = min(history["loss"], default=math.inf)
        if not math.isfinite(epoch_loss) or epoch_loss > DIVERGENCE_FACTOR * max(min(lowest, epoch_loss), 1e-3):
            raise Diverged(len(history["loss"]) + 1, epoch_loss, lowest)
        history["loss"].append(epoch_loss)
        history["mae"].append(total_abs / n)
        if n_val:
            val, val_mae = _validation_errors(net, X_va, y_va)
            history["val_loss"].append(val)
            history["val_mae"].append(val_mae)
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


def _autograd_step(net: nn.Module, opt, X: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> tuple[float, float]:
    """One Adam step on the batch ``idx`` through autograd: the batch's sums of squared and absolute errors."""
    opt.zero_grad(set_to_none=True)
    err = net(X[idx]) - y[idx]
    loss = (err * err).mean()
    loss.backward()
    opt.step()
    return float(loss.detach()) * len(idx), float(err.detach().abs().sum())


def _validation_errors(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean squared and mean absolute error on the validation samples (eval mode, no gradients)."""
    net.eval()
    with torch.inference_mode():
        err = net(X) - y
        return float((err * err).mean()), float(err.abs().mean())


def predict_batches(net: nn.Module, X: np.ndarray, device: torch.device, batch_size: int = 4096) -> np.ndarray:
    """Network outputs for the rows of ``X`` (eval mode, no gradients)."""
    net.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(
                np.ascontiguousarray(X[start : start + batch_size]), dtype=torch.float32, device=device
            )
            out.append(net(xb).reshape(-1).cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)


def to_numpy_state(net: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def from_numpy_state(net: nn.Module, arrays: dict[str, np.ndarray], device: torch.device) -> None:
    state = {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in arrays.items()}
    net.load_state_dict(state, strict=True)
    net.eval()
