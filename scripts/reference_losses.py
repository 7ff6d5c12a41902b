#!/usr/bin/env python3
"""Reference for learner/losses.go: Monodepth2's SSIM, photometric error,
per-pixel minimum reprojection with auto-masking, and edge-aware smoothness,
recomputed in PyTorch on the inputs learner's test writes.

Usage: reference_losses.py DIR. DIR holds shapes.json ({name: shape}) and
NAME.bin (raw little-endian float32) for pred, target, src2, ident, disp;
this writes ref_ssim, ref_photo, ref_minreproj, ref_automask, ref_masked,
ref_smoothness .bin files there.

Formulas follow monodepth2 (layers.py SSIM, get_smooth_loss; trainer.py
compute_reprojection_loss and the automask), with the two documented
differences of learner.MinReprojection: ties keep the pixel instead of
random noise, and the mean runs over kept pixels.
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

import reference_io  # beside this script


class SSIM(nn.Module):
    """monodepth2 layers.SSIM."""

    def __init__(self):
        super().__init__()
        self.mu_x_pool = nn.AvgPool2d(3, 1)
        self.mu_y_pool = nn.AvgPool2d(3, 1)
        self.sig_x_pool = nn.AvgPool2d(3, 1)
        self.sig_y_pool = nn.AvgPool2d(3, 1)
        self.sig_xy_pool = nn.AvgPool2d(3, 1)
        self.refl = nn.ReflectionPad2d(1)
        self.C1 = 0.01 ** 2
        self.C2 = 0.03 ** 2

    def forward(self, x, y):
        x = self.refl(x)
        y = self.refl(y)
        mu_x = self.mu_x_pool(x)
        mu_y = self.mu_y_pool(y)
        sigma_x = self.sig_x_pool(x ** 2) - mu_x ** 2
        sigma_y = self.sig_y_pool(y ** 2) - mu_y ** 2
        sigma_xy = self.sig_xy_pool(x * y) - mu_x * mu_y
        n = (2 * mu_x * mu_y + self.C1) * (2 * sigma_xy + self.C2)
        d = (mu_x ** 2 + mu_y ** 2 + self.C1) * (sigma_x + sigma_y + self.C2)
        return torch.clamp((1 - n / d) / 2, 0, 1)


ssim = SSIM()


def reprojection(pred, target):
    l1 = torch.abs(target - pred).mean(1, True)
    return 0.85 * ssim(pred, target).mean(1, True) + 0.15 * l1


def smooth(disp, img):
    disp = disp / (disp.mean(2, True).mean(3, True) + 1e-7)
    gdx = torch.abs(disp[:, :, :, :-1] - disp[:, :, :, 1:])
    gdy = torch.abs(disp[:, :, :-1, :] - disp[:, :, 1:, :])
    gix = torch.mean(torch.abs(img[:, :, :, :-1] - img[:, :, :, 1:]), 1, keepdim=True)
    giy = torch.mean(torch.abs(img[:, :, :-1, :] - img[:, :, 1:, :]), 1, keepdim=True)
    gdx = gdx * torch.exp(-gix)
    gdy = gdy * torch.exp(-giy)
    return gdx.mean() + gdy.mean()


def main():
    d = sys.argv[1]
    t = reference_io.load(d)
    with torch.no_grad():
        pred, target = t["pred"], t["target"]
        e1 = reprojection(pred, target)
        e2 = reprojection(t["src2"], target)
        ei = reprojection(t["ident"], target)
        reproj = torch.cat([e1, e2], 1)
        lossmap, _ = torch.min(reproj, 1, keepdim=True)
        idmin, _ = torch.min(ei, 1, keepdim=True)
        mask = (lossmap <= idmin).float()
        masked = (lossmap * mask).sum() / mask.sum().clamp(min=1)
        out = {
            "ssim": ssim(pred, target),
            "photo": e1,
            "minreproj": lossmap,
            "automask": mask,
            "masked": masked,
            "smoothness": smooth(t["disp"], target),
        }
    reference_io.save(d, out)


if __name__ == "__main__":
    main()
