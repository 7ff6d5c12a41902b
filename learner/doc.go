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
package learner
