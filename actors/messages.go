package actors

import (
	"time"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/perception"
)

// The messages the actors exchange. They are pointers, sent once and never
// modified after sending: frames are shared between actors read-only.

// frameMsg carries one frame from a camera's reader goroutine to its actor,
// and from the camera actor on to the sync or perception actor.
type frameMsg struct {
	frame *msgs.Frame
}

// FrameSet is what the perception stage works on: the frames of one
// instant of a stream group, the reference camera first (left, then right;
// or a single mono frame).
type FrameSet struct {
	Frames []*msgs.Frame
}

// Ref returns the reference (left or mono) frame.
func (s *FrameSet) Ref() *msgs.Frame { return s.Frames[0] }

// DepthResult is the perception stage's output for one FrameSet.
type DepthResult struct {
	// Set is the input.
	Set *FrameSet
	// Depth is the reference camera's depth map at the model's resolution.
	Depth perception.DepthMap
	// Odom is the reference camera's pose in the odom frame; nil when the
	// group does not publish odometry.
	Odom *msgs.Pose
	// Seq counts the results of this group from 0.
	Seq uint64
	// Inference is how long depth and pose estimation took.
	Inference time.Duration
}

// imageMsg asks the publisher for a JPEG preview of a frame.
type imageMsg struct {
	frame *msgs.Frame
}

// diagMsg asks the publisher to publish a status change.
type diagMsg struct {
	status *parallaxv1.DiagnosticStatus
}

// cameraState is sent by a camera's reader goroutine to its actor on every
// change of the stream's state.
type cameraState struct {
	level  parallaxv1.DiagnosticStatus_Level
	state  string // "connecting", "streaming", "failed", "backing off"
	detail string // the reason or the wait, credentials redacted
}

// tick makes the publisher republish every status once a second.
type tick struct{}
