// NEON micro-kernels (aarch64). Two int8 paths: SDOT (`vdotq_s32`, ARMv8.2 dotprod, detected at
// run time through HWCAP_ASIMDDP) and plain ARMv8 NEON (`vmull_s8` + `vmlal_high_s8` → int16
// pairs ≤ 2·127·127, then `vpadalq_s16` → int32). Same tiling and exactness contract as the
// AVX2 kernels (retort_kernels.h). F32 runs on the portable Swift SIMD path on ARM.
#include "retort_kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <sys/auxv.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

#define RK_INLINE static inline __attribute__((always_inline))
#define RK_DOT __attribute__((target("dotprod")))

int retort_cpu_has_avx2_fma(void) { return 0; }
int retort_cpu_has_neon(void) { return 1; }
int retort_cpu_has_neon_dot(void) { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }

// MARK: - Tiles

RK_INLINE void rk_i8_store(float *y, int32_t *acc, int64_t ldy, const int8_t *x, const float *xs,
                           const int8_t *w, const float *ws, int64_t k, int64_t kv, int r, int c,
                           int32_t s) {
    for (int64_t i = kv; i < k; i++) s += (int32_t)x[r * k + i] * (int32_t)w[c * k + i];
    if (acc) acc[r * ldy + c] = s;
    else y[r * ldy + c] = ((float)s * xs[r]) * ws[c];
}

RK_INLINE RK_DOT void rk_i8_tile_dot(float *y, int32_t *acc, int64_t ldy, const int8_t *x,
                                     const float *xs, const int8_t *w, const float *ws, int64_t k,
                                     const int R, const int C) {
    int32x4_t a[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) a[r][c] = vdupq_n_s32(0);
    const int64_t kv = k & ~(int64_t)15;
    for (int64_t i = 0; i < kv; i += 16) {
        int8x16_t wv[4];
        for (int c = 0; c < C; c++) wv[c] = vld1q_s8(w + c * k + i);
        for (int r = 0; r < R; r++) {
            const int8x16_t xv = vld1q_s8(x + r * k + i);
            for (int c = 0; c < C; c++) a[r][c] = vdotq_s32(a[r][c], xv, wv[c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            rk_i8_store(y, acc, ldy, x, xs, w, ws, k, kv, r, c, vaddvq_s32(a[r][c]));
}

RK_INLINE void rk_i8_tile_mull(float *y, int32_t *acc, int64_t ldy, const int8_t *x,
                               const float *xs, const int8_t *w, const float *ws, int64_t k,
                               const int R, const int C) {
    int32x4_t a[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) a[r][c] = vdupq_n_s32(0);
    const int64_t kv = k & ~(int64_t)15;
    for (int64_t i = 0; i < kv; i += 16) {
        int8x16_t wv[4];
        for (int c = 0; c < C; c++) wv[c] = vld1q_s8(w + c * k + i);
        for (int r = 0; r < R; r++) {
            const int8x16_t xv = vld1q_s8(x + r * k + i);
            for (int c = 0; c < C; c++) {
                int16x8_t p = vmull_s8(vget_low_s8(xv), vget_low_s8(wv[c]));
                p = vmlal_high_s8(p, xv, wv[c]);
                a[r][c] = vpadalq_s16(a[r][c], p);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            rk_i8_store(y, acc, ldy, x, xs, w, ws, k, kv, r, c, vaddvq_s32(a[r][c]));
}

// MARK: - Drivers

#define RK_TILE_SWITCH(F)                                                                        \
    switch (r * 4 + c) {                                                                         \
    case 5: F(1, 1); break;  case 6: F(1, 2); break;  case 7: F(1, 3); break;  case 8: F(1, 4); break;   \
    case 9: F(2, 1); break;  case 10: F(2, 2); break; case 11: F(2, 3); break; case 12: F(2, 4); break;  \
    case 13: F(3, 1); break; case 14: F(3, 2); break; case 15: F(3, 3); break; case 16: F(3, 4); break;  \
    case 17: F(4, 1); break; case 18: F(4, 2); break; case 19: F(4, 3); break; case 20: F(4, 4); break;  \
    default: break;                                                                              \
    }

static RK_DOT void rk_dot_any(float *y, int32_t *acc, int64_t ldy, const int8_t *x,
                              const float *xs, const int8_t *w, const float *ws, int64_t k,
                              int r, int c) {
#define RK_T(RR, CC) rk_i8_tile_dot(y, acc, ldy, x, xs, w, ws, k, RR, CC)
    RK_TILE_SWITCH(RK_T)
#undef RK_T
}

static void rk_mull_any(float *y, int32_t *acc, int64_t ldy, const int8_t *x, const float *xs,
                        const int8_t *w, const float *ws, int64_t k, int r, int c) {
#define RK_T(RR, CC) rk_i8_tile_mull(y, acc, ldy, x, xs, w, ws, k, RR, CC)
    RK_TILE_SWITCH(RK_T)
#undef RK_T
}

enum { RK_ROWS = 4, RK_COLS = 4 };

#define RK_GEMM_BODY(TILE)                                                                       \
    int64_t rowBlock = (128 * 1024) / (k > 0 ? k : 1);                                          \
    rowBlock = rowBlock < RK_ROWS ? RK_ROWS : rowBlock - rowBlock % RK_ROWS;                    \
    for (int64_t t0 = 0; t0 < t; t0 += rowBlock) {                                              \
        const int64_t t1 = t0 + rowBlock < t ? t0 + rowBlock : t;                               \
        for (int64_t n = n0; n < n1; n += RK_COLS) {                                            \
            const int c = (int)(n1 - n < RK_COLS ? n1 - n : RK_COLS);                           \
            for (int64_t rr = t0; rr < t1; rr += RK_ROWS) {                                     \
                const int r = (int)(t1 - rr < RK_ROWS ? t1 - rr : RK_ROWS);                     \
                TILE(y ? y + rr * ldy + n : NULL, acc ? acc + rr * ldy + n : NULL, ldy,         \
                     x + rr * k, xs ? xs + rr : NULL, w + n * k, ws ? ws + n : NULL, k, r, c);  \
            }                                                                                   \
        }                                                                                       \
    }

RK_DOT void retort_gemm_i8_neon_dot(float *y, int32_t *acc, int64_t ldy, const int8_t *x,
                                    const float *xs, const int8_t *w, const float *ws, int64_t t,
                                    int64_t k, int64_t n0, int64_t n1) {
    RK_GEMM_BODY(rk_dot_any)
}

void retort_gemm_i8_neon(float *y, int32_t *acc, int64_t ldy, const int8_t *x, const float *xs,
                         const int8_t *w, const float *ws, int64_t t, int64_t k, int64_t n0,
                         int64_t n1) {
    RK_GEMM_BODY(rk_mull_any)
}

#endif // __aarch64__
