/*
** synth: the procedural referring dataset.
**
** Scenes of 2-6 objects (6 shapes, 8 colours, 2 sizes) over textured/noisy
** backgrounds, with partial occlusion, and referring expressions from a small
** grammar (colour, shape, size, absolute position, relation to another object,
** synonyms). Every expression is checked to single out exactly one object; its
** mask is that object's visible pixels.
**
** Deterministic: integer rendering, own PRNG (splitmix64), no libm, so the same
** parameters give the same bytes on every machine.
*/
#ifndef RISQ_DATASETS_SYNTH_H
#define RISQ_DATASETS_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include "datasets/dataset.h"

#define SYNTH_MIN_SIZE 32
#define SYNTH_MAX_SIZE 1024
#define SYNTH_MAX_COUNT 1000000

typedef struct synth_params {
    uint64_t seed;
    int count;        /* images; each yields 1-3 samples of 2 sentences */
    int size;         /* square images, pixels (default 64) */
    int difficulty;   /* 0 easy (attributes only), 1 default, 2 hard */
} synth_params;

void synth_defaults(synth_params *p);
/* Check ranges; message names the parameter and its allowed range. */
int synth_check(const synth_params *p, char *err, size_t errlen);
/* Generate the whole split. */
int synth_generate(const synth_params *p, const char *split, ds_dataset **out,
                   char *err, size_t errlen);

#endif
