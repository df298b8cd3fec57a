#!/usr/bin/python3
"""FP32 accuracy of a lavt_one model on a risq dataset folder, with the RIS
metric definitions used by risq: per-expression IoU = I/U (0 when U = 0),
miou = mean IoU, oiou = sum I / sum U, prec@t = share of expressions with
IoU > t (t = 0.5 .. 0.9). Every sentence of every sample is one expression.

--swap: each sentence of a sample is replaced by a sentence of ANOTHER sample
of the same image (deterministic: the other samples of that image in file
order, pick number (i + j) mod n for sample i / sentence j, its sentence
j mod its sentence count) while the ground truth stays the original object.
A model that uses language scores low here; one that ignores it scores
the same as without --swap. Samples whose image has no other sample are
skipped in this mode.

--latency N: median wall time of N batch-1 forward passes (after 3 warm-up
passes) at 1 and 2 torch threads.

usage: tools/eval.py --data DIR [--model-dir models/zoo/lavt-tiny] [--split S]
       [--swap] [--latency 50] [--json FILE]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lavt_ref  # noqa: E402
import risqdata  # noqa: E402
from wordpiece import WordPiece  # noqa: E402
from train import batch_images, batch_masks  # noqa: E402


def load_model(model_dir, weights=None):
    cfg = lavt_ref.load_cfg(os.path.join(model_dir, "model.yaml"))
    model = lavt_ref.build_model(cfg)
    lavt_ref.load_weights(model, weights or os.path.join(model_dir, cfg.get("weights", "weights.safetensors")))
    model.eval()
    wp = WordPiece(os.path.join(model_dir, cfg["tokenizer"]["vocab"]), cfg["tokenizer"].get("lower_case", True))
    return cfg, model, wp


def swap_pairs(d):
    """-> list of (sample i, sentence j, source sample k, source sentence m)."""
    by_img = {}
    for i, im in enumerate(d.sample_image):
        by_img.setdefault(int(im), []).append(i)
    out = []
    for i, sents in enumerate(d.sentences):
        others = [k for k in by_img[int(d.sample_image[i])] if k != i]
        if not others:
            continue
        for j in range(len(sents)):
            k = others[(i + j) % len(others)]
            out.append((i, j, k, j % len(d.sentences[k])))
    return out


@torch.no_grad()
def run_eval(model, cfg, wp, d, swap=False, batch=64):
    T = cfg["tokenizer"]["max_tokens"]
    if swap:
        pairs = swap_pairs(d)
    else:
        pairs = [(i, j, i, j) for i, s in enumerate(d.sentences) for j in range(len(s))]
    enc = [wp.encode(d.sentences[k][m], T) for (_, _, k, m) in pairs]
    ids = torch.tensor([e[0] for e in enc], dtype=torch.long).reshape(-1, T)
    msk = torch.tensor([e[1] for e in enc], dtype=torch.long).reshape(-1, T)
    smp = np.array([p[0] for p in pairs], np.int64)
    I_all, U_all = [], []
    for a in range(0, len(pairs), batch):
        s = smp[a:a + batch]
        x = batch_images(d.images, d.sample_image[s], cfg)
        gt = batch_masks(d.masks, s, cfg).bool()
        lg = model(x, ids[a:a + batch], msk[a:a + batch])
        pred = lg[:, 1] > lg[:, 0]
        I_all.append((pred & gt).flatten(1).sum(1).double())
        U_all.append((pred | gt).flatten(1).sum(1).double())
    I = torch.cat(I_all) if I_all else torch.zeros(0, dtype=torch.float64)
    U = torch.cat(U_all) if U_all else torch.zeros(0, dtype=torch.float64)
    iou = torch.where(U > 0, I / U.clamp(min=1), torch.zeros_like(U)).numpy()
    r = {"expressions": int(len(pairs)), "miou": float(100 * iou.mean()) if len(iou) else 0.0,
         "oiou": float(100 * I.sum() / max(U.sum().item(), 1.0))}
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        r["prec@%.1f" % t] = float(100 * (iou >= t).mean()) if len(iou) else 0.0
    return r


@torch.no_grad()
def latency(model, cfg, wp, d, n, threads):
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    x = batch_images(d.images, d.sample_image[:1], cfg)
    ids, msk = wp.encode(d.sentences[0][0], cfg["tokenizer"]["max_tokens"])
    ids, msk = torch.tensor([ids]), torch.tensor([msk])
    for _ in range(3):
        model(x, ids, msk)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        model(x, ids, msk)
        ts.append(time.perf_counter() - t)
    torch.set_num_threads(old)
    return {"threads": threads, "n": n, "median_ms": 1000 * float(np.median(ts)),
            "min_ms": 1000 * float(np.min(ts))}


def main():
    ap = argparse.ArgumentParser(description="FP32 RIS metrics of a lavt_one model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default=None, help="default: every split in the folder")
    ap.add_argument("--model-dir", default=os.path.join(HERE, "..", "models", "zoo", "lavt-tiny"))
    ap.add_argument("--weights", default=None, help="default: MODEL_DIR/weights.safetensors")
    ap.add_argument("--swap", action="store_true", help="also evaluate with swapped sentences")
    ap.add_argument("--threads", type=int, default=2, help="threads for the accuracy pass")
    ap.add_argument("--latency", type=int, default=0, metavar="N", help="time N batch-1 passes at 1 and 2 threads")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    cfg, model, wp = load_model(args.model_dir, args.weights)
    d = risqdata.load(args.data, args.split)
    res = {"data": args.data, "model_dir": args.model_dir}
    t = time.time()
    res["fp32"] = run_eval(model, cfg, wp, d)
    r = res["fp32"]
    print("fp32 : %d expressions  miou %.2f  oiou %.2f  prec@0.5 %.1f  @0.6 %.1f  @0.7 %.1f  @0.8 %.1f  @0.9 %.1f  (%.1fs)" % (
        r["expressions"], r["miou"], r["oiou"], r["prec@0.5"], r["prec@0.6"], r["prec@0.7"],
        r["prec@0.8"], r["prec@0.9"], time.time() - t))
    if args.swap:
        res["swap"] = r = run_eval(model, cfg, wp, d, swap=True)
        print("swap : %d expressions  miou %.2f  oiou %.2f  prec@0.5 %.1f  @0.9 %.1f  (sentence of another object of the same image)" % (
            r["expressions"], r["miou"], r["oiou"], r["prec@0.5"], r["prec@0.9"]))
    if args.latency > 0:
        res["latency"] = []
        for th in (1, 2):
            l = latency(model, cfg, wp, d, args.latency, th)
            res["latency"].append(l)
            print("latency: threads %d  median %.2f ms  min %.2f ms  (batch 1, N=%d, PyTorch %s)" % (
                th, l["median_ms"], l["min_ms"], l["n"], torch.__version__))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
