/*
** qgemm_avx2: the AVX2 variant of the integer GEMM (contract in
** kernels/qgemm.h, block interface in kernels/qgemm_impl.h). Compiled with
** -mavx2 -mfma -ffp-contract=off for this file only.
**
** Arithmetic. AVX2 has no 4-way byte dot product, so the building block is
** vpmaddubsw (u8 x s8 -> pairwise sums in s16, saturating) followed by
** vpmaddwd with ones (s16 pairs -> s32) and vpaddd. To keep vpmaddubsw exact:
**   - 8-bit weights, "sign trick": u = |a| (0..128), s = sign(w, a) = +-w
**     (|w| <= 127, so no wrap-around), u * s = a * w, and a pair sum is at
**     most 2 * 128 * 127 = 32512 < 32767. Then acc = sum - za * colsum.
**   - 6- and 4-bit weights, "offset": u = a + 128 (0..255), s = w; a pair
**     sum is at most 2 * 255 * 31 = 15810. Then acc = sum - (za + 128) * colsum
**     (wrapping int32 arithmetic; the true result fits, see qgemm.h).
** 4- and 6-bit weights are unpacked in registers (nibble masks, a
** per-lane variable shift for the 6-bit high pairs, sign extension by
** xor/sub).
**
** Three drivers for a block of C (rows [m0, m1) x channels [n0, n1)):
**
** ka_block_copy: 8-bit weights and at least KA_COPY_MIN_ROWS rows. The vpsignb
**   of the sign trick is a quarter of the vector instructions of the inner loop,
**   whose speed is bound by their number; here the sign becomes a load: the
**   16 sign patterns a row's 4 activations of a k-block can have are applied
**   to the weights once per panel and K slice ("sign copies"), and each row
**   picks its copy by an offset stored next to its packed |a|. Per row and
**   k-block: 2 vpmaddubsw + 2 vpmaddwd + 2 vpaddd, as many vector
**   instructions as the (saturating) u8 x s8 GEMMs of oneDNN/MKL on AVX2.
**   Loops (see the function for the cache budgets): m-blocks of hundreds of
**   rows (to share the cost of the copies), channel chunks, K slices of at
**   most KA_KC_COPY, panels, 4-row groups. The copies are 16 times the
**   weights of a slice, so for few rows the direct driver is faster; where
**   the two cross depends on the caches (on the 2-core EPYC VM: ~128 rows
**   at one thread; at two threads, whose virtual CPUs seem to share a
**   core, the direct driver is faster almost everywhere). KA_COPY_MIN_ROWS
**   = 256 is the bound that loses only for 128-255-row blocks at one thread
**   there (kernels/README.md).
**
** ka_block_direct: 4/6-bit weights, and 8-bit weights for fewer rows (sign
**   trick with vpsignb). For each m-block of up to KA_A_BUDGET bytes of
**   packed A: pack its rows, then for each panel, for each 4-row group, the
**   micro-kernel over all of K with the accumulators in registers.
**
** kq_avx2_narrow_block: at most KA_NARROW_N channels (a classifier): row by row
**   dot products over K on plain weight rows, no packing of A.
**
** Packed A (ka_pack_a) is laid out so that the micro-kernels broadcast 4
** consecutive bytes per row and k-block from one sequential stream; padding
** rows and the K % 4 tail hold zeros, so A is never read out of bounds.
** Register tile: 4 rows x 16 channels (8 int32 accumulators).
**
** The cache budgets were tuned on a 2-core AMD EPYC (Zen 3, 32 KiB L1d,
** 512 KiB L2) against oneDNN's dnnl_gemm_u8s8s32; see kernels/README.md.
*/
#include "kernels/qgemm_impl.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define KA_MR 4                      /* rows per micro tile */
#define KA_A_BUDGET (128 * 1024)     /* bytes of packed A per m-block */
#ifndef KA_KC_COPY
#define KA_KC_COPY 256               /* at most this many k per slice of sign copies */
#endif
#ifndef KA_COPY_A_BUDGET
#define KA_COPY_A_BUDGET (192 * 1024) /* bytes of one K slice of packed A, sign copies */
#endif
#ifndef KA_COPY_A_MAX
#define KA_COPY_A_MAX (2048 * 1024)  /* bytes of packed A per m-block, sign copies */
#endif
#ifndef KA_C_BUDGET
#define KA_C_BUDGET (192 * 1024)     /* bytes of C per m-block and channel chunk */
#endif
#define KA_COPY_MIN_GROUPS 8         /* 4-row groups per m-block, at least */
#ifndef KA_COPY_MIN_ROWS
#define KA_COPY_MIN_ROWS 256         /* sign copies only for blocks this tall */
#endif
#define KA_NARROW_N 6                /* kq_avx2_narrow_block for blocks this narrow */

/* Packed A forms (per 4-row group and k-block, see ka_pack_a). */
enum {
    KA_PACK_SIGNMAG, /* |a| (16 bytes) then a (16 bytes): 8-bit, sign trick */
    KA_PACK_COPY,    /* |a| (16 bytes) then 4 x u16 offsets of the sign copy: 8-bit */
    KA_PACK_OFFSET   /* a + 128 (16 bytes): 4/6-bit */
};

static size_t ka_kb_bytes(int mode) {
    return mode == KA_PACK_SIGNMAG ? 32 : mode == KA_PACK_COPY ? 24 : 16;
}

/* 4 bytes at p broadcast to all 8 lanes. */
static inline __m256i ka_bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* ------------------------------------------------------------------------ */
/* Packing A.                                                                 */

/* The byte offset of the sign copy for 4 activations whose sign bits (bit i
** set: a[k0 + i] < 0) are `neg` (see ka_build_copies). */
static inline uint16_t ka_copy_offset(unsigned neg) { return (uint16_t)((neg & 15u) * 64u); }

/* Pack rows m .. m + mr - 1 (mr <= 4) of A, k-blocks [kb0, kb0 + nb), into
** dst: for every k-block kb, the 4-byte groups A[m + r][4kb .. 4kb + 3] of
** rows r = 0..3 side by side (16 bytes), in the form `mode` at
** dst + (kb - kb0) * ka_kb_bytes(mode):
**   SIGNMAG: |a| (as u8), then a;
**   COPY:    |a| (as u8), then for each row r the u16 offset
**            ka_copy_offset(sign bits of its 4 values);
**   OFFSET:  a + 128 (as u8, i.e. a ^ 0x80).
** Rows r >= mr and columns k >= K are zero (OFFSET form: 0x80). */
static void ka_pack_a(const kq_args *g, int m, int mr, int kb0, int nb, int mode,
                      uint8_t *dst) {
    const int K = g->W->K, kbe = kb0 + nb;
    const size_t step = ka_kb_bytes(mode);
    int kb = kb0;
    if (mr == KA_MR) {
        /* 4 k-blocks (16 bytes) of each row at a time: a 4 x 4 transpose of
        ** 32-bit groups. */
        const int8_t *r0 = g->A + (size_t)m * g->lda;
        const int8_t *r1 = r0 + g->lda, *r2 = r1 + g->lda, *r3 = r2 + g->lda;
        const __m128i flip = _mm_set1_epi8((char)0x80);
        const __m128i wts = _mm_setr_epi8(1, 2, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8);
        for (; kb + 4 <= kbe && 4 * (kb + 4) <= K; kb += 4) {
            __m128i x0 = _mm_loadu_si128((const __m128i *)(r0 + 4 * kb));
            __m128i x1 = _mm_loadu_si128((const __m128i *)(r1 + 4 * kb));
            __m128i x2 = _mm_loadu_si128((const __m128i *)(r2 + 4 * kb));
            __m128i x3 = _mm_loadu_si128((const __m128i *)(r3 + 4 * kb));
            __m128i t0 = _mm_unpacklo_epi32(x0, x1); /* r0k0 r1k0 r0k1 r1k1 */
            __m128i t1 = _mm_unpacklo_epi32(x2, x3);
            __m128i t2 = _mm_unpackhi_epi32(x0, x1); /* r0k2 r1k2 r0k3 r1k3 */
            __m128i t3 = _mm_unpackhi_epi32(x2, x3);
            __m128i v[4] = {_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1),
                            _mm_unpacklo_epi64(t2, t3), _mm_unpackhi_epi64(t2, t3)};
            for (int q = 0; q < 4; q++) {
                uint8_t *d = dst + (size_t)(kb + q - kb0) * step;
                if (mode == KA_PACK_OFFSET) {
                    _mm_storeu_si128((__m128i *)d, _mm_xor_si128(v[q], flip));
                    continue;
                }
                _mm_storeu_si128((__m128i *)d, _mm_abs_epi8(v[q]));
                if (mode == KA_PACK_SIGNMAG) {
                    _mm_storeu_si128((__m128i *)(d + 16), v[q]);
                } else {
                    /* Offsets 64 * (sign bits of the row's 4 bytes), in
                    ** SIMD: weight the negative bytes by 1, 2, 4, 8, sum
                    ** each 4-byte group times 64, narrow to u16. */
                    __m128i bits = _mm_and_si128(_mm_cmpgt_epi8(_mm_setzero_si128(), v[q]), wts);
                    __m128i off = _mm_madd_epi16(_mm_maddubs_epi16(bits, _mm_set1_epi8(1)),
                                                 _mm_set1_epi16(64));
                    _mm_storel_epi64((__m128i *)(d + 16), _mm_packus_epi32(off, off));
                }
            }
        }
    }
    /* The rest (and everything for a partial group) byte by byte. */
    for (; kb < kbe; kb++) {
        uint8_t *d = dst + (size_t)(kb - kb0) * step;
        for (int r = 0; r < KA_MR; r++) {
            unsigned neg = 0;
            for (int i = 0; i < 4; i++) {
                int k = 4 * kb + i;
                int a = r < mr && k < K ? g->A[(size_t)(m + r) * g->lda + k] : 0;
                if (mode == KA_PACK_OFFSET) {
                    d[4 * r + i] = (uint8_t)(a + 128);
                    continue;
                }
                d[4 * r + i] = (uint8_t)(a < 0 ? -a : a);
                if (mode == KA_PACK_SIGNMAG) d[16 + 4 * r + i] = (uint8_t)a;
                neg |= (unsigned)(a < 0) << i;
            }
            if (mode == KA_PACK_COPY) {
                uint16_t off = ka_copy_offset(neg);
                memcpy(d + 16 + 2 * r, &off, 2);
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Weight unpacking (4/6-bit), one k-block: w0 = channels 0..7, w1 = 8..15,  */
/* each lane 4 consecutive k as int8.                                          */

static inline void ka_unpack4(const uint8_t *blk, __m256i *w0, __m256i *w1) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8);
    __m256i x = _mm256_loadu_si256((const __m256i *)blk);
    __m256i lo = _mm256_and_si256(x, m4);                        /* weights 0..31 */
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);  /* weights 32..63 */
    /* 4-bit two's complement -> int8: (v ^ 8) - 8. */
    *w0 = _mm256_sub_epi8(_mm256_xor_si256(lo, eight), eight);
    *w1 = _mm256_sub_epi8(_mm256_xor_si256(hi, eight), eight);
}

static inline void ka_unpack6(const uint8_t *blk, __m256i *w0, __m256i *w1) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    const __m256i s32 = _mm256_set1_epi8(32);
    /* Weight t's high pair sits at bits 2 (t / 16) of byte t % 16: for
    ** weights 0..31 (w0) the 128-bit lanes need shifts 0 and 2, for 32..63
    ** (w1) shifts 4 and 6. Shifting 64-bit lanes by < 8 leaves each byte's
    ** low two bits coming from that same byte. */
    const __m256i sh01 = _mm256_setr_epi64x(0, 0, 2, 2), sh23 = _mm256_setr_epi64x(4, 4, 6, 6);
    __m256i x = _mm256_loadu_si256((const __m256i *)blk);
    __m256i h = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 32)));
    __m256i lo = _mm256_and_si256(x, m4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
    __m256i h0 = _mm256_and_si256(_mm256_srlv_epi64(h, sh01), m2);
    __m256i h1 = _mm256_and_si256(_mm256_srlv_epi64(h, sh23), m2);
    /* 6-bit code = nibble | pair << 4 (pair <= 3: no carry across bytes). */
    __m256i c0 = _mm256_or_si256(lo, _mm256_slli_epi16(h0, 4));
    __m256i c1 = _mm256_or_si256(hi, _mm256_slli_epi16(h1, 4));
    *w0 = _mm256_sub_epi8(_mm256_xor_si256(c0, s32), s32);
    *w1 = _mm256_sub_epi8(_mm256_xor_si256(c1, s32), s32);
}

/* ------------------------------------------------------------------------ */
/* Sign copies (8-bit weights, many rows).                                   */
/*                                                                            */
/* The sign trick costs one vpsignb per row and weight vector, a quarter of   */
/* the vector instructions of the inner loop (which is bound by their        */
/* number). The sign of the activations only depends on 4 bits per row and   */
/* k-block, so instead the 16 possible sign patterns are applied to the      */
/* weights once per K slice: copy p of a k-block is the block with the       */
/* weights of k0 + i negated where bit i of p is set. A row then picks its   */
/* copy by address (an offset stored with its packed |a|): the sign costs a  */
/* load instead of an instruction. Built per panel and K slice (1 KiB per    */
/* k-block, 64 KiB for a 256-deep slice, in L1/L2), amortised over all rows  */
/* of the m-block. The weights are at most 127 in magnitude, so a negated    */
/* copy never overflows.                                                      */

/* pat[p]: byte b is -1 when bit (b % 4) of p is set, else +1. */
static void ka_make_patterns(__m256i pat[16]) {
    for (int p = 0; p < 16; p++) {
        int8_t b[32];
        for (int i = 0; i < 32; i++) b[i] = (int8_t)((p >> (i % 4)) & 1 ? -1 : 1);
        pat[p] = _mm256_loadu_si256((const __m256i *)b);
    }
}

/* Copies of nkb 8-bit blocks starting at blk into wc[kb][p][64]. */
static void ka_build_copies(const uint8_t *blk, int nkb, const __m256i pat[16], uint8_t *wc) {
    for (int kb = 0; kb < nkb; kb++, blk += 64) {
        __m256i w0 = _mm256_load_si256((const __m256i *)blk);
        __m256i w1 = _mm256_load_si256((const __m256i *)(blk + 32));
        for (int p = 0; p < 16; p++, wc += 64) {
            _mm256_store_si256((__m256i *)wc, _mm256_sign_epi8(w0, pat[p]));
            _mm256_store_si256((__m256i *)(wc + 32), _mm256_sign_epi8(w1, pat[p]));
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Micro-kernels: 4 rows x 16 channels over nkb k-blocks.                     */
/* out[2r] = channels 0..7 of row r, out[2r + 1] = channels 8..15.            */

/* 8-bit weights, sign trick. ap: packed A of the 4-row group; wp: panel. */
static void ka_tile_s8(int nkb, const uint8_t *ap, const uint8_t *wp, __m256i out[8]) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
    __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int kb = 0; kb < nkb; kb++, ap += 32, wp += 64) {
        __m256i w0 = _mm256_load_si256((const __m256i *)wp);
        __m256i w1 = _mm256_load_si256((const __m256i *)(wp + 32));
#define KA_ROW_S8(r)                                                                     \
    {                                                                                    \
        __m256i ua = ka_bcast4(ap + 4 * r), sa = ka_bcast4(ap + 16 + 4 * r);             \
        __m256i p0 = _mm256_maddubs_epi16(ua, _mm256_sign_epi8(w0, sa));                 \
        __m256i p1 = _mm256_maddubs_epi16(ua, _mm256_sign_epi8(w1, sa));                 \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(p0, ones));                \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(p1, ones));                \
    }
        KA_ROW_S8(0) KA_ROW_S8(1) KA_ROW_S8(2) KA_ROW_S8(3)
#undef KA_ROW_S8
    }
    out[0] = c00, out[1] = c01, out[2] = c10, out[3] = c11;
    out[4] = c20, out[5] = c21, out[6] = c30, out[7] = c31;
}

/* 4- or 6-bit weights, offset form (ap holds a + 128). */
static inline __attribute__((always_inline)) void ka_tile_lowbit(int bits, int nkb,
                                                                 const uint8_t *ap,
                                                                 const uint8_t *wp,
                                                                 __m256i out[8]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t bb = kq_block_bytes(bits);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
    __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int kb = 0; kb < nkb; kb++, ap += 16, wp += bb) {
        __m256i w0, w1;
        if (bits == 4) ka_unpack4(wp, &w0, &w1);
        else ka_unpack6(wp, &w0, &w1);
#define KA_ROW_LB(r)                                                                     \
    {                                                                                    \
        __m256i ua = ka_bcast4(ap + 4 * r);                                              \
        c##r##0 = _mm256_add_epi32(c##r##0,                                              \
                                   _mm256_madd_epi16(_mm256_maddubs_epi16(ua, w0), ones)); \
        c##r##1 = _mm256_add_epi32(c##r##1,                                              \
                                   _mm256_madd_epi16(_mm256_maddubs_epi16(ua, w1), ones)); \
    }
        KA_ROW_LB(0) KA_ROW_LB(1) KA_ROW_LB(2) KA_ROW_LB(3)
#undef KA_ROW_LB
    }
    out[0] = c00, out[1] = c01, out[2] = c10, out[3] = c11;
    out[4] = c20, out[5] = c21, out[6] = c30, out[7] = c31;
}

static void ka_tile_s6(int nkb, const uint8_t *ap, const uint8_t *wp, __m256i out[8]) {
    ka_tile_lowbit(6, nkb, ap, wp, out);
}

static void ka_tile_s4(int nkb, const uint8_t *ap, const uint8_t *wp, __m256i out[8]) {
    ka_tile_lowbit(4, nkb, ap, wp, out);
}

/* ------------------------------------------------------------------------ */
/* Ask for the lines of C that a tile (rows m .. m + mr - 1 at channel n,   */
/* 64 bytes per row, usually straddling two lines) will write, so that      */
/* fetching them overlaps with the tile's products instead of stalling the  */
/* stores (worth ~15% when C is tens of MiB).                               */

static inline void ka_prefetch_c(const kq_args *g, int m, int mr, int n) {
    for (int r = 0; r < mr; r++) {
        size_t at = (size_t)(m + r) * g->ldc + n;
        const char *cp = g->C32 ? (const char *)(g->C32 + at) : (const char *)(g->Cf + at);
        _mm_prefetch(cp, _MM_HINT_T0);
        _mm_prefetch(cp + 63, _MM_HINT_T0);
    }
}

/* ------------------------------------------------------------------------ */
/* Store: row m, channels n .. n + nr - 1 (nr <= 16), from v0 (0..7), v1.     */

static inline void ka_store(const kq_args *g, int m, int n, int nr, __m256i v0, __m256i v1) {
    if (nr == KQ_NR) {
        if (g->C32) {
            int32_t *c = g->C32 + (size_t)m * g->ldc + n;
            _mm256_storeu_si256((__m256i *)c, v0);
            _mm256_storeu_si256((__m256i *)(c + 8), v1);
        } else {
            /* Same steps as kq_epilogue: exact-to-nearest conversion, one
            ** multiply, one add (not fused: -ffp-contract=off). */
            float *c = g->Cf + (size_t)m * g->ldc + n;
            __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(v0), _mm256_loadu_ps(g->scale + n));
            __m256 f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(v1), _mm256_loadu_ps(g->scale + n + 8));
            if (g->bias) {
                f0 = _mm256_add_ps(f0, _mm256_loadu_ps(g->bias + n));
                f1 = _mm256_add_ps(f1, _mm256_loadu_ps(g->bias + n + 8));
            }
            _mm256_storeu_ps(c, f0);
            _mm256_storeu_ps(c + 8, f1);
        }
    } else {
        int32_t tmp[KQ_NR];
        _mm256_storeu_si256((__m256i *)tmp, v0);
        _mm256_storeu_si256((__m256i *)(tmp + 8), v1);
        kq_store_row(g, m, n, nr, tmp);
    }
}

/* 8-bit weights, sign copies (see ka_build_copies): nkb k-blocks of one K
** slice for one 4-row group; ap: the group's packed A (COPY form) for the
** slice; wc: the slice's copies; acc[r * 16 + j]: the group's running sums
** for row r, channel j. The first slice stores its sums minus the zero-point
** term z (za * colsum), later slices add theirs. With acc NULL (K is a
** single slice) the rows go straight to C: rows m .. m + mr - 1, channels
** n .. n + nr - 1 (stores spread between products cost less than a burst). */
static void ka_tile_copy(int nkb, const uint8_t *ap, const uint8_t *wc, int32_t *acc,
                         int first, __m256i z0, __m256i z1, const kq_args *g, int m, int mr,
                         int n, int nr) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
    __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    if (!acc) ka_prefetch_c(g, m, mr, n);
    for (int kb = 0; kb < nkb; kb++, ap += 24, wc += 16 * 64) {
#define KA_ROW_CP(r)                                                                     \
    {                                                                                    \
        uint16_t off;                                                                    \
        memcpy(&off, ap + 16 + 2 * r, 2);                                                \
        const __m256i *ws = (const __m256i *)(wc + off);                                 \
        __m256i ua = ka_bcast4(ap + 4 * r);                                              \
        __m256i p0 = _mm256_maddubs_epi16(ua, _mm256_load_si256(ws));                    \
        __m256i p1 = _mm256_maddubs_epi16(ua, _mm256_load_si256(ws + 1));                \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(p0, ones));                \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(p1, ones));                \
    }
        KA_ROW_CP(0) KA_ROW_CP(1) KA_ROW_CP(2) KA_ROW_CP(3)
#undef KA_ROW_CP
    }
    __m256i c[8] = {c00, c01, c10, c11, c20, c21, c30, c31};
    if (!acc) {
        for (int r = 0; r < mr; r++)
            ka_store(g, m + r, n, nr, _mm256_sub_epi32(c[2 * r], z0),
                     _mm256_sub_epi32(c[2 * r + 1], z1));
        return;
    }
    for (int i = 0; i < 8; i++) {
        __m256i *d = (__m256i *)(void *)(acc + 8 * i);
        __m256i base = first ? _mm256_sub_epi32(_mm256_setzero_si256(), i % 2 ? z1 : z0)
                             : _mm256_load_si256(d);
        _mm256_store_si256(d, _mm256_add_epi32(c[i], base));
    }
}

/* ------------------------------------------------------------------------ */
/* Block drivers.                                                             */

typedef void (*ka_tile_fn)(int nkb, const uint8_t *ap, const uint8_t *wp, __m256i out[8]);

/* Columns of z (za * colsum or (za + 128) * colsum) for channels n .. n + 15.
** colsum is padded to Np, so all 16 lanes are readable. */
static inline void ka_zero_point(const kq_weights *w, int n, __m256i zf, __m256i *z0, __m256i *z1) {
    *z0 = _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(w->colsum + n)), zf);
    *z1 = _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(w->colsum + n + 8)), zf);
}

/* All of K per tile, accumulators in registers: 4/6-bit weights (offset
** form), and 8-bit weights (sign trick) when the block has few rows. */
static void ka_block_direct(const kq_args *g, int m0, int m1, int n0, int n1) {
    const kq_weights *w = g->W;
    const int nkb = w->Kp / KQ_KB;
    const int mode = w->bits == 8 ? KA_PACK_SIGNMAG : KA_PACK_OFFSET;
    const size_t group_bytes = (size_t)nkb * ka_kb_bytes(mode);
    ka_tile_fn tile = w->bits == 8 ? ka_tile_s8 : w->bits == 6 ? ka_tile_s6 : ka_tile_s4;
    /* 8-bit: acc = sum(a w) - za colsum; 4/6-bit: sum((a+128) w) - (za+128) colsum. */
    const __m256i zf = _mm256_set1_epi32(w->bits == 8 ? g->za : g->za + 128);

    int groups = (int)(KA_A_BUDGET / group_bytes);
    int need = (m1 - m0 + KA_MR - 1) / KA_MR;
    if (groups < 1) groups = 1;
    if (groups > need) groups = need;
    uint8_t *ap = aligned_alloc(64, (groups * group_bytes + 63) / 64 * 64);
    if (!ap) { /* out of memory: the reference gives the same integers */
        kq_ref_block(g, m0, m1, n0, n1);
        return;
    }

    for (int mb = m0; mb < m1; mb += groups * KA_MR) {
        int me = mb + groups * KA_MR < m1 ? mb + groups * KA_MR : m1;
        for (int m = mb; m < me; m += KA_MR)
            ka_pack_a(g, m, me - m < KA_MR ? me - m : KA_MR, 0, nkb, mode,
                      ap + (size_t)((m - mb) / KA_MR) * group_bytes);

        for (int n = n0; n < n1; n += KQ_NR) {
            int nr = n1 - n < KQ_NR ? n1 - n : KQ_NR;
            const uint8_t *panel = kq_panel(w, n / KQ_NR);
            __m256i z0, z1;
            ka_zero_point(w, n, zf, &z0, &z1);
            for (int m = mb; m < me; m += KA_MR) {
                __m256i acc[8];
                int mr = me - m < KA_MR ? me - m : KA_MR;
                ka_prefetch_c(g, m, mr, n);
                tile(nkb, ap + (size_t)((m - mb) / KA_MR) * group_bytes, panel, acc);
                for (int r = 0; r < mr; r++)
                    ka_store(g, m + r, n, nr, _mm256_sub_epi32(acc[2 * r], z0),
                             _mm256_sub_epi32(acc[2 * r + 1], z1));
            }
        }
    }
    free(ap);
}

/* 8-bit weights with sign copies. Loops:
**   for each m-block of MC rows
**     pack the m-block's A, slice by slice (COPY form)
**     for each chunk of channels (the m-block's C for the chunk ~ L2)
**       for each K slice (at most KA_KC_COPY deep; equal slices)
**         for each panel of the chunk: build the slice's sign copies (L1)
**           for each 4-row group: tile, accumulating into C
** Slices outside the panels, as in BLIS: only one slice of A (L2) and of
** copies (L1) must stay in cache, so an m-block can have hundreds of rows to
** share the cost of the copies. The sums of the chunk live in a contiguous
** int32 buffer until the last slice, then are written to C row by row (C
** written panel by panel, 64 bytes per row at a power-of-two stride, would
** thrash L2 sets and fetch lines that straddle two panels twice). */
static void ka_block_copy(const kq_args *g, int m0, int m1, int n0, int n1) {
    const kq_weights *w = g->W;
    const int nkb = w->Kp / KQ_KB;
    const int nslices = (nkb + KA_KC_COPY / KQ_KB - 1) / (KA_KC_COPY / KQ_KB);
    const int kcb = (nkb + nslices - 1) / nslices;
    const size_t slice_group_bytes = (size_t)kcb * ka_kb_bytes(KA_PACK_COPY);
    const __m256i zf = _mm256_set1_epi32(g->za);

    /* Rows per m-block: one slice of packed A within KA_COPY_A_BUDGET, all of
    ** it within KA_COPY_A_MAX; at least KA_COPY_MIN_GROUPS groups. */
    int groups = (int)(KA_COPY_A_BUDGET / slice_group_bytes);
    int gmax = (int)(KA_COPY_A_MAX / (slice_group_bytes * nslices));
    if (gmax < groups) groups = gmax;
    int need = (m1 - m0 + KA_MR - 1) / KA_MR;
    if (groups < KA_COPY_MIN_GROUPS) groups = KA_COPY_MIN_GROUPS;
    if (groups > need) groups = need;
    /* Equal m-blocks: the copies are built once per m-block. */
    int nmb = (need + groups - 1) / groups;
    groups = (need + nmb - 1) / nmb;
    /* Channels per chunk: the chunk's sums within KA_C_BUDGET. */
    int chunk = (int)(KA_C_BUDGET / ((size_t)groups * KA_MR * sizeof(int32_t))) / KQ_NR * KQ_NR;
    if (chunk < KQ_NR) chunk = KQ_NR;
    if (nslices == 1) chunk = n1 - n0; /* no sums to keep: tiles write C */
    int chunk_panels = chunk / KQ_NR;

    size_t ap_bytes = ((size_t)groups * nslices * slice_group_bytes + 63) / 64 * 64;
    size_t wc_bytes = (size_t)kcb * 16 * 64;
    int use_acc = nslices > 1; /* else tiles write C directly (measured faster) */
    size_t acc_bytes =
        use_acc ? (size_t)chunk_panels * groups * KA_MR * KQ_NR * sizeof(int32_t) : 0;
    uint8_t *buf = aligned_alloc(64, ap_bytes + wc_bytes + acc_bytes);
    if (!buf) {
        ka_block_direct(g, m0, m1, n0, n1);
        return;
    }
    uint8_t *ap = buf, *wc = buf + ap_bytes;
    int32_t *acc = use_acc ? (int32_t *)(void *)(buf + ap_bytes + wc_bytes) : NULL;
    __m256i pat[16];
    ka_make_patterns(pat);

    for (int mb = m0; mb < m1; mb += groups * KA_MR) {
        int me = mb + groups * KA_MR < m1 ? mb + groups * KA_MR : m1;
        int ng = (me - mb + KA_MR - 1) / KA_MR;
        /* Slice s of group gi at ap + (s * ng + gi) * slice_group_bytes. */
        for (int s = 0; s < nslices; s++) {
            int kb0 = s * kcb, nb = nkb - kb0 < kcb ? nkb - kb0 : kcb;
            for (int gi = 0; gi < ng; gi++) {
                int m = mb + gi * KA_MR;
                ka_pack_a(g, m, me - m < KA_MR ? me - m : KA_MR, kb0, nb, KA_PACK_COPY,
                          ap + ((size_t)s * ng + gi) * slice_group_bytes);
            }
        }
        for (int nc = n0; nc < n1; nc += chunk) {
            int nce = nc + chunk < n1 ? nc + chunk : n1;
            for (int s = 0; s < nslices; s++) {
                int kb0 = s * kcb, nb = nkb - kb0 < kcb ? nkb - kb0 : kcb;
                for (int n = nc; n < nce; n += KQ_NR) {
                    int nr = nce - n < KQ_NR ? nce - n : KQ_NR;
                    __m256i z0, z1;
                    ka_zero_point(w, n, zf, &z0, &z1);
                    ka_build_copies(kq_panel(w, n / KQ_NR) + (size_t)kb0 * 64, nb, pat, wc);
                    /* This panel's sums: 4 x 16 per group. */
                    int32_t *pacc = acc ? acc + (size_t)((n - nc) / KQ_NR) * ng * KA_MR * KQ_NR
                                        : NULL;
                    for (int gi = 0; gi < ng; gi++) {
                        int m = mb + gi * KA_MR;
                        ka_tile_copy(nb, ap + ((size_t)s * ng + gi) * slice_group_bytes, wc,
                                     pacc ? pacc + (size_t)gi * KA_MR * KQ_NR : NULL, s == 0,
                                     z0, z1, g, m, me - m < KA_MR ? me - m : KA_MR, n, nr);
                    }
                }
            }
            /* Write the chunk to C, row by row. */
            for (int m = mb; acc && m < me; m++) {
                const int32_t *a = acc + (size_t)((m - mb) / KA_MR) * KA_MR * KQ_NR +
                                   (size_t)((m - mb) % KA_MR) * KQ_NR;
                for (int n = nc; n < nce; n += KQ_NR, a += (size_t)ng * KA_MR * KQ_NR)
                    ka_store(g, m, n, nce - n < KQ_NR ? nce - n : KQ_NR,
                             _mm256_load_si256((const __m256i *)(const void *)a),
                             _mm256_load_si256((const __m256i *)(const void *)(a + 8)));
            }
        }
    }
    free(buf);
}

/* A block of at most KA_NARROW_N channels (a classifier's N = 2): a 16-wide
** panel would compute mostly padding, and packing A (the large operand)
** costs a pass over it. Instead rows of A are read once, 32 bytes at a time,
** against each channel's weights unpacked into plain rows (sign trick, any
** width: the codes fit 8 bits); KA_MR rows at a time, so that the horizontal
** sums at the rows' end are one reduction of 8 vectors (ka_hsum8). */

/* Lane i of the result = the sum of the 8 lanes of v[i]. */
static inline __m256i ka_hsum8(const __m256i v[8]) {
    __m256i t0 = _mm256_hadd_epi32(v[0], v[1]), t1 = _mm256_hadd_epi32(v[2], v[3]);
    __m256i t2 = _mm256_hadd_epi32(v[4], v[5]), t3 = _mm256_hadd_epi32(v[6], v[7]);
    __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
    /* u0: 128-bit half h holds the sums of half h of v[0..3]; u1 of v[4..7] */
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* Rows m .. m + mr - 1 (mr <= KA_MR) against NN channel rows wr[j][Kp] (NN a
** compile-time constant in each caller); sums[r * NN + j] = sum over k < K32
** of A[m + r][k] * W[n0 + j][k]. */
static inline __attribute__((always_inline)) void
ka_narrow_rows(const int NN, const kq_args *g, int m, int mr, int K32, const int8_t *wr, int Kp,
               int32_t sums[KA_MR * KA_NARROW_N + 8]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *rows[KA_MR];
    for (int r = 0; r < KA_MR; r++) /* past mr: repeat the last row (not stored) */
        rows[r] = g->A + (size_t)(m + (r < mr ? r : mr - 1)) * g->lda;
    __m256i acc[KA_MR * KA_NARROW_N + 8];
    for (int i = 0; i < KA_MR * NN; i++) acc[i] = _mm256_setzero_si256();
    for (int k = 0; k < K32; k += 32) {
#pragma GCC unroll 4
        for (int r = 0; r < KA_MR; r++) {
            __m256i va = _mm256_loadu_si256((const __m256i *)(rows[r] + k));
            __m256i ua = _mm256_abs_epi8(va);
#pragma GCC unroll 6
            for (int j = 0; j < NN; j++) {
                __m256i wv = _mm256_loadu_si256((const __m256i *)(wr + (size_t)j * Kp + k));
                __m256i p = _mm256_maddubs_epi16(ua, _mm256_sign_epi8(wv, va));
                acc[r * NN + j] = _mm256_add_epi32(acc[r * NN + j], _mm256_madd_epi16(p, ones));
            }
        }
    }
    for (int i = KA_MR * NN; i < (KA_MR * NN + 7) / 8 * 8; i++) acc[i] = _mm256_setzero_si256();
    for (int i = 0; i < KA_MR * NN; i += 8)
        _mm256_storeu_si256((__m256i *)(sums + i), ka_hsum8(acc + i));
}

int kq_avx2_narrow_block(const kq_args *g, int m0, int m1, int n0, int n1) {
    const kq_weights *w = g->W;
    if (n1 > w->N) n1 = w->N;
    if (n1 - n0 > KA_NARROW_N) return 0;
    const int K = w->K, nn = n1 - n0, K32 = K / 32 * 32, Kp = w->Kp;
    /* wr[j][k] = W[n0 + j][k], k < Kp (n0 starts a panel, nn < 16). */
    int8_t *wr = malloc((size_t)nn * Kp);
    if (!wr) return 0;
    const uint8_t *blk = kq_panel(w, n0 / KQ_NR);
    for (int kb = 0; kb < Kp / KQ_KB; kb++, blk += kq_block_bytes(w->bits))
        for (int j = 0; j < nn; j++) {
            int8_t *d = wr + (size_t)j * Kp + KQ_KB * kb;
            if (w->bits == 8) /* channel j's 4 weights of the block: bytes 4j .. 4j + 3 */
                memcpy(d, blk + 4 * j, KQ_KB);
            else
                for (int i = 0; i < KQ_KB; i++) d[i] = (int8_t)kq_weight_at(w, n0 + j, KQ_KB * kb + i);
        }
    for (int m = m0; m < m1; m += KA_MR) {
        int mr = m1 - m < KA_MR ? m1 - m : KA_MR;
        int32_t sums[KA_MR * KA_NARROW_N + 8];
        switch (nn) {
        case 1: ka_narrow_rows(1, g, m, mr, K32, wr, Kp, sums); break;
        case 2: ka_narrow_rows(2, g, m, mr, K32, wr, Kp, sums); break;
        case 3: ka_narrow_rows(3, g, m, mr, K32, wr, Kp, sums); break;
        case 4: ka_narrow_rows(4, g, m, mr, K32, wr, Kp, sums); break;
        case 5: ka_narrow_rows(5, g, m, mr, K32, wr, Kp, sums); break;
        default: ka_narrow_rows(6, g, m, mr, K32, wr, Kp, sums); break;
        }
        for (int r = 0; r < mr; r++) {
            const int8_t *a = g->A + (size_t)(m + r) * g->lda;
            int32_t out[KA_NARROW_N];
            for (int j = 0; j < nn; j++) {
                int32_t v = sums[r * nn + j];
                for (int k = K32; k < K; k++) v += a[k] * wr[(size_t)j * Kp + k]; /* K % 32 */
                out[j] = v - g->za * w->colsum[n0 + j];
            }
            kq_store_row(g, m + r, n0, nn, out);
        }
    }
    free(wr);
    return 1;
}

void kq_avx2_block(const kq_args *g, int m0, int m1, int n0, int n1) {
    if (n1 > g->W->N) n1 = g->W->N;
    if (kq_avx2_narrow_block(g, m0, m1, n0, n1)) return;
    if (g->W->bits == 8 && m1 - m0 >= KA_COPY_MIN_ROWS)
        ka_block_copy(g, m0, m1, n0, n1);
    else
        ka_block_direct(g, m0, m1, n0, n1);
}
