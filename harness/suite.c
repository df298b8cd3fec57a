/*
** suite: load, validate, merge and expand a YAML suite (see suite.h and
** suites/README.md for the schema).
**
** Validation walks the libyaml document tree; every message is prefixed
** with FILE:LINE:COL of the offending node so the user can jump to it.
**
** `include:` is processed before the other keys of a mapping, so the
** included files' content comes first: lists are concatenated (an entry
** already brought in by an earlier file is not repeated; one listed twice in
** the same file is an error), mappings (calibration, gates,
** gates.miou_drop_max) are merged key by key, and for scalar keys the last
** file read wins, i.e. the including file wins over what it includes, and a
** later include over an earlier one. The documents of every file read stay
** in memory until the load ends, so the checks that can only be made on
** the merged suite (required keys, gates against bits, excludes, empty
** matrix) still point at the right FILE:LINE:COL.
*/
#include "harness/suite.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

const char *const suite_methods[] = {"fp32", "minmax", "percentile", "omse", "ptq4vit", "ptq4ris",
                                     "ptq4ris-no-drq", "ptq4ris-no-rorq", NULL};
const char *const suite_known_methods[] = {"fp32", "minmax", "percentile", "omse", "ptq4vit",
                                           "ptq4ris", "ptq4ris-no-drq", "ptq4ris-no-rorq", NULL};
/* Every isa a suite may name (kernels/isa.h); whether this machine runs it is
** decided per configuration at run time, so one suite serves every board. */
static const char *const known_isas[] = {"auto", "scalar", "avx2", "avx512vnni", "neon", "neon-dotprod", NULL};

#define MAX_THREADS_VALUE 256

/* ------------------------------------------------------ load context --- */

/* One file read during a load: kept until the load ends so node marks and
** the path they are reported under stay valid. */
typedef struct srcfile {
    char *path;            /* as shown in messages */
    char *real;            /* realpath(), for include cycles */
    char *text;
    yaml_document_t doc;
    int has_doc;
} srcfile;

/* A place in a file, for the checks made after the merge. */
typedef struct where {
    const char *file;
    size_t line, col;      /* 1-based */
} where;

typedef struct loader {
    suite *s;
    char *err;
    size_t errlen;
    srcfile **files;
    int nfiles;
    const srcfile *chain[SUITE_MAX_INCLUDE_DEPTH];  /* the include chain being read */
    int depth;
    where top;             /* the top file's root node */
    where *exclude_at;     /* parallel to s->excludes */
    where gate_at[SUITE_MAX_GATES];
} loader;

/* The file being read. */
typedef struct ctx {
    loader *L;
    srcfile *f;
} ctx;

static int failw(loader *L, where w, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w.line)
        snprintf(L->err, L->errlen, "%s:%zu:%zu: %s", w.file, w.line, w.col, msg);
    else
        snprintf(L->err, L->errlen, "%s: %s", w.file, msg);
    return -1;
}

static where at(ctx *c, const yaml_node_t *n)
{
    where w = {c->f->path, 0, 0};
    if (n) {
        w.line = n->start_mark.line + 1;
        w.col = n->start_mark.column + 1;
    }
    return w;
}

#define fail(c, n, ...) failw((c)->L, at((c), (n)), __VA_ARGS__)

static yaml_node_t *node(ctx *c, int id) { return yaml_document_get_node(&c->f->doc, id); }

static const char *str_of(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *type_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

static int seq_len(const yaml_node_t *n)
{
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* ------------------------------------------------- names and hints --- */

static int count_of(const char *const *v)
{
    int n = 0;
    while (v[n]) n++;
    return n;
}

static int in_list(const char *w, const char *const *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(w, v[i])) return 1;
    return 0;
}

/* Optimal string alignment distance (Levenshtein plus transpositions). */
static int distance(const char *a, const char *b)
{
    enum { MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXLEN || lb >= MAXLEN) return MAXLEN;
    int d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* The closest candidate when it is plausibly a typo of w, else NULL. */
static const char *suggest(const char *w, const char *const *v, int n)
{
    const char *best = NULL;
    int bd = INT_MAX, wl = (int)strlen(w);
    for (int i = 0; i < n; i++) {
        int d = distance(w, v[i]);
        if (d < bd) bd = d, best = v[i];
    }
    return best && bd <= 2 && bd < wl ? best : NULL;
}

static void join(char *out, size_t len, const char *const *v, int n)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strncat(out, ", ", len - strlen(out) - 1);
        strncat(out, v[i], len - strlen(out) - 1);
    }
}

/* " (did you mean 'x'?)" or " (expected one of: a, b)" into hint. */
static const char *hint(char *out, size_t len, const char *w, const char *const *v, int n, const char *lead)
{
    const char *s = suggest(w, v, n);
    if (n == 0) {
        snprintf(out, len, " (%s: none)", lead);
    } else if (s) {
        snprintf(out, len, " (did you mean '%s'?)", s);
    } else {
        char list[400];
        join(list, sizeof list, v, n);
        snprintf(out, len, " (%s: %s)", lead, list);
    }
    return out;
}

/* --------------------------------------------------- scalar readers --- */

static int get_str(ctx *c, const yaml_node_t *n, const char *key, char **out)
{
    const char *s = str_of(n);
    if (!s || !*s) return fail(c, n, "'%s' must be a non-empty string, not %s", key, s ? "empty" : type_name(n));
    char *d = strdup(s);
    if (!d) return fail(c, n, "out of memory");
    free(*out);
    *out = d;
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

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* A number in [lo, hi] (or (lo, hi] when lo_open). */
static int get_num(ctx *c, const yaml_node_t *n, const char *key, double lo, int lo_open, double hi, double *out)
{
    const char *s = str_of(n);
    double v;
    if (!s) return fail(c, n, "'%s' must be a number, not %s", key, type_name(n));
    if (parse_double(s, &v)) return fail(c, n, "'%s' must be a number, got '%s'", key, s);
    if (v < lo || v > hi || (lo_open && v == lo))
        return fail(c, n, "'%s' = %s is out of range %s%g, %g]", key, s, lo_open ? "(" : "[", lo, hi);
    *out = v;
    return 0;
}

/* A fraction written as a number (0.05) or a percentage (5%), in
** [lo, hi] (or (lo, hi] when lo_open). */
static int get_fraction(ctx *c, const yaml_node_t *n, const char *key, double lo, int lo_open, double hi,
                        double *out)
{
    const char *s = str_of(n);
    if (!s) return fail(c, n, "'%s' must be a fraction (0.05) or a percentage (5%%), not %s", key, type_name(n));
    size_t len = strlen(s);
    double v;
    if (len && s[len - 1] == '%') {
        char num[64];
        if (len - 1 >= sizeof num) return fail(c, n, "bad percentage '%s' for '%s' (write e.g. 5%% or 0.05)", s, key);
        memcpy(num, s, len - 1);
        num[len - 1] = 0;
        if (parse_double(num, &v))
            return fail(c, n, "bad percentage '%s' for '%s' (write e.g. 5%% or 0.05)", s, key);
        v /= 100;
    } else if (parse_double(s, &v)) {
        return fail(c, n, "'%s' must be a fraction (0.05) or a percentage (5%%), got '%s'", key, s);
    }
    if (v < lo || v > hi || (lo_open && v == lo))
        return fail(c, n, "'%s' = %s is out of range %s%g%%, %g%%] (a fraction: 5%% is 0.05)", key, s,
                    lo_open ? "(" : "[", lo * 100, hi * 100);
    *out = v;
    return 0;
}

/* WxAy with 2 <= x, y <= 8. */
static int valid_bits(const char *b)
{
    return strlen(b) == 4 && b[0] == 'W' && b[1] >= '2' && b[1] <= '8' && b[2] == 'A' && b[3] >= '2' &&
           b[3] <= '8';
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
        if (!in_list(key, allowed, count_of(allowed))) {
            char h[512];
            return fail(c, k, "unknown key '%s' in %s%s", key, what,
                        hint(h, sizeof h, key, allowed, count_of(allowed), "expected one of"));
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(str_of(node(c, q->key)), key)) return fail(c, k, "duplicate key '%s' in %s", key, what);
    }
    return 0;
}

/* --------------------------------------------------------- lists --- */

static int check_method(ctx *c, const yaml_node_t *n, const char *m)
{
    char h[512];
    for (int i = 0; i < c->L->s->nrecipes; i++)
        if (!strcmp(c->L->s->recipes[i].name, m)) return 0;
    /* int:METHOD, the built-in method executed with the integer kernels */
    if (!strncmp(m, "int:", 4)) {
        if (!strcmp(m + 4, "fp32"))
            return fail(c, n, "'int:fp32' means nothing: fp32 has no integer form (use fp32)");
        if (!in_list(m + 4, suite_methods, count_of(suite_methods)))
            return fail(c, n, "unknown method '%s': int: takes a built-in quantization method%s", m,
                        hint(h, sizeof h, m + 4, suite_methods, count_of(suite_methods), "known"));
        return 0;
    }
    if (!in_list(m, suite_known_methods, count_of(suite_known_methods)))
        return fail(c, n, "unknown method '%s'%s", m,
                    hint(h, sizeof h, m, suite_known_methods, count_of(suite_known_methods), "known"));
    if (!in_list(m, suite_methods, count_of(suite_methods))) {
        char list[256];
        join(list, sizeof list, suite_methods, count_of(suite_methods));
        return fail(c, n, "method '%s' is not available in this build yet (available: %s)", m, list);
    }
    return 0;
}

static int check_bits(ctx *c, const yaml_node_t *n, const char *b)
{
    if (!valid_bits(b))
        return fail(c, n, "bad bit setting '%s': expected WxAy with 2 <= x, y <= 8 (e.g. W8A8)", b);
    return 0;
}

/* Append a list of strings (a single scalar is a list of one) to *v,
** checking each with `check`. Entries brought in by an earlier file are
** not repeated; one listed twice here is an error. */
static int add_str_list(ctx *c, const yaml_node_t *n, const char *key, char ***v, int *count,
                        int (*check)(ctx *, const yaml_node_t *, const char *))
{
    int len = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        len = seq_len(n);
        if (len == 0) return fail(c, n, "'%s' is empty: the matrix would have no configurations", key);
    } else if (n->type != YAML_SCALAR_NODE) {
        return fail(c, n, "'%s' must be a list, not %s", key, type_name(n));
    }
    char **nv = realloc(*v, (size_t)(*count + len) * sizeof **v);
    if (!nv) return fail(c, n, "out of memory");
    *v = nv;
    int start = *count;
    for (int i = 0; i < len; i++) {
        const yaml_node_t *it = n->type == YAML_SEQUENCE_NODE ? node(c, n->data.sequence.items.start[i]) : n;
        char *s = NULL;
        if (get_str(c, it, key, &s)) return -1;
        if (check && check(c, it, s)) {
            free(s);
            return -1;
        }
        int dup = -1;
        for (int j = 0; j < *count && dup < 0; j++)
            if (!strcmp((*v)[j], s)) dup = j;
        if (dup >= start) {
            fail(c, it, "'%s' lists '%s' twice", key, s);
            free(s);
            return -1;
        }
        if (dup >= 0) {
            free(s);
            continue;
        }
        (*v)[(*count)++] = s;
    }
    return 0;
}

/* Datasets are the same when they would give the same samples. */
static int same_dataset(const suite_dataset *a, const suite_dataset *b)
{
    if (a->is_synth != b->is_synth) return 0;
    if (a->is_synth && memcmp(&a->synth, &b->synth, sizeof a->synth)) return 0;
    if (!a->is_synth && strcmp(a->label, b->label)) return 0;
    return (!a->split && !b->split) || (a->split && b->split && !strcmp(a->split, b->split));
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The folder part of path, with its trailing '/', or "" (into out). */
static void dir_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path + 1) : 0;
    if (n >= len) n = len - 1;
    memcpy(out, path, n);
    out[n] = 0;
}

/* A dataset folder must exist, as written (from the current directory) or
** next to the suite file that names it; the latter is stored resolved. */
static int resolve_dataset_path(ctx *c, const yaml_node_t *n, suite_dataset *d)
{
    if (is_dir(d->path)) return 0;
    if (d->path[0] != '/') {
        char dir[2048], p[4096];
        dir_of(c->f->path, dir, sizeof dir);
        if (dir[0]) {
            snprintf(p, sizeof p, "%s%s", dir, d->path);
            if (is_dir(p)) {
                char *r = strdup(p);
                if (!r) return fail(c, n, "out of memory");
                free(d->path);
                d->path = r;
                return 0;
            }
        }
    }
    return fail(c, n, "dataset folder '%s' not found (looked in the current directory%s)", d->path,
                d->path[0] == '/' ? "" : " and next to the suite");
}

static void free_dataset(suite_dataset *d)
{
    free(d->path);
    free(d->split);
    free(d->label);
    memset(d, 0, sizeof *d);
}

static int read_dataset(ctx *c, const yaml_node_t *n, suite_dataset *d)
{
    static const char *const top[] = {"synth", "path", "split", NULL};
    static const char *const gen[] = {"seed", "count", "size", "difficulty", NULL};
    const yaml_node_t *path_node = n;
    if (n->type == YAML_SCALAR_NODE) {   /* a bare folder path */
        if (get_str(c, n, "datasets", &d->path) || get_str(c, n, "datasets", &d->label)) return -1;
        return resolve_dataset_path(c, n, d);
    }
    if (check_keys(c, n, "a dataset entry", top)) return -1;
    yaml_node_t *synth = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = str_of(node(c, p->key));
        yaml_node_t *v = node(c, p->value);
        if (!strcmp(key, "synth")) {
            synth = v;
        } else if (!strcmp(key, "path")) {
            if (get_str(c, v, key, &d->path)) return -1;
            path_node = v;
        } else if (get_str(c, v, key, &d->split)) {
            return -1;
        }
    }
    if (synth && d->path) return fail(c, n, "a dataset entry has either 'synth' or 'path', not both");
    if (!synth && !d->path) return fail(c, n, "a dataset entry needs 'synth: {...}' or 'path: DIR'");
    if (!synth) {
        char label[2048];
        snprintf(label, sizeof label, "%s%s%s", d->path, d->split ? ":" : "", d->split ? d->split : "");
        if (!(d->label = strdup(label))) return fail(c, n, "out of memory");
        return resolve_dataset_path(c, path_node, d);
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

static int add_datasets(ctx *c, const yaml_node_t *v)
{
    suite *s = c->L->s;
    if (v->type != YAML_SEQUENCE_NODE) return fail(c, v, "'datasets' must be a list, not %s", type_name(v));
    int len = seq_len(v);
    if (len == 0) return fail(c, v, "'datasets' is empty: the matrix would have no configurations");
    suite_dataset *nd = realloc(s->datasets, (size_t)(s->ndatasets + len) * sizeof *nd);
    if (!nd) return fail(c, v, "out of memory");
    s->datasets = nd;
    int start = s->ndatasets;
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = node(c, v->data.sequence.items.start[i]);
        suite_dataset d = {0};
        if (read_dataset(c, it, &d)) {
            free_dataset(&d);
            return -1;
        }
        int dup = -1;
        for (int j = 0; j < s->ndatasets && dup < 0; j++)
            if (same_dataset(&s->datasets[j], &d)) dup = j;
        if (dup >= start) {
            fail(c, it, "'datasets' lists '%s' twice", d.label);
            free_dataset(&d);
            return -1;
        }
        if (dup >= 0) free_dataset(&d);
        else s->datasets[s->ndatasets++] = d;
    }
    return 0;
}

static int same_board(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Read one target into t; `start` is the index of the first target of
** the current file (earlier ones come from included files). */
static int read_target(ctx *c, const yaml_node_t *n, suite_target *t, int start)
{
    static const char *const keys[] = {"isa", "threads", "board", NULL};
    suite *s = c->L->s;
    if (check_keys(c, n, "a target", keys)) return -1;
    strcpy(t->isa, "auto");
    const yaml_node_t *thr = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = str_of(node(c, p->key));
        yaml_node_t *v = node(c, p->value);
        if (!strcmp(key, "isa")) {
            const char *i = str_of(v);
            char h[512];
            if (!i) return fail(c, v, "'isa' must be a string, not %s", type_name(v));
            if (!in_list(i, known_isas, count_of(known_isas)))
                return fail(c, v, "unknown isa '%s'%s", i,
                            hint(h, sizeof h, i, known_isas, count_of(known_isas), "known"));
            snprintf(t->isa, sizeof t->isa, "%s", i);
        } else if (!strcmp(key, "board")) {
            if (get_str(c, v, key, &t->board)) return -1;
        } else {
            thr = v;
        }
    }
    /* Thread counts, each checked against the targets already read. */
    int len = 1;
    if (thr && thr->type == YAML_SEQUENCE_NODE) {
        len = seq_len(thr);
        if (len < 1 || len > SUITE_MAX_THREADS)
            return fail(c, thr, "'threads' must list 1 to %d thread counts", SUITE_MAX_THREADS);
    } else if (thr && thr->type != YAML_SCALAR_NODE) {
        return fail(c, thr, "'threads' must be an integer or a list of integers, not %s", type_name(thr));
    }
    t->nthreads = 0;
    for (int i = 0; i < len; i++) {
        const yaml_node_t *it = thr;
        if (thr && thr->type == YAML_SEQUENCE_NODE) it = node(c, thr->data.sequence.items.start[i]);
        long long x = 1;
        if (it && get_int(c, it, "threads", 1, MAX_THREADS_VALUE, &x)) return -1;
        for (int j = 0; j < t->nthreads; j++)
            if (t->threads[j] == x) return fail(c, it, "'threads' lists %lld twice", x);
        int seen = -1;
        for (int k = 0; k < s->ntargets && seen < 0; k++) {
            const suite_target *o = &s->targets[k];
            if (strcmp(o->isa, t->isa) || !same_board(o->board, t->board)) continue;
            for (int j = 0; j < o->nthreads; j++)
                if (o->threads[j] == x) seen = k;
        }
        if (seen >= start)
            return fail(c, it ? it : n, "isa %s with %lld thread%s%s%s is already listed in 'targets'", t->isa, x,
                        x == 1 ? "" : "s", t->board ? " on board " : "", t->board ? t->board : "");
        if (seen < 0) t->threads[t->nthreads++] = (int)x;   /* else it came from an include */
    }
    return 0;
}

static int add_targets(ctx *c, const yaml_node_t *v)
{
    suite *s = c->L->s;
    if (v->type != YAML_SEQUENCE_NODE) return fail(c, v, "'targets' must be a list, not %s", type_name(v));
    int len = seq_len(v);
    if (len == 0) return fail(c, v, "'targets' is empty: the matrix would have no configurations");
    suite_target *nt = realloc(s->targets, (size_t)(s->ntargets + len) * sizeof *nt);
    if (!nt) return fail(c, v, "out of memory");
    s->targets = nt;
    int start = s->ntargets;
    for (int i = 0; i < len; i++) {
        suite_target t = {0};
        if (read_target(c, node(c, v->data.sequence.items.start[i]), &t, start)) {
            free(t.board);
            return -1;
        }
        if (t.nthreads == 0) free(t.board);   /* everything in it came from an include */
        else s->targets[s->ntargets++] = t;
    }
    return 0;
}

/* recipes: {NAME: {base: BUILTIN, scope, first_last, range, objective,
** rounds, weight, act, softmax, gelu, text, keep_float, exec}} */
static int read_recipes(ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"base", "scope", "first_last", "range", "objective", "rounds",
                                       "weight", "act", "softmax", "gelu", "text", "keep_float", "exec", NULL};
    static const char *const qtypes[] = {"float", "uniform", "drq-softmax", "drq-gelu", "twin-softmax",
                                         "twin-gelu", "rorq", NULL};
    suite *s = c->L->s;
    char h[512];
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "'recipes' must be a mapping of NAME: {base: METHOD, ...}, not %s", type_name(n));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(c, p->key), *v = node(c, p->value);
        const char *name = str_of(kn);
        if (!name || !*name) return fail(c, kn, "a recipe name must be a non-empty string");
        if (strlen(name) >= sizeof ((qm_recipe *)0)->name)
            return fail(c, kn, "recipe name '%s' is longer than %zu characters", name,
                        sizeof ((qm_recipe *)0)->name - 1);
        if (in_list(name, suite_known_methods, count_of(suite_known_methods)))
            return fail(c, kn, "recipe '%s' would hide the built-in method of that name", name);
        for (int i = 0; i < s->nrecipes; i++)
            if (!strcmp(s->recipes[i].name, name)) return fail(c, kn, "recipe '%s' is defined twice", name);
        if (v->type != YAML_MAPPING_NODE)
            return fail(c, v, "recipe '%s' must be a mapping ({base: ptq4ris, ...}), not %s", name, type_name(v));
        if (check_keys(c, v, "a recipe", keys)) return -1;
        qm_recipe r;
        const yaml_node_t *base = NULL;
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++)
            if (!strcmp(str_of(node(c, q->key)), "base")) base = node(c, q->value);
        if (!base) return fail(c, v, "recipe '%s' needs 'base' (a built-in method, e.g. base: ptq4ris)", name);
        if (!str_of(base) || qm_recipe_builtin(str_of(base), &r))
            return fail(c, base, "recipe base '%s' is not a built-in method%s", str_of(base) ? str_of(base) : "?",
                        hint(h, sizeof h, str_of(base) ? str_of(base) : "", qm_recipe_names,
                             count_of(qm_recipe_names), "built-in"));
        snprintf(r.name, sizeof r.name, "%s", name);
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            const char *key = str_of(node(c, q->key));
            yaml_node_t *x = node(c, q->value);
            const char *val = str_of(x);
            long long iv;
            if (!strcmp(key, "base")) continue;
            if (!strcmp(key, "rounds")) {
                if (get_int(c, x, key, 1, 10, &iv)) return -1;
                r.rounds = (int)iv;
            } else if (!strcmp(key, "keep_float")) {
                int len = x->type == YAML_SEQUENCE_NODE ? seq_len(x) : 1;
                if (len > QM_MAX_KEEP) return fail(c, x, "'keep_float' takes at most %d patterns", QM_MAX_KEEP);
                r.nkeep = 0;
                for (int i = 0; i < len; i++) {
                    yaml_node_t *it = x->type == YAML_SEQUENCE_NODE ? node(c, x->data.sequence.items.start[i]) : x;
                    const char *pat = str_of(it);
                    if (!pat || !*pat || strlen(pat) >= sizeof r.keep_float[0])
                        return fail(c, it, "'keep_float' entries are site-name patterns such as 'decoder.*' "
                                    "(at most %zu characters)", sizeof r.keep_float[0] - 1);
                    snprintf(r.keep_float[r.nkeep++], sizeof r.keep_float[0], "%s", pat);
                }
            } else if (!val) {
                return fail(c, x, "'%s' must be a scalar, not %s", key, type_name(x));
            } else if (!strcmp(key, "scope")) {
                if (qm_scope_parse(val, &r.scope)) return fail(c, x, "'scope' is upstream or all, got '%s'", val);
            } else if (!strcmp(key, "first_last")) {
                if (qm_first_last_parse(val, &r.first_last))
                    return fail(c, x, "'first_last' is 8bit, float or same, got '%s'", val);
            } else if (!strcmp(key, "range")) {
                if (qm_range_parse(val, &r.range))
                    return fail(c, x, "'range' is minmax, percentile, mse or output, got '%s'", val);
            } else if (!strcmp(key, "exec")) {
                if (qm_exec_parse(val, &r.exec))
                    return fail(c, x, "'exec' is sim (simulated quantization) or int (integer kernels), "
                                "got '%s'", val);
            } else if (!strcmp(key, "objective")) {
                if (!strcmp(val, "mse")) r.objective = QM_OBJ_MSE;
                else if (!strcmp(val, "cosine")) r.objective = QM_OBJ_COSINE;
                else return fail(c, x, "'objective' is mse or cosine, got '%s'", val);
            } else {
                qm_qtype t;
                if (qm_qtype_parse(val, &t))
                    return fail(c, x, "unknown quantizer '%s' for '%s'%s", val, key,
                                hint(h, sizeof h, val, qtypes, count_of(qtypes), "expected one of"));
                if (!strcmp(key, "weight") && t != QM_UNIFORM && t != QM_FLOAT)
                    return fail(c, x, "'weight' is uniform or float, got '%s'", val);
                if (!strcmp(key, "weight")) r.weight = t;
                else if (!strcmp(key, "act")) r.act = t;
                else if (!strcmp(key, "softmax")) r.softmax = t;
                else if (!strcmp(key, "gelu")) r.gelu = t;
                else r.text = t;
            }
        }
        suite_recipe *nr = realloc(s->recipes, (size_t)(s->nrecipes + 1) * sizeof *nr);
        if (!nr) return fail(c, n, "out of memory");
        s->recipes = nr;
        if (!(nr[s->nrecipes].name = strdup(name))) return fail(c, n, "out of memory");
        nr[s->nrecipes].r = r;
        s->nrecipes++;
    }
    return 0;
}

int suite_recipe_of(const suite *s, const char *name, qm_recipe *out)
{
    for (int i = 0; i < s->nrecipes; i++)
        if (!strcmp(s->recipes[i].name, name)) {
            *out = s->recipes[i].r;
            return 0;
        }
    return qm_recipe_builtin(name, out);
}

static int read_calibration(ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"split", "samples", NULL};
    suite *s = c->L->s;
    if (check_keys(c, n, "calibration", keys)) return -1;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = str_of(node(c, p->key));
        yaml_node_t *v = node(c, p->value);
        long long x;
        if (!strcmp(key, "split")) {
            if (get_str(c, v, key, &s->calib_split)) return -1;
        } else {
            if (get_int(c, v, key, 1, 1000000, &x)) return -1;
            s->calib_samples = (int)x;
        }
    }
    return 0;
}

static int read_gates(ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"miou_drop_max", "speed_regression", "memory_regression", "alpha",
                                       "ratio_min", NULL};
    suite *s = c->L->s;
    suite_gates *g = &s->gates;
    if (check_keys(c, n, "gates", keys)) return -1;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = str_of(node(c, p->key));
        yaml_node_t *v = node(c, p->value);
        if (!strcmp(key, "speed_regression")) {
            if (get_fraction(c, v, key, 0, 1, 1, &g->speed_regression)) return -1;
        } else if (!strcmp(key, "memory_regression")) {
            if (get_fraction(c, v, key, 0, 1, 1, &g->memory_regression)) return -1;
        } else if (!strcmp(key, "alpha")) {
            if (get_fraction(c, v, key, 0, 1, 0.5, &g->alpha)) return -1;
        } else if (!strcmp(key, "ratio_min")) {
            if (get_fraction(c, v, key, 0, 0, 1, &g->ratio_min)) return -1;
        } else {
            if (v->type != YAML_MAPPING_NODE)
                return fail(c, v, "'miou_drop_max' must be a mapping of bit settings to mIoU points "
                                  "(e.g. {W8A8: 0.5}), not %s", type_name(v));
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
                yaml_node_t *k = node(c, q->key);
                const char *b = str_of(k);
                if (!b) return fail(c, k, "miou_drop_max keys must be bit settings such as W8A8");
                if (!valid_bits(b))
                    return fail(c, k, "unknown bit setting '%s' in gates (expected WxAy with 2 <= x, y <= 8, "
                                      "e.g. W8A8)", b);
                for (yaml_node_pair_t *r = v->data.mapping.pairs.start; r < q; r++)
                    if (!strcmp(str_of(node(c, r->key)), b))
                        return fail(c, k, "duplicate key '%s' in miou_drop_max", b);
                double x;
                char name[64];
                snprintf(name, sizeof name, "miou_drop_max.%s", b);
                if (get_num(c, node(c, q->value), name, 0, 0, 100, &x)) return -1;
                int i = 0;
                while (i < g->n_miou && strcmp(g->miou_bits[i], b)) i++;
                if (i == g->n_miou) {   /* new; else an include's value is overridden */
                    if (i == SUITE_MAX_GATES) return fail(c, k, "at most %d mIoU gates", SUITE_MAX_GATES);
                    if (!(g->miou_bits[i] = strdup(b))) return fail(c, k, "out of memory");
                    g->n_miou++;
                }
                g->miou_drop_max[i] = x;
                c->L->gate_at[i] = at(c, k);
            }
        }
    }
    return 0;
}

static int read_excludes(ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"model", "dataset", "method", "bits", "isa", "threads", NULL};
    loader *L = c->L;
    suite *s = L->s;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, n, "'exclude' must be a list of mappings, not %s", type_name(n));
    int len = seq_len(n);
    if (len == 0) return 0;
    suite_exclude *ne = realloc(s->excludes, (size_t)(s->nexcludes + len) * sizeof *ne);
    if (!ne) return fail(c, n, "out of memory");
    s->excludes = ne;
    where *nw = realloc(L->exclude_at, (size_t)(s->nexcludes + len) * sizeof *nw);
    if (!nw) return fail(c, n, "out of memory");
    L->exclude_at = nw;
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = node(c, n->data.sequence.items.start[i]);
        if (check_keys(c, it, "an exclude entry", keys)) return -1;
        if (it->data.mapping.pairs.top == it->data.mapping.pairs.start)
            return fail(c, it, "an exclude entry needs at least one of: model, dataset, method, bits, isa, threads");
        suite_exclude *e = &s->excludes[s->nexcludes];
        memset(e, 0, sizeof *e);
        L->exclude_at[s->nexcludes++] = at(c, it);
        for (yaml_node_pair_t *p = it->data.mapping.pairs.start; p < it->data.mapping.pairs.top; p++) {
            const char *key = str_of(node(c, p->key));
            yaml_node_t *v = node(c, p->value);
            long long x;
            int rc = 0;
            if (!strcmp(key, "model")) rc = get_str(c, v, key, &e->model);
            else if (!strcmp(key, "dataset")) rc = get_str(c, v, key, &e->dataset);
            else if (!strcmp(key, "method")) rc = get_str(c, v, key, &e->method);
            else if (!strcmp(key, "bits")) rc = get_str(c, v, key, &e->bits) || check_bits(c, v, e->bits);
            else if (!strcmp(key, "isa")) rc = get_str(c, v, key, &e->isa);
            else if (!(rc = get_int(c, v, key, 1, MAX_THREADS_VALUE, &x))) e->threads = (int)x;
            if (rc) return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ files --- */

static int load_file(loader *L, const char *path, char *text);

static int read_text(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return errno;
    if (is_dir(path)) {
        fclose(f);
        return EISDIR;
    }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *nb = realloc(b, cap *= 2);
        if (!nb) free(b);
        b = nb;
    }
    int e = ferror(f) ? EIO : b ? 0 : ENOMEM;
    fclose(f);
    if (e) {
        free(b);
        return e;
    }
    b[n] = 0;
    *out = b;
    return 0;
}

static int do_include(ctx *c, const yaml_node_t *n)
{
    loader *L = c->L;
    const char *name = str_of(n);
    if (!name || !*name) return fail(c, n, "'include' must name a suite file, not %s", name ? "empty" : type_name(n));
    char dir[2048], path[4096];
    dir_of(c->f->path, dir, sizeof dir);
    snprintf(path, sizeof path, "%s%s", name[0] == '/' ? "" : dir, name);
    char *text;
    int e = read_text(path, &text);
    if (e) return fail(c, n, "cannot open included suite '%s' (%s): %s", name, path, strerror(e));
    char *real = realpath(path, NULL);
    int cycle = -1;
    for (int i = 0; real && i < L->depth && cycle < 0; i++)
        if (L->chain[i]->real && !strcmp(L->chain[i]->real, real)) cycle = i;
    free(real);
    if (cycle >= 0) {
        char msg[1024] = "";
        for (int i = cycle; i < L->depth; i++) {
            strncat(msg, L->chain[i]->path, sizeof msg - strlen(msg) - 1);
            strncat(msg, " -> ", sizeof msg - strlen(msg) - 1);
        }
        strncat(msg, path, sizeof msg - strlen(msg) - 1);
        free(text);
        return fail(c, n, "include cycle: %s", msg);
    }
    if (L->depth == SUITE_MAX_INCLUDE_DEPTH) {
        free(text);
        return fail(c, n, "includes nested more than %d deep", SUITE_MAX_INCLUDE_DEPTH);
    }
    return load_file(L, path, text);
}

static int read_top(ctx *c, const yaml_node_t *root)
{
    static const char *const keys[] = {"suite", "description", "include", "models", "datasets", "methods",
                                       "bits", "targets", "calibration", "warmup", "repetitions", "timeout",
                                       "gates", "exclude", "recipes", NULL};
    suite *s = c->L->s;
    if (check_keys(c, root, "the suite", keys)) return -1;
    /* include: first, so that the included content comes first */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        if (strcmp(str_of(node(c, p->key)), "include")) continue;
        yaml_node_t *v = node(c, p->value);
        if (v->type == YAML_SEQUENCE_NODE) {
            for (int i = 0; i < seq_len(v); i++)
                if (do_include(c, node(c, v->data.sequence.items.start[i]))) return -1;
        } else if (do_include(c, v)) {
            return -1;
        }
    }
    /* recipes: next, so that methods: may name them wherever they are written */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++)
        if (!strcmp(str_of(node(c, p->key)), "recipes") && read_recipes(c, node(c, p->value))) return -1;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const char *key = str_of(node(c, p->key));
        yaml_node_t *v = node(c, p->value);
        long long x;
        int rc = 0;
        if (!strcmp(key, "suite")) rc = get_str(c, v, key, &s->name);
        else if (!strcmp(key, "description")) rc = get_str(c, v, key, &s->description);
        else if (!strcmp(key, "models")) rc = add_str_list(c, v, key, &s->models, &s->nmodels, NULL);
        else if (!strcmp(key, "methods")) rc = add_str_list(c, v, key, &s->methods, &s->nmethods, check_method);
        else if (!strcmp(key, "bits")) rc = add_str_list(c, v, key, &s->bits, &s->nbits, check_bits);
        else if (!strcmp(key, "datasets")) rc = add_datasets(c, v);
        else if (!strcmp(key, "targets")) rc = add_targets(c, v);
        else if (!strcmp(key, "calibration")) rc = read_calibration(c, v);
        else if (!strcmp(key, "gates")) rc = read_gates(c, v);
        else if (!strcmp(key, "exclude")) rc = read_excludes(c, v);
        else if (!strcmp(key, "timeout")) {
            double t;
            if (str_of(v) && parse_double(str_of(v), &t))
                rc = fail(c, v, "'timeout' is a number of seconds (e.g. timeout: 120), got '%s'", str_of(v));
            else
                rc = get_num(c, v, key, 0, 1, 86400, &s->timeout_s);
        }
        else if (!strcmp(key, "warmup")) {
            if (!(rc = get_int(c, v, key, 0, 1000, &x))) s->warmup = (int)x;
        } else if (!strcmp(key, "repetitions")) {
            if (!(rc = get_int(c, v, key, 1, 100000, &x))) s->repetitions = (int)x;
        }
        if (rc) return -1;
    }
    return 0;
}

static void syntax_error(loader *L, const srcfile *f, const yaml_parser_t *p)
{
    where w = {f->path, p->problem_mark.line + 1, p->problem_mark.column + 1};
    const char *problem = p->problem ? p->problem : "YAML syntax error";
    if (p->context)
        failw(L, w, "%s (%s at line %zu)", problem, p->context, p->context_mark.line + 1);
    else
        failw(L, w, "%s", problem);
}

/* Parse `text` (read from `path`; ownership passes here) and merge it into
** the suite being loaded. */
static int load_file(loader *L, const char *path, char *text)
{
    srcfile *f = calloc(1, sizeof *f);
    srcfile **nf = f ? realloc(L->files, (size_t)(L->nfiles + 1) * sizeof *nf) : NULL;
    if (!nf) {
        free(f);
        free(text);
        return failw(L, (where){path, 0, 0}, "out of memory");
    }
    L->files = nf;
    L->files[L->nfiles++] = f;
    f->text = text;
    if (!(f->path = strdup(path))) return failw(L, (where){path, 0, 0}, "out of memory");
    f->real = realpath(path, NULL);
    ctx c = {L, f};

    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)f->text, strlen(f->text));
    f->has_doc = yaml_parser_load(&parser, &f->doc);
    if (!f->has_doc) syntax_error(L, f, &parser);
    if (f->has_doc) {   /* one document per file: a second one would be silently ignored */
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) {
            syntax_error(L, f, &parser);
            yaml_parser_delete(&parser);
            return -1;
        }
        yaml_node_t *r = yaml_document_get_root_node(&extra);
        where w = {f->path, r ? r->start_mark.line + 1 : 0, r ? r->start_mark.column + 1 : 0};
        yaml_document_delete(&extra);
        if (r) {
            yaml_parser_delete(&parser);
            return failw(L, w, "more than one YAML document (a suite file holds one)");
        }
    }
    yaml_parser_delete(&parser);
    if (!f->has_doc) return -1;
    yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    if (!root || (root->type == YAML_SCALAR_NODE && !*str_of(root)))
        return failw(L, (where){f->path, 1, 1}, "empty suite file");
    if (L->depth == 0) L->top = at(&c, root);
    L->chain[L->depth++] = f;
    int rc = read_top(&c, root);
    L->depth--;
    if (!rc && f != L->files[0]) {   /* remember what was included */
        suite *s = L->s;
        char **ni = realloc(s->includes, (size_t)(s->nincludes + 1) * sizeof *ni);
        if (!ni || !(ni[s->nincludes] = strdup(path))) {
            if (ni) s->includes = ni;
            return failw(L, (where){path, 0, 0}, "out of memory");
        }
        s->includes = ni;
        s->nincludes++;
    }
    return rc;
}

/* ------------------------------------------------- merged checks --- */

static int dataset_named(const suite_dataset *d, const char *name)
{
    if (!strcmp(d->label, name)) return 1;
    size_t n = strlen(name);   /* a folder dataset also answers to its path as written */
    return !d->is_synth && !strncmp(d->label, name, n) && d->label[n] == ':';
}

static int config_excluded(const suite *s, const suite_exclude *e, int m, int d, int me, int b, int t, int th)
{
    return (!e->model || !strcmp(e->model, s->models[m])) &&
           (!e->dataset || dataset_named(&s->datasets[d], e->dataset)) &&
           (!e->method || !strcmp(e->method, s->methods[me])) &&
           (!e->bits || (b >= 0 && !strcmp(e->bits, s->bits[b]))) &&
           (!e->isa || !strcmp(e->isa, s->targets[t].isa)) && (!e->threads || e->threads == th);
}

/* Expand the matrix into *out (when out is not NULL) and return the number
** of configurations left after the excludes; *probe_hits counts the
** configurations (excluded or not) that exclude `probe` matches (-1: none). */
static int expand(const suite *s, suite_config **out, int probe, int *probe_hits)
{
    int n = 0, cap = 0;
    suite_config *v = NULL;
    if (probe_hits) *probe_hits = 0;
    for (int m = 0; m < s->nmodels; m++)
        for (int d = 0; d < s->ndatasets; d++)
            for (int me = 0; me < s->nmethods; me++) {
                int fp32 = !strcmp(s->methods[me], "fp32");
                int nb = fp32 || s->nbits == 0 ? 1 : s->nbits;
                for (int b = 0; b < nb; b++)
                    for (int t = 0; t < s->ntargets; t++)
                        for (int th = 0; th < s->targets[t].nthreads; th++) {
                            int bi = fp32 ? -1 : b, nth = s->targets[t].threads[th], skip = 0;
                            if (probe >= 0 && config_excluded(s, &s->excludes[probe], m, d, me, bi, t, nth))
                                ++*probe_hits;
                            for (int e = 0; e < s->nexcludes && !skip; e++)
                                skip = config_excluded(s, &s->excludes[e], m, d, me, bi, t, nth);
                            if (skip) continue;
                            if (!out) {
                                n++;
                                continue;
                            }
                            if (n == cap) {
                                cap = cap ? cap * 2 : 16;
                                suite_config *nv = realloc(v, (size_t)cap * sizeof *v);
                                if (!nv) {
                                    free(v);
                                    *out = NULL;
                                    return -1;
                                }
                                v = nv;
                            }
                            v[n++] = (suite_config){m, d, me, bi, t, nth};
                        }
            }
    if (out) *out = v;
    return n;
}

int suite_expand(const suite *s, suite_config **out)
{
    return expand(s, out, -1, NULL);
}

/* An exclude value must name something in the suite. */
static int check_exclude_value(loader *L, where w, const char *key, const char *val, const char *const *v, int n)
{
    if (!val || in_list(val, v, n)) return 0;
    char h[512];
    return failw(L, w, "exclude: %s '%s' is not in the suite%s", key, val,
                 hint(h, sizeof h, val, v, n, "it has"));
}

static int check_merged(loader *L)
{
    suite *s = L->s;
    if (!s->name) return failw(L, L->top, "missing 'suite: NAME'");
    if (!s->models) return failw(L, L->top, "missing 'models' (e.g. models: [lavt-tiny])");
    if (!s->datasets) return failw(L, L->top, "missing 'datasets' (e.g. datasets: [{synth: {seed: 7}}])");
    if (!s->methods) {
        if (!(s->methods = calloc(1, sizeof *s->methods)) || !(s->methods[0] = strdup("fp32")))
            return failw(L, L->top, "out of memory");
        s->nmethods = 1;
    }
    for (int i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i], "fp32") && s->nbits == 0)
            return failw(L, L->top, "method '%s' needs 'bits' (e.g. bits: [W8A8])", s->methods[i]);
    if (!s->targets) {
        if (!(s->targets = calloc(1, sizeof *s->targets))) return failw(L, L->top, "out of memory");
        s->ntargets = 1;
        strcpy(s->targets[0].isa, "auto");
        s->targets[0].nthreads = 1;
        s->targets[0].threads[0] = 1;
    }
    if (!s->calib_split && !(s->calib_split = strdup("train"))) return failw(L, L->top, "out of memory");
    for (int i = 0; i < s->gates.n_miou; i++)
        if (!in_list(s->gates.miou_bits[i], (const char *const *)s->bits, s->nbits)) {
            char list[256];
            join(list, sizeof list, (const char *const *)s->bits, s->nbits);
            return failw(L, L->gate_at[i], "gate for '%s' names a bit setting that is not in 'bits' (%s)",
                         s->gates.miou_bits[i], s->nbits ? list : "none listed");
        }

    /* Excludes: each value names something in the suite, each entry
    ** matches at least one configuration, and something is left. */
    int nnames = s->ndatasets + 2 * s->ntargets + s->ntargets * SUITE_MAX_THREADS;
    const char **names = malloc((size_t)(nnames + 1) * sizeof *names);
    char (*thr)[8] = malloc((size_t)(s->ntargets * SUITE_MAX_THREADS + 1) * sizeof *thr);
    int rc = names && thr ? 0 : failw(L, L->top, "out of memory");
    for (int e = 0; e < s->nexcludes && !rc; e++) {
        const suite_exclude *x = &s->excludes[e];
        where w = L->exclude_at[e];
        rc = check_exclude_value(L, w, "model", x->model, (const char *const *)s->models, s->nmodels) ||
             check_exclude_value(L, w, "method", x->method, (const char *const *)s->methods, s->nmethods) ||
             check_exclude_value(L, w, "bits", x->bits, (const char *const *)s->bits, s->nbits);
        if (!rc && x->dataset) {
            int n = 0, found = 0;
            for (int d = 0; d < s->ndatasets; d++) {
                names[n++] = s->datasets[d].label;
                found |= dataset_named(&s->datasets[d], x->dataset);
            }
            if (!found) rc = check_exclude_value(L, w, "dataset", x->dataset, names, n);
        }
        if (!rc && x->isa) {
            int n = 0;
            for (int t = 0; t < s->ntargets; t++)
                if (!in_list(s->targets[t].isa, names, n)) names[n++] = s->targets[t].isa;
            rc = check_exclude_value(L, w, "isa", x->isa, names, n);
        }
        if (!rc && x->threads) {
            int n = 0;
            char want[8];
            snprintf(want, sizeof want, "%d", x->threads);
            for (int t = 0; t < s->ntargets; t++)
                for (int j = 0; j < s->targets[t].nthreads; j++) {
                    snprintf(thr[n], sizeof thr[n], "%d", s->targets[t].threads[j]);
                    if (!in_list(thr[n], names, n)) names[n] = thr[n], n++;
                }
            if (!in_list(want, names, n)) {
                char list[256];
                join(list, sizeof list, names, n);
                rc = failw(L, w, "exclude: threads %d is not in the suite (it has: %s)", x->threads, list);
            }
        }
        int hits = 0;
        if (!rc && expand(s, NULL, e, &hits) >= 0 && hits == 0)
            rc = failw(L, w, "exclude entry matches no configuration (a typo?)");
    }
    free(names);
    free(thr);
    if (rc) return rc;
    if (expand(s, NULL, -1, NULL) == 0)
        return failw(L, s->nexcludes ? L->exclude_at[s->nexcludes - 1] : L->top,
                     "the matrix is empty: the excludes remove every configuration");
    return 0;
}

/* ------------------------------------------------------------ public --- */

int suite_load(const char *path, suite **out, char *err, size_t errlen)
{
    *out = NULL;
    char *text;
    int e = read_text(path, &text);
    if (e) {
        snprintf(err, errlen, "%s: cannot open suite: %s", path, strerror(e));
        return -1;
    }
    suite *s = calloc(1, sizeof *s);
    loader L = {.s = s, .err = err, .errlen = errlen};
    int rc = -1;
    if (!s || !(s->file = strdup(path)) || !(s->source_text = strdup(text))) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(text);
    } else {
        s->warmup = 2;
        s->repetitions = 10;
        s->timeout_s = 600;
        s->calib_samples = 32;
        s->gates.speed_regression = 0.05;
        s->gates.memory_regression = 0.05;
        s->gates.alpha = 0.05;
        rc = load_file(&L, path, text);
        if (!rc) rc = check_merged(&L);
    }
    for (int i = 0; i < L.nfiles; i++) {
        srcfile *f = L.files[i];
        if (f->has_doc) yaml_document_delete(&f->doc);
        free(f->path);
        free(f->real);
        free(f->text);
        free(f);
    }
    free(L.files);
    free(L.exclude_at);
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
    free(s->source_text);
    free_list(s->includes, s->nincludes);
    free(s->name);
    free(s->description);
    free_list(s->models, s->nmodels);
    free_list(s->methods, s->nmethods);
    free_list(s->bits, s->nbits);
    for (int i = 0; i < s->ndatasets; i++) free_dataset(&s->datasets[i]);
    free(s->datasets);
    for (int i = 0; i < s->ntargets; i++) free(s->targets[i].board);
    free(s->targets);
    free(s->calib_split);
    for (int i = 0; i < s->gates.n_miou; i++) free(s->gates.miou_bits[i]);
    for (int i = 0; i < s->nexcludes; i++) {
        suite_exclude *x = &s->excludes[i];
        free(x->model);
        free(x->dataset);
        free(x->method);
        free(x->bits);
        free(x->isa);
    }
    free(s->excludes);
    for (int i = 0; i < s->nrecipes; i++) free(s->recipes[i].name);
    free(s->recipes);
    free(s);
}

void suite_print(const suite *s, const suite_config *c, int n, FILE *f)
{
    static const char *const head[8] = {"#", "model", "dataset", "method", "bits", "isa", "threads", "board"};
    int w[8];
    for (int k = 0; k < 8; k++) w[k] = (int)strlen(head[k]);
    char idx[16];
    for (int pass = 0; pass < 2; pass++) {
        if (pass) fprintf(f, "%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %*s  %s\n", w[0], head[0], w[1], head[1], w[2],
                          head[2], w[3], head[3], w[4], head[4], w[5], head[5], w[6], head[6], head[7]);
        for (int i = 0; i < n; i++) {
            const suite_target *t = &s->targets[c[i].target];
            const char *col[8] = {idx, s->models[c[i].model], s->datasets[c[i].dataset].label,
                                  s->methods[c[i].method], c[i].bits < 0 ? "-" : s->bits[c[i].bits], t->isa,
                                  NULL, t->board ? t->board : "-"};
            snprintf(idx, sizeof idx, "%d", i + 1);
            if (!pass) {
                for (int k = 0; k < 8; k++)
                    if (col[k] && (int)strlen(col[k]) > w[k]) w[k] = (int)strlen(col[k]);
                continue;
            }
            fprintf(f, "%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %*d  %s\n", w[0], idx, w[1], col[1], w[2], col[2],
                    w[3], col[3], w[4], col[4], w[5], col[5], w[6], c[i].threads, col[7]);
        }
    }
}
