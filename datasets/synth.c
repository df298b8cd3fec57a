/*
** synth: the procedural referring dataset (see synth.h).
**
** Each image i is generated from its own PRNG stream seeded by (seed, i), so
** images are independent of `count` and of generation order. Rendering and
** every geometric test use integers only: shapes are tested against integer
** formulas and the star polygon is a fixed table. No libm, no floating point.
**
** Referring expressions are built from the scene *semantics*, not from text:
** an expression is (descriptor, optional position or relation), its referent
** set is computed over all objects, and it is kept only when that set is
** exactly the target.
*/
#include "datasets/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- PRNG --- */

typedef struct rng { uint64_t s; } rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (multiply-shift; the bias for small n is < 2^-32). */
static int rng_int(rng *r, int n)
{
    return (int)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static int rng_range(rng *r, int lo, int hi) /* inclusive */
{
    return lo + rng_int(r, hi - lo + 1);
}

/* Percent chance. */
static int rng_pct(rng *r, int pct) { return rng_int(r, 100) < pct; }

static const char *pick(rng *r, const char *const *v, int n) { return v[rng_int(r, n)]; }

/* --------------------------------------------------------- vocabulary --- */

enum { NCOLOURS = 8, NSHAPES = 6, NSIZES = 2 };

static const uint8_t colour_rgb[NCOLOURS][3] = {
    {220, 40, 40}, {40, 175, 60}, {45, 85, 230}, {240, 220, 45},
    {150, 60, 205}, {250, 140, 30}, {40, 210, 220}, {250, 125, 195}
};
/* Synonyms; the first entry is the canonical word. */
static const char *const colour_syn[NCOLOURS][2] = {
    {"red", "red"}, {"green", "green"}, {"blue", "blue"}, {"yellow", "yellow"},
    {"purple", "violet"}, {"orange", "orange"}, {"cyan", "cyan"}, {"pink", "pink"}
};

enum { SH_CIRCLE, SH_SQUARE, SH_TRIANGLE, SH_DIAMOND, SH_CROSS, SH_STAR };
static const char *const shape_syn[NSHAPES][3] = {
    {"circle", "disc", "circle"},
    {"square", "box", "square"},
    {"triangle", "triangle", "triangle"},
    {"diamond", "rhombus", "diamond"},
    {"cross", "plus sign", "cross"},
    {"star", "star", "star"},
};
static const char *const size_syn[NSIZES][3] = {
    {"small", "little", "tiny"},
    {"large", "big", "large"},
};
static const char *const generic_noun[] = {"one", "object", "shape", "thing"};

enum { POS_LEFT, POS_RIGHT, POS_TOP, POS_BOTTOM, POS_MIDDLE, NPOS };
static const char *const pos_syn[NPOS][3] = {
    {"on the left", "at the left", "on the left side"},
    {"on the right", "at the right", "on the right side"},
    {"at the top", "on top", "in the upper part"},
    {"at the bottom", "at the bottom", "in the lower part"},
    {"in the middle", "in the center", "in the centre"},
};

enum { REL_LEFT, REL_RIGHT, REL_ABOVE, REL_BELOW, NREL };
static const char *const rel_syn[NREL][3] = {
    {"left of", "to the left of", "on the left of"},
    {"right of", "to the right of", "on the right of"},
    {"above", "over", "above"},
    {"below", "under", "beneath"},
};

/* ------------------------------------------------------------- scenes --- */

#define MAX_OBJECTS 6

typedef struct object {
    int colour, shape, size;
    int cx, cy, r;          /* centre and radius in pixels */
    int area;               /* pixels when unoccluded */
    int visible;            /* pixels visible in the final image */
    int vx, vy;             /* centroid of the visible pixels, pixels */
} object;

typedef struct scene {
    int n;
    object obj[MAX_OBJECTS];
    uint8_t *label;         /* [size][size]: 0 background, k+1 object k */
} scene;

/* Star outline, radius 1000, starting at the top point, clockwise. */
static const int star_xy[10][2] = {
    {0, -1000}, {235, -324}, {951, -309}, {380, 124}, {588, 809},
    {0, 400}, {-588, 809}, {-380, 124}, {-951, -309}, {-235, -324}
};

static int iabs(int v) { return v < 0 ? -v : v; }

/* Is the pixel at offset (dx, dy) from the centre inside a shape of radius R? */
static int inside(int shape, int dx, int dy, int R)
{
    int ax = iabs(dx), ay = iabs(dy);
    switch (shape) {
    case SH_CIRCLE:
        return (int64_t)dx * dx + (int64_t)dy * dy <= (int64_t)R * R;
    case SH_SQUARE:   /* side 1.6 R: similar area to the circle */
        return 5 * ax <= 4 * R && 5 * ay <= 4 * R;
    case SH_DIAMOND:
        return ax + ay <= R;
    case SH_TRIANGLE: /* apex (0,-R), base at dy = 3R/4, half-width 4(dy+R)/7 */
        return 4 * dy <= 3 * R && 7 * ax <= 4 * (dy + R);
    case SH_CROSS:    /* arms of width 2R/3 */
        return (3 * ax <= R && ay <= R) || (3 * ay <= R && ax <= R);
    case SH_STAR: {   /* even-odd crossing test against the scaled polygon */
        int in = 0;
        for (int i = 0, j = 9; i < 10; j = i++) {
            int64_t xi = (int64_t)star_xy[i][0] * R, yi = (int64_t)star_xy[i][1] * R;
            int64_t xj = (int64_t)star_xy[j][0] * R, yj = (int64_t)star_xy[j][1] * R;
            int64_t px = (int64_t)dx * 1000, py = (int64_t)dy * 1000;
            if ((yi > py) != (yj > py)) {
                /* px < xi + (py - yi) (xj - xi) / (yj - yi), sign-safe */
                int64_t lhs = (px - xi) * (yj - yi), rhs = (py - yi) * (xj - xi);
                if (yj - yi > 0 ? lhs < rhs : lhs > rhs) in = !in;
            }
        }
        return in;
    }
    }
    return 0;
}

static int in_object(const object *o, int x, int y)
{
    return inside(o->shape, x - o->cx, y - o->cy, o->r);
}

static uint8_t clamp8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Textured, low-saturation background so the saturated object colours stand
** out but edges are not trivially clean. */
static void draw_background(rng *r, uint8_t *rgb, int P)
{
    int kind = rng_int(r, 4);
    int base[2][3];
    for (int k = 0; k < 2; k++) {
        int g = rng_range(r, 70, 190);
        for (int c = 0; c < 3; c++) base[k][c] = g + rng_range(r, -22, 22);
    }
    int period = rng_range(r, 3, 9), orient = rng_int(r, 3), noise = rng_range(r, 6, 28);
    for (int y = 0; y < P; y++) {
        for (int x = 0; x < P; x++) {
            int t;   /* 0..256 mix between the two base colours */
            switch (kind) {
            case 0: t = 0; break;                                    /* noise */
            case 1: {                                                /* stripes */
                int u = orient == 0 ? x : orient == 1 ? y : x + y;
                t = (u / period) % 2 ? 256 : 0;
                break;
            }
            case 2: t = ((x / period) + (y / period)) % 2 ? 256 : 0; break; /* checker */
            default: t = (orient == 1 ? y : x) * 256 / (P - 1); break;     /* gradient */
            }
            uint8_t *px = rgb + 3 * ((size_t)y * P + x);
            for (int c = 0; c < 3; c++) {
                int v = (base[0][c] * (256 - t) + base[1][c] * t) / 256;
                px[c] = clamp8(v + rng_range(r, -noise, noise));
            }
        }
    }
}

/* Rasterise object k over the label map (on top of what is there). */
static void stamp(scene *s, int k, int P)
{
    const object *o = &s->obj[k];
    for (int y = o->cy - o->r - 1; y <= o->cy + o->r + 1; y++) {
        if (y < 0 || y >= P) continue;
        for (int x = o->cx - o->r - 1; x <= o->cx + o->r + 1; x++) {
            if (x < 0 || x >= P) continue;
            if (in_object(o, x, y)) s->label[(size_t)y * P + x] = (uint8_t)(k + 1);
        }
    }
}

static int count_full_area(const object *o)
{
    int a = 0;
    for (int dy = -o->r - 1; dy <= o->r + 1; dy++)
        for (int dx = -o->r - 1; dx <= o->r + 1; dx++)
            if (inside(o->shape, dx, dy, o->r)) a++;
    return a;
}

static void update_visibility(scene *s, int P)
{
    long sx[MAX_OBJECTS] = {0}, sy[MAX_OBJECTS] = {0};
    for (int k = 0; k < s->n; k++) s->obj[k].visible = 0;
    for (int y = 0; y < P; y++)
        for (int x = 0; x < P; x++) {
            int l = s->label[(size_t)y * P + x];
            if (!l) continue;
            s->obj[l - 1].visible++;
            sx[l - 1] += x;
            sy[l - 1] += y;
        }
    for (int k = 0; k < s->n; k++) {
        object *o = &s->obj[k];
        o->vx = o->visible ? (int)(sx[k] / o->visible) : o->cx;
        o->vy = o->visible ? (int)(sy[k] / o->visible) : o->cy;
    }
}

/* Place objects one by one; a placement is accepted when every earlier object
** keeps at least 55% of its pixels visible. */
static void make_scene(rng *r, scene *s, int P, int difficulty)
{
    int lo = difficulty == 0 ? 2 : difficulty == 1 ? 2 : 4;
    int hi = difficulty == 0 ? 4 : 6;
    int want = rng_range(r, lo, hi);
    int dup_pct = difficulty == 0 ? 10 : difficulty == 1 ? 45 : 70;
    int rad[NSIZES] = { P * 6 / 64, P * 10 / 64 };
    if (rad[0] < 3) rad[0] = 3;
    if (rad[1] < rad[0] + 2) rad[1] = rad[0] + 2;

    memset(s->label, 0, (size_t)P * P);
    s->n = 0;
    uint8_t *saved = malloc((size_t)P * P);
    if (!saved) return;   /* scene stays empty; caller reports it */
    for (int tries = 0; s->n < want && tries < 200; tries++) {
        object o;
        if (s->n > 0 && rng_pct(r, dup_pct)) {
            /* Copy two of three attributes of an earlier object so that
            ** positions and relations become necessary to disambiguate. */
            const object *src = &s->obj[rng_int(r, s->n)];
            o.colour = src->colour; o.shape = src->shape; o.size = src->size;
            switch (rng_int(r, 3)) {
            case 0: o.colour = rng_int(r, NCOLOURS); break;
            case 1: o.size = rng_int(r, NSIZES); break;
            default: break;   /* an exact twin: only position tells them apart */
            }
        } else {
            o.colour = rng_int(r, NCOLOURS);
            o.shape = rng_int(r, NSHAPES);
            o.size = rng_int(r, NSIZES);
        }
        o.r = rad[o.size];
        o.cx = rng_range(r, o.r + 1, P - o.r - 2);
        o.cy = rng_range(r, o.r + 1, P - o.r - 2);
        o.area = count_full_area(&o);

        memcpy(saved, s->label, (size_t)P * P);
        int k = s->n;
        s->obj[k] = o;
        s->n++;
        stamp(s, k, P);
        update_visibility(s, P);
        int ok = 1;
        for (int j = 0; j < k; j++)
            if (s->obj[j].visible * 100 < s->obj[j].area * 55) ok = 0;
        if (!ok) {
            s->n--;
            memcpy(s->label, saved, (size_t)P * P);
            update_visibility(s, P);
        }
    }
    free(saved);
}

static void render(rng *r, const scene *s, uint8_t *rgb, int P)
{
    draw_background(r, rgb, P);
    int jit[MAX_OBJECTS][3];
    for (int k = 0; k < s->n; k++)
        for (int c = 0; c < 3; c++) jit[k][c] = rng_range(r, -18, 18);
    for (int y = 0; y < P; y++)
        for (int x = 0; x < P; x++) {
            int l = s->label[(size_t)y * P + x];
            if (!l) continue;
            const object *o = &s->obj[l - 1];
            /* A soft vertical shading: brighter at the top of the object. */
            int shade = 16 * (o->cy - y) / (o->r + 1);
            uint8_t *px = rgb + 3 * ((size_t)y * P + x);
            for (int c = 0; c < 3; c++)
                px[c] = clamp8(colour_rgb[o->colour][c] + jit[l - 1][c] + shade +
                               rng_range(r, -8, 8));
        }
}

/* ------------------------------------------------------- expressions --- */

/* Descriptor bits: which attributes a phrase names. The shape is named unless
** D_NOSHAPE (then a generic noun is used: "the red one"). */
enum { D_COLOUR = 1, D_SIZE = 2, D_NOSHAPE = 4 };

typedef struct expr {
    int kind;            /* 0 plain, 1 absolute position, 2 relation */
    int desc;            /* descriptor bits for the target */
    int pos;             /* POS_* */
    int rel, landmark, ldesc;
} expr;

static int matches(const object *o, const object *t, int desc)
{
    if ((desc & D_COLOUR) && o->colour != t->colour) return 0;
    if ((desc & D_SIZE) && o->size != t->size) return 0;
    if (!(desc & D_NOSHAPE) && o->shape != t->shape) return 0;
    return 1;
}

/* Objects that can be referred to: most of them visible. */
static int referable(const object *o) { return o->visible * 100 >= o->area * 55; }

static int match_set(const scene *s, const object *t, int desc, int *set)
{
    int n = 0;
    for (int k = 0; k < s->n; k++)
        if (matches(&s->obj[k], t, desc)) set[n++] = k;
    return n;
}

/* Does `a` stand in relation `rel` to `b`? A margin keeps it unambiguous. */
static int related(const object *a, const object *b, int rel, int m)
{
    switch (rel) {
    case REL_LEFT: return a->vx + m <= b->vx;
    case REL_RIGHT: return a->vx >= b->vx + m;
    case REL_ABOVE: return a->vy + m <= b->vy;
    default: return a->vy >= b->vy + m;
    }
}

/* Is object `t` the one singled out by position `pos` among set[n]? */
static int position_unique(const scene *s, const int *set, int n, int t, int pos, int P)
{
    int m = P / 8;
    for (int i = 0; i < n; i++) {
        int k = set[i];
        if (k == t) continue;
        const object *a = &s->obj[t], *b = &s->obj[k];
        int ok;
        switch (pos) {
        case POS_LEFT: ok = a->vx + m <= b->vx; break;
        case POS_RIGHT: ok = a->vx >= b->vx + m; break;
        case POS_TOP: ok = a->vy + m <= b->vy; break;
        case POS_BOTTOM: ok = a->vy >= b->vy + m; break;
        default: {
            int c = P / 2;
            long da = (long)(a->vx - c) * (a->vx - c) + (long)(a->vy - c) * (a->vy - c);
            long db = (long)(b->vx - c) * (b->vx - c) + (long)(b->vy - c) * (b->vy - c);
            ok = 4 * da <= db && da * 16 <= (long)P * P;   /* twice as close, near centre */
            break;
        }
        }
        if (!ok) return 0;
    }
    return 1;
}

/* Collect every valid expression for target t. */
static int candidates(const scene *s, int t, int P, expr *out, int cap)
{
    static const int descs[] = {0, D_COLOUR, D_SIZE, D_COLOUR | D_SIZE,
                                D_COLOUR | D_NOSHAPE, D_COLOUR | D_SIZE | D_NOSHAPE};
    const int ndesc = (int)(sizeof descs / sizeof descs[0]);
    int n = 0, set[MAX_OBJECTS];
    const object *to = &s->obj[t];
    for (int d = 0; d < ndesc; d++) {
        int ns = match_set(s, to, descs[d], set);
        if (ns == 1) {
            if (n < cap) out[n++] = (expr){0, descs[d], 0, 0, -1, 0};
            continue;
        }
        for (int pos = 0; pos < NPOS; pos++)
            if (ns <= 3 && position_unique(s, set, ns, t, pos, P) && n < cap)
                out[n++] = (expr){1, descs[d], pos, 0, -1, 0};
        /* Relations to a landmark that is itself named uniquely. */
        for (int l = 0; l < s->n; l++) {
            if (l == t || !referable(&s->obj[l])) continue;
            int ld = -1, lset[MAX_OBJECTS];
            for (int e = 0; e < ndesc && ld < 0; e++)
                if (!(descs[e] & D_NOSHAPE) && match_set(s, &s->obj[l], descs[e], lset) == 1)
                    ld = descs[e];
            if (ld < 0) continue;
            for (int rel = 0; rel < NREL; rel++) {
                int hits = 0, hit_t = 0;
                for (int i = 0; i < ns; i++)
                    if (set[i] != l && related(&s->obj[set[i]], &s->obj[l], rel, P / 16)) {
                        hits++;
                        hit_t |= set[i] == t;
                    }
                if (hits == 1 && hit_t && n < cap)
                    out[n++] = (expr){2, descs[d], 0, rel, l, ld};
            }
        }
    }
    return n;
}

typedef struct sbuf { char s[256]; size_t n; } sbuf;

static void put(sbuf *b, const char *w)
{
    if (b->n && b->n + 1 < sizeof b->s) b->s[b->n++] = ' ';
    size_t l = strlen(w);
    if (b->n + l >= sizeof b->s) l = sizeof b->s - 1 - b->n;
    memcpy(b->s + b->n, w, l);
    b->n += l;
    b->s[b->n] = 0;
}

static void put_phrase(rng *r, sbuf *b, const object *o, int desc)
{
    if (desc & D_SIZE) put(b, pick(r, size_syn[o->size], 3));
    if (desc & D_COLOUR) put(b, pick(r, colour_syn[o->colour], 2));
    if (desc & D_NOSHAPE) put(b, pick(r, generic_noun, 4));
    else put(b, pick(r, shape_syn[o->shape], 3));
}

static char *say(rng *r, const scene *s, int t, const expr *e)
{
    sbuf b = {{0}, 0};
    int lead = rng_int(r, 100);
    if (lead < 12) put(&b, "find the");
    else if (lead < 20) put(&b, "segment the");
    else if (lead < 88) put(&b, "the");
    put_phrase(r, &b, &s->obj[t], e->desc);
    if (e->kind == 1) {
        put(&b, pick(r, pos_syn[e->pos], 3));
    } else if (e->kind == 2) {
        put(&b, pick(r, rel_syn[e->rel], 3));
        put(&b, "the");
        put_phrase(r, &b, &s->obj[e->landmark], e->ldesc);
    }
    return strdup(b.s);
}

/* Pick an expression: plain ones are always possible when the descriptor is
** unique, so weight kinds by difficulty to keep positions and relations
** frequent enough to matter. */
static const expr *choose(rng *r, const expr *c, int n, int difficulty)
{
    static const int weight[3][3] = {{100, 0, 0}, {50, 25, 25}, {20, 40, 40}};
    int byk[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) byk[c[i].kind]++;
    int tot = 0;
    for (int k = 0; k < 3; k++) if (byk[k]) tot += weight[difficulty][k];
    if (tot == 0) return NULL;
    int u = rng_int(r, tot), kind = 0;
    for (int k = 0; k < 3; k++) {
        if (!byk[k]) continue;
        if (u < weight[difficulty][k]) { kind = k; break; }
        u -= weight[difficulty][k];
    }
    int j = rng_int(r, byk[kind]);
    for (int i = 0; i < n; i++)
        if (c[i].kind == kind && j-- == 0) return &c[i];
    return NULL;
}

/* ------------------------------------------------------------- public --- */

void synth_defaults(synth_params *p)
{
    p->seed = 7;
    p->count = 500;
    p->size = 64;
    p->difficulty = 1;
}

int synth_check(const synth_params *p, char *err, size_t errlen)
{
    if (p->seed > (uint64_t)INT64_MAX) {
        snprintf(err, errlen, "synth seed %llu out of range: expected 0..2^63-1",
                 (unsigned long long)p->seed);
        return -1;
    }
    if (p->count < 1 || p->count > SYNTH_MAX_COUNT) {
        snprintf(err, errlen, "synth count %d out of range: expected 1..%d", p->count, SYNTH_MAX_COUNT);
        return -1;
    }
    if (p->size < SYNTH_MIN_SIZE || p->size > SYNTH_MAX_SIZE) {
        snprintf(err, errlen, "synth size %d out of range: expected %d..%d pixels",
                 p->size, SYNTH_MIN_SIZE, SYNTH_MAX_SIZE);
        return -1;
    }
    if (p->difficulty < 0 || p->difficulty > 2) {
        snprintf(err, errlen, "synth difficulty %d out of range: expected 0, 1 or 2", p->difficulty);
        return -1;
    }
    return 0;
}

int synth_generate(const synth_params *p, const char *split, ds_dataset **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (synth_check(p, err, errlen)) return -1;
    const int P = p->size;
    char name[96];
    snprintf(name, sizeof name, "synth-s%llu-n%d-p%d-d%d",
             (unsigned long long)p->seed, p->count, P, p->difficulty);
    ds_dataset *d = ds_new(name, split ? split : "val");
    scene s;
    s.label = malloc((size_t)P * P);
    if (!d || !s.label) goto oom;
    if (!(d->version = strdup("1")) || !(d->licence = strdup("CC0-1.0")) ||
        !(d->source = strdup("risq synthetic referring generator v1"))) goto oom;
    d->gen_seed = (int64_t)p->seed;
    d->gen_count = p->count;
    d->gen_size = P;
    d->gen_difficulty = p->difficulty;

    for (int i = 0; i < p->count; i++) {
        rng r = { p->seed * 0xD1342543DE82EF95ull + (uint64_t)i * 0x9E3779B97F4A7C15ull + 1 };
        rng_next(&r);
        make_scene(&r, &s, P, p->difficulty);
        uint8_t *rgb = malloc((size_t)P * P * 3);
        if (!rgb) goto oom;
        render(&r, &s, rgb, P);
        int img = ds_add_image(d, P, P, rgb);
        if (img < 0) goto oom;

        /* Up to three referred objects per image, in a random order. */
        int order[MAX_OBJECTS];
        for (int k = 0; k < s.n; k++) order[k] = k;
        for (int k = s.n - 1; k > 0; k--) {
            int j = rng_int(&r, k + 1), t = order[k];
            order[k] = order[j];
            order[j] = t;
        }
        int nref = 0;
        for (int oi = 0; oi < s.n && nref < 3; oi++) {
            int t = order[oi];
            if (!referable(&s.obj[t])) continue;
            expr cand[256];
            int nc = candidates(&s, t, P, cand, 256);
            const expr *e1 = choose(&r, cand, nc, p->difficulty);
            if (!e1) continue;
            const expr *e2 = choose(&r, cand, nc, p->difficulty);
            char **sent = malloc(2 * sizeof *sent);
            uint8_t *mask = malloc((size_t)P * P);
            if (!sent || !mask) { free(sent); free(mask); goto oom; }
            sent[0] = say(&r, &s, t, e1);
            sent[1] = say(&r, &s, t, e2);
            for (size_t q = 0; q < (size_t)P * P; q++) mask[q] = s.label[q] == t + 1;
            if (!sent[0] || !sent[1] || ds_add_sample(d, img, mask, 2, sent) < 0) goto oom;
            nref++;
        }
    }
    free(s.label);
    *out = d;
    return 0;
oom:
    free(s.label);
    ds_free(d);
    snprintf(err, errlen, "out of memory generating %d synthetic images of %dx%d", p->count, P, P);
    return -1;
}
