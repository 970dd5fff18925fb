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
 * stats(m, k, stride, w, mean, rho, cdf, z): the window statistics of stats.window_stats (mean, sign
 * correlation of eq. 3, F at the mean, sample volatilities Z_t) in four vectorised passes over each
 * window (sum; sign counts; the three sums of eq. 3 at once; Z), with no scratch arrays. Its sums
 * are NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src: blocks of up to 128
 * in 8 accumulators, halves above), so that they too give NumPy's bits. Window i starts at
 * w + i * stride (doubles), so that overlapping rolling windows need no copy.
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

/* The paper's grid, 30 alphas, with the count known to the compiler: the states of all 30
 * recursions stay in vector registers for the whole window. */
#define GRID 32
CLONES
static void smooth_grid(int k, int a, int l, const double *restrict z, double s0, const double *restrict alpha,
                        const double *restrict oma, double *restrict fess, double *restrict last) {
    double s[GRID], f[GRID], al[GRID], om[GRID];
    for (int j = 0; j < GRID; j++) {
        s[j] = s0;
        f[j] = 0.0;
        al[j] = j < a ? alpha[j] : 0.0;
        om[j] = j < a ? oma[j] : 1.0;
    }
    for (int t = 0; t < l; t++) {
        const double zt = z[t];
        for (int j = 0; j < GRID; j++) s[j] = al[j] * zt + om[j] * s[j];
    }
    for (int t = l; t < k; t++) {
        const double zt = z[t];
        for (int j = 0; j < GRID; j++) {
            const double e = zt - s[j];
            f[j] = f[j] + e * e;
            s[j] = al[j] * zt + om[j] * s[j];
        }
    }
    for (int j = 0; j < a; j++) {
        fess[j] = f[j];
        last[j] = s[j];
    }
}

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
CLONES
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

/* Sign correlation's three sums at once, each NumPy's pairwise sum (pairwise_sum's order) of an
 * array computed on the fly: sum c * sc, sum sc * sc and sum c * c over the window, where
 * c = w - mean and sc = sign(c) - smean. One pass, no scratch arrays. */
#define SC(x) ((double)(((x) > 0) - ((x) < 0)) - smean)
CLONES
static void sign_sums_leaf(const double *w, Py_ssize_t n, double mean, double smean, double out[3]) {
    if (n < 8) {
        double p = 0., q = 0., cc = 0.;
        for (Py_ssize_t i = 0; i < n; i++) {
            const double c = w[i] - mean, sc = SC(c);
            p += c * sc;
            q += sc * sc;
            cc += c * c;
        }
        out[0] = p, out[1] = q, out[2] = cc;
        return;
    }
    double rp[8], rq[8], rc[8];
    Py_ssize_t i;
    for (int j = 0; j < 8; j++) {
        const double c = w[j] - mean, sc = SC(c);
        rp[j] = c * sc;
        rq[j] = sc * sc;
        rc[j] = c * c;
    }
    for (i = 8; i < n - (n % 8); i += 8)
        for (int j = 0; j < 8; j++) {
            const double c = w[i + j] - mean, sc = SC(c);
            rp[j] += c * sc;
            rq[j] += sc * sc;
            rc[j] += c * c;
        }
    double p = ((rp[0] + rp[1]) + (rp[2] + rp[3])) + ((rp[4] + rp[5]) + (rp[6] + rp[7]));
    double q = ((rq[0] + rq[1]) + (rq[2] + rq[3])) + ((rq[4] + rq[5]) + (rq[6] + rq[7]));
    double cc = ((rc[0] + rc[1]) + (rc[2] + rc[3])) + ((rc[4] + rc[5]) + (rc[6] + rc[7]));
    for (; i < n; i++) {
        const double c = w[i] - mean, sc = SC(c);
        p += c * sc;
        q += sc * sc;
        cc += c * c;
    }
    out[0] = p, out[1] = q, out[2] = cc;
}
#undef SC

static void sign_sums(const double *w, Py_ssize_t n, double mean, double smean, double out[3]) {
    if (n <= 128) {
        sign_sums_leaf(w, n, mean, smean, out);
        return;
    }
    Py_ssize_t n2 = n / 2;
    n2 -= n2 % 8;
    double lo[3], hi[3];
    sign_sums(w, n2, mean, smean, lo);
    sign_sums(w + n2, n - n2, mean, smean, hi);
    for (int j = 0; j < 3; j++) out[j] = lo[j] + hi[j];
}

/* Counts of positive and negative deviations from the mean and of values at or below it:
 * integers, so any order (and the vector units) give NumPy's sums of signs exactly. */
CLONES
static void sign_counts(const double *restrict w, Py_ssize_t k, double mean, int64_t counts[3]) {
    int64_t pos = 0, neg = 0, below = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        const double c = w[i] - mean;
        pos += c > 0;
        neg += c < 0;
        below += w[i] <= mean;
    }
    counts[0] = pos, counts[1] = neg, counts[2] = below;
}

CLONES
static void scaled_deviations(const double *restrict w, Py_ssize_t k, double mean, double den, double *restrict z) {
    for (Py_ssize_t i = 0; i < k; i++) z[i] = fabs(w[i] - mean) / den;
}

/* One window. */
static void stats_window(Py_ssize_t k, const double *restrict w, double *mean_out, double *rho_out, double *cdf_out,
                         double *restrict z) {
    const double mean = pairwise_sum(w, k) / (double)k;
    int64_t counts[3];
    sign_counts(w, k, mean, counts);
    const double smean = (double)(counts[0] - counts[1]) / (double)k;
    double sums[3];
    sign_sums(w, k, mean, smean, sums);
    const double rho = sums[0] / sqrt(sums[2] * sums[1]);
    const double f = (double)counts[2] / (double)k;
    const double den = 2.0 * rho * sqrt(f * (1.0 - f));
    scaled_deviations(w, k, mean, den, z);
    *mean_out = mean;
    *rho_out = rho;
    *cdf_out = f;
}

static PyObject *stats(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t m, k, stride;
    unsigned long long w, mean, rho, cdf, z;
    if (!PyArg_ParseTuple(args, "nnnKKKKK", &m, &k, &stride, &w, &mean, &rho, &cdf, &z)) return NULL;
    if (m < 0 || k < 1 || stride < 1) {
        PyErr_SetString(PyExc_ValueError, "ddewma stats: bad dimensions");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m; i++)
        stats_window(k, DPTR(w) + i * stride, DPTR(mean) + i, DPTR(rho) + i, DPTR(cdf) + i, DPTR(z) + i * k);
    Py_END_ALLOW_THREADS
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
        (a <= GRID ? smooth_grid : smooth_window)((int)k, (int)a, (int)l, DPTR(z) + i * k, DPTR(s0)[i], DPTR(alpha),
                                                  DPTR(oma), DPTR(fess) + i * a, DPTR(last) + i * a);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"smooth", smooth, METH_VARARGS,
     "smooth(m, k, a, l, z, s0, alpha, oma, fess, last): DD-EWMA's FESS and last value for m windows x a alphas"},
    {"stats", stats, METH_VARARGS,
     "stats(m, k, stride, w, mean, rho, cdf, z): mean, sign correlation, F(mean) and sample volatilities of m windows"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ddewma_kernel",
                                    "DD-EWMA's smoothing and FESS over windows and alphas (see ewma._smooth_numpy).",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ddewma_kernel(void) { return PyModule_Create(&module); }
