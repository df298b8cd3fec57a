/*
** fake_model: test helper, not a test.  `fake_model SRC OUT` writes a model
** folder OUT with SRC's model.yaml and vocab.txt and random (deterministic)
** weights of the right names and shapes, so that harness tests
** (test_cli_run.sh: isolation, crash, timeout, kill -9) can run `risq run`
** without the trained lavt-tiny weights.  Accuracy is meaningless.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/lavt.h"

typedef struct plist {
    char (*name)[256];
    int64_t *numel, *shape;   /* shape: 8 per tensor */
    int *ndim;
    int n, cap, oom;
} plist;

static void collect(void *ctx, const char *name, int ndim, const int64_t *shape)
{
    plist *l = ctx;
    if (l->oom) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->name = realloc(l->name, (size_t)l->cap * sizeof *l->name);
        l->numel = realloc(l->numel, (size_t)l->cap * sizeof *l->numel);
        l->shape = realloc(l->shape, (size_t)l->cap * 8 * sizeof *l->shape);
        l->ndim = realloc(l->ndim, (size_t)l->cap * sizeof *l->ndim);
        if (!l->name || !l->numel || !l->shape || !l->ndim) {
            l->oom = 1;   /* reported by main */
            return;
        }
    }
    snprintf(l->name[l->n], 256, "%s", name);
    l->ndim[l->n] = ndim;
    l->numel[l->n] = 1;
    for (int i = 0; i < ndim && i < 8; i++) {
        l->shape[l->n * 8 + i] = shape[i];
        l->numel[l->n] *= shape[i];
    }
    l->n++;
}

static int copy_file(const char *src, const char *dst)
{
    FILE *a = fopen(src, "rb"), *b = a ? fopen(dst, "wb") : NULL;
    char buf[8192];
    size_t n;
    if (!a || !b) {
        if (a) fclose(a);
        return -1;
    }
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    return fclose(b);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (!f) return 0;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    char p[4096], q[4096], err[2048];
    lavt_config cfg;
    plist l = {0};
    if (argc != 3) {
        fprintf(stderr, "usage: fake_model SRC_MODEL_DIR OUT_DIR\n");
        return 2;
    }
    mkdir(argv[2], 0777);
    snprintf(p, sizeof p, "%s/model.yaml", argv[1]);
    snprintf(q, sizeof q, "%s/model.yaml", argv[2]);
    if (copy_file(p, q)) {
        fprintf(stderr, "fake_model: cannot copy %s to %s\n", p, q);
        return 1;
    }
    if (lavt_config_load(q, &cfg, err, sizeof err)) {
        fprintf(stderr, "fake_model: %s\n", err);
        return 1;
    }
    snprintf(p, sizeof p, "%s/%s", argv[1], cfg.vocab_file);
    snprintf(q, sizeof q, "%s/%s", argv[2], cfg.vocab_file);
    if (copy_file(p, q)) {
        fprintf(stderr, "fake_model: cannot copy %s to %s\n", p, q);
        return 1;
    }
    if (cfg.vocab_size <= 0) cfg.vocab_size = count_lines(q);
    if (lavt_for_each_param(&cfg, collect, &l) < 0 || l.oom) {
        fprintf(stderr, "fake_model: out of memory\n");
        return 1;
    }
    /* safetensors: 8-byte little-endian header length, JSON header, data */
    size_t cap = 1 << 20, hl = 0;
    char *hdr = malloc(cap);
    int64_t off = 0;
    if (!hdr) return 1;
    hl += (size_t)snprintf(hdr + hl, cap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < l.n && hl < cap - 512; i++) {
        hl += (size_t)snprintf(hdr + hl, cap - hl, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", l.name[i]);
        for (int k = 0; k < l.ndim[i]; k++)
            hl += (size_t)snprintf(hdr + hl, cap - hl, "%s%lld", k ? "," : "", (long long)l.shape[i * 8 + k]);
        hl += (size_t)snprintf(hdr + hl, cap - hl, "],\"data_offsets\":[%lld,%lld]}", (long long)off,
                               (long long)(off + 4 * l.numel[i]));
        off += 4 * l.numel[i];
    }
    hl += (size_t)snprintf(hdr + hl, cap - hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    snprintf(q, sizeof q, "%s/%s", argv[2], cfg.weights_file);
    FILE *f = fopen(q, "wb");
    if (!f) {
        fprintf(stderr, "fake_model: cannot write %s\n", q);
        return 1;
    }
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hdr, 1, hl, f);
    uint64_t rng = 12345;
    for (int i = 0; i < l.n; i++) {
        int is_var = strstr(l.name[i], "running_var") != NULL;
        for (int64_t k = 0; k < l.numel[i]; k++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            float r = (float)((rng >> 40) & 0xFFFFFF) / 16777216.0f;   /* [0, 1) */
            float v = is_var ? 0.5f + r : 0.1f * (2.0f * r - 1.0f);
            uint32_t u;
            memcpy(&u, &v, 4);
            unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                                  (unsigned char)(u >> 24)};
            fwrite(b, 1, 4, f);
        }
    }
    free(hdr);
    free(l.name);
    free(l.numel);
    free(l.shape);
    free(l.ndim);
    if (fclose(f)) {
        fprintf(stderr, "fake_model: writing %s failed\n", q);
        return 1;
    }
    return 0;
}
