package camera_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/cameratest"
	"github.com/parallax-robotics/parallax/msgs"
)

// genSource is a deterministic camera.Source for tests: a moving colour
// gradient plus a static blocky noise pattern, so frames differ from each
// other and have texture, yet compress well enough for honest PSNR bounds.
type genSource struct {
	W, H  int
	FPS   int
	Limit int // frames to produce; 0 means no limit
	// Cycle > 0 repeats the first Cycle frames, computed once, so that a
	// benchmark measures the stream rather than the generator.
	Cycle int
	cache [][]byte
	// Epoch, when set, is the stamp of frame 0 (else the Start time).
	Epoch time.Time

	mu     sync.Mutex
	n      int
	start  time.Time
	closed chan struct{}
	once   sync.Once
}

func (g *genSource) Start(context.Context) error {
	g.closed = make(chan struct{})
	g.start = time.Now()
	if !g.Epoch.IsZero() {
		g.start = g.Epoch
	}
	for i := 0; i < g.Cycle; i++ {
		g.cache = append(g.cache, genFrame(g.W, g.H, i))
	}
	return nil
}

func (g *genSource) Read(ctx context.Context) (*msgs.Frame, error) {
	select {
	case <-g.closed:
		return nil, camera.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	default:
	}
	g.mu.Lock()
	i := g.n
	g.n++
	g.mu.Unlock()
	if g.Limit > 0 && i >= g.Limit {
		return nil, camera.ErrEOF
	}
	fps := g.FPS
	if fps <= 0 {
		fps = 30
	}
	return &msgs.Frame{
		Camera: "gen",
		Seq:    uint64(i),
		Stamp:  g.start.Add(time.Duration(i) * time.Second / time.Duration(fps)),
		Width:  g.W, Height: g.H,
		Pix: g.pix(i),
	}, nil
}

func (g *genSource) pix(i int) []byte {
	if g.Cycle > 0 {
		return g.cache[i%g.Cycle]
	}
	return genFrame(g.W, g.H, i)
}

func (g *genSource) Close() error {
	g.once.Do(func() { close(g.closed) })
	return nil
}

// tri is a triangle wave with period 510 and range 0..255: a gradient that
// moves without the hard edge of a wrap-around.
func tri(v int) int {
	v %= 510
	if v < 0 {
		v += 510
	}
	if v > 255 {
		return 510 - v
	}
	return v
}

// genPixel is pixel (x, y) of frame i of genSource.
func genPixel(w, h, x, y, i int) (r, g, b byte) {
	// Static noise on 4x4 blocks, from a small integer hash.
	k := uint32((x/4)*7919 + (y/4)*104729)
	k ^= k >> 13
	k *= 0x5bd1e995
	k ^= k >> 15
	n := int(k%33) - 16
	clamp := func(v int) byte {
		if v < 0 {
			return 0
		}
		if v > 255 {
			return 255
		}
		return byte(v)
	}
	return clamp(tri(x*400/w+i*6) + n),
		clamp(tri(y*400/h+i*3) - n),
		clamp(tri((x+y)*200/(w+h)+i*9)/2 + 64 + n)
}

func genFrame(w, h, i int) []byte {
	pix := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := (y*w + x) * 3
			pix[o], pix[o+1], pix[o+2] = genPixel(w, h, x, y, i)
		}
	}
	return pix
}

// bestGenMatch returns the index in [0, maxI) of the generator frame that
// looks most like pix (sampled), and the full PSNR against it.
func bestGenMatch(w, h int, pix []byte, maxI int) (int, float64) {
	best, bestErr := 0, math.Inf(1)
	for i := 0; i < maxI; i++ {
		var se float64
		for y := 1; y < h; y += 7 {
			for x := 1; x < w; x += 7 {
				r, g, b := genPixel(w, h, x, y, i)
				o := (y*w + x) * 3
				dr, dg, db := float64(pix[o])-float64(r), float64(pix[o+1])-float64(g), float64(pix[o+2])-float64(b)
				se += dr*dr + dg*dg + db*db
			}
		}
		if se < bestErr {
			best, bestErr = i, se
		}
	}
	return best, psnr(pix, genFrame(w, h, best))
}

// psnr is the peak signal-to-noise ratio of two RGB24 images in dB.
func psnr(a, b []byte) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var se float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		se += d * d
	}
	mse := se / float64(len(a))
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// needFFmpeg skips the test when the ffmpeg CLIs are missing.
func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// startServer starts a cameratest.Server and closes it at the end of the test.
func startServer(t testing.TB, s *cameratest.Server) *cameratest.Server {
	t.Helper()
	if err := s.Start(); err != nil {
		t.Fatalf("server start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitPath waits until a publisher has announced path on the server.
func waitPath(t testing.TB, s *cameratest.Server, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, p := range s.Paths() {
			if p == path {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no publisher on /%s after %v", path, timeout)
}

// ffmpegPublish runs ffmpeg publishing a lavfi source to url until the test
// ends.
func ffmpegPublish(t testing.TB, lavfi string, codecArgs []string, url string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", lavfi}
	args = append(args, codecArgs...)
	args = append(args, "-f", "rtsp", "-rtsp_transport", "tcp", url)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("ffmpeg: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// ffmpegFrames renders the first n frames of a lavfi source as RGB24.
func ffmpegFrames(t testing.TB, lavfi string, w, h, n int) [][]byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", lavfi,
		"-frames:v", fmt.Sprint(n), "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg reference frames: %v", err)
	}
	size := w * h * 3
	if len(out) != n*size {
		t.Fatalf("ffmpeg reference: %d bytes, want %d", len(out), n*size)
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = out[i*size : (i+1)*size]
	}
	return frames
}

// startRTSP starts an RTSP source and closes it at the end of the test.
func startRTSP(t testing.TB, r *camera.RTSP) *camera.RTSP {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("rtsp start: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// readFrames reads n frames within timeout.
func readFrames(t testing.TB, r *camera.RTSP, n int, timeout time.Duration) []*msgs.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*msgs.Frame
	for len(out) < n {
		f, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("read frame %d: %v (stats %+v)", len(out), err, r.Stats())
		}
		out = append(out, f)
	}
	return out
}

// shiftRight returns an RGB24 image moved dx pixels right, wrapping around.
func shiftRight(pix []byte, w, h, dx int) []byte {
	out := make([]byte, len(pix))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			copy(out[(y*w+(x+dx)%w)*3:][:3], pix[(y*w+x)*3:][:3])
		}
	}
	return out
}
