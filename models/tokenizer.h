/*
** tokenizer: BERT WordPiece tokenization, behaving like bert-base-uncased.
**
** Basic tokenizer: clean control chars, whitespace split, lower-case, strip
** accents (NFD marks of Latin-1 / Latin Extended-A letters), split on
** punctuation (ASCII punctuation and Unicode general punctuation), CJK chars as
** single tokens. WordPiece: greedy longest-match-first, "##" continuation,
** words longer than 100 chars or not coverable become [UNK].
**
** Encoding follows LAVT's data loader: [CLS] tokens [SEP], then truncation to
** max_len (so a long sentence loses its [SEP], as in LAVT), then [PAD] with
** attention mask 0.
*/
#ifndef RISQ_MODELS_TOKENIZER_H
#define RISQ_MODELS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_vocab tok_vocab;

/* One token per line; the line number (from 0) is the id. Needs [PAD], [UNK],
** [CLS], [SEP]. */
int tok_load(const char *path, tok_vocab **out, char *err, size_t errlen);
void tok_free(tok_vocab *v);
int tok_size(const tok_vocab *v);
int tok_id(const tok_vocab *v, const char *token); /* -1 if absent */
const char *tok_str(const tok_vocab *v, int id);   /* NULL if out of range */

/* Fill ids[max_len] and mask[max_len] (1 = real token, 0 = padding).
** Returns the number of real tokens (<= max_len). */
int tok_encode(const tok_vocab *v, const char *utf8, int max_len,
               int32_t *ids, int32_t *mask);

#endif
