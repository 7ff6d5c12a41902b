#!/usr/bin/env python3
"""Reference for learner/unflow.go: UnFlow's ternary census transform, its
soft Hamming distance, the Charbonnier penalty of the data term and the
forward-backward occlusion check, recomputed in PyTorch on the inputs
learner's test writes.

Usage: reference_census.py DIR. DIR holds shapes.json ({name: shape}) and
NAME.bin (raw little-endian float32) for a, b (images [B,3,H,W] in 0..1)
and f, fb (flows [B,2,H,W] in pixels); this writes ref_census,
ref_distance, ref_data and ref_fbmask .bin files there.

The formulas follow UnFlow (Meister et al. 2018, its losses.py
ternary_loss and the forward-backward check of its section 3), computed
here another way: the 7x7 neighbourhoods come from F.unfold, not from a
convolution with one-hot kernels as in Go. One documented difference:
the grey image is the mean of R, G and B (UnFlow uses the luma weights
0.299, 0.587, 0.114); on census it only changes which grey the ranks are
taken on.
"""
import sys

import torch
import torch.nn.functional as F

import reference_io  # beside this script

WINDOW = 7
ALPHA1, ALPHA2 = 0.01, 0.5  # UnFlow's forward-backward thresholds


def census(img):
    """[B,3,H,W] in 0..1 -> [B,48,H,W]: soft ternary signature per pixel."""
    grey = img.mean(1, keepdim=True) * 255
    b, _, h, w = grey.shape
    patches = F.unfold(grey, WINDOW, padding=WINDOW // 2)  # [B,49,H*W], zero padded
    patches = patches.view(b, WINDOW * WINDOW, h, w)
    centre = WINDOW * WINDOW // 2
    keep = [k for k in range(WINDOW * WINDOW) if k != centre]
    d = patches[:, keep] - grey
    return d / torch.sqrt(0.81 + d * d)


def distance(ca, cb):
    q = (ca - cb) ** 2
    return (q / (0.1 + q)).sum(1, keepdim=True)


def charbonnier(x):
    return (x * x + 0.001 ** 2) ** 0.45


def fbmask(f, fb):
    lhs = ((f + fb) ** 2).sum(1, keepdim=True)
    rhs = ALPHA1 * ((f ** 2).sum(1, keepdim=True) + (fb ** 2).sum(1, keepdim=True)) + ALPHA2
    return (lhs <= rhs).float()


def main():
    d = sys.argv[1]
    t = reference_io.load(d)
    with torch.no_grad():
        ca, cb = census(t["a"]), census(t["b"])
        dist = distance(ca, cb)
        out = {"census": ca, "distance": dist, "data": charbonnier(dist), "fbmask": fbmask(t["f"], t["fb"])}
    reference_io.save(d, out)


if __name__ == "__main__":
    main()
