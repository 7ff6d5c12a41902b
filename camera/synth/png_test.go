package synth

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/parallax-robotics/parallax/msgs"
)

var pngDir = flag.String("png", "", "write PNGs of rendered frames and their depth into this folder (e.g. -png /tmp/synth)")

// writePNGs saves a frame's image and a depth visualisation (log depth from
// 1 m, white, to MaxDepth, black) under dir.
func writePNGs(t *testing.T, dir, name string, f *msgs.Frame) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	dimg := image.NewGray(image.Rect(0, 0, f.Width, f.Height))
	for y := 0; y < f.Height; y++ {
		for x := 0; x < f.Width; x++ {
			p := (y*f.Width + x) * 3
			img.Set(x, y, color.RGBA{f.Pix[p], f.Pix[p+1], f.Pix[p+2], 255})
			d := float64(f.Truth.Depth[y*f.Width+x])
			g := 255 * (1 - math.Log(math.Max(d, 1))/math.Log(MaxDepth))
			dimg.SetGray(x, y, color.Gray{uint8(math.Max(0, math.Min(255, g)))})
		}
	}
	for suffix, im := range map[string]image.Image{".png": img, "_depth.png": dimg} {
		fh, err := os.Create(filepath.Join(dir, name+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(fh, im); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWritePNG renders a few frames of several worlds when -png is given,
// for looking at them: go test ./camera/synth -run TestWritePNG -png /tmp/synth
func TestWritePNG(t *testing.T) {
	if *pngDir == "" {
		t.Skip("no -png folder given")
	}
	for _, c := range []Config{
		{Seed: 1, Stereo: true},
		{Seed: 2, Style: StyleSuburb, Width: 640, Height: 192},
		{Seed: 3, Style: StyleDesert, Path: PathRobot},
		{Seed: 4, Samples: 2, Width: 640, Height: 192},
	} {
		w, err := NewWorld(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 40, 100} {
			l, r := w.Render(i)
			writePNGs(t, *pngDir, fmt.Sprintf("seed%d_%s_%03d_%s", c.Seed, w.cfg.Style, i, l.Camera), l)
			if r != nil {
				writePNGs(t, *pngDir, fmt.Sprintf("seed%d_%s_%03d_%s", c.Seed, w.cfg.Style, i, r.Camera), r)
			}
		}
	}
}
