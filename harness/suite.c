/*
** suite: load, validate and expand a YAML suite (see suite.h and
** suites/README.md for the schema).
**
** Validation walks the libyaml document tree; every message is prefixed
** with FILE:LINE:COL of the offending node so the user can jump to it.
*/
#include "harness/suite.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

const char *const suite_methods[] = {"fp32", NULL};

typedef struct ctx {
    const char *file;
    yaml_document_t doc;
    char *err;
    size_t errlen;
} ctx;

static int fail(ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->file, n->start_mark.line + 1,
                 n->start_mark.column + 1, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s", c->file, msg);
    return -1;
}

static yaml_node_t *node(ctx *c, int id) { return yaml_document_get_node(&c->doc, id); }

static const char *str_of(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *type_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

static int get_str(ctx *c, const yaml_node_t *n, const char *key, char **out)
{
    const char *s = str_of(n);
    if (!s || !*s) return fail(c, n, "'%s' must be a non-empty string, not %s", key, s ? "empty" : type_name(n));
    free(*out);
    if (!(*out = strdup(s))) return fail(c, n, "out of memory");
    return 0;
}

static int get_int(ctx *c, const yaml_node_t *n, const char *key, long long lo, long long hi, long long *out)
{
    const char *s = str_of(n);
    char *end;
    if (!s) return fail(c, n, "'%s' must be an integer, not %s", key, type_name(n));
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return fail(c, n, "'%s' must be an integer, got '%s'", key, s);
    if (v < lo || v > hi) return fail(c, n, "'%s' = %lld is out of range [%lld, %lld]", key, v, lo, hi);
    *out = v;
    return 0;
}

/* Check a mapping's keys against `allowed` (NULL-terminated); reports
** unknown and duplicate keys. */
static int check_keys(ctx *c, const yaml_node_t *map, const char *what, const char *const *allowed)
{
    if (map->type != YAML_MAPPING_NODE) return fail(c, map, "%s must be a mapping, not %s", what, type_name(map));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key);
        const char *key = str_of(k);
        if (!key) return fail(c, k, "%s keys must be strings", what);
        int ok = 0;
        for (int i = 0; allowed[i]; i++) ok |= !strcmp(key, allowed[i]);
        if (!ok) {
            char list[256] = "";
            for (int i = 0; allowed[i]; i++) {
                if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, allowed[i], sizeof list - strlen(list) - 1);
            }
            return fail(c, k, "unknown key '%s' in %s (expected one of: %s)", key, what, list);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(str_of(node(c, q->key)), key)) return fail(c, k, "duplicate key '%s' in %s", key, what);
    }
    return 0;
}

/* A list of strings (a single scalar is accepted as a list of one). */
static int get_str_list(ctx *c, const yaml_node_t *n, const char *key, char ***out, int *count)
{
    if (n->type == YAML_SCALAR_NODE) {
        *out = calloc(1, sizeof **out);
        *count = 1;
        return *out ? get_str(c, n, key, &(*out)[0]) : fail(c, n, "out of memory");
    }
    if (n->type != YAML_SEQUENCE_NODE) return fail(c, n, "'%s' must be a list, not %s", key, type_name(n));
    int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (len == 0) return fail(c, n, "'%s' is empty: the matrix would have no configurations", key);
    *out = calloc((size_t)len, sizeof **out);
    if (!*out) return fail(c, n, "out of memory");
    *count = len;
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = node(c, n->data.sequence.items.start[i]);
        if (get_str(c, it, key, &(*out)[i])) return -1;
        for (int j = 0; j < i; j++)
            if (!strcmp((*out)[j], (*out)[i])) return fail(c, it, "'%s' lists '%s' twice", key, (*out)[i]);
    }
    return 0;
}

static int read_dataset(ctx *c, yaml_node_t *n, suite_dataset *d)
{
    static const char *const top[] = {"synth", "path", "split", NULL};
    static const char *const gen[] = {"seed", "count", "size", "difficulty", NULL};
    if (n->type == YAML_SCALAR_NODE) {   /* a bare folder path */
        return get_str(c, n, "datasets", &d->path) || get_str(c, n, "datasets", &d->label);
    }
    if (check_keys(c, n, "a dataset entry", top)) return -1;
    yaml_node_t *synth = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = str_of(node(c, p->key));
        yaml_node_t *v = node(c, p->value);
        if (!strcmp(key, "synth")) synth = v;
        else if (!strcmp(key, "path") && get_str(c, v, key, &d->path)) return -1;
        else if (!strcmp(key, "split") && get_str(c, v, key, &d->split)) return -1;
    }
    if (synth && d->path) return fail(c, n, "a dataset entry has either 'synth' or 'path', not both");
    if (!synth && !d->path) return fail(c, n, "a dataset entry needs 'synth: {...}' or 'path: DIR'");
    if (!synth) {
        char label[512];
        snprintf(label, sizeof label, "%s%s%s", d->path, d->split ? ":" : "", d->split ? d->split : "");
        return (d->label = strdup(label)) ? 0 : fail(c, n, "out of memory");
    }
    if (synth->type == YAML_SCALAR_NODE && !*str_of(synth)) synth = NULL; /* "synth:" alone */
    d->is_synth = 1;
    synth_defaults(&d->synth);
    if (synth) {
        if (check_keys(c, synth, "synth", gen)) return -1;
        for (yaml_node_pair_t *p = synth->data.mapping.pairs.start; p < synth->data.mapping.pairs.top; p++) {
            const char *key = str_of(node(c, p->key));
            yaml_node_t *v = node(c, p->value);
            long long x;
            if (!strcmp(key, "seed")) {
                if (get_int(c, v, key, 0, INT64_MAX, &x)) return -1;
                d->synth.seed = (uint64_t)x;
            } else if (!strcmp(key, "count")) {
                if (get_int(c, v, key, 1, SYNTH_MAX_COUNT, &x)) return -1;
                d->synth.count = (int)x;
            } else if (!strcmp(key, "size")) {
                if (get_int(c, v, key, SYNTH_MIN_SIZE, SYNTH_MAX_SIZE, &x)) return -1;
                d->synth.size = (int)x;
            } else {
                if (get_int(c, v, key, 0, 2, &x)) return -1;
                d->synth.difficulty = (int)x;
            }
        }
    }
    char label[128];
    snprintf(label, sizeof label, "synth-s%llu-n%d-p%d-d%d", (unsigned long long)d->synth.seed,
             d->synth.count, d->synth.size, d->synth.difficulty);
    if (!d->split && !(d->split = strdup("val"))) return fail(c, n, "out of memory");
    if (!(d->label = strdup(label))) return fail(c, n, "out of memory");
    return 0;
}

static int read_target(ctx *c, yaml_node_t *n, suite_target *t)
{
    static const char *const keys[] = {"isa", "threads", NULL};
    if (check_keys(c, n, "a target", keys)) return -1;
    strcpy(t->isa, "auto");
    t->nthreads = 1;
    t->threads[0] = 1;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = str_of(node(c, p->key));
        yaml_node_t *v = node(c, p->value);
        if (!strcmp(key, "isa")) {
            const char *s = str_of(v);
            if (!s || (strcmp(s, "auto") && strcmp(s, "scalar")))
                return fail(c, v, "'isa' must be auto or scalar (SIMD variants are not built yet), got '%s'",
                            s ? s : type_name(v));
            snprintf(t->isa, sizeof t->isa, "%s", s);
        } else {
            long long x;
            if (v->type == YAML_SCALAR_NODE) {
                if (get_int(c, v, "threads", 1, 256, &x)) return -1;
                t->threads[0] = (int)x;
                continue;
            }
            if (v->type != YAML_SEQUENCE_NODE) return fail(c, v, "'threads' must be an integer or a list of integers");
            int len = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (len < 1 || len > SUITE_MAX_THREADS)
                return fail(c, v, "'threads' must list 1 to %d thread counts", SUITE_MAX_THREADS);
            t->nthreads = len;
            for (int i = 0; i < len; i++) {
                yaml_node_t *it = node(c, v->data.sequence.items.start[i]);
                if (get_int(c, it, "threads", 1, 256, &x)) return -1;
                t->threads[i] = (int)x;
            }
        }
    }
    return 0;
}

static int valid_bits(const char *b)
{
    int w, a;
    char tail;
    return sscanf(b, "W%dA%d%c", &w, &a, &tail) == 2 && w >= 2 && w <= 8 && a >= 2 && a <= 8;
}

static int read_suite(ctx *c, suite *s)
{
    static const char *const keys[] = {"suite", "description", "models", "datasets", "methods",
                                       "bits", "targets", "warmup", "repetitions", NULL};
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    if (!root) return fail(c, NULL, "empty suite file");
    if (check_keys(c, root, "the suite", keys)) return -1;
    long long x;
    yaml_node_t *seen_models = NULL, *seen_datasets = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const char *key = str_of(node(c, p->key));
        yaml_node_t *v = node(c, p->value);
        if (!strcmp(key, "suite")) {
            if (get_str(c, v, key, &s->name)) return -1;
        } else if (!strcmp(key, "description")) {
            if (get_str(c, v, key, &s->description)) return -1;
        } else if (!strcmp(key, "models")) {
            seen_models = v;
            if (get_str_list(c, v, key, &s->models, &s->nmodels)) return -1;
        } else if (!strcmp(key, "methods")) {
            if (get_str_list(c, v, key, &s->methods, &s->nmethods)) return -1;
            for (int i = 0; i < s->nmethods; i++) {
                int ok = 0;
                for (int j = 0; suite_methods[j]; j++) ok |= !strcmp(s->methods[i], suite_methods[j]);
                if (!ok)
                    return fail(c, v->type == YAML_SEQUENCE_NODE ? node(c, v->data.sequence.items.start[i]) : v,
                                "unknown method '%s' (this build has: fp32)", s->methods[i]);
            }
        } else if (!strcmp(key, "bits")) {
            if (get_str_list(c, v, key, &s->bits, &s->nbits)) return -1;
            for (int i = 0; i < s->nbits; i++)
                if (!valid_bits(s->bits[i]))
                    return fail(c, v->type == YAML_SEQUENCE_NODE ? node(c, v->data.sequence.items.start[i]) : v,
                                "bad bit setting '%s': expected WxAy with 2 <= x, y <= 8 (e.g. W8A8)", s->bits[i]);
        } else if (!strcmp(key, "datasets") || !strcmp(key, "targets")) {
            int is_ds = key[0] == 'd';
            if (v->type != YAML_SEQUENCE_NODE) return fail(c, v, "'%s' must be a list, not %s", key, type_name(v));
            int len = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (len == 0) return fail(c, v, "'%s' is empty: the matrix would have no configurations", key);
            if (is_ds) {
                seen_datasets = v;
                if (!(s->datasets = calloc((size_t)len, sizeof *s->datasets))) return fail(c, v, "out of memory");
                for (int i = 0; i < len; i++, s->ndatasets++)
                    if (read_dataset(c, node(c, v->data.sequence.items.start[i]), &s->datasets[i])) return -1;
            } else {
                if (!(s->targets = calloc((size_t)len, sizeof *s->targets))) return fail(c, v, "out of memory");
                for (int i = 0; i < len; i++, s->ntargets++)
                    if (read_target(c, node(c, v->data.sequence.items.start[i]), &s->targets[i])) return -1;
            }
        } else if (!strcmp(key, "warmup")) {
            if (get_int(c, v, key, 0, 1000, &x)) return -1;
            s->warmup = (int)x;
        } else if (!strcmp(key, "repetitions")) {
            if (get_int(c, v, key, 1, 100000, &x)) return -1;
            s->repetitions = (int)x;
        }
    }
    if (!s->name) return fail(c, root, "missing 'suite: NAME'");
    if (!seen_models) return fail(c, root, "missing 'models' (e.g. models: [lavt-tiny])");
    if (!seen_datasets) return fail(c, root, "missing 'datasets' (e.g. datasets: [{synth: {seed: 7}}])");
    if (!s->methods) {
        if (!(s->methods = calloc(1, sizeof *s->methods)) || !(s->methods[0] = strdup("fp32")))
            return fail(c, root, "out of memory");
        s->nmethods = 1;
    }
    if (!s->targets) {
        if (!(s->targets = calloc(1, sizeof *s->targets))) return fail(c, root, "out of memory");
        s->ntargets = 1;
        strcpy(s->targets[0].isa, "auto");
        s->targets[0].nthreads = 1;
        s->targets[0].threads[0] = 1;
    }
    return 0;
}

int suite_load(const char *path, suite **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open suite: %s", path, strerror(errno));
        return -1;
    }
    ctx c = {.file = path, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int loaded = yaml_parser_load(&parser, &c.doc);
    if (!loaded)
        snprintf(err, errlen, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML syntax error");
    yaml_parser_delete(&parser);
    fclose(f);
    if (!loaded) return -1;
    suite *s = calloc(1, sizeof *s);
    int rc = -1;
    if (!s || !(s->file = strdup(path))) {
        fail(&c, NULL, "out of memory");
    } else {
        s->warmup = 2;
        s->repetitions = 10;
        rc = read_suite(&c, s);
    }
    yaml_document_delete(&c.doc);
    if (rc) {
        suite_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

static void free_list(char **v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

void suite_free(suite *s)
{
    if (!s) return;
    free(s->file);
    free(s->name);
    free(s->description);
    free_list(s->models, s->nmodels);
    free_list(s->methods, s->nmethods);
    free_list(s->bits, s->nbits);
    for (int i = 0; i < s->ndatasets; i++) {
        free(s->datasets[i].path);
        free(s->datasets[i].split);
        free(s->datasets[i].label);
    }
    free(s->datasets);
    free(s->targets);
    free(s);
}

int suite_expand(const suite *s, suite_config **out)
{
    int n = 0, cap = 0;
    suite_config *v = NULL;
    for (int m = 0; m < s->nmodels; m++)
        for (int d = 0; d < s->ndatasets; d++)
            for (int me = 0; me < s->nmethods; me++) {
                int fp32 = !strcmp(s->methods[me], "fp32");
                int nb = fp32 || s->nbits == 0 ? 1 : s->nbits;
                for (int b = 0; b < nb; b++)
                    for (int t = 0; t < s->ntargets; t++)
                        for (int th = 0; th < s->targets[t].nthreads; th++) {
                            if (n == cap) {
                                cap = cap ? cap * 2 : 16;
                                suite_config *nv = realloc(v, (size_t)cap * sizeof *v);
                                if (!nv) { free(v); *out = NULL; return -1; }
                                v = nv;
                            }
                            v[n++] = (suite_config){m, d, me, fp32 ? -1 : b, t,
                                                    s->targets[t].threads[th]};
                        }
            }
    *out = v;
    return n;
}
