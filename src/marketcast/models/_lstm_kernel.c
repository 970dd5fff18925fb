/* One-layer LSTM, forward and backward through time, for training on the CPU.
 *
 * Why this exists: training the VIX paper's LSTM (section II.B, Table I: 21 lags, LSTM(128),
 * batch 32) is a chain of 21 small GEMMs (32x128 by 128x512) forward and 21 backward per step.
 * oneDNN's LSTM (torch's CPU path) runs each of them on both cores, synchronising the threads
 * 42 times a step. The rows of a batch are independent sequences, so here each thread takes a
 * contiguous block of rows and runs the whole recursion on its own with single-threaded GEMMs;
 * the threads meet once per pass, to add up the weight gradients. Same arithmetic as
 * torch.nn.LSTM (gate order i, f, g, o; zero initial state), results equal up to float rounding.
 *
 * The GEMM is the caller's: a Fortran-interface sgemm (torch's MKL) passed as a function pointer,
 * with MKL's thread-local thread count setter, so this file needs no BLAS at build time.
 * Per block of n rows the buffers are time-major, (T, n, width), blocks one after the other:
 *   xt  (T, n, I)      inputs;            acts (T, n, 4H)  gate activations i, f, g, o;
 *   cs  (T+1, n, H)    cell states c_0..c_T (c_0 = 0);  hs (T+1, n, H) hidden states h_0..h_T;
 *   tcs (T, n, H)      tanh(c_t);         dG   (T, n, 4H)  gradients of the gate pre-activations.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sgemm_fn)(const char *, const char *, const int *, const int *, const int *, const float *,
                         const float *, const int *, const float *, const int *, const float *, float *,
                         const int *);
typedef int (*set_threads_fn)(int);

#define MAX_BLOCKS 64
/* Fewer rows than this per thread and MKL's GEMM time stops falling: more threads would idle. */
#define MIN_BLOCK_ROWS 8

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* The elementwise loops vectorise; an AVX2+FMA copy is picked at load time where the CPU has it. */
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VECTOR_CLONES
#endif

/* Row-major C(m x n) = alpha op(A) op(B) + beta C with a column-major sgemm: C^T = op(B)^T op(A)^T. */
static void gemm(sgemm_fn f, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) C[(size_t)i * ldc + j] = beta == 0.f ? 0.f : beta * C[(size_t)i * ldc + j];
        return;
    }
    f(tb ? "T" : "N", ta ? "T" : "N", &n, &m, &k, &alpha, B, &ldb, A, &lda, &beta, C, &ldc);
}

/* exp(x), relative error about 2e-7, for x clamped to [-87, 88]: exp(x) = 2^n exp(r) with
 * n = round(x / ln 2), r = x - n ln 2 (ln 2 in two parts) and a degree-6 polynomial for exp(r)
 * (Cephes' expf). No calls and no branches, so the loops below vectorise. */
static inline float fast_exp(float x) {
    x = x < -87.f ? -87.f : x;
    x = x > 88.f ? 88.f : x;
    float t = x * 1.44269504089f + 12582912.f; /* 1.5 * 2^23: t's low mantissa bits hold round(x / ln 2) */
    union { float f; uint32_t i; } u = {t};
    float n = t - 12582912.f;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.428606765330187e-06f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.f;
    /* unsigned, so that -fwrapv (Python's CFLAGS) leaves the loop vectorisable */
    union { uint32_t i; float f; } s = {(u.i - 0x4B400000u + 127u) << 23};
    return p * s.f;
}

static inline float sigmoid(float x) { return 1.f / (1.f + fast_exp(-x)); }
/* tanh(x) = 2 sigmoid(2x) - 1: absolute error about 1e-7, which is what the LSTM's sums see. */
static inline float tanh_(float x) { return 2.f / (1.f + fast_exp(-2.f * x)) - 1.f; }

/* Gates and states of one time step: G holds the pre-activations on entry, the activations on exit.
 *   i, f, o = sigmoid(.), g = tanh(.);  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t). */
VECTOR_CLONES
static void cell_forward(int n, int H, float *restrict G, const float *restrict c_prev, float *restrict c,
                         float *restrict tc, float *restrict h) {
    for (int j = 0; j < n; j++) {
        /* One pointer per gate: with Python's -fwrapv, indices like H + k would stop the vectoriser. */
        float *gi = G + (size_t)j * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
        const float *cp = c_prev + (size_t)j * H;
        float *cj = c + (size_t)j * H, *tj = tc + (size_t)j * H, *hj = h + (size_t)j * H;
        for (int k = 0; k < H; k++) {
            float i = sigmoid(gi[k]), f = sigmoid(gf[k]), g = tanh_(gg[k]), o = sigmoid(go[k]);
            float cc = f * cp[k] + i * g, t = tanh_(cc);
            gi[k] = i, gf[k] = f, gg[k] = g, go[k] = o;
            cj[k] = cc, tj[k] = t, hj[k] = o * t;
        }
    }
}

/* Backward through one time step. dh: dL/dh_t (everything from above and from step t+1);
 * dc: dL/dc_t from step t+1 on entry, dL/dc_{t-1} on exit; dG: dL/d(pre-activations of step t). */
VECTOR_CLONES
static void cell_backward(int n, int H, const float *restrict A, const float *restrict c_prev,
                          const float *restrict tc, const float *restrict dh, float *restrict dc,
                          float *restrict dG) {
    for (int j = 0; j < n; j++) {
        const float *ai = A + (size_t)j * 4 * H, *af = ai + H, *ag = af + H, *ao = ag + H;
        const float *cp = c_prev + (size_t)j * H, *tj = tc + (size_t)j * H, *dhj = dh + (size_t)j * H;
        float *dcj = dc + (size_t)j * H, *di = dG + (size_t)j * 4 * H, *df = di + H, *dg = df + H, *d_o = dg + H;
        for (int k = 0; k < H; k++) {
            float i = ai[k], f = af[k], g = ag[k], o = ao[k], t = tj[k];
            float dct = dcj[k] + dhj[k] * o * (1.f - t * t);
            di[k] = dct * g * i * (1.f - i);
            df[k] = dct * cp[k] * f * (1.f - f);
            dg[k] = dct * i * (1.f - g * g);
            d_o[k] = dhj[k] * t * o * (1.f - o);
            dcj[k] = dct * f;
        }
    }
}

VECTOR_CLONES
static void add_rows(int rows, int width, const float *restrict X, float *restrict out) {
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < width; k++) out[k] += X[(size_t)r * width + k];
}

typedef struct {
    sgemm_fn gemm;
    set_threads_fn set_threads;
    int T, I, H, r0, n, status;
    const float *x, *w_ih, *w_hh, *bias, *dh_out;
    float *xt, *acts, *cs, *hs, *tcs, *h_out, *dG, *grads; /* grads: dW_ih (4H x I), dW_hh (4H x H), db (4H) */
} block_t;

static void forward_block(block_t *b) {
    const int n = b->n, T = b->T, I = b->I, H = b->H, G4 = 4 * H;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++)
            memcpy(b->xt + ((size_t)t * n + j) * I, b->x + ((size_t)(b->r0 + j) * T + t) * I, sizeof(float) * I);
    for (int r = 0; r < T * n; r++) memcpy(b->acts + (size_t)r * G4, b->bias, sizeof(float) * G4);
    gemm(b->gemm, 0, 1, T * n, G4, I, 1.f, b->xt, I, b->w_ih, I, 1.f, b->acts, G4); /* x_t W_ih^T + b, all t */
    memset(b->cs, 0, sizeof(float) * n * H);
    memset(b->hs, 0, sizeof(float) * n * H);
    for (int t = 0; t < T; t++) {
        float *G = b->acts + (size_t)t * n * G4;
        if (t > 0) /* h_0 = 0: the first step has no recurrent term */
            gemm(b->gemm, 0, 1, n, G4, H, 1.f, b->hs + (size_t)t * n * H, H, b->w_hh, H, 1.f, G, G4);
        cell_forward(n, H, G, b->cs + (size_t)t * n * H, b->cs + (size_t)(t + 1) * n * H, b->tcs + (size_t)t * n * H,
                     b->hs + (size_t)(t + 1) * n * H);
    }
    memcpy(b->h_out + (size_t)b->r0 * H, b->hs + (size_t)T * n * H, sizeof(float) * n * H);
}

static void backward_block(block_t *b) {
    const int n = b->n, T = b->T, I = b->I, H = b->H, G4 = 4 * H;
    float *dh = malloc(sizeof(float) * (size_t)n * H * 2);
    if (dh == NULL) {
        b->status = -1;
        return;
    }
    float *dc = dh + (size_t)n * H;
    memcpy(dh, b->dh_out + (size_t)b->r0 * H, sizeof(float) * n * H);
    memset(dc, 0, sizeof(float) * n * H);
    for (int t = T - 1; t >= 0; t--) {
        float *dG = b->dG + (size_t)t * n * G4;
        cell_backward(n, H, b->acts + (size_t)t * n * G4, b->cs + (size_t)t * n * H, b->tcs + (size_t)t * n * H, dh, dc,
                      dG);
        if (t > 0) /* dL/dh_{t-1} = dG_t W_hh */
            gemm(b->gemm, 0, 0, n, H, G4, 1.f, dG, G4, b->w_hh, H, 0.f, dh, H);
    }
    free(dh);
    float *dw_ih = b->grads, *dw_hh = dw_ih + (size_t)G4 * I, *db = dw_hh + (size_t)G4 * H;
    /* dW_hh = sum_t dG_t^T h_{t-1} (t >= 1: h_0 = 0), dW_ih = sum_t dG_t^T x_t, db = sum_t, rows dG_t */
    gemm(b->gemm, 1, 0, G4, H, (T - 1) * n, 1.f, b->dG + (size_t)n * G4, G4, b->hs + (size_t)n * H, H, 0.f, dw_hh, H);
    gemm(b->gemm, 1, 0, G4, I, T * n, 1.f, b->dG, G4, b->xt, I, 0.f, dw_ih, I);
    memset(db, 0, sizeof(float) * G4);
    add_rows(T * n, G4, b->dG, db);
}

/* Split B rows into blocks of at least MIN_BLOCK_ROWS, at most one per thread. */
static int split_rows(int B, int threads, int *r0, int *n) {
    int blocks = B / MIN_BLOCK_ROWS;
    if (blocks > threads) blocks = threads;
    if (blocks > MAX_BLOCKS) blocks = MAX_BLOCKS;
    if (blocks < 1) blocks = 1;
    for (int c = 0, s = 0; c < blocks; c++) {
        n[c] = B / blocks + (c < B % blocks);
        r0[c] = s;
        s += n[c];
    }
    return blocks;
}

static void run_block(block_t *b, int backward) {
    /* Each thread's GEMMs run on that thread alone (MKL would otherwise start threads of its own). */
    int previous = b->set_threads ? b->set_threads(1) : 0;
    if (backward)
        backward_block(b);
    else
        forward_block(b);
    if (b->set_threads) b->set_threads(previous);
}

static void run_blocks(block_t *blocks, int count, int backward) {
    if (count == 1) {
        run_block(&blocks[0], backward);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(count) schedule(static, 1)
#endif
    for (int c = 0; c < count; c++) run_block(&blocks[c], backward);
}

static int layout(block_t *blocks, int *count, unsigned long long gemm_p, unsigned long long threads_p, int threads,
                  int B, int T, int I, int H) {
    int r0[MAX_BLOCKS], n[MAX_BLOCKS];
    if (gemm_p == 0 || B < 1 || T < 1 || I < 1 || H < 1) return -1;
    *count = split_rows(B, threads < 1 ? 1 : threads, r0, n);
    for (int c = 0; c < *count; c++) {
        block_t *b = &blocks[c];
        memset(b, 0, sizeof *b);
        b->gemm = (sgemm_fn)(uintptr_t)gemm_p;
        b->set_threads = (set_threads_fn)(uintptr_t)threads_p;
        b->T = T, b->I = I, b->H = H, b->r0 = r0[c], b->n = n[c];
    }
    return 0;
}

#define PTR(v) ((float *)(uintptr_t)(v))

static PyObject *lstm_forward(PyObject *self, PyObject *args) {
    unsigned long long gemm_p, threads_p, x, w_ih, w_hh, bias, xt, acts, cs, hs, tcs, h_out;
    int threads, B, T, I, H, count;
    block_t blocks[MAX_BLOCKS];
    if (!PyArg_ParseTuple(args, "KKiiiiiKKKKKKKKKK", &gemm_p, &threads_p, &threads, &B, &T, &I, &H, &x, &w_ih, &w_hh,
                          &bias, &xt, &acts, &cs, &hs, &tcs, &h_out))
        return NULL;
    if (layout(blocks, &count, gemm_p, threads_p, threads, B, T, I, H) < 0) {
        PyErr_SetString(PyExc_ValueError, "lstm forward: bad dimensions or no sgemm");
        return NULL;
    }
    for (int c = 0; c < count; c++) {
        block_t *b = &blocks[c];
        size_t r = (size_t)b->r0;
        b->x = PTR(x), b->w_ih = PTR(w_ih), b->w_hh = PTR(w_hh), b->bias = PTR(bias), b->h_out = PTR(h_out);
        b->xt = PTR(xt) + r * T * I, b->acts = PTR(acts) + r * T * 4 * H, b->tcs = PTR(tcs) + r * T * H;
        b->cs = PTR(cs) + r * (T + 1) * H, b->hs = PTR(hs) + r * (T + 1) * H;
    }
    Py_BEGIN_ALLOW_THREADS
    run_blocks(blocks, count, 0);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *lstm_backward(PyObject *self, PyObject *args) {
    unsigned long long gemm_p, threads_p, w_hh, xt, acts, cs, hs, tcs, dh_out, dG, grads;
    int threads, B, T, I, H, count, failed = 0;
    block_t blocks[MAX_BLOCKS];
    if (!PyArg_ParseTuple(args, "KKiiiiiKKKKKKKKK", &gemm_p, &threads_p, &threads, &B, &T, &I, &H, &w_hh, &xt, &acts,
                          &cs, &hs, &tcs, &dh_out, &dG, &grads))
        return NULL;
    if (layout(blocks, &count, gemm_p, threads_p, threads, B, T, I, H) < 0) {
        PyErr_SetString(PyExc_ValueError, "lstm backward: bad dimensions or no sgemm");
        return NULL;
    }
    const size_t P = (size_t)4 * H * I + (size_t)4 * H * H + (size_t)4 * H;
    for (int c = 0; c < count; c++) {
        block_t *b = &blocks[c];
        size_t r = (size_t)b->r0;
        b->w_hh = PTR(w_hh), b->dh_out = PTR(dh_out), b->grads = PTR(grads) + c * P;
        b->xt = PTR(xt) + r * T * I, b->acts = PTR(acts) + r * T * 4 * H, b->tcs = PTR(tcs) + r * T * H;
        b->cs = PTR(cs) + r * (T + 1) * H, b->hs = PTR(hs) + r * (T + 1) * H, b->dG = PTR(dG) + r * T * 4 * H;
    }
    Py_BEGIN_ALLOW_THREADS
    run_blocks(blocks, count, 1);
    /* The blocks' weight gradients, summed into the first, in block order (deterministic). */
    for (int c = 1; c < count; c++) add_rows(1, (int)P, PTR(grads) + c * P, PTR(grads));
    Py_END_ALLOW_THREADS
    for (int c = 0; c < count; c++) failed |= blocks[c].status;
    if (failed) return PyErr_NoMemory();
    return PyLong_FromLong(count);
}

static PyObject *block_count(PyObject *self, PyObject *args) {
    int B, threads, r0[MAX_BLOCKS], n[MAX_BLOCKS];
    if (!PyArg_ParseTuple(args, "ii", &B, &threads)) return NULL;
    return PyLong_FromLong(split_rows(B < 1 ? 1 : B, threads < 1 ? 1 : threads, r0, n));
}

static PyMethodDef methods[] = {
    {"forward", lstm_forward, METH_VARARGS,
     "forward(sgemm, set_threads, threads, B, T, I, H, x, w_ih, w_hh, bias, xt, acts, cs, hs, tcs, h_out)"},
    {"backward", lstm_backward, METH_VARARGS,
     "backward(sgemm, set_threads, threads, B, T, I, H, w_hh, xt, acts, cs, hs, tcs, dh_out, dG, grads) -> blocks"},
    {"block_count", block_count, METH_VARARGS, "block_count(B, threads): how many row blocks B rows split into"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lstm_kernel",
                                    "One-layer LSTM forward/backward on row blocks (see _lstm_native.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__lstm_kernel(void) { return PyModule_Create(&module); }
