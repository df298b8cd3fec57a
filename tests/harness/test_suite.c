/*
** test_suite: suite loading, validation messages (FILE:LINE:COL) and the
** matrix expansion order.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/suite.h"

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
    CHECK(rc != 0 && strstr(err, want), "\"%s\" (want \"%s\")", err, want);
    suite_free(s);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    char err[1024];
    suite *s = NULL;
    int rc = suite_load(write_suite(
        "suite: t\n"
        "models: [m1, m2]\n"
        "datasets:\n"
        "  - synth: {seed: 3, count: 5}\n"
        "  - {path: /data/x, split: test}\n"
        "methods: [fp32]\n"
        "bits: [W8A8, W4A4]\n"
        "targets: [{isa: auto, threads: [1, 2]}, {isa: scalar}]\n"
        "repetitions: 4\n"), &s, err, sizeof err);
    CHECK(rc == 0, "valid suite loads %s", rc ? err : "");
    if (rc) return 1;
    CHECK(s->nmodels == 2 && s->ndatasets == 2 && s->ntargets == 2 && s->repetitions == 4 && s->warmup == 2,
          "fields and defaults");
    CHECK(s->datasets[0].is_synth && s->datasets[0].synth.seed == 3 && s->datasets[0].synth.size == 64,
          "synth entry with defaults");
    CHECK(!strcmp(s->datasets[0].label, "synth-s3-n5-p64-d1"), "synth label %s", s->datasets[0].label);
    CHECK(!strcmp(s->datasets[1].label, "/data/x:test"), "folder label %s", s->datasets[1].label);
    suite_config *c;
    int n = suite_expand(s, &c);
    /* 2 models x 2 datasets x fp32 (bits ignored) x (2 + 1 thread counts) */
    CHECK(n == 12, "expands to 12 configurations (%d)", n);
    CHECK(n == 12 && c[0].model == 0 && c[5].model == 0 && c[6].model == 1, "models outermost");
    CHECK(n == 12 && c[0].threads == 1 && c[1].threads == 2 && c[2].target == 1, "threads innermost");
    CHECK(n == 12 && c[0].bits == -1, "fp32 has no bit setting");
    free(c);
    suite_free(s);

    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {seed: 1}}]\nrepetitons: 3\n",
                 "s.yaml:4:1: unknown key 'repetitons' in the suite");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {seed: 1, colour: 2}}]\n",
                 "s.yaml:3:30: unknown key 'colour' in synth");
    expect_error("suite: t\nmodels: [m]\nmodels: [n]\ndatasets: [{synth: {}}]\n",
                 "s.yaml:3:1: duplicate key 'models'");
    expect_error("suite: t\nmodels: []\ndatasets: [{synth: {}}]\n", "s.yaml:2:9: 'models' is empty");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {count: -4}}]\n",
                 "s.yaml:3:28: 'count' = -4 is out of range");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {size: big}}]\n",
                 "'size' must be an integer, got 'big'");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\nmethods: [ptq5ris]\n",
                 "s.yaml:4:11: unknown method 'ptq5ris'");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\nbits: [W9A8]\n", "bad bit setting 'W9A8'");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\ntargets: [{isa: mmx}]\n",
                 "s.yaml:4:17: 'isa' must be auto or scalar");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{synth: {}}]\ntargets: [{threads: 0}]\n",
                 "'threads' = 0 is out of range");
    expect_error("models: [m]\ndatasets: [{synth: {}}]\n", "missing 'suite: NAME'");
    expect_error("suite: t\nmodels: [m]\n", "missing 'datasets'");
    expect_error("suite: t\nmodels: [m\n", "s.yaml:");
    expect_error("suite: t\nmodels: [m]\ndatasets: [{path: a, synth: {}}]\n", "either 'synth' or 'path'");
    expect_error("suite: t\nmodels: [m, m]\ndatasets: [{synth: {}}]\n", "'models' lists 'm' twice");
    rc = suite_load("/nonexistent/suite.yaml", &s, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "cannot open suite"), "missing file: %s", err);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) printf("note: could not remove %s\n", dir);
    printf("%d failed\n", failures);
    return failures != 0;
}
