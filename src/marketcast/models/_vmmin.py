r"""R's ``vmmin`` (BFGS), run for a batch of problems in lockstep.

A port of ``vmmin`` from R's ``src/appl/optim.c`` (J. C. Nash's variable-metric method from
*Compact Numerical Methods for Computers*, 2nd ed., 1990, re-crafted by B. D. Ripley), the
optimiser behind ``optim(method="BFGS")`` and ``nnet``. It is general: any objective with an
analytic gradient, vectorised over rows, and any number of problems minimised at once. NNAR
(:mod:`marketcast.models.nnar`) fits its 20 networks with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from marketcast.errors import ModelError

__all__ = ["ABSTOL", "RELTOL", "VmminResult", "vmmin"]

#: nnet's tolerances (R's ``optim`` defaults are ``abstol=-Inf, reltol=1.49e-8``).
ABSTOL = 1.0e-4
RELTOL = 1.0e-8

# vmmin's constants (R src/appl/optim.c).
_STEPREDN = 0.2
_ACCTOL = 1.0e-4
_RELTEST = 10.0


if hasattr(np, "vecdot"):  # NumPy >= 2.0: a ufunc, several times faster than einsum here
    _rowdot = np.vecdot
else:  # pragma: no cover

    def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise dot products of two ``(k, n)`` arrays."""
        return np.einsum("ki,ki->k", a, b)


@dataclass
class VmminResult:
    """Result of :func:`vmmin`, one entry per problem of the batch.

    ``fail`` is R's ``ifail`` (and nnet's ``convergence``): 1 when ``maxit`` iterations were
    used, else 0. ``iterations`` counts gradient evaluations as R's ``iter`` does.
    """

    x: np.ndarray
    fmin: np.ndarray
    fail: np.ndarray
    iterations: np.ndarray
    fncount: np.ndarray
    grcount: np.ndarray


def vmmin(
    fg: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: np.ndarray,
    *,
    maxit: int = 100,
    abstol: float = ABSTOL,
    reltol: float = RELTOL,
) -> VmminResult:
    """Port of R's ``vmmin`` (``src/appl/optim.c``: J. C. Nash's Pascal code from *Compact
    Numerical Methods for Computers*, 2nd ed., 1990, re-crafted by B. D. Ripley), minimising a
    batch of problems at once.

    Each problem (row of ``x0``) follows R's algorithm exactly: a variable-metric (BFGS) update
    of an inverse Hessian approximation ``B``; search direction :math:`t = -Bg`; backtracking
    from step 1 by factors ``stepredn = 0.2`` until the Armijo condition
    :math:`f \\le f_{min} + \\text{acctol}\\, s\\, g^\\top t` (``acctol = 1e-4``) holds or no
    coordinate changes (``reltest = 10``: :math:`10 + x_i = 10 + x_i'`); ``B`` reset to the
    identity after an uphill direction, a failed curvature test :math:`D_1 \\le 0`, a stall or
    every :math:`2n` gradients; stop when ``f <= abstol``, when the relative change is at most
    ``reltol`` right after a reset, or after ``maxit`` iterations. R's defaults for ``optim``
    are ``abstol=-inf, reltol=1.49e-8``; nnet (and so these defaults) uses 1e-4 and 1e-8.

    The problems run in lockstep: each pass evaluates, in one call of ``fg``, every problem
    whose line search needs a new point. ``fg(x)`` takes ``(m, n)`` points and returns
    ``(f, grad)`` of shapes ``(m,)`` and ``(m, n)``; R evaluates the gradient only at
    accepted points, which gives the same numbers (``fg`` may compute both at once).

    Parameters
    ----------
    fg : callable
        Objective and gradient, vectorised over rows.
    x0 : ndarray, shape (n,) or (k, n)
        Starting points.
    maxit, abstol, reltol
        As in R.

    Returns
    -------
    VmminResult
        For a 1-D ``x0`` the fields are scalars (and ``x`` a vector).
    """
    b = np.array(x0, dtype=np.float64, copy=True)
    single = b.ndim == 1
    b = np.atleast_2d(b)
    k, n = b.shape

    def pack(fmin, fail, it, fnc, grc) -> VmminResult:
        if single:
            return VmminResult(b[0], float(fmin[0]), int(fail[0]), int(it[0]), int(fnc[0]), int(grc[0]))
        return VmminResult(b, fmin, fail, it, fnc, grc)

    if maxit <= 0:
        f0, _ = fg(b)
        zero = np.zeros(k, dtype=int)
        return pack(np.asarray(f0, dtype=np.float64).copy(), zero, zero, zero, zero)

    f_all, g_all = fg(b)
    f = np.array(f_all, dtype=np.float64)  # the last value computed, per problem (R's f)
    g = np.array(g_all, dtype=np.float64)  # the gradient at the last accepted point
    if not np.isfinite(f).all():
        raise ModelError("initial value in 'vmmin' is not finite")
    fmin = f.copy()
    funcount = np.ones(k, dtype=np.int64)
    gradcount = np.ones(k, dtype=np.int64)
    iters = np.ones(k, dtype=np.int64)
    ilast = gradcount.copy()
    B = np.empty((k, n, n))  # inverse Hessian approximations
    X = np.empty((k, n))  # the point a line search starts from
    c = np.empty((k, n))  # the gradient there
    t = np.empty((k, n))  # search directions
    step = np.ones(k)
    gradproj = np.zeros(k)
    searching = np.zeros(k, dtype=bool)
    eye = np.eye(n)

    def bottom(idx: np.ndarray, count_n: np.ndarray) -> np.ndarray:
        """The end of R's do-while body for problems ``idx``: which of them loop again."""
        go = iters[idx] < maxit
        idx, count_n = idx[go], count_n[go]
        gc = gradcount[idx]
        restart = gc - ilast[idx] > 2 * n  # periodic restart
        ilast[idx[restart]] = gc[restart]
        return idx[~count_n | (ilast[idx] != gc)]

    def top(idx: np.ndarray) -> None:
        """The start of R's do-while body: a new search direction for problems ``idx``."""
        while idx.size:
            reset = idx[ilast[idx] == gradcount[idx]]
            if reset.size:
                B[reset] = eye
            X[idx] = b[idx]
            gi = g[idx]
            c[idx] = gi
            ti = np.matmul(B[idx], gi[:, :, None])[:, :, 0]
            np.negative(ti, out=ti)
            t[idx] = ti
            gp = _rowdot(ti, gi)
            gradproj[idx] = gp
            down = gp < 0.0
            step[idx[down]] = 1.0
            searching[idx[down]] = True
            up = idx[~down]
            if not up.size:
                return
            # Uphill: stop if B was just reset, otherwise reset it and try again.
            just_reset = ilast[up] == gradcount[up]
            again = up[~just_reset]
            ilast[again] = gradcount[again]
            idx = bottom(up, just_reset)

    top(np.arange(k))
    while True:
        sidx = np.flatnonzero(searching)
        if not sidx.size:
            break
        # One step of every running line search: b = X + steplength * t.
        xs = X[sidx]
        trial = t[sidx]
        trial *= step[sidx, None]
        trial += xs
        b[sidx] = trial
        xs += _RELTEST
        unchanged = np.count_nonzero(xs == trial + _RELTEST, axis=1) == n
        moved = sidx[~unchanged]
        ended = sidx[unchanged]
        if moved.size:
            fv, gv = fg(trial[~unchanged])
            f[moved] = fv
            funcount[moved] += 1
            ok = np.isfinite(fv) & (fv <= fmin[moved] + gradproj[moved] * step[moved] * _ACCTOL)
            step[moved[~ok]] *= _STEPREDN
            if ok.any():
                ended = np.concatenate((moved[ok], ended))
                gnew = gv[ok]
            else:
                gnew = None
            count_n = np.zeros(ended.size, dtype=bool)
            count_n[ok.sum() :] = True
        else:
            gnew = None
            count_n = np.ones(ended.size, dtype=bool)
        if not ended.size:
            continue
        searching[ended] = False
        # Stop if the value is small or its relative change low (R then sets count = n).
        fe, fm = f[ended], fmin[ended]
        enough = (fe > abstol) & (np.abs(fe - fm) > reltol * (np.abs(fm) + reltol))
        count_n |= ~enough
        fmin[ended] = np.where(enough, fm, fe)
        progress = ~count_n
        if progress.any():
            # Accepted points (first in `ended`): new gradient and BFGS update of B.
            idx = ended[progress]
            gi = gnew[progress[: gnew.shape[0]]]
            fmin[idx] = f[idx]
            gradcount[idx] += 1
            iters[idx] += 1
            ti = t[idx]
            ti *= step[idx, None]
            ci = gi - c[idx]
            g[idx] = gi
            d1 = _rowdot(ti, ci)
            upd = d1 > 0.0
            if upd.any():
                u, tu, cu, du = idx[upd], ti[upd], ci[upd], d1[upd]
                Bu = B[u]
                bc = np.matmul(Bu, cu[:, :, None])[:, :, 0]  # R's X = B c
                d2 = 1.0 + _rowdot(bc, cu) / du
                xt = bc[:, :, None] * tu[:, None, :]
                xt += xt.transpose(0, 2, 1)  # X t' + t X', exactly symmetric
                tt = tu[:, :, None] * tu[:, None, :]
                tt *= d2[:, None, None]
                tt -= xt
                tt /= du[:, None, None]
                Bu += tt
                B[u] = Bu
            ilast[idx[~upd]] = gradcount[idx[~upd]]  # D1 <= 0: reset next time
        # No progress: reset B and go on, unless it was just reset.
        stall = count_n & (ilast[ended] < gradcount[ended])
        count_n &= ~stall
        ilast[ended[stall]] = gradcount[ended[stall]]
        top(bottom(ended, count_n))

    fail = (iters >= maxit).astype(np.int64)
    return pack(fmin, fail, iters, funcount, gradcount)
