/*
** test_safetensors: the safetensors reader on files written by this test.
**
** Writes a valid file (F32, F16 with subnormals/inf/-0/NaN, BF16, I8, F64,
** a scalar, an empty tensor, __metadata__; header length deliberately odd so
** that tensor data is unaligned) into a mkdtemp directory, checks every
** field and conversion, then a catalogue of corrupt files, each of which
** must be rejected with a message containing an expected substring.
** One line per check; exit 1 on any failure.
*/
#include "models/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
static char dir[64];

static void check(int ok, const char *what, const char *detail)
{
    printf("%s - %s%s%s\n", ok ? "ok" : "FAIL", what, detail ? ": " : "",
           detail ? detail : "");
    if (!ok) failures++;
}

/* Write raw bytes to dir/name; returns the path in a static buffer. */
static const char *write_raw(const char *name, const void *bytes, size_t len)
{
    static char path[128];
    FILE *fp;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fp = fopen(path, "wb");
    if (!fp || fwrite(bytes, 1, len, fp) != len) {
        printf("FAIL - cannot write %s\n", path);   /* later checks fail too */
        failures++;
    }
    if (fp) fclose(fp);
    return path;
}

/* Write a safetensors file: u64 LE header length, the header, the data. */
static const char *write_st(const char *name, const char *header,
                            const void *data, size_t datalen)
{
    size_t n = strlen(header), i;
    unsigned char *buf = malloc(8 + n + datalen + 1);
    const char *path;
    for (i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    if (datalen) memcpy(buf + 8 + n, data, datalen);
    path = write_raw(name, buf, 8 + n + datalen);
    free(buf);
    return path;
}

static uint32_t f32_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* Expect st_open(path) to fail with a message containing `want`. */
static void expect_open_fail(const char *what, const char *path, const char *want)
{
    st_file *f = (st_file *)1;
    char err[512] = "";
    char msg[1024];
    int rc = st_open(path, &f, err, sizeof err);
    snprintf(msg, sizeof msg, "%s (want \"%s\")", rc ? err : "opened", want);
    check(rc == -1 && f == NULL && strstr(err, want) != NULL, what, msg);
    if (rc == 0) st_close(f);
}

/* Write a corrupt file with the given header + data and expect failure. */
static void corrupt(const char *what, const char *header, size_t datalen,
                    const char *want)
{
    static const unsigned char zeros[64];
    const char *path = write_st("corrupt.safetensors", header, zeros, datalen);
    expect_open_fail(what, path, want);
}

static void test_valid(void)
{
    /* Buffer layout (offsets relative to the buffer):
    **   w32  F32 [2,3]   0..24
    **   h16  F16 [9]    24..42
    **   b16  BF16 [2,2] 42..50
    **   i8   I8 [3]     50..53
    **   f64  F64 [1]    53..61
    **   sc   F32 []     61..65
    **   emp  F32 [0,4]  65..65 */
    static const char *header =
        "{\"__metadata__\": {\"format\": \"pt\", \"model\": \"lavt-test\", \"n\": \"3\"},"
        " \"w32\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
        " \"h16\": {\"dtype\": \"F16\", \"shape\": [9], \"data_offsets\": [24, 42]},"
        " \"b16\": {\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [42, 50]},"
        " \"i8\": {\"dtype\": \"I8\", \"shape\": [3], \"data_offsets\": [50, 53]},"
        " \"f64\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [53, 61]},"
        " \"emp\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [65, 65]},"
        " \"sc\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [61, 65]}}   ";
    static const float w32[6] = {0.0f, 1.5f, -2.25f, 3.0e-39f /* subnormal */,
                                 1.0e30f, -7.0f};
    static const uint16_t h16[9] = {0x3C00, 0x0001, 0x03FF, 0x7C00, 0x8000,
                                    0xFC00, 0x7E00, 0xC000, 0x7BFF};
    static const uint16_t b16[4] = {0x3F80, 0xC040, 0x7F80, 0x0001};
    unsigned char data[65];
    const char *path;
    st_file *f = NULL;
    const st_tensor *t;
    char err[512] = "", msg[600];
    float *x = NULL;
    int i, ok;
    double d = 0.5;
    int64_t shp[2];

    check(strlen(header) % 2 == 1, "header length is odd (unaligned data)", NULL);
    /* little-endian encoding, byte by byte */
    for (i = 0; i < 6; i++) {
        uint32_t b = f32_bits(w32[i]);
        data[4 * i] = (unsigned char)b;
        data[4 * i + 1] = (unsigned char)(b >> 8);
        data[4 * i + 2] = (unsigned char)(b >> 16);
        data[4 * i + 3] = (unsigned char)(b >> 24);
    }
    for (i = 0; i < 9; i++) {
        data[24 + 2 * i] = (unsigned char)h16[i];
        data[24 + 2 * i + 1] = (unsigned char)(h16[i] >> 8);
    }
    for (i = 0; i < 4; i++) {
        data[42 + 2 * i] = (unsigned char)b16[i];
        data[42 + 2 * i + 1] = (unsigned char)(b16[i] >> 8);
    }
    data[50] = 0xFF; data[51] = 0x00; data[52] = 0x7F;
    memcpy(data + 53, &d, 8);
    {
        uint32_t b = f32_bits(42.0f);
        for (i = 0; i < 4; i++) data[61 + i] = (unsigned char)(b >> (8 * i));
    }
    path = write_st("valid.safetensors", header, data, sizeof data);

    if (st_open(path, &f, err, sizeof err) != 0) {
        printf("FAIL - open valid file: %s\n", err);
        failures++;
        return;
    }
    check(1, "open valid file", NULL);
    check(st_count(f) == 7, "st_count == 7 (__metadata__ is not a tensor)", NULL);

    /* buffer order */
    ok = st_count(f) == 7;
    {
        static const char *order[7] = {"w32", "h16", "b16", "i8", "f64", "sc", "emp"};
        for (i = 0; ok && i < 7; i++)
            ok = st_at(f, i) && strcmp(st_at(f, i)->name, order[i]) == 0;
    }
    check(ok, "st_at lists tensors in buffer order", NULL);
    check(st_at(f, -1) == NULL && st_at(f, 7) == NULL, "st_at out of range -> NULL",
          NULL);

    t = st_find(f, "w32");
    check(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2
          && t->shape[1] == 3 && t->numel == 6 && t->nbytes == 24,
          "w32: F32 [2,3], 6 elements, 24 bytes", NULL);
    check(t && memcmp(t->data, data, 24) == 0, "w32: data points at its bytes", NULL);
    t = st_find(f, "h16");
    check(t && t->dtype == ST_F16 && t->numel == 9 && t->nbytes == 18,
          "h16: F16 [9]", NULL);
    t = st_find(f, "b16");
    check(t && t->dtype == ST_BF16 && t->numel == 4, "b16: BF16 [2,2]", NULL);
    t = st_find(f, "i8");
    check(t && t->dtype == ST_I8 && t->nbytes == 3
          && ((const signed char *)t->data)[0] == -1
          && ((const signed char *)t->data)[2] == 127, "i8: I8 [3], raw bytes", NULL);
    t = st_find(f, "f64");
    check(t && t->dtype == ST_OTHER && t->nbytes == 8, "f64: other dtype, 8 bytes",
          NULL);
    t = st_find(f, "sc");
    check(t && t->ndim == 0 && t->numel == 1 && t->nbytes == 4, "sc: scalar",
          NULL);
    t = st_find(f, "emp");
    check(t && t->ndim == 2 && t->numel == 0 && t->nbytes == 0, "emp: [0,4] empty",
          NULL);
    check(st_find(f, "nope") == NULL && st_find(f, "__metadata__") == NULL,
          "st_find absent -> NULL", NULL);

    check(st_metadata(f, "format") && strcmp(st_metadata(f, "format"), "pt") == 0
          && st_metadata(f, "model")
          && strcmp(st_metadata(f, "model"), "lavt-test") == 0,
          "__metadata__ values", NULL);
    check(st_metadata(f, "missing") == NULL, "absent metadata key -> NULL", NULL);

    /* F32 read, exact bits, with and without a shape check */
    shp[0] = 2; shp[1] = 3;
    ok = st_read_f32(f, "w32", 2, shp, &x, err, sizeof err) == 0;
    for (i = 0; ok && i < 6; i++) ok = f32_bits(x[i]) == f32_bits(w32[i]);
    check(ok, "st_read_f32 w32 (shape checked) is bit-exact", ok ? NULL : err);
    free(x); x = NULL;

    /* F16: 1, 2^-24, 1023*2^-24, inf, -0, -inf, NaN, -2, 65504 */
    ok = st_read_f32(f, "h16", -1, NULL, &x, err, sizeof err) == 0;
    check(ok && x[0] == 1.0f, "f16 1.0", NULL);
    check(ok && x[1] == ldexpf(1.0f, -24), "f16 smallest subnormal = 2^-24", NULL);
    check(ok && x[2] == ldexpf(1023.0f, -24), "f16 largest subnormal = 1023*2^-24",
          NULL);
    check(ok && isinf(x[3]) && x[3] > 0, "f16 +inf", NULL);
    check(ok && f32_bits(x[4]) == 0x80000000u, "f16 -0 keeps its sign", NULL);
    check(ok && isinf(x[5]) && x[5] < 0, "f16 -inf", NULL);
    check(ok && isnan(x[6]), "f16 NaN", NULL);
    check(ok && x[7] == -2.0f && x[8] == 65504.0f, "f16 -2 and max 65504", NULL);
    free(x); x = NULL;

    /* BF16: 1, -3, inf, smallest subnormal (bits 0x00010000) */
    ok = st_read_f32(f, "b16", -1, NULL, &x, err, sizeof err) == 0;
    check(ok && x[0] == 1.0f && x[1] == -3.0f && isinf(x[2])
          && f32_bits(x[3]) == 0x00010000u, "bf16 1, -3, inf, subnormal", NULL);
    free(x); x = NULL;

    ok = st_read_f32(f, "sc", 0, NULL, &x, err, sizeof err) == 0;
    check(ok && x[0] == 42.0f, "scalar read with ndim 0", ok ? NULL : err);
    free(x); x = NULL;
    shp[0] = 0; shp[1] = 4;
    ok = st_read_f32(f, "emp", 2, shp, &x, err, sizeof err) == 0;
    check(ok && x != NULL, "empty tensor read gives a non-NULL buffer",
          ok ? NULL : err);
    free(x); x = NULL;

    /* read errors */
    shp[0] = 3; shp[1] = 2;
    ok = st_read_f32(f, "w32", 2, shp, &x, err, sizeof err) == -1 && x == NULL;
    snprintf(msg, sizeof msg, "%s", err);
    check(ok && strstr(err, "valid.safetensors") && strstr(err, "'w32'")
          && strstr(err, "[2, 3]") && strstr(err, "expected [3, 2]"),
          "wrong shape: message shows file, tensor, actual and expected", msg);
    ok = st_read_f32(f, "w32", 1, shp, &x, err, sizeof err) == -1;
    check(ok && strstr(err, "expected [3]"), "wrong rank rejected", err);
    ok = st_read_f32(f, "nope.weight", -1, NULL, &x, err, sizeof err) == -1;
    check(ok && strstr(err, "'nope.weight' not found")
          && strstr(err, "valid.safetensors"), "missing tensor: error names it", err);
    ok = st_read_f32(f, "i8", -1, NULL, &x, err, sizeof err) == -1;
    check(ok && strstr(err, "dtype I8 cannot be read as f32"), "I8 is not read as f32",
          err);
    ok = st_read_f32(f, "f64", -1, NULL, &x, err, sizeof err) == -1;
    check(ok && strstr(err, "dtype F64 cannot be read as f32"),
          "F64 is not read as f32", err);
    st_close(f);
}

/* An unknown dtype opens (bounds-checked only) but cannot be read. */
static void test_unknown_dtype(void)
{
    static const unsigned char data[8];
    const char *path = write_st("unknown.safetensors",
        "{\"q\": {\"dtype\": \"Q4_K\", \"shape\": [2], \"data_offsets\": [0, 3]}}",
        data, 8);
    st_file *f = NULL;
    char err[512] = "";
    float *x = NULL;
    int ok = st_open(path, &f, err, sizeof err) == 0;
    check(ok && st_find(f, "q") && st_find(f, "q")->dtype == ST_OTHER
          && st_find(f, "q")->nbytes == 3, "unknown dtype opens as ST_OTHER",
          ok ? NULL : err);
    if (!ok) return;
    ok = st_read_f32(f, "q", -1, NULL, &x, err, sizeof err) == -1 && x == NULL;
    check(ok && strstr(err, "'q'") && strstr(err, "dtype Q4_K cannot be read as f32"),
          "unknown dtype read as f32 fails", err);
    st_close(f);
    corrupt("unknown dtype is still bounds-checked",
            "{\"q\": {\"dtype\": \"Q4_K\", \"shape\": [2], \"data_offsets\": [0, 9]}}",
            8, "data_offsets [0, 9] exceed the 8-byte buffer");
}

static void test_corrupt(void)
{
    char path[128];
    const char *p;
    unsigned char raw[64];
    size_t i;

    p = write_raw("tiny.safetensors", "\x10\x00\x00", 3);
    expect_open_fail("truncated file (3 bytes)", p, "truncated");
    p = write_raw("empty.safetensors", "", 0);
    expect_open_fail("empty file", p, "truncated");

    /* header length 1000, but only 20 bytes follow */
    memset(raw, ' ', sizeof raw);
    raw[0] = 0xE8; raw[1] = 0x03;
    for (i = 2; i < 8; i++) raw[i] = 0;
    p = write_raw("hdrlen.safetensors", raw, 28);
    expect_open_fail("header length beyond file", p,
                     "header length 1000 exceeds the 20 bytes");
    /* all-ones header length: no overflow in the comparison */
    memset(raw, 0xFF, 8);
    p = write_raw("hdrmax.safetensors", raw, 28);
    expect_open_fail("header length 2^64-1", p, "exceeds the 20 bytes");
    memset(raw, 0, 8);
    p = write_raw("hdrzero.safetensors", raw, 28);
    expect_open_fail("header length 0", p, "header length is 0");

    /* > 100 MB header in a (sparse) file large enough to hold it */
    {
        FILE *fp;
        uint64_t n = 100000001u;
        snprintf(path, sizeof path, "%s/huge.safetensors", dir);
        fp = fopen(path, "wb");
        for (i = 0; i < 8; i++) fputc((int)((n >> (8 * i)) & 0xFF), fp);
        fclose(fp);
        if (truncate(path, (off_t)(8 + n + 8)) == 0)
            expect_open_fail("header length above 100 MB", path,
                             "exceeds the 100000000-byte limit");
        else
            check(1, "header length above 100 MB (skipped: truncate failed)", NULL);
        unlink(path);
    }

    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    expect_open_fail("missing file", path, "missing.safetensors: cannot open");

    corrupt("invalid JSON", "{\"a\": {\"dtype\": ", 0, "invalid JSON header");
    corrupt("JSON with trailing garbage", "{} x", 0, "invalid JSON header");
    corrupt("duplicate tensor name",
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]},"
            " \"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [4, 8]}}",
            8, "duplicate");
    corrupt("header is an array", "[1, 2]", 0, "not an object");
    corrupt("__metadata__ not an object", "{\"__metadata__\": 3}", 0,
            "\"__metadata__\" is not an object");
    corrupt("entry is not an object", "{\"t\": 5}", 0,
            "tensor 't': header entry is not a JSON object");
    corrupt("data_offsets past buffer",
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
            4, "corrupt.safetensors: tensor 't': data_offsets [0, 8] exceed the "
            "4-byte buffer");
    corrupt("offsets size != shape*dtype",
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
            8, "tensor 't': data_offsets [0, 8] span 8 bytes but shape [3] of F32 "
            "needs 3 x 4 bytes");
    corrupt("offsets size != shape*dtype (F16)",
            "{\"t\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}",
            16, "needs 4 x 2 bytes");
    corrupt("negative dimension",
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 4]}}",
            4, "tensor 't': shape dimension 1 is -1 (expected a non-negative");
    corrupt("fractional dimension",
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8]}}",
            8, "shape dimension 0 is not an integer");
    corrupt("too many dimensions",
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1],"
            " \"data_offsets\": [0, 4]}}", 4, "9 dimensions");
    corrupt("shape product overflows",
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 8],"
            " \"data_offsets\": [0, 4]}}", 4, "overflows");
    corrupt("numel * elemsize overflows size_t",
            "{\"t\": {\"dtype\": \"I64\", \"shape\": [4611686018427387904],"
            " \"data_offsets\": [0, 8]}}", 8, "needs 4611686018427387904 x 8 bytes");
    corrupt("missing dtype",
            "{\"t\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
            "tensor 't': missing \"dtype\"");
    corrupt("dtype not a string",
            "{\"t\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
            "\"dtype\" is not a string");
    corrupt("missing shape",
            "{\"t\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4,
            "missing \"shape\"");
    corrupt("missing data_offsets",
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4,
            "missing \"data_offsets\"");
    corrupt("data_offsets of 3 numbers",
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}",
            8, "malformed \"data_offsets\"");
    corrupt("begin > end",
            "{\"t\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [4, 0]}}",
            8, "data_offsets [4, 0] are invalid");
    corrupt("negative begin",
            "{\"t\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [-4, 0]}}",
            8, "are invalid");
    corrupt("overlapping tensors",
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
            " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
            12, "tensor 'b': data_offsets [4, 12] overlap those of tensor 'a'");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/risq_st_XXXXXX");
    if (!mkdtemp(dir)) {
        printf("FAIL - mkdtemp\n");
        return 1;
    }
    test_valid();
    test_unknown_dtype();
    test_corrupt();

    {   /* clean up the files this test wrote */
        static const char *names[] = {"valid", "unknown", "corrupt", "tiny", "empty",
                                      "hdrlen", "hdrmax", "hdrzero"};
        char path[128];
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(path, sizeof path, "%s/%s.safetensors", dir, names[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
