"""A faster CPU training step for the VIX paper's LSTM network, in ``_lstm_kernel.c``.

Training the paper's LSTM (Table I: batch 32, 21 lags, LSTM(128), dense(64)) is dominated by 42
sequential small GEMMs per step, and at this size the eager work around them (dense layers,
loss, autograd, one Python call per op) costs about as much again. torch's CPU LSTM (oneDNN)
splits each GEMM across the cores and synchronises them every time step; the kernel gives each
thread a block of the batch's rows (independent sequences) and runs the whole step on it:
forward through the LSTM, dense and output layers, the squared errors, and back. The threads
meet once per step. On the 2-core machines of the benchmarks a Table I fit takes about 0.4 of the
time it takes through torch (README, Speed).

:func:`mse_step` gives the training loop (``_nets.train_regressor``) a function that computes a
batch's squared errors and gradients and takes Adam's step, as ``torch.optim.Adam`` would. The kernel
multiplies with MKL's ``sgemm_``, which the x86-64 Linux builds of torch export from
``libtorch_cpu``; it is found and checked at run time. Where it is not there (other platforms,
other torch builds), the extension was not compiled, the network or the data are not float32 on
the CPU, or ``MARKETCAST_LSTM_KERNEL=torch`` is set, :func:`mse_step` returns ``None`` and the
loop uses autograd through ``torch.nn.LSTM``. Both paths compute the same function: losses and
gradients agree to float rounding (tests/test_models_lstm_native.py). Results depend on the
thread count, since it fixes the row blocks and so the order in which gradients are summed.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["Adam", "kernel_available", "mse_step"]

ENV_SWITCH = "MARKETCAST_LSTM_KERNEL"


@functools.lru_cache(maxsize=1)
def _blas() -> tuple[int, int] | None:
    """Addresses of MKL's ``sgemm_`` and ``MKL_Set_Num_Threads_Local`` in torch, checked on a product."""
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    if not library.exists() or not torch.backends.mkl.is_available():
        return None
    try:
        lib = ctypes.CDLL(str(library))
        sgemm, set_threads = lib.sgemm_, lib.MKL_Set_Num_Threads_Local
    except (OSError, AttributeError):
        return None
    # A 2x3 by 3x2 product through the same Fortran interface (32-bit integers) the kernel uses.
    a = (ctypes.c_float * 6)(1, 2, 3, 4, 5, 6)
    b = (ctypes.c_float * 6)(1, 0, 2, 1, 0, 3)
    c = (ctypes.c_float * 4)()
    m, n, k = ctypes.c_int(2), ctypes.c_int(2), ctypes.c_int(3)
    one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
    ref = torch.tensor([1.0, 2, 3, 4, 5, 6]).reshape(3, 2).T @ torch.tensor([1.0, 0, 2, 1, 0, 3]).reshape(2, 3).T
    sgemm(b"N", b"N", ctypes.byref(m), ctypes.byref(n), ctypes.byref(k), ctypes.byref(one), a, ctypes.byref(m),
          b, ctypes.byref(k), ctypes.byref(zero), c, ctypes.byref(m))
    if not torch.equal(torch.tensor(list(c)).reshape(2, 2).T, ref):
        return None
    address = lambda f: ctypes.cast(f, ctypes.c_void_p).value  # noqa: E731
    return address(sgemm), address(set_threads)


def _kernel():
    try:
        from marketcast.models import _lstm_kernel
    except ImportError:  # built without a C compiler: the torch path serves
        return None
    return _lstm_kernel


def kernel_available() -> bool:
    """Whether the kernel is built and torch's MKL found here (:func:`mse_step` may return a step)."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() == "torch":
        return False
    return _kernel() is not None and _blas() is not None


def mse_step(net: nn.Module, X: torch.Tensor, y: torch.Tensor, adam: Adam | None = None
             ) -> Callable[[torch.Tensor], tuple[float, float]] | None:
    """Kernel training steps for ``net`` (an ``LSTMNet``) on samples ``X`` ``(n, time, features)``, ``y`` ``(n, 1)``.

    The returned function takes a batch's row numbers (``int64``) and computes the mean squared
    error of ``net`` on those rows and its gradients. With ``adam`` it then takes Adam's step on
    the parameters (its moments kept from call to call, as by one ``torch.optim.Adam``); without,
    it sets each parameter's ``.grad``, as ``zero_grad`` then ``backward`` would. It returns the
    batch's sums of squared and of absolute errors. ``None`` where the kernel does not apply (see
    the module docstring).
    """
    lstm, dense, out = net.lstm, net.dense, net.out
    if not isinstance(net.activation, (nn.Identity, nn.ReLU)) or out.out_features != 1:
        return None
    if (lstm.num_layers != 1 or lstm.bidirectional or not lstm.batch_first or not lstm.bias or lstm.proj_size
            or dense.bias is None or out.bias is None):
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
    return _KernelStep(net, params, X.contiguous(), y.contiguous(), adam)


class Adam(NamedTuple):
    """Adam's settings (``torch.optim.Adam``'s names), for :func:`mse_step`."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


class _KernelStep:
    """:func:`mse_step`'s function: the work, gradient and moment buffers, reused from step to step."""

    def __init__(self, net: nn.Module, params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor,
                 adam: Adam | None):
        self.params, self.X, self.y, self.adam = params, X, y, adam
        self.dims = X.shape[1], X.shape[2], net.lstm.hidden_size, net.dense.out_features
        self.relu = isinstance(net.activation, nn.ReLU)
        self.work = self.grads = X.new_empty(0)
        self.views: list[torch.Tensor] = []
        size = sum(p.numel() for p in params)
        self.moments = (X.new_zeros(size), X.new_zeros(size)) if adam is not None else None
        self.steps = 0

    def __call__(self, idx: torch.Tensor) -> tuple[float, float]:
        kernel, (sgemm, set_threads) = _kernel(), _blas()
        T, I, H, D = self.dims
        B, threads = len(idx), torch.get_num_threads()
        idx = idx.contiguous()
        if B < 1 or idx.dtype != torch.int64 or idx.device.type != "cpu" or idx.dim() != 1:
            raise ValueError("a batch is one or more int64 row numbers on the CPU")
        if int(idx.min()) < 0 or int(idx.max()) >= len(self.X):
            raise IndexError(f"a batch row number is outside the {len(self.X)} samples")
        work_size, grads_size = kernel.buffer_sizes(B, T, I, H, D, threads)
        if self.work.numel() < work_size:  # fresh buffers would cost page faults on every step
            self.work = self.X.new_empty(work_size)
        if self.grads.numel() < grads_size:
            self.grads = self.X.new_empty(grads_size)
            self.views, at = [], 0
            for p in self.params:
                self.views.append(self.grads[at : at + p.numel()].view_as(p))
                at += p.numel()
        adam = (0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        if self.adam is not None:  # the step's coefficients in double precision, as torch computes them
            self.steps += 1
            (beta1, beta2), t = self.adam.betas, self.steps
            m, v = self.moments
            adam = (m.data_ptr(), v.data_ptr(), beta1, beta2, 1 - beta1, 1 - beta2, self.adam.lr / (1 - beta1**t),
                    math.sqrt(1 - beta2**t), self.adam.eps)
        sums = kernel.train_step(sgemm, set_threads, threads, B, T, I, H, D, self.relu, self.X.data_ptr(),
                                 idx.data_ptr(), self.y.data_ptr(), *(p.data_ptr() for p in self.params),
                                 self.work.data_ptr(), self.work.numel(), self.grads.data_ptr(), self.grads.numel(),
                                 adam)
        if self.adam is None:
            for p, g in zip(self.params, self.views):
                p.grad = g
        return sums
