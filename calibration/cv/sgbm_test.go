//go:build !nocv

package cv

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/camera/synth"
)

// shiftedPair is a random-texture pair whose right view is the left one
// moved by shift pixels: the disparity is shift everywhere the texture
// is seen by both.
func shiftedPair(w, h, cn, shift int) (left, right Image) {
	r := rand.New(rand.NewPCG(1, 2))
	// Blocks of 2x2 pixels so the texture survives SGBM's prefilter.
	tex := make([]byte, (w/2+shift+1)*(h/2+1)*cn)
	for i := range tex {
		tex[i] = byte(r.IntN(256))
	}
	at := func(x, y, c int) byte { return tex[((y/2)*(w/2+shift+1)+x/2)*cn+c] }
	left = Image{Width: w, Height: h, Channels: cn, Pix: make([]byte, w*h*cn)}
	right = Image{Width: w, Height: h, Channels: cn, Pix: make([]byte, w*h*cn)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < cn; c++ {
				left.Pix[(y*w+x)*cn+c] = at(x+2*shift, y, c)
				right.Pix[(y*w+x)*cn+c] = at(x+3*shift, y, c)
			}
		}
	}
	return left, right
}

// TestSGBMShiftedTexture: SGBM finds the known disparity of a shifted
// texture (grey and colour), marks the left band it cannot match as NaN,
// and Depth turns it into fx*baseline/d.
func TestSGBMShiftedTexture(t *testing.T) {
	const shift = 6
	for _, cn := range []int{1, 3} {
		left, right := shiftedPair(160, 64, cn, shift)
		// left(x) = T(x+2s), right(x) = T(x+3s): right(x-s) = left(x), so
		// a left pixel x matches right pixel x-s: disparity s.
		p := DefaultSGBM()
		p.NumDisparities = 32
		d, err := SGBM(left, right, p)
		if err != nil {
			t.Fatal(err)
		}
		var good, valid, nanBand int
		for y := 8; y < 56; y++ {
			for x := 0; x < 160; x++ {
				v := d.D[y*160+x]
				if x < p.NumDisparities {
					if math.IsNaN(float64(v)) {
						nanBand++
					}
					continue
				}
				if x > 150 {
					continue
				}
				if !math.IsNaN(float64(v)) {
					valid++
					if math.Abs(float64(v)-shift) < 0.5 {
						good++
					}
				}
			}
		}
		n := 48 * 119
		t.Logf("%d channel(s): %d of %d pixels estimated, %d within 0.5 px of %d; %d NaN in the left band", cn, valid, n, good, shift, nanBand)
		if valid < n*9/10 || good < valid*95/100 {
			t.Errorf("%d channel(s): %d of %d estimated, %d right: want 90%% estimated and 95%% of them right", cn, valid, n, good)
		}
		if nanBand < 48*(p.NumDisparities-shift)/2 {
			t.Errorf("%d channel(s): only %d NaN in the left band SGBM cannot match", cn, nanBand)
		}
		depth := d.Depth(400, 0.12)
		for i, v := range d.D {
			want := 400 * 0.12 / float64(v)
			if !(v > 0) {
				if !math.IsNaN(float64(depth[i])) {
					t.Fatalf("pixel %d: disparity %g gave depth %g, want NaN", i, v, depth[i])
				}
				continue
			}
			if math.Abs(float64(depth[i])-want) > 1e-4*want {
				t.Fatalf("pixel %d: disparity %g gave depth %g, want %g", i, v, depth[i], want)
			}
		}
	}
}

// TestSGBMWLS: the WLS filter fills most of what SGBM leaves unmatched in
// the textured area and keeps the disparity.
func TestSGBMWLS(t *testing.T) {
	left, right := shiftedPair(160, 64, 3, 5)
	p := DefaultSGBM()
	p.NumDisparities = 32
	p.WLSLambda, p.WLSSigma = 8000, 1.5
	d, err := SGBM(left, right, p)
	if err != nil {
		t.Fatal(err)
	}
	var good, n int
	for y := 8; y < 56; y++ {
		for x := 40; x < 150; x++ {
			n++
			if v := float64(d.D[y*160+x]); math.Abs(v-5) < 0.5 {
				good++
			}
		}
	}
	if good < n*9/10 {
		t.Errorf("WLS: %d of %d pixels within 0.5 px of 5", good, n)
	}
}

func TestSGBMErrors(t *testing.T) {
	left, right := shiftedPair(64, 32, 1, 3)
	for _, c := range []struct {
		name string
		mod  func(p *SGBMParams)
	}{
		{"num_disparities", func(p *SGBMParams) { p.NumDisparities = 20 }},
		{"block_size", func(p *SGBMParams) { p.BlockSize = 4 }},
		{"uniqueness", func(p *SGBMParams) { p.Uniqueness = 101 }},
		{"speckle_window", func(p *SGBMParams) { p.SpeckleWindow = -1 }},
		{"p1/p2", func(p *SGBMParams) { p.P1, p.P2 = 100, 50 }},
		{"wls_sigma", func(p *SGBMParams) { p.WLSLambda, p.WLSSigma = 8000, 0 }},
	} {
		p := DefaultSGBM()
		c.mod(&p)
		_, err := SGBM(left, right, p)
		if !errors.Is(err, ErrSGBM) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: %v, want ErrSGBM naming it", c.name, err)
		}
	}
	small := Image{Width: 32, Height: 32, Channels: 1, Pix: make([]byte, 32*32)}
	if _, err := SGBM(left, small, DefaultSGBM()); !errors.Is(err, ErrImage) {
		t.Errorf("different sizes: %v", err)
	}
	if _, err := SGBM(Image{Width: 2, Height: 2, Channels: 2, Pix: make([]byte, 8)}, right, DefaultSGBM()); !errors.Is(err, ErrImage) {
		t.Errorf("two channels: %v", err)
	}
}

// BenchmarkSGBM times SGBM (3-way, the launch defaults: 64 disparities,
// 5-pixel blocks; and with the WLS filter) on the synthetic world's stereo
// pair at the network sizes the node runs: frames/s as fps.
func BenchmarkSGBM(b *testing.B) {
	for _, size := range [][2]int{{320, 96}, {640, 192}} {
		cfg, err := synth.ParseURL(fmt.Sprintf("synth://?stereo=1&width=%d&height=%d&seed=11", size[0], size[1]))
		if err != nil {
			b.Fatal(err)
		}
		w, err := synth.NewWorld(cfg)
		if err != nil {
			b.Fatal(err)
		}
		l, r := w.Render(10)
		li := Image{Width: l.Width, Height: l.Height, Channels: 3, Pix: l.Pix}
		ri := Image{Width: r.Width, Height: r.Height, Channels: 3, Pix: r.Pix}
		for _, wls := range []bool{false, true} {
			p := DefaultSGBM()
			name := fmt.Sprintf("%dx%d", size[0], size[1])
			if wls {
				p.WLSLambda = 8000
				name += "/wls"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					if _, err := SGBM(li, ri, p); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps")
			})
		}
	}
}
