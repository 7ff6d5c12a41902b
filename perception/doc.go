// Package perception holds Parallax's networks (depth and ego-motion
// today), geometry (back-project, project, warp) and inference on libtorch,
// through the patched gotch in third_party/gotch (made by `make deps`).
//
// torch_test.go proves the build (tensors, convolutions, autograd, thread
// count, the stubbed wrappers), and TuneMalloc sets up glibc malloc for
// tensor work.
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
//
// # Networks, workers and checkpoints
//
// Worker (worker.go) owns one OS thread (runtime.LockOSThread) and runs
// torch closures on it with Do, from any goroutine; a panic in a closure
// comes back as an error wrapping ErrPanic and grad mode is switched back
// on. NewWorker(threads) sets libtorch's intra-op thread count for that
// thread and applies TuneMalloc once per process. Several workers may exist
// (inference, learner): they share the process's cores and OpenMP/MKL
// threads. Every Model, DepthNet, PoseNet and tensor call below runs inside
// Worker.Do; Estimator does that itself. ParseDevice (device.go) reads
// "auto", "cpu", "cuda", "cuda:N".
//
// DepthNet (depthnet.go) is Monodepth2-like: 5 stride-2 encoder stages of
// two 3x3 conv+ELU (widths small 16-32-64-96-128, default
// 32-64-128-256-256), a decoder with nearest upsampling, skips, reflection
// padding and ELU, and sigmoid disparity heads at scales 1, 1/2, 1/4, 1/8.
// Inputs are [B,3,H,W] in [0,1] (normalised inside) with H and W multiples
// of 32, at least 64. There is no BatchNorm, on purpose (online adaptation
// trains on tiny batches; nothing to freeze). The heads start at
// InitDepth (10 m) so the photometric loss has a gradient from step one.
// DispToDepth is Monodepth2's mapping of disparity to depth in
// MinDepth..MaxDepth. PoseNet (posenet.go) is Monodepth2's pose CNN on the
// two frames concatenated, output [B,6] (axis-angle, translation) scaled by
// 0.01, the warp from frame a's camera into frame b's; PoseConfig.ForwardPrior
// initialises it to forward motion (plain mono training collapsed without).
// PoseMatrix turns it into [B,4,4] (Rodrigues, differentiable).
//
// Encoder (encoder.go) is DepthNet's encoder on its own: DepthNet runs one
// (its variables stay depth.enc0 .. depth.enc4) and Encoder() returns it,
// and the "encoder" kind (EncoderConfig) is the same network alone in a
// pre-training model, whose variables are named alike under its own name
// (encoder.enc0.conv0.weight). It accepts inputs from 32x32 up (no
// decoder). Model.LoadEncoder copies a checkpoint's encoder (a
// pre-training model's, or a depth net's) into a model's depth net or
// encoder, nothing else, checking names and shapes first; the input sizes
// may differ. The pre-training heads (heads.go) are kinds too: "projection"
// (a two-layer MLP to a contrastive embedding), "classifier" (linear, or
// one hidden layer, to logits) and "inpaint" (Context Encoders' decoder
// from the coarsest feature back to RGB, no skips); like every network
// here they have no normalisation layer.
//
// A Model (model.go) is a set of named sub-networks in one VarStore:
// network "depth"'s variables are named "depth.…". ModelConfig is the
// input size and a NetConfig per name; a NetConfig is one kind of network
// (DepthConfig, PoseConfig) that builds its Net, and RegisterNet makes a
// kind known to checkpoints, so a new network is a new NetConfig and Net.
// DepthPose is the standard model. Checkpoints (checkpoint.go) are one
// file: magic, format version (2: the header lists the sub-networks with
// their kinds; version 1's fixed depth and pose pair still reads), then
// named sections each with a length and a CRC-32C: "header" (JSON:
// architecture and metadata), "weights" (name, shape, float32 values), any
// extra sections (optimiser state), "end". Writes are atomic (temp file,
// fsync, rename); loads refuse another architecture (ErrArchMismatch
// naming the difference), another version, and any truncated or damaged
// file, and leave the weights untouched on error. ManualSeed makes the
// initial weights repeatable.
//
// Estimator (infer.go) runs a Model on a Worker: Depth(frames...) returns
// metric depth maps (msgs.DepthMap) at the model input size (each frame
// centre-cropped to the model's aspect ratio, then resized bilinearly,
// intrinsics adjusted), Pose(a, b) the pose of camera b in camera a's
// frame, and a Sequence runs both over consecutive frames of one camera,
// turning each frame into a tensor once. Scope (scope.go) runs a chain of
// tensor ops and frees its intermediates; tensors.go copies between Go and
// tensors with one memcpy.
//
// gotch v0.7.0 traps this package works around: Must* functions call
// log.Fatal (no recover), so only error-returning calls are used; in-place
// wrappers (Elu_, Relu_, Add_, ...) replace the tensor's C handle and leak
// the old one with its storage, so none are used (weights are assigned with
// a checked Copy_); GradSetEnabled's returned previous state is garbage (a
// 4-byte C int read as 8 bytes), so no-grad sections always re-enable grad
// mode; NewTensorFromData and CopyData walk data by reflection (one
// allocation per element), so frames and depth maps are copied with one
// memcpy through DataPtr.
package perception
