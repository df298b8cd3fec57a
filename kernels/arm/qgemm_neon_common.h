/*
** qgemm_neon_common: what the two aarch64 qgemm variants share
** (kernels/arm/qgemm_neon.c, plain Advanced SIMD;
** kernels/arm/qgemm_neon_dotprod.c, ARMv8.2 SDOT): unpacking one packed
** 16 x 4 weight block into four int8x16 registers, the K-tail load, and the
** tile store (zero-point correction + int32 or f32 epilogue). Only baseline ARMv8.0 Advanced SIMD is used here, so the header
** compiles under either file's flags. Internal to kernels/arm.
**
** Register view of a block (see kernels/qgemm.h for the byte layout): weight
** t = 4*j + i (channel j < 16 of the panel, input i < 4 of the block) goes
** to lane t % 16 of register t / 16, so register v holds channels
** 4v .. 4v+3, four consecutive inputs each -- exactly the operand shape of
** SDOT (one int32 lane per channel), and the 8-bit block is just four loads.
*/
#ifndef RISQ_KERNELS_ARM_QGEMM_NEON_COMMON_H
#define RISQ_KERNELS_ARM_QGEMM_NEON_COMMON_H

#include <arm_neon.h>
#include <stdint.h>
#include "kernels/qgemm_impl.h"

#if defined(__GNUC__)
#define KQN_INLINE static inline __attribute__((always_inline))
#else
#define KQN_INLINE static inline
#endif

/* Put before the small constant-count loops over rows and registers: fully
** unrolled, the accumulator arrays become registers instead of stack slots
** (gcc -O2 does not unroll them on its own). */
#define KQN_UNROLL _Pragma("GCC unroll 16")

/* 8-bit block: 64 bytes, already in register order. */
KQN_INLINE void kqn_unpack8(const uint8_t *blk, int8x16_t w[4]) {
    const int8_t *p = (const int8_t *)blk;
    w[0] = vld1q_s8(p);
    w[1] = vld1q_s8(p + 16);
    w[2] = vld1q_s8(p + 32);
    w[3] = vld1q_s8(p + 48);
}

/* 4-bit block: 32 bytes b0 = bytes 0..15, b1 = bytes 16..31. Weights 0..15
** are the low nibbles of b0, 16..31 those of b1, 32..47 the high nibbles of
** b0, 48..63 those of b1. A low nibble is sign-extended by shifting it to the
** top and arithmetic-shifting back; a high nibble by the arithmetic shift
** alone. */
KQN_INLINE void kqn_unpack4(const uint8_t *blk, int8x16_t w[4]) {
    int8x16_t b0 = vld1q_s8((const int8_t *)blk);
    int8x16_t b1 = vld1q_s8((const int8_t *)blk + 16);
    w[0] = vshrq_n_s8(vshlq_n_s8(b0, 4), 4);
    w[1] = vshrq_n_s8(vshlq_n_s8(b1, 4), 4);
    w[2] = vshrq_n_s8(b0, 4);
    w[3] = vshrq_n_s8(b1, 4);
}

/* 6-bit block: the low 4 bits of every code in the 4-bit layout (32 bytes),
** then 16 bytes h whose bits 2v, 2v+1 of byte l are bits 4, 5 of weight
** 16v + l. Register v is built as a byte whose bits 2..5 are the low four
** bits and bits 6..7 the high two (BSL with mask 0xC0 merges the two
** shifted sources), then arithmetic-shifted right by 2: that sign-extends
** the 6-bit code and drops bits 0..1, whatever they held. */
KQN_INLINE void kqn_unpack6(const uint8_t *blk, int8x16_t w[4]) {
    uint8x16_t b0 = vld1q_u8(blk);
    uint8x16_t b1 = vld1q_u8(blk + 16);
    uint8x16_t h = vld1q_u8(blk + 32);
    uint8x16_t top = vdupq_n_u8(0xC0);
    w[0] = vshrq_n_s8(vreinterpretq_s8_u8(vbslq_u8(top, vshlq_n_u8(h, 6), vshlq_n_u8(b0, 2))), 2);
    w[1] = vshrq_n_s8(vreinterpretq_s8_u8(vbslq_u8(top, vshlq_n_u8(h, 4), vshlq_n_u8(b1, 2))), 2);
    w[2] = vshrq_n_s8(vreinterpretq_s8_u8(vbslq_u8(top, vshlq_n_u8(h, 2), vshrq_n_u8(b0, 2))), 2);
    w[3] = vshrq_n_s8(vreinterpretq_s8_u8(vbslq_u8(top, h, vshrq_n_u8(b1, 2))), 2);
}

/* Unpack one block of a `bits`-bit panel. Called with a constant `bits`
** inside always-inline kernels, so the switch folds away. */
KQN_INLINE void kqn_unpack(const uint8_t *blk, int bits, int8x16_t w[4]) {
    if (bits == 8)
        kqn_unpack8(blk, w);
    else if (bits == 6)
        kqn_unpack6(blk, w);
    else
        kqn_unpack4(blk, w);
}

/* Store one row of a tile: acc[v] holds sum A*W for channels n + 4v .. n +
** 4v + 3 (v < 4); zc[v] = za * colsum for the same channels. Writes channels
** n .. n + nr - 1 (nr <= 16) of row m: int32, or through the f32 epilogue
** (convert with round-to-nearest, one multiply, one add only when there is
** a bias -- the same bits as kq_epilogue()). A partial tile goes through
** kq_store_row() so that nothing past channel N is read or written. */
KQN_INLINE void kqn_store_row(const kq_args *g, int m, int n, int nr,
                              const int32x4_t acc[4], const int32x4_t zc[4]) {
    int32x4_t r[4];
    KQN_UNROLL
    for (int v = 0; v < 4; v++) r[v] = vsubq_s32(acc[v], zc[v]);
    if (nr < KQ_NR) {
        int32_t tmp[KQ_NR];
        for (int v = 0; v < 4; v++) vst1q_s32(tmp + 4 * v, r[v]);
        kq_store_row(g, m, n, nr, tmp);
        return;
    }
    if (g->C32) {
        int32_t *c = g->C32 + (size_t)m * g->ldc + n;
        for (int v = 0; v < 4; v++) vst1q_s32(c + 4 * v, r[v]);
        return;
    }
    float *c = g->Cf + (size_t)m * g->ldc + n;
    for (int v = 0; v < 4; v++) {
        float32x4_t f = vmulq_f32(vcvtq_f32_s32(r[v]), vld1q_f32(g->scale + n + 4 * v));
        if (g->bias) f = vaddq_f32(f, vld1q_f32(g->bias + n + 4 * v));
        vst1q_f32(c + 4 * v, f);
    }
}

/* The n < 8 bytes p[0 .. n) in the low lanes of a register, zeros above:
** the K tail of a row without reading past it. Built in a general register
** rather than with memcpy, which gcc emits as a call that forces every live
** accumulator through the stack. */
KQN_INLINE int8x8_t kqn_load_tail8(const int8_t *p, int n) {
    uint64_t t = 0;
    for (int i = 0; i < n; i++) t |= (uint64_t)(uint8_t)p[i] << (8 * i);
    return vreinterpret_s8_u64(vcreate_u64(t));
}

/* za * colsum for the 16 channels of panel p (colsum is padded to Np). */
KQN_INLINE void kqn_zero_corr(const kq_args *g, int p, int32x4_t zc[4]) {
    const int32_t *cs = g->W->colsum + (size_t)p * KQ_NR;
    KQN_UNROLL
    for (int v = 0; v < 4; v++) zc[v] = vmulq_n_s32(vld1q_s32(cs + 4 * v), g->za);
}

/* The block function (qgemm_impl.h) of a variant whose micro-kernel
** TILE(W, panel, bits, arow, acc) computes MR rows x 16 channels. Panels
** outer, rows inner: one panel's weights stay in L1 while all the rows of
** the block stream past them. A row past m1 repeats the last row (read,
** computed, not stored), so the tile never reads A outside [m0, m1). Each
** call of TILE has a constant `bits`, so each is specialised. */
#define KQN_BLOCK_FUNCTION(name, MR, TILE)                                        \
    void name(const kq_args *g, int m0, int m1, int n0, int n1) {                 \
        const kq_weights *W = g->W;                                               \
        for (int n = n0; n < n1 && n < W->N; n += KQ_NR) {                        \
            const int p = n / KQ_NR;                                              \
            const int nr = W->N - n < KQ_NR ? W->N - n : KQ_NR;                   \
            const uint8_t *panel = kq_panel(W, p);                                \
            int32x4_t zc[4];                                                      \
            kqn_zero_corr(g, p, zc);                                              \
            for (int m = m0; m < m1; m += (MR)) {                                 \
                const int8_t *arow[MR];                                           \
                int32x4_t acc[MR][4];                                             \
                KQN_UNROLL                                                        \
                for (int r = 0; r < (MR); r++)                                    \
                    arow[r] = g->A + (size_t)(m + r < m1 ? m + r : m1 - 1) * g->lda; \
                switch (W->bits) {                                                \
                case 8: TILE(W, panel, 8, arow, acc); break;                      \
                case 6: TILE(W, panel, 6, arow, acc); break;                      \
                default: TILE(W, panel, 4, arow, acc); break;                     \
                }                                                                 \
                for (int r = 0; r < (MR) && m + r < m1; r++)                      \
                    kqn_store_row(g, m + r, n, nr, acc[r], zc);                   \
            }                                                                     \
        }                                                                         \
    }

#endif
