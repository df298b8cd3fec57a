/*
** lavt: model.yaml parsing, weights binding and the fp32 forward pass of the
** LAVT "lavt_one" referring-segmentation network.
**
** models/README.md ("The lavt_one network — exact semantics") is the contract
** this file implements; tools/lavt_ref.py is the PyTorch reference of the same
** text. Parameter names are the official LAVT state-dict names.
**
** Memory: parameters are copied out of the safetensors mapping at load (the
** file is closed afterwards); decoder BatchNorms are folded into their convs,
** relative-position biases and shift masks are precomputed, and every
** activation buffer is carved out of one arena sized for input_size, so
** lavt_forward does not allocate.
*/
#include "models/lavt.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "kernels/gemm_f32.h"
#include "kernels/ops_f32.h"
#include "models/safetensors.h"

#define LN_EPS_SWIN 1e-5f  /* nn.LayerNorm default in Swin / LAVT */
#define IN_EPS 1e-5f       /* nn.InstanceNorm1d default */
#define BN_EPS 1e-5f       /* nn.BatchNorm2d default */
#define ATTN_SLOTS LAVT_MM_SLOTS   /* max concurrent window-attention score buffers */

/* ------------------------------------------------------------------------ */
/* Model structure                                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    float *norm1_w, *norm1_b, *rpb_table, *qkv_w, *qkv_b, *proj_w, *proj_b;
    float *norm2_w, *norm2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    float *bias; /* derived: relative position bias [heads][w*w][w*w] */
    /* activation site ids */
    int s_in, s_q, s_k, s_v, s_sm, s_proj, s_mlp, s_gelu;
} swin_block_w;

typedef struct {
    swin_block_w *blk;
    /* PWAM (layers.i.fusion.) and the gate (layers.i.res_gate.) */
    float *vis_w, *vis_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *W_w, *W_b;
    float *mm_w, *mm_b, *gate0_w, *gate2_w;
    float *out_w, *out_b;                       /* backbone.norm{i} */
    float *ds_norm_w, *ds_norm_b, *ds_red_w;    /* patch merging, i < 3 */
    float *mask; /* derived: shift mask [nW][w*w][w*w]; NULL if no shifted block */
    int D, heads, fheads, hid;                  /* dims */
    int H, W, Hp, Wp;                           /* token grid, padded grid */
    /* activation site ids: PWAM, gate, patch merging */
    int s_fin, s_ftext, s_fq, s_fk, s_fsm, s_fv, s_fout, s_mm, s_ggelu, s_grelu, s_merge;
} swin_stage;

typedef struct {
    float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *ao_w, *ao_b, *ln1_w, *ln1_b;
    float *i_w, *i_b, *o_w, *o_b, *ln2_w, *ln2_b;
    /* activation site ids */
    int s_in, s_q, s_k, s_sm, s_v, s_out, s_ffn, s_gelu;
} bert_layer_w;

/* One SimpleDecoding level: conv1/bn1/ReLU/conv2/bn2/ReLU. */
typedef struct {
    float *c1_w, *bn1[4], *c2_w, *bn2[4]; /* bn: weight, bias, running_mean, running_var */
    float *b1, *b2;                       /* derived: folded biases */
    int cin;
    int s_c1, s_c2;                       /* activation site ids */
} dec_level;

/* Activation buffers (floats), all carved from one arena. */
#define ARENA_BUFS(X) \
    X(t_h) X(t_q) X(t_k) X(t_v) X(t_ctx) X(t_tmp) X(t_inter) X(t_sc) X(lmask) \
    X(img) X(cscr) X(x) X(tmp) X(win) X(qkv) X(ao) X(slots) X(hid) X(xres) \
    X(key) X(val) X(sim) X(y0) X(y1) X(y2) X(y3) X(cat) X(d1) X(d2) X(small) X(qcopy)

typedef struct {
#define X(n) float *n;
    ARENA_BUFS(X)
#undef X
} lavt_arena;

typedef struct {
#define X(n) size_t n;
    ARENA_BUFS(X)
#undef X
} arena_sizes;

struct lavt_model {
    lavt_config cfg;
    tok_vocab *vocab;
    /* text encoder */
    float *emb_word, *emb_pos, *emb_type, *emb_ln_w, *emb_ln_b;
    bert_layer_w *bl;
    /* backbone */
    float *pe_w, *pe_b, *pe_nw, *pe_nb;
    swin_stage st[LAVT_MAX_STAGES];
    /* decoder: lv 0 = conv*_4 (y4+y3), 1 = conv*_3 (+y2), 2 = conv*_2 (+y1) */
    dec_level dec[3];
    float *cls_w, *cls_b;
    int dec_hidden;
    /* every malloc'd parameter / derived constant, for freeing and accounting */
    float **allocs;
    size_t *alloc_n;
    int nallocs, capallocs;
    size_t weight_bytes;
    /* activations */
    float *arena_mem;
    size_t arena_floats;
    lavt_arena a;
    /* quantization sites */
    lavt_site *sites;
    float ***site_slot;    /* weight sites: the pointer the forward pass reads */
    float **site_fp32;     /* weight sites: the loaded weights */
    kf_packed **site_packed; /* weight sites: what the slot holds, packed for the fp32 GEMM
                           ** on first use (site_packed()); NULL until then */
    int nsites, capsites;
    int s_pe, s_cls;       /* activation site ids */
    lavt_act_hook act_fn;
    void *act_ctx;
    lavt_linear_hook lin_fn;
    void *lin_ctx;
    lavt_conv_hook conv_fn;
    void *conv_ctx;
    lavt_mm_hook mm_fn;
    void *mm_ctx;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Append to a message buffer without overflowing it. */
static void app(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static int join_path(char *out, size_t len, const char *dir, const char *name)
{
    int n = (name[0] == '/') ? snprintf(out, len, "%s", name)
                             : snprintf(out, len, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static int track(lavt_model *m, float *p, size_t n)
{
    if (m->nallocs == m->capallocs) {
        int cap = m->capallocs ? 2 * m->capallocs : 256;
        float **na = realloc(m->allocs, (size_t)cap * sizeof *na);
        if (!na)
            return -1;
        m->allocs = na;
        size_t *nn = realloc(m->alloc_n, (size_t)cap * sizeof *nn);
        if (!nn)
            return -1;
        m->alloc_n = nn;
        m->capallocs = cap;
    }
    m->allocs[m->nallocs] = p;
    m->alloc_n[m->nallocs] = n;
    m->nallocs++;
    m->weight_bytes += n * sizeof(float);
    return 0;
}

/* A zeroed constant buffer owned (and counted) by the model. */
static float *walloc(lavt_model *m, size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (p && track(m, p, n) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* Release a tracked buffer early (BatchNorm parameters once folded). */
static void wrelease(lavt_model *m, float *p)
{
    for (int i = 0; i < m->nallocs; i++)
        if (m->allocs[i] == p) {
            m->weight_bytes -= m->alloc_n[i] * sizeof(float);
            free(p);
            m->allocs[i] = NULL;
            m->alloc_n[i] = 0;
            return;
        }
}

/* ------------------------------------------------------------------------ */
/* model.yaml                                                               */
/* ------------------------------------------------------------------------ */

/* F_WEIGHTS: a file name (a string, into weights_file) or the mapping
** {random: {seed: N}} (weights_random, weights_seed); see yweights(). */
typedef enum { F_STR, F_INT, F_FLOAT, F_BOOL, F_INTS, F_FLOATS, F_WEIGHTS } ftype;

#define NOFF ((size_t)-1)
#define CO(f) offsetof(lavt_config, f)

typedef struct {
    const char *section; /* NULL: top level */
    const char *key;
    ftype type;
    int required;
    size_t off;          /* into lavt_config; NOFF = accepted and ignored */
    size_t len;          /* F_STR: buffer size; lists: max entries */
    int minlen;          /* lists: min entries */
    double lo, hi;       /* numbers / list entries: allowed range (inclusive) */
} yfield;

static const yfield FIELDS[] = {
    { NULL, "name", F_STR, 1, CO(name), sizeof(((lavt_config *)0)->name), 0, 0, 0 },
    { NULL, "arch", F_STR, 1, CO(arch), sizeof(((lavt_config *)0)->arch), 0, 0, 0 },
    { NULL, "weights", F_WEIGHTS, 1, CO(weights_file), sizeof(((lavt_config *)0)->weights_file), 0, 0, 0 },
    { NULL, "licence", F_STR, 0, NOFF, 0, 0, 0, 0 },
    { NULL, "provenance", F_STR, 0, NOFF, 0, 0, 0, 0 },
    { "input", "size", F_INT, 1, CO(input_size), 0, 0, 1, 8192 },
    { "input", "mean", F_FLOATS, 1, CO(mean), 3, 3, -1e6, 1e6 },
    { "input", "std", F_FLOATS, 1, CO(std), 3, 3, 1e-12, 1e6 },
    { "swin", "patch_size", F_INT, 1, CO(patch_size), 0, 0, 1, 64 },
    { "swin", "embed_dim", F_INT, 1, CO(embed_dim), 0, 0, 1, 4096 },
    { "swin", "depths", F_INTS, 1, CO(depths), LAVT_MAX_STAGES, 1, 1, 256 },
    { "swin", "num_heads", F_INTS, 1, CO(num_heads), LAVT_MAX_STAGES, 1, 1, 4096 },
    { "swin", "window_size", F_INT, 1, CO(window_size), 0, 0, 1, 64 },
    { "swin", "mlp_ratio", F_FLOAT, 1, CO(mlp_ratio), 0, 0, 1e-6, 64 },
    { "fusion", "num_heads", F_INTS, 1, CO(fusion_heads), LAVT_MAX_STAGES, 1, 1, 4096 },
    { "bert", "vocab_size", F_INT, 1, CO(vocab_size), 0, 0, 0, 10000000 },
    { "bert", "hidden_size", F_INT, 1, CO(hidden_size), 0, 0, 1, 16384 },
    { "bert", "num_layers", F_INT, 1, CO(num_layers), 0, 0, 0, 256 },
    { "bert", "num_heads", F_INT, 1, CO(bert_heads), 0, 0, 1, 1024 },
    { "bert", "intermediate_size", F_INT, 1, CO(intermediate_size), 0, 0, 1, 65536 },
    { "bert", "max_position_embeddings", F_INT, 1, CO(max_position), 0, 0, 1, 65536 },
    { "bert", "type_vocab_size", F_INT, 1, CO(type_vocab_size), 0, 0, 1, 1024 },
    { "bert", "layer_norm_eps", F_FLOAT, 1, CO(bert_ln_eps), 0, 0, 1e-30, 1 },
    { "decoder", "num_classes", F_INT, 0, CO(num_classes), 0, 0, 2, 1024 },
    { "tokenizer", "vocab", F_STR, 1, CO(vocab_file), sizeof(((lavt_config *)0)->vocab_file), 0, 0, 0 },
    { "tokenizer", "max_tokens", F_INT, 1, CO(max_tokens), 0, 0, 1, 4096 },
    { "tokenizer", "lower_case", F_BOOL, 0, NOFF, 0, 0, 0, 0 },
};
#define NFIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

typedef struct {
    const char *path;
    yaml_document_t *doc;
    lavt_config *cfg;
    char *err;
    size_t errlen;
    int seen[NFIELDS];
    int count[NFIELDS];        /* list lengths */
    int bval[NFIELDS];         /* booleans */
    yaml_mark_t mark[NFIELDS]; /* where each value was */
} yparse;

static int yerr(yparse *p, yaml_mark_t mk, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(p->err, p->errlen, "%s:%lu:%lu: %s", p->path, (unsigned long)mk.line + 1,
            (unsigned long)mk.column + 1, msg);
    return -1;
}

static int find_field(const char *section, const char *key)
{
    for (int i = 0; i < NFIELDS; i++) {
        const yfield *f = &FIELDS[i];
        if (((!section && !f->section) || (section && f->section && !strcmp(section, f->section)))
            && !strcmp(key, f->key))
            return i;
    }
    return -1;
}

static int is_section(const char *key)
{
    for (int i = 0; i < NFIELDS; i++)
        if (FIELDS[i].section && !strcmp(FIELDS[i].section, key))
            return 1;
    return 0;
}

static const char *scalar(yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void full_key(const yfield *f, char *buf, size_t len)
{
    if (f->section)
        snprintf(buf, len, "%s.%s", f->section, f->key);
    else
        snprintf(buf, len, "%s", f->key);
}

/* One number (int or float) with range check; idx < 0 for a plain field. */
static int ynumber(yparse *p, const yfield *f, yaml_node_t *n, int idx, double *out)
{
    char key[80];
    full_key(f, key, sizeof key);
    if (idx >= 0)
        snprintf(key + strlen(key), sizeof key - strlen(key), "[%d]", idx);
    int want_int = (f->type == F_INT || f->type == F_INTS);
    if (n->type != YAML_SCALAR_NODE)
        return yerr(p, n->start_mark, "%s: expected %s, got a %s", key,
                    want_int ? "an integer" : "a number",
                    n->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
    double v;
    if (want_int) {
        long l;
        if (parse_int(scalar(n), &l) != 0)
            return yerr(p, n->start_mark, "%s: expected an integer, got '%s'", key, scalar(n));
        v = (double)l;
    } else if (parse_double(scalar(n), &v) != 0) {
        return yerr(p, n->start_mark, "%s: expected a number, got '%s'", key, scalar(n));
    }
    if (v < f->lo || v > f->hi)
        return yerr(p, n->start_mark, "%s: %s is out of range [%g, %g]", key, scalar(n), f->lo,
                    f->hi);
    *out = v;
    return 0;
}

/* The one key of a small fixed mapping (weights:, weights.random:), or NULL
** with the error set.  Unknown and repeated keys are errors. */
static yaml_node_t *yonly_key(yparse *p, yaml_node_t *map, const char *where, const char *want)
{
    yaml_node_t *val = NULL;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
        if (!k || !v)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            yerr(p, k->start_mark, "keys must be plain strings");
            return NULL;
        }
        if (strcmp(scalar(k), want) != 0) {
            yerr(p, k->start_mark, "unknown key '%s' in '%s' (expected %s)", scalar(k), where, want);
            return NULL;
        }
        if (val) {
            yerr(p, k->start_mark, "duplicate key '%s'", want);
            return NULL;
        }
        val = v;
    }
    if (!val)
        yerr(p, map->start_mark, "%s: missing required key '%s'", where, want);
    return val;
}

/* weights: given as a mapping, {random: {seed: N}}: no file, every parameter
** generated at load time from seed N (random_weights()).  N is an unsigned
** 64-bit integer, written in decimal. */
static int yweights(yparse *p, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return yerr(p, n->start_mark, "weights: expected a file name or {random: {seed: N}}");
    yaml_node_t *rnd = yonly_key(p, n, "weights", "random");
    if (!rnd)
        return -1;
    if (rnd->type != YAML_MAPPING_NODE)
        return yerr(p, rnd->start_mark, "weights.random: expected a mapping like {seed: 1}");
    yaml_node_t *sd = yonly_key(p, rnd, "weights.random", "seed");
    if (!sd)
        return -1;
    const char *s = sd->type == YAML_SCALAR_NODE ? scalar(sd) : "";
    size_t len = strlen(s);
    int digits = len > 0 && len <= 20 && strspn(s, "0123456789") == len;
    char *end = NULL;
    errno = 0;
    unsigned long long v = digits ? strtoull(s, &end, 10) : 0;
    if (!digits || errno || *end)
        return yerr(p, sd->start_mark,
                    "weights.random.seed: expected an integer in [0, 18446744073709551615], got '%s'",
                    sd->type == YAML_SCALAR_NODE ? s : "a collection");
    p->cfg->weights_random = 1;
    p->cfg->weights_seed = (uint64_t)v;
    p->cfg->weights_file[0] = 0;
    return 0;
}

static int yvalue(yparse *p, int fi, yaml_node_t *n)
{
    const yfield *f = &FIELDS[fi];
    char key[80];
    full_key(f, key, sizeof key);
    char *base = (char *)p->cfg;
    double v;
    switch (f->type) {
    case F_WEIGHTS:
        if (n->type != YAML_SCALAR_NODE)
            return yweights(p, n);
        /* a file name: a string like any other */
        /* fall through */
    case F_STR:
        if (n->type != YAML_SCALAR_NODE)
            return yerr(p, n->start_mark, "%s: expected a string", key);
        if (!scalar(n)[0])
            return yerr(p, n->start_mark, "%s: must not be empty", key);
        if (f->off != NOFF) {
            if (strlen(scalar(n)) >= f->len)
                return yerr(p, n->start_mark, "%s: longer than %zu characters", key, f->len - 1);
            strcpy(base + f->off, scalar(n));
        }
        return 0;
    case F_BOOL: {
        const char *s = n->type == YAML_SCALAR_NODE ? scalar(n) : "";
        if (!strcasecmp(s, "true"))
            p->bval[fi] = 1;
        else if (!strcasecmp(s, "false"))
            p->bval[fi] = 0;
        else
            return yerr(p, n->start_mark, "%s: expected true or false", key);
        return 0;
    }
    case F_INT:
        if (ynumber(p, f, n, -1, &v) != 0)
            return -1;
        *(int *)(base + f->off) = (int)v;
        return 0;
    case F_FLOAT:
        if (ynumber(p, f, n, -1, &v) != 0)
            return -1;
        *(float *)(base + f->off) = (float)v;
        return 0;
    case F_INTS:
    case F_FLOATS: {
        if (n->type != YAML_SEQUENCE_NODE)
            return yerr(p, n->start_mark, "%s: expected a list like [1, 2, 3]", key);
        int cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (cnt < f->minlen || cnt > (int)f->len) {
            if (f->minlen == (int)f->len)
                return yerr(p, n->start_mark, "%s: expected %d entries, got %d", key, f->minlen,
                            cnt);
            return yerr(p, n->start_mark, "%s: expected %d..%d entries, got %d", key, f->minlen,
                        (int)f->len, cnt);
        }
        for (int i = 0; i < cnt; i++) {
            yaml_node_t *it = yaml_document_get_node(p->doc, n->data.sequence.items.start[i]);
            if (ynumber(p, f, it, i, &v) != 0)
                return -1;
            if (f->type == F_INTS)
                ((int *)(base + f->off))[i] = (int)v;
            else
                ((float *)(base + f->off))[i] = (float)v;
        }
        p->count[fi] = cnt;
        return 0;
    }
    }
    return 0;
}

/* Walk a mapping; section == NULL for the top level. */
static int ymapping(yparse *p, yaml_node_t *map, const char *section)
{
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
        if (!k || !v)
            continue;
        if (k->type != YAML_SCALAR_NODE)
            return yerr(p, k->start_mark, "keys must be plain strings");
        const char *key = scalar(k);
        if (!section && is_section(key)) {
            if (v->type != YAML_MAPPING_NODE)
                return yerr(p, v->start_mark, "'%s' must be a mapping (key: value lines)", key);
            /* a section listed twice would let the second silently win */
            for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
                yaml_node_t *k2 = yaml_document_get_node(p->doc, q->key);
                if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp(scalar(k2), key))
                    return yerr(p, k->start_mark, "duplicate key '%s'", key);
            }
            if (ymapping(p, v, key) != 0)
                return -1;
            continue;
        }
        int fi = find_field(section, key);
        if (fi < 0) {
            if (section)
                return yerr(p, k->start_mark, "unknown key '%s' in '%s'", key, section);
            return yerr(p, k->start_mark, "unknown key '%s'", key);
        }
        if (p->seen[fi])
            return yerr(p, k->start_mark, "duplicate key '%s'", key);
        p->seen[fi] = 1;
        p->mark[fi] = v->start_mark;
        if (yvalue(p, fi, v) != 0)
            return -1;
    }
    return 0;
}

/* Cross-field checks, each pointing at the value it is about. */
static int yvalidate(yparse *p)
{
    lavt_config *c = p->cfg;
    int f_arch = find_field(NULL, "arch"), f_depths = find_field("swin", "depths");
    int f_heads = find_field("swin", "num_heads"), f_fh = find_field("fusion", "num_heads");
    int f_bh = find_field("bert", "num_heads"), f_mt = find_field("tokenizer", "max_tokens");
    int f_mlp = find_field("swin", "mlp_ratio"), f_lc = find_field("tokenizer", "lower_case");

    if (strcmp(c->arch, "lavt_one") != 0)
        return yerr(p, p->mark[f_arch], "arch: unsupported architecture '%s' (this build knows lavt_one)",
                    c->arch);
    c->nstages = p->count[f_depths];
    if (c->nstages != 4)
        return yerr(p, p->mark[f_depths],
                    "swin.depths: lavt_one needs 4 stages (its decoder uses all four stage "
                    "outputs), got %d",
                    c->nstages);
    if (p->count[f_heads] != c->nstages)
        return yerr(p, p->mark[f_heads], "swin.num_heads: %d entries, but swin.depths has %d",
                    p->count[f_heads], c->nstages);
    if (p->count[f_fh] != c->nstages)
        return yerr(p, p->mark[f_fh], "fusion.num_heads: %d entries, but swin.depths has %d",
                    p->count[f_fh], c->nstages);
    for (int i = 0; i < c->nstages; i++) {
        int D = c->embed_dim << i;
        if (D % c->num_heads[i])
            return yerr(p, p->mark[f_heads],
                        "swin.num_heads[%d] = %d does not divide the stage dim embed_dim*2^%d = %d",
                        i, c->num_heads[i], i, D);
        if (D % c->fusion_heads[i])
            return yerr(p, p->mark[f_fh],
                        "fusion.num_heads[%d] = %d does not divide the stage dim embed_dim*2^%d = %d",
                        i, c->fusion_heads[i], i, D);
        if ((int)((float)D * c->mlp_ratio) < 1)
            return yerr(p, p->mark[f_mlp], "swin.mlp_ratio: hidden size of stage %d would be 0", i);
    }
    if (c->hidden_size % c->bert_heads)
        return yerr(p, p->mark[f_bh], "bert.num_heads = %d does not divide bert.hidden_size = %d",
                    c->bert_heads, c->hidden_size);
    if (c->max_tokens > c->max_position)
        return yerr(p, p->mark[f_mt],
                    "tokenizer.max_tokens = %d exceeds bert.max_position_embeddings = %d",
                    c->max_tokens, c->max_position);
    if (p->seen[f_lc] && !p->bval[f_lc])
        return yerr(p, p->mark[f_lc],
                    "tokenizer.lower_case: only true is supported (the tokenizer is uncased)");
    return 0;
}

int lavt_config_load(const char *path, lavt_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->num_classes = 2;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(fp);
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &doc)) {
        set_err(err, errlen, "%s:%lu:%lu: YAML syntax error: %s%s%s", path,
                (unsigned long)parser.problem_mark.line + 1,
                (unsigned long)parser.problem_mark.column + 1,
                parser.problem ? parser.problem : "unknown", parser.context ? " " : "",
                parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(fp);
        return -1;
    }
    yparse *p = calloc(1, sizeof *p);
    int rc = -1;
    if (!p) {
        set_err(err, errlen, "%s: out of memory", path);
        goto done;
    }
    p->path = path;
    p->doc = &doc;
    p->cfg = cfg;
    p->err = err;
    p->errlen = errlen;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        set_err(err, errlen, "%s: empty document (expected a model description mapping)", path);
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        yerr(p, root->start_mark, "expected a mapping of keys (name:, arch:, swin:, ...)");
        goto done;
    }
    if (ymapping(p, root, NULL) != 0)
        goto done;
    char missing[512] = "";
    int nmissing = 0;
    for (int i = 0; i < NFIELDS; i++)
        if (FIELDS[i].required && !p->seen[i]) {
            char key[80];
            full_key(&FIELDS[i], key, sizeof key);
            app(missing, sizeof missing, "%s%s", nmissing ? ", " : "", key);
            nmissing++;
        }
    if (nmissing) {
        set_err(err, errlen, "%s: missing required key%s: %s", path, nmissing > 1 ? "s" : "",
                missing);
        goto done;
    }
    rc = yvalidate(p);
done:
    free(p);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(fp);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Parameters: names, shapes, binding                                       */
/* ------------------------------------------------------------------------ */

typedef void (*param_cb)(void *ctx, const char *name, int ndim, const int64_t *shape,
                         float **dst);

typedef struct {
    param_cb cb;
    void *ctx;
    int count;
} penum;

static void par(penum *e, float **dst, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t shape[4] = { d0, d1, d2, d3 };
    e->cb(e->ctx, name, ndim, shape, dst);
    e->count++;
}

#define P1(dst, a, ...) par(e, &(dst), 1, a, 0, 0, 0, __VA_ARGS__)
#define P2(dst, a, b, ...) par(e, &(dst), 2, a, b, 0, 0, __VA_ARGS__)
#define P3(dst, a, b, c, ...) par(e, &(dst), 3, a, b, c, 0, __VA_ARGS__)
#define P4(dst, a, b, c, d, ...) par(e, &(dst), 4, a, b, c, d, __VA_ARGS__)

/* The complete parameter list of lavt_one (models/README.md), official names.
** m->bl and m->st[i].blk must be allocated. */
static void enum_params(lavt_model *m, penum *e)
{
    const lavt_config *c = &m->cfg;
    int64_t Lh = c->hidden_size, I = c->intermediate_size, C = c->embed_dim;
    int64_t p = c->patch_size, w = c->window_size;

    /* text encoder (HF BertModel names under text_encoder., no pooler) */
    P2(m->emb_word, c->vocab_size, Lh, "text_encoder.embeddings.word_embeddings.weight");
    P2(m->emb_pos, c->max_position, Lh, "text_encoder.embeddings.position_embeddings.weight");
    P2(m->emb_type, c->type_vocab_size, Lh, "text_encoder.embeddings.token_type_embeddings.weight");
    P1(m->emb_ln_w, Lh, "text_encoder.embeddings.LayerNorm.weight");
    P1(m->emb_ln_b, Lh, "text_encoder.embeddings.LayerNorm.bias");
    for (int k = 0; k < c->num_layers; k++) {
        bert_layer_w *L = &m->bl[k];
        const char *pre = "text_encoder.encoder.layer";
        P2(L->q_w, Lh, Lh, "%s.%d.attention.self.query.weight", pre, k);
        P1(L->q_b, Lh, "%s.%d.attention.self.query.bias", pre, k);
        P2(L->k_w, Lh, Lh, "%s.%d.attention.self.key.weight", pre, k);
        P1(L->k_b, Lh, "%s.%d.attention.self.key.bias", pre, k);
        P2(L->v_w, Lh, Lh, "%s.%d.attention.self.value.weight", pre, k);
        P1(L->v_b, Lh, "%s.%d.attention.self.value.bias", pre, k);
        P2(L->ao_w, Lh, Lh, "%s.%d.attention.output.dense.weight", pre, k);
        P1(L->ao_b, Lh, "%s.%d.attention.output.dense.bias", pre, k);
        P1(L->ln1_w, Lh, "%s.%d.attention.output.LayerNorm.weight", pre, k);
        P1(L->ln1_b, Lh, "%s.%d.attention.output.LayerNorm.bias", pre, k);
        P2(L->i_w, I, Lh, "%s.%d.intermediate.dense.weight", pre, k);
        P1(L->i_b, I, "%s.%d.intermediate.dense.bias", pre, k);
        P2(L->o_w, Lh, I, "%s.%d.output.dense.weight", pre, k);
        P1(L->o_b, Lh, "%s.%d.output.dense.bias", pre, k);
        P1(L->ln2_w, Lh, "%s.%d.output.LayerNorm.weight", pre, k);
        P1(L->ln2_b, Lh, "%s.%d.output.LayerNorm.bias", pre, k);
    }

    /* Swin backbone with PWAM fusion */
    P4(m->pe_w, C, 3, p, p, "backbone.patch_embed.proj.weight");
    P1(m->pe_b, C, "backbone.patch_embed.proj.bias");
    P1(m->pe_nw, C, "backbone.patch_embed.norm.weight");
    P1(m->pe_nb, C, "backbone.patch_embed.norm.bias");
    for (int i = 0; i < c->nstages; i++) {
        swin_stage *s = &m->st[i];
        int64_t D = C << i, nh = c->num_heads[i], hid = (int64_t)((float)D * c->mlp_ratio);
        for (int j = 0; j < c->depths[i]; j++) {
            swin_block_w *b = &s->blk[j];
            const char *pre = "backbone.layers";
            P1(b->norm1_w, D, "%s.%d.blocks.%d.norm1.weight", pre, i, j);
            P1(b->norm1_b, D, "%s.%d.blocks.%d.norm1.bias", pre, i, j);
            P2(b->rpb_table, (2 * w - 1) * (2 * w - 1), nh,
               "%s.%d.blocks.%d.attn.relative_position_bias_table", pre, i, j);
            P2(b->qkv_w, 3 * D, D, "%s.%d.blocks.%d.attn.qkv.weight", pre, i, j);
            P1(b->qkv_b, 3 * D, "%s.%d.blocks.%d.attn.qkv.bias", pre, i, j);
            P2(b->proj_w, D, D, "%s.%d.blocks.%d.attn.proj.weight", pre, i, j);
            P1(b->proj_b, D, "%s.%d.blocks.%d.attn.proj.bias", pre, i, j);
            P1(b->norm2_w, D, "%s.%d.blocks.%d.norm2.weight", pre, i, j);
            P1(b->norm2_b, D, "%s.%d.blocks.%d.norm2.bias", pre, i, j);
            P2(b->fc1_w, hid, D, "%s.%d.blocks.%d.mlp.fc1.weight", pre, i, j);
            P1(b->fc1_b, hid, "%s.%d.blocks.%d.mlp.fc1.bias", pre, i, j);
            P2(b->fc2_w, D, hid, "%s.%d.blocks.%d.mlp.fc2.weight", pre, i, j);
            P1(b->fc2_b, D, "%s.%d.blocks.%d.mlp.fc2.bias", pre, i, j);
        }
        const char *fu = "backbone.layers";
        P3(s->vis_w, D, D, 1, "%s.%d.fusion.vis_project.0.weight", fu, i);
        P1(s->vis_b, D, "%s.%d.fusion.vis_project.0.bias", fu, i);
        P3(s->k_w, D, Lh, 1, "%s.%d.fusion.image_lang_att.f_key.0.weight", fu, i);
        P1(s->k_b, D, "%s.%d.fusion.image_lang_att.f_key.0.bias", fu, i);
        P3(s->q_w, D, D, 1, "%s.%d.fusion.image_lang_att.f_query.0.weight", fu, i);
        P1(s->q_b, D, "%s.%d.fusion.image_lang_att.f_query.0.bias", fu, i);
        P3(s->v_w, D, Lh, 1, "%s.%d.fusion.image_lang_att.f_value.0.weight", fu, i);
        P1(s->v_b, D, "%s.%d.fusion.image_lang_att.f_value.0.bias", fu, i);
        P3(s->W_w, D, D, 1, "%s.%d.fusion.image_lang_att.W.0.weight", fu, i);
        P1(s->W_b, D, "%s.%d.fusion.image_lang_att.W.0.bias", fu, i);
        P3(s->mm_w, D, D, 1, "%s.%d.fusion.project_mm.0.weight", fu, i);
        P1(s->mm_b, D, "%s.%d.fusion.project_mm.0.bias", fu, i);
        P2(s->gate0_w, D, D, "%s.%d.res_gate.0.weight", fu, i);
        P2(s->gate2_w, D, D, "%s.%d.res_gate.2.weight", fu, i);
        if (i < c->nstages - 1) {
            P1(s->ds_norm_w, 4 * D, "%s.%d.downsample.norm.weight", fu, i);
            P1(s->ds_norm_b, 4 * D, "%s.%d.downsample.norm.bias", fu, i);
            P2(s->ds_red_w, 2 * D, 4 * D, "%s.%d.downsample.reduction.weight", fu, i);
        }
        P1(s->out_w, D, "backbone.norm%d.weight", i);
        P1(s->out_b, D, "backbone.norm%d.bias", i);
    }

    /* SimpleDecoding (c4_dims = 8C, hidden = 4C) */
    int64_t h = 4 * C;
    static const char *const bn_names[4] = { "weight", "bias", "running_mean", "running_var" };
    for (int lv = 0; lv < 3; lv++) {
        dec_level *L = &m->dec[lv];
        int tag = 4 - lv;                            /* conv1_4, conv1_3, conv1_2 */
        int64_t cin = (lv == 0) ? 8 * C + 4 * C : h + (C << (2 - lv));
        P4(L->c1_w, h, cin, 3, 3, "classifier.conv1_%d.weight", tag);
        for (int q = 0; q < 4; q++)
            P1(L->bn1[q], h, "classifier.bn1_%d.%s", tag, bn_names[q]);
        P4(L->c2_w, h, h, 3, 3, "classifier.conv2_%d.weight", tag);
        for (int q = 0; q < 4; q++)
            P1(L->bn2[q], h, "classifier.bn2_%d.%s", tag, bn_names[q]);
    }
    P4(m->cls_w, c->num_classes, h, 1, 1, "classifier.conv1_1.weight");
    P1(m->cls_b, c->num_classes, "classifier.conv1_1.bias");
}

/* Allocate the per-layer arrays enum_params writes into. */
static int alloc_layer_arrays(lavt_model *m)
{
    const lavt_config *c = &m->cfg;
    m->bl = calloc(c->num_layers ? (size_t)c->num_layers : 1, sizeof *m->bl);
    if (!m->bl)
        return -1;
    for (int i = 0; i < c->nstages; i++) {
        m->st[i].blk = calloc((size_t)c->depths[i], sizeof *m->st[i].blk);
        if (!m->st[i].blk)
            return -1;
    }
    return 0;
}

static void free_struct(lavt_model *m)
{
    for (int i = 0; i < m->nallocs; i++)
        free(m->allocs[i]);
    free(m->allocs);
    free(m->alloc_n);
    for (int i = 0; i < LAVT_MAX_STAGES; i++)
        free(m->st[i].blk);
    free(m->bl);
    free(m->arena_mem);
    free(m->sites);
    for (int i = 0; i < m->nsites; i++)
        kf_packed_free(m->site_packed[i]);
    free(m->site_slot);
    free(m->site_fp32);
    free(m->site_packed);
    if (m->vocab)
        tok_free(m->vocab);
    free(m);
}

typedef struct {
    lavt_param_fn fn;
    void *ctx;
} public_enum;

static void public_cb(void *ctx, const char *name, int ndim, const int64_t *shape, float **dst)
{
    (void)dst;
    public_enum *pe = ctx;
    pe->fn(pe->ctx, name, ndim, shape);
}

int lavt_for_each_param(const lavt_config *cfg, lavt_param_fn fn, void *ctx)
{
    lavt_model *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->cfg = *cfg;
    if (alloc_layer_arrays(m) != 0) {
        free_struct(m);
        return -1;
    }
    public_enum pe = { fn, ctx };
    penum e = { public_cb, &pe, 0 };
    enum_params(m, &e);
    free_struct(m);
    return e.count;
}

#define MAX_LISTED 6

typedef struct {
    lavt_model *m;
    const st_file *f;
    unsigned char *used; /* per tensor in the file */
    int nproblems;
    char problems[1536];
    int oom;
} binder;

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    buf[0] = 0;
    app(buf, len, "[");
    for (int i = 0; i < ndim; i++)
        app(buf, len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    app(buf, len, "]");
}

static void bind_problem(binder *b, const char *fmt, ...)
{
    if (b->nproblems++ >= MAX_LISTED)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    app(b->problems, sizeof b->problems, "\n  %s", msg);
}

static void bind_cb(void *ctx, const char *name, int ndim, const int64_t *shape, float **dst)
{
    binder *b = ctx;
    const st_tensor *t = st_find(b->f, name);
    if (!t) {
        bind_problem(b, "missing: %s", name);
        return;
    }
    for (int i = 0; i < st_count(b->f); i++)
        if (st_at(b->f, i) == t)
            b->used[i] = 1;
    int same = (t->ndim == ndim);
    for (int i = 0; same && i < ndim; i++)
        same = (t->shape[i] == shape[i]);
    if (!same) {
        char want[96], got[96];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        bind_problem(b, "wrong shape: %s is %s, expected %s", name, got, want);
        return;
    }
    char e2[512];
    float *data = NULL;
    if (st_read_f32(b->f, name, ndim, shape, &data, e2, sizeof e2) != 0) {
        bind_problem(b, "unreadable: %s", e2);
        return;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    if (track(b->m, data, n) != 0) {
        free(data);
        b->oom = 1;
        return;
    }
    *dst = data;
}

/* Tensors a converted official checkpoint may carry that lavt_one does not use. */
static int ignorable(const char *name)
{
    static const char *const suffixes[] = { ".relative_position_index", ".num_batches_tracked" };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && !strcmp(name + n - k, suffixes[i]))
            return 1;
    }
    /* HF BERT checkpoints: the position_ids buffer and the pooler, which LAVT
    ** never calls. */
    return !strcmp(name, "text_encoder.embeddings.position_ids") ||
           !strncmp(name, "text_encoder.pooler.", 20);
}

static int bind_weights(lavt_model *m, const char *path, char *err, size_t errlen)
{
    st_file *f = NULL;
    if (st_open(path, &f, err, errlen) != 0)
        return -1;
    binder b;
    memset(&b, 0, sizeof b);
    b.m = m;
    b.f = f;
    b.used = calloc((size_t)st_count(f) + 1, 1);
    if (!b.used) {
        st_close(f);
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    penum e = { bind_cb, &b, 0 };
    enum_params(m, &e);
    int rc = 0;
    if (b.oom) {
        set_err(err, errlen, "%s: out of memory while reading weights", path);
        rc = -1;
    } else if (b.nproblems) {
        set_err(err, errlen, "%s: %d of %d lavt_one tensors missing or misshaped "
                             "(wrong model.yaml or checkpoint?):%s",
                path, b.nproblems, e.count, b.problems);
        if (b.nproblems > MAX_LISTED) {
            char more[64];
            snprintf(more, sizeof more, "\n  and %d more", b.nproblems - MAX_LISTED);
            app(err, errlen, "%s", more);
        }
        rc = -1;
    } else {
        int nunused = 0;
        char list[1024] = "";
        for (int i = 0; i < st_count(f); i++) {
            const char *nm = st_at(f, i)->name;
            if (b.used[i] || ignorable(nm))
                continue;
            if (nunused < MAX_LISTED)
                app(list, sizeof list, "\n  %s", nm);
            nunused++;
        }
        if (nunused) {
            set_err(err, errlen, "%s: %d unused tensor%s not part of lavt_one (wrong "
                                 "checkpoint or model.yaml?):%s",
                    path, nunused, nunused > 1 ? "s" : "", list);
            if (nunused > MAX_LISTED)
                app(err, errlen, "\n  and %d more", nunused - MAX_LISTED);
            rc = -1;
        }
    }
    free(b.used);
    st_close(f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Random weights (weights: {random: {seed: N}}; speed-only models)         */
/* ------------------------------------------------------------------------ */

/* splitmix64 (Steele, Lea & Flood): a small 64-bit generator built from
** integer operations only, so one seed gives the same stream everywhere. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* FNV-1a 64 of a tensor name: each tensor draws from its own stream, so its
** values depend on the seed and its name only, not on the other tensors. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

typedef struct {
    lavt_model *m;
    uint64_t seed;
    int oom;
} rand_ctx;

/* One tensor, initialised as the usual LAVT / Swin / BERT inits do, up to
** the exact distribution: vectors named *.weight (LayerNorm and BatchNorm
** gammas) and running_var are 1, other vectors (biases, running_mean) 0;
** everything with two or more dimensions (linear and conv weights,
** embeddings, relative-position tables) has mean 0, std 0.02.  The
** "normal" is the Irwin-Hall sum of four 16-bit uniforms from one splitmix64
** draw (bell-shaped, bounded at +-3.46 std, like a truncated normal): integer
** arithmetic and one float multiply per value, hence bit-identical on every
** machine (no libm call whose last bit could differ). */
static void rand_cb(void *ctx, const char *name, int ndim, const int64_t *shape, float **dst)
{
    rand_ctx *r = ctx;
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    float *w = walloc(r->m, n); /* zeroed */
    if (!w) {
        r->oom = 1;
        return;
    }
    *dst = w;
    if (ndim == 1) {
        if (ends_with(name, ".weight") || ends_with(name, ".running_var"))
            for (size_t i = 0; i < n; i++)
                w[i] = 1.0f;
        return;
    }
    /* a sum of four uniforms on [0, 65535] has mean 131070 and std
    ** 65536/sqrt(3) (to 1e-10): scale it to std 0.02 */
    const float scale = (float)(0.02 * 1.7320508075688772 / 65536.0);
    uint64_t st = r->seed ^ name_hash(name);
    for (size_t i = 0; i < n; i++) {
        uint64_t z = splitmix64(&st);
        int32_t s = (int32_t)(z & 0xFFFF) + (int32_t)((z >> 16) & 0xFFFF) +
                    (int32_t)((z >> 32) & 0xFFFF) + (int32_t)(z >> 48) - 131070;
        w[i] = (float)s * scale;
    }
}

/* Every parameter of cfg drawn from cfg->weights_seed (no file). */
static int random_weights(lavt_model *m, const char *dir, char *err, size_t errlen)
{
    rand_ctx r = { m, m->cfg.weights_seed, 0 };
    penum e = { rand_cb, &r, 0 };
    enum_params(m, &e);
    if (r.oom) {
        set_err(err, errlen, "%s: out of memory generating %zu MB of random weights", dir,
                m->weight_bytes >> 20);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Load-time precomputation                                                 */
/* ------------------------------------------------------------------------ */

static void geometry(lavt_model *m)
{
    const lavt_config *c = &m->cfg;
    int w = c->window_size;
    int H = (c->input_size + c->patch_size - 1) / c->patch_size;
    for (int i = 0; i < c->nstages; i++) {
        swin_stage *s = &m->st[i];
        s->D = c->embed_dim << i;
        s->heads = c->num_heads[i];
        s->fheads = c->fusion_heads[i];
        s->hid = (int)((float)s->D * c->mlp_ratio); /* int(dim * mlp_ratio), as Swin */
        s->H = s->W = H;
        s->Hp = s->Wp = (H + w - 1) / w * w;
        H = (H + 1) / 2;
    }
    m->dec_hidden = 4 * c->embed_dim;
    for (int lv = 0; lv < 3; lv++)
        m->dec[lv].cin = (lv == 0) ? 12 * c->embed_dim
                                   : m->dec_hidden + (c->embed_dim << (2 - lv));
}

/* Region label of a padded-map coordinate for the shifted-window mask: the
** official code slices [0, -w), [-w, -s), [-s, end). */
static int shift_region(int v, int len, int w, int s)
{
    return v < len - w ? 0 : (v < len - s ? 1 : 2);
}

static int precompute(lavt_model *m)
{
    const lavt_config *c = &m->cfg;
    int w = c->window_size, N = w * w, R = 2 * w - 1;
    for (int i = 0; i < c->nstages; i++) {
        swin_stage *s = &m->st[i];
        /* relative position bias, per block: bias[h][a][b] = table[idx(a,b)][h] */
        for (int j = 0; j < c->depths[i]; j++) {
            swin_block_w *b = &s->blk[j];
            b->bias = walloc(m, (size_t)s->heads * N * N);
            if (!b->bias)
                return -1;
            for (int h = 0; h < s->heads; h++)
                for (int pa = 0; pa < N; pa++)
                    for (int pb = 0; pb < N; pb++) {
                        int dy = pa / w - pb / w + w - 1, dx = pa % w - pb % w + w - 1;
                        b->bias[((size_t)h * N + pa) * N + pb] =
                            b->rpb_table[(size_t)(dy * R + dx) * s->heads + h];
                    }
        }
        /* shift mask: odd blocks are shifted by w/2 (none when w/2 == 0) */
        int sh = w / 2;
        if (c->depths[i] >= 2 && sh > 0) {
            int nWw = s->Wp / w, nW = (s->Hp / w) * nWw;
            s->mask = walloc(m, (size_t)nW * N * N);
            if (!s->mask)
                return -1;
            for (int win = 0; win < nW; win++)
                for (int pa = 0; pa < N; pa++)
                    for (int pb = 0; pb < N; pb++) {
                        int ya = (win / nWw) * w + pa / w, xa = (win % nWw) * w + pa % w;
                        int yb = (win / nWw) * w + pb / w, xb = (win % nWw) * w + pb % w;
                        int la = 3 * shift_region(ya, s->Hp, w, sh) + shift_region(xa, s->Wp, w, sh);
                        int lb = 3 * shift_region(yb, s->Hp, w, sh) + shift_region(xb, s->Wp, w, sh);
                        s->mask[((size_t)win * N + pa) * N + pb] = (la != lb) ? -100.0f : 0.0f;
                    }
        }
    }
    /* fold the decoder's eval-mode BatchNorms into the (bias-free) convs */
    int h = m->dec_hidden;
    for (int lv = 0; lv < 3; lv++) {
        dec_level *L = &m->dec[lv];
        L->b1 = walloc(m, (size_t)h);
        L->b2 = walloc(m, (size_t)h);
        if (!L->b1 || !L->b2)
            return -1;
        kf_bn_fold(L->c1_w, L->b1, h, L->cin * 9, L->bn1[0], L->bn1[1], L->bn1[2], L->bn1[3],
                   BN_EPS);
        kf_bn_fold(L->c2_w, L->b2, h, h * 9, L->bn2[0], L->bn2[1], L->bn2[2], L->bn2[3], BN_EPS);
        for (int q = 0; q < 4; q++) {
            wrelease(m, L->bn1[q]);
            wrelease(m, L->bn2[q]);
            L->bn1[q] = L->bn2[q] = NULL;
        }
    }
    return 0;
}

static size_t zmax(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void plan_arena(const lavt_model *m, arena_sizes *z)
{
    const lavt_config *c = &m->cfg;
    memset(z, 0, sizeof *z);
    size_t T = (size_t)c->max_tokens, Lh = (size_t)c->hidden_size;
    size_t w = (size_t)c->window_size;
    z->t_h = z->t_q = z->t_k = z->t_v = z->t_ctx = z->t_tmp = T * Lh;
    z->t_inter = T * (size_t)c->intermediate_size;
    z->t_sc = T * T;
    z->lmask = T;
    int p = c->patch_size, S = c->input_size, H0 = m->st[0].H;
    if (S % p)
        z->img = 3 * (size_t)(H0 * p) * (size_t)(H0 * p);
    z->cscr = kf_conv2d_scratch(3, H0 * p, H0 * p, p, p, p, 0);
    for (int i = 0; i < c->nstages; i++) {
        const swin_stage *s = &m->st[i];
        size_t N = (size_t)s->H * s->W, Np = (size_t)s->Hp * s->Wp, D = (size_t)s->D;
        z->x = zmax(z->x, N * D);
        z->tmp = zmax(z->tmp, N * D);
        z->win = zmax(z->win, Np * D);
        z->qkv = zmax(z->qkv, Np * 3 * D);
        z->ao = zmax(z->ao, Np * D);
        z->hid = zmax(z->hid, N * (size_t)s->hid);
        if (i < c->nstages - 1) {
            size_t Nn = (size_t)((s->H + 1) / 2) * (size_t)((s->W + 1) / 2);
            z->hid = zmax(z->hid, Nn * 4 * D);
            z->x = zmax(z->x, Nn * 2 * D);
        }
        z->xres = zmax(z->xres, N * D);
        z->key = z->val = zmax(z->key, T * D);
        z->sim = zmax(z->sim, N * T);
    }
    z->slots = ATTN_SLOTS * w * w * w * w;
    z->y0 = (size_t)m->st[0].D * m->st[0].H * m->st[0].W;
    z->y1 = (size_t)m->st[1].D * m->st[1].H * m->st[1].W;
    z->y2 = (size_t)m->st[2].D * m->st[2].H * m->st[2].W;
    z->y3 = (size_t)m->st[3].D * m->st[3].H * m->st[3].W;
    size_t h = (size_t)m->dec_hidden;
    for (int lv = 0; lv < 3; lv++) {
        const swin_stage *sy = &m->st[2 - lv];
        size_t Ny = (size_t)sy->H * sy->W;
        z->cat = zmax(z->cat, (size_t)m->dec[lv].cin * Ny);
        z->d1 = z->d2 = zmax(z->d1, h * Ny);
        z->cscr = zmax(z->cscr, kf_conv2d_scratch(m->dec[lv].cin, sy->H, sy->W, 3, 3, 1, 1));
        z->cscr = zmax(z->cscr, kf_conv2d_scratch((int)h, sy->H, sy->W, 3, 3, 1, 1));
    }
    z->cscr = zmax(z->cscr, kf_conv2d_scratch((int)h, H0, H0, 1, 1, 1, 0));
    z->small = (size_t)c->num_classes * H0 * H0;
    /* copies of activations that stay needed in float (see qcopy()) */
    z->qcopy = zmax(T * Lh, 3 * (size_t)(H0 * p) * (size_t)(H0 * p));
    for (int i = 0; i < c->nstages; i++)
        z->qcopy = zmax(z->qcopy, (size_t)m->st[i].H * m->st[i].W * (size_t)m->st[i].D);
}

#define ALIGN_FLOATS 16 /* 64-byte alignment of every buffer */

static int make_arena(lavt_model *m)
{
    arena_sizes z;
    plan_arena(m, &z);
    size_t total = 0;
#define X(n) total += (z.n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    ARENA_BUFS(X)
#undef X
    m->arena_mem = aligned_alloc(64, total * sizeof(float));
    if (!m->arena_mem)
        return -1;
    memset(m->arena_mem, 0, total * sizeof(float));
    m->arena_floats = total;
    float *p = m->arena_mem;
#define X(n) m->a.n = p; p += (z.n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    ARENA_BUFS(X)
#undef X
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Quantization sites                                                       */
/* ------------------------------------------------------------------------ */

/* Append one site; returns its id, -1 when out of memory. */
static int add_site(lavt_model *m, lavt_site_kind kind, const char *group, float **slot, int rows,
                    int cols, int conv, const char *fmt, ...)
{
    if (m->nsites == m->capsites) {
        int cap = m->capsites ? 2 * m->capsites : 64;
        lavt_site *ns = realloc(m->sites, (size_t)cap * sizeof *ns);
        if (!ns)
            return -1;
        m->sites = ns;
        float ***sl = realloc(m->site_slot, (size_t)cap * sizeof *sl);
        if (!sl)
            return -1;
        m->site_slot = sl;
        float **fp = realloc(m->site_fp32, (size_t)cap * sizeof *fp);
        if (!fp)
            return -1;
        m->site_fp32 = fp;
        kf_packed **pk = realloc(m->site_packed, (size_t)cap * sizeof *pk);
        if (!pk)
            return -1;
        m->site_packed = pk;
        m->capsites = cap;
    }
    int id = m->nsites++;
    lavt_site *t = &m->sites[id];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    snprintf(t->group, sizeof t->group, "%s", group);
    t->kind = kind;
    t->conv = conv;
    t->rows = rows;
    t->cols = cols;
    t->input = -1;
    t->next = -1;
    t->pair = -1;
    m->site_slot[id] = slot;
    m->site_fp32[id] = slot ? *slot : NULL;
    m->site_packed[id] = NULL;
    return id;
}

/* Activation site `name` feeding up to three weight sites (given as
** slot/rows/suffix triples); returns the activation site id or -1. */
typedef struct {
    float **slot;
    int rows;
    const char *name;
} wuser;

static int add_linear(lavt_model *m, lavt_site_kind kind, const char *group, const char *act,
                      int cols, int conv, int nusers, const wuser *u)
{
    int a = add_site(m, kind, group, NULL, 0, cols, conv, "%s", act);
    if (a < 0)
        return -1;
    for (int i = 0; i < nusers; i++) {
        int w = add_site(m, LAVT_SITE_WEIGHT, group, u[i].slot, u[i].rows, cols, conv, "%s",
                         u[i].name);
        if (w < 0)
            return -1;
        m->sites[w].input = a;
        m->sites[a].users[m->sites[a].nusers++] = w;
    }
    return a;
}

/* The fixed site list (models/README.md, "Quantization sites"), in forward
** order: text encoder, patch embedding, per stage the Swin blocks, PWAM, gate
** and patch merging, then the decoder. */
static int build_sites(lavt_model *m)
{
    const lavt_config *c = &m->cfg;
    int Lh = c->hidden_size, I = c->intermediate_size, T = c->max_tokens;
    char g[32], p[96], n1[128], n2[128], n3[128], n4[128];
#define ACT(kind, cols, ...) add_site(m, kind, g, NULL, 0, cols, 0, __VA_ARGS__)
#define CHK(x) do { if ((x) < 0) return -1; } while (0)
    for (int k = 0; k < c->num_layers; k++) {
        bert_layer_w *L = &m->bl[k];
        snprintf(g, sizeof g, "text.layer%d", k);
        snprintf(p, sizeof p, "text.layer%d", k);
        snprintf(n1, sizeof n1, "%s.attn.query.weight", p);
        snprintf(n2, sizeof n2, "%s.attn.key.weight", p);
        snprintf(n3, sizeof n3, "%s.attn.value.weight", p);
        wuser qkv[3] = { { &L->q_w, Lh, n1 }, { &L->k_w, Lh, n2 }, { &L->v_w, Lh, n3 } };
        snprintf(n4, sizeof n4, "%s.attn.in", p);
        CHK(L->s_in = add_linear(m, LAVT_SITE_TEXT, g, n4, Lh, 0, 3, qkv));
        /* every text-encoder activation but the softmax is of kind text */
        CHK(L->s_q = ACT(LAVT_SITE_TEXT, Lh, "%s.attn.q", p));
        CHK(L->s_k = ACT(LAVT_SITE_TEXT, Lh, "%s.attn.k", p));
        CHK(L->s_sm = ACT(LAVT_SITE_SOFTMAX, T, "%s.attn.softmax", p));
        CHK(L->s_v = ACT(LAVT_SITE_TEXT, Lh, "%s.attn.v", p));
        snprintf(n1, sizeof n1, "%s.attn.out.weight", p);
        snprintf(n2, sizeof n2, "%s.attn.out.in", p);
        CHK(L->s_out = add_linear(m, LAVT_SITE_TEXT, g, n2, Lh, 0, 1, &(wuser){ &L->ao_w, Lh, n1 }));
        m->sites[L->s_v].next = m->sites[L->s_out].users[0];
        m->sites[L->s_sm].pair = L->s_v;
        m->sites[L->s_v].pair = L->s_sm;
        m->sites[L->s_q].pair = L->s_k;
        m->sites[L->s_k].pair = L->s_q;
        snprintf(n1, sizeof n1, "%s.ffn.up.weight", p);
        snprintf(n2, sizeof n2, "%s.ffn.in", p);
        CHK(L->s_ffn = add_linear(m, LAVT_SITE_TEXT, g, n2, Lh, 0, 1, &(wuser){ &L->i_w, I, n1 }));
        snprintf(n1, sizeof n1, "%s.ffn.down.weight", p);
        snprintf(n2, sizeof n2, "%s.ffn.gelu", p);
        CHK(L->s_gelu = add_linear(m, LAVT_SITE_TEXT, g, n2, I, 0, 1, &(wuser){ &L->o_w, Lh, n1 }));
    }
    snprintf(g, sizeof g, "vision.patch_embed");
    int C = c->embed_dim, pp = c->patch_size;
    CHK(m->s_pe = add_linear(m, LAVT_SITE_ACT, g, "vision.patch_embed.in", 3 * pp * pp, 1, 1,
                             &(wuser){ &m->pe_w, C, "vision.patch_embed.weight" }));
    m->sites[m->s_pe].first_last = m->sites[m->s_pe + 1].first_last = 1;
    for (int i = 0; i < c->nstages; i++) {
        swin_stage *s = &m->st[i];
        int D = s->D;
        snprintf(g, sizeof g, "vision.stage%d", i);
        for (int j = 0; j < c->depths[i]; j++) {
            swin_block_w *b = &s->blk[j];
            snprintf(p, sizeof p, "vision.stage%d.block%d", i, j);
            snprintf(n1, sizeof n1, "%s.attn.qkv.weight", p);
            snprintf(n2, sizeof n2, "%s.attn.in", p);
            CHK(b->s_in = add_linear(m, LAVT_SITE_ACT, g, n2, D, 0, 1, &(wuser){ &b->qkv_w, 3 * D, n1 }));
            CHK(b->s_q = ACT(LAVT_SITE_ACT, D, "%s.attn.q", p));
            CHK(b->s_k = ACT(LAVT_SITE_ACT, D, "%s.attn.k", p));
            CHK(b->s_sm = ACT(LAVT_SITE_SOFTMAX, c->window_size * c->window_size, "%s.attn.softmax", p));
            CHK(b->s_v = ACT(LAVT_SITE_ACT, D, "%s.attn.v", p));
            snprintf(n1, sizeof n1, "%s.attn.proj.weight", p);
            snprintf(n2, sizeof n2, "%s.attn.proj.in", p);
            CHK(b->s_proj = add_linear(m, LAVT_SITE_ACT, g, n2, D, 0, 1, &(wuser){ &b->proj_w, D, n1 }));
            m->sites[b->s_v].next = m->sites[b->s_proj].users[0];
            m->sites[b->s_sm].pair = b->s_v;
            m->sites[b->s_v].pair = b->s_sm;
            m->sites[b->s_q].pair = b->s_k;
            m->sites[b->s_k].pair = b->s_q;
            snprintf(n1, sizeof n1, "%s.mlp.fc1.weight", p);
            snprintf(n2, sizeof n2, "%s.mlp.in", p);
            CHK(b->s_mlp = add_linear(m, LAVT_SITE_ACT, g, n2, D, 0, 1, &(wuser){ &b->fc1_w, s->hid, n1 }));
            snprintf(n1, sizeof n1, "%s.mlp.fc2.weight", p);
            snprintf(n2, sizeof n2, "%s.mlp.gelu", p);
            CHK(b->s_gelu = add_linear(m, LAVT_SITE_GELU, g, n2, s->hid, 0, 1, &(wuser){ &b->fc2_w, D, n1 }));
        }
        snprintf(g, sizeof g, "fusion.stage%d", i);
        snprintf(p, sizeof p, "fusion.stage%d", i);
        snprintf(n1, sizeof n1, "%s.vis.weight", p);
        snprintf(n2, sizeof n2, "%s.query.weight", p);
        wuser vq[2] = { { &s->vis_w, D, n1 }, { &s->q_w, D, n2 } };
        snprintf(n3, sizeof n3, "%s.in", p);
        CHK(s->s_fin = add_linear(m, LAVT_SITE_ACT, g, n3, D, 0, 2, vq));
        m->sites[m->sites[s->s_fin].users[1]].out_norm = 1;   /* f_query -> InstanceNorm */
        snprintf(n1, sizeof n1, "%s.key.weight", p);
        snprintf(n2, sizeof n2, "%s.value.weight", p);
        wuser kv[2] = { { &s->k_w, D, n1 }, { &s->v_w, D, n2 } };
        snprintf(n3, sizeof n3, "%s.text.in", p);
        CHK(s->s_ftext = add_linear(m, LAVT_SITE_TEXT, g, n3, Lh, 0, 2, kv));
        CHK(s->s_fq = ACT(LAVT_SITE_ACT, D, "%s.attn.q", p));
        CHK(s->s_fk = ACT(LAVT_SITE_ACT, D, "%s.attn.k", p));
        CHK(s->s_fsm = ACT(LAVT_SITE_SOFTMAX, T, "%s.attn.softmax", p));
        CHK(s->s_fv = ACT(LAVT_SITE_ACT, D, "%s.attn.v", p));
        snprintf(n1, sizeof n1, "%s.attn.out.weight", p);
        snprintf(n2, sizeof n2, "%s.attn.out.in", p);
        CHK(s->s_fout = add_linear(m, LAVT_SITE_ACT, g, n2, D, 0, 1, &(wuser){ &s->W_w, D, n1 }));
        m->sites[m->sites[s->s_fout].users[0]].out_norm = 1;  /* W -> InstanceNorm */
        m->sites[s->s_fv].next = m->sites[s->s_fout].users[0];
        m->sites[s->s_fsm].pair = s->s_fv;
        m->sites[s->s_fv].pair = s->s_fsm;
        m->sites[s->s_fq].pair = s->s_fk;
        m->sites[s->s_fk].pair = s->s_fq;
        snprintf(n1, sizeof n1, "%s.mm.weight", p);
        snprintf(n2, sizeof n2, "%s.mm.in", p);
        CHK(s->s_mm = add_linear(m, LAVT_SITE_ACT, g, n2, D, 0, 1, &(wuser){ &s->mm_w, D, n1 }));
        snprintf(n1, sizeof n1, "%s.gate.0.weight", p);
        snprintf(n2, sizeof n2, "%s.gate.gelu", p);
        CHK(s->s_ggelu = add_linear(m, LAVT_SITE_GELU, g, n2, D, 0, 1, &(wuser){ &s->gate0_w, D, n1 }));
        snprintf(n1, sizeof n1, "%s.gate.2.weight", p);
        snprintf(n2, sizeof n2, "%s.gate.relu", p);
        CHK(s->s_grelu = add_linear(m, LAVT_SITE_ACT, g, n2, D, 0, 1, &(wuser){ &s->gate2_w, D, n1 }));
        s->s_merge = -1;
        if (i < c->nstages - 1) {
            snprintf(g, sizeof g, "vision.stage%d", i);
            snprintf(n1, sizeof n1, "vision.stage%d.merge.weight", i);
            snprintf(n2, sizeof n2, "vision.stage%d.merge.in", i);
            CHK(s->s_merge = add_linear(m, LAVT_SITE_ACT, g, n2, 4 * D, 0, 1,
                                        &(wuser){ &s->ds_red_w, 2 * D, n1 }));
        }
    }
    snprintf(g, sizeof g, "decoder");
    int h = m->dec_hidden;
    for (int lv = 0; lv < 3; lv++) {
        dec_level *L = &m->dec[lv];
        snprintf(p, sizeof p, "decoder.level%d", lv);
        snprintf(n1, sizeof n1, "%s.conv1.weight", p);
        snprintf(n2, sizeof n2, "%s.conv1.in", p);
        CHK(L->s_c1 = add_linear(m, LAVT_SITE_ACT, g, n2, L->cin * 9, 1, 1, &(wuser){ &L->c1_w, h, n1 }));
        snprintf(n1, sizeof n1, "%s.conv2.weight", p);
        snprintf(n2, sizeof n2, "%s.conv2.in", p);
        CHK(L->s_c2 = add_linear(m, LAVT_SITE_ACT, g, n2, h * 9, 1, 1, &(wuser){ &L->c2_w, h, n1 }));
    }
    CHK(m->s_cls = add_linear(m, LAVT_SITE_ACT, g, "decoder.classifier.in", h, 1, 1,
                              &(wuser){ &m->cls_w, c->num_classes, "decoder.classifier.weight" }));
    m->sites[m->s_cls].first_last = m->sites[m->s_cls + 1].first_last = 1;
#undef ACT
#undef CHK
    return 0;
}

int lavt_site_count(const lavt_model *m) { return m->nsites; }

const lavt_site *lavt_site_get(const lavt_model *m, int i)
{
    return (i >= 0 && i < m->nsites) ? &m->sites[i] : NULL;
}

int lavt_site_find(const lavt_model *m, const char *name)
{
    for (int i = 0; i < m->nsites; i++)
        if (strcmp(m->sites[i].name, name) == 0)
            return i;
    return -1;
}

const char *lavt_site_kind_name(lavt_site_kind k)
{
    static const char *const names[] = { "weight", "act", "softmax", "gelu", "text" };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* Weight site `site`'s weights w (what its slot holds) packed for the fp32
** GEMM of the active ISA, packing them on first use: the forward pass's
** products then skip packing the weights on every call (same bits, see
** kernels/gemm_f32.h). Lazily, so that layers the integer hooks take over
** are never packed. Convolutions use their weights as the left-hand
** operand, linear layers as the transposed right-hand one. NULL when out
** of memory (the product then packs per call). Called from the forward
** pass's own thread, never from a pool task. */
static const kf_packed *site_packed(lavt_model *m, int site, const float *w)
{
    if (!m->site_fp32[site])   /* released: packed and detached, or hooked (NULL) */
        return m->site_packed[site];
    kf_packed *p = m->site_packed[site];
    if (p && kf_packed_source(p) == w && kf_packed_current(p))
        return p;
    kf_packed_free(p);
    const lavt_site *t = &m->sites[site];
    p = t->conv ? kf_pack_lhs(t->rows, t->cols, w, t->cols) : kf_pack_nt(t->rows, t->cols, w, t->cols);
    m->site_packed[site] = p;
    return p;
}

const float *lavt_site_weight_fp32(const lavt_model *m, int site)
{
    return (site >= 0 && site < m->nsites) ? m->site_fp32[site] : NULL;
}

void lavt_site_set_weight(lavt_model *m, int site, const float *w)
{
    if (site < 0 || site >= m->nsites || !m->site_slot[site] || !m->site_fp32[site])
        return;   /* (no slot, or released: lavt_release_site) */
    /* the forward pass only reads through the slot; it never writes weights */
    *m->site_slot[site] = w ? (float *)(uintptr_t)w : m->site_fp32[site];
    kf_packed_free(m->site_packed[site]);   /* packed again on first use */
    m->site_packed[site] = NULL;
}

/* Free a tracked buffer for good, keeping it in weight_bytes (its values
** live on, packed). */
static void wdrop(lavt_model *m, float *p)
{
    for (int i = 0; i < m->nallocs; i++)
        if (m->allocs[i] == p) {
            free(p);
            m->allocs[i] = NULL;
            return;
        }
}

int lavt_release_site(lavt_model *m, int site, int hooked, char *err, size_t errlen)
{
    if (site < 0 || site >= m->nsites || m->sites[site].kind != LAVT_SITE_WEIGHT ||
        !m->site_slot[site] || !m->site_fp32[site])
        return 0;   /* not a weight site, or released already */
    float *w = m->site_fp32[site];
    if (!hooked) {
        if (!site_packed(m, site, *m->site_slot[site])) {
            snprintf(err, errlen, "out of memory packing the weights of %s", m->sites[site].name);
            return -1;
        }
        kf_packed_detach(m->site_packed[site]);
    }
    *m->site_slot[site] = NULL;
    m->site_fp32[site] = NULL;
    int shared = 0;   /* (no two sites share weights today; never free them twice) */
    for (int j = 0; j < m->nsites; j++)
        shared |= m->site_fp32[j] == w;
    if (!shared)
        wdrop(m, w);
    return 0;
}

int lavt_release_weights(lavt_model *m, char *err, size_t errlen)
{
    for (int i = 0; i < m->nsites; i++)
        if (lavt_release_site(m, i, 0, err, errlen))
            return -1;
    return 0;
}

void lavt_set_act_hook(lavt_model *m, lavt_act_hook fn, void *ctx)
{
    m->act_fn = fn;
    m->act_ctx = ctx;
}

void lavt_set_linear_hook(lavt_model *m, lavt_linear_hook fn, void *ctx)
{
    m->lin_fn = fn;
    m->lin_ctx = ctx;
}

void lavt_set_mm_hook(lavt_model *m, lavt_mm_hook fn, void *ctx)
{
    m->mm_fn = fn;
    m->mm_ctx = ctx;
}

/* y[M][N] = x[M][K] W^T + bias for the u-th linear layer reading activation
** site `act` (W is what that weight site's slot holds now).  The linear hook,
** when set, may compute it instead (integer execution). */
static void linear(lavt_model *m, kt_pool *pool, int act, int u, int M, int N, int K,
                   const float *x, int ldx, const float *W, const float *bias, float *y, int ldy)
{
    int w = m->sites[act].users[u];
    assert(*m->site_slot[w] == W && m->sites[w].rows == N && m->sites[w].cols == K);
    if (m->lin_fn && m->lin_fn(m->lin_ctx, pool, w, x, M, ldx, 0, NULL, bias, y, ldy))
        return;
    const kf_packed *p = site_packed(m, w, W);
    if (p)
        kf_gemm_nt_packed(pool, M, x, ldx, p, bias, y, ldy);
    else if (W)
        kf_gemm_nt(pool, M, N, K, x, ldx, W, K, bias, y, ldy);
    else   /* a hooked layer's weights were released and its hook declined */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                y[(size_t)i * ldy + j] = NAN;
}

void lavt_set_conv_hook(lavt_model *m, lavt_conv_hook fn, void *ctx)
{
    m->conv_fn = fn;
    m->conv_ctx = ctx;
}

/* The convolution reading activation site `act` (kf_conv2d's arguments);
** the conv hook, when set, may compute it instead. */
static void conv(lavt_model *m, kt_pool *pool, int act, const float *x, int C, int H, int W,
                 const float *w, const float *bias, int O, int kh, int kw, int stride, int pad,
                 float *y, float *scratch)
{
    int ws = m->sites[act].users[0];
    assert(*m->site_slot[ws] == w && m->sites[ws].rows == O && m->sites[ws].cols == C * kh * kw);
    if (m->conv_fn) {
        lavt_conv_geom g = { C, H, W, kh, kw, stride, pad };
        if (m->conv_fn(m->conv_ctx, pool, ws, x, &g, bias, y))
            return;
    }
    const kf_packed *p = site_packed(m, ws, w);
    if (p) {
        kf_conv2d_packed(pool, x, C, H, W, p, bias, O, kh, kw, stride, pad, y, scratch);
    } else if (w) {
        kf_conv2d(pool, x, C, H, W, w, bias, O, kh, kw, stride, pad, y, scratch);
    } else {   /* a hooked layer's weights were released and its hook declined */
        size_t n = (size_t)O * ((H + 2 * pad - kh) / stride + 1) * ((W + 2 * pad - kw) / stride + 1);
        for (size_t i = 0; i < n; i++)
            y[i] = NAN;
    }
}

/* An attention product (see lavt_mm_hook): out[M][N] = A[M][K] B^T (bt) or
** A B, A the values of `site`; the hook, when set, may compute it instead. */
static void mm_product(const lavt_model *m, kt_pool *pool, int slot, int site, int bt, float *a,
                       int lda, int M, int K, float *b, int ldb, int N, float *out, int ldo)
{
    if (m->mm_fn && m->mm_fn(m->mm_ctx, pool, slot, site, bt, a, lda, M, K, b, ldb, N, out, ldo))
        return;
    if (bt)
        kf_gemm_nt(pool, M, N, K, a, lda, b, ldb, NULL, out, ldo);
    else
        kf_gemm_nn(pool, M, N, K, a, lda, b, ldb, out, ldo);
}

/* Hand an activation site to the hook, in place. */
static inline void qa(lavt_model *m, int site, float *x, int rows, int cols, int ld)
{
    if (m->act_fn)
        m->act_fn(m->act_ctx, site, x, rows, cols, ld);
}

/* Same for a contiguous activation that stays needed in float afterwards:
** the hook gets a copy (a->qcopy), which is returned; without a hook, x. */
static const float *qcopy(lavt_model *m, int site, const float *x, int rows, int cols)
{
    if (!m->act_fn)
        return x;
    memcpy(m->a.qcopy, x, (size_t)rows * cols * sizeof(float));
    m->act_fn(m->act_ctx, site, m->a.qcopy, rows, cols, cols);
    return m->a.qcopy;
}

/* x = GELU(x) (then x *= mul element by element, when mul is not NULL), in
** place, and the linear layer reading it (activation site `act`, its only
** reader; x and mul contiguous).  The linear hook is offered the
** pre-activation first (lavt_linear_hook, gelu = 1): integer execution only
** needs the input's codes. */
static void gelu_linear(lavt_model *m, kt_pool *pool, int act, int M, int N, int K, float *x,
                        const float *mul, const float *W, const float *bias, float *y, int ldy)
{
    assert(m->sites[act].nusers == 1);
    if (m->lin_fn &&
        m->lin_fn(m->lin_ctx, pool, m->sites[act].users[0], x, M, K, 1, mul, bias, y, ldy))
        return;
    size_t n = (size_t)M * K;
    kf_gelu(pool, x, n);
    if (mul)
        for (size_t i = 0; i < n; i++)
            x[i] *= mul[i];
    qa(m, act, x, M, K, K);
    linear(m, pool, act, 0, M, N, K, x, K, W, bias, y, ldy);
}

/* ------------------------------------------------------------------------ */
/* Load / free / accessors                                                  */
/* ------------------------------------------------------------------------ */

int lavt_load(const char *dir, lavt_model **out, char *err, size_t errlen)
{
    *out = NULL;
    char path[4096];
    lavt_model *m = calloc(1, sizeof *m);
    if (!m) {
        set_err(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    if (join_path(path, sizeof path, dir, "model.yaml") != 0) {
        set_err(err, errlen, "%s: path too long", dir);
        goto fail;
    }
    if (lavt_config_load(path, &m->cfg, err, errlen) != 0)
        goto fail;
    lavt_config *c = &m->cfg;
    if (alloc_layer_arrays(m) != 0) {
        set_err(err, errlen, "%s: out of memory", dir);
        goto fail;
    }
    if (join_path(path, sizeof path, dir, c->vocab_file) != 0) {
        set_err(err, errlen, "%s: path too long", dir);
        goto fail;
    }
    if (tok_load(path, &m->vocab, err, errlen) != 0)
        goto fail;
    if (c->vocab_size == 0) {
        c->vocab_size = tok_size(m->vocab); /* "filled from the vocab file" */
    } else if (tok_size(m->vocab) > c->vocab_size) {
        set_err(err, errlen, "%s: %d tokens, but model.yaml says bert.vocab_size: %d", path,
                tok_size(m->vocab), c->vocab_size);
        goto fail;
    }
    if (c->weights_random) {
        if (random_weights(m, dir, err, errlen) != 0)
            goto fail;
    } else {
        if (join_path(path, sizeof path, dir, c->weights_file) != 0) {
            set_err(err, errlen, "%s: path too long", dir);
            goto fail;
        }
        if (bind_weights(m, path, err, errlen) != 0)
            goto fail;
    }
    geometry(m);
    if (precompute(m) != 0 || make_arena(m) != 0 || build_sites(m) != 0) {
        set_err(err, errlen, "%s: out of memory", dir);
        goto fail;
    }
    *out = m;
    return 0;
fail:
    free_struct(m);
    return -1;
}

void lavt_free(lavt_model *m)
{
    if (m)
        free_struct(m);
}

const lavt_config *lavt_get_config(const lavt_model *m) { return &m->cfg; }
int lavt_speed_only(const lavt_model *m) { return m->cfg.weights_random; }
const tok_vocab *lavt_vocab(const lavt_model *m) { return m->vocab; }
size_t lavt_weight_bytes(const lavt_model *m) { return m->weight_bytes; }
size_t lavt_arena_bytes(const lavt_model *m) { return m->arena_floats * sizeof(float); }

/* ------------------------------------------------------------------------ */
/* Preprocessing                                                            */
/* ------------------------------------------------------------------------ */

void lavt_preprocess(const lavt_model *m, const uint8_t *rgb, int w, int h, float *out)
{
    const lavt_config *c = &m->cfg;
    int S = c->input_size;
    size_t plane = (size_t)S * S;
    float *src = out;
    if (w != S || h != S) {
        src = malloc(3 * (size_t)w * h * sizeof(float));
        if (!src) { /* out of memory: a zero (mean-grey) image rather than garbage */
            memset(out, 0, 3 * plane * sizeof(float));
            return;
        }
    }
    for (int ch = 0; ch < 3; ch++)
        for (size_t i = 0; i < (size_t)w * h; i++)
            src[ch * (size_t)w * h + i] = (float)rgb[3 * i + ch] / 255.0f;
    if (src != out) {
        kf_resize_bilinear(src, 3, h, w, out, S, S, 0);
        free(src);
    }
    for (int ch = 0; ch < 3; ch++)
        for (size_t i = 0; i < plane; i++)
            out[ch * plane + i] = (out[ch * plane + i] - c->mean[ch]) / c->std[ch];
}

/* ------------------------------------------------------------------------ */
/* Forward: text encoder                                                    */
/* ------------------------------------------------------------------------ */

static void add_into(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void bert_layer(lavt_model *m, kt_pool *pool, const bert_layer_w *L)
{
    const lavt_config *c = &m->cfg;
    lavt_arena *a = &m->a;
    int T = c->max_tokens, Lh = c->hidden_size, I = c->intermediate_size;
    int nh = c->bert_heads, dh = Lh / nh;
    float inv = 1.0f / sqrtf((float)dh);
    const float *hin = qcopy(m, L->s_in, a->t_h, T, Lh);
    linear(m, pool, L->s_in, 0, T, Lh, Lh, hin, Lh, L->q_w, L->q_b, a->t_q, Lh);
    linear(m, pool, L->s_in, 1, T, Lh, Lh, hin, Lh, L->k_w, L->k_b, a->t_k, Lh);
    linear(m, pool, L->s_in, 2, T, Lh, Lh, hin, Lh, L->v_w, L->v_b, a->t_v, Lh);
    qa(m, L->s_q, a->t_q, T, Lh, Lh);
    qa(m, L->s_k, a->t_k, T, Lh, Lh);
    qa(m, L->s_v, a->t_v, T, Lh, Lh);
    for (int h = 0; h < nh; h++) {
        mm_product(m, pool, 0, L->s_q, 1, a->t_q + h * dh, Lh, T, dh, a->t_k + h * dh, Lh, T, a->t_sc, T);
        /* HF BERT extended mask as in LAVT's transformers: (1 - mask) * -10000.
        ** Padding *queries* still attend (their rows are computed normally). */
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++)
                a->t_sc[i * T + j] = a->t_sc[i * T + j] * inv + (1.0f - a->lmask[j]) * -10000.0f;
        kf_softmax_rows(NULL, a->t_sc, T, T);
        qa(m, L->s_sm, a->t_sc, T, T, T);
        mm_product(m, pool, 0, L->s_sm, 0, a->t_sc, T, T, T, a->t_v + h * dh, Lh, dh, a->t_ctx + h * dh,
                   Lh);
    }
    qa(m, L->s_out, a->t_ctx, T, Lh, Lh);
    linear(m, pool, L->s_out, 0, T, Lh, Lh, a->t_ctx, Lh, L->ao_w, L->ao_b, a->t_tmp, Lh);
    add_into(a->t_tmp, a->t_h, (size_t)T * Lh);
    kf_layernorm(pool, a->t_tmp, T, Lh, L->ln1_w, L->ln1_b, c->bert_ln_eps, a->t_tmp);
    linear(m, pool, L->s_ffn, 0, T, I, Lh, qcopy(m, L->s_ffn, a->t_tmp, T, Lh), Lh, L->i_w, L->i_b,
           a->t_inter, I);
    gelu_linear(m, pool, L->s_gelu, T, Lh, I, a->t_inter, NULL, L->o_w, L->o_b, a->t_h, Lh);
    add_into(a->t_h, a->t_tmp, (size_t)T * Lh);
    kf_layernorm(pool, a->t_h, T, Lh, L->ln2_w, L->ln2_b, c->bert_ln_eps, a->t_h);
}

/* l = last hidden state [T][Lh] in a->t_h (padding rows included). */
static void text_encoder(lavt_model *m, kt_pool *pool, const int32_t *ids, const int32_t *mask)
{
    const lavt_config *c = &m->cfg;
    lavt_arena *a = &m->a;
    int T = c->max_tokens, Lh = c->hidden_size;
    for (int t = 0; t < T; t++) {
        a->lmask[t] = mask[t] ? 1.0f : 0.0f;
        const float *we = m->emb_word + (size_t)ids[t] * Lh;
        const float *pe = m->emb_pos + (size_t)t * Lh;
        const float *te = m->emb_type; /* token type 0 */
        for (int k = 0; k < Lh; k++)
            a->t_h[(size_t)t * Lh + k] = (we[k] + te[k]) + pe[k];
    }
    kf_layernorm(pool, a->t_h, T, Lh, m->emb_ln_w, m->emb_ln_b, c->bert_ln_eps, a->t_h);
    for (int k = 0; k < c->num_layers; k++)
        bert_layer(m, pool, &m->bl[k]);
}

/* ------------------------------------------------------------------------ */
/* Forward: Swin stages                                                     */
/* ------------------------------------------------------------------------ */

/* Conv p x p stride p on the zero-padded image, then LayerNorm -> x [H*W][C]. */
static void patch_embed(lavt_model *m, kt_pool *pool, const float *image)
{
    const lavt_config *c = &m->cfg;
    lavt_arena *a = &m->a;
    int S = c->input_size, p = c->patch_size, C = c->embed_dim, H = m->st[0].H;
    const float *in = image;
    int Si = S;
    if (S % p) { /* pad right/bottom with zeros to a multiple of p */
        Si = H * p;
        memset(a->img, 0, 3 * (size_t)Si * Si * sizeof(float));
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < S; y++)
                memcpy(a->img + ((size_t)ch * Si + y) * Si, image + ((size_t)ch * S + y) * S,
                       (size_t)S * sizeof(float));
        in = a->img;
    }
    in = qcopy(m, m->s_pe, in, 1, 3 * Si * Si);
    conv(m, pool, m->s_pe, in, 3, Si, Si, m->pe_w, m->pe_b, C, p, p, p, 0, a->tmp, a->cscr);
    size_t N = (size_t)H * H;
    for (size_t n = 0; n < N; n++)
        for (int ch = 0; ch < C; ch++)
            a->x[n * C + ch] = a->tmp[ch * N + n];
    kf_layernorm(pool, a->x, (int)N, C, m->pe_nw, m->pe_nb, LN_EPS_SWIN, a->x);
}

typedef struct {
    const lavt_model *m;
    const swin_stage *s;
    const swin_block_w *b;
    float *qkv;       /* [nW*N][3D], q already scaled */
    float *ao;        /* [nW*N][D] */
    float *slots;
    int nslots, total, N, shifted;
    lavt_act_hook fn; /* quantization hook for the softmax site, or NULL */
    void *ctx;
} attn_job;

/* Window attention for a range of job slots; slot t covers a contiguous range
** of (window, head) pairs and uses score buffer `begin` (distinct per chunk). */
static void attn_range(void *arg, int begin, int end)
{
    const attn_job *J = arg;
    const swin_stage *s = J->s;
    int N = J->N, D = s->D, nh = s->heads, dh = D / nh;
    float *sc = J->slots + (size_t)begin * N * N;
    for (int t = begin; t < end; t++) {
        int lo = (int)((long long)t * J->total / J->nslots);
        int hi = (int)((long long)(t + 1) * J->total / J->nslots);
        for (int wh = lo; wh < hi; wh++) {
            int win = wh / nh, h = wh % nh;
            float *q = J->qkv + (size_t)win * N * 3 * D + h * dh;
            /* slot `begin`: the chunk's own, as its score buffer */
            mm_product(J->m, NULL, begin, J->b->s_q, 1, q, 3 * D, N, dh, q + D, 3 * D, N, sc, N);
            const float *bias = J->b->bias + (size_t)h * N * N;
            const float *mk = J->shifted ? s->mask + (size_t)win * N * N : NULL;
            for (int i = 0; i < N * N; i++)
                sc[i] += bias[i] + (mk ? mk[i] : 0.0f);
            kf_softmax_rows(NULL, sc, N, N);
            if (J->fn)
                J->fn(J->ctx, J->b->s_sm, sc, N, N, N);
            mm_product(J->m, NULL, begin, J->b->s_sm, 0, sc, N, N, N, q + 2 * D, 3 * D, dh,
                       J->ao + (size_t)win * N * D + h * dh, D);
        }
    }
}

/* One Swin block on x [H*W][D], in place. */
static void swin_block(lavt_model *m, kt_pool *pool, const swin_stage *s, int j, float *x)
{
    lavt_arena *a = &m->a;
    const swin_block_w *b = &s->blk[j];
    int w = m->cfg.window_size, D = s->D, H = s->H, W = s->W, Hp = s->Hp, Wp = s->Wp;
    int sh = (j % 2 == 1) ? w / 2 : 0;
    int N = w * w, nWw = Wp / w, nW = (Hp / w) * nWw, M = nW * N;
    size_t rowb = (size_t)D * sizeof(float);

    /* norm1, then zero-pad to Hp x Wp: the padded tokens are zeros *after*
    ** norm1 and take part in attention as keys (official: no padding mask). */
    kf_layernorm(pool, x, H * W, D, b->norm1_w, b->norm1_b, LN_EPS_SWIN, a->tmp);
    /* Partition into windows of the rolled map. torch.roll(x, (-s, -s)) puts
    ** the token of (y, x) at ((y - s) mod Hp, (x - s) mod Wp), so window
    ** position (py, px) reads source ((py + s) mod Hp, (px + s) mod Wp). */
    for (int win = 0; win < nW; win++)
        for (int i = 0; i < N; i++) {
            int py = (win / nWw) * w + i / w, px = (win % nWw) * w + i % w;
            int sy = (py + sh) % Hp, sx = (px + sh) % Wp;
            float *dst = a->win + ((size_t)win * N + i) * D;
            if (sy < H && sx < W)
                memcpy(dst, a->tmp + ((size_t)sy * W + sx) * D, rowb);
            else
                memset(dst, 0, rowb);
        }
    qa(m, b->s_in, a->win, M, D, D);
    linear(m, pool, b->s_in, 0, M, 3 * D, D, a->win, D, b->qkv_w, b->qkv_b, a->qkv, 3 * D);
    float scale = powf((float)(D / s->heads), -0.5f); /* head_dim ** -0.5, applied to q */
    for (int r = 0; r < M; r++)
        for (int k = 0; k < D; k++)
            a->qkv[(size_t)r * 3 * D + k] *= scale;
    qa(m, b->s_q, a->qkv, M, D, 3 * D);
    qa(m, b->s_k, a->qkv + D, M, D, 3 * D);
    qa(m, b->s_v, a->qkv + 2 * D, M, D, 3 * D);

    attn_job job = { m, s, b, a->qkv, a->ao, a->slots, 0, nW * s->heads, N, sh > 0,
                     m->act_fn, m->act_ctx };
    int nt = kt_pool_threads(pool);
    job.nslots = nt < ATTN_SLOTS ? nt : ATTN_SLOTS;
    if (job.nslots > job.total)
        job.nslots = job.total;
    kt_parallel_for(pool, job.nslots, 1, attn_range, &job);

    qa(m, b->s_proj, a->ao, M, D, D);
    linear(m, pool, b->s_proj, 0, M, D, D, a->ao, D, b->proj_w, b->proj_b, a->win, D);
    /* reverse windows, roll back by (+s, +s), crop to H x W, residual */
    for (int win = 0; win < nW; win++)
        for (int i = 0; i < N; i++) {
            int py = (win / nWw) * w + i / w, px = (win % nWw) * w + i % w;
            int sy = (py + sh) % Hp, sx = (px + sh) % Wp;
            if (sy < H && sx < W)
                add_into(x + ((size_t)sy * W + sx) * D, a->win + ((size_t)win * N + i) * D,
                         (size_t)D);
        }

    /* x = x + fc2(GELU(fc1(norm2(x)))) */
    int HW = H * W;
    kf_layernorm(pool, x, HW, D, b->norm2_w, b->norm2_b, LN_EPS_SWIN, a->tmp);
    qa(m, b->s_mlp, a->tmp, HW, D, D);
    linear(m, pool, b->s_mlp, 0, HW, s->hid, D, a->tmp, D, b->fc1_w, b->fc1_b, a->hid, s->hid);
    gelu_linear(m, pool, b->s_gelu, HW, D, s->hid, a->hid, NULL, b->fc2_w, b->fc2_b, a->tmp, D);
    add_into(x, a->tmp, (size_t)HW * D);
}

/* PWAM + gated residual. x [HW][D] is updated in place; x_residual is left in
** a->xres. Scratch: a->win (vis), a->ao (query, then lang), a->qkv (attention). */
static void pwam(lavt_model *m, kt_pool *pool, const swin_stage *s, float *x)
{
    const lavt_config *c = &m->cfg;
    lavt_arena *a = &m->a;
    int D = s->D, HW = s->H * s->W, T = c->max_tokens, Lh = c->hidden_size;
    int nh = s->fheads, dh = D / nh;
    size_t n = (size_t)HW * D;
    float *vis = a->win, *q = a->ao, *att = a->qkv;

    /* vis = GELU(vis_project(x)), its GELU deferred to the product with lang
    ** below; 1x1 Conv1d weights [D][D][1] act as Linear */
    const float *xin = qcopy(m, s->s_fin, x, HW, D);
    linear(m, pool, s->s_fin, 0, HW, D, D, xin, D, s->vis_w, s->vis_b, vis, D);
    /* query = InstanceNorm1d(f_query(x)): each channel over the HW positions */
    linear(m, pool, s->s_fin, 1, HW, D, D, xin, D, s->q_w, s->q_b, q, D);
    kf_instnorm_cols(q, HW, D, IN_EPS);
    /* key/value from the words, zeroed at padding tokens */
    const float *tin = qcopy(m, s->s_ftext, a->t_h, T, Lh);
    linear(m, pool, s->s_ftext, 0, T, D, Lh, tin, Lh, s->k_w, s->k_b, a->key, D);
    linear(m, pool, s->s_ftext, 1, T, D, Lh, tin, Lh, s->v_w, s->v_b, a->val, D);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < D; k++) {
            a->key[(size_t)t * D + k] *= a->lmask[t];
            a->val[(size_t)t * D + k] *= a->lmask[t];
        }
    qa(m, s->s_fq, q, HW, D, D);
    qa(m, s->s_fk, a->key, T, D, D);
    qa(m, s->s_fv, a->val, T, D, D);
    /* Official scale is key_channels^-0.5 = D^-0.5 (not the head dim), applied
    ** after the product; padding words get 10000*mask - 10000 = -10000. */
    float scale = powf((float)D, -0.5f);
    for (int h = 0; h < nh; h++) {
        mm_product(m, pool, 0, s->s_fq, 1, q + h * dh, D, HW, dh, a->key + h * dh, D, T, a->sim, T);
        for (int i = 0; i < HW; i++)
            for (int t = 0; t < T; t++)
                a->sim[(size_t)i * T + t] =
                    a->sim[(size_t)i * T + t] * scale + (10000.0f * a->lmask[t] - 10000.0f);
        kf_softmax_rows(pool, a->sim, HW, T);
        qa(m, s->s_fsm, a->sim, HW, T, T);
        mm_product(m, pool, 0, s->s_fsm, 0, a->sim, T, HW, T, a->val + h * dh, D, dh, att + h * dh, D);
    }
    /* lang = InstanceNorm1d(W(att)) */
    if (m->act_fn) {
        /* Quantized execution sees the attention output centred per channel
        ** over the positions.  Exact: InstanceNorm after W removes W's
        ** per-channel mean, so W * mean(att) cancels.  It matters: att
        ** varies over positions ~50x less than its range (the sentence is
        ** the same for every pixel), so a per-tensor quantizer of the raw
        ** values keeps little but the mean. */
        for (int k = 0; k < D; k++) {
            double mu = 0;
            for (int i = 0; i < HW; i++)
                mu += att[(size_t)i * D + k];
            float fmu = (float)(mu / HW);
            for (int i = 0; i < HW; i++)
                att[(size_t)i * D + k] -= fmu;
        }
        qa(m, s->s_fout, att, HW, D, D);
    }
    linear(m, pool, s->s_fout, 0, HW, D, D, att, D, s->W_w, s->W_b, q, D);
    kf_instnorm_cols(q, HW, D, IN_EPS);
    /* x_residual = GELU(project_mm(GELU(vis) * lang)) */
    gelu_linear(m, pool, s->s_mm, HW, D, D, vis, q, s->mm_w, s->mm_b, a->xres, D);
    kf_gelu(pool, a->xres, n);
    /* x = x + tanh(res_gate.2(relu(res_gate.0(x_residual)))) * x_residual */
    linear(m, pool, s->s_ggelu, 0, HW, D, D, qcopy(m, s->s_ggelu, a->xres, HW, D), D, s->gate0_w,
           NULL, a->tmp, D);
    kf_relu(a->tmp, n);
    qa(m, s->s_grelu, a->tmp, HW, D, D);
    linear(m, pool, s->s_grelu, 0, HW, D, D, a->tmp, D, s->gate2_w, NULL, q, D);
    kf_tanh(q, n);
    for (size_t i = 0; i < n; i++)
        x[i] += q[i] * a->xres[i];
}

/* Stage output for the decoder: backbone.norm{i}(x_residual) as [D][H][W]. */
static void stage_output(lavt_model *m, kt_pool *pool, const swin_stage *s, float *y)
{
    lavt_arena *a = &m->a;
    size_t N = (size_t)s->H * s->W;
    int D = s->D;
    kf_layernorm(pool, a->xres, (int)N, D, s->out_w, s->out_b, LN_EPS_SWIN, a->tmp);
    for (size_t n = 0; n < N; n++)
        for (int k = 0; k < D; k++)
            y[(size_t)k * N + n] = a->tmp[n * D + k];
}

/* Patch merging: x [H*W][D] -> x [ceil(H/2)*ceil(W/2)][2D]. Odd sizes are
** zero-padded; channel order x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2]. */
static void patch_merging(lavt_model *m, kt_pool *pool, const swin_stage *s, float *x)
{
    lavt_arena *a = &m->a;
    int D = s->D, H = s->H, W = s->W, Hn = (H + 1) / 2, Wn = (W + 1) / 2;
    static const int dy[4] = { 0, 1, 0, 1 }, dx[4] = { 0, 0, 1, 1 };
    for (int y = 0; y < Hn; y++)
        for (int xx = 0; xx < Wn; xx++) {
            float *dst = a->hid + ((size_t)y * Wn + xx) * 4 * D;
            for (int q = 0; q < 4; q++) {
                int sy = 2 * y + dy[q], sx = 2 * xx + dx[q];
                if (sy < H && sx < W)
                    memcpy(dst + q * D, x + ((size_t)sy * W + sx) * D, (size_t)D * sizeof(float));
                else
                    memset(dst + q * D, 0, (size_t)D * sizeof(float));
            }
        }
    int Nn = Hn * Wn;
    kf_layernorm(pool, a->hid, Nn, 4 * D, s->ds_norm_w, s->ds_norm_b, LN_EPS_SWIN, a->hid);
    qa(m, s->s_merge, a->hid, Nn, 4 * D, 4 * D);
    linear(m, pool, s->s_merge, 0, Nn, 2 * D, 4 * D, a->hid, 4 * D, s->ds_red_w, NULL, x, 2 * D);
}

/* ------------------------------------------------------------------------ */
/* Forward: decoder                                                         */
/* ------------------------------------------------------------------------ */

/* SimpleDecoding on the stage outputs; logits at stage-0 resolution in a->small. */
static void decoder(lavt_model *m, kt_pool *pool)
{
    lavt_arena *a = &m->a;
    float *ys[4] = { a->y0, a->y1, a->y2, a->y3 };
    int h = m->dec_hidden;
    const float *x = ys[3];
    int cx = m->st[3].D, Hx = m->st[3].H, Wx = m->st[3].W;
    for (int lv = 0; lv < 3; lv++) {
        const dec_level *L = &m->dec[lv];
        const swin_stage *sy = &m->st[2 - lv];
        int Hy = sy->H, Wy = sy->W;
        size_t Ny = (size_t)Hy * Wy;
        /* upsample only when smaller (align_corners=True); it never is larger */
        if (Hx < Hy || Wx < Wy)
            kf_resize_bilinear(x, cx, Hx, Wx, a->cat, Hy, Wy, 1);
        else
            memcpy(a->cat, x, (size_t)cx * Ny * sizeof(float));
        memcpy(a->cat + (size_t)cx * Ny, ys[2 - lv], (size_t)sy->D * Ny * sizeof(float));
        qa(m, L->s_c1, a->cat, 1, L->cin * (int)Ny, L->cin * (int)Ny);
        conv(m, pool, L->s_c1, a->cat, L->cin, Hy, Wy, L->c1_w, L->b1, h, 3, 3, 1, 1, a->d1, a->cscr);
        kf_relu(a->d1, (size_t)h * Ny);
        qa(m, L->s_c2, a->d1, 1, h * (int)Ny, h * (int)Ny);
        conv(m, pool, L->s_c2, a->d1, h, Hy, Wy, L->c2_w, L->b2, h, 3, 3, 1, 1, a->d2, a->cscr);
        kf_relu(a->d2, (size_t)h * Ny);
        x = a->d2;
        cx = h;
        Hx = Hy;
        Wx = Wy;
    }
    qa(m, m->s_cls, a->d2, 1, h * Hx * Wx, h * Hx * Wx);
    conv(m, pool, m->s_cls, a->d2, h, Hx, Wx, m->cls_w, m->cls_b, m->cfg.num_classes, 1, 1, 1, 0,
         a->small, a->cscr);
}

int lavt_forward(lavt_model *m, kt_pool *pool, const float *image, const int32_t *ids,
                 const int32_t *mask, float *logits, char *err, size_t errlen)
{
    const lavt_config *c = &m->cfg;
    for (int t = 0; t < c->max_tokens; t++) {
        if (ids[t] < 0 || ids[t] >= c->vocab_size) {
            set_err(err, errlen, "%s: token id %d at position %d is outside the vocabulary [0, %d)",
                    c->name, (int)ids[t], t, c->vocab_size);
            return -1;
        }
        if (mask[t] != 0 && mask[t] != 1) {
            set_err(err, errlen, "%s: attention mask at position %d is %d (must be 0 or 1)",
                    c->name, t, (int)mask[t]);
            return -1;
        }
    }
    lavt_arena *a = &m->a;
    float *ys[4] = { a->y0, a->y1, a->y2, a->y3 };

    text_encoder(m, pool, ids, mask);
    patch_embed(m, pool, image);
    for (int i = 0; i < c->nstages; i++) {
        const swin_stage *s = &m->st[i];
        for (int j = 0; j < c->depths[i]; j++)
            swin_block(m, pool, s, j, a->x);
        pwam(m, pool, s, a->x);
        stage_output(m, pool, s, ys[i]);
        if (i < c->nstages - 1)
            patch_merging(m, pool, s, a->x);
    }
    decoder(m, pool);
    int H0 = m->st[0].H;
    kf_resize_bilinear(a->small, c->num_classes, H0, H0, logits, c->input_size, c->input_size, 1);
    return 0;
}
