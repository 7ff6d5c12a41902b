package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

// runCameraProbe reads a camera for a while and prints what it is and how
// fast it decodes: the first thing an engineer does with a new camera.
func runCameraProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("camera probe", "URL [flags]", stderr,
		"parallax camera probe rtsp://user:pass@192.0.2.10:554/stream1",
		"parallax camera probe rtsp://127.0.0.1:8554/left --duration 10s -o first.png",
		"parallax camera probe rtsp://cam.local/h264 --transport udp")
	transport := fs.String("transport", "tcp", "RTP transport: tcp or udp")
	duration := fs.Duration("duration", 5*time.Second, "how long to measure after the first frame")
	timeout := fs.Duration("timeout", 10*time.Second, "give up when no frame arrives within this time")
	snapshot := fs.String("out", "", "save the first decoded frame as a PNG file")
	fs.short("o", "out")
	fs.deprecate("snapshot", "out")
	url, err := oneArg(fs, args, "URL")
	if err != nil {
		return err
	}

	src := &camera.RTSP{URL: url, Camera: "probe", Transport: *transport, ReadTimeout: *timeout, Buffer: 8}
	fmt.Fprintf(stdout, "probing %s over %s\n", msgs.RedactURL(url), *transport)
	if err := src.Start(ctx); err != nil {
		return err
	}
	defer src.Close()

	first, err := readWithin(ctx, src, *timeout)
	if err != nil {
		return fmt.Errorf("no frame from %s within %v: %w", msgs.RedactURL(url), *timeout, err)
	}
	if *snapshot != "" {
		if err := writePNG(*snapshot, first); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "snapshot  %s\n", *snapshot)
	}

	// Measure: frames, the camera's own frame interval (from stamps) and the
	// decode time of every frame.
	var decodes []time.Duration
	frames, lastStamp := 1, first.Stamp
	start := time.Now()
	mctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	for {
		f, err := src.Read(mctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				break
			}
			return fmt.Errorf("reading %s: %w", msgs.RedactURL(url), err)
		}
		frames++
		lastStamp = f.Stamp
		decodes = append(decodes, src.Stats().LastDecode)
	}
	elapsed := time.Since(start)
	st := src.Stats()

	fmt.Fprintf(stdout, "codec     %s\n", st.Codec)
	fmt.Fprintf(stdout, "size      %dx%d\n", first.Width, first.Height)
	if frames > 1 {
		fmt.Fprintf(stdout, "fps       %.2f received, %.2f by camera clock (%d frames in %.1fs)\n",
			float64(frames-1)/elapsed.Seconds(), float64(frames-1)/lastStamp.Sub(first.Stamp).Seconds(), frames, elapsed.Seconds())
	} else {
		fmt.Fprintf(stdout, "fps       only one frame in %.1fs\n", elapsed.Seconds())
	}
	if len(decodes) > 0 {
		sort.Slice(decodes, func(i, j int) bool { return decodes[i] < decodes[j] })
		fmt.Fprintf(stdout, "decode    p50 %.2f ms, p99 %.2f ms\n", ms(decodes[len(decodes)/2]), ms(decodes[len(decodes)*99/100]))
	}
	fmt.Fprintf(stdout, "dropped   %d slow reader, %d decode errors, %d RTP packets lost\n",
		st.FramesDropped, st.DecodeErrors, st.PacketsLost)
	return nil
}

// readWithin reads one frame, giving up after d.
func readWithin(ctx context.Context, src camera.Source, d time.Duration) (*msgs.Frame, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return src.Read(ctx)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writePNG saves a frame atomically: a half-written snapshot never appears
// under the requested name.
func writePNG(path string, f *msgs.Frame) error {
	img := image.NewNRGBA(image.Rect(0, 0, f.Width, f.Height))
	for i, j := 0, 0; i < len(f.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = f.Pix[i], f.Pix[i+1], f.Pix[i+2], 255
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*.png")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := png.Encode(tmp, img); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// oneArg parses args and returns the one positional argument, what, that
// the command needs: a usage error names it when it is missing or followed
// by others.
func oneArg(fs *cmdFlags, args []string, what string) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if err := wantArgs(fs, 1, what); err != nil {
		return "", err
	}
	return fs.Arg(0), nil
}

// wantArgs checks the command got n positional arguments (what names them
// in the error).
func wantArgs(fs *cmdFlags, n int, what string) error {
	switch {
	case fs.NArg() < n:
		fmt.Fprintf(fs.stderr, "parallax %s: missing %s\n", fs.name, what)
	case fs.NArg() > n:
		if n == 0 {
			fmt.Fprintf(fs.stderr, "parallax %s: unexpected argument %q (this command takes only flags)\n", fs.name, fs.Arg(0))
		} else {
			fmt.Fprintf(fs.stderr, "parallax %s: unexpected argument %q after %s\n", fs.name, fs.Arg(n), what)
		}
	default:
		return nil
	}
	fmt.Fprintf(fs.stderr, "Run 'parallax %s --help' for its flags and examples.\n", fs.name)
	return errUsage
}
