/* Pieces shared by the CPU training kernels (_lstm_kernel.c, _cnn_lstm_kernel.c): the caller's
 * sgemm, a branch-free exp, Adam in torch's form, and the split of a batch into row blocks.
 * _nnet_kernel.c takes only the includes and VECTOR_CLONES. */
#ifndef MARKETCAST_KERNEL_COMMON_H
#define MARKETCAST_KERNEL_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
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

/* MARKETCAST_GENERIC_KERNELS (a -D define) forces the portable branch, as CI does to check it. */
#if !defined(MARKETCAST_GENERIC_KERNELS) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) \
    && defined(__linux__)
/* The elementwise loops vectorise; an AVX2+FMA copy is picked at load time where the CPU has it. */
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
/* Elsewhere (clang, ARM, macOS): one copy for the compiler's default target. */
#define VECTOR_CLONES
#endif

/* Row-major C(m x n) = alpha op(A) op(B) + beta C with a column-major sgemm: C^T = op(B)^T op(A)^T. */
static inline void gemm(sgemm_fn f, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
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

VECTOR_CLONES
static inline void add_rows(int rows, int width, const float *restrict X, float *restrict out) {
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < width; k++) out[k] += X[(size_t)r * width + k];
}

/* Adam (Kingma and Ba 2015) in the form of torch.optim.Adam's fused CPU step, without weight decay:
 *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
 *   p = p - step_size m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  step_size = lr / (1 - beta1^t).
 * c1 = 1 - beta1 and c2 = 1 - beta2 come from the caller in double precision, as torch's do. */
VECTOR_CLONES
static inline void adam_update(size_t count, float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, const float *coefficients) {
    const float beta1 = coefficients[0], beta2 = coefficients[1], c1 = coefficients[2], c2 = coefficients[3];
    const float step_size = coefficients[4], bc2_sqrt = coefficients[5], eps = coefficients[6];
    for (size_t i = 0; i < count; i++) {
        m[i] = m[i] * beta1 + g[i] * c1;
        v[i] = v[i] * beta2 + g[i] * g[i] * c2;
        p[i] = p[i] - step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

/* Adam on each of count parameters, whose gradients and moments lie one after the other in
 * grads, m and v (sizes[i] floats each, in the parameters' order). */
static inline void adam_parameters(int count, const size_t *sizes, float *const *params, const float *grads, float *m,
                                   float *v, const float *coefficients) {
    for (size_t i = 0, at = 0; i < (size_t)count; at += sizes[i], i++)
        adam_update(sizes[i], params[i], grads + at, m + at, v + at, coefficients);
}

static inline size_t sum_sizes(int count, const size_t *sizes) {
    size_t total = 0;
    for (int i = 0; i < count; i++) total += sizes[i];
    return total;
}

/* Split B rows into blocks of at least MIN_BLOCK_ROWS, at most one per thread. */
static inline int split_rows(int B, int threads, int *r0, int *n) {
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

#define PTR(v) ((float *)(uintptr_t)(v))

/* Run fn on each of count blocks (size bytes apart), one thread each, then add the blocks'
 * gradients (P floats each, one after the other from grads) into the first, in block order,
 * so that the sums do not depend on which thread finishes first. */
static inline void run_blocks(void *blocks, size_t size, int count, void (*fn)(void *), float *grads, size_t P) {
    if (count == 1) {
        fn(blocks);
    } else {
#ifdef _OPENMP
#pragma omp parallel for num_threads(count) schedule(static, 1)
#endif
        for (int c = 0; c < count; c++) fn((char *)blocks + (size_t)c * size);
    }
    for (int c = 1; c < count; c++) add_rows(1, (int)P, grads + (size_t)c * P, grads);
}

#endif
