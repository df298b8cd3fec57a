/*
** dataset: a referring-segmentation split held in memory, and the
** dataset-folder form of it on disk (datasets/README.md).
**
** A dataset owns decoded RGB images and binary masks; a sample is one referred
** object of one image with one or more sentences. Images are decoded with
** stb_image, written with stb_image_write; dataset.yaml is read with libyaml's
** document API and written with its emitter.
*/
#ifndef RISQ_DATASETS_DATASET_H
#define RISQ_DATASETS_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct ds_image {
    int w, h;
    uint8_t *rgb;        /* [h][w][3] */
    char *path;          /* relative to the folder, e.g. images/000000.png */
} ds_image;

typedef struct ds_sample {
    int image;           /* index into ds_dataset.images */
    uint8_t *mask;       /* [h][w], 0 or 1 */
    char *mask_path;
    int nsent;
    char **sentences;
} ds_sample;

typedef struct ds_dataset {
    char *name, *version, *licence, *source;
    char *split;
    /* generator parameters, for synthetic datasets (seed < 0 when not) */
    int64_t gen_seed;
    int gen_count, gen_size, gen_difficulty;
    int nimages, nsamples;
    int cap_images, cap_samples;
    ds_image *images;
    ds_sample *samples;
} ds_dataset;

/* An empty dataset (strings copied; either may be NULL). version, licence
** and source start NULL: set them with strdup'd strings. */
ds_dataset *ds_new(const char *name, const char *split);
/* Append; take ownership of rgb/mask/sentences (malloc'd). Return index or -1. */
int ds_add_image(ds_dataset *d, int w, int h, uint8_t *rgb);
int ds_add_sample(ds_dataset *d, int image, uint8_t *mask, int nsent, char **sentences);
void ds_free(ds_dataset *d);

/* Read DIR/dataset.yaml and decode the images and masks of `split` (NULL:
** the only split, an error if there are several). Errors are FILE:LINE:COL. */
int ds_load(const char *dir, const char *split, ds_dataset **out, char *err, size_t errlen);

/* Write the folder form (creates DIR, images/, masks/). */
int ds_write(const ds_dataset *d, const char *dir, char *err, size_t errlen);

/* Content hash (FNV-1a 64) over pixels, masks and sentences: equal datasets
** hash equal on every machine, whatever PNG encoder wrote the files. */
uint64_t ds_hash(const ds_dataset *d);

/* Number of expressions (sum of sentences over samples). */
int ds_count_sentences(const ds_dataset *d);

#endif
