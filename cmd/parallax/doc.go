// Command parallax is the Parallax perception node and its tools. Each
// command parses its own flags and calls into a package; the work is done
// there (actors, learner, record, internal/bench).
//
//	parallax demo                 the main job on an embedded default: the synthetic stereo camera
//	                              served over real RTSP, embedded NATS, the node adapting online
//	                              from the built-in checkpoint; --pretrain remakes that checkpoint
//	parallax run FILE             run the node of a launch file until interrupted
//	parallax sub SUBJECT          subscribe to NATS subjects and print each message decoded
//	parallax camera serve         serve the synthetic camera over RTSP (H.264)
//	parallax camera probe URL     read a camera: codec, size, fps, decode time, --snapshot PNG
//	parallax train                train depth and pose self-supervised on a drive (synth://, mcap://,
//	                              kitti://), with checkpoints, --resume and a learning curve
//	parallax eval                 score a checkpoint's depth and pose on a drive with ground truth
//	parallax record               record a launch's cameras and outputs (FILE) or a node's topics
//	                              (--nats) into MCAP
//	parallax record info FILE     describe a recording: channels, counts, duration, schemas
//	parallax record recover FILE  rebuild the index of a recording cut short
//	parallax replay SOURCE        run the node on a recorded drive (mcap://, kitti://)
//	parallax bench                measure depth inference, adaptation, both at once and the node
//	parallax version              the version, commit, libtorch and device of this binary
//	parallax completion bash|zsh  a shell completion script
//
// Flags go before or after the arguments, `--` ends them, and one word
// means one thing everywhere: -o/--out every output, --model every
// checkpoint the networks start from, --source every drive read, --nats,
// --listen and --ns the NATS server, the embedded server's address and the
// namespace. Old spellings keep working with a note; a mistyped flag gets
// the nearest known one (flags.go).
//
// Run `parallax help COMMAND` for the flags of one command. Every command
// exits non-zero with a message naming the problem when it cannot do its job.
package main
