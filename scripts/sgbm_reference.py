#!/usr/bin/env python3
"""The OpenCV reference for Parallax's SGBM (calibration/cv.SGBM).

Runs python3-opencv's own cv2.StereoSGBM (MODE_SGBM_3WAY; with ximgproc's
WLS filter when wls_lambda > 0) on a rectified pair with the parameters
given as JSON (the names of calibration/cv.SGBMParams' JSON and of the
launch file's depth.sgbm.*), and scores its disparity against ground truth
the way Go's internal/dispio.Score does: pixels whose ground truth is known
(above 0, finite); EPE and bad-1/2/3 over those with an estimate, density,
and bad-2 and KITTI's D1 with missing estimates counted as wrong.

Ground truth: an 8-bit PNG of disparities in pixels (Middlebury 2005/2006,
OpenCV's aloeGT.png), a 16-bit PNG in KITTI's disp*256 convention, or a PFM;
0 (or non-finite) is unknown.

    sgbm_reference.py --left L --right R --gt GT --params '{"num_disparities": 256, ...}'

prints one JSON object: {"width", "height", "scores": {...}}.
"""
import argparse
import json
import re
import sys

import cv2
import numpy as np


def read_pfm(path):
    with open(path, "rb") as f:
        data = f.read()
    # Four header tokens, then exactly one whitespace byte before the raster
    # (whose first bytes may themselves look like whitespace).
    m = re.match(rb"(P[fF])\s+(\d+)\s+(\d+)\s+(\S+)\s", data)
    if m is None:
        sys.exit(f"sgbm_reference.py: {path}: not a PFM")
    channels = 3 if m.group(1) == b"PF" else 1
    w, h, scale = int(m.group(2)), int(m.group(3)), float(m.group(4))
    dtype = "<f4" if scale < 0 else ">f4"
    a = np.frombuffer(data, dtype=dtype, count=w * h * channels, offset=m.end())
    a = a.reshape(h, w, channels)[:, :, 0]
    return np.flipud(a).astype(np.float32)


def read_gt(path):
    if path.lower().endswith(".pfm"):
        gt = read_pfm(path)
    else:
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if raw is None:
            sys.exit(f"sgbm_reference.py: cannot read {path}")
        if raw.ndim != 2:
            sys.exit(f"sgbm_reference.py: {path}: a disparity PNG is one channel")
        gt = raw.astype(np.float32) / (256.0 if raw.dtype == np.uint16 else 1.0)
    gt[~np.isfinite(gt)] = 0
    return gt


def sgbm(left, right, p):
    cn = 1 if left.ndim == 2 else left.shape[2]
    bs = p["block_size"]
    p1 = p.get("p1") or 8 * cn * bs * bs
    p2 = p.get("p2") or 32 * cn * bs * bs
    m = cv2.StereoSGBM_create(
        minDisparity=p.get("min_disparity", 0),
        numDisparities=p["num_disparities"],
        blockSize=bs,
        P1=p1,
        P2=p2,
        disp12MaxDiff=p.get("disp12_max_diff", 1),
        preFilterCap=p.get("pre_filter_cap", 63),
        uniquenessRatio=p.get("uniqueness", 10),
        speckleWindowSize=p.get("speckle_window", 100),
        speckleRange=p.get("speckle_range", 2),
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    d = m.compute(left, right)
    if p.get("wls_lambda", 0) > 0:
        rm = cv2.ximgproc.createRightMatcher(m)
        dr = rm.compute(right, left)
        f = cv2.ximgproc.createDisparityWLSFilter(m)
        f.setLambda(p["wls_lambda"])
        f.setSigmaColor(p.get("wls_sigma", 1.5))
        d = f.filter(d, left, disparity_map_right=dr)
    disp = d.astype(np.float32) / 16.0
    disp[d < 16 * p.get("min_disparity", 0)] = np.nan
    return disp


def score(est, gt):
    known = gt > 0
    n = int(known.sum())
    have = known & np.isfinite(est)
    e = np.abs(est[have] - gt[have])
    g = gt[have]
    missing = n - int(have.sum())
    out = {"pixels": n, "density": float(have.sum()) / n}
    if e.size:
        out.update(epe=float(e.mean()), bad1=float((e > 1).mean()), bad2=float((e > 2).mean()), bad3=float((e > 3).mean()))
    out["bad2_all"] = (int((e > 2).sum()) + missing) / n
    out["d1_all"] = (int(((e > 3) & (e > 0.05 * g)).sum()) + missing) / n
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--left", required=True)
    ap.add_argument("--right", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--params", required=True, help="JSON of the SGBM parameters")
    a = ap.parse_args()
    left, right = cv2.imread(a.left), cv2.imread(a.right)
    if left is None or right is None:
        sys.exit("sgbm_reference.py: cannot read the pair")
    disp = sgbm(left, right, json.loads(a.params))
    gt = read_gt(a.gt)
    json.dump({"width": disp.shape[1], "height": disp.shape[0], "scores": score(disp, gt)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
