/*
** qgemm_neon: the aarch64 Advanced SIMD variant of qgemm (kq_neon_block,
** isa "neon"). Baseline ARMv8.0 instructions only (every aarch64 CPU has
** them), so this is the variant of CPUs without the dot product, e.g.
** Cortex-A53/A57/A72.
**
** Micro-kernel: 2 rows x one 16-channel panel, two packed blocks (8 inputs)
** per step. Block registers (kernels/arm/qgemm_neon_common.h) hold four
** channels x four inputs each; the row's four activations of a block are
** broadcast to all 32-bit lanes of a register, so a widening multiply
** (SMULL on the low 8 bytes, SMULL2 on the high 8) pairs every weight with
** its own activation. The same lanes of the next block (same channels, the
** next four inputs) are added by SMLAL/SMLAL2 into the same int16 lanes:
** |A * W| <= 128 * 127 = 16256, so two products never exceed 32512 and
** never saturate (this is why weights stay in the narrow range [-127, 127]).
** SADALP then adds adjacent int16 pairs into int32 accumulators, 8 per row:
** accumulator 2v holds channels 4v, 4v+1 (two partial lanes each),
** accumulator 2v+1 channels 4v+2, 4v+3. At the end one pairwise add
** (ADDP) per register pair gives one int32 lane per channel.
**
** The zero point is folded in as acc - za * colsum[n] (exact; see
** kernels/qgemm.h). The tail of K is loaded byte by byte into a
** zero-padded register so that A is never read past column K. Bit-identical with kernels/ref.
*/
#include "kernels/arm/qgemm_neon_common.h"

#define KQP_MR 2 /* rows per micro-tile (8 accumulators each) */

/* Broadcast 32-bit lane L of a 64-bit register of activations. */
#define KQP_BCAST(a8, L) vreinterpretq_s8_s32(vdupq_lane_s32(vreinterpret_s32_s8(a8), L))

/* Add blocks w0 (inputs k .. k+3, broadcast in a0[r]) and w1 (inputs k+4 ..
** k+7, in a1[r]) for every row. */
KQN_INLINE void kqp_pair(int32x4_t acc[KQP_MR][8], const int8x16_t w0[4], const int8x16_t w1[4],
                         const int8x16_t a0[KQP_MR], const int8x16_t a1[KQP_MR]) {
    KQN_UNROLL
    for (int r = 0; r < KQP_MR; r++) {
        KQN_UNROLL
        for (int v = 0; v < 4; v++) {
            int16x8_t lo = vmull_s8(vget_low_s8(w0[v]), vget_low_s8(a0[r]));
            int16x8_t hi = vmull_high_s8(w0[v], a0[r]);
            lo = vmlal_s8(lo, vget_low_s8(w1[v]), vget_low_s8(a1[r]));
            hi = vmlal_high_s8(hi, w1[v], a1[r]);
            acc[r][2 * v] = vpadalq_s16(acc[r][2 * v], lo);
            acc[r][2 * v + 1] = vpadalq_s16(acc[r][2 * v + 1], hi);
        }
    }
}

/* out[r][v] = sum over k of A[row r][k] * W[channel 4v + lane][k] for one
** panel (all Kp / 4 blocks). `bits` is a constant at every call site. */
KQN_INLINE void kqp_tile(const kq_weights *W, const uint8_t *panel, int bits,
                         const int8_t *const arow[KQP_MR], int32x4_t out[KQP_MR][4]) {
    const int K = W->K;
    const size_t bb = kq_block_bytes(bits);
    const uint8_t *blk = panel;
    int32x4_t acc[KQP_MR][8];
    int8x16_t a0[KQP_MR], a1[KQP_MR], w0[4], w1[4];
    int k = 0;

    KQN_UNROLL
    for (int r = 0; r < KQP_MR; r++) {
        KQN_UNROLL
        for (int v = 0; v < 8; v++) acc[r][v] = vdupq_n_s32(0);
    }

    /* Whole groups of 8 inputs: two blocks per step. */
    for (; k + 8 <= K; k += 8) {
        KQN_UNROLL
        for (int r = 0; r < KQP_MR; r++) {
            int8x8_t a8 = vld1_s8(arow[r] + k);
            a0[r] = KQP_BCAST(a8, 0);
            a1[r] = KQP_BCAST(a8, 1);
        }
        kqn_unpack(blk, bits, w0);
        kqn_unpack(blk + bb, bits, w1);
        kqp_pair(acc, w0, w1, a0, a1);
        blk += 2 * bb;
    }

    /* Tail: K - k < 8 inputs left, in one or two blocks (Kp - k <= 8) whose
    ** padded weights are zero; a missing second block counts as zeros. */
    if (k < K) {
        KQN_UNROLL
        for (int r = 0; r < KQP_MR; r++) {
            int8x8_t a8 = kqn_load_tail8(arow[r] + k, K - k);
            a0[r] = KQP_BCAST(a8, 0);
            a1[r] = KQP_BCAST(a8, 1);
        }
        kqn_unpack(blk, bits, w0);
        if (W->Kp - k > KQ_KB) {
            kqn_unpack(blk + bb, bits, w1);
        } else {
            KQN_UNROLL
            for (int v = 0; v < 4; v++) w1[v] = vdupq_n_s8(0);
        }
        kqp_pair(acc, w0, w1, a0, a1);
    }

    KQN_UNROLL
    for (int r = 0; r < KQP_MR; r++) {
        KQN_UNROLL
        for (int v = 0; v < 4; v++) out[r][v] = vpaddq_s32(acc[r][2 * v], acc[r][2 * v + 1]);
    }
}

KQN_BLOCK_FUNCTION(kq_neon_block, KQP_MR, kqp_tile)
