#!/usr/bin/env python3
"""Reference chessboard calibration with python3-opencv (Debian's cv2).

It runs the same OpenCV steps `parallax calibrate` runs through gocv and its
C++ shim, with the same parameters, so the two must agree (the Go tests
compare them):

  findChessboardCorners (ADAPTIVE_THRESH | NORMALIZE_IMAGE), cornerSubPix
  (11x11, 30 iterations or 0.01 px), calibrateCamera per camera (flags 0,
  or CALIB_RATIONAL_MODEL), stereoCalibrate (CALIB_FIX_INTRINSIC),
  stereoRectify (CALIB_ZERO_DISPARITY, alpha) and, on held-out pairs, the
  rectified epipolar error: mean |y_left - y_right| of matched corners
  after undistortPoints with R1/P1 and R2/P2.

Usage:
  calib_reference.py --left 'left*.jpg' --right 'right*.jpg' [--board 9x6]
      (or --left L1.jpg L2.jpg ... --right R1.jpg R2.jpg ...)
      [--square 0.025] [--alpha 0] [--holdout 4] [--rational]

Images may be gzipped (name.jpg.gz). A pair is used when the board is
found in both images; --holdout N holds out every Nth usable pair (the
4th, 8th, ...) for the epipolar check. Prints one JSON object on stdout:
matrices row-major, pixels in OpenCV's convention.
"""

import argparse
import glob
import gzip
import json
import sys

import cv2
import numpy as np


def load_gray(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            buf = np.frombuffer(f.read(), dtype=np.uint8)
    else:
        with open(path, "rb") as f:
            buf = np.frombuffer(f.read(), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if img is None:
        sys.exit("calib_reference: cannot decode " + path)
    return img


def corners(img, board):
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    found, c = cv2.findChessboardCorners(img, board, flags=flags)
    if not found:
        return None
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 0.01)
    return cv2.cornerSubPix(img, c, (11, 11), (-1, -1), crit)


def flat(m):
    return [float(v) for v in np.asarray(m, dtype=np.float64).ravel()]


def per_view(obj, img, rvecs, tvecs, K, D):
    out = []
    for o, i, r, t in zip(obj, img, rvecs, tvecs):
        p, _ = cv2.projectPoints(o, r, t, K, D)
        e = p.reshape(-1, 2) - i.reshape(-1, 2)
        out.append(float(np.sqrt((e ** 2).sum(axis=1).mean())))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--left", required=True, nargs="+")
    ap.add_argument("--right", required=True, nargs="+")
    ap.add_argument("--board", default="9x6")
    ap.add_argument("--square", type=float, default=0.025)
    ap.add_argument("--alpha", type=float, default=0.0)
    ap.add_argument("--holdout", type=int, default=0)
    ap.add_argument("--rational", action="store_true")
    a = ap.parse_args()
    bw, bh = (int(v) for v in a.board.lower().split("x"))
    board = (bw, bh)
    def files(args):
        out = []
        for x in args:
            out.extend(sorted(glob.glob(x)) if any(c in x for c in "*?[") else [x])
        return out
    lefts, rights = files(a.left), files(a.right)
    if len(lefts) != len(rights) or not lefts:
        sys.exit("calib_reference: %d left and %d right images" % (len(lefts), len(rights)))
    obj1 = np.zeros((bw * bh, 3), np.float32)
    obj1[:, :2] = np.mgrid[0:bw, 0:bh].T.reshape(-1, 2) * a.square
    used, rejected = [], []
    size = None
    for lp, rp in zip(lefts, rights):
        li, ri = load_gray(lp), load_gray(rp)
        size = (li.shape[1], li.shape[0])
        lc, rc = corners(li, board), corners(ri, board)
        if lc is None or rc is None:
            rejected.append(lp if lc is None else rp)
            continue
        used.append((lp, lc, rc))
    train = [u for k, u in enumerate(used) if not (a.holdout > 0 and (k + 1) % a.holdout == 0)]
    held = [u for k, u in enumerate(used) if a.holdout > 0 and (k + 1) % a.holdout == 0]
    obj = [obj1] * len(train)
    il = [u[1] for u in train]
    ir = [u[2] for u in train]
    flags = cv2.CALIB_RATIONAL_MODEL if a.rational else 0
    rms1, K1, D1, rv1, tv1 = cv2.calibrateCamera(obj, il, size, None, None, flags=flags)
    rms2, K2, D2, rv2, tv2 = cv2.calibrateCamera(obj, ir, size, None, None, flags=flags)
    crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-6)
    rms, K1, D1, K2, D2, R, T, E, F = cv2.stereoCalibrate(
        obj, il, ir, K1, D1, K2, D2, size, criteria=crit, flags=cv2.CALIB_FIX_INTRINSIC | flags)
    R1, R2, P1, P2, Q, _, _ = cv2.stereoRectify(K1, D1, K2, D2, size, R, T,
                                                flags=cv2.CALIB_ZERO_DISPARITY, alpha=a.alpha)
    def epipolar(views):
        errs = []
        for _, lc, rc in views:
            ul = cv2.undistortPoints(lc, K1, D1, R=R1, P=P1).reshape(-1, 2)
            ur = cv2.undistortPoints(rc, K2, D2, R=R2, P=P2).reshape(-1, 2)
            errs.extend(np.abs(ul[:, 1] - ur[:, 1]).tolist())
        return float(np.mean(errs)) if errs else None
    out = {
        "size": list(size),
        "used": [u[0] for u in train],
        "held_out": [u[0] for u in held],
        "rejected": rejected,
        "left": {"K": flat(K1), "D": flat(D1), "rms": rms1, "per_view": per_view(obj, il, rv1, tv1, K1, D1)},
        "right": {"K": flat(K2), "D": flat(D2), "rms": rms2, "per_view": per_view(obj, ir, rv2, tv2, K2, D2)},
        "R": flat(R), "T": flat(T), "rms": rms,
        "R1": flat(R1), "R2": flat(R2), "P1": flat(P1), "P2": flat(P2), "Q": flat(Q),
        "baseline": float(np.linalg.norm(T)),
        "epipolar_train": epipolar(train),
        "epipolar_held_out": epipolar(held),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
