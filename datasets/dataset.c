/*
** dataset: in-memory referring split and its folder form (see dataset.h).
**
** dataset.yaml is parsed with libyaml's document API and written with its
** emitter, so quoting of sentences is always right. PNGs go through stb.
*/
#include "datasets/dataset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

/* ----------------------------------------------------------- building --- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

ds_dataset *ds_new(const char *name, const char *split)
{
    ds_dataset *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->name = dup_or_null(name);
    d->split = dup_or_null(split);
    d->gen_seed = -1;
    if ((name && !d->name) || (split && !d->split)) {
        ds_free(d);
        return NULL;
    }
    return d;
}

/* Make room for one more element in *arr (capacity doubles). */
static int reserve(void **arr, int n, int *cap, size_t elem)
{
    if (n < *cap) return 0;
    int ncap = *cap ? *cap * 2 : 16;
    void *q = realloc(*arr, (size_t)ncap * elem);
    if (!q) return -1;
    *arr = q;
    *cap = ncap;
    return 0;
}

int ds_add_image(ds_dataset *d, int w, int h, uint8_t *rgb)
{
    char path[64];
    if (reserve((void **)&d->images, d->nimages, &d->cap_images, sizeof *d->images)) goto fail;
    snprintf(path, sizeof path, "images/%06d.png", d->nimages);
    ds_image *im = &d->images[d->nimages];
    im->w = w;
    im->h = h;
    im->rgb = rgb;
    if (!(im->path = strdup(path))) goto fail;
    return d->nimages++;
fail:
    free(rgb);
    return -1;
}

int ds_add_sample(ds_dataset *d, int image, uint8_t *mask, int nsent, char **sentences)
{
    char path[64];
    if (reserve((void **)&d->samples, d->nsamples, &d->cap_samples, sizeof *d->samples)) goto fail;
    /* mask file: image number and the object's ordinal within the image */
    int ord = 0;
    for (int i = d->nsamples - 1; i >= 0 && d->samples[i].image == image; i--) ord++;
    snprintf(path, sizeof path, "masks/%06d_%d.png", image, ord);
    ds_sample *s = &d->samples[d->nsamples];
    s->image = image;
    s->mask = mask;
    s->nsent = nsent;
    s->sentences = sentences;
    if (!(s->mask_path = strdup(path))) {
        s->mask = NULL;
        s->sentences = NULL;
        goto fail;
    }
    return d->nsamples++;
fail:
    free(mask);
    for (int i = 0; i < nsent; i++) free(sentences[i]);
    free(sentences);
    return -1;
}

void ds_free(ds_dataset *d)
{
    if (!d) return;
    for (int i = 0; i < d->nimages; i++) {
        free(d->images[i].rgb);
        free(d->images[i].path);
    }
    for (int i = 0; i < d->nsamples; i++) {
        ds_sample *s = &d->samples[i];
        free(s->mask);
        free(s->mask_path);
        for (int j = 0; j < s->nsent; j++) free(s->sentences[j]);
        free(s->sentences);
    }
    free(d->images);
    free(d->samples);
    free(d->name);
    free(d->version);
    free(d->licence);
    free(d->source);
    free(d->split);
    free(d);
}

int ds_count_sentences(const ds_dataset *d)
{
    int n = 0;
    for (int i = 0; i < d->nsamples; i++) n += d->samples[i].nsent;
    return n;
}

/* --------------------------------------------------------------- hash --- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

static uint64_t fnv_u32(uint64_t h, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return fnv(h, b, 4);
}

uint64_t ds_hash(const ds_dataset *d)
{
    uint64_t h = 0xCBF29CE484222325ull;
    h = fnv_u32(h, (uint32_t)d->nimages);
    for (int i = 0; i < d->nimages; i++) {
        const ds_image *im = &d->images[i];
        h = fnv_u32(fnv_u32(h, (uint32_t)im->w), (uint32_t)im->h);
        h = fnv(h, im->rgb, (size_t)im->w * im->h * 3);
    }
    h = fnv_u32(h, (uint32_t)d->nsamples);
    for (int i = 0; i < d->nsamples; i++) {
        const ds_sample *s = &d->samples[i];
        const ds_image *im = &d->images[s->image];
        h = fnv_u32(fnv_u32(h, (uint32_t)s->image), (uint32_t)s->nsent);
        h = fnv(h, s->mask, (size_t)im->w * im->h);
        for (int j = 0; j < s->nsent; j++) h = fnv(h, s->sentences[j], strlen(s->sentences[j]) + 1);
    }
    return h;
}

/* -------------------------------------------------------------- write --- */

static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    strcpy(buf, path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST) {
                snprintf(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

typedef struct emit {
    yaml_emitter_t em;
    int failed;
} emit;

static void ev_scalar(emit *e, const char *v, int quoted)
{
    yaml_event_t ev;
    if (e->failed) return;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), 1, 1,
                                 quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    if (!yaml_emitter_emit(&e->em, &ev)) e->failed = 1;
}

static void ev_kv(emit *e, const char *k, const char *v)
{
    ev_scalar(e, k, 0);
    ev_scalar(e, v, 0);
}

static void ev_kv_int(emit *e, const char *k, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    ev_kv(e, k, b);
}

static void ev_map(emit *e, int start, int flow)
{
    yaml_event_t ev;
    if (e->failed) return;
    if (start)
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                            flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
    else
        yaml_mapping_end_event_initialize(&ev);
    if (!yaml_emitter_emit(&e->em, &ev)) e->failed = 1;
}

static void ev_seq(emit *e, int start, int flow)
{
    yaml_event_t ev;
    if (e->failed) return;
    if (start)
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                             flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    else
        yaml_sequence_end_event_initialize(&ev);
    if (!yaml_emitter_emit(&e->em, &ev)) e->failed = 1;
}

static int write_yaml(const ds_dataset *d, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    emit e = {.failed = 0};
    yaml_event_t ev;
    yaml_emitter_initialize(&e.em);
    yaml_emitter_set_output_file(&e.em, f);
    yaml_emitter_set_unicode(&e.em, 1);
    yaml_emitter_set_width(&e.em, 200);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (!yaml_emitter_emit(&e.em, &ev)) e.failed = 1;
    if (!e.failed) {
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        if (!yaml_emitter_emit(&e.em, &ev)) e.failed = 1;
    }
    ev_map(&e, 1, 0);
    ev_kv(&e, "name", d->name ? d->name : "unnamed");
    ev_kv(&e, "version", d->version ? d->version : "1");
    ev_kv(&e, "licence", d->licence ? d->licence : "unknown");
    ev_kv(&e, "source", d->source ? d->source : "");
    if (d->gen_seed >= 0) {
        ev_scalar(&e, "generator", 0);
        ev_map(&e, 1, 1);
        ev_kv_int(&e, "seed", d->gen_seed);
        ev_kv_int(&e, "count", d->gen_count);
        ev_kv_int(&e, "size", d->gen_size);
        ev_kv_int(&e, "difficulty", d->gen_difficulty);
        ev_map(&e, 0, 1);
    }
    ev_scalar(&e, "splits", 0);
    ev_map(&e, 1, 0);
    ev_scalar(&e, d->split ? d->split : "val", 0);
    ev_seq(&e, 1, 0);
    for (int i = 0; i < d->nsamples && !e.failed; i++) {
        const ds_sample *s = &d->samples[i];
        ev_map(&e, 1, 0);
        ev_kv(&e, "image", d->images[s->image].path);
        ev_kv(&e, "mask", s->mask_path);
        ev_scalar(&e, "sentences", 0);
        ev_seq(&e, 1, 1);
        for (int j = 0; j < s->nsent; j++) ev_scalar(&e, s->sentences[j], 1);
        ev_seq(&e, 0, 1);
        ev_map(&e, 0, 0);
    }
    ev_seq(&e, 0, 0);
    ev_map(&e, 0, 0);
    ev_map(&e, 0, 0);
    if (!e.failed) {
        yaml_document_end_event_initialize(&ev, 1);
        if (!yaml_emitter_emit(&e.em, &ev)) e.failed = 1;
    }
    if (!e.failed) {
        yaml_stream_end_event_initialize(&ev);
        if (!yaml_emitter_emit(&e.em, &ev)) e.failed = 1;
    }
    if (e.failed)
        snprintf(err, errlen, "%s: YAML emitter error: %s", path,
                 e.em.problem ? e.em.problem : "unknown");
    yaml_emitter_delete(&e.em);
    if (fclose(f) && !e.failed) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        return -1;
    }
    return e.failed ? -1 : 0;
}

int ds_write(const ds_dataset *d, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/images", dir);
    if (mkdir_p(path, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/masks", dir);
    if (mkdir_p(path, err, errlen)) return -1;
    for (int i = 0; i < d->nimages; i++) {
        const ds_image *im = &d->images[i];
        snprintf(path, sizeof path, "%s/%s", dir, im->path);
        if (!stbi_write_png(path, im->w, im->h, 3, im->rgb, im->w * 3)) {
            snprintf(err, errlen, "%s: cannot write PNG", path);
            return -1;
        }
    }
    for (int i = 0; i < d->nsamples; i++) {
        const ds_sample *s = &d->samples[i];
        const ds_image *im = &d->images[s->image];
        size_t n = (size_t)im->w * im->h;
        uint8_t *grey = malloc(n);
        if (!grey) {
            snprintf(err, errlen, "out of memory writing masks");
            return -1;
        }
        for (size_t q = 0; q < n; q++) grey[q] = s->mask[q] ? 255 : 0;
        snprintf(path, sizeof path, "%s/%s", dir, s->mask_path);
        int ok = stbi_write_png(path, im->w, im->h, 1, grey, im->w);
        free(grey);
        if (!ok) {
            snprintf(err, errlen, "%s: cannot write PNG", path);
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/dataset.yaml", dir);
    return write_yaml(d, path, err, errlen);
}

/* --------------------------------------------------------------- read --- */

typedef struct reader {
    const char *file, *dir;
    yaml_document_t doc;
    char *err;
    size_t errlen;
} reader;

static int fail_at(reader *r, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        snprintf(r->err, r->errlen, "%s:%zu:%zu: %s", r->file, n->start_mark.line + 1,
                 n->start_mark.column + 1, msg);
    else
        snprintf(r->err, r->errlen, "%s: %s", r->file, msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int want_scalar(reader *r, const yaml_node_t *n, const char *what, const char **out)
{
    if (!(*out = scalar(n))) return fail_at(r, n, "%s must be a string", what);
    return 0;
}

static int parse_int(reader *r, const yaml_node_t *n, const char *what, long long lo,
                     long long hi, long long *out)
{
    const char *s = scalar(n);
    char *end;
    if (!s) return fail_at(r, n, "%s must be an integer", what);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return fail_at(r, n, "%s must be an integer, got '%s'", what, s);
    if (v < lo || v > hi) return fail_at(r, n, "%s %lld out of range [%lld, %lld]", what, v, lo, hi);
    *out = v;
    return 0;
}

static uint8_t *load_png(reader *r, const yaml_node_t *at, const char *rel, int channels,
                         int *w, int *h)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->dir, rel);
    int n;
    uint8_t *px = stbi_load(path, w, h, &n, channels);
    if (!px) fail_at(r, at, "cannot decode image '%s': %s", path, stbi_failure_reason());
    return px;
}

static int read_sample(reader *r, ds_dataset *d, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) return fail_at(r, n, "a sample must be a mapping {image, mask, sentences}");
    const char *image = NULL, *mask = NULL;
    yaml_node_t *sent = NULL, *img_node = NULL, *mask_node = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&r->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&r->doc, p->value);
        const char *key = scalar(k);
        if (!key) return fail_at(r, k, "sample keys must be strings");
        if (!strcmp(key, "image")) {
            if (want_scalar(r, v, "image", &image)) return -1;
            img_node = v;
        } else if (!strcmp(key, "mask")) {
            if (want_scalar(r, v, "mask", &mask)) return -1;
            mask_node = v;
        } else if (!strcmp(key, "sentences")) {
            sent = v;
        } else {
            return fail_at(r, k, "unknown sample key '%s' (expected image, mask, sentences)", key);
        }
    }
    if (!image || !mask || !sent)
        return fail_at(r, n, "sample needs image, mask and sentences");
    if (sent->type != YAML_SEQUENCE_NODE || sent->data.sequence.items.top == sent->data.sequence.items.start)
        return fail_at(r, sent, "sentences must be a non-empty list of strings");

    /* Images shared by several samples are decoded once. */
    int img = -1;
    for (int i = d->nimages - 1; i >= 0 && i >= d->nimages - 8; i--)
        if (!strcmp(d->images[i].path, image)) img = i;
    if (img < 0) {
        int w, h;
        uint8_t *rgb = load_png(r, img_node, image, 3, &w, &h);
        if (!rgb) return -1;
        /* stb's buffer is malloc-compatible (STBI_MALLOC defaults to malloc). */
        img = ds_add_image(d, w, h, rgb);
        if (img < 0) return fail_at(r, n, "out of memory");
        free(d->images[img].path);
        if (!(d->images[img].path = strdup(image))) return fail_at(r, n, "out of memory");
    }
    int mw, mh;
    uint8_t *m = load_png(r, mask_node, mask, 1, &mw, &mh);
    if (!m) return -1;
    if (mw != d->images[img].w || mh != d->images[img].h) {
        free(m);
        return fail_at(r, mask_node, "mask '%s' is %dx%d but its image is %dx%d", mask, mw, mh,
                       d->images[img].w, d->images[img].h);
    }
    for (size_t q = 0; q < (size_t)mw * mh; q++) m[q] = m[q] > 127;
    int ns = (int)(sent->data.sequence.items.top - sent->data.sequence.items.start);
    char **sv = calloc((size_t)ns, sizeof *sv);
    if (!sv) { free(m); return fail_at(r, n, "out of memory"); }
    for (int i = 0; i < ns; i++) {
        yaml_node_t *s = yaml_document_get_node(&r->doc, sent->data.sequence.items.start[i]);
        const char *str = scalar(s);
        if (!str || !(sv[i] = strdup(str))) {
            for (int j = 0; j < i; j++) free(sv[j]);
            free(sv);
            free(m);
            return fail_at(r, s, str ? "out of memory" : "a sentence must be a string");
        }
    }
    int si = ds_add_sample(d, img, m, ns, sv);
    if (si < 0) return fail_at(r, n, "out of memory");
    free(d->samples[si].mask_path);
    if (!(d->samples[si].mask_path = strdup(mask))) return fail_at(r, n, "out of memory");
    return 0;
}

static int read_generator(reader *r, ds_dataset *d, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) return fail_at(r, n, "generator must be a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&r->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&r->doc, p->value);
        const char *key = scalar(k);
        long long x;
        if (!key) return fail_at(r, k, "generator keys must be strings");
        if (!strcmp(key, "seed")) {
            if (parse_int(r, v, "seed", 0, INT64_MAX, &x)) return -1;
            d->gen_seed = x;
        } else if (!strcmp(key, "count")) {
            if (parse_int(r, v, "count", 1, 1000000, &x)) return -1;
            d->gen_count = (int)x;
        } else if (!strcmp(key, "size")) {
            if (parse_int(r, v, "size", 1, 1 << 16, &x)) return -1;
            d->gen_size = (int)x;
        } else if (!strcmp(key, "difficulty")) {
            if (parse_int(r, v, "difficulty", 0, 2, &x)) return -1;
            d->gen_difficulty = (int)x;
        } else {
            return fail_at(r, k, "unknown generator key '%s' (expected seed, count, size, difficulty)", key);
        }
    }
    return 0;
}

static int read_doc(reader *r, const char *split, ds_dataset *d)
{
    yaml_node_t *root = yaml_document_get_root_node(&r->doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return fail_at(r, root, "expected a mapping with name, version, licence, splits");
    yaml_node_t *splits = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&r->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&r->doc, p->value);
        const char *key = scalar(k), *val;
        char **slot = NULL;
        if (!key) return fail_at(r, k, "keys must be strings");
        if (!strcmp(key, "name")) slot = &d->name;
        else if (!strcmp(key, "version")) slot = &d->version;
        else if (!strcmp(key, "licence") || !strcmp(key, "license")) slot = &d->licence;
        else if (!strcmp(key, "source")) slot = &d->source;
        else if (!strcmp(key, "generator")) { if (read_generator(r, d, v)) return -1; continue; }
        else if (!strcmp(key, "splits")) { splits = v; continue; }
        else return fail_at(r, k, "unknown key '%s' (expected name, version, licence, source, generator, splits)", key);
        if (want_scalar(r, v, key, &val)) return -1;
        free(*slot);
        if (!(*slot = strdup(val))) return fail_at(r, v, "out of memory");
    }
    if (!d->name) return fail_at(r, root, "missing 'name'");
    if (!splits) return fail_at(r, root, "missing 'splits'");
    if (splits->type != YAML_MAPPING_NODE || splits->data.mapping.pairs.top == splits->data.mapping.pairs.start)
        return fail_at(r, splits, "splits must be a non-empty mapping of split name -> samples");
    int nsplits = (int)(splits->data.mapping.pairs.top - splits->data.mapping.pairs.start);
    yaml_node_t *chosen = NULL;
    const char *chosen_name = NULL;
    char names[512] = "";
    for (yaml_node_pair_t *p = splits->data.mapping.pairs.start; p < splits->data.mapping.pairs.top; p++) {
        const char *nm = scalar(yaml_document_get_node(&r->doc, p->key));
        if (!nm) return fail_at(r, splits, "split names must be strings");
        if (strlen(names) + strlen(nm) + 3 < sizeof names) {
            if (*names) strcat(names, ", ");
            strcat(names, nm);
        }
        if ((split && !strcmp(nm, split)) || (!split && nsplits == 1)) {
            chosen = yaml_document_get_node(&r->doc, p->value);
            chosen_name = nm;
        }
    }
    if (!chosen) {
        if (split) return fail_at(r, splits, "no split '%s' (have: %s)", split, names);
        return fail_at(r, splits, "several splits (%s): name one", names);
    }
    free(d->split);
    if (!(d->split = strdup(chosen_name))) return fail_at(r, splits, "out of memory");
    if (chosen->type != YAML_SEQUENCE_NODE)
        return fail_at(r, chosen, "split '%s' must be a list of samples", chosen_name);
    for (yaml_node_item_t *it = chosen->data.sequence.items.start; it < chosen->data.sequence.items.top; it++)
        if (read_sample(r, d, yaml_document_get_node(&r->doc, *it))) return -1;
    if (d->nsamples == 0) return fail_at(r, chosen, "split '%s' has no samples", chosen_name);
    return 0;
}

int ds_load(const char *dir, const char *split, ds_dataset **out, char *err, size_t errlen)
{
    char path[4096];
    *out = NULL;
    snprintf(path, sizeof path, "%s/dataset.yaml", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s (is '%s' a dataset folder?)", path,
                 strerror(errno), dir);
        return -1;
    }
    reader r = {.file = path, .dir = dir, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &r.doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    ds_dataset *d = ds_new(NULL, NULL);
    int rc = d ? read_doc(&r, split, d) : fail_at(&r, NULL, "out of memory");
    yaml_document_delete(&r.doc);
    if (rc) {
        ds_free(d);
        return -1;
    }
    *out = d;
    return 0;
}
