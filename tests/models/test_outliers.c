/*
** test_outliers: the outlier-stress model lavt-tiny-outliers (written by
** tools/make_outliers.py) computes the same function as lavt-tiny and has
** massive-activation channels at the text features.
**
** 1. Function: both models run lavt_forward on expressions of the synthetic
**    dataset (seed 7, generated in memory); max |logits(outliers) -
**    logits(lavt-tiny)| <= 1e-4 and the argmax masks (class 1 only when
**    strictly greater) are identical on every sample. (The rescale uses
**    power-of-two factors, so the logits are expected to be bit-identical.)
** 2. Outliers, checked from the weights (activations cannot be captured from
**    outside lavt.c): the final text LayerNorm
**    (text_encoder.encoder.layer.{L-1}.output.LayerNorm.weight) has at least
**    one channel with |gamma| >= 20 x median |gamma| in lavt-tiny-outliers and
**    none in lavt-tiny. Its output l_feats is what the PWAM key/value
**    projections read, so those channels are massive at their inputs.
**
** A failure after lavt-tiny's weights changed means the derived model is stale:
** rerun tools/make_outliers.py. Runs from the source root (meson workdir).
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/synth.h"
#include "kernels/threadpool.h"
#include "models/lavt.h"
#include "models/safetensors.h"

#define BASE_DIR "models/zoo/lavt-tiny"
#define OUTL_DIR "models/zoo/lavt-tiny-outliers"
#define TOL 1e-4f
#define MIN_SAMPLES 4
#define MAX_EXPR 8
#define RATIO 20.0f

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Count channels of the final BERT LayerNorm gamma with |gamma| >= RATIO x
** median |gamma|; -1 on error. */
static int count_massive(const char *dir, int num_layers, int Lh)
{
    char path[512], name[256], err[1024] = "";
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    snprintf(name, sizeof name, "text_encoder.encoder.layer.%d.output.LayerNorm.weight", num_layers - 1);
    st_file *f = NULL;
    if (st_open(path, &f, err, sizeof err) != 0) {
        fprintf(stderr, "test_outliers: %s\n", err);
        return -1;
    }
    float *g = NULL;
    int64_t shape[1] = { Lh };
    if (st_read_f32(f, name, 1, shape, &g, err, sizeof err) != 0) {
        fprintf(stderr, "test_outliers: %s\n", err);
        st_close(f);
        return -1;
    }
    st_close(f);
    float *a = malloc((size_t)Lh * sizeof *a);
    if (!a) {
        free(g);
        return -1;
    }
    for (int i = 0; i < Lh; i++)
        a[i] = fabsf(g[i]);
    qsort(a, (size_t)Lh, sizeof *a, cmp_float);
    float med = (Lh % 2) ? a[Lh / 2] : 0.5f * (a[Lh / 2 - 1] + a[Lh / 2]);
    int n = 0;
    printf("%s: %s median |gamma| %.4f; channels >= %gx:", dir, name, (double)med, (double)RATIO);
    for (int i = 0; i < Lh; i++)
        if (fabsf(g[i]) >= RATIO * med) {
            printf(" %d (%.2f = %.1fx)", i, (double)g[i], (double)(fabsf(g[i]) / med));
            n++;
        }
    printf("%s\n", n ? "" : " none");
    free(a);
    free(g);
    return n;
}

int main(void)
{
    char err[2048] = "";
    lavt_model *m0 = NULL, *m1 = NULL;
    if (lavt_load(BASE_DIR, &m0, err, sizeof err) != 0) {
        fprintf(stderr, "test_outliers: FAIL: cannot load %s: %s\n", BASE_DIR, err);
        return 1;
    }
    if (lavt_load(OUTL_DIR, &m1, err, sizeof err) != 0) {
        fprintf(stderr, "test_outliers: FAIL: cannot load %s: %s (run tools/make_outliers.py)\n",
                OUTL_DIR, err);
        lavt_free(m0);
        return 1;
    }
    const lavt_config *c0 = lavt_get_config(m0), *c1 = lavt_get_config(m1);
    int nfail = 0;
    if (c0->input_size != c1->input_size || c0->max_tokens != c1->max_tokens ||
        c0->hidden_size != c1->hidden_size || c0->num_layers != c1->num_layers ||
        c0->num_classes != c1->num_classes || c0->vocab_size != c1->vocab_size) {
        fprintf(stderr, "test_outliers: FAIL: %s and %s do not share the architecture\n", BASE_DIR, OUTL_DIR);
        lavt_free(m0);
        lavt_free(m1);
        return 1;
    }
    int S = c0->input_size, T = c0->max_tokens;
    size_t plane = (size_t)S * S, nlog = (size_t)c0->num_classes * plane;

    synth_params sp;
    synth_defaults(&sp);
    sp.seed = 7;
    sp.count = 4;
    sp.size = S;
    ds_dataset *d = NULL;
    if (synth_generate(&sp, "val", &d, err, sizeof err) != 0) {
        fprintf(stderr, "test_outliers: FAIL: synth_generate: %s\n", err);
        lavt_free(m0);
        lavt_free(m1);
        return 1;
    }

    float *img = malloc(3 * plane * sizeof(float));
    float *l0 = malloc(nlog * sizeof(float)), *l1 = malloc(nlog * sizeof(float));
    int32_t *ids = malloc((size_t)T * sizeof(int32_t)), *ids1 = malloc((size_t)T * sizeof(int32_t));
    int32_t *mask = malloc((size_t)T * sizeof(int32_t)), *mask1 = malloc((size_t)T * sizeof(int32_t));
    kt_pool *pool = kt_pool_create(1);
    if (!img || !l0 || !l1 || !ids || !ids1 || !mask || !mask1 || !pool) {
        fprintf(stderr, "test_outliers: FAIL: out of memory\n");
        return 1;
    }

    int nexpr = 0;
    float worst = 0;
    for (int s = 0; s < d->nsamples && nexpr < MAX_EXPR; s++) {
        const ds_sample *smp = &d->samples[s];
        const ds_image *im = &d->images[smp->image];
        for (int k = 0; k < smp->nsent && nexpr < MAX_EXPR; k++) {
            const char *sent = smp->sentences[k];
            lavt_preprocess(m0, im->rgb, im->w, im->h, img);
            int n0 = tok_encode(lavt_vocab(m0), sent, T, ids, mask);
            int n1 = tok_encode(lavt_vocab(m1), sent, T, ids1, mask1);
            if (n0 != n1 || memcmp(ids, ids1, (size_t)T * sizeof *ids) ||
                memcmp(mask, mask1, (size_t)T * sizeof *mask)) {
                fprintf(stderr, "test_outliers: the two vocabularies encode \"%s\" differently\n", sent);
                nfail++;
                nexpr++;
                continue;
            }
            if (lavt_forward(m0, pool, img, ids, mask, l0, err, sizeof err) != 0 ||
                lavt_forward(m1, pool, img, ids, mask, l1, err, sizeof err) != 0) {
                fprintf(stderr, "test_outliers: forward failed: %s\n", err);
                nfail++;
                nexpr++;
                continue;
            }
            float md = 0;
            for (size_t i = 0; i < nlog; i++) {
                float df = fabsf(l1[i] - l0[i]);
                if (!(df <= md)) /* also catches NaN */
                    md = isnan(df) ? INFINITY : df;
            }
            size_t differ = 0;
            for (size_t i = 0; i < plane; i++)
                differ += (l0[plane + i] > l0[i]) != (l1[plane + i] > l1[i]);
            int ok = md <= TOL && differ == 0;
            printf("sample %d sentence %d: max|dlogit| %.3g, mask pixels differing %zu  %s  \"%s\"\n", s, k,
                   (double)md, differ, ok ? "ok" : "FAIL", sent);
            if (md > worst)
                worst = md;
            nfail += !ok;
            nexpr++;
        }
    }
    if (nexpr < MIN_SAMPLES) {
        fprintf(stderr, "test_outliers: FAIL: only %d expressions generated (need %d)\n", nexpr, MIN_SAMPLES);
        nfail++;
    }
    printf("test_outliers: %d expression(s), worst max|dlogit| %.3g (tolerance %g)\n", nexpr,
           (double)worst, (double)TOL);
    if (nfail)
        fprintf(stderr, "test_outliers: if %s's weights changed, regenerate %s with tools/make_outliers.py\n",
                BASE_DIR, OUTL_DIR);

    int nb = count_massive(BASE_DIR, c0->num_layers, c0->hidden_size);
    int no = count_massive(OUTL_DIR, c1->num_layers, c1->hidden_size);
    if (no < 1) {
        fprintf(stderr, "test_outliers: FAIL: %s has no final-LayerNorm channel with |gamma| >= %gx the median\n",
                OUTL_DIR, (double)RATIO);
        nfail++;
    }
    if (nb != 0) {
        fprintf(stderr, "test_outliers: FAIL: %s already has %d massive final-LayerNorm channel(s)\n",
                BASE_DIR, nb);
        nfail++;
    }

    kt_pool_destroy(pool);
    ds_free(d);
    lavt_free(m0);
    lavt_free(m1);
    free(img);
    free(l0);
    free(l1);
    free(ids);
    free(ids1);
    free(mask);
    free(mask1);
    printf("test_outliers: %s\n", nfail ? "FAIL" : "ok");
    return nfail ? 1 : 0;
}
