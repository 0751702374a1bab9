#!/usr/bin/env python3
"""PyTorch peer of bench/train_bench.ts: the same two models (their twins, bench/torch_twins.py), batch 64, Adam,
training examples/s (forward + backward + step) for full fine-tuning, `block3`
and `last-layer`, pre-training (`pretrain`: every parameter, batch norm in train mode,
batch 128), and inference examples/s, with 1 and 2 threads. Warm-up excluded, median
of several repetitions with their minimum and maximum. Prints one JSON object per line
with the field names of train_bench.ts (backend "torch-1t" / "torch-2t").

Optional peer only: needs Debian's python3-torch; never a dependency of scalpel.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from torch_twins import build, selection_names  # the zoo's PyTorch twins (this directory)

BATCH = 64
PRETRAIN_BATCH = 128


def small_cnn():
    return build("small-cnn", 1, 28, 28, 10)


def resnet_mini():
    return build("resnet-mini", 1, 28, 28, 10)


def warm_up_process(x, y):
    """One training step of each model, then nothing else: until the first backward pass of a
    process, PyTorch 1.13's no-grad forward ran ~10x slower on this machine (resnet-mini 1 thread:
    inference 442 ex/s before a training step, 4,700 after, whatever the weights), which made the
    peer's inference rows slower than its own frozen-prefix training rows."""
    for make in (small_cnn, resnet_mini):
        model = make()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        opt.zero_grad()
        F.cross_entropy(model(x[:BATCH]), y[:BATCH]).backward()
        opt.step()


def rate(fn, examples, reps):
    # warm up for at least a second: the first calls of a function are several times slower
    start = time.perf_counter()
    for _ in range(20):
        fn()
        if time.perf_counter() - start > 1.0:
            break
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(examples / (time.perf_counter() - t0))
    return statistics.median(times), min(times), max(times)


def epoch_of(model, opt, x, y, batch):
    """One epoch over x at `batch`: forward, cross-entropy, backward, Adam step per batch."""
    def epoch():
        for i in range(0, len(x), batch):
            opt.zero_grad()
            F.cross_entropy(model(x[i:i + batch]), y[i:i + batch]).backward()
            opt.step()
    return epoch


def row(name, subset, threads, batch, rates, infer_rate):
    """One JSON line with train_bench.ts's field names."""
    med, lo, hi = rates
    print(json.dumps({
        "model": name, "subset": subset, "backend": f"torch-{threads}t", "threads": threads, "batch": batch,
        "train_examples_per_s": round(med), "train_min": round(lo), "train_max": round(hi),
        "infer_examples_per_s": round(infer_rate),
    }), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    torch.manual_seed(0)
    n = BATCH * args.batches
    x = torch.rand(n, 1, 28, 28)
    y = torch.randint(0, 10, (n,))
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        warm_up_process(x, y)
        for name, make in (("small-cnn", small_cnn), ("resnet-mini", resnet_mini)):
            model = make()
            model.eval()  # batch-norm statistics frozen, as scalpel fine-tunes

            def infer():
                with torch.no_grad():
                    for i in range(0, n, BATCH):
                        model(x[i:i + BATCH])

            infer_rate = rate(infer, n, args.reps)[0]
            for subset in ("all", "block3", "last-layer"):
                names = set(selection_names(model, subset))
                params = [t for k, t in model.named_tensors() if k in names]
                for p in model.parameters():
                    p.requires_grad_(any(p is q for q in params))
                opt = torch.optim.Adam(params, lr=1e-4)
                row(name, subset, threads, BATCH, rate(epoch_of(model, opt, x, y, BATCH), n, args.reps), infer_rate)
            # pre-training: every parameter, batch statistics (running averages updated), batch 128
            pre = make()
            pre.train()
            opt = torch.optim.Adam(pre.parameters(), lr=1e-4)
            pretrain = epoch_of(pre, opt, x, y, PRETRAIN_BATCH)
            row(name, "pretrain", threads, PRETRAIN_BATCH, rate(pretrain, n, args.reps), infer_rate)


if __name__ == "__main__":
    main()
