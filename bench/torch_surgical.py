#!/usr/bin/env python3
"""The trials of a scalpel run, run again in PyTorch with the same protocol, from the data
and weights `scalpel run --export-splits` wrote under <run>/exports/:

    python3 bench/torch_surgical.py RUN_DIR --start same    # fine-tune from scalpel's pre-trained weights
    python3 bench/torch_surgical.py RUN_DIR --start own     # pre-train the PyTorch twin itself first

Same protocol as scalpel (core/pipeline/trial.ts): for every shift x fixed selection x
fine-tuning seed x learning rate of the run's pipeline, fine-tune the twin
(bench/torch_twins.py) with Adam (PyTorch's defaults) on the selection's tensors only,
batch norm frozen (eval mode), `finetune.epochs` epochs of `finetune.batchSize`; score
validation after every epoch and keep the best epoch (the first epoch always replaces
epoch 0; later ones only when strictly better); score test once with the best epoch's
weights. Every selection and learning rate of a (shift, seed) sees the same batch order.
`--start own` pre-trains a twin with PyTorch's default initialisation on the exported
source examples with the run's pre-training budget (batch norm in train mode, Adam),
once per source. Results: <run>/torch-<start>/results.jsonl (one line per trial, the
fields of scalpel's result lines that matter here) and summary.json (per shift x
selection, the test accuracy of the learning rate chosen on validation per seed:
mean, standard error, n).

Optional peer only: needs Debian's python3-torch and python3-numpy; never a dependency of scalpel.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_twins import build, load_npy_weights, selection_names  # noqa: E402

FIXED = ["none", "first-layer", "block1", "block2", "block3", "last-layer", "all"]


def load_split(directory, prefix):
    x = np.load(os.path.join(directory, f"{prefix}_x.npy"))
    x = torch.from_numpy(x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0)).permute(0, 3, 1, 2)
    y = torch.from_numpy(np.load(os.path.join(directory, f"{prefix}_y.npy")).astype(np.int64))
    return x.contiguous(), y


def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(y)


def pretrain_own(index, shift, pipeline, run_dir, cache):
    """A twin pre-trained by PyTorch on the exported source examples (cached per source)."""
    path = os.path.join(cache, f"{shift['source']}.pt")
    h, w, c = index["inputShape"]
    model = build(index["model"], c, h, w, shift["numClasses"])
    if os.path.exists(path):
        model.load_state_dict(torch.load(path))
        return model
    budget = pipeline["pretrain"]
    x, y = load_split(os.path.join(run_dir, "exports", "source", shift["source"]), "train")
    torch.manual_seed(pipeline["seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=budget["learningRate"])
    model.train()
    t0 = time.time()
    for epoch in range(budget["epochs"]):
        order = torch.randperm(len(y))
        total = 0.0
        for i in range(0, len(y), budget["batchSize"]):
            idx = order[i:i + budget["batchSize"]]
            if len(idx) < 2:
                continue  # batch norm needs two examples, as in scalpel
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        print(f"torch pre-training {index['model']}: epoch {epoch + 1}/{budget['epochs']} loss {total / len(y):.4f} "
              f"({time.time() - t0:.0f} s)", file=sys.stderr)
    tx, ty = load_split(os.path.join(run_dir, "exports", "source", shift["source"]), "test")
    print(f"torch pre-training: source test accuracy {100 * accuracy(model, tx, ty):.2f} %", file=sys.stderr)
    os.makedirs(cache, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def trial(start_model, selection, lr, splits, epochs, batch_size, order_seed):
    """One trial: returns (epoch chosen on validation, val accuracy, test accuracy)."""
    model = copy.deepcopy(start_model)
    names = set(selection_names(model, selection))
    (tx, ty), (vx, vy), (sx, sy) = splits
    best_epoch, best_val = 0, accuracy(model, vx, vy)
    if not names:
        return 0, best_val, accuracy(model, sx, sy)
    params = []
    for n, t in model.named_tensors():
        if isinstance(t, torch.nn.Parameter):
            t.requires_grad_(n in names)
            if n in names:
                params.append(t)
    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(order_seed)
    best_state = None
    for epoch in range(epochs):
        model.eval()  # batch norm frozen, as in the paper's fine-tuning and scalpel's
        order = torch.randperm(len(ty), generator=generator)
        for i in range(0, len(ty), batch_size):
            idx = order[i:i + batch_size]
            optimizer.zero_grad()
            F.cross_entropy(model(tx[idx]), ty[idx]).backward()
            optimizer.step()
        val = accuracy(model, vx, vy)
        if best_epoch == 0 or val > best_val:
            best_epoch, best_val, best_state = epoch + 1, val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return best_epoch, best_val, accuracy(model, sx, sy)


def summarise(lines, lr_order):
    """Per shift x selection x number of labelled examples: per seed the learning rate with the best validation score (ties: the earlier one of the
    grid), then the mean and standard error of its test accuracy over seeds."""
    cells = {}
    for line in lines:
        cells.setdefault((line["shift"], line["selection"], line["trainSize"]), []).append(line)
    out = []
    for (shift, selection, size), mine in cells.items():
        chosen = []
        for seed in sorted({l["seed"] for l in mine}):
            candidates = [l for l in mine if l["seed"] == seed]
            chosen.append(max(candidates, key=lambda l: (l["val"], -lr_order.index(l["lr"]))))
        xs = [l["test"] for l in chosen]
        mean = sum(xs) / len(xs)
        se = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) / len(xs)) if len(xs) > 1 else None
        out.append({"shift": shift, "selection": selection, "trainSize": size, "mean": mean, "se": se, "n": len(xs),
                    "chosenLr": [l["lr"] for l in chosen], "chosenEpoch": [l["epoch"] for l in chosen]})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--start", choices=["same", "own"], required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run_dir = args.run_dir
    with open(os.path.join(run_dir, "exports", "index.json")) as f:
        index = json.load(f)
    with open(os.path.join(run_dir, "pipeline.resolved.json")) as f:
        pipeline = json.load(f)["pipeline"]
    selections = [s["selector"] for s in pipeline["selections"] if s["selector"] in FIXED]
    finetune = pipeline["finetune"]
    out_dir = os.path.join(run_dir, f"torch-{args.start}")
    os.makedirs(out_dir, exist_ok=True)
    results = os.path.join(out_dir, "results.jsonl")
    done = set()
    if os.path.exists(results):  # resume: keep finished trials
        with open(results) as f:
            done = {(l["shift"], l["selection"], l["trainSize"], l["seed"], l["lr"]) for l in map(json.loads, f) if l}
    h, w, c = index["inputShape"]
    t0 = time.time()
    with open(results, "a") as out:
        for shift in index["shifts"]:
            if args.start == "own":
                start = pretrain_own(index, shift, pipeline, run_dir, os.path.join(out_dir, "pretrained"))
            else:
                start = build(index["model"], c, h, w, shift["numClasses"])
                load_npy_weights(start, os.path.join(run_dir, "exports", "pretrained", shift["pretrained"]))
            for size in index["trainSizes"]:
                for seed in range(index["seeds"]):
                    split_dir = os.path.join(run_dir, "exports", f"shift-{shift['index']}", f"seed-{seed}")
                    splits = [load_split(split_dir, name) for name in (f"train-{size}", "val", "test")]
                    for selection in selections:
                        # like scalpel, a selection that trains nothing is one trial per learning rate
                        for lr in finetune["learningRates"]:
                            key = (shift["label"], selection, size, seed, lr)
                            if key in done:
                                continue
                            epoch, val, test = trial(start, selection, lr, splits, finetune["epochs"],
                                                     finetune["batchSize"], 1000 * shift["index"] + seed)
                            line = {"shift": shift["label"], "selection": selection, "trainSize": size, "seed": seed,
                                    "lr": lr, "epoch": epoch, "val": val, "test": test}
                            out.write(json.dumps(line) + "\n")
                            out.flush()
                            print(f"[torch {args.start}] {shift['label']} x {selection} n {size} seed {seed} lr {lr}: "
                                  f"val {val:.4f} test {test:.4f} (epoch {epoch}; {time.time() - t0:.0f} s)",
                                  file=sys.stderr)
    with open(results) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    summary = summarise(lines, finetune["learningRates"])
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump({"start": args.start, "cells": summary}, f, indent=2)


if __name__ == "__main__":
    main()
