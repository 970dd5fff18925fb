/* Training step of the VIX paper's LSTM network on the CPU: LSTM -> dense -> linear output, MSE.
 *
 * Why this exists: training the paper's LSTM (section II.B, Table I: 21 lags, LSTM(128), dense(64),
 * batch 32) is a chain of 21 small GEMMs (32x128 by 128x512) forward and 21 backward per step.
 * oneDNN's LSTM (torch's CPU path) runs each of them on both cores, synchronising the threads
 * 42 times a step, and the eager ops around it (dense layers, loss, autograd) cost about as much
 * again at this size. The rows of a batch are independent sequences, so here each thread takes a
 * contiguous block of rows and runs the whole step on it: LSTM forward, dense and output layers,
 * squared errors, and back again, with single-threaded GEMMs. The threads meet once per step, to
 * add up the weight gradients in block order. Same arithmetic as torch.nn.LSTM (gate order
 * i, f, g, o; zero initial state) and nn.Linear; results equal up to float rounding.
 *
 * The GEMM is the caller's: a Fortran-interface sgemm (torch's MKL) passed as a function pointer,
 * with MKL's thread-local thread count setter, so this file needs no BLAS at build time.
 * The work buffer starts with the summed LSTM biases (4H); then come the blocks, one after the
 * other, each laid out for its n rows, time-major:
 *   xt  (T, n, I)      inputs;            acts (T, n, 4H)  gate activations i, f, g, o;
 *   cs  (T+1, n, H)    cell states c_0..c_T (c_0 = 0);  hs (T+1, n, H) hidden states h_0..h_T;
 *   tcs (T, n, H)      tanh(c_t);         dG   (T, n, 4H)  gradients of the gate pre-activations;
 *   z, a, dz (n, D)    dense pre-activations, activations and their gradients;
 *   dh, dc (n, H)      gradients of the hidden and cell states, carried back through time;
 *   yb, g (n)          targets, and the loss gradients of the outputs.
 * Gradients, per block, in the order of the network's parameters: W_ih (4H x I), W_hh (4H x H),
 * b_ih (4H), b_hh (4H), W_dense (D x H), b_dense (D), W_out (1 x D), b_out (1). The first block's
 * hold the batch's gradients at the end; with Adam's moment buffers (same layout) the step then
 * updates the parameters too, where torch.optim.Adam's own step costs more than the kernel's
 * (a wake-up of torch's thread pool and one op per parameter).
 */
#include "_kernel_common.h"

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

/* Dense activations and the output layer: a = relu(z) or z; out_j = b_o + a_j . w_o;
 * err_j = out_j - y_j; g_j = d(mean squared error)/d out_j = scale err_j (scale = 2 / B);
 * dz_j = g_j w_o a'(z_j), with relu'(0) = 0 as in torch. */
static void head_rows(int n, int D, int relu, float scale, const float *restrict z, float *restrict a,
                      const float *restrict w_o, float b_o, const float *restrict y, float *restrict g,
                      float *restrict dz, double *sum_sq, double *sum_abs) {
    for (int j = 0; j < n; j++) {
        const float *zj = z + (size_t)j * D;
        float *aj = a + (size_t)j * D, *dzj = dz + (size_t)j * D;
        float out = b_o;
        for (int k = 0; k < D; k++) {
            aj[k] = relu && zj[k] <= 0.f ? 0.f : zj[k];
            out += aj[k] * w_o[k];
        }
        float err = out - y[j];
        *sum_sq += (double)err * err;
        *sum_abs += err < 0.f ? -(double)err : (double)err;
        g[j] = scale * err;
        for (int k = 0; k < D; k++) dzj[k] = relu && zj[k] <= 0.f ? 0.f : g[j] * w_o[k];
    }
}

typedef struct {
    sgemm_fn gemm;
    set_threads_fn set_threads;
    int B, T, I, H, D, relu, r0, n;
    const float *X, *y, *w_ih, *w_hh, *bias, *w_d, *b_d, *w_o, *b_o;
    const int64_t *idx;
    float *xt, *acts, *cs, *hs, *tcs, *dG, *z, *a, *dz, *dh, *dc, *yb, *g;
    float *grads; /* this block's P floats, laid out as the header says */
    double sum_sq, sum_abs;
} block_t;

/* Floats of the work buffer per batch row (see the header); the buffer adds 4H for the bias. */
static size_t floats_per_row(int T, int I, int H, int D) {
    return (size_t)T * I + (size_t)8 * H * T + (size_t)2 * H * (T + 1) + (size_t)H * T + (size_t)3 * D + (size_t)2 * H + 2;
}

#define N_PARAMS 8

/* Floats of each parameter's gradient, in the order of the header. */
static void parameter_sizes(int I, int H, int D, size_t *sizes) {
    const size_t G4 = (size_t)4 * H;
    const size_t all[N_PARAMS] = {G4 * I, G4 * H, G4, G4, (size_t)D * H, (size_t)D, (size_t)D, 1};
    memcpy(sizes, all, sizeof all);
}

static size_t gradient_floats(int I, int H, int D) {
    size_t sizes[N_PARAMS];
    parameter_sizes(I, H, D, sizes);
    return sum_sizes(N_PARAMS, sizes);
}

/* Gates and states for all T steps of the block's rows: x_t W_ih^T + b + h_{t-1} W_hh^T, cell by cell. */
static void lstm_forward(block_t *b) {
    const int n = b->n, T = b->T, I = b->I, H = b->H, G4 = 4 * H;
    for (int j = 0; j < n; j++) {
        const float *row = b->X + (size_t)b->idx[b->r0 + j] * T * I;
        for (int t = 0; t < T; t++) memcpy(b->xt + ((size_t)t * n + j) * I, row + (size_t)t * I, sizeof(float) * I);
    }
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
}

/* Dense and output layers on h_T, the squared errors, and their gradients back to dL/dh_T. */
static void head(block_t *b, float *const *gp) {
    const int n = b->n, H = b->H, D = b->D;
    const float *hT = b->hs + (size_t)b->T * n * H;
    float *dw_d = gp[4], *db_d = gp[5], *dw_o = gp[6], *db_o = gp[7];
    for (int j = 0; j < n; j++) {
        memcpy(b->z + (size_t)j * D, b->b_d, sizeof(float) * D);
        b->yb[j] = b->y[b->idx[b->r0 + j]];
    }
    gemm(b->gemm, 0, 1, n, D, H, 1.f, hT, H, b->w_d, H, 1.f, b->z, D); /* z = h_T W_d^T + b_d */
    head_rows(n, D, b->relu, 2.f / (float)b->B, b->z, b->a, b->w_o, b->b_o[0], b->yb, b->g, b->dz, &b->sum_sq,
              &b->sum_abs);
    gemm(b->gemm, 1, 0, 1, D, n, 1.f, b->g, 1, b->a, D, 0.f, dw_o, D); /* dW_o = g^T a */
    *db_o = 0.f;
    for (int j = 0; j < n; j++) *db_o += b->g[j];
    gemm(b->gemm, 1, 0, D, H, n, 1.f, b->dz, D, hT, H, 0.f, dw_d, H); /* dW_d = dz^T h_T */
    memset(db_d, 0, sizeof(float) * D);
    add_rows(n, D, b->dz, db_d);
    gemm(b->gemm, 0, 0, n, H, D, 1.f, b->dz, D, b->w_d, H, 0.f, b->dh, H); /* dL/dh_T = dz W_d */
}

/* Back through time from dL/dh_T (in dh), then the LSTM's weight gradients. */
static void lstm_backward(block_t *b, float *const *gp) {
    const int n = b->n, T = b->T, I = b->I, H = b->H, G4 = 4 * H;
    memset(b->dc, 0, sizeof(float) * n * H);
    for (int t = T - 1; t >= 0; t--) {
        float *dG = b->dG + (size_t)t * n * G4;
        cell_backward(n, H, b->acts + (size_t)t * n * G4, b->cs + (size_t)t * n * H, b->tcs + (size_t)t * n * H, b->dh,
                      b->dc, dG);
        if (t > 0) /* dL/dh_{t-1} = dG_t W_hh */
            gemm(b->gemm, 0, 0, n, H, G4, 1.f, dG, G4, b->w_hh, H, 0.f, b->dh, H);
    }
    float *dw_ih = gp[0], *dw_hh = gp[1], *db_ih = gp[2], *db_hh = gp[3];
    /* dW_hh = sum_t dG_t^T h_{t-1} (t >= 1: h_0 = 0), dW_ih = sum_t dG_t^T x_t, db = sum_t, rows dG_t */
    gemm(b->gemm, 1, 0, G4, H, (T - 1) * n, 1.f, b->dG + (size_t)n * G4, G4, b->hs + (size_t)n * H, H, 0.f, dw_hh, H);
    gemm(b->gemm, 1, 0, G4, I, T * n, 1.f, b->dG, G4, b->xt, I, 0.f, dw_ih, I);
    memset(db_ih, 0, sizeof(float) * G4);
    add_rows(T * n, G4, b->dG, db_ih);
    memcpy(db_hh, db_ih, sizeof(float) * G4); /* b_ih and b_hh enter the gates alike */
}

static void run_block(void *block) {
    block_t *b = block;
    /* Each thread's GEMMs run on that thread alone (MKL would otherwise start threads of its own). */
    int previous = b->set_threads ? b->set_threads(1) : 0;
    lstm_forward(b);
    size_t sizes[N_PARAMS]; /* the block's gradient, parameter by parameter */
    float *gp[N_PARAMS];
    parameter_sizes(b->I, b->H, b->D, sizes);
    for (size_t i = 0, at = 0; i < N_PARAMS; at += sizes[i], i++) gp[i] = b->grads + at;
    head(b, gp);
    lstm_backward(b, gp);
    if (b->set_threads) b->set_threads(previous);
}

/* Carve a block's buffers out of the work buffer, in the order of the header. */
static void carve(block_t *b, float *work) {
    const size_t n = (size_t)b->n, T = (size_t)b->T, I = (size_t)b->I, H = (size_t)b->H, D = (size_t)b->D;
    float *p = work + 4 * H + (size_t)b->r0 * floats_per_row(b->T, b->I, b->H, b->D);
    b->xt = p, p += T * n * I;
    b->acts = p, p += T * n * 4 * H;
    b->cs = p, p += (T + 1) * n * H;
    b->hs = p, p += (T + 1) * n * H;
    b->tcs = p, p += T * n * H;
    b->dG = p, p += T * n * 4 * H;
    b->z = p, p += n * D;
    b->a = p, p += n * D;
    b->dz = p, p += n * D;
    b->dh = p, p += n * H;
    b->dc = p, p += n * H;
    b->yb = p, p += n;
    b->g = p;
}

static PyObject *train_step(PyObject *self, PyObject *args) {
    unsigned long long gemm_p, threads_p, X, idx, y, w_ih, w_hh, b_ih, b_hh, w_d, b_d, w_o, b_o, work, grads, m, v;
    int threads, B, T, I, H, D, relu, r0[MAX_BLOCKS], n[MAX_BLOCKS];
    long long work_size, grads_size;
    float adam[7]; /* beta1, beta2, 1 - beta1, 1 - beta2, step_size, sqrt(1 - beta2^t), eps */
    block_t blocks[MAX_BLOCKS];
    if (!PyArg_ParseTuple(args, "KKiiiiiipKKKKKKKKKKKKLKL(KKfffffff)", &gemm_p, &threads_p, &threads, &B, &T, &I, &H, &D,
                          &relu, &X, &idx, &y, &w_ih, &w_hh, &b_ih, &b_hh, &w_d, &b_d, &w_o, &b_o, &work, &work_size,
                          &grads, &grads_size, &m, &v, &adam[0], &adam[1], &adam[2], &adam[3], &adam[4],
                          &adam[5], &adam[6]))
        return NULL;
    if (gemm_p == 0 || B < 1 || T < 1 || I < 1 || H < 1 || D < 1) {
        PyErr_SetString(PyExc_ValueError, "lstm train_step: bad dimensions or no sgemm");
        return NULL;
    }
    const int count = split_rows(B, threads < 1 ? 1 : threads, r0, n);
    const size_t P = gradient_floats(I, H, D);
    if ((size_t)work_size < 4 * (size_t)H + (size_t)B * floats_per_row(T, I, H, D) || (size_t)grads_size < count * P) {
        PyErr_SetString(PyExc_ValueError, "lstm train_step: work or gradient buffer too small");
        return NULL;
    }
    float *bias = PTR(work);
    for (int k = 0; k < 4 * H; k++) bias[k] = PTR(b_ih)[k] + PTR(b_hh)[k];
    for (int c = 0; c < count; c++) {
        block_t *b = &blocks[c];
        memset(b, 0, sizeof *b);
        b->gemm = (sgemm_fn)(uintptr_t)gemm_p;
        b->set_threads = (set_threads_fn)(uintptr_t)threads_p;
        b->B = B, b->T = T, b->I = I, b->H = H, b->D = D, b->relu = relu, b->r0 = r0[c], b->n = n[c];
        b->X = PTR(X), b->y = PTR(y), b->idx = (const int64_t *)(uintptr_t)idx;
        b->w_ih = PTR(w_ih), b->w_hh = PTR(w_hh), b->bias = bias;
        b->w_d = PTR(w_d), b->b_d = PTR(b_d), b->w_o = PTR(w_o), b->b_o = PTR(b_o);
        b->grads = PTR(grads) + c * P;
        carve(b, PTR(work));
    }
    double sum_sq = 0.0, sum_abs = 0.0;
    Py_BEGIN_ALLOW_THREADS
    run_blocks(blocks, sizeof blocks[0], count, run_block, PTR(grads), P);
    for (int c = 0; c < count; c++) sum_sq += blocks[c].sum_sq, sum_abs += blocks[c].sum_abs;
    if (m != 0 && v != 0) { /* Adam on each parameter, from its slice of the gradient layout */
        float *params[N_PARAMS] = {PTR(w_ih), PTR(w_hh), PTR(b_ih), PTR(b_hh), PTR(w_d), PTR(b_d), PTR(w_o), PTR(b_o)};
        size_t sizes[N_PARAMS];
        parameter_sizes(I, H, D, sizes);
        adam_parameters(N_PARAMS, sizes, params, PTR(grads), PTR(m), PTR(v), adam);
    }
    Py_END_ALLOW_THREADS
    return Py_BuildValue("dd", sum_sq, sum_abs);
}

static PyObject *buffer_sizes(PyObject *self, PyObject *args) {
    int B, T, I, H, D, threads, r0[MAX_BLOCKS], n[MAX_BLOCKS];
    if (!PyArg_ParseTuple(args, "iiiiii", &B, &T, &I, &H, &D, &threads)) return NULL;
    if (B < 1 || T < 1 || I < 1 || H < 1 || D < 1) {
        PyErr_SetString(PyExc_ValueError, "lstm buffer_sizes: dimensions must be positive");
        return NULL;
    }
    int count = split_rows(B, threads < 1 ? 1 : threads, r0, n);
    return Py_BuildValue("nn", (Py_ssize_t)(4 * (size_t)H + (size_t)B * floats_per_row(T, I, H, D)),
                         (Py_ssize_t)(count * gradient_floats(I, H, D)));
}

static PyMethodDef methods[] = {
    {"train_step", train_step, METH_VARARGS,
     "train_step(sgemm, set_threads, threads, B, T, I, H, D, relu, X, idx, y, w_ih, w_hh, b_ih, b_hh, w_dense, "
     "b_dense, w_out, b_out, work, work_size, grads, grads_size, (m, v, beta1, beta2, 1 - beta1, 1 - beta2, "
     "step_size, sqrt(1 - beta2^t), eps)) -> (sum of squared errors, sum of absolute errors); "
     "m = v = 0: gradients only, no Adam step"},
    {"buffer_sizes", buffer_sizes, METH_VARARGS,
     "buffer_sizes(B, T, I, H, D, threads) -> (work floats, gradient floats) that train_step needs"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lstm_kernel",
                                    "Training step of the LSTM -> dense -> output network (see _lstm_native.py).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__lstm_kernel(void) { return PyModule_Create(&module); }
