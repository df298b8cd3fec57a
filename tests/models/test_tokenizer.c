/*
** test_tokenizer: WordPiece tokenizer against hand-derived expectations.
**
** Uses the fixture tests/models/data/vocab_test.txt (specials, a-z, ##a-##z,
** digits, ASCII punctuation and a few words/pieces). Every expected string
** below was derived by hand from the BERT uncased algorithm: clean, split on
** whitespace, CJK and punctuation, lower-case, strip accents, greedy
** longest-match-first WordPiece, then [CLS] .. [SEP], truncate, pad.
** Runs from the source root (meson workdir). One line per check; exit 1 on
** any failure.
*/
#include "models/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOCAB "tests/models/data/vocab_test.txt"

static int failures;

static void check(int ok, const char *what, const char *detail)
{
    printf("%s - %s%s%s\n", ok ? "ok" : "FAIL", what, detail ? ": " : "",
           detail ? detail : "");
    if (!ok) failures++;
}

/* Render the real tokens of an encoding as "tok tok tok". */
static void render(const tok_vocab *v, const int32_t *ids, int n, char *buf,
                   size_t len)
{
    size_t used = 0;
    int i;
    buf[0] = '\0';
    for (i = 0; i < n && used < len; i++) {
        const char *s = tok_str(v, ids[i]);
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "",
                                 s ? s : "<bad id>");
    }
}

/* Encode text with max_len and compare the real tokens with `expect`; also
** checks that the mask and the padding are consistent with the count. */
static void expect_enc(const tok_vocab *v, const char *what, const char *text,
                       int max_len, const char *expect)
{
    int32_t ids[256], mask[256];
    char got[4096], msg[8192];
    int n, i, pad_ok = 1;

    n = tok_encode(v, text, max_len, ids, mask);
    render(v, ids, n, got, sizeof got);
    for (i = 0; i < max_len; i++) {
        if (mask[i] != (i < n))
            pad_ok = 0;
        if (i >= n && ids[i] != tok_id(v, "[PAD]"))
            pad_ok = 0;
    }
    snprintf(msg, sizeof msg, "got \"%s\" (%d tokens), expected \"%s\"%s", got, n,
             expect, pad_ok ? "" : "; mask/padding wrong");
    check(strcmp(got, expect) == 0 && pad_ok && n <= max_len, what, msg);
}

/* Write `content` to a temporary file and try to load it as a vocabulary. */
static int load_text(const char *content, tok_vocab **v, char *err, size_t errlen)
{
    char path[] = "/tmp/risq_vocab_XXXXXX";
    int fd = mkstemp(path), rc;
    size_t len = strlen(content);
    if (fd < 0) return -2;
    if (write(fd, content, len) != (ssize_t)len) { close(fd); unlink(path); return -2; }
    close(fd);
    rc = tok_load(path, v, err, errlen);
    unlink(path);
    return rc;
}

int main(void)
{
    tok_vocab *v = NULL, *v2 = NULL;
    char err[512], buf[1200];
    int32_t ids[300], mask[300];
    int n, i;

    /* ---- vocabulary ---- */
    if (tok_load(VOCAB, &v, err, sizeof err) != 0) {
        printf("FAIL - load %s: %s\n", VOCAB, err);
        return 1;
    }
    check(1, "load " VOCAB, NULL);
    check(tok_size(v) == 116, "tok_size is 116", NULL);
    check(tok_id(v, "[PAD]") == 0 && tok_id(v, "[UNK]") == 1
          && tok_id(v, "[CLS]") == 2 && tok_id(v, "[SEP]") == 3
          && tok_id(v, "[MASK]") == 4, "special token ids 0..4", NULL);
    check(tok_id(v, "a") == 5 && tok_id(v, "##a") == 31 && tok_id(v, "the") == 99,
          "ids are line numbers from 0", NULL);
    check(tok_id(v, "nope") == -1 && tok_id(v, "") == -1, "absent token -> -1", NULL);
    check(tok_str(v, 99) && strcmp(tok_str(v, 99), "the") == 0, "tok_str(99) = the",
          NULL);
    check(tok_str(v, -1) == NULL && tok_str(v, 116) == NULL,
          "tok_str out of range -> NULL", NULL);

    check(load_text("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nred\r\nred", &v2, err,
                    sizeof err) == 0
          && tok_size(v2) == 6 && tok_id(v2, "[SEP]") == 3 && tok_id(v2, "red") == 5,
          "CRLF vocab, no final newline, duplicate -> later id", NULL);
    tok_free(v2);
    v2 = NULL;
    check(load_text("[PAD]\n[UNK]\n[CLS]\nred\n", &v2, err, sizeof err) == -1
          && strstr(err, "lacks [SEP]") != NULL, "vocab without [SEP] rejected", err);
    tok_free(v2);
    v2 = NULL;
    check(load_text("\xEF\xBB\xBF[PAD]\n[UNK]\n[CLS]\n[SEP]\n", &v2, err, sizeof err)
          == -1 && strstr(err, "byte-order mark") != NULL, "BOM is diagnosed", err);
    tok_free(v2);
    v2 = NULL;
    check(tok_load("tests/models/data/no_such_vocab.txt", &v2, err, sizeof err) == -1
          && v2 == NULL && strstr(err, "no_such_vocab.txt") != NULL,
          "missing vocab file names the path", err);

    /* ---- basic sentences ---- */
    expect_enc(v, "sentence", "The small RED circle, left of the blue square.", 20,
               "[CLS] the small red circle , left of the blue square . [SEP]");
    expect_enc(v, "wordpiece un ##aff ##able", "unaffable", 10,
               "[CLS] un ##aff ##able [SEP]");
    expect_enc(v, "greedy longest match play ##ing", "Playing", 10,
               "[CLS] play ##ing [SEP]");
    /* "thered": longest prefix "the", then no "##red"/"##re" -> ##r ##e ##d */
    expect_enc(v, "greedy fallback to pieces", "thered", 10,
               "[CLS] the ##r ##e ##d [SEP]");
    expect_enc(v, "uncoverable word -> one [UNK]", "a\xE2\x82\xAC" "b red", 10,
               "[CLS] [UNK] red [SEP]");
    /* "42": "4" matches, but there is no "##2" -> the whole word is [UNK] */
    expect_enc(v, "digits", "3 red 42", 10, "[CLS] 3 red [UNK] [SEP]");

    /* ---- accents ---- */
    expect_enc(v, "accent: Caf\\u00e9", "Caf\xC3\xA9", 10, "[CLS] caf ##e [SEP]");
    expect_enc(v, "accent: CAF\\u00c9", "CAF\xC3\x89", 10, "[CLS] caf ##e [SEP]");
    expect_enc(v, "accent: combining U+0301", "Cafe\xCC\x81", 10,
               "[CLS] caf ##e [SEP]");
    expect_enc(v, "accent: na\\u00efve", "na\xC3\xAFve", 10,
               "[CLS] n ##a ##i ##v ##e [SEP]");
    expect_enc(v, "accent: Latin Extended-A \\u0158\\u0113d", "\xC5\x98\xC4\x93" "d",
               10, "[CLS] red [SEP]");
    expect_enc(v, "lone combining mark vanishes", "red \xCC\x81 blue", 10,
               "[CLS] red blue [SEP]");

    /* ---- punctuation ---- */
    expect_enc(v, "punctuation x-ray!", "x-ray!", 10, "[CLS] x - ray ! [SEP]");
    expect_enc(v, "ASCII symbols are punctuation", "a$b+c|d~", 12,
               "[CLS] a $ b + c | d ~ [SEP]");
    expect_enc(v, "general punctuation: em dash", "left\xE2\x80\x94of", 10,
               "[CLS] left [UNK] of [SEP]");
    expect_enc(v, "inverted question mark", "\xC2\xBFred?", 10,
               "[CLS] [UNK] red ? [SEP]");
    expect_enc(v, "euro sign is not punctuation", "\xE2\x82\xAC" "red", 10,
               "[CLS] [UNK] [SEP]");

    /* ---- whitespace, control, CJK ---- */
    expect_enc(v, "whitespace and control chars",
               "  left\tof\n\r the\x01red\xC2\xA0" "circle\xE2\x80\x8B \x7F", 16,
               "[CLS] left of the ##r ##e ##d circle [SEP]");
    expect_enc(v, "unicode spaces split (U+3000, U+2003, U+2028)",
               "red\xE3\x80\x80" "blue\xE2\x80\x83" "man\xE2\x80\xA8" "of", 10,
               "[CLS] red blue man of [SEP]");
    expect_enc(v, "soft hyphen (Cf) removed inside word", "cir\xC2\xAD" "cle", 10,
               "[CLS] circle [SEP]");
    expect_enc(v, "CJK chars split", "red\xE4\xB8\xAD\xE5\x9B\xBD" "blue", 10,
               "[CLS] red \xE4\xB8\xAD [UNK] blue [SEP]");

    /* ---- word length ---- */
    memset(buf, 'a', 101);
    buf[101] = '\0';
    expect_enc(v, "101-char word -> [UNK]", buf, 10, "[CLS] [UNK] [SEP]");
    buf[100] = '\0';
    n = tok_encode(v, buf, 128, ids, mask);
    {
        int ok = n == 102 && ids[1] == tok_id(v, "a") && ids[101] == tok_id(v, "[SEP]");
        for (i = 2; i < 101; i++)
            if (ids[i] != tok_id(v, "##a")) ok = 0;
        check(ok, "100-char word -> a + 99 x ##a", NULL);
    }
    /* 50 x "é" = 100 characters (200 bytes) is still one word of 100 */
    for (i = 0; i < 50; i++) memcpy(buf + 2 * i, "\xC3\xA9", 2);
    buf[100] = '\0';
    n = tok_encode(v, buf, 128, ids, mask);
    check(n == 52 && ids[1] == tok_id(v, "e") && ids[50] == tok_id(v, "##e"),
          "50 accented chars: counted as characters, not bytes", NULL);
    for (i = 0; i < 101; i++) memcpy(buf + 2 * i, "\xC3\xA9", 2);
    buf[202] = '\0';
    expect_enc(v, "101 accented chars -> [UNK]", buf, 10, "[CLS] [UNK] [SEP]");

    /* ---- truncation and padding ---- */
    expect_enc(v, "truncation at max_len=8 drops [SEP]",
               "The small RED circle, left of the blue square.", 8,
               "[CLS] the small red circle , left of");
    expect_enc(v, "exactly fits max_len", "red circle", 4, "[CLS] red circle [SEP]");
    expect_enc(v, "one over max_len loses [SEP]", "red circle", 3, "[CLS] red circle");
    expect_enc(v, "word pieces cut mid-word", "unaffable", 3, "[CLS] un ##aff");
    n = tok_encode(v, "red", 6, ids, mask);
    check(n == 3 && ids[0] == 2 && ids[1] == tok_id(v, "red") && ids[2] == 3
          && ids[3] == 0 && ids[4] == 0 && ids[5] == 0
          && mask[0] == 1 && mask[1] == 1 && mask[2] == 1
          && mask[3] == 0 && mask[4] == 0 && mask[5] == 0,
          "padding: ids [2 red 3 0 0 0], mask [1 1 1 0 0 0]", NULL);
    expect_enc(v, "max_len 1 -> [CLS] only", "red", 1, "[CLS]");
    ids[0] = mask[0] = 77;
    check(tok_encode(v, "red", 0, ids, mask) == 0 && ids[0] == 77 && mask[0] == 77,
          "max_len 0 -> 0 tokens, nothing written", NULL);

    /* ---- empty and invalid input ---- */
    expect_enc(v, "empty string", "", 5, "[CLS] [SEP]");
    expect_enc(v, "NULL text", NULL, 5, "[CLS] [SEP]");
    expect_enc(v, "only whitespace/control", " \t\n\x02 \xC2\xA0", 5, "[CLS] [SEP]");
    expect_enc(v, "invalid UTF-8 bytes removed",
               "re\xFF" "d \xC3 blue \xC3(of\xE2\x82", 10,
               "[CLS] red blue ( of [SEP]");
    expect_enc(v, "overlong / surrogate / >U+10FFFF removed",
               "a\xC0\xAF" "b \xED\xA0\x80 \xF4\x90\x80\x80 red", 10,
               "[CLS] a ##b red [SEP]");
    expect_enc(v, "U+FFFD removed", "r\xEF\xBF\xBD" "ed", 10, "[CLS] red [SEP]");

    /* ---- robustness: long and random inputs never overflow ---- */
    {
        size_t big = 1 << 20;
        char *s = malloc(big + 1);
        unsigned seed = 12345;
        int ok = 1, round;
        for (i = 0; i < (int)big; i++) s[i] = "red "[i % 4];
        s[big] = '\0';
        n = tok_encode(v, s, 20, ids, mask);
        check(n == 20 && ids[19] == tok_id(v, "red"), "1 MiB input, max_len 20", NULL);
        for (i = 0; i < (int)big; i++) s[i] = 'z';
        n = tok_encode(v, s, 20, ids, mask);
        check(n == 3 && ids[1] == tok_id(v, "[UNK]"), "1 MiB single word -> [UNK]",
              NULL);
        for (round = 0; round < 200 && ok; round++) {
            size_t len = (size_t)(round * 37 % 4000);
            int ml = 1 + round % 300;
            for (i = 0; i < (int)len; i++) {
                seed = seed * 1103515245u + 12345u;
                s[i] = (char)((seed >> 16) & 0xFF);
                if (s[i] == 0) s[i] = 'a';
            }
            s[len] = '\0';
            n = tok_encode(v, s, ml, ids, mask);
            if (n < 1 || n > ml || ids[0] != 2) ok = 0;
            for (i = 0; i < ml; i++)
                if (ids[i] < 0 || ids[i] >= tok_size(v) || mask[i] != (i < n)) ok = 0;
        }
        check(ok, "200 random byte strings: ids in range, mask consistent", NULL);
        free(s);
    }

    tok_free(v);
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
