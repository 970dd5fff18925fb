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


def _einsum_rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two ``(k, n)`` arrays."""
    return np.einsum("ki,ki->k", a, b)


#: Row-wise dot products: ``np.vecdot`` (NumPy >= 2.0, a ufunc several times faster than einsum here).
_rowdot: Callable[[np.ndarray, np.ndarray], np.ndarray] = getattr(np, "vecdot", _einsum_rowdot)


@dataclass
class VmminResult:
    """Result of :func:`vmmin`, one entry per problem of the batch.

    ``fail`` is R's ``ifail`` (and nnet's ``convergence``): 1 when ``maxit`` iterations were
    used, else 0. ``iterations`` counts gradient evaluations as R's ``iter`` does.
    """

    x: np.ndarray
    fmin: np.ndarray | float
    fail: np.ndarray | int
    iterations: np.ndarray | int
    fncount: np.ndarray | int
    grcount: np.ndarray | int


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
    if maxit <= 0:
        f0, _ = fg(b)
        zero = np.zeros(b.shape[0], dtype=int)
        return _pack(b, single, np.asarray(f0, dtype=np.float64).copy(), zero, zero, zero, zero)
    run = _Lockstep(fg, b, maxit, abstol, reltol)
    run.top(np.arange(b.shape[0]))
    while True:
        sidx = np.flatnonzero(run.searching)
        if not sidx.size:
            break
        ended, gnew, count_n = run.line_search_step(sidx)
        if ended.size:
            run.end_searches(ended, gnew, count_n)
    fail = (run.iters >= maxit).astype(np.int64)
    return _pack(run.b, single, run.fmin, fail, run.iters, run.funcount, run.gradcount)


def _pack(b, single, fmin, fail, it, fnc, grc) -> VmminResult:
    if single:
        return VmminResult(b[0], float(fmin[0]), int(fail[0]), int(it[0]), int(fnc[0]), int(grc[0]))
    return VmminResult(b, fmin, fail, it, fnc, grc)


class _Lockstep:
    """The state of :func:`vmmin`'s problems (one row each) and the pieces of R's loop body on them.

    ``f`` is the last value computed per problem (R's ``f``), ``g`` the gradient at the last
    accepted point, ``B`` the inverse Hessian approximations, ``X`` and ``c`` the point a line
    search starts from and its gradient, ``t`` the search directions; ``ilast`` the gradient
    count at the last reset of ``B`` (R's ``ilast``).
    """

    def __init__(self, fg, b: np.ndarray, maxit: int, abstol: float, reltol: float):
        k, n = b.shape
        self.fg, self.b, self.n, self.maxit, self.abstol, self.reltol = fg, b, n, maxit, abstol, reltol
        f_all, g_all = fg(b)
        self.f = np.array(f_all, dtype=np.float64)
        self.g = np.array(g_all, dtype=np.float64)
        if not np.isfinite(self.f).all():
            raise ModelError("initial value in 'vmmin' is not finite")
        self.fmin = self.f.copy()
        self.funcount = np.ones(k, dtype=np.int64)
        self.gradcount = np.ones(k, dtype=np.int64)
        self.iters = np.ones(k, dtype=np.int64)
        self.ilast = self.gradcount.copy()
        self.B = np.empty((k, n, n))
        self.X = np.empty((k, n))
        self.c = np.empty((k, n))
        self.t = np.empty((k, n))
        self.step = np.ones(k)
        self.gradproj = np.zeros(k)
        self.searching = np.zeros(k, dtype=bool)
        self.eye = np.eye(n)

    def bottom(self, idx: np.ndarray, count_n: np.ndarray) -> np.ndarray:
        """The end of R's do-while body for problems ``idx``: which of them loop again."""
        go = self.iters[idx] < self.maxit
        idx, count_n = idx[go], count_n[go]
        gc = self.gradcount[idx]
        restart = gc - self.ilast[idx] > 2 * self.n  # periodic restart
        self.ilast[idx[restart]] = gc[restart]
        return idx[~count_n | (self.ilast[idx] != gc)]

    def top(self, idx: np.ndarray) -> None:
        """The start of R's do-while body: a new search direction for problems ``idx``."""
        while idx.size:
            reset = idx[self.ilast[idx] == self.gradcount[idx]]
            if reset.size:
                self.B[reset] = self.eye
            self.X[idx] = self.b[idx]
            gi = self.g[idx]
            self.c[idx] = gi
            ti = np.matmul(self.B[idx], gi[:, :, None])[:, :, 0]
            np.negative(ti, out=ti)
            self.t[idx] = ti
            gp = _rowdot(ti, gi)
            self.gradproj[idx] = gp
            down = gp < 0.0
            self.step[idx[down]] = 1.0
            self.searching[idx[down]] = True
            up = idx[~down]
            if not up.size:
                return
            # Uphill: stop if B was just reset, otherwise reset it and try again.
            just_reset = self.ilast[up] == self.gradcount[up]
            again = up[~just_reset]
            self.ilast[again] = self.gradcount[again]
            idx = self.bottom(up, just_reset)

    def line_search_step(self, sidx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """One step of the running line searches ``sidx``: ``b = X + step t``, then the Armijo test.

        Returns the problems whose search ended (accepted ones first), the gradients at the
        accepted points, and which of the ended ones made no progress (R's ``count == n``).
        """
        xs = self.X[sidx]
        trial = self.t[sidx]
        trial *= self.step[sidx, None]
        trial += xs
        self.b[sidx] = trial
        xs += _RELTEST
        unchanged = np.count_nonzero(xs == trial + _RELTEST, axis=1) == self.n
        moved, ended = sidx[~unchanged], sidx[unchanged]
        if not moved.size:
            return ended, None, np.ones(ended.size, dtype=bool)
        fv, gv = self.fg(trial[~unchanged])
        self.f[moved] = fv
        self.funcount[moved] += 1
        ok = np.isfinite(fv) & (fv <= self.fmin[moved] + self.gradproj[moved] * self.step[moved] * _ACCTOL)
        self.step[moved[~ok]] *= _STEPREDN
        gnew = None
        if ok.any():
            ended = np.concatenate((moved[ok], ended))
            gnew = gv[ok]
        count_n = np.zeros(ended.size, dtype=bool)
        count_n[ok.sum() :] = True
        return ended, gnew, count_n

    def end_searches(self, ended: np.ndarray, gnew: np.ndarray | None, count_n: np.ndarray) -> None:
        """The rest of R's loop body for the problems whose line search ``ended``: tests, BFGS update, restarts."""
        self.searching[ended] = False
        # Stop if the value is small or its relative change low (R then sets count = n).
        fe, fm = self.f[ended], self.fmin[ended]
        enough = (fe > self.abstol) & (np.abs(fe - fm) > self.reltol * (np.abs(fm) + self.reltol))
        count_n |= ~enough
        self.fmin[ended] = np.where(enough, fm, fe)
        progress = ~count_n
        if progress.any() and gnew is not None:
            # Accepted points (first in `ended`): new gradient and BFGS update of B.
            self.update(ended[progress], gnew[progress[: gnew.shape[0]]])
        # No progress: reset B and go on, unless it was just reset.
        stall = count_n & (self.ilast[ended] < self.gradcount[ended])
        count_n &= ~stall
        self.ilast[ended[stall]] = self.gradcount[ended[stall]]
        self.top(self.bottom(ended, count_n))

    def update(self, idx: np.ndarray, gi: np.ndarray) -> None:
        """Accept the points of problems ``idx`` with gradients ``gi``: R's BFGS update of ``B``."""
        self.fmin[idx] = self.f[idx]
        self.gradcount[idx] += 1
        self.iters[idx] += 1
        ti = self.t[idx]
        ti *= self.step[idx, None]
        ci = gi - self.c[idx]
        self.g[idx] = gi
        d1 = _rowdot(ti, ci)
        upd = d1 > 0.0
        if upd.any():
            u, tu, cu, du = idx[upd], ti[upd], ci[upd], d1[upd]
            Bu = self.B[u]
            bc = np.matmul(Bu, cu[:, :, None])[:, :, 0]  # R's X = B c
            d2 = 1.0 + _rowdot(bc, cu) / du
            xt = bc[:, :, None] * tu[:, None, :]
            xt += xt.transpose(0, 2, 1)  # X t' + t X', exactly symmetric
            tt = tu[:, :, None] * tu[:, None, :]
            tt *= d2[:, None, None]
            tt -= xt
            tt /= du[:, None, None]
            Bu += tt
            self.B[u] = Bu
        self.ilast[idx[~upd]] = self.gradcount[idx[~upd]]  # D1 <= 0: reset next time
