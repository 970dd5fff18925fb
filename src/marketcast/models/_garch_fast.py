r"""Fast GARCH(1,1) / GJR-GARCH(1,1,1) maximum likelihood for daily refits: arch's model, warm-started.

The model, scale, backcast and constraints are ``arch``'s (see :mod:`marketcast.models.garch`):
:math:`\sigma^2_0 = \omega + (\alpha + \gamma/2 + \beta)\,b` with :math:`b` arch's backcast (an
exponentially weighted mean of the first 75 squared residuals of the starting mean), held fixed;
bounds :math:`\omega \in [10^{-8} v, 10 v]`, :math:`\alpha, \beta \in [0, 1]`,
:math:`\gamma \in [-1, 2]`, :math:`\nu \in [2.05, 500]`; :math:`\alpha + \gamma \ge 0` and
:math:`\alpha + \gamma/2 + \beta \le 1`.

:func:`fit` maximises the log-likelihood from given starting parameters (yesterday's optimum in a
rolling run) by Newton's method: the analytic gradient (``_garch_kernel.c``, or
:func:`_loglik_numpy` through ``scipy.signal.lfilter`` where the extension is not built), the
Hessian by differences of that gradient, a step halved until it stays feasible and raises the
likelihood; it stops when the Newton decrement says the likelihood is within 1e-10 relative of
the optimum. Where Newton cannot go on (an active constraint, an indefinite Hessian), scipy's
SLSQP with the same analytic gradient and arch's constraints finishes from the best point found.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import optimize, signal, special

from marketcast.models import _kernels

__all__ = ["backcast", "loglik", "fit", "FastFit", "kernel_in_use", "KERNEL"]

KERNEL = "_garch_kernel"
NU_BOUNDS = (2.05, 500.0)
# Parameter order everywhere: mu, omega, alpha, gamma, beta, nu.
NAMES = ("mu", "omega", "alpha", "gamma", "beta", "nu")


def backcast(resids: np.ndarray) -> float:
    """arch's backcast of :math:`\\sigma^2_0`: weights 0.94^i over the first min(75, n) squared residuals."""
    tau = min(75, resids.shape[0])
    w = 0.94 ** np.arange(tau)
    w = w / sum(w)
    return float(np.sum((np.abs(resids[:tau]) ** 2.0) * w))


def _kernel():
    fallback = "the likelihood runs through scipy.signal.lfilter (the same fits, slower)"
    return _kernels.kernel_or_fallback(KERNEL, "garch", fallback, __name__)


def kernel_in_use() -> str:
    """``"c"`` where the likelihood runs through ``_garch_kernel``, ``"numpy"`` otherwise."""
    return "numpy" if _kernel() is None else "c"


def _loglik_numpy(y: np.ndarray, p: np.ndarray, dist_t: bool, bc: float, grad: bool):
    """The kernel's sums in NumPy: sigma2 and its derivatives are linear filters with pole beta."""
    mu, om, al, ga, be, nu = p
    e = y - mu
    e2 = e * e
    neg = (e < 0).astype(np.float64)
    n = y.size
    x = np.empty(n)
    x[0] = om + al * bc + ga * 0.5 * bc + be * bc
    x[1:] = om + al * e2[:-1] + ga * e2[:-1] * neg[:-1]
    a = np.array([1.0, -be])
    s2 = signal.lfilter([1.0], a, x)
    if dist_t:
        q = e2 / (s2 * (nu - 2.0))
        lq = np.log1p(q)
        ll = float(np.sum(-0.5 * np.log(s2) - 0.5 * (nu + 1.0) * lq))
    else:
        ll = float(np.sum(-0.5 * (np.log(s2) + e2 / s2)))
    forecast = om + al * e2[-1] + ga * e2[-1] * neg[-1] + be * s2[-1]
    if not grad:
        return ll, None, forecast
    u = np.zeros((5, n))
    u[0, 1:] = (al + ga * neg[:-1]) * (-2.0 * e[:-1])
    u[1] = 1.0
    u[2, 0], u[2, 1:] = bc, e2[:-1]
    u[3, 0], u[3, 1:] = 0.5 * bc, e2[:-1] * neg[:-1]
    u[4, 0], u[4, 1:] = bc, s2[:-1]
    d = signal.lfilter([1.0], a, u, axis=-1)
    g = np.zeros(6)
    if dist_t:
        dl_ds2 = (-1.0 + (nu + 1.0) * q / (1.0 + q)) / (2.0 * s2)
        dl_de = -(nu + 1.0) * e / (s2 * (nu - 2.0) * (1.0 + q))
        g[5] = np.sum(-0.5 * lq + 0.5 * (nu + 1.0) * q / ((nu - 2.0) * (1.0 + q)))
    else:
        dl_ds2 = 0.5 * (e2 / s2 - 1.0) / s2
        dl_de = -e / s2
    g[:5] = d @ dl_ds2
    g[0] -= dl_de.sum()
    return ll, g, forecast


@functools.lru_cache(maxsize=256)  # a fit asks for few distinct nu; scipy's scalar calls cost microseconds
def _t_const(nu: float) -> tuple[float, float]:
    """log c(nu) of the unit-variance t density and its derivative."""
    c = special.gammaln(0.5 * (nu + 1.0)) - special.gammaln(0.5 * nu) - 0.5 * np.log(np.pi * (nu - 2.0))
    dc = 0.5 * special.digamma(0.5 * (nu + 1.0)) - 0.5 * special.digamma(0.5 * nu) - 0.5 / (nu - 2.0)
    return float(c), float(dc)


def loglik(y: np.ndarray, p: np.ndarray, dist_t: bool, bc: float, grad: bool = False, kernel=False):
    """Log-likelihood (arch's, all observations), its gradient in ``NAMES`` order (or None) and the
    one-step variance :math:`\\sigma^2_{n+1}`, at parameters ``p``."""
    kernel = _kernel() if kernel is False else kernel
    n = y.size
    if kernel is not None:
        g: np.ndarray | None = np.empty(6) if grad else None
        out = np.empty(2)
        ll = kernel.loglik(
            n, y.ctypes.data, p.ctypes.data, int(dist_t), bc, 0 if g is None else g.ctypes.data, out.ctypes.data
        )
        forecast = out[0]
    else:
        ll, g, forecast = _loglik_numpy(y, p, dist_t, bc, grad)
    if dist_t:
        c, dc = _t_const(float(p[5]))
        ll += n * c
        if g is not None:
            g[5] += n * dc
    else:
        ll -= 0.5 * n * np.log(2.0 * np.pi)
        if g is not None:
            g[5] = 0.0
    return ll, g, forecast


class _Likelihood:
    """:func:`loglik` of one series, its kernel call's buffers and addresses made once per fit.

    A fit evaluates the likelihood some 50 times; NumPy's ``ctypes`` objects for each call's
    addresses cost about as much as the C recursion itself. The same arithmetic as :func:`loglik`.
    """

    def __init__(self, y: np.ndarray, dist_t: bool, bc: float, kernel) -> None:
        self.y, self.dist_t, self.bc, self.kernel = y, dist_t, bc, kernel
        if kernel is not None:
            self._p, self._g, self._out = np.empty(6), np.empty(6), np.empty(2)
            self._addr = (y.ctypes.data, self._p.ctypes.data, self._g.ctypes.data, self._out.ctypes.data)

    def __call__(self, p: np.ndarray, grad: bool = True):
        if self.kernel is None:
            return loglik(self.y, p, self.dist_t, self.bc, grad, None)
        n = self.y.size
        y_at, p_at, g_at, out_at = self._addr
        self._p[:] = p
        ll = self.kernel.loglik(n, y_at, p_at, int(self.dist_t), self.bc, g_at if grad else 0, out_at)
        g = self._g.copy() if grad else None
        if self.dist_t:
            c, dc = _t_const(float(p[5]))
            ll += n * c
            if g is not None:
                g[5] += n * dc
        else:
            ll -= 0.5 * n * np.log(2.0 * np.pi)
            if g is not None:
                g[5] = 0.0
        return ll, g, self._out[0]


@dataclass(frozen=True)
class FastFit:
    params: np.ndarray  # NAMES order
    loglik: float
    variance: float  # one-step forecast of sigma2, percent squared
    converged: bool
    newton_steps: int
    polished: bool  # True when SLSQP finished the fit


def _bounds(y: np.ndarray, mean: bool, o: int, dist_t: bool, mu0: float):
    v = float(np.mean((y - (mu0 if mean else 0.0)) ** 2))
    lo = np.array([-np.inf if mean else 0.0, 1e-8 * v, 0.0, -1.0 if o else 0.0, 0.0, NU_BOUNDS[0] if dist_t else 0.0])
    hi = np.array([np.inf if mean else 0.0, 10.0 * v, 1.0, 2.0 if o else 0.0, 1.0, NU_BOUNDS[1] if dist_t else 0.0])
    return lo, hi


def _constraints(lo, hi, o, free):
    """Rows a and right-hand sides b of a @ p >= b over the free parameters: boxes, alpha + gamma >= 0
    (GJR) and alpha + gamma/2 + beta <= 1."""
    rows, rhs = [], []
    for i in free:
        for sign, bound in ((1.0, lo[i]), (-1.0, hi[i])):
            if np.isfinite(bound):
                a = np.zeros(6)
                a[i] = sign
                rows.append(a)
                rhs.append(sign * bound)
    if o:
        rows.append(np.array([0, 0, 1.0, 1.0, 0, 0]))
        rhs.append(0.0)
    rows.append(np.array([0, 0, -1.0, -0.5, -1.0, 0]))
    rhs.append(-1.0)
    return np.array(rows), np.array(rhs)


def _project(p, lo, hi, o):
    """A feasible start near ``p``: inside the boxes, alpha + gamma >= 0, alpha + gamma/2 + beta <= 1."""
    q = np.clip(p, lo, hi)
    if o and q[2] + q[3] < 0:
        q[3] = -q[2]
    persistence = q[2] + 0.5 * q[3] + q[4]
    if persistence > 1.0:
        q[2:5] /= persistence
    return q


def _null_space(a: np.ndarray, n: int) -> np.ndarray:
    if a.shape[0] == 0:
        return np.eye(n)
    _, sv, vt = np.linalg.svd(a)
    rank = int(np.sum(sv > 1e-12 * max(1.0, sv.max())))
    return vt[rank:].T


def fit(
    y: np.ndarray, start: np.ndarray, *, mean: bool, o: int, dist_t: bool, bc: float | None = None, max_newton: int = 30
) -> FastFit:
    """Maximise the log-likelihood of ``y`` (percent returns) from ``start`` (``NAMES`` order).

    An active-set Newton method: the constraints met with equality at the start (or hit by a
    step) stay active, Newton's step runs in their null space, and at the subspace optimum the
    multipliers say whether the point is the constrained maximum (Karush-Kuhn-Tucker) or a
    constraint must be released (then SLSQP finishes, as it does when a Hessian is indefinite).
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    mu0 = float(y.mean()) if mean else 0.0
    if bc is None:
        bc = backcast(y - mu0)
    lo, hi = _bounds(y, mean, o, dist_t, mu0)
    free = np.flatnonzero(lo < hi)
    evaluate = _Likelihood(y, dist_t, bc, _kernel())
    p = np.array(start, dtype=np.float64)
    p[lo == hi] = lo[lo == hi]
    p = _project(p, lo, hi, o)
    a_all, b_all = _constraints(lo, hi, o, free)
    a_all = a_all[:, free]
    tol = 1e-12
    steps, converged = 0, False
    ll, g, var = evaluate(p)
    if np.isfinite(ll):
        active = np.flatnonzero(a_all @ p[free] - b_all <= tol * (1.0 + np.abs(b_all)))
        for steps in range(1, max_newton + 1):  # noqa: B007 (the count is read after the loop)
            z = _null_space(a_all[active], free.size)
            gf = g[free]
            gz = z.T @ gf
            chol, shifted = _negative_hessian_factor(evaluate, p, free, z, gf, a_all, b_all)
            u = np.linalg.solve(chol.T, np.linalg.solve(chol, gz)) if z.shape[1] else np.zeros(0)
            decrement = float(gz @ u)
            if not shifted and decrement < 1e-10 * max(1.0, abs(ll)):
                # The subspace optimum: a maximum of the whole problem where no active constraint
                # pulls the wrong way (multipliers >= 0 in a_act^T lam = -g).
                if active.size:
                    lam = np.linalg.lstsq(a_all[active].T, -gf, rcond=None)[0]
                    if np.any(lam < -1e-6 * max(1.0, float(np.abs(gf).max()))):
                        break
                converged = True
                break
            d = z @ u
            t_max, hit = _ratio_test(a_all, b_all, p[free], d, active)
            t, moved = t_max, False
            for _ in range(40):
                q = p.copy()
                q[free] += t * d
                ll_q, g_q, var_q = evaluate(q)
                if np.isfinite(ll_q) and ll_q >= ll + 1e-4 * t * decrement:
                    p, ll, g, var, moved = q, ll_q, g_q, var_q, True
                    break
                t *= 0.5
                hit = None
            if not moved:
                break
            if hit is not None:
                active = np.append(active, hit)
    if converged:
        return FastFit(p, ll, float(var), True, steps, False)
    return _slsqp(y, p, lo, hi, free, o, dist_t, bc, mean, steps, evaluate)


def _negative_hessian_factor(evaluate, p, free, z, gf, a_all, b_all) -> tuple[np.ndarray, bool]:
    """Cholesky factor of minus the Hessian in the subspace ``z`` (differences of the analytic
    gradient), and whether it had to be shifted to be positive definite.

    Far from a maximum (a start from arch's grid) the Hessian can be indefinite; a shift by the
    most negative eigenvalue (Levenberg-Marquardt) still gives an ascent direction, so Newton goes
    on rather than handing the fit to SLSQP. A shifted step never declares convergence.
    """
    k = z.shape[1]
    if k == 0:
        return np.zeros((0, 0)), False
    hz = np.empty((free.size, k))
    h = 1e-6 * max(float(np.abs(p[free]).max()), 1e-2)
    x = p[free]
    forward = x[:, None] + h * z
    # a forward difference where it stays feasible, else a backward one
    feasible = (a_all @ forward - b_all[:, None] >= -1e-15).all(axis=0)
    q = p.copy()
    for j in range(k):
        sign = 1.0 if feasible[j] else -1.0
        q[free] = forward[:, j] if feasible[j] else x - h * z[:, j]
        hz[:, j] = (evaluate(q)[1][free] - gf) / (sign * h)
    hzz = z.T @ hz
    m = -0.5 * (hzz + hzz.T)
    try:
        return np.linalg.cholesky(m), False
    except np.linalg.LinAlgError:
        eig = np.linalg.eigvalsh(m)
        shift = -eig[0] + 1e-6 * max(1.0, float(np.abs(eig).max()))
        return np.linalg.cholesky(m + shift * np.eye(k)), True


def _ratio_test(a_all, b_all, x, d, active) -> tuple[float, int | None]:
    """The longest step (at most 1) along ``d`` that keeps every inactive constraint, and the one it hits."""
    slack = a_all @ x - b_all
    rate = a_all @ d
    blocking = rate < -1e-300
    blocking[active] = False
    if not blocking.any():
        return 1.0, None
    t = np.full(rate.shape, np.inf)
    t[blocking] = np.maximum(slack[blocking], 0.0) / -rate[blocking]
    k = int(np.argmin(t))  # the first of equal ratios, as a scan would find
    return (float(t[k]), k) if t[k] < 1.0 else (1.0, None)


def grid_starts(y: np.ndarray, *, mean: bool, o: int, dist_t: bool, nu: float) -> np.ndarray:
    """arch's grid of GARCH starting values (alpha, gamma in .01/.05/.1/.2, persistence .5/.7/.9/.98,
    omega = v (1 - persistence)), rows in ``NAMES`` order with ``nu`` for the t."""
    mu = float(y.mean()) if mean else 0.0
    v = float(np.mean((y - mu) ** 2))
    rows = []
    for alpha in (0.01, 0.05, 0.1, 0.2):
        for gamma in (0.01, 0.05, 0.1, 0.2) if o else (0.0,):
            for persistence in (0.5, 0.7, 0.9, 0.98):
                beta = persistence - alpha - gamma / 2.0
                if beta > 0:
                    rows.append([mu, v * (1 - persistence), alpha, gamma, beta, nu if dist_t else 0.0])
    return np.array(rows)


def fit_checked(y: np.ndarray, start: np.ndarray, *, mean: bool, o: int, dist_t: bool) -> FastFit:
    """:func:`fit` from ``start``, then a check that no other basin is plainly higher: where a point of
    arch's starting grid already beats the optimum found, Newton also climbs from the best grid
    point and the higher of the two maxima wins (a warm start can sit in yesterday's basin after
    the likelihood's shape has changed)."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    bc = backcast(y - (y.mean() if mean else 0.0))
    best = fit(y, start, mean=mean, o=o, dist_t=dist_t, bc=bc)
    evaluate = _Likelihood(y, dist_t, bc, _kernel())
    grid = grid_starts(y, mean=mean, o=o, dist_t=dist_t, nu=float(best.params[5]) if dist_t else 0.0)
    values = np.array([evaluate(g, False)[0] for g in grid])
    values[~np.isfinite(values)] = -np.inf
    if not best.converged or values.max() > best.loglik - 1e-3 * abs(best.loglik):
        for k in np.argsort(values)[::-1][:2]:
            other = fit(y, grid[k], mean=mean, o=o, dist_t=dist_t, bc=bc)
            if other.converged and other.loglik > best.loglik:
                best = other
    return best


def _slsqp(y, p, lo, hi, free, o, dist_t, bc, mean, steps, evaluate) -> FastFit:
    """SLSQP with the analytic gradient and arch's constraints, from ``p`` (or arch-like starting values)."""
    if p is None:
        v = float(np.mean((y - (y.mean() if mean else 0.0)) ** 2))
        p = np.array(
            [
                y.mean() if mean else 0.0,
                v * 0.05,
                0.05 if not o else 0.03,
                0.05 if o else 0.0,
                0.9,
                8.0 if dist_t else 0.0,
            ]
        )
    full = p.copy()
    scale = np.abs(evaluate(full, False)[0]) or 1.0

    def fun(x):
        q = full.copy()
        q[free] = x
        ll, g, _ = evaluate(q)
        if not np.isfinite(ll):
            return 1e10, np.zeros(free.size)
        return -ll / scale, -g[free] / scale

    rows = []
    pos = {i: j for j, i in enumerate(free)}
    stat = np.zeros(free.size)
    stat[pos[2]], stat[pos[4]] = -1.0, -1.0
    if o:
        stat[pos[3]] = -0.5
        pos_row = np.zeros(free.size)
        pos_row[pos[2]] = pos_row[pos[3]] = 1.0
        rows.append({"type": "ineq", "fun": lambda x, r=pos_row: r @ x, "jac": lambda x, r=pos_row: r})
    rows.append({"type": "ineq", "fun": lambda x: 1.0 + stat @ x, "jac": lambda x: stat})
    res = optimize.minimize(
        fun,
        p[free],
        jac=True,
        method="SLSQP",
        bounds=list(zip(lo[free], hi[free])),
        constraints=rows,
        options={"ftol": 1e-14, "maxiter": 300},
    )
    q = full.copy()
    q[free] = np.clip(res.x, lo[free], hi[free])
    ll, _, var = evaluate(q, False)
    return FastFit(q, ll, float(var), bool(res.success), steps, True)
