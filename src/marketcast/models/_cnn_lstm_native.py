"""A faster CPU training step for the Stock-X CNN-LSTM, in ``_cnn_lstm_kernel.c``.

One step of the paper's network on a batch of 40 windows is about 0.6 GFLOP of small GEMMs, and
about as much time again goes to the eager work around them: some 60 small ops forward and
back, each a Python call and a wake-up of torch's thread pool, the autograd engine, and
``torch.optim.Adam`` over 883k parameters. As for the LSTM (:mod:`._lstm_native`), the kernel
gives each thread a block of the batch's rows and runs the whole step on it: convolutions,
pooling, both one-step BiLSTMs with their dropout, the output, the squared errors, back, and
Adam. The dropout masks are drawn here with torch's generator, in the order and shape autograd's
path draws them, so a seed gives the same masks on both paths.

:func:`mse_step` returns ``None`` where the kernel does not apply (the network not float32 on
the CPU, a layer other than :class:`~._nets.CNNLSTMNet`'s, the extension not built, torch
without MKL, ``MARKETCAST_KERNELS=off``); ``train_regressor`` then uses autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from marketcast.models._kernels import Adam, KernelStep, load_kernel

__all__ = ["kernel_available", "mse_step"]

KERNEL = "_cnn_lstm_kernel"


def kernel_available() -> bool:
    """Whether the CNN-LSTM kernel is built, enabled and torch's MKL found here."""
    return load_kernel(KERNEL) is not None


def mse_step(
    net: Any, X: torch.Tensor, y: torch.Tensor, adam: Adam | None = None
) -> Callable[[torch.Tensor], tuple[float, float]] | None:
    """Kernel training steps for ``net`` (a ``CNNLSTMNet``) on windows ``X`` ``(n, window)``, ``y`` ``(n, 1)``.

    The same contract as :func:`._lstm_native.mse_step` (see :class:`._kernels.KernelStep`); with
    ``adam=None`` the BiLSTMs' unused ``weight_hh`` get no ``.grad``, as under autograd.
    """
    convs = list(net.convs)
    if not convs or any(
        not isinstance(c, nn.Conv1d)
        or c.bias is None
        or c.stride != (1,)
        or c.padding != (0,)
        or c.dilation != (1,)
        or c.groups != 1
        or c.kernel_size != convs[0].kernel_size
        for c in convs
    ):
        return None
    channels = [1] + [c.out_channels for c in convs[:-1]]
    if [c.in_channels for c in convs] != channels:
        return None
    units = net.lstm1.units
    if (
        net.lstm2.units != units
        or net.lstm1.weight_ih.shape[2] != net.flat
        or net.lstm2.weight_ih.shape[2] != 2 * units
        or net.out.in_features != 2 * units
        or net.out.out_features != 1
        or net.out.bias is None
    ):
        return None
    if X.dim() != 2 or 0 in X.shape or y.shape != (X.shape[0], 1):
        return None
    params = [p for c in convs for p in (c.weight, c.bias)]
    params += [net.lstm1.weight_ih, net.lstm1.bias, net.lstm2.weight_ih, net.lstm2.bias, net.out.weight, net.out.bias]
    if len(list(net.parameters())) != len(params) + 2 or not all(p.requires_grad and p.is_contiguous() for p in params):
        return None  # the kernel updates the parameters' own memory
    if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in [X, y, *params]):
        return None
    if not torch.is_grad_enabled() or not kernel_available():
        return None
    step = _CNNLSTMStep(net, params, X.contiguous(), y.contiguous(), adam)
    try:  # the window must fit the stages; the C side checks it
        step.buffer_sizes(1, 1)
    except ValueError:
        return None
    return step


class _CNNLSTMStep(KernelStep):
    """:func:`mse_step`'s function (see :class:`._kernels.KernelStep`), with the dropout masks' buffer."""

    def __init__(self, net: Any, params, X, y, adam):
        super().__init__(load_kernel(KERNEL), params, X, y, adam)
        self.dropout = net.dropout
        self.dims = [c.out_channels for c in net.convs], net.convs[0].kernel_size[0], X.shape[1], net.lstm1.units
        self.masks = X.new_empty(0)

    def buffer_sizes(self, rows, threads):
        return self.kernel.buffer_sizes(rows, *self.dims, threads)

    def _draw_masks(self, rows: int) -> torch.Tensor:
        """Dropout masks (0 or 1 / (1 - p)) of both BiLSTMs, drawn as ``torch.nn.functional.dropout`` draws them."""
        p = float(self.dropout.p) if self.dropout.training else 0.0
        units = self.dims[3]
        if self.masks.shape != (2, rows, 2 * units):
            self.masks = self.X.new_empty(2, rows, 2 * units)
        if p == 0.0:  # torch draws nothing then, nor for p = 1
            self.masks.fill_(1.0)
        elif p == 1.0:
            self.masks.zero_()
        else:
            for mask in self.masks:  # in forward order: after the first BiLSTM, then the second
                mask.bernoulli_(1 - p).div_(1 - p)
        return self.masks

    def launch(self, idx, threads, gemm, adam):
        masks = self._draw_masks(len(idx))
        return self.kernel.train_step(
            *gemm,
            threads,
            len(idx),
            *self.dims,
            self.X.data_ptr(),
            idx.data_ptr(),
            self.y.data_ptr(),
            masks.data_ptr(),
            [p.data_ptr() for p in self.params],
            self.work.data_ptr(),
            self.work.numel(),
            self.grads.data_ptr(),
            self.grads.numel(),
            adam,
        )
