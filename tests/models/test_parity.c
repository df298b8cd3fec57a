/*
** test_parity: lavt.c against the PyTorch reference (tools/lavt_ref.py) on the
** trained lavt-tiny, using the vectors tools/make_parity.py writes to
** tests/models/data/parity/ (its format, v1):
**
**   index.json       {"format", "size": S, "max_tokens": T,
**                     "samples": [{"name": "000", "n_tokens", "sentence", ...}]}
**   NNN_image.bin    float32 LE [3][S][S]  normalised input
**   NNN_ids.bin      int32 LE [T]          token ids
**   NNN_mask.bin     int32 LE [T]          attention mask (1 real, 0 pad)
**   NNN_logits.bin   float32 LE [2][S][S]  reference logits
**   (NNN_argmax.bin  uint8 [S][S] is not needed: argmax comes from the logits)
**
** Pass: for every sample max |logits - reference| <= 1e-3 and the argmax
** masks (class 1 only when strictly greater) agree on >= 99.9% of pixels.
** Missing vectors or weights are a failure with the reason printed, never a
** silent skip. Runs from the source root (meson workdir).
*/
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/threadpool.h"
#include "models/lavt.h"

#define MODEL_DIR "models/zoo/lavt-tiny"
#define PARITY_DIR "tests/models/data/parity"
#define TOL 1e-3f
#define MIN_AGREE 0.999

/* Read exactly n 4-byte little-endian values from PARITY_DIR/NAME_SUFFIX. */
static int read_le32(const char *name, const char *suffix, void *out, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s_%s", PARITY_DIR, name, suffix);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "test_parity: cannot open %s (rerun tools/make_parity.py)\n", path);
        return -1;
    }
    unsigned char *buf = malloc(n * 4 + 1);
    size_t got = buf ? fread(buf, 1, n * 4 + 1, f) : 0;
    fclose(f);
    if (got != n * 4) {
        fprintf(stderr, "test_parity: %s has %zu bytes, expected %zu\n", path, got, n * 4);
        free(buf);
        return -1;
    }
    uint32_t *o = out;
    for (size_t i = 0; i < n; i++)
        o[i] = (uint32_t)buf[4 * i] | (uint32_t)buf[4 * i + 1] << 8 |
               (uint32_t)buf[4 * i + 2] << 16 | (uint32_t)buf[4 * i + 3] << 24;
    free(buf);
    return 0;
}

int main(void)
{
    char err[2048] = "";
    json_error_t je;
    json_t *index = json_load_file(PARITY_DIR "/index.json", 0, &je);
    if (!index) {
        fprintf(stderr,
                "test_parity: FAIL: cannot read %s/index.json (%s) — parity vectors have not "
                "been generated yet: tools/make_parity.py --data tools/work/val\n",
                PARITY_DIR, je.text);
        return 1;
    }
    lavt_model *m = NULL;
    if (lavt_load(MODEL_DIR, &m, err, sizeof err) != 0) {
        fprintf(stderr, "test_parity: FAIL: cannot load the trained model: %s\n", err);
        json_decref(index);
        return 1;
    }
    const lavt_config *c = lavt_get_config(m);
    int S = c->input_size, T = c->max_tokens;
    json_t *samples = json_object_get(index, "samples");
    json_int_t jS = json_integer_value(json_object_get(index, "size"));
    json_int_t jT = json_integer_value(json_object_get(index, "max_tokens"));
    if (c->num_classes != 2 || jS != S || jT != T || !json_is_array(samples)) {
        fprintf(stderr,
                "test_parity: FAIL: index.json (size %lld, max_tokens %lld, samples %s) does not "
                "match %s (size %d, max_tokens %d, %d classes); regenerate the vectors\n",
                (long long)jS, (long long)jT, json_is_array(samples) ? "ok" : "absent", MODEL_DIR,
                S, T, c->num_classes);
        lavt_free(m);
        json_decref(index);
        return 1;
    }
    size_t plane = (size_t)S * S;
    float *img = malloc(3 * plane * sizeof(float));
    float *got = malloc(2 * plane * sizeof(float)), *ref = malloc(2 * plane * sizeof(float));
    int32_t *ids = malloc((size_t)T * sizeof(int32_t)), *mask = malloc((size_t)T * sizeof(int32_t));
    kt_pool *pool = kt_pool_create(2);

    int nsamples = 0, nfail = 0;
    float worst = 0;
    size_t k;
    json_t *smp;
    json_array_foreach(samples, k, smp) {
        const char *name = json_string_value(json_object_get(smp, "name"));
        int ntok = (int)json_integer_value(json_object_get(smp, "n_tokens"));
        const char *sent = json_string_value(json_object_get(smp, "sentence"));
        nsamples++;
        if (!name) {
            fprintf(stderr, "test_parity: samples[%zu] has no name\n", k);
            nfail++;
            continue;
        }
        if (read_le32(name, "image.bin", img, 3 * plane) || read_le32(name, "ids.bin", ids, (size_t)T) ||
            read_le32(name, "mask.bin", mask, (size_t)T) ||
            read_le32(name, "logits.bin", ref, 2 * plane)) {
            nfail++;
            continue;
        }
        /* The C tokenizer must give the reference's ids (Python WordPiece in
        ** tools/wordpiece.py), including truncation and padding. */
        if (sent) {
            int32_t cids[512], cmask[512];
            if (T > 512 || tok_encode(lavt_vocab(m), sent, T, cids, cmask) != ntok ||
                memcmp(cids, ids, (size_t)T * sizeof *ids) || memcmp(cmask, mask, (size_t)T * sizeof *mask)) {
                fprintf(stderr, "test_parity: %s: C tokenizer ids differ from the reference for \"%s\"\n",
                        name, sent);
                nfail++;
                continue;
            }
        }
        int nreal = 0;
        for (int t = 0; t < T; t++)
            nreal += mask[t] != 0;
        if (nreal != ntok)
            fprintf(stderr, "test_parity: %s: index says %d tokens, mask has %d\n", name, ntok, nreal);
        if (lavt_forward(m, pool, img, ids, mask, got, err, sizeof err) != 0) {
            fprintf(stderr, "test_parity: %s: forward failed: %s\n", name, err);
            nfail++;
            continue;
        }
        float md = 0;
        for (size_t i = 0; i < 2 * plane; i++) {
            float d = fabsf(got[i] - ref[i]);
            if (!(d <= md)) /* also catches NaN */
                md = isnan(d) ? INFINITY : d;
        }
        size_t agree = 0, confident_bad = 0;
        for (size_t i = 0; i < plane; i++) {
            int a = got[plane + i] > got[i], b = ref[plane + i] > ref[i];
            agree += (a == b);
            confident_bad += (a != b) && fabsf(ref[plane + i] - ref[i]) > 2 * TOL;
        }
        double frac = (double)agree / (double)plane;
        int ok = md <= TOL && frac >= MIN_AGREE && confident_bad == 0;
        printf("%-6s tokens %2d  max|dlogit| %.3g  mask agreement %.4f%%  %s  \"%s\"\n", name, ntok,
               (double)md, 100.0 * frac, ok ? "ok" : "FAIL", sent ? sent : "");
        if (md > worst)
            worst = md;
        nfail += !ok;
    }
    if (nsamples == 0) {
        fprintf(stderr, "test_parity: FAIL: %s/index.json lists no samples\n", PARITY_DIR);
        nfail++;
    }
    printf("test_parity: %d sample(s), worst max|dlogit| %.3g (tolerance %g), %d failure(s)\n",
           nsamples, (double)worst, (double)TOL, nfail);
    kt_pool_destroy(pool);
    lavt_free(m);
    json_decref(index);
    free(img);
    free(got);
    free(ref);
    free(ids);
    free(mask);
    return nfail ? 1 : 0;
}
