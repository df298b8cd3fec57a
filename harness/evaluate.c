/*
** evaluate: model lookup, prediction, accuracy passes and calibration
** samples (see evaluate.h).
*/
#include "harness/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/ops_f32.h"
#include "models/tokenizer.h"

int ev_init(ev_ctx *e, lavt_model *m, int threads)
{
    memset(e, 0, sizeof *e);
    e->model = m;
    e->cfg = lavt_get_config(m);
    int S = e->cfg->input_size, K = e->cfg->num_classes;
    e->pool = kt_pool_create(threads);
    e->image = malloc((size_t)3 * S * S * sizeof(float));
    e->logits = malloc((size_t)K * S * S * sizeof(float));
    return e->pool && e->image && e->logits ? 0 : -1;
}

void ev_free(ev_ctx *e)
{
    kt_pool_destroy(e->pool);
    free(e->image);
    free(e->logits);
    free(e->up);
    free(e->pred);
    memset(e, 0, sizeof *e);
}

/* Logits are upsampled (bilinear, align_corners=True as LAVT) when the image
** is not input_size, then argmax (class 1 only when strictly greater). */
int ev_predict(ev_ctx *e, const ds_image *im, const char *sentence, int image_ready, char *err,
               size_t errlen)
{
    const lavt_config *c = e->cfg;
    int S = c->input_size, T = c->max_tokens;
    int32_t ids[512], mask[512];
    if (T > 512) {
        snprintf(err, errlen, "max_tokens %d exceeds 512", T);
        return -1;
    }
    if (!image_ready)
        lavt_preprocess(e->model, im->rgb, im->w, im->h, e->image);
    tok_encode(lavt_vocab(e->model), sentence, T, ids, mask);
    if (lavt_forward(e->model, e->pool, e->image, ids, mask, e->logits, err, errlen))
        return -1;
    size_t npix = (size_t)im->w * im->h;
    const float *lg = e->logits;
    if (npix > e->pred_cap) {
        free(e->pred);
        if (!(e->pred = malloc(npix))) {
            e->pred_cap = 0;
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        e->pred_cap = npix;
    }
    if (im->w != S || im->h != S) {
        size_t need = (size_t)c->num_classes * npix;
        if (need > e->up_cap) {
            free(e->up);
            if (!(e->up = malloc(need * sizeof(float)))) {
                e->up_cap = 0;
                snprintf(err, errlen, "out of memory upsampling logits to %dx%d", im->w, im->h);
                return -1;
            }
            e->up_cap = need;
        }
        kf_resize_bilinear(e->logits, c->num_classes, S, S, e->up, im->h, im->w, 1);
        lg = e->up;
    }
    for (size_t q = 0; q < npix; q++)
        e->pred[q] = lg[npix + q] > lg[q];
    return 0;
}

size_t ev_ref_floats(const lavt_config *c)
{
    return (size_t)c->num_classes * c->input_size * c->input_size;
}

double ev_fp_agreement(const ev_agree *a)
{
    return a->n ? 100.0 * a->iou_sum / (double)a->n : NAN;
}

double ev_logit_sqnr_db(const ev_agree *a)
{
    if (a->n == 0)
        return NAN;
    if (a->noise == 0)
        return INFINITY;
    return 10.0 * log10(a->signal / a->noise);
}

/* Compare the current S x S logits with one reference expression. */
static void agree_add(ev_agree *ag, const lavt_config *c, const float *out, const float *ref)
{
    size_t plane = (size_t)c->input_size * c->input_size, n = ev_ref_floats(c);
    uint64_t i = 0, u = 0;
    for (size_t p = 0; p < plane; p++) {
        int a = out[plane + p] > out[p], b = ref[plane + p] > ref[p];
        i += (uint64_t)(a & b);
        u += (uint64_t)(a | b);
        ag->pix_same += a == b;
    }
    ag->pix_total += (int64_t)plane;
    for (size_t k = 0; k < n; k++) {
        double d = (double)out[k] - ref[k];
        ag->signal += (double)ref[k] * ref[k];
        ag->noise += d * d;
    }
    ag->iou_sum += u ? (double)i / (double)u : 1.0;
    ag->n++;
}

void ev_agree_logits(ev_agree *ag, const lavt_config *c, const float *out, const float *ref,
                     size_t n)
{
    size_t per = ev_ref_floats(c);
    for (size_t k = 0; k < n; k++)
        agree_add(ag, c, out + k * per, ref + k * per);
}

double ev_pixel_agreement(const ev_agree *a)
{
    return a->pix_total ? 100.0 * (double)a->pix_same / (double)a->pix_total : NAN;
}

int64_t ev_expressions(const ds_dataset *d)
{
    int64_t n = 0;
    for (int i = 0; i < d->nsamples; i++)
        n += d->samples[i].nsent;
    return n;
}

int ev_accuracy(ev_ctx *e, const ds_dataset *d, mt_acc *acc, FILE *ref_out, const float *ref_in,
                ev_agree *ag, double *iou, const volatile sig_atomic_t *stop, char *err,
                size_t errlen)
{
    mt_init(acc);
    if (ag)
        memset(ag, 0, sizeof *ag);
    size_t per = ev_ref_floats(e->cfg);
    int last_image = -1;
    int64_t expr = 0;
    for (int i = 0; i < d->nsamples && !(stop && *stop); i++) {
        const ds_sample *s = &d->samples[i];
        const ds_image *im = &d->images[s->image];
        for (int k = 0; k < s->nsent; k++, expr++) {
            if (ev_predict(e, im, s->sentences[k], s->image == last_image, err, errlen))
                return -1;
            last_image = s->image;
            double v = mt_add(acc, e->pred, s->mask, (size_t)im->w * im->h);
            if (iou)
                iou[expr] = v;
            if (ref_out && fwrite(e->logits, sizeof(float), per, ref_out) != per) {
                snprintf(err, errlen, "cannot write the fp32 reference logits (disk full?)");
                return -1;
            }
            if (ref_in && ag)
                agree_add(ag, e->cfg, e->logits, ref_in + (size_t)expr * per);
        }
    }
    if (stop && *stop) {
        snprintf(err, errlen, "interrupted");
        return -1;
    }
    return 0;
}

int ev_calib_build(const lavt_model *m, const ds_dataset *d, int n, ev_calib *out, char *err,
                   size_t errlen)
{
    memset(out, 0, sizeof *out);
    const lavt_config *c = lavt_get_config(m);
    int S = c->input_size, T = c->max_tokens;
    if (n < 1 || d->nsamples == 0) {
        snprintf(err, errlen, "calibration split '%s' has no samples", d->split ? d->split : "?");
        return -1;
    }
    out->s = calloc((size_t)n, sizeof *out->s);
    out->images = malloc((size_t)n * 3 * S * S * sizeof(float));
    out->tokens = malloc((size_t)n * 2 * T * sizeof(int32_t));
    if (!out->s || !out->images || !out->tokens) {
        ev_calib_free(out);
        snprintf(err, errlen, "out of memory preparing %d calibration samples", n);
        return -1;
    }
    int got = 0;
    for (int k = 0; got < n; k++) {
        int any = 0;
        for (int i = 0; i < d->nsamples && got < n; i++) {
            const ds_sample *s = &d->samples[i];
            if (k >= s->nsent)
                continue;
            any = 1;
            const ds_image *im = &d->images[s->image];
            float *img = out->images + (size_t)got * 3 * S * S;
            int32_t *ids = out->tokens + (size_t)got * 2 * T, *msk = ids + T;
            lavt_preprocess(m, im->rgb, im->w, im->h, img);
            tok_encode(lavt_vocab(m), s->sentences[k], T, ids, msk);
            out->s[got++] = (qm_sample){ img, ids, msk };
        }
        if (!any)
            break;
    }
    out->n = got;
    return 0;
}

void ev_calib_free(ev_calib *c)
{
    free(c->s);
    free(c->images);
    free(c->tokens);
    memset(c, 0, sizeof *c);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int ev_resolve_model(const char *entry, const char *zoo, const char *suite_file, char *out,
                     size_t outlen)
{
    if (strchr(entry, '/')) {
        snprintf(out, outlen, "%s", entry);
        return is_dir(out) ? 0 : -1;
    }
    const char *env = getenv("RISQ_ZOO");
    char sdir[2048], rel[2100];
    snprintf(sdir, sizeof sdir, "%s", suite_file ? suite_file : "./x");
    char *slash = strrchr(sdir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(sdir, sizeof sdir, ".");
    snprintf(rel, sizeof rel, "%s/../models/zoo", sdir);
    const char *bases[4] = { zoo, env, "models/zoo", suite_file ? rel : NULL };
    for (int i = 0; i < 4; i++) {
        if (!bases[i])
            continue;
        snprintf(out, outlen, "%s/%s", bases[i], entry);
        if (is_dir(out))
            return 0;
    }
    return -1;
}
