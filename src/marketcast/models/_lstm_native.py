"""A faster CPU training path for one-layer LSTMs: forward and backward in ``_lstm_kernel.c``.

Training the VIX paper's LSTM (Table I: batch 32, 21 lags, LSTM(128)) is dominated by 42
sequential small GEMMs per step. torch's CPU LSTM (oneDNN) splits each GEMM across the cores
and synchronises them every time step; the kernel gives each thread a block of the batch's rows
(independent sequences) and runs the whole recursion on it, so the threads meet once per pass.
On the 2-core machines of the benchmarks the LSTM's part of a training step takes about half of
oneDNN's time, and a whole Table I fit about 0.7 of it (README, Speed).

The kernel multiplies with MKL's ``sgemm_``, which the x86-64 Linux builds of torch export from
``libtorch_cpu``; it is found and checked at run time. Where it is not there (other platforms,
other torch builds), the extension was not compiled, the data are on a GPU or
``MARKETCAST_LSTM_KERNEL=torch`` is set, :func:`lstm_last_hidden` returns ``None`` and the caller
uses ``torch.nn.LSTM``. Both paths compute the same function: values and gradients agree to
float rounding (tests/test_models_lstm_native.py). Results depend on the thread count, since it
fixes the row blocks and so the order in which the weight gradients are summed.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

import torch

__all__ = ["kernel_available", "lstm_last_hidden"]

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
    """Whether :func:`lstm_last_hidden` runs the kernel here (else the caller uses ``nn.LSTM``)."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() == "torch":
        return False
    return _kernel() is not None and _blas() is not None


class _LSTMLastHidden(torch.autograd.Function):
    """``h_T`` of a one-layer LSTM from a zero state; gradients for the weights (not for ``x``)."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, pool):
        kernel, (sgemm, set_threads) = _kernel(), _blas()
        B, T, I = x.shape
        H = w_hh.shape[1]
        threads = torch.get_num_threads()
        x, w_ih, w_hh = x.contiguous(), w_ih.detach().contiguous(), w_hh.detach().contiguous()
        bias = (b_ih.detach() + b_hh.detach()).contiguous()
        sizes = (B * T * I, B * T * 4 * H, B * (T + 1) * H, B * (T + 1) * H, B * T * H, B * T * 4 * H)
        workspace = _checkout(pool, sum(sizes), x)
        xt, acts, cs, hs, tcs, dG = torch.split(workspace[: sum(sizes)], sizes)
        h = x.new_empty(B, H)
        kernel.forward(sgemm, set_threads, threads, B, T, I, H, x.data_ptr(), w_ih.data_ptr(), w_hh.data_ptr(),
                       bias.data_ptr(), xt.data_ptr(), acts.data_ptr(), cs.data_ptr(), hs.data_ptr(), tcs.data_ptr(),
                       h.data_ptr())
        ctx.save_for_backward(w_hh)
        ctx.workspace, ctx.buffers, ctx.pool = workspace, (xt, acts, cs, hs, tcs, dG), pool
        ctx.dims = B, T, I, H, threads
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dh):
        if ctx.workspace is None:
            raise RuntimeError("the LSTM kernel's saved states were released after the first backward; "
                               "backward twice (retain_graph=True) is not supported")
        kernel, (sgemm, set_threads) = _kernel(), _blas()
        (w_hh,) = ctx.saved_tensors
        xt, acts, cs, hs, tcs, dG = ctx.buffers
        B, T, I, H, threads = ctx.dims
        dh = dh.contiguous()
        size = 4 * H * I + 4 * H * H + 4 * H
        grads = xt.new_empty(kernel.block_count(B, threads) * size)
        kernel.backward(sgemm, set_threads, threads, B, T, I, H, w_hh.data_ptr(), xt.data_ptr(), acts.data_ptr(),
                        cs.data_ptr(), hs.data_ptr(), tcs.data_ptr(), dh.data_ptr(), dG.data_ptr(), grads.data_ptr())
        _checkin(ctx.pool, ctx.workspace)
        ctx.workspace = ctx.buffers = None
        d_ih = grads[: 4 * H * I].view(4 * H, I)
        d_hh = grads[4 * H * I : 4 * H * I + 4 * H * H].view(4 * H, H)
        d_b = grads[4 * H * I + 4 * H * H : size]
        # The two bias vectors get equal gradients; separate tensors, so that accumulating into one
        # .grad never adds into the other.
        return None, d_ih, d_hh, d_b, d_b.clone(), None


def _checkout(pool: list | None, size: int, like: torch.Tensor) -> torch.Tensor:
    """A float buffer of at least ``size``: the pool's, if it has one big enough, else a new one.

    Training asks for the same buffers every step; fresh ones cost page faults each time (about a
    tenth of a step). A buffer is out of the pool from a forward until its backward is done.
    """
    if pool:
        buffer = pool.pop()
        if buffer.numel() >= size:
            return buffer
    return like.new_empty(size)


def _checkin(pool: list | None, buffer: torch.Tensor) -> None:
    if pool is not None and (not pool or pool[0].numel() < buffer.numel()):
        pool[:] = [buffer]


def lstm_last_hidden(x: torch.Tensor, lstm: torch.nn.LSTM, pool: list | None = None) -> torch.Tensor | None:
    """The last hidden state of ``lstm(x)`` (``(batch, time, features)``), by the kernel, for training.

    ``pool``, a list the caller keeps (one per network), lets successive training steps reuse
    the kernel's work buffers.

    Returns ``None`` where the kernel does not apply: no gradient wanted, data not float32 on the
    CPU, an input that needs a gradient, or an LSTM other than one batch-first, unidirectional,
    biased layer without projections; the caller then runs ``lstm`` itself.
    """
    if not torch.is_grad_enabled() or x.requires_grad or x.device.type != "cpu" or x.dtype != torch.float32:
        return None
    if (lstm.num_layers != 1 or lstm.bidirectional or not lstm.batch_first or not lstm.bias
            or lstm.proj_size or x.dim() != 3 or 0 in x.shape):
        return None
    params = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in params) or not kernel_available():
        return None
    return _LSTMLastHidden.apply(x, *params, pool)
