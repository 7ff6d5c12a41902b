// Command parallax is the Parallax perception node and its tools.
//
//	parallax demo                      the main job on an embedded default: synthetic stereo camera
//	                                   served over real RTSP, embedded NATS, the camera pipeline
//	parallax camera serve [--stereo]   serve the synthetic camera over RTSP (H.264)
//	parallax camera probe URL          read a camera: codec, size, fps, decode time, --snapshot PNG
//
// Run `parallax help COMMAND` for the flags of one command. Every command
// exits non-zero with a message naming the problem when it cannot do its job.
package main
