"""A faster CPU training step for the VIX paper's LSTM network, in ``_lstm_kernel.c``.

Training the paper's LSTM (Table I: batch 32, 21 lags, LSTM(128), dense(64)) is dominated by 42
sequential small GEMMs per step, and at this size the eager work around them (dense layers,
loss, autograd, one Python call per op) costs about as much again. torch's CPU LSTM (oneDNN)
splits each GEMM across the cores and synchronises them every time step; the kernel gives each
thread a block of the batch's rows (independent sequences) and runs the whole step on it:
forward through the LSTM, dense and output layers, the squared errors, back, and Adam. The
threads meet once per step. On the 2-core machines of the benchmarks a Table I fit takes about
0.4 of the time it takes through torch (README, Speed).

:func:`mse_step` gives the training loop (``_nets.train_regressor``) that step; where the kernel
does not apply (see :mod:`._kernels` and :func:`mse_step`) it returns ``None`` and the loop uses
autograd through ``torch.nn.LSTM``. Both paths compute the same function: losses, gradients and
Adam's steps agree to float rounding (tests/test_models_lstm_native.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from marketcast.models._kernels import ENV_SWITCH, Adam, KernelStep, load_kernel

__all__ = ["Adam", "ENV_SWITCH", "kernel_available", "mse_step"]

KERNEL = "_lstm_kernel"


def kernel_available() -> bool:
    """Whether the kernel is built, enabled and torch's MKL found here (:func:`mse_step` may return a step)."""
    return load_kernel(KERNEL) is not None


def mse_step(
    net: Any, X: torch.Tensor, y: torch.Tensor, adam: Adam | None = None
) -> Callable[[torch.Tensor], tuple[float, float]] | None:
    """Kernel training steps for ``net`` (an ``LSTMNet``) on samples ``X`` ``(n, time, features)``, ``y`` ``(n, 1)``.

    The returned function (a :class:`._kernels.KernelStep`) takes a batch's row numbers
    (``int64``) and computes the mean squared error of ``net`` on those rows and its gradients.
    With ``adam`` it then takes Adam's step on the parameters (its moments kept from call to
    call, as by one ``torch.optim.Adam``); without, it sets each parameter's ``.grad``, as
    ``zero_grad`` then ``backward`` would. It returns the batch's sums of squared and of absolute
    errors. ``None`` where the kernel does not apply: no
    gradients wanted, not float32 on the CPU, an LSTM other than one batch-first, unidirectional,
    biased layer, a frozen or non-contiguous parameter, or the kernel not available.
    """
    lstm, dense, out = net.lstm, net.dense, net.out
    if not isinstance(net.activation, (nn.Identity, nn.ReLU)) or out.out_features != 1:
        return None
    if (
        lstm.num_layers != 1
        or lstm.bidirectional
        or not lstm.batch_first
        or not lstm.bias
        or lstm.proj_size
        or dense.bias is None
        or out.bias is None
    ):
        return None
    if X.dim() != 3 or 0 in X.shape or X.shape[2] != lstm.input_size or y.shape != (X.shape[0], 1):
        return None
    params = list(net.parameters())
    if len(params) != 8 or not all(p.requires_grad and p.is_contiguous() for p in params):
        return None  # the kernel updates the parameters' own memory
    if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in [X, y, *params]):
        return None
    if not torch.is_grad_enabled() or not kernel_available():
        return None
    return _LSTMStep(net, params, X.contiguous(), y.contiguous(), adam)


class _LSTMStep(KernelStep):
    """:func:`mse_step`'s function (see :class:`._kernels.KernelStep`)."""

    def __init__(self, net: Any, params, X, y, adam):
        super().__init__(load_kernel(KERNEL), params, X, y, adam)
        self.dims = X.shape[1], X.shape[2], net.lstm.hidden_size, net.dense.out_features
        self.relu = isinstance(net.activation, nn.ReLU)

    def buffer_sizes(self, rows, threads):
        return self.kernel.buffer_sizes(rows, *self.dims, threads)

    def launch(self, idx, threads, gemm, adam):
        return self.kernel.train_step(
            *gemm,
            threads,
            len(idx),
            *self.dims,
            self.relu,
            self.X.data_ptr(),
            idx.data_ptr(),
            self.y.data_ptr(),
            *(p.data_ptr() for p in self.params),
            self.work.data_ptr(),
            self.work.numel(),
            self.grads.data_ptr(),
            self.grads.numel(),
            adam,
        )
