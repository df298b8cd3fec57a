#!/usr/bin/python3
"""Derive the outlier-stress model lavt-tiny-outliers from lavt-tiny by a
FUNCTION-PRESERVING rescale inside the text encoder, so that the inputs of
linear layers that consume text features carry BERT-like "massive
activation" channels (a few channels 25-100x larger than the median one) while the
FP32 outputs stay those of lavt-tiny.

Two rescales, both exact in float32 because every alpha is a power of two
(multiplying or dividing by 2^k only changes the exponent, so
(W/a)·(a·x) == W·x bit for bit and every sum sees the same addends; the script
checks that no scaled value leaves the normal float range):

1. Final text LayerNorm -> PWAM key/value. BERT is post-LN, so scaling a
   LayerNorm output channel is in general NOT function preserving (it enters
   the next residual sum). The LAST one, encoder.layer.{L-1}.output.LayerNorm,
   is the exception: its output l is the text feature l_feats, and per
   models/README.md (and models/lavt.c, pwam()) l is consumed ONLY by
   backbone.layers.{i}.fusion.image_lang_att.f_key.0 and .f_value.0 of every
   stage i (the res_gate, the query, W, vis_project and project_mm see image
   features only; the padding mask multiplies the projections' outputs, not l).
   So for each chosen channel c with factor a:
       LayerNorm.weight[c] *= a, LayerNorm.bias[c] *= a
       f_key.0.weight[:, c, 0] /= a and f_value.0.weight[:, c, 0] /= a  (all stages)
2. Inside BERT attention: value output channel c (attention.self.value.weight
   row c and .bias[c]) times a, attention.output.dense.weight column c divided
   by a. The softmax weights do not depend on the values, so the context
   channel c is exactly a times larger and is consumed only by
   attention.output.dense: the input of that dense layer gets massive channels.

Which channels: by default (--select consistent) the ones that are already
one-signed in lavt-tiny -- the largest |mean| / std over the real tokens of a
selection set (--select-data, generated data that is neither the training nor
the evaluation split) -- so that after the rescale they are massive AND
consistently large with one sign, as BERT's outlier dimensions are (a
LayerNorm dimension that is systematically large), not zero-mean channels
that are merely wide. --select random draws them from --seed instead.
Factors are drawn from --seed with numpy.random.RandomState (legacy
generator, stable across numpy versions). The output
(model.yaml, weights.safetensors, vocab.txt, PROVENANCE.md) is byte-for-byte
reproducible from the seed and the source weights; PROVENANCE.md also holds
the measured max |Δlogits| vs lavt-tiny and activation statistics computed
with the PyTorch reference (tools/lavt_ref.py, 1 thread) on the first
--samples expressions of --data (skipped, and said so, when --data is absent).

usage: tools/make_outliers.py [--seed 7] [--src models/zoo/lavt-tiny]
       [--out models/zoo/lavt-tiny-outliers] [--ln-channels 3]
       [--value-layers 0,1] [--value-channels 2] [--alphas 64]
       [--select consistent|random] [--select-data tools/work/select]
       [--data tools/work/val] [--samples 16]
(tools/work/select: `build/harness/risq dataset synth --seed 11 --count 100
--size 64 --out tools/work/select --split train`; tools/work/val as in
tools/README.md.)
"""

import argparse
import hashlib
import json
import os
import re
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, HERE)


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def read_st(path):
    """-> (raw bytes, {name: float32 numpy array (copy)}, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, d in header.items():
        if d["dtype"] != "F32":
            raise SystemExit("%s: tensor %s has dtype %s, only F32 is handled" % (path, name, d["dtype"]))
        a, b = d["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], "<f4").reshape(d["shape"]).copy()
    return data, out, meta


def is_pow2(a):
    return a >= 2 and (a & (a - 1)) == 0


def scale_exact(arr, idx, factor, name):
    """arr[idx] *= factor in float32, checking the result is exactly invertible
    (no overflow, no subnormal/zero from a non-zero value)."""
    old = arr[idx].astype(np.float32)
    new = (old * np.float32(factor)).astype(np.float32)
    back = (new / np.float32(factor)).astype(np.float32)
    tiny = np.finfo(np.float32).tiny
    bad = (~np.isfinite(new)) | ((old != 0) & (np.abs(new) < tiny)) | (back != old)
    if bad.any():
        raise SystemExit("rescale of %s by %g is not exact (%d values leave the normal range)"
                         % (name, factor, int(bad.sum())))
    arr[idx] = new


def choose(rng, n, k):
    return sorted(int(c) for c in rng.choice(n, size=k, replace=False))


def capture_text(model, x, ids, msk, layers):
    """Inputs of PWAM f_key.0 (l_feats, as B,T,C) and of attention.output.dense
    of the given BERT layers, for one batch."""
    import torch
    caps, hooks = {}, []

    def hook(name):
        def f(mod, inp, out):
            caps[name] = inp[0].detach().clone()
        return f
    tenc = model.text_encoder.encoder.layer
    hooks.append(model.backbone.layers[0].fusion.image_lang_att.f_key[0].register_forward_hook(hook("l")))
    for k in layers:
        hooks.append(tenc[k].attention.output.dense.register_forward_hook(hook("ao%d" % k)))
    with torch.no_grad():
        lg = model(x, ids, msk)
    for h in hooks:
        h.remove()
    caps["l"] = caps["l"].permute(0, 2, 1)
    return lg, caps


def load_batch(cfg, wp, folder, n):
    import torch
    import risqdata
    from train import batch_images
    d = risqdata.load(folder)
    T = cfg["tokenizer"]["max_tokens"]
    pairs = [(i, s) for i in range(len(d.sentences)) for s in d.sentences[i]][:n]
    enc = [wp.encode(s, T) for _, s in pairs]
    ids = torch.tensor([e[0] for e in enc], dtype=torch.long)
    msk = torch.tensor([e[1] for e in enc], dtype=torch.long)
    x = batch_images(d.images, d.sample_image[np.array([p[0] for p in pairs])], cfg)
    return x, ids, msk, len(pairs)


def select_consistent(args, vlayers):
    """Channels with the largest |mean| / std over the real tokens of the
    selection set, among those with |mean| >= --min-ratio x std (one-signed
    with a margin): {"l": [...], "ao<k>": [...]} (sorted channel numbers; a
    layer may get fewer than asked, or none)."""
    import torch
    torch.set_num_threads(1)
    from eval import load_model
    if not os.path.isdir(args.select_data):
        raise SystemExit("--select consistent needs --select-data %s (see the usage above), or use "
                         "--select random" % args.select_data)
    cfg, model, wp = load_model(args.src)
    x, ids, msk, _ = load_batch(cfg, wp, args.select_data, args.select_samples)
    _, caps = capture_text(model, x, ids, msk, vlayers)
    real = msk.bool()
    out = {}
    for key, n in [("l", args.ln_channels)] + [("ao%d" % k, args.value_channels) for k in vlayers]:
        v = caps[key][real].numpy().astype(np.float64)
        r = np.abs(v.mean(0)) / np.maximum(v.std(0), 1e-12)
        out[key] = sorted(int(c) for c in np.argsort(-r, kind="stable")[:n] if r[c] >= args.min_ratio)
        out["ratio_" + key] = {c: float(r[c]) for c in out[key]}
    if not out["l"]:
        raise SystemExit("no channel of l_feats has |mean| >= %g std: lower --min-ratio" % args.min_ratio)
    return out


def build(args):
    src_w = os.path.join(args.src, "weights.safetensors")
    raw, W, meta = read_st(src_w)
    src_sha = sha256_bytes(raw)
    import yaml
    with open(os.path.join(args.src, "model.yaml"), "r", encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    Lh, L = int(cfg["bert"]["hidden_size"]), int(cfg["bert"]["num_layers"])
    nst = len(cfg["swin"]["depths"])
    alphas = [int(a) for a in args.alphas.split(",")]
    for a in alphas:
        if not is_pow2(a):
            raise SystemExit("--alphas: %d is not a power of two >= 2; only powers of two keep the "
                             "rescale bit-exact in float32" % a)
    vlayers = [int(k) for k in args.value_layers.split(",")] if args.value_layers else []
    args.selected_ratios = {}
    for k in vlayers:
        if not 0 <= k < L:
            raise SystemExit("--value-layers: %d outside 0..%d" % (k, L - 1))

    rng = np.random.RandomState(args.seed)
    consistent = select_consistent(args, vlayers) if args.select == "consistent" else None
    if consistent:
        args.selected_ratios = {k: v for k, v in consistent.items() if k.startswith("ratio_")}
    ln_ch = consistent["l"] if consistent else choose(rng, Lh, args.ln_channels)
    ln_a = [int(alphas[int(i)]) for i in rng.randint(0, len(alphas), size=len(ln_ch))]
    val = []  # (layer, channel, alpha)
    for k in vlayers:
        chs = consistent["ao%d" % k] if consistent else choose(rng, Lh, args.value_channels)
        al = [int(alphas[int(i)]) for i in rng.randint(0, len(alphas), size=len(chs))]
        val += [(k, c, a) for c, a in zip(chs, al)]

    touched = []
    # 1. final LayerNorm and every consumer of l_feats
    lnp = "text_encoder.encoder.layer.%d.output.LayerNorm." % (L - 1)
    consumers = []
    for i in range(nst):
        for kind in ("f_key", "f_value"):
            consumers.append("backbone.layers.%d.fusion.image_lang_att.%s.0.weight" % (i, kind))
    # Guard: the contract says l feeds f_key/f_value only; any other tensor
    # named after language/text input means the contract changed.
    for name in W:
        if re.search(r"(lang|text|word|l_feat)", name) and not name.startswith("text_encoder.") \
                and ".image_lang_att." not in name:
            raise SystemExit("unexpected text consumer %s: update make_outliers.py" % name)
    for c, a in zip(ln_ch, ln_a):
        scale_exact(W[lnp + "weight"], (c,), a, lnp + "weight")
        scale_exact(W[lnp + "bias"], (c,), a, lnp + "bias")
        for cn in consumers:
            if W[cn].shape[1] != Lh or W[cn].ndim != 3:
                raise SystemExit("%s: shape %s, expected [D][%d][1]" % (cn, W[cn].shape, Lh))
            scale_exact(W[cn], (slice(None), c, 0), 1.0 / a, cn)
    touched.append("`%s{weight,bias}`: entries %s times %s" % (lnp, ln_ch, ln_a))
    touched.append("`backbone.layers.{%s}.fusion.image_lang_att.{f_key,f_value}.0.weight` "
                   "(all %d consumers of l_feats): input columns %s divided by %s"
                   % (",".join(str(i) for i in range(nst)), len(consumers), ln_ch, ln_a))
    # 2. value output channel -> attention.output.dense input column
    for k, c, a in val:
        p = "text_encoder.encoder.layer.%d.attention." % k
        scale_exact(W[p + "self.value.weight"], (c, slice(None)), a, p + "self.value.weight")
        scale_exact(W[p + "self.value.bias"], (c,), a, p + "self.value.bias")
        scale_exact(W[p + "output.dense.weight"], (slice(None), c), 1.0 / a, p + "output.dense.weight")
    for k in vlayers:
        sel = [(c, a) for (kk, c, a) in val if kk == k]
        if not sel:
            touched.append("`text_encoder.encoder.layer.%d.attention`: no value channel qualifies "
                           "(|mean| >= %g std), left as is" % (k, args.min_ratio))
            continue
        touched.append("`text_encoder.encoder.layer.%d.attention.self.value.{weight rows, bias}` %s "
                       "times %s; `...layer.%d.attention.output.dense.weight` columns %s divided by %s"
                       % (k, [c for c, _ in sel], [a for _, a in sel], k, [c for c, _ in sel],
                          [a for _, a in sel]))

    plan = {"seed": args.seed, "alphas": alphas, "ln_layer": L - 1, "ln_channels": ln_ch,
            "ln_alphas": ln_a, "value": val, "src_sha256": src_sha, "touched": touched,
            "consumers": consumers, "lnp": lnp}
    meta = dict(meta)
    meta.update({
        "name": args.name,
        "producer": "tools/make_outliers.py",
        "derived_from": os.path.basename(os.path.normpath(args.src)),
        "derived_from_sha256": src_sha,
        "outlier_seed": str(args.seed),
        "outlier_ln": json.dumps({"tensor": lnp + "{weight,bias}", "channels": ln_ch, "alphas": ln_a}),
        "outlier_value": json.dumps([{"layer": k, "channel": c, "alpha": a} for k, c, a in val]),
    })
    return cfg, W, meta, plan


def write_outputs(args, cfg, W, meta, plan):
    import lavt_ref
    os.makedirs(args.out, exist_ok=True)
    wpath = os.path.join(args.out, "weights.safetensors")
    lavt_ref.save_safetensors(wpath, W, meta)
    with open(os.path.join(args.src, "model.yaml"), "r", encoding="utf-8") as f:
        y = f.read()
    y2, n = re.subn(r"(?m)^name:\s*\S+\s*$", "name: %s" % args.name, y)
    if n != 1:
        raise SystemExit("%s/model.yaml: expected one top-level name: line" % args.src)
    head = ("# %s: lavt-tiny with a function-preserving rescale in the text encoder\n"
            "# (massive-activation channels at the text-consuming linears' inputs);\n"
            "# written by tools/make_outliers.py, see PROVENANCE.md. Same architecture.\n"
            % args.name)
    lines = y2.split("\n")
    while lines and lines[0].startswith("#"):   # replace the leading comment block
        lines.pop(0)
    y2 = head + "\n".join(lines)
    with open(os.path.join(args.out, "model.yaml"), "w", encoding="utf-8") as f:
        f.write(y2)
    vocab = cfg["tokenizer"]["vocab"]
    with open(os.path.join(args.src, vocab), "rb") as f:
        vb = f.read()
    with open(os.path.join(args.out, os.path.basename(vocab)), "wb") as f:
        f.write(vb)
    return wpath


def measure(args, plan):
    """Max |Δlogits| and activation stats with the PyTorch reference."""
    import torch
    torch.set_num_threads(1)
    import risqdata
    from eval import load_model
    from train import batch_images
    if not args.data or not os.path.isdir(args.data):
        return None
    cfg0, m0, wp = load_model(args.src)
    cfg1, m1, _ = load_model(args.out)
    x, ids, msk, npairs = load_batch(cfg0, wp, args.data, args.samples)
    layers = sorted(set(k for k, _, _ in plan["value"]))

    def capture(model):
        return capture_text(model, x, ids, msk, layers)

    lg0, c0 = capture(m0)
    lg1, c1 = capture(m1)
    dl = float((lg0 - lg1).abs().max())
    same_mask = bool(torch.equal(lg0[:, 1] > lg0[:, 0], lg1[:, 1] > lg1[:, 0]))
    real = msk.bool()

    def chan_max(t, layout):
        # per-channel max |x| over the real tokens of all expressions (t is B,T,C)
        return t[real].abs().max(0).values.numpy().astype(np.float64)

    def chan_min(t):
        return t[real].abs().min(0).values.numpy().astype(np.float64)

    stats = []
    for key, layout, chs in [("l", "BCT", plan["ln_channels"])] + \
            [("ao%d" % k, "BTC", [c for kk, c, _ in plan["value"] if kk == k])
             for k in sorted(set(v[0] for v in plan["value"]))]:
        a0, a1 = chan_max(c0[key], layout), chan_max(c1[key], layout)
        # median over the untouched channels (the scale of "the rest")
        med0, med1 = float(np.median(np.delete(a0, chs))), float(np.median(np.delete(a1, chs)))
        stats.append({"key": key, "channels": chs, "orig": [float(a0[c]) for c in chs],
                      "new": [float(a1[c]) for c in chs], "median_orig": med0, "median_new": med1,
                      "min_new": [float(chan_min(c1[key])[c]) for c in chs],
                      "max_other_new": float(np.delete(a1, chs).max())})
    return {"dlogits": dl, "same_mask": same_mask, "n": npairs, "stats": stats,
            "exact": dl == 0.0}


def provenance(args, plan, wsha, meas):
    L = []
    L.append("# %s provenance\n" % args.name)
    L.append("Outlier-stress variant of `lavt-tiny`: the same network and the same FP32 function, but")
    L.append("the text encoder is rescaled so that the inputs of linear layers that consume text")
    L.append("features have BERT-like \"massive activation\" channels (a few one-signed channels 65-180x the")
    L.append("median channel), the case RORQ (outlier-retained quantization of text activations) is for.\n")
    L.append("* Made by (from the repository root, torch 1.13 CPU, 1 thread for the measurement):\n")
    L.append("      /usr/bin/python3 tools/make_outliers.py --seed %d%s\n"
             % (args.seed, "" if args.data == DEFAULT_DATA else " --data %s" % args.data))
    L.append("  with the defaults `--ln-channels %d --value-layers %s --value-channels %d --alphas %s "
             "--select %s --select-samples %d --samples %d`." % (args.ln_channels, args.value_layers,
                                 args.value_channels, args.alphas, args.select, args.select_samples,
                                 args.samples))
    if args.select == "consistent":
        L.append("* Channels: those with the largest |mean| / std over the real tokens of the first %d"
                 % args.select_samples)
        L.append("  expressions of `tools/work/select` (`risq dataset synth --seed 11 --count 100 --size 64"
                 " --split train`),")
        L.append("  among those with |mean| >= %g std, i.e. already one-signed in lavt-tiny: after the rescale"
                 % args.min_ratio)
        L.append("  they are massive and consistently large with one sign, like BERT's outlier dimensions")
        L.append("  (min |x| in the table below). |mean| / std of the chosen channels: %s."
                 % ", ".join("%s %s" % (k[6:], {c: round(r, 1) for c, r in v.items()})
                             for k, v in sorted(args.selected_ratios.items())))
    L.append("* Source: `models/zoo/lavt-tiny/weights.safetensors`, sha256 `%s`." % plan["src_sha256"])
    L.append("  If lavt-tiny's weights change, rerun the command (tests/models/test_outliers.c then fails).")
    L.append("* Output `weights.safetensors` sha256 `%s` (byte-for-byte reproducible from the seed" % wsha)
    L.append("  and the source weights; `__metadata__` records seed, channels and factors).")
    L.append("* Seed %d, factors drawn from {%s} (powers of two only: scaling by 2^k changes only the"
             % (args.seed, ", ".join(str(a) for a in plan["alphas"])))
    L.append("  exponent, so (W/a)·(a·x) = W·x bit for bit and the output is exactly lavt-tiny's).\n")
    L.append("## Tensors touched\n")
    L.append("1. Final text LayerNorm -> every consumer of l_feats. BERT is post-LN, so only the LAST")
    L.append("   LayerNorm can be scaled: its output l is consumed only by the PWAM key and value")
    L.append("   projections of all four stages (models/README.md; models/lavt.c `pwam()`).")
    L.append("   * " + plan["touched"][0])
    L.append("   * " + plan["touched"][1])
    L.append("2. Value channel -> attention output dense (softmax weights do not depend on v, so the")
    L.append("   context channel is exactly a times larger; only `attention.output.dense` reads it):")
    for t in plan["touched"][2:]:
        L.append("   * " + t)
    L.append("")
    L.append("## Measured\n")
    if meas is None:
        L.append("Not measured: `--data %s` was not found (build it with "
                 "`build/risq dataset synth --seed 7 --count 300 --size 64 --out tools/work/val --split val`)."
                 % args.data)
    else:
        L.append("PyTorch reference (`tools/lavt_ref.py`), first %d expressions of `%s` "
                 "(synth seed 7 val), batch %d:\n" % (meas["n"], args.data, meas["n"]))
        L.append("* max |Δlogits| vs lavt-tiny: **%.3g**%s; argmax masks identical: %s."
                 % (meas["dlogits"], " (bit-identical)" if meas["exact"] else "",
                    "yes" if meas["same_mask"] else "NO"))
        L.append("  The C forward (`tests/models/test_outliers.c`, synth seed 7) checks the same:")
        L.append("  max |Δlogits| <= 1e-4 and identical masks.")
        L.append("* Activations: per channel max |x| over the real tokens of those expressions;")
        L.append("  \"median channel\" = median of that over the untouched channels.\n")
        L.append("| linear input | channel | lavt-tiny max \\|x\\| | outliers max \\|x\\| | outliers min \\|x\\| | ratio to median channel |")
        L.append("|---|---|---|---|---|---|")
        for s in meas["stats"]:
            where = ("l_feats (input of f_key.0/f_value.0, all stages)" if s["key"] == "l"
                     else "layer %s attention.output.dense" % s["key"][2:])
            for c, o, n, lo in zip(s["channels"], s["orig"], s["new"], s["min_new"]):
                L.append("| %s | %d | %.3f | %.2f | %.2f | %.1fx |" % (where, c, o, n, lo, n / s["median_new"]))
            L.append("| %s | median channel | %.3f | %.3f | | 1x |" % (where, s["median_orig"], s["median_new"]))
            L.append("| %s | largest other channel | | %.3f | | %.1fx |"
                     % (where, s["max_other_new"], s["max_other_new"] / s["median_new"]))
        L.append("")
    L.append("Licence: MIT (derived from lavt-tiny, trained from scratch on generated data).")
    return "\n".join(L) + "\n"


DEFAULT_DATA = "tools/work/val"


def main():
    ap = argparse.ArgumentParser(description="make lavt-tiny-outliers (function-preserving rescale)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--src", default=os.path.join(ROOT, "models", "zoo", "lavt-tiny"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "zoo", "lavt-tiny-outliers"))
    ap.add_argument("--name", default="lavt-tiny-outliers")
    ap.add_argument("--ln-channels", type=int, default=3)
    ap.add_argument("--value-layers", default="0,1", help="BERT layers for rescale 2 ('' = none)")
    ap.add_argument("--value-channels", type=int, default=2, help="channels per value layer")
    ap.add_argument("--alphas", default="64", help="factors to draw from (powers of two)")
    ap.add_argument("--select", choices=["consistent", "random"], default="consistent",
                    help="which channels become massive (see the top of this file)")
    ap.add_argument("--select-data", default=os.path.join(ROOT, "tools", "work", "select"),
                    help="dataset folder for --select consistent")
    ap.add_argument("--select-samples", type=int, default=200)
    ap.add_argument("--min-ratio", type=float, default=8.0,
                    help="--select consistent: only channels with |mean| >= this x std")
    ap.add_argument("--data", default=DEFAULT_DATA, help="dataset folder for the measurement")
    ap.add_argument("--samples", type=int, default=16)
    args = ap.parse_args()
    if args.data == DEFAULT_DATA:
        args.data = os.path.join(ROOT, DEFAULT_DATA)
    data_arg = args.data
    cfg, W, meta, plan = build(args)
    wpath = write_outputs(args, cfg, W, meta, plan)
    with open(wpath, "rb") as f:
        wsha = sha256_bytes(f.read())
    meas = measure(args, plan)
    if meas is not None and not meas["exact"] and meas["dlogits"] > 1e-4:
        raise SystemExit("max |dlogits| = %g > 1e-4: not function preserving" % meas["dlogits"])
    args.data = DEFAULT_DATA if data_arg == os.path.join(ROOT, DEFAULT_DATA) else data_arg
    with open(os.path.join(args.out, "PROVENANCE.md"), "w", encoding="utf-8") as f:
        f.write(provenance(args, plan, wsha, meas))
    print("wrote %s (sha256 %s)" % (args.out, wsha))
    print("LN channels %s x %s; value %s" % (plan["ln_channels"], plan["ln_alphas"], plan["value"]))
    if meas:
        print("max |dlogits| %.3g, masks identical: %s" % (meas["dlogits"], meas["same_mask"]))
        for s in meas["stats"]:
            print(s)


if __name__ == "__main__":
    main()
