package actors

import (
	"fmt"
	"slices"
	"time"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// Monocular metric scale from the camera's mounting: a mono camera with a
// launch-file camera_height has each depth map's scale recovered from the
// ground plane (calibration.GroundScale), smoothed over the last frames,
// and its published depth multiplied by it. While too little ground has
// been seen for scaleHold frames the depth is published as the network
// gives it, flagged relative: a WARN status "perception/<camera>/scale" on
// <ns>.diagnostics, and DepthMap.Relative (the learner's stats report it as
// DEPTH_SCALE_RELATIVE).
const (
	// scaleWindow is how many recent per-frame scales the median is over.
	scaleWindow = 15
	// scaleHold is how many frames without ground keep the last scale.
	scaleHold = 30
	// scaleReport is the most often the scale's diagnostic is sent again
	// while its state does not change (the diagnostics actor repeats the
	// latest every second anyway).
	scaleReport = 2 * time.Second
)

// groundScale tracks one mono camera's scale.
type groundScale struct {
	camera string
	height float64 // metres, the launch file's camera_height

	recent   []float64 // the last per-frame scales found
	misses   int       // frames since the last one
	metric   bool      // the state last reported
	reported time.Time
}

// apply scales d in place when a scale is known and returns the status to
// report (nil when there is nothing new to say).
func (g *groundScale) apply(d *msgs.DepthMap) *parallaxv1.DiagnosticStatus {
	var found calibration.Ground
	if d.Intrinsics != nil {
		k := d.Intrinsics.Scaled(d.Width, d.Height)
		var err error
		if found, err = calibration.GroundScale(d.Depth, k, calibration.GroundConfig{CameraHeight: g.height}); err != nil {
			found.Reason = err.Error()
		}
	} else {
		found.Reason = "the camera has no intrinsics"
	}
	if found.OK {
		g.recent = append(g.recent, found.Scale)
		if len(g.recent) > scaleWindow {
			g.recent = g.recent[len(g.recent)-scaleWindow:]
		}
		g.misses = 0
	} else {
		g.misses++
		if g.misses > scaleHold {
			g.recent = g.recent[:0]
		}
	}
	metric := len(g.recent) > 0
	if metric {
		s := slices.Clone(g.recent)
		slices.Sort(s)
		d.Scale = s[len(s)/2]
		for i := range d.Depth {
			d.Depth[i] *= float32(d.Scale)
		}
	} else {
		d.Relative = true
	}
	now := time.Now()
	if metric == g.metric && now.Sub(g.reported) < scaleReport {
		return nil
	}
	g.metric, g.reported = metric, now
	st := &parallaxv1.DiagnosticStatus{Name: "perception/" + g.camera + "/scale",
		Values: []*parallaxv1.KeyValue{
			{Key: "camera_height", Value: fmt.Sprintf("%g", g.height)},
			{Key: "ground_share", Value: fmt.Sprintf("%.3f", found.Share)},
		}}
	if metric {
		st.Level = parallaxv1.DiagnosticStatus_OK
		st.Message = fmt.Sprintf("metric depth: scale %.4f from the ground plane (camera_height %g m)", d.Scale, g.height)
		st.Values = append(st.Values, &parallaxv1.KeyValue{Key: "depth_scale", Value: fmt.Sprintf("%.6g", d.Scale)},
			&parallaxv1.KeyValue{Key: "depth", Value: "metric"})
	} else {
		st.Level = parallaxv1.DiagnosticStatus_WARN
		st.Message = "relative depth: " + found.Reason
		st.Values = append(st.Values, &parallaxv1.KeyValue{Key: "depth", Value: "relative"})
	}
	return st
}
