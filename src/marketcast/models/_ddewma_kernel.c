/* DD-EWMA's smoothing (eq. 6 of the VIX paper) and forecast error sums of squares for every
 * alpha of the grid and every window, in one pass over each window (Algorithm 1).
 *
 * Why this exists: a rolling run over an index is millions of windows, and the work per window
 * is 504 steps of 30 independent recursions; NumPy pays a call per step (or the closed form of
 * ewma.ewma_paths pays exp, cumsum and a 30 x 504 temporary per window). Here the 30 alphas of
 * one step are one vectorised loop and a window stays in the first-level cache.
 *
 * Same arithmetic, in the same order, as ewma._smooth_numpy (the reference and the fallback):
 *     e = z_t - S_{t-1};  fess += e * e  (t > l);  S_t = alpha * z_t + (1 - alpha) * S_{t-1}
 * built with -ffp-contract=off so that no multiply-add is fused: the two give the same bits.
 *
 * smooth(m, k, a, l, z, s0, alpha, oma, fess, last): z (m, k), s0 (m), alpha and oma = 1 - alpha
 * (a), fess and last (m, a), all C-contiguous doubles given by address.
 *
 * stats(m, k, w, mean, rho, cdf, z): the window statistics of stats.window_stats (mean, sign
 * correlation of eq. 3, F at the mean, sample volatilities Z_t) in one pass per window. Its sums
 * are NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src: blocks of up to 128
 * in 8 accumulators, halves above), so that they too give NumPy's bits.
 */
#define PY_SSIZE_T_CLEAN
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* gcc takes -ffp-contract=off from setup.py */
#endif
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define DPTR(x) ((double *)(uintptr_t)(x))
#define MAX_ALPHAS 256

CLONES
static void smooth_window(int k, int a, int l, const double *restrict z, double s0, const double *restrict alpha,
                          const double *restrict oma, double *restrict fess, double *restrict last) {
    double s[MAX_ALPHAS], f[MAX_ALPHAS];
    for (int j = 0; j < a; j++) {
        s[j] = s0;
        f[j] = 0.0;
    }
    for (int t = 0; t < l; t++) {
        const double zt = z[t];
        for (int j = 0; j < a; j++) s[j] = alpha[j] * zt + oma[j] * s[j];
    }
    for (int t = l; t < k; t++) {
        const double zt = z[t];
        for (int j = 0; j < a; j++) {
            const double e = zt - s[j];
            f[j] = f[j] + e * e;
            s[j] = alpha[j] * zt + oma[j] * s[j];
        }
    }
    for (int j = 0; j < a; j++) {
        fess[j] = f[j];
        last[j] = s[j];
    }
}

/* NumPy's pairwise sum of a[0..n) (stride 1), the order of its add.reduce. */
static double pairwise_sum(const double *a, Py_ssize_t n) {
    if (n < 8) {
        double res = 0.;
        for (Py_ssize_t i = 0; i < n; i++) res += a[i];
        return res;
    } else if (n <= 128) {
        double r[8], res;
        Py_ssize_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    } else {
        Py_ssize_t n2 = n / 2;
        n2 -= n2 % 8;
        return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
    }
}

/* One window: buf holds 3k doubles of scratch. */
static void stats_window(Py_ssize_t k, const double *restrict w, double *restrict buf, double *mean_out,
                         double *rho_out, double *cdf_out, double *restrict z) {
    double *c = buf, *p = buf + k, *q = buf + 2 * k;
    const double mean = pairwise_sum(w, k) / (double)k;
    double signs = 0.0, below = 0.0;
    for (Py_ssize_t i = 0; i < k; i++) {
        c[i] = w[i] - mean;
        signs += (c[i] > 0) - (c[i] < 0); /* integers: any order gives the same sum */
        below += w[i] <= mean;
    }
    const double smean = signs / (double)k;
    for (Py_ssize_t i = 0; i < k; i++) {
        const double sc = (double)((c[i] > 0) - (c[i] < 0)) - smean;
        p[i] = c[i] * sc;
        q[i] = sc * sc;
    }
    const double num = pairwise_sum(p, k);
    const double sqq = pairwise_sum(q, k);
    for (Py_ssize_t i = 0; i < k; i++) p[i] = c[i] * c[i];
    const double scc = pairwise_sum(p, k);
    const double rho = num / sqrt(scc * sqq);
    const double f = below / (double)k;
    const double den = 2.0 * rho * sqrt(f * (1.0 - f));
    for (Py_ssize_t i = 0; i < k; i++) z[i] = fabs(w[i] - mean) / den;
    *mean_out = mean;
    *rho_out = rho;
    *cdf_out = f;
}

static PyObject *stats(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t m, k;
    unsigned long long w, mean, rho, cdf, z;
    if (!PyArg_ParseTuple(args, "nnKKKKK", &m, &k, &w, &mean, &rho, &cdf, &z)) return NULL;
    if (m < 0 || k < 1) {
        PyErr_SetString(PyExc_ValueError, "ddewma stats: bad dimensions");
        return NULL;
    }
    double *buf = malloc(3 * (size_t)k * sizeof(double));
    if (buf == NULL) return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m; i++)
        stats_window(k, DPTR(w) + i * k, buf, DPTR(mean) + i, DPTR(rho) + i, DPTR(cdf) + i, DPTR(z) + i * k);
    Py_END_ALLOW_THREADS
    free(buf);
    Py_RETURN_NONE;
}

static PyObject *smooth(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t m, k, a, l;
    unsigned long long z, s0, alpha, oma, fess, last;
    if (!PyArg_ParseTuple(args, "nnnnKKKKKK", &m, &k, &a, &l, &z, &s0, &alpha, &oma, &fess, &last)) return NULL;
    if (m < 0 || k < 1 || a < 1 || a > MAX_ALPHAS || l < 0 || l > k || k > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "ddewma smooth: bad dimensions");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m; i++)
        smooth_window((int)k, (int)a, (int)l, DPTR(z) + i * k, DPTR(s0)[i], DPTR(alpha), DPTR(oma),
                      DPTR(fess) + i * a, DPTR(last) + i * a);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"smooth", smooth, METH_VARARGS,
     "smooth(m, k, a, l, z, s0, alpha, oma, fess, last): DD-EWMA's FESS and last value for m windows x a alphas"},
    {"stats", stats, METH_VARARGS,
     "stats(m, k, w, mean, rho, cdf, z): mean, sign correlation, F(mean) and sample volatilities of m windows"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ddewma_kernel",
                                    "DD-EWMA's smoothing and FESS over windows and alphas (see ewma._smooth_numpy).",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ddewma_kernel(void) { return PyModule_Create(&module); }
