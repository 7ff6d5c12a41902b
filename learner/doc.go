// Package learner trains and evaluates parallax's perception networks
// without labels: training objectives (Monodepth2's self-supervised losses
// today), the one Trainer and the loops that run it (Fit offline, the
// Adapter online), and the standard depth (Eigen/Monodepth2) and pose
// (SfMLearner ATE) metrics.
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
//
// # Objectives and training (objective.go, monodepth2.go, train.go, adam.go, fit.go)
//
// An Objective is a training objective: the frames each sample Needs, the
// sub-networks it Trains, and a Loss from a Batch (the samples as tensors)
// to named terms. A Trainer owns a perception.Model's optimisation for one
// objective: Step(batch) takes Samples of full camera frames,
// centre-crops and resizes them to the model input like the Estimator
// (intrinsics cropped and scaled alike), runs the objective's Loss, and
// does the rest the same for every objective: backward pass, clipping,
// Adam, the non-finite guard. A new objective is one new type.
//
// Monodepth2 (monodepth2.go) is the first objective; its Mode says what it
// learns from (mono, stereo, both):
//
//   - depth: DepthNet on the target (and, in the stereo modes, on the right
//     view in the same forward); each of the 4 disparity scales is upsampled
//     to the input (UpsampleToInput) and mapped to depth (DispToDepth);
//   - mono and both: PoseNet on (t-1, t) and (t, t+1) in temporal order, as
//     Estimator.Pose calls it; the first transform is inverted (Monodepth2's
//     invert flag) so both map target points into the source camera;
//   - per scale, the per-pixel minimum reprojection (Photometric through
//     MaskOutside) over the sources — t-1, t+1 and, in the stereo modes, the
//     right view through the known baseline — with automask against the
//     un-warped sources; MaskedMean of the kept pixels;
//   - stereo and both: the right view is a target too, reconstructed from the
//     left image with its own predicted depth through the mirrored transform
//     (the two views' photometric terms are averaged), and LRConsistency of
//     the two pixel disparities fx*B/depth, divided by the width (Monodepth's
//     units) and weighted by LRWeight (1);
//   - edge-aware Smoothness of each scale's disparity against the image
//     average-pooled to that scale, times SmoothWeight (1e-3) / 2^s.
//
// Each term is averaged over the scales and summed. The backward pass fills
// the variables' gradients; their global L2 norm over the trained variables
// is computed and clipped to ClipNorm (10); Adam (adam.go: per-variable
// moments m and v on tensors, bias correction, written out because gotch's
// C++ optimiser hides its state) updates the variables in place. The
// learning rate is LR (1e-4) with an optional warmup, step decay (LRDecay
// every LRDecaySteps) and SetLRScale's factor (the adaptation drift guard).
// Params restricts training to named variables of the sub-networks the
// objective trains (partial updates); Monodepth2 in ModeStereo does not
// train the pose network.
//
// The guard: a loss that is NaN or ±Inf skips the backward pass; a
// gradient whose norm is not finite skips the update. Either way the step is
// counted by SkippedSteps, StepStats.Skipped is set, and neither the
// weights nor the Adam moments nor the step count change. Gradients are
// zeroed before and after every step, so nothing leaks into the next.
// FreezeBN exists for configurations that carry it, and does nothing: the
// networks have no BatchNorm (or any normalisation layer) by design.
//
// The state is the model's weights plus the Adam moments, Adam's step count
// (Steps: skipped steps excluded), the skipped count and the LR scale. Save
// writes it as one atomic checkpoint: perception's sections "weights",
// "optim" (binary moments by variable name) and "trainer" (JSON). Resume
// loads all of it into a fresh Trainer of the same objective and model
// architecture, after checking everything first; training then continues
// bit-for-bit as if uninterrupted (TestTrainResumeExact: libtorch on CPU
// with the same thread count is deterministic here). Snapshot and Restore
// copy the same state in memory for rollback.
//
// Fit is the offline loop: batches drawn from a camera.Drive (opened by
// URL, camera.OpenDrive) by a seed and the step count, so a resumed run
// draws what the uninterrupted one would have; NewSample builds the Sample
// centred on a frame with what an objective Needs. `parallax train`,
// `parallax demo --pretrain`, `parallax bench` and the learning tests run
// it; train adds checkpoints, --resume and a learning curve against a
// held-out world (--eval-every).
//
// # Online adaptation (adapt.go, replay.go)
//
// An Adapter trains a copy of the served model on tuples from the live
// stream with its own Trainer, whatever the objective: it gates them (an
// image-change gate; the pose network's translation when the objective
// trains it; an anomaly check on the objective's guard term, Guarded),
// keeps a replay buffer (half recent, half a reservoir) and a held-out
// set, mixes replayed tuples into each step (CoMoDA), and a drift guard
// compares the guard term of the current and last good weights on the
// held-out tuples, rolling back and backing the learning rate off when they
// got worse. Only checked weights are handed over or saved.
package learner
