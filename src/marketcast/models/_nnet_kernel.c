/* nnet's networks (one logistic hidden layer, linear output) for NNAR: outputs, and the sum of
 * squared errors with its gradient, for m networks on one data set.
 *
 * Why this exists: fitting nnetar's 20 networks is some 270 lockstep BFGS passes, each one
 * forward (and backward) pass of up to 20 small networks over about 500 rows. In NumPy each pass
 * is a dozen whole-array operations (the sigmoid alone takes six); here each hidden unit's row
 * is computed, squashed and used while it is in cache. Same arithmetic as _Net in nnar.py, which
 * is the reference and the fallback: nnet's sigmoid, exactly 0 below -15 and 1 above 15
 * (nnet.c: sigmoid), and the gradient of fpass/bpass summed over the rows. Only the order of the
 * sums and exp's last bit differ (tests/test_models_nnar.py compares the two to 1e-12).
 *
 * Layouts (row-major, double): w (m, size*(p+1) + size + 1) in nnet's order: per hidden unit its
 * bias and p input weights, then the output bias and the size output weights; x1t (p+1, N) the
 * inputs transposed, row 0 all ones; y (N); a work buffer of size*N doubles.
 */
#include "_kernel_common.h" /* Python.h and VECTOR_CLONES; the rest serves the training kernels */

/* exp(x) for |x| <= 15, relative error about 2e-16 (Cephes' exp: x = n ln 2 + r, a Pade form
 * for exp(r), 2^n through the exponent bits). No calls and no branches, so the loop vectorises. */
static inline double exp15(double x) {
    double t = x * 1.4426950408889634 + 6755399441055744.0; /* 1.5 * 2^52: round(x / ln 2) in the low bits */
    union { double d; uint64_t i; } u = {t};
    double n = t - 6755399441055744.0;
    double r = x - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    double rr = r * r;
    double px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1);
    double qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr +
                2.00000000000000000009e0;
    double e = 1.0 + 2.0 * px / (qx - px);
    union { uint64_t i; double d; } s = {(u.i - 0x4338000000000000ULL + 1023ULL) << 52};
    return e * s.d;
}

/* The hidden units' activations a (size, N) of one network: nnet's sigmoid of b + w x. */
VECTOR_CLONES
static void hidden(int size, int p, int N, const double *restrict w, const double *restrict x1t, double *restrict a) {
    for (int h = 0; h < size; h++) {
        const double *wh = w + (size_t)h * (p + 1);
        double *ah = a + (size_t)h * N;
        for (int t = 0; t < N; t++) ah[t] = wh[0];
        for (int i = 1; i <= p; i++) {
            const double wi = wh[i], *xi = x1t + (size_t)i * N;
            for (int t = 0; t < N; t++) ah[t] += wi * xi[t];
        }
        for (int t = 0; t < N; t++) {
            double z = ah[t], s = 1.0 / (1.0 + exp15(z < -15.0 ? 15.0 : (z > 15.0 ? -15.0 : -z)));
            ah[t] = z > 15.0 ? 1.0 : (z < -15.0 ? 0.0 : (z == z ? s : z)); /* NaN stays NaN */
        }
    }
}

/* out (N) = output bias + sum_h w_out[h] a[h]. */
VECTOR_CLONES
static void output(int size, int N, const double *restrict w_out, double b_out, const double *restrict a,
                   double *restrict out) {
    for (int t = 0; t < N; t++) out[t] = b_out;
    for (int h = 0; h < size; h++) {
        const double wh = w_out[h], *ah = a + (size_t)h * N;
        for (int t = 0; t < N; t++) out[t] += wh * ah[t];
    }
}

/* Sum of squared errors of one network and its gradient (nnet's fpass and bpass over all rows). */
VECTOR_CLONES
static double sse_grad(int size, int p, int N, const double *restrict w, const double *restrict x1t,
                       const double *restrict y, double *restrict a, double *restrict e, double *restrict grad) {
    const int nh = size * (p + 1);
    hidden(size, p, N, w, x1t, a);
    output(size, N, w + nh + 1, w[nh], a, e);
    double f = 0.0, ge = 0.0;
    for (int t = 0; t < N; t++) {
        double r = e[t] - y[t];
        f += r * r;
        e[t] = 2.0 * r; /* dE/d(output) */
        ge += e[t];
    }
    grad[nh] = ge;
    for (int h = 0; h < size; h++) {
        double *ah = a + (size_t)h * N, g2 = 0.0;
        for (int t = 0; t < N; t++) {
            g2 += ah[t] * e[t];
            ah[t] = ah[t] * (1.0 - ah[t]) * e[t]; /* delta of the hidden unit, before w_out */
        }
        grad[nh + 1 + h] = g2;
        const double wo = w[nh + 1 + h];
        for (int i = 0; i <= p; i++) {
            const double *xi = x1t + (size_t)i * N;
            double g1 = 0.0;
            for (int t = 0; t < N; t++) g1 += ah[t] * xi[t];
            grad[h * (p + 1) + i] = g1 * wo;
        }
    }
    return f;
}

#define DPTR(v) ((double *)(uintptr_t)(v))

/* outputs(m, size, p, N, w, x1t, work, out): out (m, N). */
static PyObject *outputs(PyObject *self, PyObject *args) {
    (void)self;
    int m, size, p, N;
    unsigned long long w, x1t, work, out;
    if (!PyArg_ParseTuple(args, "iiiiKKKK", &m, &size, &p, &N, &w, &x1t, &work, &out)) return NULL;
    if (m < 0 || size < 1 || p < 0 || N < 0) {
        PyErr_SetString(PyExc_ValueError, "nnet outputs: bad dimensions");
        return NULL;
    }
    const size_t nw = (size_t)size * (p + 1) + size + 1;
    Py_BEGIN_ALLOW_THREADS
    for (int k = 0; k < m; k++) {
        const double *wk = DPTR(w) + k * nw;
        hidden(size, p, N, wk, DPTR(x1t), DPTR(work));
        output(size, N, wk + (size_t)size * (p + 1) + 1, wk[(size_t)size * (p + 1)], DPTR(work), DPTR(out) + (size_t)k * N);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* sse(m, size, p, N, w, x1t, y, work, e, f, grad): f (m) and grad (m, n_weights); e (N) scratch. */
static PyObject *sse(PyObject *self, PyObject *args) {
    (void)self;
    int m, size, p, N;
    unsigned long long w, x1t, y, work, e, f, grad;
    if (!PyArg_ParseTuple(args, "iiiiKKKKKKK", &m, &size, &p, &N, &w, &x1t, &y, &work, &e, &f, &grad)) return NULL;
    if (m < 0 || size < 1 || p < 0 || N < 0) {
        PyErr_SetString(PyExc_ValueError, "nnet sse: bad dimensions");
        return NULL;
    }
    const size_t nw = (size_t)size * (p + 1) + size + 1;
    Py_BEGIN_ALLOW_THREADS
    for (int k = 0; k < m; k++)
        DPTR(f)[k] = sse_grad(size, p, N, DPTR(w) + k * nw, DPTR(x1t), DPTR(y), DPTR(work), DPTR(e),
                              DPTR(grad) + k * nw);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"outputs", outputs, METH_VARARGS, "outputs(m, size, p, N, w, x1t, work, out): outputs of m networks"},
    {"sse", sse, METH_VARARGS, "sse(m, size, p, N, w, x1t, y, work, e, f, grad): SSE and gradient of m networks"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_nnet_kernel",
                                    "nnet's networks for NNAR: outputs, SSE and gradient (see nnar._Net).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__nnet_kernel(void) { return PyModule_Create(&module); }
