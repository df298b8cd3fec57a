/*
** safetensors: read-only access to a .safetensors file through mmap.
**
** Layout (https://github.com/huggingface/safetensors): u64 little-endian
** header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, ...,
** "__metadata__": {...}}, then the byte buffer. The JSON header is parsed with
** jansson. Every offset, shape and dtype is checked against the file size
** before a tensor is handed out; errors name the file and the tensor.
*/
#ifndef RISQ_MODELS_SAFETENSORS_H
#define RISQ_MODELS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum { ST_F32, ST_F16, ST_BF16, ST_I8, ST_U8, ST_I32, ST_I64, ST_OTHER } st_dtype;

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data;   /* points into the mapping */
    size_t nbytes;
} st_tensor;

typedef struct st_file st_file;

/* Map and validate `path`. On failure returns -1 and writes a message. */
int st_open(const char *path, st_file **out, char *err, size_t errlen);
void st_close(st_file *f);

int st_count(const st_file *f);
const st_tensor *st_at(const st_file *f, int i);
/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* Value of a string entry of __metadata__, or NULL. */
const char *st_metadata(const st_file *f, const char *key);

/* Copy tensor `name` as fp32 into a new malloc'd buffer (F16/BF16 converted).
** When ndim >= 0 the shape must equal shape[0..ndim). Errors (missing tensor,
** shape mismatch, unsupported dtype) name the file and tensor. */
int st_read_f32(const st_file *f, const char *name, int ndim,
                const int64_t *shape, float **out, char *err, size_t errlen);

#endif
