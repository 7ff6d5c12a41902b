// Package actors wires the node together with protoactor-go: the only
// package that knows every part. A Node builds this supervision tree from a
// launch file:
//
//	node
//	├── diagnostics          the state of every part, to the sinks on change and every second
//	├── sink/<name>          one per sink: nats (always), then Node.Sinks (record.Recorder, a viewer, a test)
//	├── perception/<camera>  one per stream group (a stereo pair or a mono camera)
//	├── learner/<camera>     online adaptation of the first group, fed by tee/<camera>
//	├── sync                 stereo pairing, when the launch file has a pair
//	└── camera/<name>        one per camera stream
//
// Frames flow camera -> sync -> perception; every camera frame and every
// perception result also goes to every sink. Each actor's Receive only
// moves messages and counters; anything that blocks runs on a goroutine of
// its own:
//
//   - a camera actor opens its camera through the camera package's
//     registry (camera.Open: the URL's scheme picks the driver), reads it on
//     its own goroutine and reconnects it forever with exponential backoff
//     (0.25 s doubling to 1 s, reset after 5 s of healthy streaming),
//     reporting each state change (connecting, streaming, failed: reason,
//     backing off) with the URL's credentials redacted;
//   - the sync actor pairs left and right frames whose stamps differ by at
//     most stereo.sync_tolerance and drops (and counts) the unpaired; when
//     the right camera has been silent for stereo.mono_after it passes the
//     left frames on alone (monocular depth, a WARN on diagnostics, the
//     stereo learner pausing) until a fresh right frame arrives;
//   - a perception actor has a latest-frame-wins mailbox (latestBox): one
//     inference goroutine takes the newest frame set, so a slow model drops
//     stale frames (counted) and never queues them; the torch work runs on a
//     perception.Worker (a locked OS thread) through a perception.Sequence,
//     which turns each frame into a tensor once for its depth and the next
//     frame's motion;
//   - a sink actor queues what it gets (sinkQueue) and one goroutine writes
//     it: frames and results latest-wins per camera, so a slow sink skips
//     stale ones and never holds up inference or another sink; diagnostics
//     and stats in order, never coalesced and served first; a Queued sink
//     (the recorder) gets a bounded FIFO instead. The NATS sink publishes
//     msgs.ResultMessages and encodes the JPEG previews with one reused
//     encoder;
//   - the learner actor gets every frame set of the first group too, keeps
//     the newest training triplet (latest wins) and hands it to a
//     learner.Adapter on its own perception.Worker (1 thread at
//     learner.nice, 10 by default:
//     inference wins a contended core): gates, replay buffer, optimisation
//     steps within learner.steps_per_s and learner.compute_share, the drift
//     guard, and every learner.hand_over_every steps a hand-over of checked
//     weights (copied into a spare model on perception's worker, between two
//     inferences, then swapped in with Estimator.SetModel). It writes
//     learner.checkpoint periodically and on Stop, and the node starts from
//     it when it exists.
//
// A new output of the node is a Sink: a type with Name, Open, Write and
// Close, added to Node.Sinks; sinktest.Collector is one for tests.
//
// Odometry: the node's "odom" frame (msgs.OdomFrame) is the pose of the
// reference camera (the left camera of the pair, else the first camera) at
// its first processed frame; each later pose chains the motion between
// consecutive processed frames. Frames dropped as stale are skipped, so the
// pose network sees the motion between the frames actually processed.
//
// Published topics (ns = launch namespace; see msgs/doc.go):
//
//	<ns>.<camera>.depth        foxglove.RawImage 32FC1, the reference camera of each group
//	<ns>.<camera>.camera_info  foxglove.CameraCalibration of the depth map, every camera of the group
//	<ns>.<camera>.image        foxglove.CompressedImage (JPEG), when topics.image, at topics.image_rate
//	<ns>.odom, <ns>.pose, <ns>.tf   of the first group's reference camera, when topics.odom
//	<ns>.learner.stats         parallax.v1.LearnerStats, every second (the live depth error with ground truth)
//	<ns>.diagnostics           parallax.v1.Diagnostics
//
// camera_info needs the camera's intrinsics: inline in the launch file, or
// what the source knows (synth://, a recording). Calibration files are not
// read yet. mcap:// and kitti:// cameras replay recordings with the
// intrinsics and baseline they recorded; at rate 0 a replay reads its next
// frame only once every sink is done with the previous one's result
// (lockstep), so every frame is processed and delivered, and two replays
// publish the same depth.
//
// Subscribed topics: none. Parameters: the launch file (launch/PARAMETERS.md).
//
// With no model.checkpoint (and no learner.checkpoint file) the networks
// start from random initialisation; with learner.adapt they then learn from
// the video, slowly on a CPU: start from a trained checkpoint.
package actors
