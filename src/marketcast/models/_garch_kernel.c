/* GARCH(1,1) / GJR-GARCH(1,1,1) log-likelihood, its analytic gradient and the one-step variance,
 * for Student-t (unit variance) or normal innovations, in one pass over a window (arch's model:
 * sigma2_0 from the backcast, e_t = y_t - mu).
 *
 * Why this exists: a daily refit is a few Newton steps, each a handful of likelihood and gradient
 * evaluations over 504 returns; in C an evaluation is ~10 microseconds where arch's Python
 * optimiser spends ~18 ms a fit. _garch_fast._loglik_numpy is the reference and the fallback (the
 * same sums through scipy.signal.lfilter; tests/test_models_garch_fast.py compares the two).
 *
 * loglik(n, y, p, dist_t, backcast, grad, out): p = (mu, omega, alpha, gamma, beta, nu) by
 * address; returns sum_t [ -log(sigma2_t)/2 - (nu+1)/2 log(1 + e_t^2 / (sigma2_t (nu-2))) ] for the
 * t (without the constant n c(nu), added by the caller) or sum_t -(log sigma2_t + e_t^2/sigma2_t)/2
 * for the normal; grad (6, may be 0) receives its derivatives (the nu entry without n c'(nu));
 * out (2) receives sigma2_{n} (the one-step forecast) and sigma2_{n-1}.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define DPTR(x) ((double *)(uintptr_t)(x))

static double loglik_(Py_ssize_t n, const double *restrict y, const double *restrict p, int dist_t, double bc,
                      double *restrict grad, double *restrict out) {
    const double mu = p[0], om = p[1], al = p[2], ga = p[3], be = p[4], nu = p[5];
    const int want = grad != NULL;
    double s2 = om + al * bc + ga * 0.5 * bc + be * bc;
    double d[5] = {0.0, 1.0, bc, 0.5 * bc, bc}; /* d sigma2_t / d(mu, omega, alpha, gamma, beta) */
    double g[6] = {0, 0, 0, 0, 0, 0};
    double ll = 0.0, prev_s2 = s2;
    const double nm2 = nu - 2.0, half_np1 = 0.5 * (nu + 1.0);
    for (Py_ssize_t t = 0; t < n; t++) {
        if (t > 0) {
            const double ep = y[t - 1] - mu, e2 = ep * ep, neg = ep < 0 ? 1.0 : 0.0;
            const double s2_new = om + al * e2 + ga * e2 * neg + be * s2;
            if (want) {
                d[0] = (al + ga * neg) * (-2.0 * ep) + be * d[0];
                d[1] = 1.0 + be * d[1];
                d[2] = e2 + be * d[2];
                d[3] = e2 * neg + be * d[3];
                d[4] = s2 + be * d[4];
            }
            s2 = s2_new;
        }
        const double e = y[t] - mu;
        double dl_ds2, dl_de;
        if (dist_t) {
            const double q = e * e / (s2 * nm2), lq = log1p(q);
            ll += -0.5 * log(s2) - half_np1 * lq;
            if (want) {
                dl_ds2 = (-1.0 + (nu + 1.0) * q / (1.0 + q)) / (2.0 * s2);
                dl_de = -(nu + 1.0) * e / (s2 * nm2 * (1.0 + q));
                g[5] += -0.5 * lq + half_np1 * q / (nm2 * (1.0 + q));
            }
        } else {
            ll += -0.5 * (log(s2) + e * e / s2);
            if (want) {
                dl_ds2 = 0.5 * (e * e / s2 - 1.0) / s2;
                dl_de = -e / s2;
            }
        }
        if (want) {
            g[0] += dl_ds2 * d[0] - dl_de;
            for (int j = 1; j < 5; j++) g[j] += dl_ds2 * d[j];
        }
        prev_s2 = s2;
    }
    if (n > 0) {
        const double ep = y[n - 1] - mu, e2 = ep * ep, neg = ep < 0 ? 1.0 : 0.0;
        out[0] = om + al * e2 + ga * e2 * neg + be * prev_s2;
        out[1] = prev_s2;
    }
    if (want)
        for (int j = 0; j < 6; j++) grad[j] = g[j];
    return ll;
}

static PyObject *loglik(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t n;
    int dist_t;
    double bc;
    unsigned long long y, p, grad, out;
    if (!PyArg_ParseTuple(args, "nKKidKK", &n, &y, &p, &dist_t, &bc, &grad, &out)) return NULL;
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "garch loglik: no observations");
        return NULL;
    }
    double ll;
    Py_BEGIN_ALLOW_THREADS
    ll = loglik_(n, DPTR(y), DPTR(p), dist_t, bc, grad ? DPTR(grad) : NULL, DPTR(out));
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(ll);
}

static PyMethodDef methods[] = {
    {"loglik", loglik, METH_VARARGS,
     "loglik(n, y, p, dist_t, backcast, grad, out): GARCH-t/normal log-likelihood (less n c(nu)), gradient, forecast"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_garch_kernel",
                                    "GARCH(1,1)/GJR log-likelihood and gradient (see _garch_fast._loglik_numpy).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__garch_kernel(void) { return PyModule_Create(&module); }
