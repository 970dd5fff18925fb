"""What the compiled kernels share: the switch, the log line of the path taken, torch's MKL ``sgemm_``, Adam.

The training kernels (``_lstm_kernel.c`` for the VIX paper's LSTM, ``_cnn_lstm_kernel.c`` for
the Stock-X CNN-LSTM) each run a whole training step of one network in one call: every thread
takes a block of the batch's rows through forward, loss and backward with single-threaded GEMMs,
the blocks' gradients are summed in block order, and Adam updates the parameters as
``torch.optim.Adam`` does. They multiply with MKL's ``sgemm_``, which the x86-64 Linux builds of
torch export from ``libtorch_cpu``; it is found and checked at run time, so no BLAS is linked at
build time. ``_nnet_kernel.c`` runs NNAR's network passes and needs no BLAS.

Where a kernel does not apply (the extension not built, torch without MKL's ``sgemm_`` for the
training kernels, or switched off) the networks train through autograd and NNAR through NumPy,
and the log says so (INFO, ``marketcast -v``). One switch turns every kernel off:
``MARKETCAST_KERNELS=off``; the older ``MARKETCAST_LSTM_KERNEL=torch`` (the two training kernels)
and ``MARKETCAST_NNET_KERNEL=numpy`` (NNAR's) still work. Training results depend on the thread
count, since it fixes the row blocks and so the order in which gradients are summed; a seed and a
thread count repeat bit for bit.

This module imports torch only when a training kernel asks for ``sgemm_``: NNAR imports it too.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch

__all__ = [
    "Adam",
    "ENV_SWITCH",
    "KernelStep",
    "fallback_reason",
    "kernel_built",
    "kernel_enabled",
    "load_kernel",
    "log_path",
]

logger = logging.getLogger(__name__)

ENV_SWITCH = "MARKETCAST_KERNELS"
OFF = frozenset({"off", "0", "false", "no", "none", "torch", "numpy"})
# The older per-family switches (documented before the one switch), and the kernels they turn off.
ALIASES = {
    "MARKETCAST_LSTM_KERNEL": ("torch", ("_lstm_kernel", "_cnn_lstm_kernel")),
    "MARKETCAST_NNET_KERNEL": ("numpy", ("_nnet_kernel",)),
    "MARKETCAST_DDEWMA_KERNEL": ("numpy", ("_ddewma_kernel",)),
}
TRAINING_KERNELS = ("_lstm_kernel", "_cnn_lstm_kernel")


class Adam(NamedTuple):
    """Adam's settings (``torch.optim.Adam``'s names), for the kernels' training steps."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


def _switched_off(name: str | None = None) -> str | None:
    """The setting that turns kernel ``name`` (any kernel where ``None``) off, as ``VAR=value``; else ``None``."""
    value = os.environ.get(ENV_SWITCH, "").strip().lower()
    if value in OFF:
        return f"{ENV_SWITCH}={value}"
    for variable, (off, kernels) in ALIASES.items():
        value = os.environ.get(variable, "").strip().lower()
        if value == off and (name is None or name in kernels):
            return f"{variable}={value}"
    return None


def kernel_enabled(name: str | None = None) -> bool:
    """False where the environment turns kernel ``name`` off (``MARKETCAST_KERNELS=off`` or an older alias)."""
    return _switched_off(name) is None


@functools.lru_cache(maxsize=1)
def _blas() -> tuple[int, int] | None:
    """Addresses of MKL's ``sgemm_`` and ``MKL_Set_Num_Threads_Local`` in torch, checked on a product."""
    try:
        return _find_blas()
    except Exception:  # an unfamiliar torch build must not stop a fit: autograd's path serves
        logger.debug("torch's sgemm_ could not be used", exc_info=True)
        return None


def _find_blas() -> tuple[int, int] | None:
    import torch

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
    sgemm(
        b"N",
        b"N",
        ctypes.byref(m),
        ctypes.byref(n),
        ctypes.byref(k),
        ctypes.byref(one),
        a,
        ctypes.byref(m),
        b,
        ctypes.byref(k),
        ctypes.byref(zero),
        c,
        ctypes.byref(m),
    )
    if not torch.equal(torch.tensor(list(c)).reshape(2, 2).T, ref):
        return None

    def address(f: Any) -> int:
        return int(ctypes.cast(f, ctypes.c_void_p).value or 0)

    return address(sgemm), address(set_threads)


@functools.cache
def _load(name: str) -> Any:
    try:
        return importlib.import_module(f"marketcast.models.{name}")
    except ImportError:  # built without a C compiler: autograd's or NumPy's path serves
        return None


def fallback_reason(name: str) -> str | None:
    """Why kernel ``name`` is not used here (switched off, not built, no ``sgemm_``), or ``None`` where it is."""
    off = _switched_off(name)
    if off is not None:
        return f"switched off by {off}"
    if _load(name) is None:
        return f"{name} was not built (no C compiler when marketcast was installed)"
    if name in TRAINING_KERNELS and _blas() is None:
        return "torch brings no MKL sgemm_ here (a torch build other than x86-64 Linux's)"
    return None


def kernel_built(name: str) -> bool:
    """Whether kernel ``name`` is built and, for the training kernels, torch's ``sgemm_`` found: the switch aside."""
    return _load(name) is not None and (name not in TRAINING_KERNELS or _blas() is not None)


def load_kernel(name: str) -> Any:
    """The extension module ``name`` where it is built and enabled (and torch's MKL found for the training
    kernels); else ``None``."""
    return None if fallback_reason(name) is not None else _load(name)


@functools.cache
def _say_fallback(logger_name: str, model: str, reason: str, fallback: str) -> None:
    # Not built is worth a warning (a slower install than intended); a switch the user set, a note.
    level = logging.WARNING if "not built" in reason else logging.INFO
    logging.getLogger(logger_name).log(level, "%s: %s; %s", model, reason, fallback)


def kernel_or_fallback(name: str, model: str, fallback: str, logger_name: str = __name__) -> Any:
    """Kernel ``name`` where it serves; else ``None``, after saying once per process why and what
    ``model`` does instead (``fallback``), on ``logger_name``: a WARNING where the kernel was not
    built, an INFO (``marketcast -v``) where a switch turned it off."""
    reason = fallback_reason(name)
    if reason is None:
        return _load(name)
    _say_fallback(logger_name, model, reason, fallback)
    return None


_logged: set[tuple[str, str]] = set()


def log_path(what: str, path: str) -> None:
    """Log that ``what`` (a network's fit) takes ``path``: at INFO the first time in a process, then at DEBUG.

    Rolling jobs fit hundreds of networks; one line per kind of fit and path keeps ``-v`` readable.
    """
    key = (what, path)
    level = logging.DEBUG if key in _logged else logging.INFO
    _logged.add(key)
    logger.log(level, "%s: %s", what, path)


class KernelStep:
    """A network's training step through a kernel: the work, gradient and moment buffers, reused between steps.

    Called with a batch's row numbers (``int64``), it computes the mean squared error and its
    gradients and takes Adam's step (with ``adam``) or sets each parameter's ``.grad`` (without,
    as ``zero_grad`` then ``backward`` would); it returns the batch's sums of squared and
    absolute errors. Subclasses say how big the buffers are and how to call their kernel.
    """

    def __init__(self, kernel: Any, params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor, adam: Adam | None):
        self.kernel, self.params, self.X, self.y, self.adam = kernel, params, X, y, adam
        self.work = self.grads = X.new_empty(0)
        self.views: list[torch.Tensor] = []
        size = sum(p.numel() for p in params)
        self.moments = (X.new_zeros(size), X.new_zeros(size)) if adam is not None else None
        self.steps = 0

    def buffer_sizes(self, rows: int, threads: int) -> tuple[int, int]:
        """Floats of the work and the gradient buffers that a batch of ``rows`` needs."""
        raise NotImplementedError

    def launch(self, idx: torch.Tensor, threads: int, gemm: tuple[int, int], adam: tuple) -> tuple[float, float]:
        """Run the kernel on the batch ``idx``, with the buffers in place."""
        raise NotImplementedError

    def __call__(self, idx: torch.Tensor) -> tuple[float, float]:
        import torch

        B, threads = len(idx), torch.get_num_threads()
        idx = idx.contiguous()
        if B < 1 or idx.dtype != torch.int64 or idx.device.type != "cpu" or idx.dim() != 1:
            raise ValueError("a batch is one or more int64 row numbers on the CPU")
        if int(idx.min()) < 0 or int(idx.max()) >= len(self.X):
            raise IndexError(f"a batch row number is outside the {len(self.X)} samples")
        work_size, grads_size = self.buffer_sizes(B, threads)
        if self.work.numel() < work_size:  # fresh buffers would cost page faults on every step
            self.work = self.X.new_empty(work_size)
        if self.grads.numel() < grads_size:
            self.grads = self.X.new_empty(grads_size)
            self.views, at = [], 0
            for p in self.params:
                self.views.append(self.grads[at : at + p.numel()].view_as(p))
                at += p.numel()
        adam = (0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # no moments: gradients only
        if self.adam is not None:  # the step's coefficients in double precision, as torch computes them
            self.steps += 1
            (beta1, beta2), t = self.adam.betas, self.steps
            m, v = self.moments  # type: ignore[misc]  # set wherever adam is
            adam = (
                m.data_ptr(),
                v.data_ptr(),
                beta1,
                beta2,
                1 - beta1,
                1 - beta2,
                self.adam.lr / (1 - beta1**t),
                math.sqrt(1 - beta2**t),
                self.adam.eps,
            )
        gemm = _blas()
        if gemm is None:
            raise RuntimeError("torch's sgemm_ went missing after the kernel was chosen")
        sums = self.launch(idx, threads, gemm, adam)
        if self.adam is None:
            for p, g in zip(self.params, self.views, strict=True):
                p.grad = g
        return sums
