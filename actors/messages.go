package actors

import (
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
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

// diagMsg reports a status change to the diagnostics actor.
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

// tick makes the diagnostics actor send every status again.
type tick struct{}
