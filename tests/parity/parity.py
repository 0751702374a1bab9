#!/usr/bin/env python3
"""The PyTorch side of tests/parity/parity_test.ts: given a job directory written by the
test (scalpel's initial weights as an npy weights directory, a batch x.npy NHWC float32
in [0, 1] and labels y.npy), compute with the twin of bench/torch_twins.py:

- logits_eval.npy, logits_train.npy: forward pass with BN in eval / train mode;
- grads_eval/, grads_train/: the gradient of the mean cross-entropy for every
  trainable tensor (npy weights directories);
- runs/<name>/: for each run of job.json ({name, selection, mode, steps, lr, every}),
  Adam (PyTorch's defaults) on the tensors of the selection only, the whole batch each
  step, BN in the run's mode: losses.npy (one per step), weights/ (every tensor after
  the last step) and, at every `every`-th step, the tensors before it (before.npy, one
  row per checked step, every tensor flattened in scalpel's layout, in checks.json's
  order), Adam's moments before it (m.npy, v.npy, the selected tensors) and the tensors
  after it (after.npy) — for teacher forcing: scalpel takes the same step from the same
  state and must land where PyTorch did;
- runs64/<name>/: with job.float64, the same in float64: the trajectory without
  float32's rounding, which shows how far two float32 implementations of the same
  50 steps drift apart by rounding alone.
"""
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from torch_twins import (  # noqa: E402
    build,
    layout_of,
    load_npy_weights,
    save_npy_weights,
    selection_names,
    to_scalpel_layout,
)

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def twin(job, directory):
    model = build(job["architecture"], job["inputShape"][2], job["inputShape"][0], job["inputShape"][1], job["numClasses"])
    load_npy_weights(model, os.path.join(directory, "weights"))
    return model


def set_mode(model, mode):
    model.train() if mode == "train" else model.eval()


def grads_of(model, x, y, mode, out):
    set_mode(model, mode)
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    grads = copy.deepcopy(model)
    with torch.no_grad():
        for (name, g), (_, p) in zip(grads.named_tensors(), model.named_tensors()):
            if isinstance(p, torch.nn.Parameter):
                g.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
            else:
                g.zero_()
    save_npy_weights(grads, out, "gradients")


def main(directory):
    with open(os.path.join(directory, "job.json")) as f:
        job = json.load(f)
    x = torch.from_numpy(np.load(os.path.join(directory, "x.npy")).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.load(os.path.join(directory, "y.npy")).astype(np.int64))
    for mode in ("eval", "train"):
        model = twin(job, directory)  # a fresh copy: a train-mode forward pass moves the running statistics
        set_mode(model, mode)
        with torch.no_grad():
            np.save(os.path.join(directory, f"logits_{mode}.npy"), model(x).numpy())
        grads_of(twin(job, directory), x, y, mode, os.path.join(directory, f"grads_{mode}"))
    for run in job["runs"]:
        adam(job, directory, run, x, y, torch.float32, "runs")
        if job.get("float64"):
            adam(job, directory, run, x, y, torch.float64, "runs64")


def flat(tensors):
    """Tensors in scalpel's layout, flattened and concatenated (float32)."""
    return np.concatenate([to_scalpel_layout(t.detach().double().numpy(), layout_of(t)).ravel() for t in tensors])


def step64(model, optimizer, params, names, run, x, y):
    """The same Adam step from the same state, in float64: where an exact implementation would land."""
    twin64 = copy.deepcopy(model).double()
    named64 = dict(twin64.named_tensors())
    named32 = dict((id(t), n) for n, t in model.named_tensors())
    params64 = [named64[named32[id(p)]] for p in params]
    optimizer64 = torch.optim.Adam(params64, lr=run["lr"])
    for p, p64 in zip(params, params64):
        st = optimizer.state.get(p)
        if st:
            optimizer64.state[p64] = {
                "step": st["step"].clone(),
                "exp_avg": st["exp_avg"].double(),
                "exp_avg_sq": st["exp_avg_sq"].double(),
            }
    set_mode(twin64, run["mode"])
    optimizer64.zero_grad()
    F.cross_entropy(twin64(x.double()), y).backward()
    optimizer64.step()
    return flat([t for _, t in twin64.named_tensors()])


def adam(job, directory, run, x, y, dtype, folder):
    """Adam on the run's selection. Every `every`-th step is recorded for teacher forcing: the tensors and Adam's
    moments before it, the tensors after it, its loss. In float64 (PARITY_DEBUG), the trajectory without float32's
    rounding, which tells how far two float32 implementations of the same 50 steps drift apart by rounding alone."""
    model = twin(job, directory).to(dtype)
    x = x.to(dtype)
    named = model.named_tensors()
    names = set(selection_names(model, run["selection"]))
    params = [t for n, t in named if n in names]
    for n, t in named:
        if isinstance(t, torch.nn.Parameter):
            t.requires_grad_(n in names)
    optimizer = torch.optim.Adam(params, lr=run["lr"])
    set_mode(model, run["mode"])
    checks = list(range(0, run["steps"], run["every"]))
    before, after, m, v, losses = [], [], [], [], []
    exact = []
    for k in range(run["steps"]):
        if k in checks:
            tensors = [t for _, t in model.named_tensors()]  # fresh: BN buffers are replaced, not updated in place
            before.append(flat(tensors))
            state = [optimizer.state.get(p, {}) for p in params]
            m.append(flat([st.get("exp_avg", torch.zeros_like(p)) for st, p in zip(state, params)]))
            v.append(flat([st.get("exp_avg_sq", torch.zeros_like(p)) for st, p in zip(state, params)]))
            exact.append(step64(model, optimizer, params, names, run, x, y))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if k in checks:
            after.append(flat([t for _, t in model.named_tensors()]))
    out = os.path.join(directory, folder, run["name"])
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "losses.npy"), np.array(losses, dtype=np.float32))
    save_npy_weights(model.float(), os.path.join(out, "weights"), f"after {run['steps']} steps ({dtype})")
    for name, rows in (("before", before), ("after", after), ("m", m), ("v", v), ("exact", exact)):
        np.save(os.path.join(out, f"{name}.npy"), np.stack(rows).astype(np.float32))
    with open(os.path.join(out, "checks.json"), "w") as f:
        json.dump({
            "steps": checks,
            "tensors": [{"name": n, "shape": list(to_scalpel_layout(np.zeros(tuple(t.shape)), layout_of(t)).shape)}
                        for n, t in model.named_tensors()],
            "selected": [n for n, _ in named if n in names],
        }, f)

if __name__ == "__main__":
    main(sys.argv[1])
