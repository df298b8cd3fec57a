#!/usr/bin/python3
"""PyTorch reference latency of a lavt_one model at its model.yaml's size,
for comparison with risq's own kernels (by default LAVT-B:
models/zoo/lavt-b-shapes, Swin-B + BERT-base, 480x480, 20 tokens).

The network is tools/lavt_ref.py's LAVTOne built from the model.yaml, with
PyTorch's own random initialisation (torch.manual_seed(--seed)): the values
do not matter for speed, and no weights file is read. One batch-1 input: a
random normalised 480x480 image and one tokenized sentence padded to
max_tokens.

For each thread count (torch.set_num_threads(N)) and mode it runs --warmup
untimed forward passes, then --reps timed ones, and reports the median (and
min) wall time, and the median CPU time of the whole process per pass
(time.process_time: all threads; on a shared machine the 1-thread CPU time
is the cost without waiting for a core; OpenMP's spinning adds to it with
more threads):
  fp32  the float model, under torch.inference_mode()
  int8  torch.ao.quantization.quantize_dynamic on nn.Linear: int8 weights,
        activations quantized per tensor at run time (dynamic W8A8). It
        covers ONLY the nn.Linear layers (Swin qkv/proj/MLP, patch merging,
        BERT, res_gate); the patch-embedding and decoder convolutions, PWAM's
        1x1 Conv1d projections, the attention matmuls, norms and softmax stay
        fp32.

Threads: Debian's torch runs its BLAS calls on OpenBLAS, whose own thread
pool ignores torch.set_num_threads and is sized once, when the library
loads (measured: "1 thread" used 1.5 cores). So each thread count runs in a
fresh child process with OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to it
(unless already set), and the parent merges the results.

usage: tools/bench_torch.py [--model-dir models/zoo/lavt-b-shapes]
       [--threads 1,2] [--modes fp32,int8] [--reps 5] [--warmup 1]
       [--seed 1] [--json FILE]
Runs on Debian's python3-torch (RISQ_TOOLS=1 ci/bootstrap installs it).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
torch = nn = lavt_ref = WordPiece = None   # imported by load_torch(), after the environment is set


def load_torch():
    global torch, nn, lavt_ref, WordPiece
    import torch as t
    import torch.nn as tnn
    import lavt_ref as lr
    from wordpiece import WordPiece as wp
    torch, nn, lavt_ref, WordPiece = t, tnn, lr, wp


def run_children(args, threads):
    """One child process per thread count (see the top of this file); returns
    the merged results, or exits with the first child's failure."""
    merged = None
    for n in threads:
        env = dict(os.environ)
        env.setdefault("OPENBLAS_NUM_THREADS", str(n))
        env.setdefault("OMP_NUM_THREADS", str(n))
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            tmp = f.name
        cmd = [sys.executable, os.path.abspath(__file__), "--model-dir", args.model_dir,
               "--threads", str(n), "--modes", args.modes, "--reps", str(args.reps),
               "--warmup", str(args.warmup), "--seed", str(args.seed), "--json", tmp, "--child"]
        rc = subprocess.run(cmd, env=env).returncode
        if rc != 0:
            sys.exit(rc)
        with open(tmp, encoding="utf-8") as f:
            r = json.load(f)
        os.unlink(tmp)
        if merged is None:
            merged = r
        else:
            merged["points"] += r["points"]
            merged["peak_rss_kb"] = max(merged["peak_rss_kb"], r["peak_rss_kb"])
    return merged


def print_table(res, threads, modes):
    print()
    print("| threads | " + " | ".join("torch %s median ms" % m for m in modes)
          + (" | int8 / fp32" if len(modes) == 2 else "") + " |")
    print("|---" * (1 + len(modes) + (len(modes) == 2)) + "|")
    for n in threads:
        med = {p["mode"]: p["median_ms"] for p in res["points"] if p["threads"] == n}
        row = "| %d | " % n + " | ".join("%.1f" % med[m] for m in modes)
        if len(modes) == 2:
            row += " | %.2f" % (med["int8"] / med["fp32"])
        print(row + " |")
    print("\npeak RSS of one process: %d MB" % (res["peak_rss_kb"] // 1024))

SENTENCE = "the big red circle on the left"


def make_inputs(cfg, model_dir, seed):
    """(image [1][3][S][S], ids [1][T], mask [1][T]) for one expression."""
    S, T = cfg["input"]["size"], cfg["tokenizer"]["max_tokens"]
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(1, 3, S, S, generator=g)
    wp = WordPiece(os.path.join(model_dir, cfg["tokenizer"]["vocab"]),
                   cfg["tokenizer"].get("lower_case", True))
    ids, msk = wp.encode(SENTENCE, T)
    return img, torch.tensor([ids], dtype=torch.long), torch.tensor([msk], dtype=torch.long)


def time_forward(model, inputs, threads, warmup, reps):
    torch.set_num_threads(threads)
    with torch.inference_mode():
        for _ in range(warmup):
            out = model(*inputs)
        ts, cpu = [], []
        for _ in range(reps):
            c = time.process_time()
            t = time.perf_counter()
            out = model(*inputs)
            ts.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    ts = np.array(ts) * 1000.0
    cpu = np.array(cpu) * 1000.0
    return {"threads": threads, "reps": reps, "warmup": warmup,
            "median_ms": float(np.median(ts)), "min_ms": float(ts.min()),
            "cpu_median_ms": float(np.median(cpu)),
            "samples_ms": [float(x) for x in ts]}, out


def count(model, kind):
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, kind))


def main():
    ap = argparse.ArgumentParser(description="PyTorch latency of a lavt_one model (fp32 and dynamic int8)")
    ap.add_argument("--model-dir", default=os.path.join(HERE, "..", "models", "zoo", "lavt-b-shapes"))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--modes", default="fp32,int8", help="fp32, int8 or both (default fp32,int8)")
    ap.add_argument("--reps", type=int, default=5, help="timed forward passes per point (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed passes first (default 1)")
    ap.add_argument("--seed", type=int, default=1, help="torch.manual_seed for weights and input")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",") if t]
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in ("fp32", "int8"):
            ap.error("unknown mode %r (fp32, int8)" % m)
    if not threads or min(threads) < 1 or args.reps < 1 or args.warmup < 0:
        ap.error("threads must be >= 1, --reps >= 1, --warmup >= 0")
    if not args.child:
        res = run_children(args, threads)
        print_table(res, threads, modes)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(res, f, indent=1)
                f.write("\n")
        return 0
    load_torch()

    cfg = lavt_ref.load_cfg(os.path.join(args.model_dir, "model.yaml"))
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    fp32 = lavt_ref.build_model(cfg).eval()
    build_s = time.perf_counter() - t0
    inputs = make_inputs(cfg, args.model_dir, args.seed)
    nparam = sum(p.numel() for p in fp32.parameters())
    nlin = count(fp32, nn.Linear)
    models = {"fp32": fp32}
    if "int8" in modes:
        models["int8"] = torch.ao.quantization.quantize_dynamic(fp32, {nn.Linear}, dtype=torch.qint8)

    S, T = cfg["input"]["size"], cfg["tokenizer"]["max_tokens"]
    print("bench_torch: %s, torch %s, %s, engine %s" % (cfg["name"], torch.__version__,
          platform.processor() or platform.machine(), torch.backends.quantized.engine))
    print("bench_torch: input %dx%d, %d tokens, batch 1; %.1f M parameters (%.1f M in nn.Linear), "
          "built in %.1f s" % (S, S, T, nparam / 1e6, nlin / 1e6, build_s))
    if "int8" in modes:
        print("bench_torch: int8 = torch.ao.quantization.quantize_dynamic on nn.Linear only (dynamic "
              "W8A8: int8 weights, activations quantized per tensor at run time); convolutions "
              "(patch embedding, PWAM 1x1, decoder), attention matmuls, norms and softmax stay fp32")

    res = {"model": cfg["name"], "model_dir": os.path.abspath(args.model_dir),
           "torch": torch.__version__, "input_size": S, "tokens": T,
           "params": nparam, "linear_params": nlin, "points": []}
    outs = {}
    for n in threads:
        for mode in modes:
            r, out = time_forward(models[mode], inputs, n, args.warmup, args.reps)
            r["mode"] = mode
            outs[mode] = out
            if not torch.isfinite(out).all():
                print("bench_torch: warning: %s logits are not all finite" % mode, file=sys.stderr)
            res["points"].append(r)
            print("  %-5s threads %2d: median %9.1f ms  min %9.1f ms  cpu %9.1f ms  (%d reps)" % (
                mode, n, r["median_ms"], r["min_ms"], r["cpu_median_ms"], r["reps"]), flush=True)
    if "fp32" in outs and "int8" in outs:
        ref, q = outs["fp32"].double(), outs["int8"].double()
        sq = 10 * np.log10(float((ref ** 2).sum()) / max(float(((q - ref) ** 2).sum()), 1e-300))
        res["int8_logit_sqnr_db"] = sq
        print("bench_torch: int8 vs fp32 logit SQNR %.1f dB (random weights)" % sq)
    res["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res["openblas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
