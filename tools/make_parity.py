#!/usr/bin/python3
"""Write parity vectors for the C implementation of lavt_one (models/lavt.c)
and the C tokenizer, computed with the PyTorch reference tools/lavt_ref.py.

For N samples spread evenly over a dataset folder (sentence number k mod the
sample's sentence count), plus three hand-written sentences on the first
chosen image that exercise the tokenizer (case, accents, punctuation, tab and
newline, an [UNK] word, a sentence longer than max_tokens that loses its
[SEP], and one of exactly max_tokens tokens):

    NNN_image.bin   float32 LE [3][S][S]   normalised input (preprocess())
    NNN_ids.bin     int32 LE [T]           token ids
    NNN_mask.bin    int32 LE [T]           attention mask (1 real, 0 pad)
    NNN_logits.bin  float32 LE [2][S][S]   reference logits (full resolution)
    NNN_argmax.bin  uint8 [S][S]           1 where logits[1] > logits[0]
    index.json      model, weights sha256, shapes, per-sample sentence,
                    word pieces, ids, mask, source files

usage: tools/make_parity.py --data tools/work/val [--model-dir models/zoo/lavt-tiny]
       [--out tests/models/data/parity] [--count 8]
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lavt_ref  # noqa: E402
import risqdata  # noqa: E402
from eval import load_model  # noqa: E402

CRAFTED = [
    "Please SEGMENT the Café's small, RED circle -- it's near the (blue) box!",
    "find the tiny little small large big red green blue yellow purple violet orange cyan pink thing here",
    "the 2nd BLUE  square\tnear\nthe \u00f1and\u00fa box 42",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description="write lavt_one parity vectors")
    ap.add_argument("--data", required=True, help="dataset folder (e.g. tools/work/val)")
    ap.add_argument("--model-dir", default=os.path.join(HERE, "..", "models", "zoo", "lavt-tiny"))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "models", "data", "parity"))
    ap.add_argument("--count", type=int, default=8)
    args = ap.parse_args()

    torch.set_num_threads(1)
    cfg, model, wp = load_model(args.model_dir, args.weights)
    wpath = args.weights or os.path.join(args.model_dir, cfg.get("weights", "weights.safetensors"))
    d = risqdata.load(args.data)
    S, T = cfg["input"]["size"], cfg["tokenizer"]["max_tokens"]
    os.makedirs(args.out, exist_ok=True)
    for f in os.listdir(args.out):
        if f.endswith(".bin") or f == "index.json":
            os.remove(os.path.join(args.out, f))

    picks = np.unique(np.linspace(0, len(d.sentences) - 1, args.count).round().astype(int))
    jobs = [(int(i), d.sentences[i][k % len(d.sentences[i])], "dataset") for k, i in enumerate(picks)]
    jobs += [(int(picks[0]), s, "crafted") for s in CRAFTED]

    index = {
        "format": "risq lavt_one parity vectors v1",
        "producer": "tools/make_parity.py (PyTorch %s, 1 thread)" % torch.__version__,
        "model": cfg.get("name"), "model_yaml": "models/zoo/lavt-tiny/model.yaml",
        "weights_sha256": sha256(wpath),
        "vocab_sha256": sha256(os.path.join(args.model_dir, cfg["tokenizer"]["vocab"])),
        "dataset": {"folder": os.path.basename(os.path.normpath(args.data)),
                    "name": d.meta.get("name"), "generator": d.meta.get("generator")},
        "size": S, "max_tokens": T,
        "files": {"image": ["float32 LE", [3, S, S]], "ids": ["int32 LE", [T]],
                  "mask": ["int32 LE", [T]], "logits": ["float32 LE", [2, S, S]],
                  "argmax": ["uint8", [S, S]]},
        "tolerance": {"logits_max_abs": 1e-3,
                      "note": "compare argmax only where |logit1 - logit0| > 1e-3"},
        "samples": [],
    }
    with torch.no_grad():
        for n, (i, sent, kind) in enumerate(jobs):
            img = lavt_ref.preprocess(d.images[d.sample_image[i]], cfg)
            ids, msk = wp.encode(sent, T)
            lg = model(img[None], torch.tensor([ids]), torch.tensor([msk]))[0]
            am = (lg[1] > lg[0]).to(torch.uint8)
            gt = torch.from_numpy(d.masks[i]).bool()
            inter = (am.bool() & gt).sum().item()
            union = (am.bool() | gt).sum().item()
            stem = "%03d" % n
            img.numpy().astype("<f4").tofile(os.path.join(args.out, stem + "_image.bin"))
            np.asarray(ids, "<i4").tofile(os.path.join(args.out, stem + "_ids.bin"))
            np.asarray(msk, "<i4").tofile(os.path.join(args.out, stem + "_mask.bin"))
            lg.numpy().astype("<f4").tofile(os.path.join(args.out, stem + "_logits.bin"))
            am.numpy().astype("u1").tofile(os.path.join(args.out, stem + "_argmax.bin"))
            index["samples"].append({
                "name": stem, "kind": kind, "image_source": d.image_paths[d.sample_image[i]],
                "mask_source": d.mask_paths[i], "sentence": sent, "pieces": wp.tokenize(sent),
                "ids": ids, "mask": msk, "n_tokens": int(sum(msk)),
                "min_margin": float((lg[1] - lg[0]).abs().min()),
                "iou_vs_ground_truth": (inter / union) if union else 0.0,
                "logits_sum": float(lg.double().sum()),
            })
    with open(os.path.join(args.out, "index.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1, ensure_ascii=False)
        f.write("\n")
    tot = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print("%s: %d samples, %.0f kB" % (args.out, len(jobs), tot / 1024))


if __name__ == "__main__":
    main()
