#!/usr/bin/python3
"""Train lavt-tiny (lavt_one, sizes from model.yaml) on a risq dataset folder
and export weights.safetensors.

Examples: every sample of every split in --data; one epoch visits each sample
once with one of its sentences drawn at random (numpy RNG seeded from --seed
and the epoch, so the order does not depend on where a run was resumed).
Loss: 2-class cross-entropy on the full-resolution (S x S) logits plus
--dice (default 1.0) x soft-Dice loss of the foreground probability (the
referred object is often small; Dice keeps the foreground from being
ignored early on). AdamW, linear warm-up then cosine decay to 0 over the
planned --epochs. No geometric augmentation (a flip would change the meaning
of "left"/"right").

Per epoch: prints mean loss, samples/s, and val mIoU/oIoU (argmax, every
sentence of --val); writes --ckpt (resume with --resume). At the end (or when
--max-minutes is reached, after the current step) exports --out/weights.safetensors.
The metadata records the global step reached; --stop-step N replays such a
cut run deterministically (same seed, data, threads: same sampling order).

usage: tools/train.py --data DIR --val DIR [--epochs 8] [--lr 5e-4] [--batch 32]
       [--seed 1] [--out models/zoo/lavt-tiny] [--max-minutes 40] [--stop-step N] [--resume]
       [--init WEIGHTS]
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lavt_ref  # noqa: E402
import risqdata  # noqa: E402
from wordpiece import WordPiece  # noqa: E402


def batch_images(images_u8, idx, cfg):
    x = torch.from_numpy(images_u8[idx]).permute(0, 3, 1, 2).float() / 255.0
    S = cfg["input"]["size"]
    if x.shape[-1] != S or x.shape[-2] != S:
        x = F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False)
    mean = torch.tensor(cfg["input"]["mean"], dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(cfg["input"]["std"], dtype=torch.float32)[None, :, None, None]
    return (x - mean) / std


def batch_masks(masks_u8, idx, cfg):
    m = torch.from_numpy(masks_u8[idx]).long()
    S = cfg["input"]["size"]
    if m.shape[-1] != S or m.shape[-2] != S:
        m = F.interpolate(m[:, None].float(), size=(S, S), mode="nearest")[:, 0].long()
    return m


def prepare(folder, cfg, wp, split=None):
    t = time.time()
    d = risqdata.load(folder, split)
    T = cfg["tokenizer"]["max_tokens"]
    d.ids, d.tmask, d.ex_sample, d.ex_sent = risqdata.tokenize_all(d, wp, T)
    d.first_ex = np.zeros(len(d.sentences), np.int64)
    d.n_sent = np.array([len(s) for s in d.sentences], np.int64)
    d.first_ex[1:] = np.cumsum(d.n_sent)[:-1]
    print("%s: %d images, %d samples, %d expressions, %.1f MB, loaded in %.1fs" % (
        folder, len(d.images), len(d.sentences), len(d.ids),
        (d.images.nbytes + d.masks.nbytes) / 1e6, time.time() - t), flush=True)
    return d


@torch.no_grad()
def evaluate(model, d, cfg, batch=64, limit=None):
    """IoU per expression over every sentence; -> dict of metrics."""
    model.eval()
    E = len(d.ids) if limit is None else min(limit, len(d.ids))
    I_tot = U_tot = 0
    ious = []
    for a in range(0, E, batch):
        ex = np.arange(a, min(E, a + batch))
        smp = d.ex_sample[ex]
        x = batch_images(d.images, d.sample_image[smp], cfg)
        gt = batch_masks(d.masks, smp, cfg).bool()
        lg = model(x, torch.from_numpy(d.ids[ex]), torch.from_numpy(d.tmask[ex]))
        pred = lg[:, 1] > lg[:, 0]
        inter = (pred & gt).flatten(1).sum(1).double()
        union = (pred | gt).flatten(1).sum(1).double()
        I_tot += inter.sum().item()
        U_tot += union.sum().item()
        ious.append(torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union)))
    iou = torch.cat(ious).numpy()
    r = {"miou": 100.0 * iou.mean(), "oiou": 100.0 * I_tot / max(U_tot, 1)}
    for th in (0.5, 0.6, 0.7, 0.8, 0.9):
        r["prec@%.1f" % th] = 100.0 * (iou >= th).mean()
    r["n"] = E
    return r


def lr_at(step, total, base, warm):
    if step < warm:
        return base * (step + 1) / warm
    p = min(1.0, (step - warm) / max(1, total - warm))
    return base * 0.5 * (1.0 + math.cos(math.pi * p))


def export(model, args, cfg, extra):
    meta = {"name": cfg.get("name", ""), "arch": cfg["arch"], "producer": "tools/train.py",
            "seed": args.seed, "torch": torch.__version__}
    meta.update(extra)
    path = os.path.join(args.out, cfg.get("weights", "weights.safetensors"))
    lavt_ref.save_safetensors(path, lavt_ref.export_state(model), meta)
    print("exported %s" % path, flush=True)


def main():
    ap = argparse.ArgumentParser(description="train lavt-tiny")
    ap.add_argument("--data", required=True, help="training dataset folder (all splits used)")
    ap.add_argument("--val", required=True, help="validation dataset folder")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "models", "zoo", "lavt-tiny"))
    ap.add_argument("--model", default=None, help="model.yaml (default OUT/model.yaml)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=300, help="warm-up steps")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dice", type=float, default=1.0, help="weight of the Dice term")
    ap.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    ap.add_argument("--dropout", type=float, default=0.0, help="BERT dropout during training")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-max", type=int, default=None, help="evaluate at most this many val expressions")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop cleanly after this wall time")
    ap.add_argument("--stop-step", type=int, default=None,
                    help="stop after this global step (replays a run cut by --max-minutes exactly)")
    ap.add_argument("--ckpt", default=os.path.join(HERE, "work", "ckpt.pt"))
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default=None,
                    help="start from these weights (safetensors; e.g. an earlier stage) with a fresh schedule")
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model_yaml = args.model or os.path.join(args.out, "model.yaml")
    cfg = lavt_ref.load_cfg(model_yaml)
    wp = WordPiece(os.path.join(os.path.dirname(model_yaml), cfg["tokenizer"]["vocab"]),
                   cfg["tokenizer"].get("lower_case", True))
    train = prepare(args.data, cfg, wp)
    val = prepare(args.val, cfg, wp)

    model = lavt_ref.build_model(cfg)
    if args.init:
        lavt_ref.load_weights(model, args.init)
        print("initialised from %s" % args.init, flush=True)
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = args.dropout
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.dim() < 2 or "relative_position_bias_table" in n or "embeddings" in n
         else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)

    Ns = len(train.sentences)
    steps_per_epoch = Ns // args.batch
    total = steps_per_epoch * args.epochs
    start_epoch, step, best = 0, 0, None
    if args.resume and os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        start_epoch, step = ck["epoch"] + 1, ck["step"]
        torch.set_rng_state(ck["torch_rng"])
        print("resumed from %s at epoch %d (step %d)" % (args.ckpt, start_epoch, step), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.ckpt)), exist_ok=True)
    print("params %d, %d samples/epoch, %d steps/epoch, %d epochs, batch %d, lr %g, threads %d" % (
        sum(p.numel() for p in model.parameters()), steps_per_epoch * args.batch, steps_per_epoch,
        args.epochs, args.batch, args.lr, args.threads), flush=True)

    stopped = False
    last = {}
    epoch = start_epoch - 1
    for epoch in range(start_epoch, args.epochs):
        model.train()
        rng = np.random.RandomState(args.seed * 1000003 + epoch)
        order = rng.permutation(Ns)
        sent_pick = rng.randint(0, 1 << 30, size=Ns) % train.n_sent
        t0 = time.time()
        tot_loss, nb = 0.0, 0
        for b in range(steps_per_epoch):
            smp = order[b * args.batch:(b + 1) * args.batch]
            ex = train.first_ex[smp] + sent_pick[smp]
            x = batch_images(train.images, train.sample_image[smp], cfg)
            gt = batch_masks(train.masks, smp, cfg)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, args.lr, args.warmup)
            lg = model(x, torch.from_numpy(train.ids[ex]), torch.from_numpy(train.tmask[ex]))
            loss = F.cross_entropy(lg, gt)
            if args.dice > 0:
                p = torch.softmax(lg, 1)[:, 1].flatten(1)
                g1 = gt.flatten(1).float()
                dice = 1.0 - (2 * (p * g1).sum(1) + 1.0) / (p.sum(1) + g1.sum(1) + 1.0)
                loss = loss + args.dice * dice.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            # Clip: InstanceNorm over the few positions of the last stage can
            # produce huge gradients (a first run diverged to NaN at lr 5e-4).
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            if not torch.isfinite(loss) or not torch.isfinite(gnorm):
                print("  step %d: non-finite loss/gradient, batch skipped" % step, flush=True)
                step += 1
                continue
            opt.step()
            step += 1
            tot_loss += loss.item()
            nb += 1
            if b % 50 == 0:
                print("  epoch %d step %d/%d loss %.4f lr %.2e %.1f samples/s" % (
                    epoch, b, steps_per_epoch, tot_loss / nb, opt.param_groups[0]["lr"],
                    nb * args.batch / (time.time() - t0)), flush=True)
            if ((args.max_minutes is not None and time.time() - t_start > 60 * args.max_minutes)
                    or (args.stop_step is not None and step >= args.stop_step)):
                stopped = True
                break
        dt = time.time() - t0
        r = evaluate(model, val, cfg, limit=args.val_max)
        last = r
        print("epoch %d loss %.4f %.1f samples/s (%.0fs) | val miou %.2f oiou %.2f prec@0.5 %.1f prec@0.9 %.1f (n=%d) | %.1f min%s" % (
            epoch, tot_loss / max(nb, 1), nb * args.batch / max(dt, 1e-9), dt, r["miou"], r["oiou"],
            r["prec@0.5"], r["prec@0.9"], r["n"], (time.time() - t_start) / 60,
            " (time budget reached)" if stopped else ""), flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch, "step": step,
                    "torch_rng": torch.get_rng_state(), "args": vars(args), "val": r,
                    "partial_epoch": stopped}, args.ckpt)
        if stopped:
            break
    if not args.no_export:
        extra = {"epochs_done": str(epoch + 1), "steps": str(step), "stopped_early": str(stopped),
                 "train_data": os.path.basename(os.path.normpath(args.data)),
                 "init": os.path.basename(args.init) if args.init else "",
                 "lr": str(args.lr), "batch": str(args.batch)}
        if last:
            extra["val_miou"] = "%.2f" % last["miou"]
        export(model.eval(), args, cfg, extra)
    print("done in %.1f min" % ((time.time() - t_start) / 60), flush=True)


if __name__ == "__main__":
    main()
