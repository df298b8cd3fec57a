/*
** qgemm_ref: the scalar reference of the integer GEMM = the specification
** (see kernels/qgemm.h for the arithmetic contract and the packed layout,
** kernels/qgemm_impl.h for the block interface).
**
** Plain loops over the packed format: a panel of 16 output channels is
** unpacked (kq_ref_unpack_block, the definition of the 8-, 6- and 4-bit
** block layouts), then every output element is the k-ordered int32 sum of
** (A - za) * W. No SIMD, no tricks; the other variants are tested against
** this file bit for bit.
*/
#include "kernels/qgemm_impl.h"

#include <stdlib.h>

/* A 4-bit two's-complement code (0..15) as its value (-8..7). */
static int kq_ref_s4(unsigned nib) { return nib >= 8 ? (int)nib - 16 : (int)nib; }

/* A 6-bit two's-complement code (0..63) as its value (-32..31). */
static int kq_ref_s6(unsigned code) { return code >= 32 ? (int)code - 64 : (int)code; }

/* The low nibble of weight t (t < 64) of a 4-bit block (also the low four
** bits of a 6-bit weight): bytes 0..31 hold weights 0..31 in their low
** nibbles and weights 32..63 in their high nibbles. */
static unsigned kq_ref_nibble(const uint8_t *blk, int t) {
    return t < 32 ? blk[t] & 0x0fu : (unsigned)blk[t - 32] >> 4;
}

void kq_ref_unpack_block(const uint8_t *blk, int bits, int8_t out[64]) {
    for (int t = 0; t < 64; t++) {
        switch (bits) {
        case 8:
            out[t] = (int8_t)blk[t];
            break;
        case 4:
            out[t] = (int8_t)kq_ref_s4(kq_ref_nibble(blk, t));
            break;
        default: { /* 6: low four bits as the 4-bit block, then 2-bit pairs */
            unsigned hi = ((unsigned)blk[32 + t % 16] >> (2 * (t / 16))) & 3u;
            out[t] = (int8_t)kq_ref_s6(kq_ref_nibble(blk, t) | hi << 4);
            break;
        }
        }
    }
}

/* Unpack panel p into wk[k * 16 + j] = W[16p + j][k] (k < Kp, j < 16), as
** int16 so that the product loop below is a plain widening multiply-add. */
static void kq_ref_unpack_panel(const kq_weights *w, int p, int16_t *wk) {
    const uint8_t *panel = kq_panel(w, p);
    size_t bb = kq_block_bytes(w->bits);
    int8_t blk[64];
    for (int kb = 0; kb < w->Kp / KQ_KB; kb++) {
        kq_ref_unpack_block(panel + (size_t)kb * bb, w->bits, blk);
        for (int i = 0; i < KQ_KB; i++)
            for (int j = 0; j < KQ_NR; j++) wk[(size_t)(kb * KQ_KB + i) * KQ_NR + j] = blk[4 * j + i];
    }
}

void kq_ref_block(const kq_args *g, int m0, int m1, int n0, int n1) {
    const kq_weights *w = g->W;
    const int K = w->K, N = w->N;
    if (n1 > N) n1 = N;
    /* One unpacked panel (Kp x 16 int16, at most 2 MiB). Without memory,
    ** fall back to unpacking block by block for every row: same sums,
    ** slower. */
    int16_t *wk = malloc((size_t)w->Kp * KQ_NR * sizeof(int16_t));
    int32_t acc[KQ_NR];

    for (int n = n0; n < n1; n += KQ_NR) {
        int p = n / KQ_NR, nr = n1 - n < KQ_NR ? n1 - n : KQ_NR;
        if (wk) kq_ref_unpack_panel(w, p, wk);
        for (int m = m0; m < m1; m++) {
            const int8_t *a = g->A + (size_t)m * g->lda;
            for (int j = 0; j < KQ_NR; j++) acc[j] = 0;
            if (wk) {
                /* k outside, the 16 channels inside: fixed trip count, which
                ** the compiler vectorises (~3x the per-channel dot loops). */
                for (int k = 0; k < K; k++) {
                    const int32_t x = a[k] - g->za;
                    const int16_t *wrow = wk + (size_t)k * KQ_NR;
                    for (int j = 0; j < KQ_NR; j++) acc[j] += x * wrow[j];
                }
            } else {
                int8_t blk[64];
                for (int kb = 0; kb < w->Kp / KQ_KB; kb++) {
                    kq_ref_unpack_block(kq_panel(w, p) + (size_t)kb * kq_block_bytes(w->bits),
                                        w->bits, blk);
                    for (int j = 0; j < nr; j++)
                        for (int i = 0; i < KQ_KB && kb * KQ_KB + i < K; i++)
                            acc[j] += (a[kb * KQ_KB + i] - g->za) * blk[4 * j + i];
                }
            }
            kq_store_row(g, m, n, nr, acc);
        }
    }
    free(wk);
}
