#!/usr/bin/env python3
"""Reference for perception.DepthNet: the same network in PyTorch.

Reads what perception.ExportDepthReference (reference.go, which embeds this
script) wrote into DIR: weights.json (widths, depth range, tensor names, shapes and
offsets into weights.bin), weights.bin (float32 little-endian), input.bin
(the [B,3,H,W] input) and go_out0..3.bin (the Go disparities). Rebuilds the
architecture with torch.nn.functional, checks its outputs against Go's and
times forward passes (median of --iters) in no-grad mode with the given thread count.

Prints one JSON line: {"max_abs_diff": [...per scale], "ms_per_frame": x,
"torch": version, "threads": n}. Exit status 0 unless something failed to
load; the caller judges the numbers.

Usage: python3 perception/reference_depthnet.py DIR [--threads 2] [--iters 20] [--no-mallopt]

By default it applies the same glibc malloc settings as the Go side
(perception.TuneMalloc: M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 1 GiB), so
the timing compares the bindings, not the allocators; --no-mallopt times
stock Python.
"""
import ctypes
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

MEAN, STD = 0.45, 0.225


def load(path, shape):
    t = torch.from_file(path, size=int(torch.Size(shape).numel()), dtype=torch.float32)
    return t.reshape(shape).clone()


class DepthNet:
    """Mirror of perception.DepthNet (depthnet.go); keep the two in step."""

    def __init__(self, meta, weights):
        self.enc = meta["enc"]
        self.dec = meta["dec"]
        self.w = weights

    def conv(self, name, x, stride=1, reflect=False):
        w, b = self.w[name + ".weight"], self.w[name + ".bias"]
        pad = (w.shape[-1] - 1) // 2
        if reflect and pad > 0:
            x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
            pad = 0
        return F.conv2d(x, w, b, stride=stride, padding=pad)

    def forward(self, x):
        h = (x - MEAN) / STD
        feats = []
        for i in range(5):
            h = F.elu(self.conv("depth.enc%d.conv0" % i, h, stride=2))
            h = F.elu(self.conv("depth.enc%d.conv1" % i, h))
            feats.append(h)
        d = feats[4]
        out = [None] * 4
        for i in range(4, -1, -1):
            d = F.elu(self.conv("depth.dec%d.upconv0" % i, d, reflect=True))
            d = F.interpolate(d, scale_factor=2, mode="nearest")
            if i > 0:
                d = torch.cat([d, feats[i - 1]], 1)
            d = F.elu(self.conv("depth.dec%d.upconv1" % i, d, reflect=True))
            if i < 4:
                out[i] = torch.sigmoid(self.conv("depth.disp%d" % i, d, reflect=True))
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--no-mallopt", action="store_true")
    args = ap.parse_args()
    if not args.no_mallopt:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
        if libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1 or libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1:
            raise SystemExit("mallopt failed")
    torch.set_num_threads(args.threads)

    with open(os.path.join(args.dir, "weights.json")) as f:
        meta = json.load(f)
    flat = load(os.path.join(args.dir, "weights.bin"), [meta["numel"]])
    weights = {}
    for t in meta["tensors"]:
        n = int(torch.Size(t["shape"]).numel())
        weights[t["name"]] = flat[t["offset"]:t["offset"] + n].reshape(t["shape"]).clone()
    net = DepthNet(meta, weights)
    x = load(os.path.join(args.dir, "input.bin"), meta["input_shape"])
    b, _, h, w = meta["input_shape"]

    with torch.no_grad():
        out = net.forward(x)
        diffs = []
        for s in range(4):
            shape = [b, 1, h >> s, w >> s]
            go = load(os.path.join(args.dir, "go_out%d.bin" % s), shape)
            diffs.append(float((out[s] - go).abs().max()))
        for _ in range(3):
            net.forward(x)
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            net.forward(x)
            times.append(time.perf_counter() - t0)
        times.sort()
        dt = times[len(times) // 2]  # the median: robust on a shared machine
    print(json.dumps({
        "max_abs_diff": diffs,
        "ms_per_frame": dt * 1000 / b,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mallopt": not args.no_mallopt,
    }))


if __name__ == "__main__":
    sys.exit(main())
