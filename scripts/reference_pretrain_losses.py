#!/usr/bin/env python3
"""Reference for learner/contrastive.go: SimCLR's NT-Xent (InfoNCE over the
batch's negatives), MoCo's InfoNCE against a queue of keys and Barlow
Twins' cross-correlation loss, recomputed in PyTorch with the gradients of
their inputs, on the inputs learner's test writes.

Usage: reference_pretrain_losses.py DIR. DIR holds params.json
({"shapes": {name: shape}, "temperature": t, "lambda": l}) and NAME.bin (raw
little-endian float32) for z1, z2, q, k, queue; this writes ref_NAME.bin
for infonce, infonce_queue, barlow and their gradients (grad_infonce_z1,
grad_infonce_z2, grad_queue_q, grad_barlow_z1, grad_barlow_z2).

Formulas: SimCLR (Chen et al. 2020) NT-Xent as its reference code computes
it (normalised embeddings, cosine / temperature, each of the 2N views
against the other 2N-1, mean cross-entropy); MoCo (He et al. 2020)
logits [l_pos, l_neg] / t with the positive first, label 0; Barlow Twins
(Zbontar et al. 2021) with BatchNorm1d(affine=False) normalisation
(biased variance, eps 1e-5) and sum (1-C_ii)^2 + lambda sum_{i!=j} C_ij^2.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def nt_xent(z1, z2, t):
    z = F.normalize(torch.cat([z1, z2], 0), dim=1)
    n = z1.shape[0]
    sim = z @ z.t() / t
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def moco(q, k, queue, t):
    q, k, queue = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(queue, dim=1)
    lpos = (q * k).sum(1, keepdim=True)
    lneg = q @ queue.t()
    logits = torch.cat([lpos, lneg], 1) / t
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


def barlow(z1, z2, lam):
    bn = torch.nn.BatchNorm1d(z1.shape[1], affine=False).double()
    bn.train()
    c = bn(z1).t() @ bn(z2) / z1.shape[0]
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = (c - torch.diag(torch.diagonal(c))).pow(2).sum()
    return on + lam * off


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "params.json")) as f:
        p = json.load(f)
    t = {}
    for name, shape in p["shapes"].items():
        a = np.fromfile(os.path.join(d, name + ".bin"), dtype="<f4").reshape(shape)
        t[name] = torch.from_numpy(a.copy()).double().requires_grad_(True)
    out = {}
    l = nt_xent(t["z1"], t["z2"], p["temperature"])
    g1, g2 = torch.autograd.grad(l, [t["z1"], t["z2"]])
    out.update(infonce=l, grad_infonce_z1=g1, grad_infonce_z2=g2)
    l = moco(t["q"], t["k"].detach(), t["queue"].detach(), p["temperature"])
    (gq,) = torch.autograd.grad(l, [t["q"]])
    out.update(infonce_queue=l, grad_queue_q=gq)
    l = barlow(t["z1"], t["z2"], p["lambda"])
    g1, g2 = torch.autograd.grad(l, [t["z1"], t["z2"]])
    out.update(barlow=l, grad_barlow_z1=g1, grad_barlow_z2=g2)
    for name, v in out.items():
        v.detach().numpy().astype("<f4").tofile(os.path.join(d, "ref_" + name + ".bin"))


if __name__ == "__main__":
    main()
