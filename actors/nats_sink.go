package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera/codec"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// jpegQuality is the quality of the JPEG previews: enough for a viewer.
const jpegQuality = 80

// natsSink publishes the node's outputs on NATS as protobuf, on the
// subjects of msgs (the public contract): each result's depth, camera_info,
// odom, pose and tf (as topics asks), JPEG previews of the camera frames at
// topics.image_rate, diagnostics and learner stats. Publishing on a
// nats.Conn only copies into its buffer; the JPEG encoding, the one slow
// part, runs here on the sink's goroutine with one reused encoder, never on
// a camera's path.
type natsSink struct {
	nc     *nats.Conn
	topics launch.Topics
	c      *counters
	// clock reports whether every camera's stamps are on its own clock
	// (Node.CameraClock); nil: never.
	clock func() bool

	rig        *msgs.Rig
	imageEvery time.Duration
	lastImage  map[string]time.Time
	jpeg       *codec.JPEGEncoder
	subjects   map[string]msgs.CameraSubjects
}

func (s *natsSink) Name() string { return "nats" }

func (s *natsSink) Open(rig *msgs.Rig) error {
	s.rig = rig
	s.subjects = map[string]msgs.CameraSubjects{}
	for _, c := range rig.Cameras {
		subj, err := rig.Namespace.Camera(c)
		if err != nil {
			return err
		}
		s.subjects[c] = subj
	}
	s.lastImage = map[string]time.Time{}
	if s.topics.Image && s.topics.ImageRate > 0 {
		s.imageEvery = time.Duration(float64(time.Second) / s.topics.ImageRate)
		var err error
		if s.jpeg, err = codec.NewJPEGEncoder(jpegQuality); err != nil {
			return fmt.Errorf("actors: JPEG previews (topics.image): %w", err)
		}
	}
	return nil
}

func (s *natsSink) Write(out msgs.Output) error {
	switch {
	case out.Frame != nil:
		return s.preview(out.Frame)
	case out.Result != nil:
		return s.result(out.Result)
	case out.Diagnostics != nil:
		return s.publish(s.rig.Namespace.Diagnostics(), out.Diagnostics)
	case out.LearnerStats != nil:
		return s.publish(s.rig.Namespace.LearnerStats(), out.LearnerStats)
	}
	return nil
}

func (s *natsSink) result(r *msgs.Result) error {
	ms, err := msgs.ResultMessages(s.rig, r, s.topics.Depth, s.topics.Odom)
	if err != nil {
		return err
	}
	ref := r.Ref()
	depthSubj := s.subjects[ref.Camera].Depth
	clock := s.clock != nil && s.clock()
	var errs []error
	for _, m := range ms {
		if err := s.publish(m.Topic, m.Message); err != nil {
			errs = append(errs, err)
			continue
		}
		if m.Topic == depthSubj {
			s.c.latency(time.Since(ref.Stamp), clock)
		}
	}
	return errors.Join(errs...)
}

// preview publishes a JPEG of f when its camera's last preview is older
// than the image period.
func (s *natsSink) preview(f *msgs.Frame) error {
	if s.jpeg == nil || time.Since(s.lastImage[f.Camera]) < s.imageEvery {
		return nil
	}
	s.lastImage[f.Camera] = time.Now()
	jpg, err := s.jpeg.Encode(&codec.RGB{Width: f.Width, Height: f.Height, Pix: f.Pix})
	if err != nil {
		return fmt.Errorf("JPEG preview of %s: %w", f.Camera, err)
	}
	return s.publish(s.subjects[f.Camera].Image, &foxglove.CompressedImage{
		Timestamp: msgs.Timestamp(f.Stamp), FrameId: f.Camera, Data: jpg, Format: "jpeg",
	})
}

// heldBackSize is the size from which a message is not published while
// NATS is disconnected: depth maps, images and scene flow are stale by the
// time the server returns, while odometry, camera_info, diagnostics and
// learner stats (all well below it) wait in the reconnect buffer, which
// then holds minutes of them instead of seconds of depth.
const heldBackSize = 16 << 10

// publish sends m on subject, counting what NATS took, refused and what
// was held back during an outage.
func (s *natsSink) publish(subject string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err == nil && len(b) >= heldBackSize && s.nc.Status() != nats.CONNECTED {
		s.c.heldBack.Add(1)
		return nil
	}
	if err == nil {
		err = s.nc.Publish(subject, b)
	}
	if err != nil {
		s.c.publishErrors.Add(1)
		if errors.Is(err, nats.ErrMaxPayload) {
			err = fmt.Errorf("%s: %d-byte message over the server's max_payload %d: %w", subject, len(b), s.nc.MaxPayload(), err)
		}
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	s.c.published.Add(1)
	return nil
}

func (s *natsSink) Close() error {
	if s.jpeg != nil {
		s.jpeg.Close()
	}
	return nil
}
