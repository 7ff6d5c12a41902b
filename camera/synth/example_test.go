package synth_test

import (
	"context"
	"fmt"

	"github.com/parallax-robotics/parallax/camera/synth"
)

// Render a stereo pair and read its ground truth.
func Example() {
	cfg, err := synth.ParseURL("synth://?seed=7&stereo=1&width=320&height=96&fps=15&speed=8")
	if err != nil {
		panic(err)
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		panic(err)
	}
	left, right := w.Render(10)
	k := left.Intrinsics
	d := left.Truth.Depth[48*320+160] // z-depth in metres at the image centre
	fmt.Println(left.Camera, right.Camera, left.Width, left.Height, k.Fx)
	fmt.Println(d > 0 && d <= synth.MaxDepth, right.Truth.Pose != left.Truth.Pose)
	// Output:
	// left right 320 96 185.6
	// true true
}

// Serve one view as a camera.Source.
func ExampleWorld_Camera() {
	w, err := synth.NewWorld(synth.Config{Seed: 1, Width: 64, Height: 32})
	if err != nil {
		panic(err)
	}
	src := w.Camera(synth.ViewMono, false)
	if err := src.Start(context.Background()); err != nil {
		panic(err)
	}
	defer src.Close()
	for i := 0; i < 3; i++ {
		f, err := src.Read(context.Background())
		if err != nil {
			panic(err)
		}
		fmt.Println(f.Camera, f.Seq, len(f.Pix), len(f.Truth.Depth))
	}
	// Output:
	// mono 0 6144 2048
	// mono 1 6144 2048
	// mono 2 6144 2048
}
