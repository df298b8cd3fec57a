"""BERT (uncased) WordPiece tokenizer, written from the published algorithm.

Same semantics as models/tokenizer.c:

* basic tokenizer: drop NUL, U+FFFD and control characters (Unicode category
  C*, except tab/newline/CR which count as whitespace); whitespace (space,
  tab, newline, CR, category Zs) separates words; CJK ideographs become
  single-character words; lower-case; strip accents (NFD, drop category Mn);
  every punctuation character (ASCII !"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ and
  Unicode category P*) is a word of its own.
* WordPiece: greedy longest-match-first, continuation pieces carry "##";
  a word longer than 100 characters, or one that cannot be covered, is [UNK].
* encode(): [CLS] pieces [SEP], THEN truncate to max_len (as LAVT's loader
  does, so a long sentence loses its [SEP]), then pad with [PAD] (mask 0).
"""

import unicodedata

MAX_WORD_CHARS = 100


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF
            or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _strip_accents(text):
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if unicodedata.category(c) != "Mn")


def basic_tokenize(text, lower_case=True):
    # clean + CJK spacing
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    words = []
    for tok in "".join(out).split():
        if lower_case:
            tok = _strip_accents(tok.lower())
        cur = []
        for ch in tok:
            if _is_punctuation(ch):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(ch)
            else:
                cur.append(ch)
        if cur:
            words.append("".join(cur))
    # re-split on whitespace (lower()/NFD never introduce spaces, but be safe)
    return " ".join(words).split()


def load_vocab(path):
    with open(path, "r", encoding="utf-8") as f:
        toks = [line.rstrip("\n").rstrip("\r") for line in f]
    if toks and toks[-1] == "":
        toks.pop()
    return {t: i for i, t in enumerate(toks)}, toks


class WordPiece:
    def __init__(self, vocab_path, lower_case=True):
        self.vocab, self.itos = load_vocab(vocab_path)
        self.lower_case = lower_case
        for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if t not in self.vocab:
                raise ValueError("%s: vocabulary lacks %s" % (vocab_path, t))
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]

    def wordpiece(self, word):
        if len(word) > MAX_WORD_CHARS:
            return ["[UNK]"]
        pieces = []
        start = 0
        n = len(word)
        while start < n:
            end = n
            found = None
            while start < end:
                sub = word[start:end]
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    found = sub
                    break
                end -= 1
            if found is None:
                return ["[UNK]"]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text):
        out = []
        for w in basic_tokenize(text, self.lower_case):
            out.extend(self.wordpiece(w))
        return out

    def encode(self, text, max_len=20):
        """-> (ids[max_len], mask[max_len]) as python int lists."""
        ids = [self.cls_id] + [self.vocab[t] for t in self.tokenize(text)] + [self.sep_id]
        ids = ids[:max_len]
        mask = [1] * len(ids) + [0] * (max_len - len(ids))
        ids = ids + [self.pad_id] * (max_len - len(ids))
        return ids, mask


if __name__ == "__main__":
    import sys
    wp = WordPiece(sys.argv[1])
    for s in sys.argv[2:]:
        ids, mask = wp.encode(s)
        print(s, "->", wp.tokenize(s), ids, mask)
