// Package learner trains and evaluates parallax's perception networks
// without labels: Monodepth2's self-supervised losses, and the standard
// depth (Eigen/Monodepth2) and pose (SfMLearner ATE) metrics.
package learner
