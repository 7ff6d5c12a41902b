package viewer

import (
	"encoding/binary"
	"image"
	"math"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// dominant returns which channel of an RGB colour is the largest: 0 red,
// 1 green, 2 blue.
func dominant(r, g, b uint8) int {
	switch {
	case r >= g && r >= b:
		return 0
	case g >= b:
		return 1
	}
	return 2
}

// TestTurbo: Turbo runs from blue (low) through green to red (high), is
// dark at both ends, and clamps what is outside [0, 1].
func TestTurbo(t *testing.T) {
	for _, tc := range []struct {
		x    float64
		want int // dominant channel
	}{
		{0.05, 2}, {0.15, 2}, {0.5, 1}, {0.85, 0}, {0.95, 0},
	} {
		if r, g, b := Turbo(tc.x); dominant(r, g, b) != tc.want {
			t.Errorf("Turbo(%v) = %d,%d,%d: channel %d dominant, want %d", tc.x, r, g, b, dominant(r, g, b), tc.want)
		}
	}
	for _, x := range []float64{0, 1} {
		if r, g, b := Turbo(x); int(r)+int(g)+int(b) > 200 {
			t.Errorf("Turbo(%v) = %d,%d,%d: the ends are dark", x, r, g, b)
		}
	}
	if r, g, b := Turbo(0.5); g < 200 {
		t.Errorf("Turbo(0.5) = %d,%d,%d: the middle is bright green", r, g, b)
	}
	for _, x := range []float64{-1, math.NaN()} {
		if r, g, b := Turbo(x); [3]uint8{r, g, b} != turbo[0] {
			t.Errorf("Turbo(%v) = %d,%d,%d, want Turbo(0)", x, r, g, b)
		}
	}
	if r, g, b := Turbo(7); [3]uint8{r, g, b} != turbo[255] {
		t.Errorf("Turbo(7) is not clamped to Turbo(1)")
	}
}

// TestColorDepth: near pixels red, far ones blue, unknown black, the
// range clamped.
func TestColorDepth(t *testing.T) {
	d := []float32{2, 4, 40, 0, float32(math.NaN()), 1, 100, float32(math.Inf(1))}
	img := image.NewRGBA(image.Rect(0, 0, len(d), 1))
	colorDepth(img, len(d), 1, d, 2, 40)
	px := func(i int) (uint8, uint8, uint8) { return img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2] }
	for _, tc := range []struct {
		i    int
		want [3]uint8
	}{
		{0, turbo[255]}, {2, turbo[0]}, {3, [3]uint8{}}, {4, [3]uint8{}}, {5, turbo[255]}, {6, turbo[0]}, {7, [3]uint8{}},
	} {
		if r, g, b := px(tc.i); [3]uint8{r, g, b} != tc.want {
			t.Errorf("depth %v: %d,%d,%d, want %v", d[tc.i], r, g, b, tc.want)
		}
	}
	// 4 m is 1/4 - 1/40 over 1/2 - 1/40 of the way in inverse depth.
	want := turbo[int(math.Round(255*(0.25-0.025)/(0.5-0.025)))]
	if r, g, b := px(1); [3]uint8{r, g, b} != want {
		t.Errorf("depth 4: %d,%d,%d, want %v", r, g, b, want)
	}
}

// TestDepthRange: a fixed range is kept; the automatic one follows the
// percentiles of valid depths, smoothed, and survives a map without any.
func TestDepthRange(t *testing.T) {
	ramp := make([]float32, 1000)
	for i := range ramp {
		ramp[i] = 1 + float32(i)/10 // 1 to 100.9 m
	}
	fixed := depthRange{min: 3, max: 30}
	if lo, hi := fixed.of(ramp); lo != 3 || hi != 30 {
		t.Errorf("fixed range %v..%v", lo, hi)
	}
	var auto depthRange
	lo, hi := auto.of(ramp)
	if math.Abs(lo-3) > 0.2 || math.Abs(hi-99) > 0.3 {
		t.Errorf("auto range %v..%v, want about 3..99", lo, hi)
	}
	near := make([]float32, 1000)
	for i := range near {
		near[i] = 1 + float32(i)/1000
	}
	lo2, hi2 := auto.of(near)
	if !(lo2 < lo && lo2 > 1) || !(hi2 < hi && hi2 > 2) {
		t.Errorf("after a nearer map %v..%v: not smoothed from %v..%v", lo2, hi2, lo, hi)
	}
	if lo3, hi3 := auto.of(make([]float32, 100)); lo3 != lo2 || hi3 != hi2 {
		t.Errorf("a map without depth moved the range to %v..%v", lo3, hi3)
	}
	var empty depthRange
	if lo, hi := empty.of([]float32{0, 0}); !(lo < hi) {
		t.Errorf("no depth ever: %v..%v", lo, hi)
	}
	var flat depthRange
	if lo, hi := flat.of([]float32{5, 5, 5}); !(lo < hi) {
		t.Errorf("a flat map: %v..%v", lo, hi)
	}
}

// TestDepthMillimetres: rounding, 0 for unknown, clamping.
func TestDepthMillimetres(t *testing.T) {
	d := []float32{1.2344, 0, float32(math.NaN()), 70, 0.0004, 2.5}
	img := DepthMillimetres(time.Unix(5, 0), "left", 3, 2, d)
	if img.Encoding != "16UC1" || img.Step != 6 || img.Width != 3 || img.Height != 2 || img.FrameId != "left" {
		t.Fatalf("image %v", img)
	}
	want := []uint16{1234, 0, 0, 65535, 0, 2500}
	for i, w := range want {
		if got := binary.LittleEndian.Uint16(img.Data[2*i:]); got != w {
			t.Errorf("pixel %d (%v m): %d mm, want %d", i, d[i], got, w)
		}
	}
	// msgs reads it back.
	if _, _, back, err := msgs.DepthFromImage(img); err != nil || math.Abs(float64(back[5])-2.5) > 1e-6 {
		t.Errorf("msgs.DepthFromImage: %v %v", back, err)
	}
}

// TestPointCloud: back-projection through the intrinsics, colour from the
// frame pixel the point projects to (also when the depth map is a scaled
// crop of the frame), unknown depths skipped.
func TestPointCloud(t *testing.T) {
	k := msgs.Intrinsics{Width: 8, Height: 4, Fx: 4, Fy: 4, Cx: 4, Cy: 2}
	d := make([]float32, 32)
	for i := range d {
		d[i] = 2
	}
	d[0] = 0 // unknown
	// The frame: twice the map's size, each pixel's red its x, green its y.
	kf := k.Scaled(16, 8)
	f := &msgs.Frame{Camera: "left", Stamp: time.Unix(9, 0), Width: 16, Height: 8, Pix: make([]byte, 3*16*8), Intrinsics: &kf}
	for y := 0; y < 8; y++ {
		for x := 0; x < 16; x++ {
			f.Pix[3*(y*16+x)], f.Pix[3*(y*16+x)+1] = byte(x), byte(y)
		}
	}
	dm := &msgs.DepthMap{Width: 8, Height: 4, Depth: d, Intrinsics: &k}
	pc := PointCloud(dm, f, 1)
	if pc.FrameId != "left" || pc.PointStride != 16 || len(pc.Data) != 31*16 {
		t.Fatalf("cloud in %q, stride %d, %d bytes", pc.FrameId, pc.PointStride, len(pc.Data))
	}
	pt := func(i int) (x, y, z float32, r, g byte) {
		p := pc.Data[16*i:]
		f := func(o int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(p[o:])) }
		return f(0), f(4), f(8), p[12], p[13]
	}
	// Point 0 is pixel (1, 0): centre (1.5, 0.5), x = (1.5-4)/4*2, y = (0.5-2)/4*2.
	if x, y, z, r, g := pt(0); math.Abs(float64(x)+1.25) > 1e-6 || math.Abs(float64(y)+0.75) > 1e-6 || z != 2 || r != 3 || g != 1 {
		t.Errorf("point of pixel (1,0): %v %v %v colour %d,%d", x, y, z, r, g)
	}
	// Pixel (4, 2), centre (4.5, 2.5), projects to the frame's pixel (9, 5).
	if x, y, _, r, g := pt(2*8 + 4 - 1); math.Abs(float64(x)-0.25) > 1e-6 || math.Abs(float64(y)-0.25) > 1e-6 || r != 9 || g != 5 {
		t.Errorf("point of pixel (4,2): %v %v colour %d,%d", x, y, r, g)
	}
	// A step keeps every step-th pixel from step/2.
	if pc := PointCloud(dm, f, 2); len(pc.Data) != 4*2*16 {
		t.Errorf("step 2: %d points, want 8", len(pc.Data)/16)
	}
	// Without a frame, grey; without intrinsics, no cloud.
	if pc := PointCloud(dm, nil, 4); len(pc.Data) == 0 || pc.Data[12] != 160 {
		t.Errorf("no frame: %d bytes", len(pc.Data))
	}
	if PointCloud(&msgs.DepthMap{Width: 8, Height: 4, Depth: d}, f, 1) != nil {
		t.Error("a cloud without intrinsics")
	}
}

// TestPathThinning: the trajectory keeps at most max poses, spread over
// the whole drive, the first and the latest kept.
func TestPathThinning(t *testing.T) {
	p := pathState{max: 100}
	for i := 0; i < 1000; i++ {
		q := msgs.Identity()
		q.T[2] = float64(i)
		p.add(q)
	}
	poses := p.snapshot()
	if len(poses) > 100 || len(poses) < 50 {
		t.Fatalf("%d poses kept of 1000, max 100", len(poses))
	}
	if poses[0].T[2] != 0 || poses[len(poses)-1].T[2] < 980 {
		t.Errorf("first %v, last %v", poses[0].T[2], poses[len(poses)-1].T[2])
	}
	for i := 1; i < len(poses); i++ {
		if gap := poses[i].T[2] - poses[i-1].T[2]; gap <= 0 || gap > 16 {
			t.Errorf("gap %v between kept poses %d and %d", gap, i-1, i)
		}
	}
}
