#!/usr/bin/python3
"""Write models/zoo/lavt-tiny/vocab.txt (deterministic) and set
bert.vocab_size in model.yaml.

Order: [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0..4), ASCII punctuation
characters, digits, a..z, ##a..##z, then the sorted set of whole words below
(words already present, e.g. "a", are not repeated). Any lower-case ASCII word
is coverable (first letter + ##letters), so unknown words degrade gracefully.

usage: tools/make_vocab.py [--out models/zoo/lavt-tiny]
"""

import argparse
import os
import re
import string

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# words of the referring grammar
GRAMMAR = """
the a an on at in of to left right top bottom middle center centre upper lower
side above below over under beneath next near small little tiny large big red
green blue yellow purple violet orange cyan pink circle disc round ring square
box triangle diamond rhombus cross plus sign star shape object thing one find
segment select please that is which
""".split()

# other common English words (spatial, size, colour, shape, request words)
COMMON = """
and or with without from by for this it its me you i my your show give get
pick choose click mark highlight locate identify point there here where what
image picture scene region area part piece figure form item
leftmost rightmost topmost uppermost lowest highest farthest furthest nearest
closest corner edge far up down between beside behind front back other another
only single same different first second third last two three
biggest smallest largest medium mid huge tall wide narrow thin thick
white black gray grey brown dark light bright magenta colored coloured
shaped filled hollow solid outline dot line bar oval ellipse rectangle
pentagon hexagon heart
located placed sitting lying looks like see can want
""".split()


def build_tokens():
    toks = list(SPECIAL)
    toks += list(string.punctuation)
    toks += list(string.digits)
    toks += list(string.ascii_lowercase)
    toks += ["##" + c for c in string.ascii_lowercase]
    seen = set(toks)
    for w in sorted(set(GRAMMAR) | set(COMMON)):
        if w not in seen:
            toks.append(w)
            seen.add(w)
    return toks


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "models", "zoo", "lavt-tiny"))
    args = ap.parse_args()
    toks = build_tokens()
    with open(os.path.join(args.out, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        for t in toks:
            f.write(t + "\n")
    ypath = os.path.join(args.out, "model.yaml")
    with open(ypath, "r", encoding="utf-8") as f:
        text = f.read()
    new, n = re.subn(r"(?m)^(\s*vocab_size:\s*)\d+", lambda m: m.group(1) + str(len(toks)), text, count=1)
    if n != 1:
        raise SystemExit("%s: no 'vocab_size:' line" % ypath)
    if new != text:
        with open(ypath, "w", encoding="utf-8", newline="\n") as f:
            f.write(new)
    print("vocab.txt: %d tokens" % len(toks))


if __name__ == "__main__":
    main()
