// Package cameratest runs an in-process RTSP server (gortsplib) for tests,
// demos and the `parallax camera serve` command.
//
// Server.Serve publishes the frames of any camera.Source as real H.264
// (camera/codec's encoder) on its own path, with the SPS and PPS in the SDP
// so that ffprobe and other clients see the stream's format at once; a stereo
// rig serves each view on its own path (/left, /right). Every other path
// accepts a publisher (ANNOUNCE/RECORD), so
//
//	ffmpeg -re -f lavfi -i testsrc=size=640x480:rate=15 -c:v libx264 \
//	    -preset ultrafast -tune zerolatency -g 15 -pix_fmt yuv420p \
//	    -f rtsp rtsp://127.0.0.1:PORT/cam
//
// pushes a stream that readers of /cam then receive unchanged. The server
// listens on 127.0.0.1 and a free port by default: use Addr or URL after Start.
package cameratest
