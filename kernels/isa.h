/*
** isa: which instruction-set variant of the kernels runs.
**
** Owns CPU feature detection (CPUID + XGETBV on x86-64, getauxval(AT_HWCAP)
** on aarch64), the list of variants compiled into this binary, and the
** process-wide choice among them. The choice is the best supported variant,
** unless the environment variable RISQ_ISA names one (read once, on first
** use) or ki_isa_set() is called (a suite's `isa:`). Kernels with per-ISA
** variants (qgemm, gemm_f32) ask ki_isa_active() on each call, so a switch
** takes effect at the next call. Not meant to be switched while kernels run
** on other threads.
*/
#ifndef RISQ_KERNELS_ISA_H
#define RISQ_KERNELS_ISA_H

#include <stddef.h>

typedef enum {
    KI_REF = 0,      /* portable scalar C: the specification */
    KI_AVX2,         /* x86-64 AVX2 + FMA */
    KI_AVX512VNNI,   /* x86-64 AVX-512 F/BW/VL + VNNI */
    KI_NEON,         /* aarch64 Advanced SIMD */
    KI_NEON_DOTPROD, /* aarch64 Advanced SIMD + SDOT/UDOT (ARMv8.2 dotprod) */
    KI_COUNT
} ki_isa;

/* "scalar" (the reference), "avx2", "avx512vnni", "neon", "neon-dotprod". */
const char *ki_isa_name(ki_isa isa);

/* Name -> isa; also accepts "ref" (= scalar) and "auto" (= ki_isa_best()).
** Returns 0, or -1 with
** a message listing the valid names. */
int ki_isa_parse(const char *name, ki_isa *out, char *err, size_t errlen);

int ki_isa_compiled(ki_isa isa);  /* this binary contains the variant */
int ki_isa_supported(ki_isa isa); /* compiled in, and this CPU (and OS) runs it */
ki_isa ki_isa_best(void);         /* the fastest supported variant */

/* The variant kernels use now. First call: RISQ_ISA if set (an unknown or
** unsupported name there falls back to ki_isa_best(); ki_isa_env_error()
** then says why), else ki_isa_best(). */
ki_isa ki_isa_active(void);
const char *ki_isa_env_error(void); /* NULL when RISQ_ISA was fine or unset */

/* Make isa the active variant. Returns 0, or -1 with a message when this
** binary or CPU cannot run it (the active variant is then unchanged). */
int ki_isa_set(ki_isa isa, char *err, size_t errlen);

/* Comma-separated features detected ("avx2,fma,avx512f,...") for records. */
const char *ki_cpu_features(void);

#endif
