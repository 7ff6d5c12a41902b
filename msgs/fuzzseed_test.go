package msgs_test

import (
	"net/url"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/fuzzseed"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
)

// TestFuzzSeeds builds the seed corpora of the package's fuzz targets from
// what the node really sends and reads: images, depth maps, scene flow and
// poses of a small synthetic world, the subjects and names of the launch
// examples, and their camera URLs; see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	w, err := synth.NewWorld(synth.Config{Seed: 3, Width: 8, Height: 8, Stereo: true, MotionTruth: true, Style: synth.StyleSuburb})
	if err != nil {
		t.Fatal(err)
	}
	depth := fuzzseed.New(t, "FuzzDepthFromImage")
	frame := fuzzseed.New(t, "FuzzFrameFromImage")
	flow := fuzzseed.New(t, "FuzzSceneFlowFromProto")
	pose := fuzzseed.New(t, "FuzzPoseFromFoxglove")
	for i := range 2 {
		left, right := w.Render(i)
		for _, f := range []*msgs.Frame{left, right} {
			name := f.Camera + "-" + string(rune('0'+i))
			img, err := msgs.FrameImage(f)
			if err != nil {
				t.Fatal(err)
			}
			frame.Add("synth-"+name, img.Width, img.Height, img.Step, img.Encoding, img.Data)
			d, err := msgs.DepthImage(f.Stamp, f.Camera, f.Width, f.Height, f.Truth.Depth)
			if err != nil {
				t.Fatal(err)
			}
			depth.Add("synth-"+name, d.Width, d.Height, d.Step, d.Encoding, d.Data)
			fp := msgs.FoxglovePose(f.Truth.Pose)
			pose.Add("synth-"+name, fp.Position.X, fp.Position.Y, fp.Position.Z,
				fp.Orientation.X, fp.Orientation.Y, fp.Orientation.Z, fp.Orientation.W)
			sf := msgs.SceneFlowField{Stamp: f.Stamp, Next: f.Stamp.Add(66e6), FrameID: f.Camera, Seq: uint64(i),
				Width: f.Width, Height: f.Height, Flow: f.Truth.SceneFlow, Depth: f.Truth.Depth}
			m, err := sf.Proto()
			if err != nil {
				t.Fatal(err)
			}
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			flow.Add("synth-"+name, b)
		}
	}
	depth.Close()
	frame.Close()
	flow.Close()
	pose.Close()

	subjects := fuzzseed.New(t, "FuzzParseSubject")
	names := fuzzseed.New(t, "FuzzValidateName")
	redact := fuzzseed.New(t, "FuzzRedactURL")
	for _, file := range []string{"demo", "robot.example"} {
		l, err := launch.Load("../launch/" + file + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		ns, err := msgs.NewNamespace(l.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range l.Cameras {
			names.Add(file+"-"+c.Name, l.Namespace, c.Name)
			if u, err := url.Parse(c.URL); err == nil && u.User != nil {
				pass, _ := u.User.Password()
				redact.Add(file+"-"+c.Name, u.User.Username(), pass, u.Host, u.Path)
			}
		}
		for _, k := range msgs.Kinds() {
			cam := ""
			if k.PerCamera() {
				cam = l.Cameras[0].Name
			}
			s, err := msgs.NewSubject(string(ns), cam, k)
			if err != nil {
				t.Fatal(err)
			}
			subjects.Add(file+"-"+strings.ReplaceAll(k.String(), "_", "-"), s.String())
		}
	}
	// The launch examples' NATS URLs carry no password (credentials go in
	// files); a user:password URL as nats.go takes it is the shape to redact.
	redact.Add("nats-userinfo", "robot7", "nats-s3cr3t-pw", "nats-1.fleet.internal:4222", "")
	subjects.Close()
	names.Close()
	redact.Close()
}
