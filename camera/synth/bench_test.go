package synth

import (
	"fmt"
	"testing"
)

// BenchmarkRender measures frames per second of one view (mono) at the
// default and the doubled resolution; run with -cpu 2 for the 2-core figure.
func BenchmarkRender(b *testing.B) {
	for _, sz := range [][2]int{{320, 96}, {640, 192}} {
		b.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(b *testing.B) {
			w := mustWorld(b, Config{Seed: 1, Width: sz[0], Height: sz[1]})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.Render(i)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkRenderSupersampled measures 2x2 supersampled frames at 320x96.
func BenchmarkRenderSupersampled(b *testing.B) {
	w := mustWorld(b, Config{Seed: 1, Samples: 2})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Render(i)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkRenderStereo measures stereo pairs per second at 320x96.
func BenchmarkRenderStereo(b *testing.B) {
	w := mustWorld(b, Config{Seed: 1, Stereo: true})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Render(i)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkNewWorld measures building a world (textures and layout).
func BenchmarkNewWorld(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		mustWorld(b, Config{Seed: int64(i)})
	}
}
