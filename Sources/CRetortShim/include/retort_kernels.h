// SIMD micro-kernels for RetortRuntime's matmuls, written in C because Swift cannot enable target
// features (AVX2, dotprod) per function. Swift selects a path at run time (Kernels.active) and
// calls these on column ranges [n0, n1) of the output; the thread pool splits the columns.
//
// Shapes (T = rows of activations, K = inputs, N = outputs; all row-major, K contiguous):
//   x  [T][K]  activations (f32, or int8 quantized per row with scale xs[T])
//   w  [N][K]  weights (int8 with scale ws[N], f32, or f16 bits)
//   y  [T][N]  outputs, row stride `ldy`
// Int8 results: y[t][n] = ((float)acc * xs[t]) * ws[n], acc = Σ_k x[t][k]·w[n][k] in int32, values
// in [-127, 127] (so u8×s8 pair sums never saturate int16: 2·127·127 = 32258 < 32767). With
// `acc != NULL` the raw int32 sums are stored instead (row stride `ldy`), for exact tests.
// Quantization: scale = absmax/127, q = round-half-to-even(x · (127/absmax)) clamped to ±127.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - CPU features (0/1; false on other architectures)
int retort_cpu_has_avx2_fma(void);   // x86-64: AVX2 + FMA + F16C
int retort_cpu_has_neon(void);       // aarch64: always 1
int retort_cpu_has_neon_dot(void);   // aarch64: SDOT (HWCAP_ASIMDDP)

// MARK: - x86-64 AVX2 (defined only on x86-64)
void retort_gemm_i8_avx2(float *y, int32_t *acc, int64_t ldy,
                         const int8_t *x, const float *xs, const int8_t *w, const float *ws,
                         int64_t t, int64_t k, int64_t n0, int64_t n1);
void retort_gemm_i8g_avx2(float *y, int64_t ldy, const int8_t *x, const float *xs,
                          const int8_t *w, const float *ws, int64_t t, int64_t k,
                          int64_t g, int64_t n0, int64_t n1);   // per-group scales, g % 32 == 0
void retort_gemm_f32_avx2(float *y, int64_t ldy, const float *x, const float *w,
                          int64_t t, int64_t k, int64_t n0, int64_t n1);
void retort_gemm_f16_avx2(float *y, int64_t ldy, const float *x, const uint16_t *w,
                          int64_t t, int64_t k, int64_t n0, int64_t n1);
void retort_quantize_rows_i8_avx2(int8_t *out, float *scales, const float *x,
                                  int64_t rows, int64_t cols);

// MARK: - aarch64 NEON (defined only on aarch64)
void retort_gemm_i8_neon_dot(float *y, int32_t *acc, int64_t ldy,
                             const int8_t *x, const float *xs, const int8_t *w, const float *ws,
                             int64_t t, int64_t k, int64_t n0, int64_t n1);
void retort_gemm_i8_neon(float *y, int32_t *acc, int64_t ldy,
                         const int8_t *x, const float *xs, const int8_t *w, const float *ws,
                         int64_t t, int64_t k, int64_t n0, int64_t n1);

#ifdef __cplusplus
}
#endif
