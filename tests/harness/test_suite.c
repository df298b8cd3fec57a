/*
** test_suite: suite loading, validation messages (FILE:LINE:COL), include
** merge, exclude, gates, defaults, the matrix expansion order, and the
** catalogue of malformed suites in tests/harness/data/suites/bad/ (each
** NAME.yaml has the exact expected message in NAME.expect). Also loads
** every shipped suite in suites/. Runs from the source root.
*/
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/suite.h"

#define DATA "tests/harness/data/suites"

static int failures;
static char dir[] = "/tmp/risq-test-suite-XXXXXX";

#define CHECK(cond, ...)                                               \
    do {                                                               \
        printf((cond) ? "ok   " : "FAIL ");                            \
        if (!(cond)) failures++;                                       \
        printf(__VA_ARGS__);                                           \
        printf("\n");                                                  \
    } while (0)

static const char *write_suite(const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/s.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void expect_error(const char *text, const char *want)
{
    char err[1024] = "";
    suite *s = NULL;
    int rc = suite_load(write_suite(text), &s, err, sizeof err);
    CHECK(rc != 0 && strstr(err, want) && !s, "\"%s\" (want \"%s\")", err, want);
    suite_free(s);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = calloc(1, 65536);
    size_t n = b ? fread(b, 1, 65535, f) : 0;
    fclose(f);
    while (b && n && (b[n - 1] == '\n' || b[n - 1] == '\r')) b[--n] = 0;
    return b;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.yaml names in folder d; returns the count. */
static int yaml_files(const char *d, char ***out)
{
    DIR *dp = opendir(d);
    int n = 0;
    *out = NULL;
    if (!dp) return 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
        char **nv = realloc(*out, (size_t)(n + 1) * sizeof *nv);
        if (!nv) break;
        *out = nv;
        (*out)[n++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(*out, (size_t)n, sizeof **out, cmp_names);
    return n;
}

static void free_names(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Every bad/NAME.yaml fails to load with exactly bad/NAME.expect. */
static void check_catalogue(void)
{
    char **names;
    int n = yaml_files(DATA "/bad", &names);
    CHECK(n >= 25, "catalogue of malformed suites has %d entries (>= 25)", n);
    for (int i = 0; i < n; i++) {
        char path[512], expect_path[512], err[2048] = "";
        snprintf(path, sizeof path, DATA "/bad/%s", names[i]);
        snprintf(expect_path, sizeof expect_path, DATA "/bad/%.*s.expect", (int)strlen(names[i]) - 5, names[i]);
        char *want = read_all(expect_path);
        suite *s = NULL;
        int rc = suite_load(path, &s, err, sizeof err);
        CHECK(want && rc != 0 && !s && !strcmp(err, want), "%s: \"%s\"%s%s%s", names[i], err,
              want && !strcmp(err, want) ? "" : " (want \"", want ? (strcmp(err, want) ? want : "") : "no .expect",
              want && !strcmp(err, want) ? "" : "\")");
        free(want);
        suite_free(s);
    }
    free_names(names, n);
}

/* Every shipped suite loads and expands to something. */
static void check_shipped(void)
{
    char **names;
    int n = yaml_files("suites", &names);
    CHECK(n >= 3, "suites/ ships %d suites", n);
    for (int i = 0; i < n; i++) {
        char path[512], err[2048] = "";
        snprintf(path, sizeof path, "suites/%s", names[i]);
        suite *s = NULL;
        int rc = suite_load(path, &s, err, sizeof err);
        suite_config *c = NULL;
        int nc = rc ? 0 : suite_expand(s, &c);
        CHECK(rc == 0 && nc > 0 && s->description, "%s loads (%d configurations) %s", path, nc, rc ? err : "");
        free(c);
        suite_free(s);
    }
    free_names(names, n);
}

/* The matrix as "model/dataset/method/bits/isa/threads/board;..." */
static void matrix_string(const suite *s, char *out, size_t len)
{
    suite_config *c;
    int n = suite_expand(s, &c);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        const suite_target *t = &s->targets[c[i].target];
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s/%s/%s/%s/%s/%d/%s", i ? ";" : "", s->models[c[i].model],
                 s->datasets[c[i].dataset].label, s->methods[c[i].method], c[i].bits < 0 ? "-" : s->bits[c[i].bits],
                 t->isa, c[i].threads, t->board ? t->board : "-");
    }
    free(c);
}

static void check_basic(void)
{
    char err[1024];
    suite *s = NULL;
    char ds[300];
    snprintf(ds, sizeof ds, "%s/data", dir);
    char text[1024];
    snprintf(text, sizeof text,
             "suite: t\n"
             "models: [m1, m2]\n"
             "datasets:\n"
             "  - synth: {seed: 3, count: 5}\n"
             "  - {path: %s, split: test}\n"
             "methods: [fp32]\n"
             "bits: [W8A8, W4A4]\n"
             "targets: [{isa: auto, threads: [1, 2]}, {isa: scalar}]\n"
             "repetitions: 4\n", ds);
    if (mkdir(ds, 0755)) printf("note: mkdir %s failed\n", ds);
    int rc = suite_load(write_suite(text), &s, err, sizeof err);
    CHECK(rc == 0, "valid suite loads %s", rc ? err : "");
    if (rc) return;
    CHECK(s->nmodels == 2 && s->ndatasets == 2 && s->ntargets == 2 && s->repetitions == 4 && s->warmup == 2,
          "fields and defaults");
    CHECK(s->datasets[0].is_synth && s->datasets[0].synth.seed == 3 && s->datasets[0].synth.size == 64,
          "synth entry with defaults");
    CHECK(!strcmp(s->datasets[0].label, "synth-s3-n5-p64-d1"), "synth label %s", s->datasets[0].label);
    char want[400];
    snprintf(want, sizeof want, "%s:test", ds);
    CHECK(!strcmp(s->datasets[1].label, want), "folder label %s", s->datasets[1].label);
    CHECK(!strcmp(s->source_text, text), "source_text is the file's text");
    suite_config *c;
    int n = suite_expand(s, &c);
    /* 2 models x 2 datasets x fp32 (bits ignored) x (2 + 1 thread counts) */
    CHECK(n == 12, "expands to 12 configurations (%d)", n);
    CHECK(n == 12 && c[0].model == 0 && c[5].model == 0 && c[6].model == 1, "models outermost");
    CHECK(n == 12 && c[0].dataset == 0 && c[3].dataset == 1, "datasets next");
    CHECK(n == 12 && c[0].threads == 1 && c[1].threads == 2 && c[2].target == 1, "threads innermost");
    CHECK(n == 12 && c[0].bits == -1, "fp32 has no bit setting");
    free(c);
    suite_free(s);
}

static void check_defaults(void)
{
    char err[1024];
    suite *s = NULL;
    int rc = suite_load(write_suite("suite: d\nmodels: [m]\ndatasets: [{synth: }]\n"), &s, err, sizeof err);
    CHECK(rc == 0, "minimal suite loads %s", rc ? err : "");
    if (rc) return;
    CHECK(s->warmup == 2 && s->repetitions == 10 && s->timeout_s == 600, "warmup 2, repetitions 10, timeout 600");
    CHECK(!strcmp(s->calib_split, "train") && s->calib_samples == 32, "calibration train/32");
    CHECK(s->gates.n_miou == 0 && s->gates.speed_regression == 0.05 && s->gates.alpha == 0.05 &&
          s->gates.memory_regression == 0.05 && s->gates.ratio_min == 0,
          "gates default: 5%% speed, 5%% memory, alpha 0.05, ratio off");
    CHECK(s->nmethods == 1 && !strcmp(s->methods[0], "fp32"), "methods default [fp32]");
    CHECK(s->ntargets == 1 && !strcmp(s->targets[0].isa, "auto") && s->targets[0].nthreads == 1 &&
          s->targets[0].threads[0] == 1 && !s->targets[0].board, "targets default [{isa: auto, threads: 1}]");
    CHECK(s->nexcludes == 0 && s->nincludes == 0 && !s->description, "no excludes, includes, description");
    CHECK(s->ndatasets == 1 && s->datasets[0].synth.seed == 7 && s->datasets[0].synth.count == 500 &&
          !strcmp(s->datasets[0].split, "val"), "bare synth: generator defaults, split val");
    suite_free(s);
}

static void check_gates(void)
{
    char err[1024];
    suite *s = NULL;
    int rc = suite_load(write_suite("suite: g\nmodels: [m]\ndatasets: [{synth: {}}]\n"
                                    "bits: [W8A8, W6A6, W4A4]\ntimeout: 120.5\n"
                                    "calibration: {split: calib, samples: 8}\n"
                                    "gates:\n  miou_drop_max: {W8A8: 0.5, W6A6: 2, W4A4: 3.25}\n"
                                    "  speed_regression: 5%\n  memory_regression: 12%\n  alpha: 0.01\n"
                                    "  ratio_min: 0.99\n"),
                        &s, err, sizeof err);
    CHECK(rc == 0, "suite with gates loads %s", rc ? err : "");
    if (rc) return;
    const suite_gates *g = &s->gates;
    CHECK(g->n_miou == 3 && !strcmp(g->miou_bits[0], "W8A8") && g->miou_drop_max[0] == 0.5 &&
          !strcmp(g->miou_bits[2], "W4A4") && g->miou_drop_max[2] == 3.25, "miou_drop_max in order");
    CHECK(fabs(g->speed_regression - 0.05) < 1e-12 && fabs(g->memory_regression - 0.12) < 1e-12 &&
          g->alpha == 0.01 && g->ratio_min == 0.99, "5%% -> 0.05, memory 12%%, alpha, ratio_min");
    CHECK(s->timeout_s == 120.5 && !strcmp(s->calib_split, "calib") && s->calib_samples == 8,
          "timeout and calibration");
    suite_free(s);
    rc = suite_load(write_suite("suite: g\nmodels: [m]\ndatasets: [{synth: {}}]\n"
                                "gates: {speed_regression: 0.1, ratio_min: 99.5%}\n"), &s, err, sizeof err);
    CHECK(rc == 0 && s->gates.speed_regression == 0.1 && fabs(s->gates.ratio_min - 0.995) < 1e-12,
          "fraction 0.1 and 99.5%% %s", rc ? err : "");
    suite_free(s);
}

static void check_merge(void)
{
    char err[1024], m[4096];
    suite *s = NULL;
    int rc = suite_load(DATA "/good/merged.yaml", &s, err, sizeof err);
    CHECK(rc == 0, "merged.yaml loads %s", rc ? err : "");
    if (rc) return;
    CHECK(!strcmp(s->name, "merged") && !strcmp(s->description, "the base of the include tests"),
          "name from the including file, description from the include");
    CHECK(s->nincludes == 1 && !strcmp(s->includes[0], DATA "/good/base.yaml"), "includes recorded");
    CHECK(s->nmodels == 2 && !strcmp(s->models[0], "lavt-tiny") && !strcmp(s->models[1], "other-model"),
          "models: included first, repeat dropped");
    CHECK(s->ndatasets == 2 && s->datasets[1].synth.seed == 2, "datasets: repeat dropped");
    CHECK(s->nbits == 2 && s->nmethods == 1, "bits and methods from the include");
    CHECK(s->ntargets == 3 && s->targets[0].nthreads == 2 && s->targets[1].nthreads == 1 &&
          s->targets[1].threads[0] == 4 && !strcmp(s->targets[2].isa, "scalar") &&
          s->targets[2].board && !strcmp(s->targets[2].board, "rpi5"),
          "targets: auto [1,2] + auto [4] (2 already there) + scalar on rpi5");
    CHECK(s->warmup == 1 && s->repetitions == 7 && s->timeout_s == 100, "scalars: including file wins");
    CHECK(!strcmp(s->calib_split, "train") && s->calib_samples == 64, "calibration merged key by key");
    CHECK(s->gates.n_miou == 2 && s->gates.miou_drop_max[0] == 0.5 && s->gates.miou_drop_max[1] == 2.5 &&
          s->gates.alpha == 0.01 && fabs(s->gates.speed_regression - 0.1) < 1e-12 &&
          fabs(s->gates.ratio_min - 0.99) < 1e-12, "gates merged key by key");
    CHECK(s->nexcludes == 1 && !strcmp(s->excludes[0].model, "other-model") && !strcmp(s->excludes[0].isa, "scalar"),
          "exclude parsed");
    matrix_string(s, m, sizeof m);
    const char *want =
        "lavt-tiny/synth-s1-n4-p64-d1/fp32/-/auto/1/-;lavt-tiny/synth-s1-n4-p64-d1/fp32/-/auto/2/-;"
        "lavt-tiny/synth-s1-n4-p64-d1/fp32/-/auto/4/-;lavt-tiny/synth-s1-n4-p64-d1/fp32/-/scalar/1/rpi5;"
        "lavt-tiny/synth-s2-n4-p64-d1/fp32/-/auto/1/-;lavt-tiny/synth-s2-n4-p64-d1/fp32/-/auto/2/-;"
        "lavt-tiny/synth-s2-n4-p64-d1/fp32/-/auto/4/-;lavt-tiny/synth-s2-n4-p64-d1/fp32/-/scalar/1/rpi5;"
        "other-model/synth-s1-n4-p64-d1/fp32/-/auto/1/-;other-model/synth-s1-n4-p64-d1/fp32/-/auto/2/-;"
        "other-model/synth-s1-n4-p64-d1/fp32/-/auto/4/-;"
        "other-model/synth-s2-n4-p64-d1/fp32/-/auto/1/-;other-model/synth-s2-n4-p64-d1/fp32/-/auto/2/-;"
        "other-model/synth-s2-n4-p64-d1/fp32/-/auto/4/-";
    CHECK(!strcmp(m, want), "expansion order with the exclude applied:\n     %s", m);
    suite_free(s);

    rc = suite_load(DATA "/good/diamond.yaml", &s, err, sizeof err);
    CHECK(rc == 0, "diamond include is not a cycle %s", rc ? err : "");
    if (rc) return;
    CHECK(s->nmodels == 3 && !strcmp(s->models[1], "left-model") && !strcmp(s->models[2], "right-model") &&
          s->ndatasets == 1 && s->ntargets == 1 && s->gates.n_miou == 2,
          "diamond: base's entries once, then left, then right");
    CHECK(s->warmup == 4 && !strcmp(s->name, "diamond") && s->nincludes == 4,
          "diamond: later include wins warmup; 4 includes recorded (%d)", s->nincludes);
    suite_free(s);

    rc = suite_load(DATA "/good/folders.yaml", &s, err, sizeof err);
    CHECK(rc == 0, "folders.yaml loads %s", rc ? err : "");
    if (rc) return;
    CHECK(s->ndatasets == 2 && !strcmp(s->datasets[0].path, DATA "/good/ds") && !strcmp(s->datasets[0].label, "ds") &&
          !strcmp(s->datasets[1].label, "ds:val") && !s->datasets[0].split,
          "dataset folders resolved next to the suite, labels as written");
    matrix_string(s, m, sizeof m);
    CHECK(!strcmp(m, "lavt-tiny/ds/fp32/-/auto/1/-"), "exclude by dataset label: %s", m);
    suite_free(s);
}

static void check_inline_errors(void)
{
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {seed: 1}}]\nrepetitons: 3\n",
                 "s.yaml:4:1: unknown key 'repetitons' in the suite (did you mean 'repetitions'?)");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {seed: 1}}]\nwarmpu: 3\n",
                 "s.yaml:4:1: unknown key 'warmpu' in the suite (did you mean 'warmup'?)");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {seed: 1, colour: 2}}]\n",
                 "s.yaml:3:30: unknown key 'colour' in synth (expected one of: seed, count, size, difficulty)");
    expect_error("suite: t\nmodels: [m]\nmodels: [n]\ndatasets: [{synth: {}}]\n",
                 "s.yaml:3:1: duplicate key 'models'");
    expect_error("suite: t\nmodels: []\ndatasets: [{synth: {}}]\n", "s.yaml:2:9: 'models' is empty");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {count: -4}}]\n",
                 "s.yaml:3:28: 'count' = -4 is out of range");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\nmethods: [ptq5ris]\n",
                 "s.yaml:4:11: unknown method 'ptq5ris' (did you mean 'ptq4ris'?)");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\nmethods: [minmax]\n",
                 "s.yaml:1:1: method 'minmax' needs 'bits' (e.g. bits: [W8A8])");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\ntargets: [{isa: sse9}]\n",
                 "s.yaml:4:17: unknown isa 'sse9'");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\ntargets: [{isa: avx512}]\n",
                 "unknown isa 'avx512' (did you mean 'avx2'?)");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\nbits: [W8A8]\nexclude: [{bits: W8A8}]\n",
                 "s.yaml:5:11: exclude entry matches no configuration (a typo?)");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\nexclude: [{bits: W4A4}]\n",
                 "exclude: bits 'W4A4' is not in the suite (it has: none)");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\ngates: {ratio_min: 1.5}\n",
                 "'ratio_min' = 1.5 is out of range [0%, 100%]");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\ngates: {alpha: 0%}\n",
                 "'alpha' = 0% is out of range (0%, 50%]");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\ntimeout: -3\n",
                 "s.yaml:4:10: 'timeout' = -3 is out of range (0, 86400]");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\ninclude: {a: b}\n",
                 "s.yaml:4:10: 'include' must name a suite file, not a mapping");
    char err[256];
    suite *s = NULL;
    int rc = suite_load("/nonexistent/suite.yaml", &s, err, sizeof err);
    CHECK(rc != 0 && !s && strstr(err, "/nonexistent/suite.yaml: cannot open suite"), "missing file: %s", err);
    /* a long message is cut to errlen, never overrun */
    char small[24];
    memset(small, 'x', sizeof small);
    rc = suite_load(write_suite("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\nrepetitons: 3\n"), &s, small,
                    sizeof small);
    CHECK(rc != 0 && strlen(small) == sizeof small - 1, "message truncated to errlen");
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    check_basic();
    check_defaults();
    check_gates();
    check_merge();
    check_inline_errors();
    check_catalogue();
    check_shipped();

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) printf("note: could not remove %s\n", dir);
    printf("%d failed\n", failures);
    return failures != 0;
}
