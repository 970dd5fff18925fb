"""nnet's networks (one logistic hidden layer, linear output): ``fpass``/``bpass`` batched over networks.

The passes run in C (``_nnet_kernel.c``) where it is built and not switched off
(:mod:`marketcast.models._kernels`), else in NumPy (:meth:`_Net._sse_numpy`, also the C passes'
reference). :func:`fit_nnets` fits many networks at once with :func:`~marketcast.models._vmmin.vmmin`.
"""

from __future__ import annotations

import numpy as np

from marketcast.errors import ModelError
from marketcast.models import _kernels
from marketcast.models._vmmin import ABSTOL, RELTOL, VmminResult, _rowdot, vmmin

__all__ = ["RANG", "n_weights", "nnet_outputs", "nnet_sse", "fit_nnets"]

#: nnet's default range of the initial weights, as ``nnetar`` leaves it: uniform on [-rang, rang].
RANG = 0.7

KERNEL = "_nnet_kernel"


def n_weights(p: int, size: int) -> int:
    """Weights of a p-size-1 network with linear output, no skip layer: ``size*(p+1) + size + 1``."""
    return int(size) * (int(p) + 1) + int(size) + 1


def _nnet_kernel():
    """The C passes of :class:`_Net` (``_nnet_kernel.c``), unless not built or switched off (``MARKETCAST_KERNELS=off``,
    or the older ``MARKETCAST_NNET_KERNEL=numpy``)."""
    return _kernels.load_kernel(KERNEL)


def _log_passes() -> None:
    """Say (INFO, ``marketcast -v``, once per process) whether NNAR's networks run in C or NumPy, and why."""
    reason = _kernels.fallback_reason(KERNEL)
    _kernels.log_path("NNAR networks", f"passes in NumPy ({reason})" if reason else f"passes in the C kernel {KERNEL}")


class _Net:
    """Forward and backward passes of ``m`` networks on one data set, with reusable buffers.

    Weights are in nnet's order (by destination unit): for each hidden unit its bias and the
    ``p`` input weights, then the output unit's bias and the ``size`` hidden weights. Shapes:
    ``w`` is ``(m, n_weights)``, inputs ``x`` are ``(N, p)``. Calling the object gives nnet's
    objective and gradient for every row of ``w`` (``fminfn``/``fmingr``, i.e. ``fpass`` and
    ``bpass`` summed over the training rows).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray | None, size: int, decay: float = 0.0, max_nets: int = 1):
        x = np.asarray(x, dtype=np.float64)
        n, p = x.shape
        self.p, self.size, self.n = p, int(size), n
        self.nh = self.size * (p + 1)
        self.nw = self.nh + self.size + 1
        self.x1 = np.empty((n, p + 1))  # [1, x]: the bias unit is unit 0 in nnet
        self.x1[:, 0] = 1.0
        self.x1[:, 1:] = x
        self.x1t = np.ascontiguousarray(self.x1.T)
        self.y = None if y is None else np.asarray(y, dtype=np.float64)
        self.decay = float(decay)
        self._alloc(max(1, int(max_nets)))

    def _alloc(self, m: int) -> None:
        self.cap = m
        self._a = np.empty((m, self.size, self.n))
        self._d = np.empty_like(self._a)
        self._out = np.empty((m, 1, self.n))
        self._gw1 = np.empty((m, self.size, self.p + 1))
        self._gw2 = np.empty((m, self.size, 1))

    def set_inputs(self, x: np.ndarray) -> None:
        """Replace the inputs by ``x`` of the same shape (the recursive forecasts)."""
        self.x1[:, 1:] = x
        self.x1t[1:, :] = x.T

    def _forward(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hidden activations ``(m, size, N)`` and outputs ``(m, N)``: views of the buffers."""
        m = w.shape[0]
        if m > self.cap:
            self._alloc(m)
        size, n = self.size, self.n
        a, out = self._a[:m], self._out[:m]
        # a = -(inputs of the hidden units), one matrix product for all networks; negating
        # the weights first is exact.
        w1 = np.negative(w[:, : self.nh]).reshape(m * size, self.p + 1)
        np.matmul(w1, self.x1t, out=a.reshape(m * size, n))
        # nnet's sigmoid: 1/(1 + exp(-z)), but exactly 0 for z < -15 and 1 for z > 15. Dividing
        # -z by the indicator of |z| <= 15 sends the saturated units to -z = +-inf, where the
        # formula gives exactly 0 and 1 (and the rest is divided by 1, exactly).
        inside = self._d[:m]
        np.abs(a, out=inside)
        np.less_equal(inside, 15.0, out=inside)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            np.divide(a, inside, out=a)
            np.exp(a, out=a)
        a += 1.0
        np.divide(1.0, a, out=a)
        np.matmul(w[:, None, self.nh + 1 :], a, out=out)  # the linear output unit
        out += w[:, self.nh, None, None]
        return a, out[:, 0, :]

    def outputs(self, w: np.ndarray) -> np.ndarray:
        """Network outputs, shape ``(m, N)`` (a view of a buffer that the next call overwrites)."""
        kernel = _nnet_kernel()
        if kernel is None:
            return self._forward(w)[1]
        w = self._weights(w)
        out = self._out[: w.shape[0], 0, :]
        kernel.outputs(
            w.shape[0],
            self.size,
            self.p,
            self.n,
            w.ctypes.data,
            self.x1t.ctypes.data,
            self._a.ctypes.data,
            out.ctypes.data,
        )
        return out

    def _weights(self, w: np.ndarray) -> np.ndarray:
        """``w`` as the C kernel reads it (C-contiguous float64), with the buffers grown to fit."""
        w = np.ascontiguousarray(w, dtype=np.float64)
        if w.shape[0] > self.cap:
            self._alloc(w.shape[0])
        return w

    def __call__(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum of squared errors (plus decay) and its gradient for each row of ``w``."""
        kernel = _nnet_kernel()
        if kernel is not None:  # the same sums in one pass per hidden unit (_nnet_kernel.c)
            w = self._weights(w)
            m = w.shape[0]
            f, grad = np.empty(m), np.empty((m, self.nw))
            kernel.sse(
                m,
                self.size,
                self.p,
                self.n,
                w.ctypes.data,
                self.x1t.ctypes.data,
                self.y.ctypes.data,
                self._a.ctypes.data,
                self._out.ctypes.data,
                f.ctypes.data,
                grad.ctypes.data,
            )
        else:
            f, grad = self._sse_numpy(w)
        if self.decay:
            f += self.decay * np.einsum("kw,kw->k", w, w)
            grad += (2.0 * self.decay) * w
        return f, grad

    def _sse_numpy(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`__call__` without decay, in NumPy: the reference of the C kernel, and its fallback."""
        m = w.shape[0]
        size = self.size
        a, e = self._forward(w)
        e -= self.y  # residuals, in place in the output buffer
        f = _rowdot(e, e)
        e *= 2.0  # dE/d(output) = 2 (output - target)
        grad = np.empty((m, self.nw))
        grad[:, self.nh] = e.sum(axis=1)  # output bias
        gw2 = self._gw2[:m]
        np.matmul(a, e[:, :, None], out=gw2)  # hidden -> output weights
        grad[:, self.nh + 1 :] = gw2[:, :, 0]
        # Hidden units: delta = dE/d(output) * w_out * a (1 - a); gradient = delta * (1, x).
        d = self._d[:m]
        np.subtract(1.0, a, out=d)
        d *= a
        d *= e[:, None, :]
        gw1 = self._gw1[:m]
        np.matmul(d.reshape(m * size, self.n), self.x1, out=gw1.reshape(m * size, self.p + 1))
        gw1 *= w[:, self.nh + 1 :, None]
        grad[:, : self.nh] = gw1.reshape(m, self.nh)
        return f, grad


def nnet_outputs(weights: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    """Outputs of networks ``weights`` (shape ``(k, n_weights)``) on inputs ``x`` (``(N, p)``): ``(k, N)``."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    return _Net(np.atleast_2d(x), None, size, max_nets=w.shape[0]).outputs(w).copy()


def nnet_sse(weights: np.ndarray, x: np.ndarray, y: np.ndarray, size: int, decay: float = 0.0):
    r"""nnet's least-squares objective and its analytic gradient (``fminfn`` and ``fmingr``).

    .. math:: E(w) = \sum_t \bigl(y_t - \hat y_t(w)\bigr)^2 + \lambda \sum_i w_i^2

    for networks with one logistic hidden layer and a linear output. ``weights`` may be one
    vector or a stack ``(k, n_weights)``; returns ``(f, grad)`` of matching shapes.
    """
    w = np.asarray(weights, dtype=np.float64)
    single = w.ndim == 1
    w2 = np.atleast_2d(w)
    f, g = _Net(np.atleast_2d(x), y, size, decay, max_nets=w2.shape[0])(w2)
    return (float(f[0]), g[0]) if single else (f, g)


def fit_nnets(
    x: np.ndarray,
    y: np.ndarray,
    size: int,
    *,
    repeats: int = 20,
    rng: np.random.Generator | int | None = None,
    maxit: int = 100,
    decay: float = 0.0,
    rang: float = RANG,
    abstol: float = ABSTOL,
    reltol: float = RELTOL,
    init: np.ndarray | None = None,
) -> VmminResult:
    """Fit ``repeats`` networks ``nnet(x, y, size, linout=TRUE)`` from random starts, in lockstep.

    Initial weights are uniform on ``[-rang, rang]`` (``runif(nwts, -rang, rang)`` in nnet),
    one row per network drawn in order from ``rng``, unless ``init`` gives them. Returns the
    :class:`VmminResult` whose ``x`` holds the fitted weights, shape ``(repeats, n_weights)``.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    nw = n_weights(x.shape[1], size)
    if init is None:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        init = gen.uniform(-rang, rang, size=(int(repeats), nw)) if rang > 0 else np.zeros((int(repeats), nw))
    init = np.atleast_2d(np.asarray(init, dtype=np.float64))
    if init.shape[1] != nw:
        raise ModelError(f"nnar: initial weights of length {init.shape[1]}, a {x.shape[1]}-{size}-1 network has {nw}")
    net = _Net(x, y, size, decay, max_nets=init.shape[0])
    _log_passes()
    return vmmin(net, init, maxit=maxit, abstol=abstol, reltol=reltol)
