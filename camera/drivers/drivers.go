// Package drivers registers every built-in camera source with the camera
// package's registry (camera.Register): rtsp:// and rtsps:// (camera
// itself), synth:// (camera/synth), mcap:// (camera/replay) and kitti://
// (camera/kitti). Import it for its side effect wherever URLs are opened
// or checked:
//
//	import _ "github.com/parallax-robotics/parallax/camera/drivers"
//
// A new kind of source registers itself in its own package's init and is
// added here.
package drivers

import (
	_ "github.com/parallax-robotics/parallax/camera/kitti"  // kitti://
	_ "github.com/parallax-robotics/parallax/camera/replay" // mcap://
	_ "github.com/parallax-robotics/parallax/camera/synth"  // synth://
)
