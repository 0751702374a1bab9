#!/usr/bin/env python3
"""PyTorch twins of scalpel's zoo models, built only from stock nn.Conv2d / nn.Linear /
nn.BatchNorm2d with their default initialisation, and weight transfer both ways in
scalpel's npy weights format (core/io/npy_weights.ts: index.json + one float32 .npy per
variable, scalpel's layouts HWIO / IO / C).

    model = build("resnet-mini", in_channels=1, height=28, width=28, num_classes=10)
    load_npy_weights(model, "exported/")     # from `scalpel model export --format npy`
    save_npy_weights(model, "from-torch/")   # for `weights: from-torch/` in a pipeline file

Each twin names its tensors as scalpel does (`named_tensors`), so a selection (block1,
last-layer, ...) means the same tensors on both sides. small-cnn flattens its feature map
in NHWC order, as scalpel does, so the first dense layer takes scalpel's kernel as is.

Optional peer only: needs Debian's python3-torch and python3-numpy; never a dependency
of scalpel.
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "scalpel-npy-weights/1"


class Staged(nn.Module):
    """A zoo twin: `forward` runs `stages()` (scalpel's block names with their functions) in order."""

    def forward(self, x):
        for _, stage in self.stages():
            x = stage(x)
        return x


class SmallCnn(Staged):
    """conv 16 (3x3, pad 1, relu) -> maxpool 2 -> conv 32 -> maxpool 2 -> flatten (NHWC) -> dense 64 relu -> dense K."""

    def __init__(self, in_channels, height, width, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        flat = (height // 2 // 2) * (width // 2 // 2) * 32
        self.dense = nn.Linear(flat, 64)
        self.head = nn.Linear(64, num_classes)

    def stages(self):
        return [
            ("block1", lambda x: F.max_pool2d(F.relu(self.conv1(x)), 2)),
            ("block2", lambda x: torch.flatten(F.max_pool2d(F.relu(self.conv2(x)), 2).permute(0, 2, 3, 1), 1)),
            ("block3", lambda x: F.relu(self.dense(x))),
            ("head", self.head),
        ]

    def named_tensors(self):
        return [
            ("block1/conv/kernel", self.conv1.weight),
            ("block1/conv/bias", self.conv1.bias),
            ("block2/conv/kernel", self.conv2.weight),
            ("block2/conv/bias", self.conv2.bias),
            ("block3/dense/kernel", self.dense.weight),
            ("block3/dense/bias", self.dense.bias),
            ("head/dense/kernel", self.head.weight),
            ("head/dense/bias", self.head.bias),
        ]

    first_layer = ["block1/conv/kernel", "block1/conv/bias"]


def _bn_tensors(name, bn):
    return [
        (f"{name}/gamma", bn.weight),
        (f"{name}/beta", bn.bias),
        (f"{name}/moving_mean", bn.running_mean),
        (f"{name}/moving_variance", bn.running_var),
    ]


class Basic(nn.Module):
    """A basic residual block: conv3x3(stride) -> BN -> relu -> conv3x3 -> BN, plus the (projected) input, relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.short(x) if self.short is not None else x))

    def named_tensors(self, name):
        out = [(f"{name}/conv1/kernel", self.conv1.weight), *_bn_tensors(f"{name}/bn1", self.bn1)]
        out += [(f"{name}/conv2/kernel", self.conv2.weight), *_bn_tensors(f"{name}/bn2", self.bn2)]
        if self.short is not None:
            out += [(f"{name}/shortcut/conv/kernel", self.short[0].weight), *_bn_tensors(f"{name}/shortcut/bn", self.short[1])]
        return out


class ResnetMini(Staged):
    """stem conv 3x3x16 + BN + relu, basic blocks at 16, 32 (stride 2), 64 (stride 2), global average pool, dense K."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.stage1 = Basic(16, 16, 1)
        self.stage2 = Basic(16, 32, 2)
        self.stage3 = Basic(32, 64, 2)
        self.head = nn.Linear(64, num_classes)

    def stages(self):
        return [
            ("block1", lambda x: self.stage1(F.relu(self.stem_bn(self.stem(x))))),
            ("block2", self.stage2),
            ("block3", self.stage3),
            ("head", lambda x: self.head(x.mean((2, 3)))),
        ]

    def named_tensors(self):
        return [
            ("block1/stem/conv/kernel", self.stem.weight),
            *_bn_tensors("block1/stem/bn", self.stem_bn),
            *self.stage1.named_tensors("block1/stage1"),
            *self.stage2.named_tensors("block2/stage2"),
            *self.stage3.named_tensors("block3/stage3"),
            ("head/dense/kernel", self.head.weight),
            ("head/dense/bias", self.head.bias),
        ]

    first_layer = ["block1/stem/conv/kernel"]


def build(architecture, in_channels, height, width, num_classes):
    """A twin with PyTorch's default initialisation."""
    if architecture == "small-cnn":
        return SmallCnn(in_channels, height, width, num_classes)
    if architecture == "resnet-mini":
        return ResnetMini(in_channels, num_classes)
    raise ValueError(f"no twin for {architecture}")


def group_of(name):
    """The layer group of a scalpel variable name: its first path component."""
    return name.split("/")[0]


def selection_names(model, selection):
    """The trainable tensor names a fixed selection tunes (as plugins/selectors/static.ts)."""
    params = [n for n, t in model.named_tensors() if isinstance(t, nn.Parameter)]
    if selection == "none":
        return []
    if selection == "all":
        return params
    if selection == "first-layer":
        return list(model.first_layer)
    if selection == "last-layer":
        return [n for n in params if group_of(n) == "head"]
    return [n for n in params if group_of(n) == selection]


def to_torch_layout(array, layout):
    if layout == "HWIO":
        return np.ascontiguousarray(array.transpose(3, 2, 0, 1))
    if layout == "IO":
        return np.ascontiguousarray(array.T)
    return array


def to_scalpel_layout(array, layout):
    if layout == "HWIO":
        return np.ascontiguousarray(array.transpose(2, 3, 1, 0))
    if layout == "IO":
        return np.ascontiguousarray(array.T)
    return array


def layout_of(tensor):
    return {4: "HWIO", 2: "IO", 1: "C"}[tensor.dim()]


def load_npy_weights(model, directory):
    """Copy the weights of an npy weights directory into the twin (every tensor must be there, shapes must agree)."""
    with open(os.path.join(directory, "index.json")) as f:
        index = json.load(f)
    if index.get("format") != FORMAT:
        raise ValueError(f"{directory}/index.json is not {FORMAT}")
    by_name = {v["name"]: v for v in index["variables"]}
    with torch.no_grad():
        for name, tensor in model.named_tensors():
            if name not in by_name:
                raise KeyError(f"{directory} has no {name}")
            v = by_name[name]
            array = to_torch_layout(np.load(os.path.join(directory, v["file"])).astype(np.float32), v["layout"])
            if tuple(array.shape) != tuple(tensor.shape):
                raise ValueError(f"{name}: {array.shape} in {directory}, {tuple(tensor.shape)} in the twin")
            tensor.copy_(torch.from_numpy(array))


def save_npy_weights(model, directory, source="PyTorch twin"):
    """Write the twin's weights as an npy weights directory (scalpel's layouts)."""
    os.makedirs(directory, exist_ok=True)
    variables = []
    for name, tensor in model.named_tensors():
        layout = layout_of(tensor)
        file = name.replace("/", "__") + ".npy"
        np.save(os.path.join(directory, file), to_scalpel_layout(tensor.detach().numpy().astype(np.float32), layout))
        shape = list(to_scalpel_layout(np.zeros(tuple(tensor.shape)), layout).shape)
        variables.append({"name": name, "file": file, "shape": shape, "layout": layout})
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump({"format": FORMAT, "source": source, "variables": variables}, f, indent=2)
