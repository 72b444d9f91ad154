// AVX2 + FMA micro-kernels (x86-64). Compiled for the baseline target; each function enables
// AVX2/FMA/F16C itself and is only called after retort_cpu_has_avx2_fma() returned 1.
//
// Both operands are K-contiguous (y = x·wᵀ), so every kernel is a register tile of R rows × C
// columns of 8-lane accumulators that walks K once, then reduces lanes horizontally. Int8 uses
// the sign trick: maddubs(|x| as u8, sign(w, x)) → int16 pairs (≤ 2·127·127 = 32258, no
// saturation), madd with ones → int32. Exactness contract: see retort_kernels.h.
#include "retort_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#define RK_TARGET __attribute__((target("avx2,fma,f16c")))
#define RK_INLINE static inline __attribute__((always_inline))

int retort_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}
int retort_cpu_has_neon(void) { return 0; }
int retort_cpu_has_neon_dot(void) { return 0; }

// MARK: - Horizontal sums

/// Lane sums of four 8×int32 vectors: result[i] = Σ v_i.
RK_INLINE RK_TARGET __m128i rk_hsum4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
    __m256i s = _mm256_hadd_epi32(ab, cd);
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}
RK_INLINE RK_TARGET __m128 rk_hsum4_f32(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 s = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

// MARK: - Int8 GEMM

/// a[r][c] += Σ_{i0 ≤ i < i1} x[r][i]·w[c][i] as Int32 lanes, 32 bytes a step (i1 − i0 a multiple
/// of 32): |x| as u8 times sign-adjusted w (maddubs; pairs ≤ 2·127² fit in i16), then pairs to i32.
RK_INLINE RK_TARGET void rk_i8_accumulate(__m256i a[][4], const int8_t *x, const int8_t *w, int64_t k,
                                          int64_t i0, int64_t i1, const int R, const int C) {
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = i0; i < i1; i += 32) {
        __m256i wv[4];
        for (int c = 0; c < C; c++) wv[c] = _mm256_loadu_si256((const __m256i *)(w + c * k + i));
        for (int r = 0; r < R; r++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + r * k + i));
            const __m256i ax = _mm256_sign_epi8(xv, xv);
            for (int c = 0; c < C; c++) {
                const __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wv[c], xv));
                a[r][c] = _mm256_add_epi32(a[r][c], _mm256_madd_epi16(p, ones));
            }
        }
    }
}

/// One R×C tile: rows x[0..R) (stride k), columns w[0..C) (stride k), full K.
RK_INLINE RK_TARGET void rk_i8_tile(float *y, int32_t *acc, int64_t ldy, const int8_t *x,
                                    const float *xs, const int8_t *w, const float *ws, int64_t k,
                                    const int R, const int C) {
    __m256i a[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) a[r][c] = _mm256_setzero_si256();
    const int64_t kv = k & ~(int64_t)31;
    rk_i8_accumulate(a, x, w, k, 0, kv, R, C);
    for (int r = 0; r < R; r++) {
        for (int c = C; c < 4; c++) a[r][c] = _mm256_setzero_si256();
        int32_t s[4];
        _mm_storeu_si128((__m128i *)s, rk_hsum4_i32(a[r][0], a[r][1], a[r][2], a[r][3]));
        for (int c = 0; c < C; c++) {
            int32_t tail = 0;
            for (int64_t i = kv; i < k; i++) tail += (int32_t)x[r * k + i] * (int32_t)w[c * k + i];
            s[c] += tail;
            if (acc) acc[r * ldy + c] = s[c];
            else y[r * ldy + c] = ((float)s[c] * xs[r]) * ws[c];
        }
    }
}

/// Dispatches a tile of r ≤ 4 rows and c ≤ 4 columns to a fully unrolled instance.
static RK_TARGET void rk_i8_tile_any(float *y, int32_t *acc, int64_t ldy, const int8_t *x,
                                     const float *xs, const int8_t *w, const float *ws, int64_t k,
                                     int r, int c) {
#define RK_I8(RR, CC) rk_i8_tile(y, acc, ldy, x, xs, w, ws, k, RR, CC)
    switch (r * 4 + c) {
    case 5: RK_I8(1, 1); break;  case 6: RK_I8(1, 2); break;
    case 7: RK_I8(1, 3); break;  case 8: RK_I8(1, 4); break;
    case 9: RK_I8(2, 1); break;  case 10: RK_I8(2, 2); break;
    case 11: RK_I8(2, 3); break; case 12: RK_I8(2, 4); break;
    case 13: RK_I8(3, 1); break; case 14: RK_I8(3, 2); break;
    case 15: RK_I8(3, 3); break; case 16: RK_I8(3, 4); break;
    case 17: RK_I8(4, 1); break; case 18: RK_I8(4, 2); break;
    case 19: RK_I8(4, 3); break; case 20: RK_I8(4, 4); break;
    default: break;
    }
#undef RK_I8
}

#ifndef RK_I8_ROWS
#define RK_I8_ROWS 2
#endif
#ifndef RK_I8_COLS
#define RK_I8_COLS 4
#endif

/// Decode GEMV (one activation row): the weight rows one after another, 64 bytes a step into two
/// accumulators, prefetching 1 KiB ahead of the stream (the hardware prefetcher restarts at every
/// matrix; decode's matrices are small). Same exact Int32 sums and float scaling as the tiles.
RK_INLINE RK_TARGET void rk_i8_gemv(float *y, int32_t *acc, const int8_t *x, const float *xs,
                                    const int8_t *w, const float *ws, int64_t k, int64_t n0, int64_t n1) {
    enum { AHEAD = 1024 };
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t k64 = k & ~(int64_t)63, k32 = k & ~(int64_t)31;
    const char *end = (const char *)(w + n1 * k);
    for (const char *p = (const char *)(w + n0 * k); p < end && p < (const char *)(w + n0 * k) + AHEAD; p += 64)
        _mm_prefetch(p, _MM_HINT_T0);
    for (int64_t n = n0; n < n1; n++) {
        const int8_t *wr = w + n * k;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0;
        int64_t i = 0;
        for (; i < k64; i += 64) {
            _mm_prefetch((const char *)(wr + i) + AHEAD, _MM_HINT_T0);
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + i + 32));
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wr + i));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wr + i + 32));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(x0, x0),
                                                                              _mm256_sign_epi8(w0, x0)), ones));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(x1, x1),
                                                                              _mm256_sign_epi8(w1, x1)), ones));
        }
        for (; i < k32; i += 32) {
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wr + i));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(x0, x0),
                                                                              _mm256_sign_epi8(w0, x0)), ones));
        }
        const __m256i v = _mm256_add_epi32(a0, a1);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        int32_t s = _mm_cvtsi128_si32(h);
        for (; i < k; i++) s += (int32_t)x[i] * (int32_t)wr[i];
        if (acc) acc[n] = s;
        else y[n] = ((float)s * xs[0]) * ws[n];
    }
}

RK_TARGET void retort_gemm_i8_avx2(float *y, int32_t *acc, int64_t ldy,
                                   const int8_t *x, const float *xs, const int8_t *w,
                                   const float *ws, int64_t t, int64_t k, int64_t n0, int64_t n1) {
    if (t == 1) {
        rk_i8_gemv(y, acc, x, xs, w, ws, k, n0, n1);
        return;
    }
    // Row blocks whose activations stay in L2 while the column tiles stream past.
    int64_t rowBlock = (128 * 1024) / (k > 0 ? k : 1);
    rowBlock = rowBlock < RK_I8_ROWS ? RK_I8_ROWS : rowBlock - rowBlock % RK_I8_ROWS;
    for (int64_t t0 = 0; t0 < t; t0 += rowBlock) {
        const int64_t t1 = t0 + rowBlock < t ? t0 + rowBlock : t;
        // Weights come from DRAM once per row block: while one column tile runs, prefetch the
        // next tile's C·K bytes, a slice per row tile, so the stream never stalls on a miss.
        const int64_t rowTiles = (t1 - t0 + RK_I8_ROWS - 1) / RK_I8_ROWS;
        const int64_t tileBytes = (int64_t)RK_I8_COLS * k;
        const int64_t slice = ((tileBytes + 63) / 64 + rowTiles - 1) / rowTiles * 64;
        for (int64_t n = n0; n < n1; n += RK_I8_COLS) {
            const int cols = (int)(n1 - n < RK_I8_COLS ? n1 - n : RK_I8_COLS);
            const int8_t *next = w + (n + RK_I8_COLS) * k;
            const int64_t nextBytes = n + RK_I8_COLS < n1 ? tileBytes : 0;
            for (int64_t r = t0, p = 0; r < t1; r += RK_I8_ROWS, p += slice) {
                const int rows = (int)(t1 - r < RK_I8_ROWS ? t1 - r : RK_I8_ROWS);
                for (int64_t b = p; b < p + slice && b < nextBytes; b += 64)
                    _mm_prefetch((const char *)(next + b), _MM_HINT_T0);
                rk_i8_tile_any(y ? y + r * ldy + n : NULL, acc ? acc + r * ldy + n : NULL, ldy,
                               x + r * k, xs ? xs + r : NULL, w + n * k, ws ? ws + n : NULL, k,
                               rows, cols);
            }
        }
    }
}

// MARK: - Int8 GEMM with per-group weight scales
//
// y[t][n] = (Σ_g Float(acc_g) · ws[n][g]) · xs[t], the float sum taken in group order from 0 and
// never contracted into an FMA, acc_g the exact Int32 sum over group g: bit for bit
// `matmulInt8GroupedReference`. Groups of G inputs, G a multiple of 32; tiles of up to 2 rows ×
// 4 columns, one horizontal sum per group.

RK_INLINE RK_TARGET void rk_i8g_tile(float *y, int64_t ldy, const int8_t *x, const float *xs,
                                     const int8_t *w, const float *ws, int64_t k, int64_t g,
                                     const int R, const int C) {
#pragma clang fp contract(off)
    const int64_t groups = k / g;
    float sum[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    for (int64_t j = 0; j < groups; j++) {
        __m256i a[2][4];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < 4; c++) a[r][c] = _mm256_setzero_si256();
        rk_i8_accumulate(a, x, w, k, j * g, (j + 1) * g, R, C);
        for (int r = 0; r < R; r++) {
            int32_t s[4];
            _mm_storeu_si128((__m128i *)s, rk_hsum4_i32(a[r][0], a[r][1], a[r][2], a[r][3]));
            for (int c = 0; c < C; c++) {
                const float part = (float)s[c] * ws[c * groups + j];
                sum[r][c] = sum[r][c] + part;
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[r * ldy + c] = sum[r][c] * xs[r];
}

RK_TARGET void retort_gemm_i8g_avx2(float *y, int64_t ldy, const int8_t *x, const float *xs,
                                    const int8_t *w, const float *ws, int64_t t, int64_t k,
                                    int64_t g, int64_t n0, int64_t n1) {
    const int64_t groups = k / g;
    // Column tiles outermost: a tile's 4·K weight bytes stay in cache while every row passes.
    for (int64_t n = n0; n < n1; n += 4) {
        const int cols = (int)(n1 - n < 4 ? n1 - n : 4);
        for (int64_t r = 0; r < t; r += 2) {
            const int rows = (int)(t - r < 2 ? t - r : 2);
#define RK_I8G(RR, CC) rk_i8g_tile(y + r * ldy + n, ldy, x + r * k, xs + r, w + n * k, ws + n * groups, k, g, RR, CC)
            switch (rows * 4 + cols) {
            case 5: RK_I8G(1, 1); break;  case 6: RK_I8G(1, 2); break;
            case 7: RK_I8G(1, 3); break;  case 8: RK_I8G(1, 4); break;
            case 9: RK_I8G(2, 1); break;  case 10: RK_I8G(2, 2); break;
            case 11: RK_I8G(2, 3); break; case 12: RK_I8G(2, 4); break;
            default: break;
            }
#undef RK_I8G
        }
    }
}

// MARK: - F32 / F16 GEMM
//
// Dot-product tiles of R activation rows × C weight rows over the full K, horizontal sums once
// per tile. Weights are f32 or f16 bits (F16 is a compile-time constant in every instance).
//   Prefill (T ≥ 2): 4 rows × 3 columns = 12 accumulators + 3 weight vectors + 1 activation
//   vector, the 16 ymm registers; per 8 k: 7 loads, 12 FMAs. The 4 activation rows stay in L1
//   while a column block of W (about 192 KiB, L2) streams past them, so only weights come from
//   L2: 8 bytes per FMA.
//   Decode (T = 1): a GEMV that reads the weights once, row after row, in one forward stream.

enum { RK_F_ROWS = 4, RK_F_COLS = 3 };

RK_INLINE RK_TARGET __m256 rk_load_w(const void *w, int64_t off, const int F16) {
    return F16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + off)))
               : _mm256_loadu_ps((const float *)w + off);
}
RK_INLINE RK_TARGET float rk_load_w1(const void *w, int64_t off, const int F16) {
    return F16 ? _cvtsh_ss(((const uint16_t *)w)[off]) : ((const float *)w)[off];
}

/// One R×C tile: y[r][c] = Σ_k x[r][k]·w[c][k], rows x + r·k, columns w + c·k (R·C ≤ 12, C ≤ 4).
RK_INLINE RK_TARGET void rk_f_tile(float *y, int64_t ldy, const float *x, const void *w, int64_t k,
                                   const int R, const int C, const int F16) {
    __m256 a[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) a[r][c] = _mm256_setzero_ps();
    const int64_t kv = k & ~(int64_t)7;
    for (int64_t i = 0; i < kv; i += 8) {
        __m256 wv[4];
        for (int c = 0; c < C; c++) wv[c] = rk_load_w(w, c * k + i, F16);
        for (int r = 0; r < R; r++) {
            const __m256 xv = _mm256_loadu_ps(x + r * k + i);
            for (int c = 0; c < C; c++) a[r][c] = _mm256_fmadd_ps(xv, wv[c], a[r][c]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = C; c < 4; c++) a[r][c] = _mm256_setzero_ps();
        float s[4];
        _mm_storeu_ps(s, rk_hsum4_f32(a[r][0], a[r][1], a[r][2], a[r][3]));
        for (int c = 0; c < C; c++) {
            for (int64_t i = kv; i < k; i++) s[c] += x[r * k + i] * rk_load_w1(w, c * k + i, F16);
            y[r * ldy + c] = s[c];
        }
    }
}

/// Dispatches a prefill tile of r ≤ 4 rows and c ≤ 3 columns to a fully unrolled instance.
RK_INLINE RK_TARGET void rk_f_tile_any(float *y, int64_t ldy, const float *x, const void *w,
                                       int64_t k, int r, int c, const int F16) {
#define RK_F(RR, CC) rk_f_tile(y, ldy, x, w, k, RR, CC, F16)
    switch (r * 4 + c) {
    case 5: RK_F(1, 1); break;  case 6: RK_F(1, 2); break;  case 7: RK_F(1, 3); break;
    case 9: RK_F(2, 1); break;  case 10: RK_F(2, 2); break; case 11: RK_F(2, 3); break;
    case 13: RK_F(3, 1); break; case 14: RK_F(3, 2); break; case 15: RK_F(3, 3); break;
    case 17: RK_F(4, 1); break; case 18: RK_F(4, 2); break; case 19: RK_F(4, 3); break;
    default: break;
    }
#undef RK_F
}

/// Decode GEMV: y[c] = Σ_k x[k]·w[c][k], one weight row after the other, four accumulators
/// (32 k per step, four independent FMA chains). Each row is one sequential read, so the whole
/// range is a single forward stream for the hardware prefetcher; interleaving several rows (or
/// prefetching the next ones in software) measured 10–25 % slower on a memory-bound decode.
RK_INLINE RK_TARGET void rk_f_gemv(float *y, const float *x, const void *w, int64_t k, int64_t n0,
                                   int64_t n1, const int F16) {
    const int64_t k32 = k & ~(int64_t)31, kv = k & ~(int64_t)7;
    for (int64_t n = n0; n < n1; n++) {
        const int64_t row = n * k;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i < k32; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), rk_load_w(w, row + i, F16), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), rk_load_w(w, row + i + 8, F16), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), rk_load_w(w, row + i + 16, F16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), rk_load_w(w, row + i + 24, F16), a3);
        }
        for (; i < kv; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), rk_load_w(w, row + i, F16), a0);
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        float s = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
        for (; i < k; i++) s += x[i] * rk_load_w1(w, row + i, F16);
        y[n] = s;
    }
}

RK_INLINE RK_TARGET void rk_gemm_f(float *y, int64_t ldy, const float *x, const void *w, int64_t t,
                                   int64_t k, int64_t n0, int64_t n1, const int F16) {
    if (t == 1) {
        rk_f_gemv(y, x, w, k, n0, n1, F16);
        return;
    }
    const int64_t elem = F16 ? 2 : 4;
    // Column blocks of about 192 KiB of weights (L2), a whole number of tiles.
    int64_t colBlock = (192 * 1024) / (k * elem > 0 ? k * elem : 1);
    colBlock = colBlock < RK_F_COLS ? RK_F_COLS : colBlock - colBlock % RK_F_COLS;
    for (int64_t b0 = n0; b0 < n1; b0 += colBlock) {
        const int64_t b1 = b0 + colBlock < n1 ? b0 + colBlock : n1;
        for (int64_t r = 0; r < t; r += RK_F_ROWS) {
            const int rows = (int)(t - r < RK_F_ROWS ? t - r : RK_F_ROWS);
            for (int64_t n = b0; n < b1; n += RK_F_COLS) {
                const int cols = (int)(b1 - n < RK_F_COLS ? b1 - n : RK_F_COLS);
                rk_f_tile_any(y + r * ldy + n, ldy, x + r * k, (const char *)w + n * k * elem, k,
                              rows, cols, F16);
            }
        }
    }
}

RK_TARGET void retort_gemm_f32_avx2(float *y, int64_t ldy, const float *x, const float *w,
                                    int64_t t, int64_t k, int64_t n0, int64_t n1) {
    rk_gemm_f(y, ldy, x, w, t, k, n0, n1, 0);
}

RK_TARGET void retort_gemm_f16_avx2(float *y, int64_t ldy, const float *x, const uint16_t *w,
                                    int64_t t, int64_t k, int64_t n0, int64_t n1) {
    rk_gemm_f(y, ldy, x, w, t, k, n0, n1, 1);
}

// MARK: - Row quantization

RK_TARGET void retort_quantize_rows_i8_avx2(int8_t *out, float *scales, const float *x,
                                            int64_t rows, int64_t cols) {
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i lim = _mm256_set1_epi32(127), nlim = _mm256_set1_epi32(-127);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t row = 0; row < rows; row++) {
        const float *xr = x + row * cols;
        int8_t *qr = out + row * cols;
        __m256 m = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= cols; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(xr + i), absMask));
        float lanes[8], amax = 0;
        _mm256_storeu_ps(lanes, m);
        for (int l = 0; l < 8; l++) amax = lanes[l] > amax ? lanes[l] : amax;
        for (; i < cols; i++) { float a = xr[i] < 0 ? -xr[i] : xr[i]; amax = a > amax ? a : amax; }
        if (!(amax >= 1e-30f)) { // zero (or tiny) row: scale 0, all zeros
            scales[row] = 0;
            for (int64_t j = 0; j < cols; j++) qr[j] = 0;
            continue;
        }
        scales[row] = amax / 127.0f;
        const float inv = 127.0f / amax;
        const __m256 vinv = _mm256_set1_ps(inv);
        int64_t j = 0;
        for (; j + 32 <= cols; j += 32) {
            __m256i q[4];
            for (int v = 0; v < 4; v++) {
                // cvtps rounds half to even under the default MXCSR mode.
                __m256i qi = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + j + 8 * v), vinv));
                q[v] = _mm256_max_epi32(nlim, _mm256_min_epi32(lim, qi));
            }
            __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
            __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), order);
            _mm256_storeu_si256((__m256i *)(qr + j), p8);
        }
        for (; j < cols; j++) {
            int32_t qi = _mm_cvtss_si32(_mm_set_ss(xr[j] * inv));
            qr[j] = (int8_t)(qi > 127 ? 127 : (qi < -127 ? -127 : qi));
        }
    }
}

#endif // __x86_64__
