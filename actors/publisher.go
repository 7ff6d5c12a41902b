package actors

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera/codec"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// OdomFrame is the frame_id of the odometry the node publishes: the pose of
// the reference camera at its first processed frame.
const OdomFrame = "odom"

// jpegQuality is the quality of the JPEG previews: enough for a viewer.
const jpegQuality = 80

// diagPeriod is how often every status is republished, so a subscriber
// that joins late learns the state of every part within a second.
const diagPeriod = time.Second

// publisherActor turns results into protobuf messages on NATS. Publishing
// on a nats.Conn only copies into its buffer, so Receive does not block on
// the network.
type publisherActor struct {
	nc        *nats.Conn
	ns        msgs.Namespace
	topics    launch.Topics
	baselines map[string]float64 // right camera -> stereo baseline in metres
	c         *counters
	onDepth   func(*DepthResult)

	subjects map[string]msgs.CameraSubjects
	status   map[string]*parallaxv1.DiagnosticStatus
	timer    *time.Timer
	pubErr   bool
}

func (a *publisherActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.subjects = map[string]msgs.CameraSubjects{}
		a.status = map[string]*parallaxv1.DiagnosticStatus{}
		a.schedule(ctx)
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
	case *actor.Stopped:
	case *actor.Restarting:
		if a.timer != nil {
			a.timer.Stop()
		}
	case *DepthResult:
		a.depth(m)
	case *imageMsg:
		a.image(m.frame)
	case *diagMsg:
		a.status[m.status.Name] = m.status
		a.diagnostics(m.status)
	case tick:
		all := make([]*parallaxv1.DiagnosticStatus, 0, len(a.status))
		for _, s := range a.status {
			all = append(all, s)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		if len(all) > 0 {
			a.diagnostics(all...)
		}
		a.schedule(ctx)
	}
}

func (a *publisherActor) schedule(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	a.timer = time.AfterFunc(diagPeriod, func() { root.Send(self, tick{}) })
}

func (a *publisherActor) camera(name string) msgs.CameraSubjects {
	s, ok := a.subjects[name]
	if !ok {
		s, _ = a.ns.Camera(name) // names were validated with the launch file
		a.subjects[name] = s
	}
	return s
}

func (a *publisherActor) depth(r *DepthResult) {
	ref := r.Set.Ref()
	if a.topics.Depth {
		img, err := msgs.DepthImage(ref.Stamp, ref.Camera, r.Depth.Width, r.Depth.Height, r.Depth.Depth)
		if err == nil && a.publish(a.camera(ref.Camera).Depth, img) {
			a.c.latency(time.Since(ref.Stamp))
		}
	}
	if k := r.Depth.Intrinsics; k != nil {
		// Every camera of a rectified group shares the reference camera's
		// intrinsics at the depth map's resolution.
		for _, f := range r.Set.Frames {
			cal, err := msgs.CameraCalibration(ref.Stamp, f.Camera, *k, a.baselines[f.Camera])
			if err == nil {
				a.publish(a.camera(f.Camera).CameraInfo, cal)
			}
		}
	}
	if r.Odom != nil && a.topics.Odom {
		o := msgs.Odometry(ref.Stamp, OdomFrame, ref.Camera, r.Seq, *r.Odom)
		a.publish(a.ns.Odom(), o)
		a.publish(a.ns.Pose(), msgs.PoseInFrameFromOdometry(o))
		a.publish(a.ns.TF(), msgs.TransformFromOdometry(o))
	}
	if a.onDepth != nil {
		a.onDepth(r)
	}
}

func (a *publisherActor) image(f *msgs.Frame) {
	jpg, err := codec.EncodeJPEG(&codec.RGB{Width: f.Width, Height: f.Height, Pix: f.Pix}, jpegQuality)
	if err != nil {
		return
	}
	a.publish(a.camera(f.Camera).Image, &foxglove.CompressedImage{
		Timestamp: msgs.Timestamp(f.Stamp), FrameId: f.Camera, Data: jpg, Format: "jpeg",
	})
}

func (a *publisherActor) diagnostics(st ...*parallaxv1.DiagnosticStatus) {
	a.publish(a.ns.Diagnostics(), &parallaxv1.Diagnostics{Timestamp: msgs.Timestamp(time.Now()), Status: st})
}

// publish sends m on subject and reports whether NATS took it. A refusal is
// counted and reported once on diagnostics until publishing works again.
func (a *publisherActor) publish(subject string, m proto.Message) bool {
	b, err := proto.Marshal(m)
	if err == nil {
		err = a.nc.Publish(subject, b)
	}
	if err != nil {
		a.c.publishErrors.Add(1)
		if !a.pubErr {
			a.pubErr = true
			if errors.Is(err, nats.ErrMaxPayload) {
				err = fmt.Errorf("%s: %d-byte message over the server's max_payload %d: %w", subject, len(b), a.nc.MaxPayload(), err)
			}
			s := &parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_ERROR, Name: "publisher",
				Message: fmt.Sprintf("publish failed: %v", err)}
			a.status[s.Name] = s
		}
		return false
	}
	if a.pubErr {
		a.pubErr = false
		a.status["publisher"] = &parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_OK, Name: "publisher", Message: "publishing"}
	}
	a.c.published.Add(1)
	return true
}
