// Package faults is the fault-injection suite: it builds the parallax
// binary and runs it against real peers on loopback (its own `camera serve`
// processes, Debian's nats-server, RTSP publishers of broken streams, a
// tmpfs that fills up), injects the faults a node on a vehicle lives
// through, and checks that it recovers and loses nothing:
//
//   - the camera's RTSP server killed (-9) and restarted, again and again:
//     depth is back within 2 s of the camera's return every time, and
//     goroutines and open files stay flat;
//   - the right camera of a stereo pair lost: the node publishes the left
//     camera's monocular depth, says so on diagnostics, and pairs again when
//     the camera is back;
//   - an external NATS server restarted: the node reconnects, keeps its
//     memory bounded and its goroutines flat;
//   - kill -9 of the node during learner checkpoints and recordings: every
//     checkpoint left loads, every recording opens or `record recover`
//     restores it;
//   - a full disk while recording: a clear error on diagnostics, the node
//     keeps serving, what was written stays readable;
//   - garbage RTP and corrupt H.264, and a resolution change mid-stream:
//     bad frames are dropped and counted, depth goes on.
//
// `go test ./faults` (part of `make test`) injects each fault twice;
// `make faults` runs the long form (-faults.long: ten times each) and
// prints the figures (attempts, recoveries, worst recovery time, anything
// lost) as the Markdown table BENCHMARKS.md keeps.
package faults
