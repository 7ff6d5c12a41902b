package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/perception"
)

// perceptionActor estimates depth (and odometry) for one stream group.
// Receive puts each FrameSet into a latestBox; one inference goroutine takes
// the newest set, runs the networks on the estimator's Worker (a locked OS
// thread) through a perception.Sequence (each frame becomes a tensor once,
// for its depth and for the next frame's motion) and hands the result to
// the sinks. Frame sets replaced before inference took them are counted as
// stale.
type perceptionActor struct {
	name   string  // the group's reference camera, for diagnostics
	height float64 // a mono camera's camera_height (scale.go), 0: none
	est    *perception.Estimator
	depth  depthMethod // the group's depth method (depth.go); nil: the network
	odom   bool        // chain poses into odometry
	// flow runs the flow network between consecutive frames and hands its
	// field on (topics.optical_flow); sceneFlow also derives scene flow
	// from it and the two depth maps (topics.scene_flow).
	flow, sceneFlow bool
	out             *fanout
	diag            *actor.PID
	result          func(r *msgs.Result) func() // the node's hook: observes r, returns what runs once every sink is done
	c               *counters

	box    *latestBox[*FrameSet]
	cancel context.CancelFunc
	done   chan struct{}
}

func (a *perceptionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Stopping:
		a.stop()
	case *actor.Stopped:
	case *actor.Restarting:
		a.stop()
	case *FrameSet:
		if a.box.put(m) {
			a.c.stale.Add(1)
		}
	}
}

func (a *perceptionActor) start(ctx actor.Context) {
	a.box = newLatestBox[*FrameSet]()
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	root, diag := ctx.ActorSystem().Root, a.diag
	go func() {
		defer close(a.done)
		a.infer(rctx, func(st *parallaxv1.DiagnosticStatus) { root.Send(diag, &diagMsg{status: st}) })
	}()
}

// stop ends the inference goroutine after the frame it is estimating.
func (a *perceptionActor) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

// infer is the inference goroutine. Odometry starts at identity (the odom
// frame is the reference camera's pose at the first processed frame) and
// composes each frame's motion since the previous processed frame.
func (a *perceptionActor) infer(ctx context.Context, report func(*parallaxv1.DiagnosticStatus)) {
	seq := a.est.Sequence()
	if a.flow || a.sceneFlow {
		seq.WithFlow(perception.NetFlow)
	}
	defer seq.Close()
	method := a.depth
	if method == nil {
		method = monoDepth{}
	}
	odom := msgs.Identity()
	var n uint64
	var prev *msgs.Result // the previous result, whose frame the flow starts at
	var flows uint64
	failing := false
	var scale *groundScale
	if a.height > 0 {
		scale = &groundScale{camera: a.name, height: a.height}
	}
	for {
		set, ok := a.box.take(ctx)
		if !ok {
			return
		}
		began := time.Now()
		est, err := method.estimate(seq, set, a.odom)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				report(&parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_ERROR,
					Name: "perception/" + a.name, Message: fmt.Sprintf("inference failed: %v", err)})
			}
			failing = true
			continue
		}
		if failing || n == 0 {
			report(&parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_OK,
				Name: "perception/" + a.name, Message: "estimating"})
			failing = false
		}
		if scale != nil {
			if st := scale.apply(&est.Depth); st != nil {
				report(st)
			}
		}
		res := &msgs.Result{Frames: set.Frames, Depth: est.Depth, Seq: n, Inference: time.Since(began)}
		if a.odom {
			if est.Motion != nil {
				odom = odom.Compose(*est.Motion)
			}
			p := odom
			res.Odom = &p
		}
		if est.Flow != nil && prev != nil {
			a.motionOutputs(res, prev, est.Flow, flows)
			flows++
		}
		prev = res
		n++
		a.c.processed.Add(1)
		a.out.send(msgs.Output{Result: res}, a.result(res))
	}
}

// motionOutputs fills r's optical flow (from prev's reference frame to
// r's) and, when asked and the depth maps allow, the scene flow derived
// from it and both depth maps; both are stamped at prev's frame, the
// start of the motion, as msgs.GroundTruth.Flow is.
func (a *perceptionActor) motionOutputs(r, prev *msgs.Result, f *perception.FlowField, seq uint64) {
	from, to := prev.Ref(), r.Ref()
	if a.flow {
		r.Flow = &msgs.OpticalFlowField{Stamp: from.Stamp, Next: to.Stamp, FrameID: from.Camera, Seq: seq,
			Width: f.Width, Height: f.Height, Flow: f.Flow}
	}
	if !a.sceneFlow {
		return
	}
	sf, err := perception.SceneFlowFromDepth(prev.Depth, r.Depth, *f)
	if err != nil {
		// No intrinsics (a source that does not know its camera): there is
		// no metric scene flow to publish, and the flow still goes out.
		return
	}
	r.SceneFlow = &msgs.SceneFlowField{Stamp: from.Stamp, Next: to.Stamp, FrameID: from.Camera, Seq: seq,
		Width: f.Width, Height: f.Height, Flow: sf, Depth: prev.Depth.Depth}
}
