// Package perception holds Parallax's networks (depth, pose, scene flow),
// geometry (back-project, project, warp) and inference on libtorch, through
// the patched gotch in third_party/gotch (made by `make deps`).
//
// For now it only proves the build: its tests drive libtorch through gotch
// (tensors, convolutions, autograd, thread count, the stubbed wrappers), and
// TuneMalloc sets up glibc malloc for tensor work.
//
// All libtorch work must run on a goroutine that called runtime.LockOSThread:
// libtorch's grad mode and gotch's error slot belong to the OS thread.
//
// # Geometry
//
// geometry.go holds the differentiable view synthesis of SfMLearner and
// Monodepth2: BackProject lifts a depth map [B,1,H,W] to camera points
// [B,3,H*W], Project moves them through a target-to-source transform T
// [B,4,4] and intrinsics K [B,3,3] into a grid_sample grid [B,H,W,2] plus a
// validity mask [B,1,H,W], Warp samples the source image there (bilinear,
// border padding), and Reproject chains the three. Helpers build the tensors:
// IntrinsicsTensor (K and its inverse from msgs.Intrinsics), PoseTensor,
// RelativeTransform (T_src<-tgt = inv(P_src) * P_tgt from camera-to-world
// poses), StereoTransform (a rectified pair: translation of -baseline along x
// takes left-camera points into the right camera) and TransformFromAxisAngle
// (a pose network's axis-angle and translation to T, differentiable).
// Pixel (u, v) has its centre at (u+0.5, v+0.5), as in msgs.Intrinsics, which
// is exactly grid_sample's align_corners=false grid: gx = 2*x/W - 1.
package perception
