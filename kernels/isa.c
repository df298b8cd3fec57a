/*
** isa: CPU feature detection and the process-wide choice of kernel variant
** (see isa.h for the contract).
**
** Detection runs once (pthread_once) and fills a small table of features:
**   x86-64: CPUID leaf 1 (FMA, AVX, OSXSAVE, ...), leaf 7 sub-leaf 0 (AVX2,
**           AVX-512 F/BW/VL/VNNI, ...) and sub-leaf 1 (AVX-VNNI), and XGETBV
**           (XCR0) to check that the OS saves the YMM (bits 1-2) and, for
**           AVX-512, the opmask/ZMM state (bits 5-7). A CPU that has AVX2 but
**           runs under an OS that does not enable YMM state cannot use it.
**   aarch64: getauxval(AT_HWCAP): HWCAP_ASIMD (Advanced SIMD) and
**           HWCAP_ASIMDDP (SDOT/UDOT).
** Which variants exist in this binary is decided at build time by
** kernels/meson.build (RISQ_HAVE_AVX2, RISQ_HAVE_AVX512VNNI, RISQ_HAVE_NEON,
** RISQ_HAVE_NEON_DOTPROD); a variant is supported when it is compiled in and
** the detected features cover it.
**
** The active variant lives in an atomic int so kernels on worker threads can
** read it; RISQ_ISA is read once, at the first ki_isa_active() or
** ki_isa_set() call.
*/
#include "kernels/isa.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KI_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#define KI_ARM64 1
#endif

/* Feature bits (internal). */
enum {
    KI_F_SSE42 = 1u << 0,
    KI_F_AVX = 1u << 1,      /* AVX and OS-enabled YMM state */
    KI_F_FMA = 1u << 2,
    KI_F_AVX2 = 1u << 3,
    KI_F_F16C = 1u << 4,
    KI_F_BMI2 = 1u << 5,
    KI_F_AVX512F = 1u << 6,  /* each AVX-512 bit also needs OS ZMM state */
    KI_F_AVX512BW = 1u << 7,
    KI_F_AVX512VL = 1u << 8,
    KI_F_AVX512VNNI = 1u << 9,
    KI_F_AVXVNNI = 1u << 10,
    KI_F_ASIMD = 1u << 11,
    KI_F_ASIMDDP = 1u << 12
};

static const struct {
    unsigned bit;
    const char *name;
} ki_feature_names[] = {
    {KI_F_SSE42, "sse4.2"},     {KI_F_AVX, "avx"},           {KI_F_FMA, "fma"},
    {KI_F_AVX2, "avx2"},        {KI_F_F16C, "f16c"},         {KI_F_BMI2, "bmi2"},
    {KI_F_AVX512F, "avx512f"},  {KI_F_AVX512BW, "avx512bw"}, {KI_F_AVX512VL, "avx512vl"},
    {KI_F_AVX512VNNI, "avx512vnni"}, {KI_F_AVXVNNI, "avxvnni"},
    {KI_F_ASIMD, "asimd"},      {KI_F_ASIMDDP, "asimddp"},
};

static const char *const ki_names[KI_COUNT] = {
    "scalar", "avx2", "avx512vnni", "neon", "neon-dotprod",
};

/* What each variant needs. */
static const unsigned ki_requires[KI_COUNT] = {
    0,
    KI_F_AVX | KI_F_AVX2 | KI_F_FMA,
    /* (its fp32 GEMM and narrow integer blocks are the AVX2 + FMA code) */
    KI_F_AVX | KI_F_AVX2 | KI_F_FMA | KI_F_AVX512F | KI_F_AVX512BW | KI_F_AVX512VL |
        KI_F_AVX512VNNI,
    KI_F_ASIMD,
    KI_F_ASIMD | KI_F_ASIMDDP,
};

/* Order of preference for ki_isa_best(), fastest first. */
static const ki_isa ki_preference[] = {
    KI_AVX512VNNI, KI_AVX2, KI_NEON_DOTPROD, KI_NEON, KI_REF,
};

static pthread_once_t ki_once = PTHREAD_ONCE_INIT;
static unsigned ki_features;          /* detected, set once (ki_detect_init) */
static char ki_features_str[256];     /* comma-separated, set once */
static _Atomic int ki_active = KI_REF; /* set once by ki_init, then by ki_isa_set */
static char ki_env_err[256];          /* set once */
static int ki_env_err_set;

/* ------------------------------------------------------------------------ */
/* Detection.                                                                 */

#if defined(KI_X86)
/* XCR0 through XGETBV, written as bytes so no -mxsave flag is needed. Only
** valid when CPUID says OSXSAVE. */
static unsigned long long ki_xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static unsigned ki_detect(void) {
    unsigned f = 0, a, b, c, d;
    unsigned max = __get_cpuid_max(0, NULL);
    if (max < 1) return 0;
    __cpuid(1, a, b, c, d);
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if ((c >> 20) & 1) f |= KI_F_SSE42;
    unsigned long long xcr0 = osxsave ? ki_xgetbv0() : 0;
    int os_ymm = (xcr0 & 0x6) == 0x6;            /* XMM | YMM state */
    int os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0; /* opmask | ZMM_Hi256 | Hi16_ZMM */
    if (!(avx && os_ymm)) return f;               /* nothing wider than SSE usable */
    f |= KI_F_AVX;
    if ((c >> 12) & 1) f |= KI_F_FMA;
    if ((c >> 29) & 1) f |= KI_F_F16C;
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned subleaves = a;
        if ((b >> 5) & 1) f |= KI_F_AVX2;
        if ((b >> 8) & 1) f |= KI_F_BMI2;
        if (os_zmm) {
            if ((b >> 16) & 1) f |= KI_F_AVX512F;
            if ((b >> 30) & 1) f |= KI_F_AVX512BW;
            if ((b >> 31) & 1) f |= KI_F_AVX512VL;
            if ((c >> 11) & 1) f |= KI_F_AVX512VNNI;
        }
        if (subleaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            if ((a >> 4) & 1) f |= KI_F_AVXVNNI;
        }
    }
    return f;
}
#elif defined(KI_ARM64)
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
static unsigned ki_detect(void) {
    unsigned long hw = getauxval(AT_HWCAP);
    unsigned f = 0;
    if (hw & HWCAP_ASIMD) f |= KI_F_ASIMD;
    if (hw & HWCAP_ASIMDDP) f |= KI_F_ASIMDDP;
    return f;
}
#else
static unsigned ki_detect(void) { return 0; }
#endif

/* ------------------------------------------------------------------------ */
/* Tables.                                                                    */

const char *ki_isa_name(ki_isa isa) {
    return (unsigned)isa < KI_COUNT ? ki_names[isa] : "unknown";
}

int ki_isa_compiled(ki_isa isa) {
    switch (isa) {
    case KI_REF: return 1;
#ifdef RISQ_HAVE_AVX2
    case KI_AVX2: return 1;
#endif
#ifdef RISQ_HAVE_AVX512VNNI
    case KI_AVX512VNNI: return 1;
#endif
#ifdef RISQ_HAVE_NEON
    case KI_NEON: return 1;
#endif
#ifdef RISQ_HAVE_NEON_DOTPROD
    case KI_NEON_DOTPROD: return 1;
#endif
    default: return 0;
    }
}

static void ki_list_valid(char *buf, size_t len) {
    snprintf(buf, len, "auto, scalar (or ref), avx2, avx512vnni, neon, neon-dotprod");
}

/* "scalar, avx2" etc.: the variants this binary/CPU can run. */
static void ki_list_supported(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < KI_COUNT && used < len; i++) {
        if (!ki_isa_supported((ki_isa)i)) continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", ki_names[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

int ki_isa_parse(const char *name, ki_isa *out, char *err, size_t errlen) {
    if (name) {
        if (strcasecmp(name, "auto") == 0) {
            *out = ki_isa_best();
            return 0;
        }
        if (strcasecmp(name, "ref") == 0) {
            *out = KI_REF;
            return 0;
        }
        for (int i = 0; i < KI_COUNT; i++) {
            if (strcasecmp(name, ki_names[i]) == 0) {
                *out = (ki_isa)i;
                return 0;
            }
        }
    }
    if (err && errlen) {
        char valid[128];
        ki_list_valid(valid, sizeof valid);
        snprintf(err, errlen, "unknown isa '%s' (valid: %s)", name ? name : "(null)", valid);
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Initialisation: features, then RISQ_ISA.                                   */

static void ki_detect_init(void) {
    ki_features = ki_detect();
    size_t used = 0;
    ki_features_str[0] = '\0';
    for (size_t i = 0; i < sizeof ki_feature_names / sizeof ki_feature_names[0]; i++) {
        if (!(ki_features & ki_feature_names[i].bit)) continue;
        int w = snprintf(ki_features_str + used, sizeof ki_features_str - used, "%s%s",
                         used ? "," : "", ki_feature_names[i].name);
        if (w < 0 || (size_t)w >= sizeof ki_features_str - used) break;
        used += (size_t)w;
    }
}

/* The detected features; detection runs once, on first need. */
static pthread_once_t ki_detect_once = PTHREAD_ONCE_INIT;

static unsigned ki_features_detected(void) {
    pthread_once(&ki_detect_once, ki_detect_init);
    return ki_features;
}

/* The initial choice: RISQ_ISA if it names a supported variant, else the
** best one. */
static void ki_init(void) {
    (void)ki_features_detected();
    ki_isa best = ki_isa_best();
    ki_isa choice = best;
    const char *env = getenv("RISQ_ISA");
    if (env && env[0]) {
        ki_isa want;
        char msg[200];
        if (ki_isa_parse(env, &want, msg, sizeof msg) != 0) {
            snprintf(ki_env_err, sizeof ki_env_err, "RISQ_ISA: %s; using %s", msg,
                     ki_names[best]);
            ki_env_err_set = 1;
        } else if (!ki_isa_supported(want)) {
            char sup[96];
            ki_list_supported(sup, sizeof sup);
            snprintf(ki_env_err, sizeof ki_env_err,
                     "RISQ_ISA=%s: %s cannot run here (supported: %s); using %s", env,
                     ki_names[want], sup, ki_names[best]);
            ki_env_err_set = 1;
        } else {
            choice = want;
        }
    }
    atomic_store(&ki_active, (int)choice);
}

static void ki_ensure_init(void) { pthread_once(&ki_once, ki_init); }

/* ------------------------------------------------------------------------ */
/* Public queries.                                                            */

int ki_isa_supported(ki_isa isa) {
    if ((unsigned)isa >= KI_COUNT || !ki_isa_compiled(isa)) return 0;
    return (ki_features_detected() & ki_requires[isa]) == ki_requires[isa];
}

ki_isa ki_isa_best(void) {
    for (size_t i = 0; i < sizeof ki_preference / sizeof ki_preference[0]; i++)
        if (ki_isa_supported(ki_preference[i])) return ki_preference[i];
    return KI_REF;
}

ki_isa ki_isa_active(void) {
    ki_ensure_init();
    return (ki_isa)atomic_load(&ki_active);
}

const char *ki_isa_env_error(void) {
    ki_ensure_init();
    return ki_env_err_set ? ki_env_err : NULL;
}

int ki_isa_set(ki_isa isa, char *err, size_t errlen) {
    ki_ensure_init();
    if ((unsigned)isa >= KI_COUNT) {
        if (err && errlen) snprintf(err, errlen, "isa %d out of range", (int)isa);
        return -1;
    }
    if (!ki_isa_compiled(isa)) {
        if (err && errlen) {
            char sup[96];
            ki_list_supported(sup, sizeof sup);
            snprintf(err, errlen,
                     "isa %s is not compiled into this binary (this build supports: %s)",
                     ki_names[isa], sup);
        }
        return -1;
    }
    if (!ki_isa_supported(isa)) {
        if (err && errlen) {
            char sup[96];
            ki_list_supported(sup, sizeof sup);
            snprintf(err, errlen,
                     "isa %s needs CPU features this machine lacks (detected: %s; "
                     "supported here: %s)",
                     ki_names[isa], ki_features_str[0] ? ki_features_str : "none", sup);
        }
        return -1;
    }
    atomic_store(&ki_active, (int)isa);
    return 0;
}

const char *ki_cpu_features(void) {
    (void)ki_features_detected();
    return ki_features_str;
}
