package kitti

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/parallax-robotics/parallax/msgs"
)

// Write exports frames as a KITTI raw drive folder dir (created): left as
// image_02, right (nil: mono) as image_03, PNG, with their timestamps.txt,
// and calib_cam_to_cam.txt from the left frames' intrinsics and baseline
// (camera 2 at +6 cm of camera 0, as in KITTI's files). Every frame must
// have the first left frame's size; the left frames need intrinsics.
// Ground truth is not written (no oxts, no velodyne).
func Write(dir string, left, right []*msgs.Frame, baseline float64) error {
	if len(left) == 0 || left[0].Intrinsics == nil {
		return fmt.Errorf("%w: Write needs left frames with intrinsics", ErrLayout)
	}
	if right != nil && (len(right) != len(left) || !(baseline > 0)) {
		return fmt.Errorf("%w: %d right frames for %d left, baseline %g", ErrLayout, len(right), len(left), baseline)
	}
	k := *left[0].Intrinsics
	w, h := left[0].Width, left[0].Height
	if k.Width != w || k.Height != h {
		k = k.Scaled(w, h)
	}
	p := func(x float64) string {
		return fmt.Sprintf("%.12e 0 %.12e %.12e 0 %.12e %.12e 0 0 0 1 0", k.Fx, msgs.ToROSPixel(k.Cx), -k.Fx*x, k.Fy, msgs.ToROSPixel(k.Cy))
	}
	calib := []string{"calib_time: written by parallax", "R_rect_00: 1 0 0 0 1 0 0 0 1",
		fmt.Sprintf("S_rect_02: %d %d", w, h), "P_rect_02: " + p(0.06)}
	views := map[int][]*msgs.Frame{Left: left}
	if right != nil {
		calib = append(calib, fmt.Sprintf("S_rect_03: %d %d", w, h), "P_rect_03: "+p(0.06+baseline))
		views[Right] = right
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, CamToCam), []byte(strings.Join(calib, "\n")+"\n")); err != nil {
		return err
	}
	for cam, frames := range views {
		data := filepath.Join(dir, fmt.Sprintf("image_%02d", cam), "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return err
		}
		var stamps strings.Builder
		for i, f := range frames {
			if f.Width != w || f.Height != h || len(f.Pix) != w*h*3 {
				return fmt.Errorf("%w: frame %d of image_%02d is %dx%d, the drive %dx%d", ErrLayout, i, cam, f.Width, f.Height, w, h)
			}
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			for q := 0; q < w*h; q++ {
				copy(img.Pix[4*q:], f.Pix[3*q:3*q+3])
				img.Pix[4*q+3] = 255
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				return err
			}
			if err := writeFile(filepath.Join(data, fmt.Sprintf("%010d.png", i)), b.Bytes()); err != nil {
				return err
			}
			stamps.WriteString(f.Stamp.UTC().Format("2006-01-02 15:04:05.000000000") + "\n")
		}
		if err := writeFile(filepath.Join(filepath.Dir(data), "timestamps.txt"), []byte(stamps.String())); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes atomically: a temporary file renamed over name.
func writeFile(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), name)
}
