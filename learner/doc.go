// Package learner trains and evaluates parallax's perception networks
// without labels: Monodepth2's self-supervised losses, and the standard
// depth (Eigen/Monodepth2) and pose (SfMLearner ATE) metrics.
//
// # Evaluation (metrics.go, eval.go)
//
// DepthMetrics computes Monodepth2's abs_rel, sq_rel, rmse, rmse_log and
// a1..a3 on one depth map: only pixels whose truth is strictly inside
// (MinDepth, MaxDepth) — 1e-3 and 80 m by default, KITTI's cap — count; the
// prediction is median-scaled (monocular) or not (stereo-trained, metric)
// and then clamped to the range. MetricsAccumulator averages per image, as
// Monodepth2 does, and reports the mean median-scaling ratio and its
// relative spread.
//
// SnippetATE is SfMLearner's ATE over 5-frame snippets (positions relative
// to each snippet's first pose, least-squares scale), but a true RMSE where
// SfMLearner divides sqrt(Σ||e||²) by the frame count. TranslationDrift is a
// simplified KITTI-odometry t_err: mean over every start frame and segment
// length of the endpoint translation error divided by the segment's true
// path length, in %; no rotation error, and the prediction scaled by a
// given factor (TrajectoryScale for monocular poses).
//
// Evaluate runs a perception.Estimator over the first frames of a synth://
// world, compares depth at the depth map's resolution (truth sampled
// nearest-neighbour through the Estimator's centre crop, GroundTruthDepth)
// both median-scaled and metric, and chains Estimator.Pose over consecutive
// frames into a trajectory for ATE and drift. `parallax eval` prints it.
//
// # Losses (losses.go)
//
// Monodepth2's losses as separate, differentiable, batched functions on
// gotch tensors (each frees its intermediates; run them on a locked OS
// thread). SSIM is the 3x3 (reflection-padded, avg-pool) structural
// dissimilarity clamp((1-SSIM)/2, 0, 1) per channel, [B,C,H,W];
// Photometric averages it and |I-I'| over channels, 0.85*SSIM + 0.15*L1,
// [B,1,H,W]. ViewSynthesis (perception.Reproject per source) and
// StereoReprojection (perception.StereoTransform's known baseline) give the
// warped images and Project's valid masks; MaskOutside turns a source's
// error to OutsideError where it sees nothing, so MinReprojection's
// per-pixel minimum over sources prefers a source that sees the pixel and
// masks pixels no source sees. With automask, pixels where an un-warped
// source's error is strictly lower than the warped minimum are masked out:
// ties keep the pixel (deterministic; Monodepth2 adds random 1e-5 noise).
// MaskedMean averages over the kept pixels only, 0 when none is kept (no
// NaN); Monodepth2 averages over all pixels, the identity-chosen ones being
// constants, so the gradient direction is the same. UpsampleToInput resizes
// each scale's disparity to the input (Monodepth2's full-resolution
// multi-scale loss; the total averages the scales). Smoothness is the
// edge-aware first-order term on disp/mean(disp) weighted by
// exp(-mean_c|∂I|), at each scale's own resolution, weighted by
// SmoothnessScaleWeight(s) = 1/2^s (times Monodepth2's 1e-3).
// LRConsistency is Monodepth's left-right term on pixel disparities
// (DepthToPixelDisparity = fx*B/depth): each view's disparity against the
// other's warped horizontally by its own. scripts/reference_losses.py checks
// SSIM, Photometric, MinReprojection with automask and Smoothness against
// PyTorch.
package learner
