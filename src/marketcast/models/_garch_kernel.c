/* GARCH(1,1) / GJR-GARCH(1,1,1) maximum likelihood for daily refits: the log-likelihood, its analytic
 * gradient and Hessian and the one-step variance, for Student-t (unit variance) or normal innovations,
 * in one pass over a window (arch's model: sigma2_0 from the backcast, e_t = y_t - mu); and the
 * active-set Newton iteration that maximises it, so that a fit is one call.
 *
 * Why this exists: a daily refit is a few Newton steps over 504 returns; in C a step is tens of
 * microseconds where arch's Python optimiser spends ~18 ms a fit, and where the same loop in Python
 * around a C likelihood spent most of its time in the interpreter. _garch_fast._loglik_numpy and
 * _garch_fast._newton are the reference and the fallback (tests/test_models_garch_fast.py compares).
 *
 * The arrays are float64 buffers (C-contiguous numpy arrays), n = len(y).
 *
 * loglik(y, p, dist_t, backcast, order, grad, hess, out): p = (mu, omega, alpha, gamma, beta, nu);
 * returns arch's log-likelihood (with the t's constant n c(nu)); order >= 1 writes its
 * gradient to grad (6), order 2 its Hessian to hess (6 x 6, row-major); out (1) receives
 * sigma2_{n+1} (the one-step forecast).
 *
 * logliks(y, params, dist_t, backcast, out): the log-likelihood at each row of params (k x 6), into out.
 *
 * newton(y, p, dist_t, backcast, o, lo, hi, max_newton, info): _garch_fast._newton from p (in
 * place, feasible) within the bounds lo, hi (6 each; lo == hi fixes a parameter) and arch's
 * alpha + gamma >= 0 (o = 1) and alpha + gamma/2 + beta <= 1; info (4) receives the log-likelihood,
 * the one-step variance, the steps taken and 1 where the point is the constrained maximum.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define NP 6
#define MAXC (2 * NP + 2)

typedef struct {
    Py_ssize_t n;
    const double *y;
    int dist_t;
    double bc;
} Data;

typedef struct {
    double ll, var, g[NP], h[NP * NP];
} Point;

/* digamma and trigamma for x > 0: the recurrence up to x >= 10, then the asymptotic series (~1e-15). */
static double digamma_(double x) {
    double r = 0.0;
    while (x < 10.0) r -= 1.0 / x, x += 1.0;
    const double x2 = 1.0 / (x * x);
    return r + log(x) - 0.5 / x -
           x2 * (1.0 / 12 - x2 * (1.0 / 120 - x2 * (1.0 / 252 - x2 * (1.0 / 240 - x2 * (1.0 / 132 - x2 * 691.0 / 32760)))));
}

static double trigamma_(double x) {
    double r = 0.0;
    while (x < 10.0) r += 1.0 / (x * x), x += 1.0;
    const double x2 = 1.0 / (x * x);
    return r + 1.0 / x + 0.5 * x2 +
           x2 / x * (1.0 / 6 - x2 * (1.0 / 30 - x2 * (1.0 / 42 - x2 * (1.0 / 30 - x2 * (5.0 / 66 - x2 * 691.0 / 2730)))));
}

/* One observation's log-density l(sigma2, e, nu) (less the t's constant) through its pieces: the
 * factors whose logs it sums (sigma2, 1 + q) and, by order, its derivatives (s: sigma2, n: nu). */
typedef struct {
    double opq, qo, e2r, l_s, l_e, l_ss, l_se, l_ee, l_ns, l_ne, l_nn;
} Obs;

static inline void pointwise_(double e, double s2, double w, double ik, int dist_t, int order, Obs *o) {
    const double e2 = e * e, r = 1.0 / s2;
    *o = (Obs){1.0, 0.0, e2 * r, 0, 0, 0, 0, 0, 0, 0, 0};
    if (dist_t) {
        const double q = e2 * r * ik, opq = 1.0 + q, ro = 1.0 / opq, qo = q * ro;
        o->opq = opq, o->qo = qo;
        if (order) o->l_s = (-0.5 + w * qo) * r, o->l_e = -2.0 * w * e * r * ik * ro;
        if (order > 1) {
            const double ro2 = ro * ro, r2 = r * r;
            o->l_ss = (0.5 - w * qo - w * q * ro2) * r2;
            o->l_se = 2.0 * w * e * r2 * ik * ro2;
            o->l_ee = -2.0 * w * (1.0 - q) * r * ik * ro2;
            o->l_ns = 0.5 * qo * r - w * q * r * ik * ro2;
            o->l_ne = 2.0 * e * r * ik * (-0.5 * ro + w * ik * ro2);
            o->l_nn = ik * qo - w * ik * ik * qo - w * ik * ik * q * ro2;
        }
    } else {
        if (order) o->l_s = 0.5 * (e2 * r - 1.0) * r, o->l_e = -e * r;
        if (order > 1) o->l_ss = (0.5 - e2 * r) * r * r, o->l_se = e * r * r, o->l_ee = -r;
    }
}

/* A window's sums: the logs, the gradient's and the Hessian's (hs: l_s times the second
 * derivatives of sigma2; cross, nus: l_se and l_ns times its first). */
typedef struct {
    double slog_s, slog_q, sqo, se2s, se, see, sne, snn, g[5], h[5][5], hs[8], cross[5], nus[5];
} Sums;

/* The log-likelihood and derivatives at p from the window's sums, with the t's constant n c(nu). */
static void finish_(const Sums *s, Py_ssize_t n, int dist_t, double nu, int order, Point *pt) {
    const double k = nu - 2.0, w = 0.5 * (nu + 1.0);
    double c = -0.5 * log(2.0 * Py_MATH_PI), dc = 0.0, d2c = 0.0, h[NP][NP] = {{0}};
    if (dist_t) {
        c = lgamma(w) - lgamma(0.5 * nu) - 0.5 * log(Py_MATH_PI * k);
        dc = 0.5 * digamma_(w) - 0.5 * digamma_(0.5 * nu) - 0.5 / k;
        d2c = 0.25 * trigamma_(w) - 0.25 * trigamma_(0.5 * nu) + 0.5 / (k * k);
    }
    pt->ll = (dist_t ? -0.5 * s->slog_s - w * s->slog_q : -0.5 * (s->slog_s + s->se2s)) + (double)n * c;
    if (order) {
        for (int j = 0; j < 5; j++) pt->g[j] = s->g[j];
        pt->g[0] -= s->se;
        pt->g[5] = dist_t ? -0.5 * s->slog_q + w * (1.0 / k) * s->sqo + (double)n * dc : 0.0;
    }
    if (order > 1) {
        static const int pairs[8][2] = {{0, 0}, {0, 2}, {0, 3}, {0, 4}, {1, 4}, {2, 4}, {3, 4}, {4, 4}};
        for (int i = 0; i < 5; i++)
            for (int j = i; j < 5; j++) h[i][j] = s->h[i][j];
        for (int j = 0; j < 8; j++) h[pairs[j][0]][pairs[j][1]] += s->hs[j];
        for (int j = 0; j < 5; j++) h[0][j] -= s->cross[j];
        h[0][0] += s->see - s->cross[0];
        for (int j = 0; j < 5; j++) h[j][5] = dist_t ? s->nus[j] : 0.0;
        h[0][5] -= dist_t ? s->sne : 0.0;
        h[5][5] = dist_t ? s->snn + (double)n * d2c : 0.0;
        for (int i = 0; i < NP; i++)
            for (int j = i; j < NP; j++) pt->h[i * NP + j] = pt->h[j * NP + i] = h[i][j];
    }
}

/* The log-likelihood at p, with the derivatives up to order; returns whether it is finite. The
 * recursions: D_t = d sigma2_t / d(mu, omega, alpha, gamma, beta) and the eight second derivatives
 * S_t that are not identically zero (mumu, mualpha, mugamma, mubeta, omegabeta, alphabeta,
 * gammabeta, betabeta), each a linear filter with pole beta (see _loglik_numpy). */
static int evaluate_(const Data *dat, const double *p, int order, Point *pt) {
    const double mu = p[0], om = p[1], al = p[2], ga = p[3], be = p[4], nu = p[5], bc = dat->bc;
    const double *y = dat->y, ik = 1.0 / (nu - 2.0), w = 0.5 * (nu + 1.0);
    double s2 = om + al * bc + ga * 0.5 * bc + be * bc, prev_s2 = s2, ps = 1.0, pq = 1.0;
    double d[5] = {0.0, 1.0, bc, 0.5 * bc, bc}, sd[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    Sums sums;
    memset(&sums, 0, sizeof sums);
    int chunk = 0;
    for (Py_ssize_t t = 0; t < dat->n; t++) {
        if (t > 0) {
            const double ep = y[t - 1] - mu, e2 = ep * ep, neg = ep < 0 ? 1.0 : 0.0;
            const double s2_new = om + al * e2 + ga * e2 * neg + be * s2;
            if (order > 1) { /* S_t from D_{t-1}, before D moves on */
                sd[0] = 2.0 * (al + ga * neg) + be * sd[0];
                sd[1] = -2.0 * ep + be * sd[1];
                sd[2] = -2.0 * ep * neg + be * sd[2];
                sd[3] = d[0] + be * sd[3];
                sd[4] = d[1] + be * sd[4];
                sd[5] = d[2] + be * sd[5];
                sd[6] = d[3] + be * sd[6];
                sd[7] = 2.0 * d[4] + be * sd[7];
            }
            if (order) {
                d[0] = (al + ga * neg) * (-2.0 * ep) + be * d[0];
                d[1] = 1.0 + be * d[1];
                d[2] = e2 + be * d[2];
                d[3] = e2 * neg + be * d[3];
                d[4] = s2 + be * d[4];
            }
            s2 = s2_new;
        }
        Obs o;
        pointwise_(y[t] - mu, s2, w, ik, dat->dist_t, order, &o);
        ps *= s2, pq *= o.opq, sums.sqo += o.qo, sums.se2s += o.e2r;
        /* The logs of sigma2_t and 1 + q_t summed as logs of products of up to 8 (a log is most of
         * an evaluation's time); flushed early far from 1, so that no product under- or overflows. */
        if (++chunk == 8 || ps > 1e100 || ps < 1e-100 || pq > 1e100) {
            sums.slog_s += log(ps), sums.slog_q += log(pq);
            ps = pq = 1.0, chunk = 0;
        }
        if (order) {
            for (int j = 0; j < 5; j++) sums.g[j] += o.l_s * d[j];
            sums.se += o.l_e;
        }
        if (order > 1) {
            for (int i = 0; i < 5; i++) {
                const double a = o.l_ss * d[i];
                for (int j = i; j < 5; j++) sums.h[i][j] += a * d[j];
                sums.cross[i] += o.l_se * d[i];
                sums.nus[i] += o.l_ns * d[i];
            }
            for (int j = 0; j < 8; j++) sums.hs[j] += o.l_s * sd[j];
            sums.see += o.l_ee, sums.sne += o.l_ne, sums.snn += o.l_nn;
        }
        prev_s2 = s2;
    }
    sums.slog_s += log(ps), sums.slog_q += log(pq);
    const double ep = y[dat->n - 1] - mu, e2 = ep * ep, neg = ep < 0 ? 1.0 : 0.0;
    pt->var = om + al * e2 + ga * e2 * neg + be * prev_s2;
    finish_(&sums, dat->n, dat->dist_t, nu, order, pt);
    return isfinite(pt->ll);
}

static double dot_(const double *a, const double *b, int m) {
    double s = 0.0;
    for (int i = 0; i < m; i++) s += a[i] * b[i];
    return s;
}

/* v -= (v . b) b over the orthonormal rows b, twice (_garch_fast._null_space); returns |v|. */
static double orthogonalise_(double *v, double (*basis)[NP], int nb, int m) {
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < nb; b++) {
            const double c = dot_(v, basis[b], m);
            for (int i = 0; i < m; i++) v[i] -= c * basis[b][i];
        }
    return sqrt(dot_(v, v, m));
}

/* The null space of the active rows (z: r orthonormal columns, stored as rows), dropping the
 * dependent active rows in place; returns r. */
static int null_space_(double (*rows)[NP], int *active, int *na, int m, double (*z)[NP]) {
    double basis[2 * NP][NP];
    int nb = 0, kept = 0, r = 0;
    for (int a = 0; a < *na; a++) {
        double v[NP];
        memcpy(v, rows[active[a]], sizeof v);
        const double norm = orthogonalise_(v, basis, nb, m);
        if (norm > 1e-9 * sqrt(dot_(rows[active[a]], rows[active[a]], m))) {
            for (int i = 0; i < m; i++) basis[nb][i] = v[i] / norm;
            nb++;
            active[kept++] = active[a];
        }
    }
    *na = kept;
    for (int i = 0; i < m && nb < m; i++) {
        double v[NP] = {0};
        v[i] = 1.0;
        const double norm = orthogonalise_(v, basis, nb, m);
        if (norm > 1e-6) {
            for (int j = 0; j < m; j++) basis[nb][j] = z[r][j] = v[j] / norm;
            nb++, r++;
        }
    }
    return r;
}

/* Cholesky of the r x r matrix a (row-major, lower factor in l); 0 where a is not positive definite. */
static int cholesky_(const double *a, int r, double *l) {
    for (int i = 0; i < r; i++)
        for (int j = 0; j <= i; j++) {
            double s = a[i * r + j];
            for (int k = 0; k < j; k++) s -= l[i * r + k] * l[j * r + k];
            if (i == j) {
                if (!(s > 0.0)) return 0;
                l[i * r + i] = sqrt(s);
            } else {
                l[i * r + j] = s / l[j * r + j];
            }
        }
    return 1;
}

/* x = (l l^T)^-1 b */
static void cho_solve_(const double *l, int r, const double *b, double *x) {
    for (int i = 0; i < r; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++) s -= l[i * r + k] * x[k];
        x[i] = s / l[i * r + i];
    }
    for (int i = r - 1; i >= 0; i--) {
        double s = x[i];
        for (int k = i + 1; k < r; k++) s -= l[k * r + i] * x[k];
        x[i] = s / l[i * r + i];
    }
}

/* _garch_fast._direction: u from (-hzz + tau diag|hzz|) u = gz; returns 0 where no tau serves,
 * else 1 (tau = 0) or 2 (tau > 0). */
static int direction_(const double *hzz, const double *gz, int r, double *u, double *decrement) {
    double ms[NP * NP], m[NP * NP], l[NP * NP], scale[NP], big = 1.0;
    *decrement = 0.0;
    if (r == 0) return 1;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) ms[i * r + j] = -0.5 * (hzz[i * r + j] + hzz[j * r + i]), big = fmax(big, fabs(ms[i * r + j]));
    for (int i = 0; i < r; i++) scale[i] = fmax(fabs(ms[i * r + i]), 1e-12 * big);
    for (int k = -1; k < 20; k++) {
        const double tau = k < 0 ? 0.0 : 1e-3 * pow(10.0, k);
        memcpy(m, ms, sizeof m);
        for (int i = 0; i < r; i++) m[i * r + i] += tau * scale[i];
        if (cholesky_(m, r, l)) {
            cho_solve_(l, r, gz, u);
            *decrement = dot_(gz, u, r);
            return tau == 0.0 ? 1 : 2;
        }
    }
    return 0;
}

/* The multipliers of the active rows, a_act^T lam = -g (normal equations); the index in active of
 * the most negative one where it is below -tol, else -1. */
static int release_(double (*rows)[NP], const int *active, int na, const double *gf, int m, double tol) {
    double aat[MAXC * MAXC], l[MAXC * MAXC], rhs[MAXC], lam[MAXC];
    if (na == 0 || na > NP) return -1;
    for (int i = 0; i < na; i++) {
        rhs[i] = -dot_(rows[active[i]], gf, m);
        for (int j = 0; j < na; j++) aat[i * na + j] = dot_(rows[active[i]], rows[active[j]], m);
    }
    if (!cholesky_(aat, na, l)) return -1;
    cho_solve_(l, na, rhs, lam);
    int worst = 0;
    for (int i = 1; i < na; i++)
        if (lam[i] < lam[worst]) worst = i;
    return lam[worst] < -tol ? worst : -1;
}

/* _garch_fast._ratio_test: the longest step (at most 1) along d that keeps every inactive
 * constraint, and the one it meets (-1 where none). */
static double ratio_test_(double (*rows)[NP], const double *rhs, int nc, const double *x, const double *d, int m,
                          const int *active, int na, int *hit) {
    double t = 1.0;
    *hit = -1;
    for (int k = 0; k < nc; k++) {
        const double rate = dot_(rows[k], d, m);
        int is_active = 0;
        for (int a = 0; a < na; a++) is_active |= active[a] == k;
        if (rate < -1e-300 && !is_active) {
            const double t_k = fmax(dot_(rows[k], x, m) - rhs[k], 0.0) / -rate;
            if (t_k < t) t = t_k, *hit = k;
        }
    }
    return t;
}

/* The gradient and Hessian in the subspace: gz = z gf, hzz = z H_ff z^T (z's rows span it). */
static void reduce_(double (*z)[NP], int r, const double *h, const int *free_, int m, const double *gf, double *gz,
                    double *hzz) {
    for (int a = 0; a < r; a++) {
        gz[a] = dot_(z[a], gf, m);
        for (int b = 0; b < r; b++) {
            double s = 0.0;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++) s += z[a][i] * h[free_[i] * NP + free_[j]] * z[b][j];
            hzz[a * r + b] = s;
        }
    }
}

/* _garch_fast._newton, line for line (the active-set method of Nocedal and Wright, section 16.5). */
static void newton_(const Data *dat, int o, const double *lo, const double *hi, int max_newton, double *p,
                    double *info) {
    int free_[NP], pos[NP], m = 0, nc = 0, active[MAXC], na = 0, steps = 0, converged = 0;
    double rows[MAXC][NP], rhs[MAXC];
    for (int i = 0; i < NP; i++) {
        pos[i] = -1;
        if (lo[i] < hi[i]) pos[i] = m, free_[m++] = i;
    }
    memset(rows, 0, sizeof rows);
    for (int j = 0; j < m; j++) {
        const int i = free_[j];
        if (isfinite(lo[i])) rows[nc][j] = 1.0, rhs[nc++] = lo[i];
        if (isfinite(hi[i])) rows[nc][j] = -1.0, rhs[nc++] = -hi[i];
    }
    if (o) { /* alpha + gamma >= 0 */
        if (pos[2] >= 0) rows[nc][pos[2]] = 1.0;
        if (pos[3] >= 0) rows[nc][pos[3]] = 1.0;
        rhs[nc++] = 0.0;
    }
    if (pos[2] >= 0) rows[nc][pos[2]] = -1.0; /* alpha + gamma/2 + beta <= 1 */
    if (pos[3] >= 0) rows[nc][pos[3]] = -0.5;
    if (pos[4] >= 0) rows[nc][pos[4]] = -1.0;
    rhs[nc++] = -1.0;

    Point cur, trial;
    double x[NP];
    for (int j = 0; j < m; j++) x[j] = p[free_[j]];
    const int finite = evaluate_(dat, p, 2, &cur);
    if (finite) {
        for (int k = 0; k < nc; k++)
            if (dot_(rows[k], x, m) - rhs[k] <= 1e-12 * (1.0 + fabs(rhs[k]))) active[na++] = k;
        for (steps = 1; steps <= max_newton; steps++) {
            double z[NP][NP], gf[NP], gz[NP], hzz[NP * NP], u[NP], d[NP], decrement, gmax = 0.0;
            const int r = null_space_(rows, active, &na, m, z);
            for (int j = 0; j < m; j++) gf[j] = cur.g[free_[j]], gmax = fmax(gmax, fabs(gf[j]));
            reduce_(z, r, cur.h, free_, m, gf, gz, hzz);
            const int how = direction_(hzz, gz, r, u, &decrement);
            if (!how) break;
            if (how == 1 && decrement < 1e-10 * fmax(1.0, fabs(cur.ll))) {
                const int drop = release_(rows, active, na, gf, m, 1e-6 * fmax(1.0, gmax));
                if (drop >= 0) {
                    for (int a = drop; a + 1 < na; a++) active[a] = active[a + 1];
                    na--;
                    continue;
                }
                converged = 1;
                break;
            }
            for (int i = 0; i < m; i++) {
                d[i] = 0.0;
                for (int a = 0; a < r; a++) d[i] += z[a][i] * u[a];
            }
            int hit;
            double t = ratio_test_(rows, rhs, nc, x, d, m, active, na, &hit);
            int moved = 0;
            for (int tries = 0; tries < 40 && !moved; tries++) { /* backtracking, Armijo's condition */
                double q[NP];
                memcpy(q, p, sizeof q);
                for (int j = 0; j < m; j++) q[free_[j]] += t * d[j];
                if (evaluate_(dat, q, 2, &trial) && trial.ll >= cur.ll + 1e-4 * t * decrement) {
                    memcpy(p, q, sizeof q);
                    cur = trial;
                    moved = 1;
                } else {
                    t *= 0.5;
                    hit = -1;
                }
            }
            if (!moved) break;
            for (int j = 0; j < m; j++) x[j] = p[free_[j]];
            if (hit >= 0) active[na++] = hit;
        }
        if (steps > max_newton) steps = max_newton;
    }
    info[0] = cur.ll, info[1] = cur.var, info[2] = steps, info[3] = converged;
}

/* The arrays come as buffers (C-contiguous float64, at least min_items), not as addresses: a fit is
 * tens of microseconds, and numpy's .ctypes.data costs ~3 microseconds an array. */
static int buffer_(PyObject *obj, Py_buffer *view, Py_ssize_t min_items, int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return 0;
    if (view->itemsize != 8 || view->format == NULL || strcmp(view->format, "d") != 0 ||
        view->len / 8 < min_items) {
        PyErr_Format(PyExc_ValueError, "garch kernel: %s must hold at least %zd float64", what, min_items);
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

static void release_all_(Py_buffer *views, int count) {
    for (int i = 0; i < count; i++) PyBuffer_Release(&views[i]);
}

static PyObject *loglik(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objs[5];
    int dist_t, order;
    double bc;
    if (!PyArg_ParseTuple(args, "OOpdiOOO", &objs[0], &objs[1], &dist_t, &bc, &order, &objs[2], &objs[3], &objs[4]))
        return NULL;
    if (order < 0 || order > 2) return PyErr_Format(PyExc_ValueError, "garch loglik: order %d is not 0, 1 or 2", order);
    Py_buffer v[5];
    const Py_ssize_t need[5] = {1, NP, order ? NP : 0, order > 1 ? NP * NP : 0, 1};
    const char *what[5] = {"y", "p", "grad", "hess", "out"};
    for (int i = 0; i < 5; i++)
        if (!buffer_(objs[i], &v[i], need[i], i >= 2, what[i])) return release_all_(v, i), NULL;
    const Data dat = {v[0].len / 8, v[0].buf, dist_t, bc};
    Point pt;
    Py_BEGIN_ALLOW_THREADS
    evaluate_(&dat, v[1].buf, order, &pt);
    Py_END_ALLOW_THREADS
    if (order) memcpy(v[2].buf, pt.g, sizeof pt.g);
    if (order > 1) memcpy(v[3].buf, pt.h, sizeof pt.h);
    ((double *)v[4].buf)[0] = pt.var;
    release_all_(v, 5);
    return PyFloat_FromDouble(pt.ll);
}

static PyObject *logliks(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objs[3];
    int dist_t;
    double bc;
    if (!PyArg_ParseTuple(args, "OOpdO", &objs[0], &objs[1], &dist_t, &bc, &objs[2])) return NULL;
    Py_buffer v[3];
    if (!buffer_(objs[0], &v[0], 1, 0, "y")) return NULL;
    if (!buffer_(objs[1], &v[1], 0, 0, "params")) return release_all_(v, 1), NULL;
    const Py_ssize_t rows = v[1].len / (8 * NP);
    if (!buffer_(objs[2], &v[2], rows, 1, "out")) return release_all_(v, 2), NULL;
    const Data dat = {v[0].len / 8, v[0].buf, dist_t, bc};
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < rows; i++) {
        Point pt;
        evaluate_(&dat, (const double *)v[1].buf + i * NP, 0, &pt);
        ((double *)v[2].buf)[i] = pt.ll;
    }
    Py_END_ALLOW_THREADS
    release_all_(v, 3);
    Py_RETURN_NONE;
}

static PyObject *newton(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objs[5];
    int dist_t, o, max_newton;
    double bc;
    if (!PyArg_ParseTuple(args, "OOpdpOOiO", &objs[0], &objs[1], &dist_t, &bc, &o, &objs[2], &objs[3], &max_newton,
                          &objs[4]))
        return NULL;
    Py_buffer v[5];
    const Py_ssize_t need[5] = {1, NP, NP, NP, 4};
    const char *what[5] = {"y", "p", "lo", "hi", "info"};
    for (int i = 0; i < 5; i++)
        if (!buffer_(objs[i], &v[i], need[i], i == 1 || i == 4, what[i])) return release_all_(v, i), NULL;
    const Data dat = {v[0].len / 8, v[0].buf, dist_t, bc};
    Py_BEGIN_ALLOW_THREADS
    newton_(&dat, o, v[2].buf, v[3].buf, max_newton, v[1].buf, v[4].buf);
    Py_END_ALLOW_THREADS
    release_all_(v, 5);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"loglik", loglik, METH_VARARGS,
     "loglik(y, p, dist_t, backcast, order, grad, hess, out): GARCH-t/normal log-likelihood, derivatives, forecast"},
    {"logliks", logliks, METH_VARARGS,
     "logliks(y, params, dist_t, backcast, out): the log-likelihood at each row of params (k x 6) into out (k)"},
    {"newton", newton, METH_VARARGS,
     "newton(y, p, dist_t, backcast, o, lo, hi, max_newton, info): active-set Newton from p (in place)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_garch_kernel",
                                    "GARCH(1,1)/GJR likelihood, derivatives and Newton fit (see _garch_fast).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__garch_kernel(void) { return PyModule_Create(&module); }
