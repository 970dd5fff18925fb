r"""Fast GARCH(1,1) / GJR-GARCH(1,1,1) maximum likelihood for daily refits: arch's model, warm-started.

The model, scale, backcast and constraints are ``arch``'s (see :mod:`marketcast.models.garch`):
:math:`\sigma^2_0 = \omega + (\alpha + \gamma/2 + \beta)\,b` with :math:`b` arch's backcast (an
exponentially weighted mean of the first 75 squared residuals of the starting mean), held fixed;
bounds :math:`\omega \in [10^{-8} v, 10 v]`, :math:`\alpha, \beta \in [0, 1]`,
:math:`\gamma \in [-1, 2]`, :math:`\nu \in [2.05, 500]`; :math:`\alpha + \gamma \ge 0` and
:math:`\alpha + \gamma/2 + \beta \le 1`.

:func:`fit` maximises the log-likelihood from given starting parameters (yesterday's optimum in a
rolling run) by an active-set Newton method on the analytic gradient and Hessian (sigma2 and its
first and second derivatives are recursions with pole beta), a step halved until it stays
feasible and raises the likelihood; it stops when the Newton decrement says the likelihood is
within 1e-10 relative of the optimum and no active constraint's multiplier asks for its release.
A fit is one call of ``_garch_kernel.newton`` (C); where the extension is not built or is switched
off (``MARKETCAST_KERNELS=off``), :func:`_newton` runs the same iteration on
:func:`_loglik_numpy` (``scipy.signal.lfilter``). Where Newton cannot go on (no higher point along
its step, 30 steps), scipy's SLSQP with the analytic gradient and arch's constraints finishes from
the best point found.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import optimize, signal, special

from marketcast.models import _kernels

__all__ = ["backcast", "loglik", "fit", "FastFit", "kernel_in_use", "KERNEL"]

KERNEL = "_garch_kernel"
NU_BOUNDS = (2.05, 500.0)
# Parameter order everywhere: mu, omega, alpha, gamma, beta, nu.
NAMES = ("mu", "omega", "alpha", "gamma", "beta", "nu")


@functools.cache
def _backcast_weights(tau: int) -> np.ndarray:
    w = 0.94 ** np.arange(tau)
    return w / sum(w)


def backcast(resids: np.ndarray) -> float:
    """arch's backcast of :math:`\\sigma^2_0`: weights 0.94^i over the first min(75, n) squared residuals."""
    tau = min(75, resids.shape[0])
    return float(np.sum((np.abs(resids[:tau]) ** 2.0) * _backcast_weights(tau)))


def _kernel():
    fallback = "the likelihood runs through scipy.signal.lfilter (the same fits, slower)"
    return _kernels.kernel_or_fallback(KERNEL, "garch", fallback, __name__)


def kernel_in_use() -> str:
    """``"c"`` where the likelihood runs through ``_garch_kernel``, ``"numpy"`` otherwise."""
    return "numpy" if _kernel() is None else "c"


def _pointwise(e: np.ndarray, s2: np.ndarray, nu: float, dist_t: bool, order: int) -> list:
    """Each observation's log-density l(sigma2, e, nu) (less the t's constant) and, by ``order``, its
    derivatives: [l, l_s, l_e, l_n, l_ss, l_se, l_ee, l_ns, l_ne, l_nn] (s for sigma2, n for nu)."""
    e2 = e * e
    if not dist_t:
        zero = np.zeros_like(e)
        out = [-0.5 * (np.log(s2) + e2 / s2)]
        if order:
            out += [0.5 * (e2 / s2 - 1.0) / s2, -e / s2, zero]
        if order > 1:
            out += [(0.5 - e2 / s2) / s2**2, e / s2**2, -1.0 / s2, zero, zero, zero]
        return out
    k, w = nu - 2.0, 0.5 * (nu + 1.0)
    q = e2 / (s2 * k)
    opq = 1.0 + q
    lq = np.log1p(q)
    out = [-0.5 * np.log(s2) - w * lq]
    if order:
        out += [(-0.5 + w * q / opq) / s2, -2.0 * w * e / (s2 * k * opq), -0.5 * lq + w * q / (k * opq)]
    if order > 1:
        out += [
            (0.5 - w * q / opq - w * q / opq**2) / s2**2,
            2.0 * w * e / (s2**2 * k * opq**2),
            -2.0 * w * (1.0 - q) / (s2 * k * opq**2),
            0.5 * q / (s2 * opq) - w * q / (s2 * k * opq**2),
            2.0 * e / (s2 * k) * (-0.5 / opq + w / (k * opq**2)),
            q / (k * opq) - w * q / (k**2 * opq) - w * q / (k**2 * opq**2),
        ]
    return out


# The second derivatives of sigma2 that are not identically zero (mu, omega, alpha, gamma, beta).
_PAIRS = ((0, 0), (0, 2), (0, 3), (0, 4), (1, 4), (2, 4), (3, 4), (4, 4))


def _loglik_numpy(y: np.ndarray, p: np.ndarray, dist_t: bool, bc: float, order: int):
    """The kernel's sums in NumPy (less the t's constant): sigma2 and its first and second
    derivatives are linear filters with pole beta. Returns ll, gradient, Hessian (or None), forecast."""
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
    forecast = om + al * e2[-1] + ga * e2[-1] * neg[-1] + be * s2[-1]
    terms = _pointwise(e, s2, nu, dist_t, order)
    ll = float(np.sum(terms[0]))
    if not order:
        return ll, None, None, forecast
    u = np.zeros((5, n))
    u[0, 1:] = (al + ga * neg[:-1]) * (-2.0 * e[:-1])
    u[1] = 1.0
    u[2, 0], u[2, 1:] = bc, e2[:-1]
    u[3, 0], u[3, 1:] = 0.5 * bc, e2[:-1] * neg[:-1]
    u[4, 0], u[4, 1:] = bc, s2[:-1]
    d = signal.lfilter([1.0], a, u, axis=-1)  # d sigma2_t / d(mu, omega, alpha, gamma, beta)
    l_s, l_e, l_n = terms[1:4]
    g = np.zeros(6)
    g[:5] = d @ l_s
    g[0] -= l_e.sum()
    g[5] = l_n.sum()
    if order == 1:
        return ll, g, None, forecast
    l_ss, l_se, l_ee, l_ns, l_ne, l_nn = terms[4:]
    v = np.zeros((len(_PAIRS), n))
    v[0, 1:] = 2.0 * (al + ga * neg[:-1])
    v[1, 1:] = -2.0 * e[:-1]
    v[2, 1:] = -2.0 * e[:-1] * neg[:-1]
    v[3:7, 1:] = d[:4, :-1]
    v[7, 1:] = 2.0 * d[4, :-1]
    sd = signal.lfilter([1.0], a, v, axis=-1) @ l_s
    h = np.zeros((6, 6))
    h[:5, :5] = (d * l_ss) @ d.T
    for (i, j), value in zip(_PAIRS, sd, strict=True):
        h[i, j] += value
        if i != j:
            h[j, i] += value
    cross = d @ l_se  # e_t depends on mu alone (de/dmu = -1)
    h[0, :5] -= cross
    h[:5, 0] -= cross
    h[0, 0] += l_ee.sum()
    h[5, :5] = h[:5, 5] = d @ l_ns
    h[5, 0] = h[0, 5] = h[5, 0] - l_ne.sum()
    h[5, 5] = l_nn.sum()
    return ll, g, h, forecast


def _t_const(nu: float) -> tuple[float, float, float]:
    """log c(nu) of the unit-variance t density and its first two derivatives."""
    c = special.gammaln(0.5 * (nu + 1.0)) - special.gammaln(0.5 * nu) - 0.5 * np.log(np.pi * (nu - 2.0))
    dc = 0.5 * special.digamma(0.5 * (nu + 1.0)) - 0.5 * special.digamma(0.5 * nu) - 0.5 / (nu - 2.0)
    d2c = 0.25 * special.polygamma(1, 0.5 * (nu + 1.0)) - 0.25 * special.polygamma(1, 0.5 * nu) + 0.5 / (nu - 2.0) ** 2
    return float(c), float(dc), float(d2c)


class Derivatives(NamedTuple):
    loglik: float
    grad: np.ndarray | None  # NAMES order
    hess: np.ndarray | None  # 6 x 6, NAMES order
    variance: float  # the one-step forecast of sigma2


def derivatives(y: np.ndarray, p: np.ndarray, dist_t: bool, bc: float, order: int = 0, kernel=False) -> Derivatives:
    """Log-likelihood (arch's, all observations) at parameters ``p``, with its gradient (``order``
    >= 1) and Hessian (``order`` 2), and the one-step variance :math:`\\sigma^2_{n+1}`."""
    kernel = _kernel() if kernel is False else kernel
    n = y.size
    if kernel is not None:
        g, h, out = np.empty(6), np.empty((6, 6)), np.empty(1)
        ll = kernel.loglik(y, p, dist_t, bc, order, g, h, out)
        return Derivatives(ll, g if order else None, h if order > 1 else None, float(out[0]))
    ll, g, h, forecast = _loglik_numpy(y, p, dist_t, bc, order)
    if dist_t:
        c, dc, d2c = _t_const(p[5])
        ll += n * c
        if g is not None:
            g[5] += n * dc
        if h is not None:
            h[5, 5] += n * d2c
    else:
        ll -= 0.5 * n * np.log(2.0 * np.pi)
    return Derivatives(ll, g, h, float(forecast))


def loglik(y: np.ndarray, p: np.ndarray, dist_t: bool, bc: float, grad: bool = False, kernel=False):
    """Log-likelihood (arch's, all observations), its gradient in ``NAMES`` order (or None) and the
    one-step variance :math:`\\sigma^2_{n+1}`, at parameters ``p``."""
    ll, g, _, forecast = derivatives(y, p, dist_t, bc, int(grad), kernel)
    return ll, g, forecast


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


def _null_space(rows: np.ndarray, active: list[int], m: int) -> tuple[np.ndarray, list[int]]:
    """An orthonormal basis (columns) of the directions that keep the ``active`` rows at equality, by
    Gram-Schmidt (twice, for orthogonality), and the active rows that are independent (the others
    are dropped: their constraints then hold through the ones kept)."""
    basis: list[np.ndarray] = []
    kept = []
    for k in active:
        v = rows[k].copy()
        for _ in range(2):
            for b in basis:
                v -= (v @ b) * b
        norm = float(np.sqrt(v @ v))
        if norm > 1e-9 * float(np.sqrt(rows[k] @ rows[k])):
            basis.append(v / norm)
            kept.append(k)
    z: list[np.ndarray] = []
    for i in range(m):
        if len(basis) + len(z) == m:
            break
        v = np.zeros(m)
        v[i] = 1.0
        for _ in range(2):
            for b in basis + z:
                v -= (v @ b) * b
        norm = float(np.sqrt(v @ v))
        if norm > 1e-6:
            z.append(v / norm)
    return (np.array(z).T if z else np.zeros((m, 0))), kept


def _direction(hzz: np.ndarray, gz: np.ndarray) -> tuple[np.ndarray, float, bool] | None:
    """Newton's step u solving (-H + tau D) u = g in the subspace, its decrement g @ u and whether
    tau = 0; where -H is not positive definite, tau is the first of 1e-3, 1e-2, ... that makes it
    so, with Marquardt's scaling D = diag(|H|) (the parameters' scales differ by 100 times)."""
    r = gz.size
    if r == 0:
        return np.zeros(0), 0.0, True
    m = -0.5 * (hzz + hzz.T)
    scale = np.maximum(np.abs(np.diag(m)), 1e-12 * max(1.0, float(np.abs(m).max())))
    for k in range(-1, 20):
        tau = 0.0 if k < 0 else 1e-3 * 10.0**k
        try:
            chol = np.linalg.cholesky(m + tau * np.diag(scale))
        except np.linalg.LinAlgError:
            continue
        u = np.linalg.solve(chol.T, np.linalg.solve(chol, gz))
        return u, float(gz @ u), tau == 0.0
    return None


def _ratio_test(rows, rhs, x, d, active) -> tuple[float, int | None]:
    """The longest step (at most 1) along ``d`` that keeps every inactive constraint, and the one it meets."""
    slack = rows @ x - rhs
    rate = rows @ d
    t_max, hit = 1.0, None
    for k in np.flatnonzero(rate < -1e-300):
        if k not in active:
            t_k = max(slack[k], 0.0) / -rate[k]
            if t_k < t_max:
                t_max, hit = t_k, int(k)
    return t_max, hit


def _newton(evaluate, p, rows, rhs, free, max_newton):
    """The active-set Newton iteration (``_garch_kernel.c``'s ``newton_`` is its transliteration).

    Returns the last point, its :class:`Derivatives`, the steps taken and whether it is the
    constrained maximum (Karush-Kuhn-Tucker: the subspace optimum, multipliers >= 0)."""
    cur = evaluate(p)
    steps, converged = 0, False
    if not np.isfinite(cur.loglik):
        return p, cur, steps, converged
    active = [int(k) for k in np.flatnonzero(rows @ p[free] - rhs <= 1e-12 * (1.0 + np.abs(rhs)))]
    for steps in range(1, max_newton + 1):  # noqa: B007 (the count is read after the loop)
        z, active = _null_space(rows, active, free.size)
        gf = cur.grad[free]
        step = _direction(z.T @ cur.hess[np.ix_(free, free)] @ z, z.T @ gf)
        if step is None:
            break
        u, decrement, exact = step
        if exact and decrement < 1e-10 * max(1.0, abs(cur.loglik)):
            if active:  # multipliers of a_act^T lam = -g: one < 0 releases its constraint
                a = rows[active]
                lam = np.linalg.solve(a @ a.T, -a @ gf)
                if lam.min() < -1e-6 * max(1.0, float(np.abs(gf).max())):
                    del active[int(np.argmin(lam))]
                    continue
            converged = True
            break
        d = z @ u
        t, hit = _ratio_test(rows, rhs, p[free], d, active)
        for _ in range(40):  # backtracking, Armijo's condition
            q = p.copy()
            q[free] += t * d
            trial = evaluate(q)
            if np.isfinite(trial.loglik) and trial.loglik >= cur.loglik + 1e-4 * t * decrement:
                p, cur = q, trial
                break
            t *= 0.5
            hit = None
        else:
            break
        if hit is not None:
            active.append(hit)
    return p, cur, steps, converged


def fit(
    y: np.ndarray,
    start: np.ndarray,
    *,
    mean: bool,
    o: int,
    dist_t: bool,
    bc: float | None = None,
    max_newton: int = 30,
    kernel=False,
) -> FastFit:
    """Maximise the log-likelihood of ``y`` (percent returns) from ``start`` (``NAMES`` order).

    An active-set Newton method on the analytic gradient and Hessian (Nocedal and Wright,
    *Numerical Optimization*, section 16.5): the constraints met with equality at the start (or
    hit by a step) stay active, Newton's step runs in their null space (the Hessian made
    negative definite by Marquardt's scaled diagonal where it is not), and at the subspace
    optimum the multipliers say whether the point is the constrained maximum or which constraint
    to release. In C (``_garch_kernel.newton``) where the kernel is built, else :func:`_newton`
    on :func:`_loglik_numpy` (``kernel=None`` asks for it). Where Newton cannot go on (a line
    search that finds no higher point, ``max_newton`` steps), SLSQP finishes from the best point found.
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    bc_, lo, hi = _setup(y, mean, o, dist_t)
    kernel = _kernel() if kernel is False else kernel
    return _fit(y, start, bc_ if bc is None else bc, lo, hi, o, dist_t, mean, max_newton, kernel)


def _setup(y: np.ndarray, mean: bool, o: int, dist_t: bool) -> tuple[float, np.ndarray, np.ndarray]:
    """The window's backcast and bounds (a day's fits share them)."""
    mu0 = float(y.mean()) if mean else 0.0
    return backcast(y - mu0), *_bounds(y, mean, o, dist_t, mu0)


def _fit(y, start, bc, lo, hi, o, dist_t, mean, max_newton, kernel) -> FastFit:
    free = np.flatnonzero(lo < hi)
    p = np.array(start, dtype=np.float64)
    p[lo == hi] = lo[lo == hi]
    p = _project(p, lo, hi, o)
    if kernel is not None:
        info = np.empty(4)
        kernel.newton(y, p, dist_t, bc, o, lo, hi, max_newton, info)
        ll, var, steps, converged = float(info[0]), float(info[1]), int(info[2]), bool(info[3])
    else:
        rows, rhs = _constraints(lo, hi, o, free)
        p, cur, steps, converged = _newton(
            lambda q: derivatives(y, q, dist_t, bc, 2, None), p, rows[:, free], rhs, free, max_newton
        )
        ll, var = cur.loglik, cur.variance
    if converged:
        return FastFit(p, ll, var, True, steps, False)

    def evaluate(p, grad=True):
        return loglik(y, p, dist_t, bc, grad, kernel)

    return _slsqp(p, lo, hi, free, o, steps, evaluate)


@functools.cache
def _grid(o: int) -> np.ndarray:
    """arch's (alpha, gamma, beta, persistence) starting grid, rows with beta > 0."""
    rows = []
    for alpha in (0.01, 0.05, 0.1, 0.2):
        for gamma in (0.01, 0.05, 0.1, 0.2) if o else (0.0,):
            for persistence in (0.5, 0.7, 0.9, 0.98):
                beta = persistence - alpha - gamma / 2.0
                if beta > 0:
                    rows.append([alpha, gamma, beta, persistence])
    return np.array(rows)


def grid_starts(y: np.ndarray, *, mean: bool, o: int, dist_t: bool, nu: float) -> np.ndarray:
    """arch's grid of GARCH starting values (alpha, gamma in .01/.05/.1/.2, persistence .5/.7/.9/.98,
    omega = v (1 - persistence)), rows in ``NAMES`` order with ``nu`` for the t."""
    mu = float(y.mean()) if mean else 0.0
    v = float(np.mean((y - mu) ** 2))
    grid = _grid(o)
    rows = np.empty((len(grid), 6))
    rows[:, 0] = mu
    rows[:, 1] = v * (1 - grid[:, 3])
    rows[:, 2:5] = grid[:, :3]
    rows[:, 5] = nu if dist_t else 0.0
    return rows


def fit_checked(y: np.ndarray, start: np.ndarray, *, mean: bool, o: int, dist_t: bool, kernel=False) -> FastFit:
    """:func:`fit` from ``start``, then a check that no other basin is plainly higher: where a point of
    arch's starting grid already beats the optimum found, Newton also climbs from the best grid
    point and the higher of the two maxima wins (a warm start can sit in yesterday's basin after
    the likelihood's shape has changed)."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    bc, lo, hi = _setup(y, mean, o, dist_t)
    kernel = _kernel() if kernel is False else kernel
    best = _fit(y, start, bc, lo, hi, o, dist_t, mean, 30, kernel)
    grid = grid_starts(y, mean=mean, o=o, dist_t=dist_t, nu=float(best.params[5]) if dist_t else 0.0)
    if kernel is not None:
        values = np.empty(len(grid))
        kernel.logliks(y, grid, dist_t, bc, values)
    else:
        values = np.array([loglik(y, g, dist_t, bc, False, kernel)[0] for g in grid])
    values[~np.isfinite(values)] = -np.inf
    if not best.converged or values.max() > best.loglik - 1e-3 * abs(best.loglik):
        for k in np.argsort(values)[::-1][:2]:
            other = _fit(y, grid[k], bc, lo, hi, o, dist_t, mean, 30, kernel)
            if other.converged and other.loglik > best.loglik:
                best = other
    return best


def _slsqp(p, lo, hi, free, o, steps, evaluate) -> FastFit:
    """SLSQP with the analytic gradient and arch's constraints, from ``p``."""
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
