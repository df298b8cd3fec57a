/*
** test_lavt: lavt.c without trained weights. Writes a small random lavt_one
** (odd sizes: input 40, window 3, so stage grids need window padding and odd
** patch merging) to a temp folder and checks loading, determinism across
** thread counts, text sensitivity, and the error messages for broken folders.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/isa.h"
#include "kernels/threadpool.h"
#include "models/lavt.h"
#include "models/tokenizer.h"
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

static const char *YAML_OK =
    "# random test model\n"
    "name: lavt-test\n"
    LAVT_SMALL_YAML(0)
    "decoder:\n"
    "  num_classes: 2\n"
    "tokenizer:\n"
    "  vocab: vocab.txt\n"
    "  max_tokens: 8\n"
    "  lower_case: true\n"
    "weights: weights.safetensors\n"
    "licence: MIT\n";

static const char *VOCAB[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a",
                               "red", "blue", "green", "circle", "square", "on", "left",
                               "right", "top", "bottom", "##s", "big", "small" };

/* ---- a tiny deterministic RNG ---- */
static uint64_t rng_state;
static float frand(void) /* [0, 1) */
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 16777216.0f;
}

/* ---- safetensors writer (test-only; the reader is models/safetensors.c) ---- */
typedef struct {
    char name[256];
    int ndim;
    int64_t shape[8];
} tdesc;

typedef struct {
    tdesc *t;
    int n, cap;
} tlist;

static void collect(void *ctx, const char *name, int ndim, const int64_t *shape)
{
    tlist *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->t = realloc(l->t, (size_t)l->cap * sizeof *l->t);
    }
    tdesc *d = &l->t[l->n++];
    snprintf(d->name, sizeof d->name, "%s", name);
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        d->shape[i] = shape[i];
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int64_t numel(const tdesc *d)
{
    int64_t n = 1;
    for (int i = 0; i < d->ndim; i++)
        n *= d->shape[i];
    return n;
}

static int write_safetensors(const char *path, const tlist *l, uint64_t seed)
{
    size_t hcap = 1 << 20, hl = 0;
    char *hdr = malloc(hcap);
    hl += (size_t)snprintf(hdr + hl, hcap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    int64_t off = 0;
    for (int i = 0; i < l->n; i++) {
        const tdesc *d = &l->t[i];
        hl += (size_t)snprintf(hdr + hl, hcap - hl, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", d->name);
        for (int k = 0; k < d->ndim; k++)
            hl += (size_t)snprintf(hdr + hl, hcap - hl, "%s%lld", k ? "," : "", (long long)d->shape[k]);
        int64_t nb = numel(d) * 4;
        hl += (size_t)snprintf(hdr + hl, hcap - hl, "],\"data_offsets\":[%lld,%lld]}", (long long)off,
                               (long long)(off + nb));
        off += nb;
    }
    hl += (size_t)snprintf(hdr + hl, hcap - hl, "}");
    while (hl % 8)
        hdr[hl++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(hdr);
        return -1;
    }
    uint64_t n = hl;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(n >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hdr, 1, hl, f);
    rng_state = seed;
    for (int i = 0; i < l->n; i++) {
        const tdesc *d = &l->t[i];
        int64_t cnt = numel(d);
        int64_t fan_in = d->ndim >= 2 ? cnt / d->shape[0] : 1;
        float sc = 1.0f / sqrtf((float)fan_in);
        int is_norm_w = ends_with(d->name, ".weight") &&
                        (strstr(d->name, "norm") || strstr(d->name, "LayerNorm") ||
                         strstr(d->name, ".bn"));
        for (int64_t k = 0; k < cnt; k++) {
            float r = 2.0f * frand() - 1.0f, v;
            if (ends_with(d->name, "running_var"))
                v = 0.5f + frand();
            else if (is_norm_w)
                v = 1.0f + 0.2f * r;
            else if (d->ndim == 1)
                v = 0.1f * r;
            else if (strstr(d->name, "embeddings") || strstr(d->name, "bias_table"))
                v = 0.5f * r;
            else
                v = sc * r * 1.5f;
            /* little-endian float */
            uint32_t u;
            memcpy(&u, &v, 4);
            unsigned char b[4] = { (unsigned char)u, (unsigned char)(u >> 8),
                                   (unsigned char)(u >> 16), (unsigned char)(u >> 24) };
            fwrite(b, 1, 4, f);
        }
    }
    free(hdr);
    return fclose(f);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static void write_vocab(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    FILE *f = fopen(p, "w");
    for (size_t i = 0; i < sizeof VOCAB / sizeof VOCAB[0]; i++)
        fprintf(f, "%s\n", VOCAB[i]);
    fclose(f);
}

/* Make DIR with model.yaml (text), vocab, and weights from `l`. */
static void make_folder(const char *dir, const char *yaml, const tlist *l)
{
    char p[512];
    snprintf(p, sizeof p, "%s/model.yaml", dir);
    write_text(p, yaml);
    write_vocab(dir);
    snprintf(p, sizeof p, "%s/weights.safetensors", dir);
    if (l)
        write_safetensors(p, l, 12345);
}

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || d != d)
            m = d;
    }
    return m;
}

/* Expect lavt_load(dir) to fail with a message containing each needle. */
static void expect_load_error(const char *what, const char *dir, const char *n1, const char *n2)
{
    lavt_model *m = NULL;
    char err[2048] = "";
    int rc = lavt_load(dir, &m, err, sizeof err);
    CHECK(rc != 0 && m == NULL, "%s: load should fail", what);
    CHECK(strstr(err, n1) != NULL, "%s: message lacks '%s': %s", what, n1, err);
    if (n2)
        CHECK(strstr(err, n2) != NULL, "%s: message lacks '%s': %s", what, n2, err);
    printf("  %s -> %s\n", what, err);
    if (m)
        lavt_free(m);
}

static void expect_yaml_error(const char *what, const char *dir, const char *yaml, const char *n1,
                              const char *n2)
{
    char p[512];
    snprintf(p, sizeof p, "%s/model.yaml", dir);
    write_text(p, yaml);
    expect_load_error(what, dir, n1, n2);
}

/* YAML_OK with one line replaced (first occurrence of `from`). */
static char *yaml_with(const char *from, const char *to)
{
    const char *at = strstr(YAML_OK, from);
    if (!at) {
        fprintf(stderr, "test bug: '%s' not in YAML_OK\n", from);
        exit(2);
    }
    size_t n = strlen(YAML_OK) + strlen(to) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(at - YAML_OK), YAML_OK, to, at + strlen(from));
    return s;
}

int main(void)
{
    char tmpl[] = "/tmp/risq_test_lavt_XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    char p[512], err[2048] = "";

    /* the parameter list for this config, via the public enumerator */
    lavt_config cfg;
    snprintf(p, sizeof p, "%s/model.yaml", dir);
    write_text(p, YAML_OK);
    int rc = lavt_config_load(p, &cfg, err, sizeof err);
    CHECK(rc == 0, "config: %s", err);
    if (rc != 0)
        return 1;
    CHECK(cfg.input_size == 40 && cfg.window_size == 3 && cfg.nstages == 4 && cfg.depths[2] == 2 &&
              cfg.num_heads[3] == 4 && cfg.fusion_heads[1] == 2 && cfg.max_tokens == 8 &&
              cfg.num_classes == 2 && fabsf(cfg.bert_ln_eps - 1e-12f) < 1e-18f &&
              fabsf(cfg.std[2] - 0.225f) < 1e-7f && !strcmp(cfg.weights_file, "weights.safetensors"),
          "config fields not parsed as written");
    cfg.vocab_size = (int)(sizeof VOCAB / sizeof VOCAB[0]);
    tlist l = { 0 };
    int np = lavt_for_each_param(&cfg, collect, &l);
    CHECK(np == l.n && np > 100, "param count %d", np);

    /* ---- good model ---- */
    make_folder(dir, YAML_OK, &l);
    lavt_model *m = NULL;
    rc = lavt_load(dir, &m, err, sizeof err);
    CHECK(rc == 0 && m, "load: %s", err);
    if (rc != 0)
        return 1;
    const lavt_config *c = lavt_get_config(m);
    CHECK(c->vocab_size == cfg.vocab_size, "vocab_size 0 resolved to %d", c->vocab_size);
    CHECK(lavt_weight_bytes(m) > 0 && lavt_arena_bytes(m) > 0, "bytes %zu %zu",
          lavt_weight_bytes(m), lavt_arena_bytes(m));
    printf("  weights %zu B, arena %zu B, %d tensors\n", lavt_weight_bytes(m), lavt_arena_bytes(m), np);

    int S = c->input_size, T = c->max_tokens;
    size_t nimg = 3 * (size_t)S * S, nlog = 2 * (size_t)S * S;
    float *img = malloc(nimg * sizeof(float));
    float *o1 = malloc(nlog * sizeof(float)), *o2 = malloc(nlog * sizeof(float));
    float *o3 = malloc(nlog * sizeof(float)), *o4 = malloc(nlog * sizeof(float));
    uint8_t *rgb = malloc(3 * 57 * 33);
    rng_state = 99;
    for (int i = 0; i < 3 * 57 * 33; i++)
        rgb[i] = (uint8_t)(frand() * 256.0f);
    lavt_preprocess(m, rgb, 57, 33, img); /* non-square, resized */
    int finite = 1;
    for (size_t i = 0; i < nimg; i++)
        finite &= isfinite(img[i]);
    CHECK(finite, "preprocess produced non-finite values");
    /* same-size path: exact formula */
    uint8_t *rgb2 = malloc(3 * (size_t)S * S);
    for (size_t i = 0; i < 3 * (size_t)S * S; i++)
        rgb2[i] = (uint8_t)(i * 7);
    float *img2 = malloc(nimg * sizeof(float));
    lavt_preprocess(m, rgb2, S, S, img2);
    float want = ((float)rgb2[3 * 5 + 1] / 255.0f - 0.456f) / 0.224f;
    CHECK(fabsf(img2[(size_t)S * S + 5] - want) < 1e-5f, "preprocess G[5] %f want %f",
          img2[(size_t)S * S + 5], want);

    int32_t ids[64], mask[64], ids2[64], mask2[64];
    int nt = tok_encode(lavt_vocab(m), "the red circle on the left", T, ids, mask);
    int nt2 = tok_encode(lavt_vocab(m), "a big blue square", T, ids2, mask2);
    CHECK(nt > 2 && nt2 > 2, "tokenizer gave %d / %d tokens", nt, nt2);

    kt_pool *p1 = kt_pool_create(1), *p2 = kt_pool_create(2);
    CHECK(p1 && p2, "pool create");
    rc = lavt_forward(m, p1, img, ids, mask, o1, err, sizeof err);
    CHECK(rc == 0, "forward: %s", err);
    rc = lavt_forward(m, p2, img, ids, mask, o2, err, sizeof err);
    CHECK(rc == 0, "forward (2 threads): %s", err);
    rc = lavt_forward(m, NULL, img, ids, mask, o3, err, sizeof err);
    CHECK(rc == 0, "forward (NULL pool): %s", err);
    finite = 1;
    double sum = 0;
    for (size_t i = 0; i < nlog; i++) {
        finite &= isfinite(o1[i]);
        sum += fabs(o1[i]);
    }
    CHECK(finite && sum > 0, "logits non-finite or all zero");
    CHECK(!memcmp(o1, o2, nlog * sizeof(float)), "1 vs 2 threads differ, max |d| %g",
          max_abs_diff(o1, o2, nlog));
    CHECK(!memcmp(o1, o3, nlog * sizeof(float)), "1 thread vs NULL pool differ, max |d| %g",
          max_abs_diff(o1, o3, nlog));
    rc = lavt_forward(m, p2, img, ids, mask, o2, err, sizeof err);
    CHECK(rc == 0 && !memcmp(o1, o2, nlog * sizeof(float)), "repeat differs");
    rc = lavt_forward(m, p2, img, ids2, mask2, o4, err, sizeof err);
    float dtext = max_abs_diff(o1, o4, nlog);
    CHECK(rc == 0 && dtext > 1e-5f, "changing the sentence changed logits by only %g", dtext);
    printf("  deterministic across 1/2 threads; sentence change moves logits by %g\n", dtext);
    /* padding ids beyond the mask must not matter only via mask: a bad id is an error */
    int32_t bad[64];
    memcpy(bad, ids, sizeof bad);
    bad[1] = 100000;
    rc = lavt_forward(m, p1, img, bad, mask, o4, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "outside the vocabulary"), "bad id accepted: %s", err);

    /* ---- loaded weights released (what the harness's speed jobs do) ---- */
    size_t wbytes = lavt_weight_bytes(m);
    int ws = -1;
    for (int i = 0; i < lavt_site_count(m) && ws < 0; i++)
        if (lavt_site_get(m, i)->kind == LAVT_SITE_WEIGHT)
            ws = i;
    const lavt_site *wt = lavt_site_get(m, ws);
    size_t nw = (size_t)wt->rows * wt->cols;
    float *wcopy = malloc(nw * sizeof(float));
    memcpy(wcopy, lavt_site_weight_fp32(m, ws), nw * sizeof(float));
    lavt_site_set_weight(m, ws, wcopy);   /* other weights, as a quantizer sets them */
    rc = lavt_release_weights(m, err, sizeof err);
    CHECK(rc == 0, "release: %s", err);
    CHECK(lavt_site_weight_fp32(m, ws) == NULL, "released weights still handed out");
    CHECK(lavt_weight_bytes(m) == wbytes, "weight_bytes changed on release: %zu vs %zu",
          lavt_weight_bytes(m), wbytes);
    lavt_site_set_weight(m, ws, NULL);   /* ignored now */
    rc = lavt_forward(m, p2, img, ids, mask, o2, err, sizeof err);
    CHECK(rc == 0 && !memcmp(o1, o2, nlog * sizeof(float)),
          "released weights: logits differ, max |d| %g", max_abs_diff(o1, o2, nlog));
    ki_isa before = ki_isa_active();
    CHECK(ki_isa_set(KI_REF, err, sizeof err) == 0, "set scalar: %s", err);
    rc = lavt_forward(m, p1, img, ids, mask, o2, err, sizeof err);
    /* the released layers stay on the variant that packed them (no source
    ** to repack from); the rest of the pass runs on the scalar one */
    CHECK(rc == 0 && max_abs_diff(o1, o2, nlog) < 1e-4f,
          "released weights, ISA changed: rc %d, max |d| %g", rc, max_abs_diff(o1, o2, nlog));
    ki_isa_set(before, err, sizeof err);
    printf("  loaded weights released: same logits; after an ISA change within %g\n",
           max_abs_diff(o1, o2, nlog));
    lavt_free(m);
    free(wcopy);   /* (the model used it until here) */

    /* a hooked site: its loaded copy goes and nothing is packed; with no
    ** hook to compute it, its products are NaN (not a crash) */
    rc = lavt_load(dir, &m, err, sizeof err);
    CHECK(rc == 0, "reload: %s", err);
    rc = lavt_release_site(m, ws, 1, err, sizeof err) || lavt_release_weights(m, err, sizeof err);
    CHECK(rc == 0, "release with a hooked site: %s", err);
    rc = lavt_forward(m, p1, img, ids, mask, o2, err, sizeof err);
    int nan = 0;
    for (size_t i = 0; i < nlog; i++)
        nan += isnan(o2[i]);
    CHECK(rc == 0 && nan > 0, "hooked site without its hook: %d NaN logits of %zu", nan, nlog);
    lavt_free(m);

    /* ---- broken weights ---- */
    tlist b = l;
    b.t = malloc((size_t)l.n * sizeof *b.t);
    const char *victim = "backbone.layers.2.blocks.1.attn.relative_position_bias_table";
    /* missing tensor */
    b.n = 0;
    for (int i = 0; i < l.n; i++)
        if (strcmp(l.t[i].name, victim))
            b.t[b.n++] = l.t[i];
    CHECK(b.n == l.n - 1, "victim not in the list");
    make_folder(dir, YAML_OK, &b);
    expect_load_error("missing tensor", dir, victim, "missing");
    /* misshaped tensor */
    memcpy(b.t, l.t, (size_t)l.n * sizeof *b.t);
    b.n = l.n;
    for (int i = 0; i < b.n; i++)
        if (!strcmp(b.t[i].name, "backbone.layers.1.fusion.image_lang_att.f_query.0.weight"))
            b.t[i].shape[2] = 2;
    make_folder(dir, YAML_OK, &b);
    expect_load_error("misshaped tensor", dir, "f_query.0.weight is [12, 12, 2], expected [12, 12, 1]",
                      "weights.safetensors");
    /* extra tensor (ignorable buffers are accepted alongside) */
    memcpy(b.t, l.t, (size_t)l.n * sizeof *b.t);
    b.n = l.n;
    b.t = realloc(b.t, (size_t)(l.n + 2) * sizeof *b.t);
    tdesc ex = { "backbone.layers.0.blocks.0.attn.relative_position_index", 2, { 9, 9 } };
    b.t[b.n++] = ex;
    make_folder(dir, YAML_OK, &b);
    rc = lavt_load(dir, &m, err, sizeof err);
    CHECK(rc == 0, "relative_position_index should be ignored: %s", err);
    if (rc == 0)
        lavt_free(m);
    tdesc ex2 = { "classifier.conv1_0.weight", 4, { 2, 24, 1, 1 } };
    b.t[b.n++] = ex2;
    make_folder(dir, YAML_OK, &b);
    expect_load_error("extra tensor", dir, "unused tensor", "classifier.conv1_0.weight");
    /* several problems at once are all reported */
    b.n = 0;
    for (int i = 0; i < l.n; i++)
        if (!strstr(l.t[i].name, "text_encoder.encoder.layer.1."))
            b.t[b.n++] = l.t[i];
    make_folder(dir, YAML_OK, &b);
    expect_load_error("many missing", dir, "16 of", "and 10 more");

    /* ---- broken model.yaml (weights are the good ones again) ---- */
    make_folder(dir, YAML_OK, &l);
    char *y;
    y = yaml_with("  window_size: 3\n", "  windw_size: 3\n");
    expect_yaml_error("unknown key", dir, y, "model.yaml:13:3: unknown key 'windw_size' in 'swin'", NULL);
    free(y);
    y = yaml_with("  embed_dim: 6\n", "  embed_dim: six\n");
    expect_yaml_error("wrong type", dir, y, "model.yaml:10:14:", "expected an integer, got 'six'");
    free(y);
    y = yaml_with("  num_heads: [1, 2, 3, 4]\n", "  num_heads: [1, 2, 5, 4]\n");
    expect_yaml_error("heads do not divide", dir, y, "swin.num_heads[2] = 5 does not divide", NULL);
    free(y);
    y = yaml_with("  depths: [2, 1, 2, 1]\n", "  depths: [2, 1, 2, 1, 2]\n");
    expect_yaml_error("too many stages", dir, y, "swin.depths: expected 1..4 entries, got 5", NULL);
    free(y);
    y = yaml_with("  window_size: 3\n", "  window_size: 0\n");
    expect_yaml_error("window 0", dir, y, "swin.window_size: 0 is out of range", NULL);
    free(y);
    y = yaml_with("  mlp_ratio: 2\n", "");
    expect_yaml_error("missing key", dir, y, "missing required key: swin.mlp_ratio", NULL);
    free(y);
    y = yaml_with("input:\n  size: 40\n", "input:\n  size: [40\n");
    expect_yaml_error("syntax error", dir, y, "YAML syntax error", "model.yaml:");
    free(y);
    y = yaml_with("arch: lavt_one\n", "arch: lavt_two\n");
    expect_yaml_error("wrong arch", dir, y, "unsupported architecture 'lavt_two'", NULL);
    free(y);
    y = yaml_with("  max_tokens: 8\n", "  max_tokens: 17\n");
    expect_yaml_error("tokens > positions", dir, y, "exceeds bert.max_position_embeddings", NULL);
    free(y);
    y = yaml_with("name: lavt-test\n", "name: lavt-test\nname: again\n");
    expect_yaml_error("duplicate key", dir, y, "duplicate key 'name'", NULL);
    free(y);
    /* random weights: more cases in test_lavt_random.c */
    y = yaml_with("weights: weights.safetensors\n", "weights: {random: {sed: 1}}\n");
    expect_yaml_error("random weights, misspelt seed", dir, y,
                      "model.yaml:32:20: unknown key 'sed' in 'weights.random' (expected seed)", NULL);
    free(y);

    /* cleanup */
    const char *files[] = { "model.yaml", "vocab.txt", "weights.safetensors" };
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    kt_pool_destroy(p1);
    kt_pool_destroy(p2);
    free(l.t);
    free(b.t);
    free(img);
    free(img2);
    free(rgb);
    free(rgb2);
    free(o1);
    free(o2);
    free(o3);
    free(o4);
    if (failures) {
        fprintf(stderr, "test_lavt: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_lavt: all checks passed\n");
    return 0;
}
