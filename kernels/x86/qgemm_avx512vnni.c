/*
** qgemm_avx512vnni: the AVX-512 VNNI variant of the integer GEMM (contract
** in kernels/qgemm.h, block interface in kernels/qgemm_impl.h). Compiled
** with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -ffp-contract=off for
** this file only; runs only where ki_isa_supported(KI_AVX512VNNI).
**
** Arithmetic. vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes and adds
** the four products to an int32 lane without intermediate saturation. The
** activations are made unsigned by adding 128 (u = a ^ 0x80 = a + 128, 0..255)
** when A is packed, so for every weight width
**     sum(u * w) = sum(a * w) + 128 * colsum,
**     acc        = sum(u * w) - (za + 128) * colsum
** in wrapping int32 arithmetic (the true acc fits, see qgemm.h).
**
** One packed 8-bit block (16 channels x 4 k, 64 bytes) is exactly one zmm
** operand: lane j holds W[n0 + j][k0 .. k0 + 3]. 4- and 6-bit blocks are
** unpacked in registers to the same form (the 32 nibble bytes broadcast to
** both halves, the upper half shifted by 4, masked, sign-extended; the 6-bit
** high pairs broadcast to all four 128-bit lanes and shifted by 0/2/4/6).
**
** Blocking as in the AVX2 variant: m-blocks of packed A (KV_A_BUDGET bytes,
** L2), then 16-channel panels, then 8-row micro tiles over all of K with one
** zmm accumulator per row and panel; two panels at a time when available
** (16 accumulators, 2 weight vectors, 8 broadcasts per k-block). A panel
** cut by the end of N is written through kq_store_row (plain C, the same
** bits). Blocks of at most 6 channels (a classifier) go to the AVX2
** variant's kq_avx2_narrow_block, which reads A once instead of computing a
** 16-channel panel of mostly padding.
**
** Testing without AVX-512 VNNI: built with -DRISQ_AVX512_EMULATE (tests only),
** the same source is compiled against SIMDe's portable AVX-512 intrinsics
** (Debian libsimde-dev) as kq_avx512vnniemu_block, so test_qgemm runs it bit
** for bit against the reference on every x86-64 machine with AVX2; the
** native build is tested only where the CPU has AVX-512 VNNI.
*/
#include "kernels/qgemm_impl.h"

#ifdef RISQ_AVX512_EMULATE
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define kq_avx512vnni_block kq_avx512vnniemu_block
/* SIMDe 0.7.4 has no _mm512_cvtepi32_ps (later versions do, as an alias
** macro, hence the #undef): lane by lane, rounding to nearest as vcvtdq2ps
** does in the default mode. */
static inline __m512 kv_emu_cvtepi32_ps(__m512i v) {
    int32_t i[16];
    float f[16];
    _mm512_storeu_si512((void *)i, v);
    for (int j = 0; j < 16; j++) f[j] = (float)i[j];
    return _mm512_loadu_ps(f);
}
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps kv_emu_cvtepi32_ps
#else
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#define KV_MR 8                      /* rows per micro tile */
#define KV_A_BUDGET (128 * 1024)     /* bytes of packed A per m-block */
#define KV_KB_BYTES 32               /* packed A bytes per 8-row group and k-block */

/* 4 bytes at p broadcast to all 16 lanes. */
static inline __m512i kv_bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* ------------------------------------------------------------------------ */
/* Packing A.                                                                 */

/* Pack rows m .. m + mr - 1 (mr <= 8) of A, k-blocks [0, nkb): for every
** k-block kb, A[m + r][4kb .. 4kb + 3] + 128 of rows r = 0..7 side by side
** at dst + 32 kb + 4 r. Rows r >= mr and columns k >= K hold 0 + 128. */
static void kv_pack_a(const kq_args *g, int m, int mr, int nkb, uint8_t *dst) {
    const int K = g->W->K;
    int kb = 0;
    if (mr == KV_MR) {
        const __m128i flip = _mm_set1_epi8((char)0x80);
        for (; 4 * (kb + 4) <= K; kb += 4) {
            for (int h = 0; h < 2; h++) { /* rows 0..3, then 4..7 */
                const int8_t *r0 = g->A + (size_t)(m + 4 * h) * g->lda + 4 * kb;
                __m128i x0 = _mm_loadu_si128((const __m128i *)r0);
                __m128i x1 = _mm_loadu_si128((const __m128i *)(r0 + g->lda));
                __m128i x2 = _mm_loadu_si128((const __m128i *)(r0 + 2 * (size_t)g->lda));
                __m128i x3 = _mm_loadu_si128((const __m128i *)(r0 + 3 * (size_t)g->lda));
                __m128i t0 = _mm_unpacklo_epi32(x0, x1), t1 = _mm_unpacklo_epi32(x2, x3);
                __m128i t2 = _mm_unpackhi_epi32(x0, x1), t3 = _mm_unpackhi_epi32(x2, x3);
                __m128i v[4] = {_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1),
                                _mm_unpacklo_epi64(t2, t3), _mm_unpackhi_epi64(t2, t3)};
                for (int q = 0; q < 4; q++)
                    _mm_storeu_si128((__m128i *)(dst + (size_t)(kb + q) * KV_KB_BYTES + 16 * h),
                                     _mm_xor_si128(v[q], flip));
            }
        }
    }
    for (; kb < nkb; kb++) {
        uint8_t *d = dst + (size_t)kb * KV_KB_BYTES;
        for (int r = 0; r < KV_MR; r++)
            for (int i = 0; i < 4; i++) {
                int k = 4 * kb + i;
                int a = r < mr && k < K ? g->A[(size_t)(m + r) * g->lda + k] : 0;
                d[4 * r + i] = (uint8_t)(a + 128);
            }
    }
}

/* ------------------------------------------------------------------------ */
/* One k-block of weights as a zmm: lane j = W[n0 + j][k0 .. k0 + 3].         */

static inline __m512i kv_weights(int bits, const uint8_t *blk) {
    if (bits == 8) return _mm512_loadu_si512((const void *)blk);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    /* Low half: low nibbles (weights 0..31); high half: high nibbles
    ** (weights 32..63), by a per-lane 16-bit shift of 0 or 4. */
    const __m512i sh_nib = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    __m512i x = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)blk));
    __m512i nib = _mm512_and_si512(_mm512_srlv_epi64(x, sh_nib), m4);
    if (bits == 4) {
        const __m512i eight = _mm512_set1_epi8(8);
        return _mm512_sub_epi8(_mm512_xor_si512(nib, eight), eight);
    }
    /* 6-bit: weight t's high pair is at bits 2 (t / 16) of byte t % 16, and
    ** 128-bit lane L of the zmm holds weights 16 L .. 16 L + 15. */
    const __m512i m2 = _mm512_set1_epi8(3), s32 = _mm512_set1_epi8(32);
    const __m512i sh_hi = _mm512_set_epi64(6, 6, 4, 4, 2, 2, 0, 0);
    __m512i h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(blk + 32)));
    __m512i pair = _mm512_and_si512(_mm512_srlv_epi64(h, sh_hi), m2);
    __m512i code = _mm512_or_si512(nib, _mm512_slli_epi16(pair, 4));
    return _mm512_sub_epi8(_mm512_xor_si512(code, s32), s32);
}

/* ------------------------------------------------------------------------ */
/* Micro-kernel: 8 rows x (16 * np) channels over nkb k-blocks.              */
/* out[r * 2 + p] = row r, panel p.                                          */
/* The 16 accumulators (KV_MR = 8 rows x 2 panels) are named variables, not
** an array: with an array GCC 12 moved every one of them twice per k-block
** (32 register moves per 16 vpdpbusd), and the kernel ran at ~0.6x the speed
** of oneDNN's VNNI GEMM over the LAVT-B forward instead of ~0.9x
** (kernels/README.md). */

#define KV_ROW(r)                                                        \
    do {                                                                 \
        __m512i u = kv_bcast4(ap + 4 * (r));                             \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, u, w0);                   \
        if (np == 2) c##r##1 = _mm512_dpbusd_epi32(c##r##1, u, w1);      \
    } while (0)

static inline __attribute__((always_inline)) void kv_tile(int bits, int np, int nkb,
                                                          const uint8_t *ap,
                                                          const uint8_t *wp0,
                                                          const uint8_t *wp1,
                                                          __m512i out[16]) {
    const size_t bb = kq_block_bytes(bits);
    const __m512i z = _mm512_setzero_si512();
    __m512i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
    __m512i c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z;
    for (int kb = 0; kb < nkb; kb++, ap += KV_KB_BYTES, wp0 += bb, wp1 += bb) {
        __m512i w0 = kv_weights(bits, wp0);
        __m512i w1 = np == 2 ? kv_weights(bits, wp1) : w0;
        KV_ROW(0);
        KV_ROW(1);
        KV_ROW(2);
        KV_ROW(3);
        KV_ROW(4);
        KV_ROW(5);
        KV_ROW(6);
        KV_ROW(7);
    }
    out[0] = c00, out[1] = c01, out[2] = c10, out[3] = c11;
    out[4] = c20, out[5] = c21, out[6] = c30, out[7] = c31;
    out[8] = c40, out[9] = c41, out[10] = c50, out[11] = c51;
    out[12] = c60, out[13] = c61, out[14] = c70, out[15] = c71;
}

#define KV_TILE_FN(bits, np)                                                            \
    static void kv_tile_##bits##_##np(int nkb, const uint8_t *ap, const uint8_t *wp0,   \
                                      const uint8_t *wp1, __m512i out[16]) {             \
        kv_tile(bits, np, nkb, ap, wp0, wp1, out);                                        \
    }
KV_TILE_FN(8, 1)
KV_TILE_FN(8, 2)
KV_TILE_FN(6, 1)
KV_TILE_FN(6, 2)
KV_TILE_FN(4, 1)
KV_TILE_FN(4, 2)

typedef void (*kv_tile_fn)(int nkb, const uint8_t *ap, const uint8_t *wp0,
                           const uint8_t *wp1, __m512i out[16]);

/* ------------------------------------------------------------------------ */
/* Store row m, channels n .. n + nr - 1 (nr <= 16).                          */

static inline void kv_store(const kq_args *g, int m, int n, int nr, __m512i v) {
    if (nr < KQ_NR) { /* the end of N: rare, plain C */
        int32_t acc[KQ_NR];
        _mm512_storeu_si512((void *)acc, v);
        kq_store_row(g, m, n, nr, acc);
    } else if (g->C32) {
        _mm512_storeu_si512((void *)(g->C32 + (size_t)m * g->ldc + n), v);
    } else {
        /* kq_epilogue's steps: convert, multiply, then add (not fused). */
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_loadu_ps(g->scale + n));
        if (g->bias) f = _mm512_add_ps(f, _mm512_loadu_ps(g->bias + n));
        _mm512_storeu_ps(g->Cf + (size_t)m * g->ldc + n, f);
    }
}

/* ------------------------------------------------------------------------ */
/* Block driver.                                                              */

void kq_avx512vnni_block(const kq_args *g, int m0, int m1, int n0, int n1) {
    const kq_weights *w = g->W;
    const int nkb = w->Kp / KQ_KB;
    const size_t group_bytes = (size_t)nkb * KV_KB_BYTES;
    kv_tile_fn tile1 = w->bits == 8 ? kv_tile_8_1 : w->bits == 6 ? kv_tile_6_1 : kv_tile_4_1;
    kv_tile_fn tile2 = w->bits == 8 ? kv_tile_8_2 : w->bits == 6 ? kv_tile_6_2 : kv_tile_4_2;
    const __m512i zf = _mm512_set1_epi32(g->za + 128);
    if (n1 > w->N) n1 = w->N;
    if (kq_avx2_narrow_block(g, m0, m1, n0, n1)) /* a classifier's few channels */
        return;

    int groups = (int)(KV_A_BUDGET / group_bytes);
    int need = (m1 - m0 + KV_MR - 1) / KV_MR;
    if (groups < 1) groups = 1;
    if (groups > need) groups = need;
    uint8_t *ap = aligned_alloc(64, (groups * group_bytes + 63) / 64 * 64);
    if (!ap) { /* out of memory: the reference gives the same integers */
        kq_ref_block(g, m0, m1, n0, n1);
        return;
    }

    for (int mb = m0; mb < m1; mb += groups * KV_MR) {
        int me = mb + groups * KV_MR < m1 ? mb + groups * KV_MR : m1;
        for (int m = mb; m < me; m += KV_MR)
            kv_pack_a(g, m, me - m < KV_MR ? me - m : KV_MR, nkb,
                      ap + (size_t)((m - mb) / KV_MR) * group_bytes);

        for (int n = n0; n < n1; n += 2 * KQ_NR) {
            int np = n1 - n > KQ_NR ? 2 : 1;
            const uint8_t *wp0 = kq_panel(w, n / KQ_NR);
            const uint8_t *wp1 = np == 2 ? kq_panel(w, n / KQ_NR + 1) : wp0;
            /* colsum is padded to Np: whole panels are readable. */
            __m512i z0 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)(w->colsum + n)), zf);
            __m512i z1 = np == 2 ? _mm512_mullo_epi32(
                                       _mm512_loadu_si512((const void *)(w->colsum + n + 16)), zf)
                                 : z0;
            int nr0 = n1 - n < KQ_NR ? n1 - n : KQ_NR;
            int nr1 = n1 - n - KQ_NR < KQ_NR ? n1 - n - KQ_NR : KQ_NR;
            for (int m = mb; m < me; m += KV_MR) {
                __m512i acc[16];
                (np == 2 ? tile2 : tile1)(nkb, ap + (size_t)((m - mb) / KV_MR) * group_bytes,
                                          wp0, wp1, acc);
                int mr = me - m < KV_MR ? me - m : KV_MR;
                for (int r = 0; r < mr; r++) {
                    kv_store(g, m + r, n, nr0, _mm512_sub_epi32(acc[2 * r], z0));
                    if (np == 2)
                        kv_store(g, m + r, n + KQ_NR, nr1, _mm512_sub_epi32(acc[2 * r + 1], z1));
                }
            }
        }
    }
    free(ap);
}
