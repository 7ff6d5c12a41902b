package replay_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"path/filepath"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/record"
)

// TestPreviewRecording replays a recording made over NATS: JPEG previews on
// <ns>.<camera>.image and the depth map's camera_info at 160x48, scaled to
// the 320x96 frames.
func TestPreviewRecording(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nats.mcap")
	w := &record.Writer{Path: path}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 320, 96))
	for y := 0; y < 96; y++ {
		for x := 0; x < 320; x++ {
			img.Set(x, y, color.RGBA{200, 40, 40, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < 3; i++ {
		st := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		cal, _ := msgs.CameraCalibration(st, "front", msgs.Intrinsics{Width: 160, Height: 48, Fx: 90, Fy: 90, Cx: 80, Cy: 24}, 0)
		w.Write("robot.front.camera_info", st, cal)
		w.Write("robot.front.image", st, &foxglove.CompressedImage{Timestamp: msgs.Timestamp(st), FrameId: "front", Format: "jpeg", Data: b.Bytes()})
		w.Write("robot.front.depth", st, &foxglove.RawImage{Width: 1, Height: 1, Encoding: msgs.EncodingDepth, Step: 4, Data: make([]byte, 4)})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rec, err := replay.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if got := rec.Cameras(); len(got) != 1 || got[0] != "front" || rec.Namespace() != "robot" {
		t.Fatalf("cameras %v in %q", got, rec.Namespace())
	}
	fr, err := rec.Pick("cam", "mono", replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fr.Frame(2)
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != 320 || f.Height != 96 || f.Intrinsics == nil || f.Intrinsics.Fx != 180 || f.Intrinsics.Cx != 160 {
		t.Fatalf("frame %dx%d intrinsics %+v", f.Width, f.Height, f.Intrinsics)
	}
	if r, g := f.Pix[0], f.Pix[1]; r < 180 || g > 70 {
		t.Fatalf("decoded colour %d,%d,%d, want about 200,40,40", f.Pix[0], f.Pix[1], f.Pix[2])
	}
	if !f.Stamp.Equal(t0.Add(200 * time.Millisecond)) {
		t.Fatalf("stamp %v", f.Stamp)
	}
}
