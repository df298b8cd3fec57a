/*
** gemm_f32_avx512: the AVX-512F register tile of the fp32 GEMM (x86-64 only;
** compiled with -mavx512f -mavx2 -mfma into its own library, called only when
** the active ISA is avx512vnni). The blocking, packing and threading around
** it are kernels/gemm_f32.c's; the contract of a tile is in
** kernels/gemm_f32_impl.h. The "nt" packer and the narrow kernel of this
** variant are the AVX2 file's (kf_avx2_pack_b_nt32, kf_avx2_narrow_nt).
**
** Tile: 6 rows x 32 columns of C = 12 zmm accumulators (two 16-float halves
** per row): the AVX2 tile's loop (kernels/x86/gemm_f32_tile.h, one source
** for both) with registers twice as wide, so it keeps two 512-bit FMA pipes
** busy where the AVX2 tile fills only half of each. The B panel is 32 KiB
** at kc = 256: in L1 on cores with 48 KiB (Ice Lake and later, Zen 4),
** streaming from L2 on 32 KiB ones. The AVX2 and AVX-512 tiles give the
** same bits (tests/kernels/test_gemm_f32.c checks it).
**
** Testing without AVX-512: built with -DRISQ_AVX512_EMULATE (tests only), the
** same source is compiled against SIMDe's portable implementation of the
** AVX-512 intrinsics (Debian libsimde-dev; on AVX2+FMA, each 512-bit FMA is
** two fused 256-bit ones) under the names kf_avx512emu_*, so the tile's
** indexing, edges and stores are checked on every x86-64 machine; the native
** build is tested only where the CPU has AVX-512.
*/
#ifdef RISQ_AVX512_EMULATE
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define kf_avx512_tile_6x32 kf_avx512emu_tile_6x32
#else
#include <immintrin.h>
#endif
#include <stddef.h>

#include "kernels/gemm_f32_impl.h"

/* The tile (kernels/x86/gemm_f32_tile.h) on zmm registers: 6 x 32. */
#define KF_T_VL 16
typedef __m512 kf_t_vec;
#define KF_T_ZERO() _mm512_setzero_ps()
#define KF_T_LOAD(p) _mm512_loadu_ps(p)
#define KF_T_STORE(p, v) _mm512_storeu_ps(p, v)
#define KF_T_ADD(a, b) _mm512_add_ps(a, b)
#define KF_T_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define KF_T_BCAST(p) _mm512_set1_ps(*(p))
#define KF_T_TILE kf_avx512_tile_6x32
#include "kernels/x86/gemm_f32_tile.h"
_Static_assert(KF_T_NR == KF_AVX512_NR, "the tile is as wide as the variant's panels");
