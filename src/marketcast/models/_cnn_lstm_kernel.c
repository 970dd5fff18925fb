/* Training step of the Stock-X CNN-LSTM (Aadhitya et al., Fig. 3-4) on the CPU.
 *
 * Why this exists: one step of the paper's network on a batch of 40 windows is about 0.6 GFLOP
 * of GEMMs in 17 small products, and about as much time again goes to the eager work around
 * them (some 60 small ops forward and back, autograd, Adam over 883k parameters). As in
 * _lstm_kernel.c, each thread takes a contiguous block of the batch's rows and runs the whole
 * step on it with single-threaded GEMMs: the conv stages (Conv1D 'valid' as im2col and one
 * GEMM, ReLU, MaxPooling1D(2) 'valid'), the two one-step BiLSTMs with their dropout, the linear
 * output, the squared errors, and back. The threads meet once per step, to add up the weight
 * gradients in block order; then Adam, as torch.optim.Adam computes it.
 *
 * Same arithmetic as CNNLSTMNet in _nets.py (channels-last; the pooling gradient goes to the
 * first maximum of its pair, TensorFlow's rule; OneStepBiLSTM: c = i g, h = o tanh(c)); the
 * dropout masks (0 or 1 / (1 - p)) are drawn by the caller with torch's generator, in the order
 * autograd's path draws them. Buffers per block of n rows, in this order (see carve()):
 *   x (n, W)                         the windows;
 *   per stage s: cols (n*steps, C*k) im2col rows, z (n*steps, F) convolution outputs,
 *                p (n, L, F) pooled, dz, dp and dcols their gradients (dcols from stage 1 on);
 *   per BiLSTM l: A (n, 8U) gates (i, g, o activations; f unused), tc, h, hd (n, 2U) tanh(c),
 *                h and h after dropout, dA (n, 8U) and dh (n, 2U) gradients;
 *   yb, g (n)                        targets and output gradients.
 * Gradients, per block: per stage W (F x C x k) and b (F), per BiLSTM W_ih (8U x In) and b (8U),
 * then W_out (2U) and b_out (1): the network's parameters in order, without the unused W_hh.
 */
#include "_kernel_common.h"

#define MAX_STAGES 8

typedef struct {
    int S, k, W, U;               /* stages, kernel, window, LSTM units */
    int C[MAX_STAGES], F[MAX_STAGES], L_in[MAX_STAGES], steps[MAX_STAGES], L_out[MAX_STAGES];
    int flat;                     /* L_out * F of the last stage: the first BiLSTM's input */
    int count;                    /* parameters: 2 per stage, 2 per BiLSTM, 2 for the output */
    size_t sizes[2 * MAX_STAGES + 6]; /* floats of each parameter's gradient, in the header's order */
} dims_t;

typedef struct {
    float *cols, *z, *p, *dz, *dp, *dcols;
} stage_t;

typedef struct {
    float *A, *tc, *h, *hd, *dA, *dh;
} bilstm_t;

typedef struct {
    sgemm_fn gemm;
    set_threads_fn set_threads;
    const dims_t *d;
    int B, r0, n;
    const float *X, *y, *masks; /* masks: (B, 2U) for each BiLSTM, one after the other */
    const int64_t *idx;
    const float *const *params; /* stage W, b ..., BiLSTM W_ih, b, BiLSTM W_ih, b, W_out, b_out */
    float *x, *yb, *g;
    stage_t st[MAX_STAGES];
    bilstm_t ls[2];
    float *grads;
    double sum_sq, sum_abs;
} block_t;

static int set_dims(dims_t *d, int S, int k, int W, int U, const int *filters) {
    if (S < 1 || S > MAX_STAGES || k < 1 || W < 1 || U < 1) return -1;
    d->S = S, d->k = k, d->W = W, d->U = U;
    int C = 1, L = W;
    for (int s = 0; s < S; s++) {
        if (filters[s] < 1 || L - k + 1 < 2) return -1;
        d->C[s] = C, d->F[s] = filters[s], d->L_in[s] = L, d->steps[s] = L - k + 1, d->L_out[s] = (L - k + 1) / 2;
        C = filters[s], L = d->L_out[s];
    }
    d->flat = L * C;
    d->count = 2 * S + 6;
    for (int s = 0; s < S; s++) {
        d->sizes[2 * s] = (size_t)d->F[s] * d->C[s] * k;
        d->sizes[2 * s + 1] = (size_t)d->F[s];
    }
    for (int l = 0; l < 2; l++) {
        d->sizes[2 * S + 2 * l] = (size_t)8 * U * (l == 0 ? d->flat : 2 * U);
        d->sizes[2 * S + 2 * l + 1] = (size_t)8 * U;
    }
    d->sizes[2 * S + 4] = (size_t)2 * U, d->sizes[2 * S + 5] = 1;
    return 0;
}

static size_t floats_per_row(const dims_t *d) {
    size_t total = (size_t)d->W + 2;
    for (int s = 0; s < d->S; s++) {
        size_t ck = (size_t)d->C[s] * d->k, sf = (size_t)d->steps[s] * d->F[s], pf = (size_t)d->L_out[s] * d->F[s];
        total += (size_t)d->steps[s] * ck * (s > 0 ? 2 : 1) + 2 * sf + 2 * pf;
    }
    return total + 2 * ((size_t)16 * d->U + (size_t)8 * d->U);
}

static size_t gradient_floats(const dims_t *d) { return sum_sizes(d->count, d->sizes); }

static void carve(block_t *b, float *work) {
    const dims_t *d = b->d;
    const size_t n = (size_t)b->n, U = (size_t)d->U;
    float *p = work + (size_t)b->r0 * floats_per_row(d);
    b->x = p, p += n * d->W;
    for (int s = 0; s < d->S; s++) {
        stage_t *st = &b->st[s];
        size_t rows = n * d->steps[s], ck = (size_t)d->C[s] * d->k;
        st->cols = p, p += rows * ck;
        st->z = p, p += rows * d->F[s];
        st->p = p, p += n * d->L_out[s] * d->F[s];
        st->dz = p, p += rows * d->F[s];
        st->dp = p, p += n * d->L_out[s] * d->F[s];
        st->dcols = s > 0 ? p : NULL, p += s > 0 ? rows * ck : 0;
    }
    for (int l = 0; l < 2; l++) {
        bilstm_t *ls = &b->ls[l];
        ls->A = p, p += n * 8 * U;
        ls->dA = p, p += n * 8 * U;
        ls->tc = p, p += n * 2 * U;
        ls->h = p, p += n * 2 * U;
        ls->hd = p, p += n * 2 * U;
        ls->dh = p, p += n * 2 * U;
    }
    b->yb = p, p += n;
    b->g = p;
}

/* cols[(j, t), (c, tap)] = in[j, t + tap, c]: Conv1D 'valid' windows as rows, torch.unfold's order. */
static void im2col(int n, int L, int C, int k, int steps, const float *restrict in, float *restrict cols) {
    for (int j = 0; j < n; j++)
        for (int t = 0; t < steps; t++) {
            float *row = cols + ((size_t)j * steps + t) * C * k;
            const float *src = in + ((size_t)j * L + t) * C;
            for (int c = 0; c < C; c++)
                for (int tap = 0; tap < k; tap++) row[c * k + tap] = src[(size_t)tap * C + c];
        }
}

/* The inverse scatter, adding: in_grad[j, t + tap, c] += dcols[(j, t), (c, tap)]. */
static void col2im_add(int n, int L, int C, int k, int steps, const float *restrict dcols, float *restrict in_grad) {
    for (int j = 0; j < n; j++)
        for (int t = 0; t < steps; t++) {
            const float *row = dcols + ((size_t)j * steps + t) * C * k;
            float *dst = in_grad + ((size_t)j * L + t) * C;
            for (int c = 0; c < C; c++)
                for (int tap = 0; tap < k; tap++) dst[(size_t)tap * C + c] += row[c * k + tap];
        }
}

/* p[j, t, f] = max(relu(z[j, 2t, f]), relu(z[j, 2t+1, f])): MaxPooling1D(2) 'valid' after ReLU. */
VECTOR_CLONES
static void relu_pool(int n, int steps, int F, const float *restrict z, float *restrict p) {
    const int L = steps / 2;
    for (int j = 0; j < n; j++)
        for (int t = 0; t < L; t++) {
            const float *a = z + ((size_t)j * steps + 2 * t) * F, *b = a + F;
            float *o = p + ((size_t)j * L + t) * F;
            for (int f = 0; f < F; f++) {
                float top = a[f] >= b[f] ? a[f] : b[f];
                o[f] = top > 0.f ? top : 0.f;
            }
        }
}

/* Its gradient: to the first maximum of each pair where that maximum is positive, else nothing. */
VECTOR_CLONES
static void relu_pool_backward(int n, int steps, int F, const float *restrict z, const float *restrict dp,
                               float *restrict dz) {
    const int L = steps / 2;
    memset(dz, 0, sizeof(float) * (size_t)n * steps * F);
    for (int j = 0; j < n; j++)
        for (int t = 0; t < L; t++) {
            const float *a = z + ((size_t)j * steps + 2 * t) * F, *b = a + F;
            const float *g = dp + ((size_t)j * L + t) * F;
            float *da = dz + ((size_t)j * steps + 2 * t) * F, *db = da + F;
            for (int f = 0; f < F; f++) {
                int first = a[f] >= b[f];
                float top = first ? a[f] : b[f], live = top > 0.f ? g[f] : 0.f;
                da[f] = first ? live : 0.f;
                db[f] = first ? 0.f : live;
            }
        }
}

/* One LSTM step from zero states, both directions: A holds the pre-activations (n, 2, 4, U) on
 * entry and the activations i, g, o on exit; h = o tanh(i g); hd = h * mask (dropout). */
VECTOR_CLONES
static void bilstm_cell(int n, int U, float *restrict A, float *restrict tc, float *restrict h, float *restrict hd,
                        const float *restrict mask) {
    for (int j = 0; j < n; j++)
        for (int dir = 0; dir < 2; dir++) {
            float *ai = A + ((size_t)j * 2 + dir) * 4 * U, *ag = ai + 2 * U, *ao = ai + 3 * U;
            size_t at = ((size_t)j * 2 + dir) * U;
            float *tj = tc + at, *hj = h + at, *hdj = hd + at;
            const float *mj = mask + at;
            for (int u = 0; u < U; u++) {
                float i = sigmoid(ai[u]), g = tanh_(ag[u]), o = sigmoid(ao[u]), t = tanh_(i * g);
                ai[u] = i, ag[u] = g, ao[u] = o;
                tj[u] = t, hj[u] = o * t, hdj[u] = o * t * mj[u];
            }
        }
}

/* Its gradient: dhd (after dropout) to dA, the pre-activations' (the forget gate's stays 0). */
VECTOR_CLONES
static void bilstm_cell_backward(int n, int U, const float *restrict A, const float *restrict tc,
                                 const float *restrict mask, const float *restrict dhd, float *restrict dA) {
    for (int j = 0; j < n; j++)
        for (int dir = 0; dir < 2; dir++) {
            const float *ai = A + ((size_t)j * 2 + dir) * 4 * U, *ag = ai + 2 * U, *ao = ai + 3 * U;
            float *di = dA + ((size_t)j * 2 + dir) * 4 * U, *df = di + U, *dg = df + U, *d_o = dg + U;
            size_t at = ((size_t)j * 2 + dir) * U;
            const float *tj = tc + at, *mj = mask + at, *gj = dhd + at;
            for (int u = 0; u < U; u++) {
                float i = ai[u], g = ag[u], o = ao[u], t = tj[u], dh = gj[u] * mj[u];
                float dc = dh * o * (1.f - t * t);
                di[u] = dc * g * i * (1.f - i);
                df[u] = 0.f;
                dg[u] = dc * i * (1.f - g * g);
                d_o[u] = dh * t * o * (1.f - o);
            }
        }
}

static void set_rows(int rows, int width, const float *restrict bias, float *restrict out) {
    for (int r = 0; r < rows; r++) memcpy(out + (size_t)r * width, bias, sizeof(float) * width);
}

static void run_block(void *block) {
    block_t *b = block;
    const dims_t *d = b->d;
    const int n = b->n, S = d->S, k = d->k, U = d->U;
    const float *const *P = b->params;
    const float *W_o = P[2 * S + 4], *b_o = P[2 * S + 5];
    int previous = b->set_threads ? b->set_threads(1) : 0;

    /* forward */
    for (int j = 0; j < n; j++) {
        memcpy(b->x + (size_t)j * d->W, b->X + (size_t)b->idx[b->r0 + j] * d->W, sizeof(float) * d->W);
        b->yb[j] = b->y[b->idx[b->r0 + j]];
    }
    const float *in = b->x;
    for (int s = 0; s < S; s++) {
        stage_t *st = &b->st[s];
        const int rows = n * d->steps[s], ck = d->C[s] * k;
        im2col(n, d->L_in[s], d->C[s], k, d->steps[s], in, st->cols);
        set_rows(rows, d->F[s], P[2 * s + 1], st->z);
        gemm(b->gemm, 0, 1, rows, d->F[s], ck, 1.f, st->cols, ck, P[2 * s], ck, 1.f, st->z, d->F[s]);
        relu_pool(n, d->steps[s], d->F[s], st->z, st->p);
        in = st->p;
    }
    for (int l = 0; l < 2; l++) {
        bilstm_t *ls = &b->ls[l];
        const int inputs = l == 0 ? d->flat : 2 * U;
        const float *x = l == 0 ? b->st[S - 1].p : b->ls[0].hd;
        set_rows(n, 8 * U, P[2 * S + 2 * l + 1], ls->A);
        gemm(b->gemm, 0, 1, n, 8 * U, inputs, 1.f, x, inputs, P[2 * S + 2 * l], inputs, 1.f, ls->A, 8 * U);
        bilstm_cell(n, U, ls->A, ls->tc, ls->h, ls->hd, b->masks + ((size_t)l * b->B + b->r0) * 2 * U);
    }
    const float scale = 2.f / (float)b->B;
    for (int j = 0; j < n; j++) {
        const float *hj = b->ls[1].hd + (size_t)j * 2 * U;
        float out = b_o[0];
        for (int u = 0; u < 2 * U; u++) out += hj[u] * W_o[u];
        float err = out - b->yb[j];
        b->sum_sq += (double)err * err;
        b->sum_abs += err < 0.f ? -(double)err : (double)err;
        b->g[j] = scale * err;
    }

    /* backward; gradient slices in the order of the header */
    float *gp[2 * MAX_STAGES + 6];
    for (size_t i = 0, at = 0; i < (size_t)d->count; at += d->sizes[i], i++) gp[i] = b->grads + at;
    gemm(b->gemm, 1, 0, 1, 2 * U, n, 1.f, b->g, 1, b->ls[1].hd, 2 * U, 0.f, gp[2 * S + 4], 2 * U); /* dW_out */
    gp[2 * S + 5][0] = 0.f;
    for (int j = 0; j < n; j++) gp[2 * S + 5][0] += b->g[j];
    float *dhd = b->ls[1].dh; /* dL/d(hd of the second BiLSTM) = g W_out */
    for (int j = 0; j < n; j++)
        for (int u = 0; u < 2 * U; u++) dhd[(size_t)j * 2 * U + u] = b->g[j] * W_o[u];
    for (int l = 1; l >= 0; l--) {
        bilstm_t *ls = &b->ls[l];
        const int inputs = l == 0 ? d->flat : 2 * U;
        const float *x = l == 0 ? b->st[S - 1].p : b->ls[0].hd;
        float *dx = l == 0 ? b->st[S - 1].dp : b->ls[0].dh;
        bilstm_cell_backward(n, U, ls->A, ls->tc, b->masks + ((size_t)l * b->B + b->r0) * 2 * U, ls->dh, ls->dA);
        gemm(b->gemm, 1, 0, 8 * U, inputs, n, 1.f, ls->dA, 8 * U, x, inputs, 0.f, gp[2 * S + 2 * l], inputs);
        memset(gp[2 * S + 2 * l + 1], 0, sizeof(float) * 8 * U);
        add_rows(n, 8 * U, ls->dA, gp[2 * S + 2 * l + 1]);
        gemm(b->gemm, 0, 0, n, inputs, 8 * U, 1.f, ls->dA, 8 * U, P[2 * S + 2 * l], inputs, 0.f, dx, inputs);
    }
    for (int s = S - 1; s >= 0; s--) {
        stage_t *st = &b->st[s];
        const int rows = n * d->steps[s], ck = d->C[s] * k, F = d->F[s];
        relu_pool_backward(n, d->steps[s], F, st->z, st->dp, st->dz);
        gemm(b->gemm, 1, 0, F, ck, rows, 1.f, st->dz, F, st->cols, ck, 0.f, gp[2 * s], ck); /* dW = dz^T cols */
        memset(gp[2 * s + 1], 0, sizeof(float) * F);
        add_rows(rows, F, st->dz, gp[2 * s + 1]);
        if (s > 0) { /* the previous stage's pooled output gets dcols, scattered back */
            gemm(b->gemm, 0, 0, rows, ck, F, 1.f, st->dz, F, P[2 * s], ck, 0.f, st->dcols, ck);
            memset(b->st[s - 1].dp, 0, sizeof(float) * (size_t)n * d->L_in[s] * d->C[s]);
            col2im_add(n, d->L_in[s], d->C[s], k, d->steps[s], st->dcols, b->st[s - 1].dp);
        }
    }
    if (b->set_threads) b->set_threads(previous);
}

static int read_pointers(PyObject *seq, int count, unsigned long long *out) {
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of addresses");
    if (fast == NULL) return -1;
    int ok = PySequence_Fast_GET_SIZE(fast) == count;
    for (int i = 0; ok && i < count; i++) {
        out[i] = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(fast, i));
        ok = !PyErr_Occurred();
    }
    Py_DECREF(fast);
    if (!ok && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "cnn_lstm: wrong number of addresses");
    return ok ? 0 : -1;
}

static int read_dims(PyObject *filters, int k, int W, int U, dims_t *d) {
    unsigned long long f[MAX_STAGES];
    Py_ssize_t S = PySequence_Size(filters);
    if (S < 1 || S > MAX_STAGES) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "cnn_lstm: 1 to 8 conv stages");
        return -1;
    }
    if (read_pointers(filters, (int)S, f) < 0) return -1;
    int F[MAX_STAGES];
    for (int s = 0; s < S; s++) F[s] = (int)f[s];
    if (set_dims(d, (int)S, k, W, U, F) < 0) {
        PyErr_SetString(PyExc_ValueError, "cnn_lstm: the window is too short for the conv stages");
        return -1;
    }
    return 0;
}

static PyObject *train_step(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long gemm_p, threads_p, X, idx, y, masks, work, grads, m, v, params[2 * MAX_STAGES + 6];
    PyObject *filters, *param_seq;
    int threads, B, k, W, U, r0[MAX_BLOCKS], n[MAX_BLOCKS];
    long long work_size, grads_size;
    float adam[7]; /* beta1, beta2, 1 - beta1, 1 - beta2, step_size, sqrt(1 - beta2^t), eps */
    dims_t d;
    block_t blocks[MAX_BLOCKS];
    if (!PyArg_ParseTuple(args, "KKiiOiiiKKKKOKLKL(KKfffffff)", &gemm_p, &threads_p, &threads, &B, &filters, &k, &W,
                          &U, &X, &idx, &y, &masks, &param_seq, &work, &work_size, &grads, &grads_size, &m, &v,
                          &adam[0], &adam[1], &adam[2], &adam[3], &adam[4], &adam[5], &adam[6]))
        return NULL;
    if (read_dims(filters, k, W, U, &d) < 0) return NULL;
    if (read_pointers(param_seq, d.count, params) < 0) return NULL;
    if (gemm_p == 0 || B < 1) {
        PyErr_SetString(PyExc_ValueError, "cnn_lstm train_step: no rows or no sgemm");
        return NULL;
    }
    const int count = split_rows(B, threads < 1 ? 1 : threads, r0, n);
    const size_t G = gradient_floats(&d);
    if ((size_t)work_size < (size_t)B * floats_per_row(&d) || (size_t)grads_size < count * G) {
        PyErr_SetString(PyExc_ValueError, "cnn_lstm train_step: work or gradient buffer too small");
        return NULL;
    }
    const float *P[2 * MAX_STAGES + 6];
    for (int i = 0; i < d.count; i++) P[i] = PTR(params[i]);
    for (int c = 0; c < count; c++) {
        block_t *b = &blocks[c];
        memset(b, 0, sizeof *b);
        b->gemm = (sgemm_fn)(uintptr_t)gemm_p;
        b->set_threads = (set_threads_fn)(uintptr_t)threads_p;
        b->d = &d, b->B = B, b->r0 = r0[c], b->n = n[c];
        b->X = PTR(X), b->y = PTR(y), b->masks = PTR(masks), b->idx = (const int64_t *)(uintptr_t)idx;
        b->params = P, b->grads = PTR(grads) + c * G;
        carve(b, PTR(work));
    }
    double sum_sq = 0.0, sum_abs = 0.0;
    Py_BEGIN_ALLOW_THREADS
    run_blocks(blocks, sizeof blocks[0], count, run_block, PTR(grads), G);
    for (int c = 0; c < count; c++) sum_sq += blocks[c].sum_sq, sum_abs += blocks[c].sum_abs;
    if (m != 0 && v != 0) adam_parameters(d.count, d.sizes, (float *const *)P, PTR(grads), PTR(m), PTR(v), adam);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("dd", sum_sq, sum_abs);
}

static PyObject *buffer_sizes(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *filters;
    int B, k, W, U, threads, r0[MAX_BLOCKS], n[MAX_BLOCKS];
    dims_t d;
    if (!PyArg_ParseTuple(args, "iOiiii", &B, &filters, &k, &W, &U, &threads)) return NULL;
    if (read_dims(filters, k, W, U, &d) < 0) return NULL;
    if (B < 1) {
        PyErr_SetString(PyExc_ValueError, "cnn_lstm buffer_sizes: no rows");
        return NULL;
    }
    int count = split_rows(B, threads < 1 ? 1 : threads, r0, n);
    return Py_BuildValue("nn", (Py_ssize_t)((size_t)B * floats_per_row(&d)), (Py_ssize_t)(count * gradient_floats(&d)));
}

static PyMethodDef methods[] = {
    {"train_step", train_step, METH_VARARGS,
     "train_step(sgemm, set_threads, threads, B, filters, kernel, window, units, X, idx, y, masks, params, work, "
     "work_size, grads, grads_size, (m, v, beta1, beta2, 1 - beta1, 1 - beta2, step_size, sqrt(1 - beta2^t), eps)) "
     "-> (sum of squared errors, sum of absolute errors); m = v = 0: gradients only, no Adam step"},
    {"buffer_sizes", buffer_sizes, METH_VARARGS,
     "buffer_sizes(B, filters, kernel, window, units, threads) -> (work floats, gradient floats) train_step needs"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cnn_lstm_kernel",
                                    "Training step of the Stock-X CNN-LSTM (see _cnn_lstm_native.py).", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__cnn_lstm_kernel(void) { return PyModule_Create(&module); }
