/*
** safetensors: read-only, bounds-checked access to a .safetensors file.
**
** This module owns the mapping of the file, the parsing of its JSON header
** (with jansson, never by hand) and the validation of every tensor entry
** before anything is handed out. After st_open() succeeds, every st_tensor
** is safe to read: data .. data+nbytes lies inside the mapping and nbytes
** equals numel * element size for every dtype whose size is known.
**
** File layout:
**
**     [u64 LE N][N bytes of JSON header][byte buffer ...]
**
** Header: {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
** ..., "__metadata__": {"key": "value", ...}}. Offsets are relative to the
** start of the byte buffer, i.e. to file offset 8 + N.
**
** Tensor data may be unaligned (N need not be a multiple of 8, and offsets
** need not be multiples of the element size), so st_read_f32 assembles
** values byte by byte; callers reading st_tensor.data directly must use
** memcpy, not a cast.
**
** Tensors are listed by st_at() in buffer order (by begin offset, then by
** name); st_find() uses a name-sorted index and binary search.
*/
#include "models/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest header accepted. Real headers are a few hundred KB at most; the
** limit stops a corrupt length field from making us parse garbage for long. */
#define ST_MAX_HEADER (100u * 1000u * 1000u)

struct st_file {
    char *path;             /* copy of the path, for error messages */
    unsigned char *map;     /* the whole file, PROT_READ */
    size_t map_size;
    json_t *root;           /* parsed header; owns all name / dtype strings */
    int n;                  /* number of tensors */
    st_tensor *tensors;     /* n entries, buffer order */
    const st_tensor **by_name; /* n pointers into tensors, sorted by name */
};

/* One entry of the dtype table. */
typedef struct {
    const char *name;
    st_dtype dtype;
    size_t size;            /* bytes per element */
} st_dtype_info;

/* Known dtypes. The ones after I64 are not readable through this API
** (ST_OTHER) but their sizes are known, so their offsets are fully checked. */
static const st_dtype_info st_dtypes[] = {
    {"F32", ST_F32, 4},   {"F16", ST_F16, 2},     {"BF16", ST_BF16, 2},
    {"I8", ST_I8, 1},     {"U8", ST_U8, 1},       {"I32", ST_I32, 4},
    {"I64", ST_I64, 8},
    {"F64", ST_OTHER, 8}, {"I16", ST_OTHER, 2},   {"U16", ST_OTHER, 2},
    {"U32", ST_OTHER, 4}, {"U64", ST_OTHER, 8},   {"BOOL", ST_OTHER, 1},
    {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};

/* Format an error message into err (if any). Always returns -1 so that
** callers can write `return st_err(...)`. */
static int st_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Write shape as "[a, b, c]" into buf (truncated if too small). */
static void st_shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t used = 0;
    int i;
    if (len == 0) return;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, len, "[");
    for (i = 0; i < ndim && used < len; i++) {
        used += (size_t)snprintf(buf + used, len - used, "%s%lld",
                                 i ? ", " : "", (long long)shape[i]);
    }
    if (used < len) snprintf(buf + used, len - used, "]");
}

/* Validate one header entry and fill t. `buf_size` is the size of the byte
** buffer. On error writes a message naming the file and the tensor. */
static int st_parse_entry(const char *path, const char *name, json_t *ent,
                          const unsigned char *base, size_t buf_size,
                          st_tensor *t, char *err, size_t errlen)
{
    json_t *jd, *js, *jo, *jb, *je;
    const char *ds;
    size_t i, elem_size = 0;
    int known_size = 0;
    json_int_t begin, end;
    int64_t numel = 1;

    memset(t, 0, sizeof(*t));
    t->name = name;
    if (!json_is_object(ent))
        return st_err(err, errlen, "%s: tensor '%s': header entry is not a JSON "
                      "object (expected {\"dtype\", \"shape\", \"data_offsets\"})",
                      path, name);

    /* dtype */
    jd = json_object_get(ent, "dtype");
    if (!jd)
        return st_err(err, errlen, "%s: tensor '%s': missing \"dtype\" (expected "
                      "a string such as \"F32\")", path, name);
    if (!json_is_string(jd))
        return st_err(err, errlen, "%s: tensor '%s': \"dtype\" is not a string "
                      "(expected a string such as \"F32\")", path, name);
    ds = json_string_value(jd);
    t->dtype = ST_OTHER;
    for (i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++) {
        if (strcmp(ds, st_dtypes[i].name) == 0) {
            t->dtype = st_dtypes[i].dtype;
            elem_size = st_dtypes[i].size;
            known_size = 1;
            break;
        }
    }

    /* shape */
    js = json_object_get(ent, "shape");
    if (!js || !json_is_array(js))
        return st_err(err, errlen, "%s: tensor '%s': %s \"shape\" (expected an "
                      "array of non-negative integers)", path, name,
                      js ? "malformed" : "missing");
    if (json_array_size(js) > ST_MAX_DIMS)
        return st_err(err, errlen, "%s: tensor '%s': shape has %zu dimensions "
                      "(at most %d supported)", path, name,
                      json_array_size(js), ST_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    for (i = 0; i < json_array_size(js); i++) {
        json_t *jv = json_array_get(js, i);
        json_int_t d;
        if (!json_is_integer(jv))
            return st_err(err, errlen, "%s: tensor '%s': shape dimension %zu is "
                          "not an integer (expected a non-negative integer)",
                          path, name, i);
        d = json_integer_value(jv);
        if (d < 0)
            return st_err(err, errlen, "%s: tensor '%s': shape dimension %zu is "
                          "%lld (expected a non-negative integer)", path, name,
                          i, (long long)d);
        t->shape[i] = (int64_t)d;
        /* numel * d must not overflow int64 */
        if (d != 0 && numel > INT64_MAX / (int64_t)d)
            return st_err(err, errlen, "%s: tensor '%s': shape has too many "
                          "elements (product of dimensions overflows)", path, name);
        numel *= (int64_t)d;
    }
    t->numel = numel;

    /* data_offsets */
    jo = json_object_get(ent, "data_offsets");
    if (!jo || !json_is_array(jo) || json_array_size(jo) != 2
        || !json_is_integer(jb = json_array_get(jo, 0))
        || !json_is_integer(je = json_array_get(jo, 1)))
        return st_err(err, errlen, "%s: tensor '%s': %s \"data_offsets\" (expected "
                      "an array [begin, end] of two integers)", path, name,
                      jo ? "malformed" : "missing");
    begin = json_integer_value(jb);
    end = json_integer_value(je);
    if (begin < 0 || end < begin)
        return st_err(err, errlen, "%s: tensor '%s': data_offsets [%lld, %lld] "
                      "are invalid (expected 0 <= begin <= end)", path, name,
                      (long long)begin, (long long)end);
    if ((unsigned long long)end > (unsigned long long)buf_size)
        return st_err(err, errlen, "%s: tensor '%s': data_offsets [%lld, %lld] "
                      "exceed the %zu-byte buffer", path, name,
                      (long long)begin, (long long)end, buf_size);
    if (known_size) {
        /* numel * elem_size, overflow-checked against the buffer size */
        unsigned long long span = (unsigned long long)(end - begin);
        if ((uint64_t)numel > (uint64_t)SIZE_MAX / elem_size
            || (unsigned long long)numel * elem_size != span) {
            char sh[160];
            st_shape_str(sh, sizeof sh, t->ndim, t->shape);
            return st_err(err, errlen, "%s: tensor '%s': data_offsets [%lld, %lld] "
                          "span %llu bytes but shape %s of %s needs %lld x %zu "
                          "bytes", path, name, (long long)begin, (long long)end,
                          span, sh, ds, (long long)numel, elem_size);
        }
    }
    t->nbytes = (size_t)(end - begin);
    t->data = base + begin;
    return 0;
}

/* qsort comparators: tensors by position in the buffer (then name, so that
** the order is total even for empty tensors), pointers to tensors by name. */
static int st_cmp_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    const unsigned char *px = x->data, *py = y->data;
    if (px != py) return px < py ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int st_cmp_name(const void *a, const void *b)
{
    const st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

int st_open(const char *path, st_file **out, char *err, size_t errlen)
{
    st_file *f = NULL;
    struct stat sb;
    int fd = -1;
    uint64_t n_hdr = 0;
    size_t buf_size, n_entries, k;
    json_error_t jerr;
    json_t *meta;
    const char *key;
    json_t *val;
    const unsigned char *base;
    int i;

    if (out) *out = NULL;
    if (!path || !out) return st_err(err, errlen, "st_open: NULL argument");

    f = calloc(1, sizeof(*f));
    if (!f) return st_err(err, errlen, "%s: out of memory", path);
    f->path = strdup(path);
    if (!f->path) { free(f); return st_err(err, errlen, "%s: out of memory", path); }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fd, &sb) != 0) {
        st_err(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st_err(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if (sb.st_size < 8) {
        st_err(err, errlen, "%s: file is truncated: %lld bytes, too short for the "
               "8-byte header length (is this a .safetensors file?)",
               path, (long long)sb.st_size);
        goto fail;
    }
    if ((unsigned long long)sb.st_size > (unsigned long long)SIZE_MAX) {
        st_err(err, errlen, "%s: file too large to map", path);
        goto fail;
    }
    f->map_size = (size_t)sb.st_size;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        st_err(err, errlen, "%s: cannot mmap %zu bytes: %s", path, f->map_size,
               strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;

    /* Header length: u64 little-endian, assembled byte by byte. */
    for (k = 0; k < 8; k++) n_hdr |= (uint64_t)f->map[k] << (8 * k);
    if (n_hdr == 0) {
        st_err(err, errlen, "%s: header length is 0 (expected a JSON header of "
               "at least 2 bytes)", path);
        goto fail;
    }
    if (n_hdr > (uint64_t)(f->map_size - 8)) {
        st_err(err, errlen, "%s: header length %llu exceeds the %zu bytes that "
               "follow it (file truncated or not a .safetensors file)", path,
               (unsigned long long)n_hdr, f->map_size - 8);
        goto fail;
    }
    if (n_hdr > ST_MAX_HEADER) {
        st_err(err, errlen, "%s: header length %llu exceeds the %u-byte limit "
               "(corrupt file?)", path, (unsigned long long)n_hdr, ST_MAX_HEADER);
        goto fail;
    }
    buf_size = f->map_size - 8 - (size_t)n_hdr;
    base = f->map + 8 + n_hdr;

    f->root = json_loadb((const char *)f->map + 8, (size_t)n_hdr,
                         JSON_REJECT_DUPLICATES, &jerr);
    if (!f->root) {
        st_err(err, errlen, "%s: invalid JSON header (line %d, column %d): %s",
               path, jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(f->root)) {
        st_err(err, errlen, "%s: JSON header is not an object (expected "
               "{\"tensor name\": {...}, ...})", path);
        goto fail;
    }

    meta = json_object_get(f->root, "__metadata__");
    if (meta && !json_is_object(meta)) {
        st_err(err, errlen, "%s: \"__metadata__\" is not an object (expected "
               "{\"key\": \"string value\", ...})", path);
        goto fail;
    }

    n_entries = json_object_size(f->root) - (meta ? 1 : 0);
    if (n_entries > (size_t)INT32_MAX) {
        st_err(err, errlen, "%s: too many tensors (%zu)", path, n_entries);
        goto fail;
    }
    f->tensors = calloc(n_entries ? n_entries : 1, sizeof(*f->tensors));
    f->by_name = calloc(n_entries ? n_entries : 1, sizeof(*f->by_name));
    if (!f->tensors || !f->by_name) {
        st_err(err, errlen, "%s: out of memory for %zu tensors", path, n_entries);
        goto fail;
    }

    json_object_foreach(f->root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if (st_parse_entry(path, key, val, base, buf_size, &f->tensors[f->n],
                           err, errlen) != 0)
            goto fail;
        f->n++;
    }

    /* Buffer order; then check that no two non-empty tensors overlap. */
    qsort(f->tensors, (size_t)f->n, sizeof(*f->tensors), st_cmp_offset);
    {
        const st_tensor *prev = NULL;
        for (i = 0; i < f->n; i++) {
            const st_tensor *t = &f->tensors[i];
            const unsigned char *b = t->data;
            if (t->nbytes == 0) continue;
            if (prev && b < (const unsigned char *)prev->data + prev->nbytes) {
                size_t tb = (size_t)(b - base), pb = (size_t)((const unsigned char *)prev->data - base);
                st_err(err, errlen, "%s: tensor '%s': data_offsets [%zu, %zu] "
                       "overlap those of tensor '%s' [%zu, %zu] (expected "
                       "disjoint byte ranges)", path, t->name, tb,
                       tb + t->nbytes, prev->name, pb, pb + prev->nbytes);
                goto fail;
            }
            prev = t;
        }
    }
    for (i = 0; i < f->n; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, (size_t)f->n, sizeof(*f->by_name), st_cmp_name);

    *out = f;
    return 0;

fail:
    if (fd >= 0) close(fd);
    st_close(f);
    return -1;
}

void st_close(st_file *f)
{
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    if (f->root) json_decref(f->root);
    free(f->tensors);
    free(f->by_name);
    free(f->path);
    free(f);
}

int st_count(const st_file *f)
{
    return f ? f->n : 0;
}

const st_tensor *st_at(const st_file *f, int i)
{
    if (!f || i < 0 || i >= f->n) return NULL;
    return &f->tensors[i];
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    int lo = 0, hi;
    if (!f || !name) return NULL;
    hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const st_tensor *t = f->by_name[mid];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *st_metadata(const st_file *f, const char *key)
{
    json_t *meta, *v;
    if (!f || !key) return NULL;
    meta = json_object_get(f->root, "__metadata__");
    if (!meta) return NULL;
    v = json_object_get(meta, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* IEEE half -> float, exact for every input (subnormals, +-0, inf, NaN
** payloads). Built from bits so that it does not depend on compiler support
** for _Float16. */
static float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    float out;

    if (exp == 0) {
        if (mant == 0) {
            bits = sign;                                 /* +-0 */
        } else {
            /* Subnormal: value = mant * 2^-24. Normalise so that the leading
            ** 1 moves to bit 10; each shift lowers the exponent by one. */
            int e = -1;
            do { mant <<= 1; e++; } while ((mant & 0x400) == 0);
            mant &= 0x3ff;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);        /* inf / NaN */
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    memcpy(&out, &bits, sizeof out);
    return out;
}

static float st_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

/* The dtype string of tensor t as written in the file (validated to be a
** string by st_open). */
static const char *st_dtype_name(const st_file *f, const st_tensor *t)
{
    return json_string_value(json_object_get(json_object_get(f->root, t->name),
                                             "dtype"));
}

int st_read_f32(const st_file *f, const char *name, int ndim,
                const int64_t *shape, float **out, char *err, size_t errlen)
{
    const st_tensor *t;
    const unsigned char *p;
    float *dst;
    int64_t i;

    if (out) *out = NULL;
    if (!f || !name || !out) return st_err(err, errlen, "st_read_f32: NULL argument");
    t = st_find(f, name);
    if (!t)
        return st_err(err, errlen, "%s: tensor '%s' not found (the file has %d "
                      "tensors)", f->path, name, f->n);
    if (ndim >= 0) {
        int same = (ndim == t->ndim) && (ndim == 0 || shape != NULL);
        for (i = 0; same && i < ndim; i++)
            if (shape[i] != t->shape[i]) same = 0;
        if (!same) {
            char want[160], have[160];
            if (shape || ndim == 0)
                st_shape_str(want, sizeof want, ndim > ST_MAX_DIMS ? ST_MAX_DIMS
                             : ndim, shape);
            else
                snprintf(want, sizeof want, "(rank %d, no shape given)", ndim);
            st_shape_str(have, sizeof have, t->ndim, t->shape);
            return st_err(err, errlen, "%s: tensor '%s': shape %s in the file, "
                          "expected %s", f->path, name, have, want);
        }
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return st_err(err, errlen, "%s: tensor '%s': dtype %s cannot be read as "
                      "f32 (expected F32, F16 or BF16)", f->path, name,
                      st_dtype_name(f, t));
    if ((uint64_t)t->numel > (uint64_t)(SIZE_MAX / sizeof(float)))
        return st_err(err, errlen, "%s: tensor '%s': too large", f->path, name);

    dst = malloc(t->numel ? (size_t)t->numel * sizeof(float) : 1);
    if (!dst)
        return st_err(err, errlen, "%s: tensor '%s': out of memory for %lld floats",
                      f->path, name, (long long)t->numel);
    p = t->data;
    switch (t->dtype) {
    case ST_F32:
        for (i = 0; i < t->numel; i++, p += 4) {
            uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8
                       | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&dst[i], &b, sizeof b);
        }
        break;
    case ST_F16:
        for (i = 0; i < t->numel; i++, p += 2)
            dst[i] = st_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        break;
    default: /* ST_BF16 */
        for (i = 0; i < t->numel; i++, p += 2)
            dst[i] = st_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        break;
    }
    *out = dst;
    return 0;
}
