/*
** test_lavt_random: models with random weights (model.yaml
** `weights: {random: {seed: N}}`, models/README.md "Random weights").
**
**  1. models/zoo/lavt-b-shapes/model.yaml parses as LAVT-B (Swin-B, BERT-base,
**     480x480, seed 1, random) and has the expected parameter count.
**  2. A small random model (odd sizes as test_lavt) loads twice with seed 1
**     to the same bytes and differently with seed 2; its weights have the
**     documented statistics (mean 0, std 0.02, bounded); it is speed-only;
**     a forward pass gives finite logits that are not all equal.
**  3. lavt-b-shapes itself loads (no forward pass: too slow under ASan),
**     and a few of its tensors have pinned checksums: the generator gives
**     the same bytes on every machine and compiler.
**  4. Malformed `weights:` entries are rejected with FILE:LINE:COL messages.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/threadpool.h"
#include "models/lavt.h"
#include "tests/models/lavt_small.h"

static int failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

#define LAVT_B_DIR "models/zoo/lavt-b-shapes"

/* A small lavt_one (input 40, window 3: padded windows, odd merges) whose
** last line is the weights entry; "%s" is that entry's value. */
static const char *YAML_SMALL =
    "name: lavt-random-test\n"
    LAVT_SMALL_YAML(40)
    "tokenizer:\n"
    "  vocab: vocab.txt\n"
    "  max_tokens: 8\n"
    "weights: %s\n";
#define WEIGHTS_LINE 28 /* the line of "weights:" in YAML_SMALL */

static const char *VOCAB[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a",
                               "red", "blue", "circle", "on", "left" };

static void write_folder(const char *dir, const char *weights)
{
    char p[512];
    snprintf(p, sizeof p, "%s/model.yaml", dir);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(2);
    }
    fprintf(f, YAML_SMALL, weights);
    fclose(f);
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(2);
    }
    for (size_t i = 0; i < sizeof VOCAB / sizeof VOCAB[0]; i++)
        fprintf(f, "%s\n", VOCAB[i]);
    fclose(f);
}

/* FNV-1a 64 over the bytes of every weight site (or of one, when name is
** given), chained in site order. */
static uint64_t weights_hash(const lavt_model *m, const char *name)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (int i = 0; i < lavt_site_count(m); i++) {
        const lavt_site *s = lavt_site_get(m, i);
        if (s->kind != LAVT_SITE_WEIGHT || (name && strcmp(s->name, name) != 0))
            continue;
        const unsigned char *b = (const unsigned char *)lavt_site_weight_fp32(m, i);
        size_t n = (size_t)s->rows * (size_t)s->cols * sizeof(float);
        for (size_t k = 0; k < n; k++)
            h = (h ^ b[k]) * 0x100000001B3ull;
    }
    return h;
}

static lavt_model *load(const char *dir)
{
    lavt_model *m = NULL;
    char err[2048] = "";
    if (lavt_load(dir, &m, err, sizeof err) != 0) {
        CHECK(0, "load %s: %s", dir, err);
        return NULL;
    }
    return m;
}

static void count_cb(void *ctx, const char *name, int ndim, const int64_t *shape)
{
    (void)name;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    *(int64_t *)ctx += n;
}

/* A malformed weights entry: lavt_load must fail with FILE:LINE:COL and the
** message; col is the expected column on WEIGHTS_LINE (0: not checked). */
static void expect_bad(const char *dir, const char *weights, int col, const char *msg)
{
    write_folder(dir, weights);
    lavt_model *m = NULL;
    char err[2048] = "", where[600];
    int rc = lavt_load(dir, &m, err, sizeof err);
    CHECK(rc != 0 && m == NULL, "weights: %s: should be rejected", weights);
    if (col)
        snprintf(where, sizeof where, "%s/model.yaml:%d:%d: ", dir, WEIGHTS_LINE, col);
    else
        snprintf(where, sizeof where, "%s/model.yaml:", dir);
    CHECK(strstr(err, where) == err, "weights: %s: message does not start with '%s': %s",
          weights, where, err);
    CHECK(strstr(err, msg) != NULL, "weights: %s: message lacks '%s': %s", weights, msg, err);
    printf("  weights: %-40s -> %s\n", weights, err);
    lavt_free(m);
}

int main(void)
{
    char tmpl[] = "/tmp/risq_test_lavt_random_XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    char err[2048] = "";

    /* ---- 1. the lavt-b-shapes config ---- */
    lavt_config cfg;
    int rc = lavt_config_load(LAVT_B_DIR "/model.yaml", &cfg, err, sizeof err);
    CHECK(rc == 0, "lavt-b-shapes config: %s", err);
    if (rc != 0)
        return 1;
    CHECK(cfg.weights_random == 1 && cfg.weights_seed == 1 && cfg.weights_file[0] == 0,
          "random weights with seed 1 expected (random %d, seed %llu, file '%s')", cfg.weights_random,
          (unsigned long long)cfg.weights_seed, cfg.weights_file);
    CHECK(cfg.input_size == 480 && cfg.patch_size == 4 && cfg.embed_dim == 128 &&
              cfg.depths[0] == 2 && cfg.depths[1] == 2 && cfg.depths[2] == 18 && cfg.depths[3] == 2 &&
              cfg.num_heads[0] == 4 && cfg.num_heads[3] == 32 && cfg.window_size == 12 &&
              cfg.mlp_ratio == 4.0f,
          "not Swin-B at 480");
    CHECK(cfg.hidden_size == 768 && cfg.num_layers == 12 && cfg.bert_heads == 12 &&
              cfg.intermediate_size == 3072 && cfg.vocab_size == 30522 && cfg.max_tokens == 20 &&
              cfg.num_classes == 2,
          "not BERT-base with 20 tokens");
    int64_t nparam = 0;
    lavt_for_each_param(&cfg, count_cb, &nparam);
    printf("  lavt-b-shapes: %lld parameters\n", (long long)nparam);
    CHECK(nparam == 227745658, "parameter count %lld", (long long)nparam);

    /* ---- 2. a small random model: deterministic, seed-dependent, sane ---- */
    write_folder(dir, "{random: {seed: 1}}");
    lavt_model *a = load(dir), *b = load(dir);
    write_folder(dir, "\n  random:\n    seed: 2");   /* block style, another seed */
    lavt_model *c2 = load(dir);
    if (!a || !b || !c2)
        return 1;
    CHECK(lavt_speed_only(a) == 1, "random weights must make the model speed-only");
    uint64_t ha = weights_hash(a, NULL), hb = weights_hash(b, NULL), hc = weights_hash(c2, NULL);
    CHECK(ha == hb, "two loads with seed 1 differ: %016llx vs %016llx", (unsigned long long)ha,
          (unsigned long long)hb);
    CHECK(ha != hc, "seeds 1 and 2 give the same weights (%016llx)", (unsigned long long)ha);
    printf("  small model: weights hash seed 1 %016llx (twice), seed 2 %016llx\n",
           (unsigned long long)ha, (unsigned long long)hc);
    /* statistics over every weight site but the BatchNorm-folded decoder convs */
    double sum = 0, sq = 0, mx = 0;
    size_t n = 0;
    for (int i = 0; i < lavt_site_count(a); i++) {
        const lavt_site *s = lavt_site_get(a, i);
        if (s->kind != LAVT_SITE_WEIGHT || !strncmp(s->name, "decoder.", 8))
            continue;
        const float *w = lavt_site_weight_fp32(a, i);
        for (size_t k = 0; k < (size_t)s->rows * s->cols; k++, n++) {
            sum += w[k];
            sq += (double)w[k] * w[k];
            mx = fabs(w[k]) > mx ? fabs(w[k]) : mx;
        }
    }
    double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
    printf("  small model: %zu weights, mean %.5f, std %.5f, max |w| %.4f\n", n, mean, sd, mx);
    CHECK(n > 3000 && fabs(mean) < 0.002 && fabs(sd - 0.02) < 0.002 && mx <= 0.0693 && mx > 0.04,
          "weights should have mean 0, std 0.02, |w| <= 3.47 std");
    /* a forward pass: finite, not constant */
    const lavt_config *c = lavt_get_config(a);
    int S = c->input_size;
    float *img = malloc(sizeof(float) * 3 * S * S), *lg = malloc(sizeof(float) * 2 * S * S);
    uint32_t r = 12345;
    for (int i = 0; i < 3 * S * S; i++) {
        r = r * 1664525u + 1013904223u;
        img[i] = (float)(r >> 8) / 8388608.0f - 1.0f;
    }
    int32_t ids[8] = { 2, 5, 7, 9, 10, 11, 3, 0 }, mask[8] = { 1, 1, 1, 1, 1, 1, 1, 0 };
    kt_pool *pool = kt_pool_create(1);
    rc = lavt_forward(a, pool, img, ids, mask, lg, err, sizeof err);
    CHECK(rc == 0, "forward: %s", err);
    float lo = INFINITY, hi = -INFINITY;
    int finite = 1;
    for (int i = 0; i < 2 * S * S; i++) {
        finite &= isfinite(lg[i]) != 0;
        lo = lg[i] < lo ? lg[i] : lo;
        hi = lg[i] > hi ? lg[i] : hi;
    }
    printf("  small model: logits in [%g, %g]\n", lo, hi);
    CHECK(finite && hi > lo, "logits must be finite and not all equal");
    kt_pool_destroy(pool);
    free(img);
    free(lg);
    lavt_free(a);
    lavt_free(b);
    lavt_free(c2);

    /* ---- 3. lavt-b-shapes loads, with pinned bytes ---- */
    lavt_model *B = load(LAVT_B_DIR);
    if (!B)
        return 1;
    CHECK(lavt_speed_only(B) == 1, "lavt-b-shapes must be speed-only");
    CHECK(lavt_weight_bytes(B) >= (size_t)nparam * 4 * 9 / 10, "weight_bytes %zu",
          lavt_weight_bytes(B));
    static const struct {
        const char *site;
        uint64_t hash;
    } pinned[] = {
        { "text.layer0.attn.query.weight", 0x5cb5b5ea514ea8c5ull },
        { "vision.patch_embed.weight", 0xd3038c62d5e82a75ull },
        { "vision.stage2.block17.mlp.fc2.weight", 0x3e4e0fb51020a84full },
        { "fusion.stage3.gate.0.weight", 0x38e9938a1d22074cull },
    };
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
        int s = lavt_site_find(B, pinned[i].site);
        CHECK(s >= 0, "no site %s", pinned[i].site);
        if (s < 0)
            continue;
        uint64_t h = weights_hash(B, pinned[i].site);
        const float *w = lavt_site_weight_fp32(B, s);
        printf("  lavt-b-shapes %-38s %016llx (first values %.8g %.8g)\n", pinned[i].site,
               (unsigned long long)h, w[0], w[1]);
        CHECK(h == pinned[i].hash, "%s: bytes changed (hash %016llx, pinned %016llx): the random "
              "weights generator must give the same bytes everywhere",
              pinned[i].site, (unsigned long long)h, (unsigned long long)pinned[i].hash);
    }
    lavt_free(B);

    /* ---- 4. malformed weights entries (column on the weights: line) ---- */
    expect_bad(dir, "{random: {}}", 19, "weights.random: missing required key 'seed'");
    expect_bad(dir, "{random: {seed: -1}}", 26, "weights.random.seed: expected an integer in [0, ");
    expect_bad(dir, "{random: {seed: 1.5}}", 26, "got '1.5'");
    expect_bad(dir, "{random: {seed: 18446744073709551616}}", 26, "expected an integer");
    expect_bad(dir, "{random: {seed: [1]}}", 26, "got 'a collection'");
    expect_bad(dir, "{random: {seed: 1, std: 2}}", 29,
               "unknown key 'std' in 'weights.random' (expected seed)");
    expect_bad(dir, "{random: {seed: 1, seed: 2}}", 29, "duplicate key 'seed'");
    expect_bad(dir, "{randm: {seed: 1}}", 11, "unknown key 'randm' in 'weights' (expected random)");
    expect_bad(dir, "{random: 5}", 19, "weights.random: expected a mapping like {seed: 1}");
    expect_bad(dir, "{}", 10, "weights: missing required key 'random'");
    expect_bad(dir, "[random]", 10, "weights: expected a file name or {random: {seed: N}}");

    char p[600];
    snprintf(p, sizeof p, "%s/model.yaml", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    unlink(p);
    rmdir(dir);
    if (failures) {
        fprintf(stderr, "test_lavt_random: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_lavt_random: all checks passed\n");
    return 0;
}
