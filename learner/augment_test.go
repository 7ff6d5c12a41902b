package learner

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/torchtest"
	"github.com/parallax-robotics/parallax/perception"
)

// augmentOff is an Augment that changes nothing but the crop.
var augmentOff = Augment{HFlip: -1, Jitter: -1, Gray: -1, Blur: -1}

// TestAugmentIdentityAndMirror: the full-frame crop with nothing else
// gives the frame back; the mirrored crop the frame mirrored; a grey
// frame stays grey under saturation and hue (both turn about the grey
// axis); a blur keeps a constant frame; crops stay inside the frame and
// map points consistently.
func TestAugmentIdentityAndMirror(t *testing.T) {
	torchtest.LockThread(t)
	r := rand.New(rand.NewPCG(1, 2))
	const b, h, w = 2, 8, 12
	img := make([]float32, b*3*h*w)
	for i := range img {
		img[i] = r.Float32()
	}
	x := tensor(t, img, b, 3, h, w)
	run := func(a Augment, geoms []ViewGeom, in *ts.Tensor) []float64 {
		t.Helper()
		s := perception.NewScope("test")
		defer s.Free()
		out := a.Apply(s, in, geoms, r)
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		return values(t, out)
	}
	full := []ViewGeom{{Sx: 1, Sy: 1}, {Sx: 1, Sy: 1}}
	if d := maxAbsDiff(run(augmentOff, full, x), values(t, x)); d > 1e-6 {
		t.Errorf("identity view differs by %g", d)
	}
	mir := run(augmentOff, []ViewGeom{{Sx: -1, Sy: 1}, {Sx: -1, Sy: 1}}, x)
	want := values(t, owned(t)(x.Flip([]int64{3}, false)))
	if d := maxAbsDiff(mir, want); d > 1e-6 {
		t.Errorf("mirrored view differs from the flipped frame by %g", d)
	}
	grey := make([]float32, len(img))
	for i := range grey {
		grey[i] = img[i%(h*w)]
	}
	g := tensor(t, grey, b, 3, h, w)
	sat := Augment{HFlip: -1, Jitter: 1, Brightness: -1, Contrast: -1, Saturation: 0.5, Hue: 0.3, Gray: -1, Blur: -1}
	if d := maxAbsDiff(run(sat, full, g), values(t, g)); d > 1e-5 {
		t.Errorf("saturation and hue changed a grey frame by %g", d)
	}
	cst := make([]float32, len(img))
	for i := range cst {
		cst[i] = 0.3
	}
	blur := Augment{HFlip: -1, Jitter: -1, Gray: -1, Blur: 1, MaxSigma: 2}
	for _, v := range run(blur, full, tensor(t, cst, b, 3, h, w)) {
		if math.Abs(v-0.3) > 1e-6 {
			t.Fatalf("blur of a constant frame gave %v", v)
		}
	}
	def := Augment{}
	for range 200 {
		gm := def.DrawGeom(r)
		x0, y0, x1, y1 := gm.Box()
		if x0 < -1-1e-9 || y0 < -1-1e-9 || x1 > 1+1e-9 || y1 > 1+1e-9 {
			t.Fatalf("crop %+v leaves the frame", gm)
		}
		if a := (x1 - x0) * (y1 - y0) / 4; a < 0.3-1e-9 {
			t.Fatalf("crop %+v covers %.2f of the frame, below MinScale", gm, a)
		}
		px, py := gm.ToView(gm.Cx+0.5*gm.Sx, gm.Cy-0.25*gm.Sy)
		if math.Abs(px-0.5) > 1e-12 || math.Abs(py+0.25) > 1e-12 {
			t.Fatalf("ToView is not the inverse of the crop: %v %v", px, py)
		}
	}
	if err := (Augment{MinScale: 2}).Validate(); err == nil {
		t.Error("MinScale 2 accepted")
	}
}

func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestAugmentViews writes 4 frames and two default views of each to
// $PARALLAX_AUGMENT_PNG (a PNG: frames, first views, second views, in
// columns) when set, to look at; it checks every view value is in [0,1].
func TestAugmentViews(t *testing.T) {
	batch := pretextBatch(t, 4, 192, 64)
	w := trainWorker(t)
	err := w.Do(func() error {
		bt, err := makeBatch(batch, Needs{}, 192, 64, gotch.CPU)
		if err != nil {
			return err
		}
		defer bt.free()
		s := perception.NewScope("test")
		defer s.Free()
		x, _ := twoViews(s, Augment{}, bt, rand.New(rand.NewPCG(3, 4)), false)
		all := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.Target, *x}, 0) })
		if s.Err() != nil {
			return s.Err()
		}
		v, err := perception.TensorFloat32s(all)
		if err != nil {
			return err
		}
		for _, p := range v {
			if p < 0 || p > 1 {
				t.Fatalf("view value %v outside [0,1]", p)
			}
		}
		if path := os.Getenv("PARALLAX_AUGMENT_PNG"); path != "" {
			img := image.NewRGBA(image.Rect(0, 0, 192*3, 64*4))
			for k := range 12 {
				col, row := k/4, k%4
				for y := range 64 {
					for xx := range 192 {
						o := k * 3 * 64 * 192
						c := func(ch int) uint8 { return uint8(255 * v[o+ch*64*192+y*192+xx]) }
						img.Set(col*192+xx, row*64+y, color.RGBA{c(0), c(1), c(2), 255})
					}
				}
			}
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			defer f.Close()
			return png.Encode(f, img)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
