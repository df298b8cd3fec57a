/*
** qgemm_neon_dotprod: the aarch64 ARMv8.2 dot-product variant of qgemm
** (kq_neon_dotprod_block, isa "neon-dotprod"). Compiled with
** -march=armv8.2-a+dotprod into its own library; kernels/isa.c only selects
** it when getauxval(AT_HWCAP) has HWCAP_ASIMDDP, so nothing here runs on a
** CPU without SDOT.
**
** Micro-kernel: 4 rows x one 16-channel panel, int32 accumulators (4 per
** row, one lane per channel). A packed weight block (16 channels x 4
** inputs, kernels/arm/qgemm_neon_common.h) is four int8x16 registers shaped
** exactly like SDOT's first operand, so one block costs 16 SDOTs per 4 rows:
** SDOT (by element) multiplies each channel's four weights with the four
** activation bytes of one 32-bit lane of the row's A register and adds the
** four products to the channel's lane. Each A register holds 8 inputs of
** one row (2 blocks per step: 16 accumulators + 8 weight + 4 activation
** registers fit the 32 without spills; with 4 blocks per step gcc hoists
** all the unpacking and spills); the tail of K is loaded byte by byte into
** a zero-padded register so that A is never read past column K.
**
** Arithmetic: SDOT sums A * W over s8 x s8 (|A * W| <= 128 * 127; the
** int32 sums stay below 2^31 for K <= KQ_K_MAX); the zero point is folded in
** at the end as acc - za * colsum[n], which equals sum (A - za) * W exactly.
** Results are bit-identical with kernels/ref whatever the order of the
** integer additions.
*/
#include "kernels/arm/qgemm_neon_common.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/arm/qgemm_neon_dotprod.c must be compiled with -march=armv8.2-a+dotprod"
#endif

#define KQD_MR 4 /* rows per micro-tile */

/* Add one block (weights w[0..3]) for the 4 rows, taking each row's four
** activations from lane L of a[r]. L must be a constant: a macro, not a
** function, so that it stays an immediate at every optimisation level. */
#define KQD_BLOCK(acc, w, a, L)                                              \
    do {                                                                     \
        KQN_UNROLL                                                           \
        for (int r_ = 0; r_ < KQD_MR; r_++) {                                \
            acc[r_][0] = vdotq_lane_s32(acc[r_][0], (w)[0], (a)[r_], L);     \
            acc[r_][1] = vdotq_lane_s32(acc[r_][1], (w)[1], (a)[r_], L);     \
            acc[r_][2] = vdotq_lane_s32(acc[r_][2], (w)[2], (a)[r_], L);     \
            acc[r_][3] = vdotq_lane_s32(acc[r_][3], (w)[3], (a)[r_], L);     \
        }                                                                    \
    } while (0)

/* acc[r][v] = sum over k of A[row r][k] * W[channel 4v + lane][k] for one
** panel (all Kp / 4 blocks). `bits` is a constant at every call site. */
KQN_INLINE void kqd_tile(const kq_weights *W, const uint8_t *panel, int bits,
                         const int8_t *const arow[KQD_MR], int32x4_t acc[KQD_MR][4]) {
    const int K = W->K;
    const size_t bb = kq_block_bytes(bits);
    const uint8_t *blk = panel;
    int8x8_t a[KQD_MR];
    int8x16_t w0[4], w1[4];
    int k = 0;

    KQN_UNROLL
    for (int r = 0; r < KQD_MR; r++) {
        KQN_UNROLL
        for (int v = 0; v < 4; v++) acc[r][v] = vdupq_n_s32(0);
    }

    /* Whole groups of 8 inputs: 2 blocks per A load. */
    for (; k + 8 <= K; k += 8) {
        KQN_UNROLL
        for (int r = 0; r < KQD_MR; r++) a[r] = vld1_s8(arow[r] + k);
        kqn_unpack(blk, bits, w0);
        kqn_unpack(blk + bb, bits, w1);
        KQD_BLOCK(acc, w0, a, 0);
        KQD_BLOCK(acc, w1, a, 1);
        blk += 2 * bb;
    }

    /* Tail: K - k < 8 inputs left, in one or two blocks (Kp - k <= 8) whose
    ** padded weights are zero; the padded activations are zero too. */
    if (k < K) {
        KQN_UNROLL
        for (int r = 0; r < KQD_MR; r++) a[r] = kqn_load_tail8(arow[r] + k, K - k);
        kqn_unpack(blk, bits, w0);
        KQD_BLOCK(acc, w0, a, 0);
        if (W->Kp - k > KQ_KB) {
            kqn_unpack(blk + bb, bits, w1);
            KQD_BLOCK(acc, w1, a, 1);
        }
    }
}

KQN_BLOCK_FUNCTION(kq_neon_dotprod_block, KQD_MR, kqd_tile)
