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
package perception
