package rectify

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/calibration/cv"
	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

// ErrFrame reports a frame the rectifier cannot take: of another aspect
// ratio than the calibration, or with pixels that do not match its size.
var ErrFrame = errors.New("rectify: frame does not fit the calibration")

// Rectifier rectifies one camera's frames. The maps are computed once per
// frame size (calibration.NewMaps, scaled from the calibration's size when
// the stream's differs), then each frame is remapped: with OpenCV's remap
// when the build links OpenCV (cv.Remapper: fixed-point, SIMD), else with
// calibration.Maps.Remap in Go. A Rectifier is safe for concurrent use;
// Close releases OpenCV's maps.
type Rectifier struct {
	cam calibration.Camera // with its rectification (R, P) set

	mu     sync.Mutex
	sizes  map[[2]int]*prepared
	closed bool
}

type prepared struct {
	cam   calibration.Camera // scaled to the frames
	maps  *calibration.Maps  // nil: nothing to remap
	cv    *cv.Remapper       // nil: Go's remap
	intr  msgs.Intrinsics    // the rectified frames' model
	rot   [9]float64         // R, camera frame to rectified frame
	remap bool
}

// New returns the rectifier of a camera whose R and P say how to rectify it
// (Mono and Pair resolve a calibration into such cameras). A camera that
// needs no remap (distortion-free, not rotated, P = K) only has its frames'
// intrinsics set.
func New(c calibration.Camera) (*Rectifier, error) {
	c = c.WithDefaultRectification()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Rectifier{cam: c, sizes: map[[2]int]*prepared{}}, nil
}

// Camera returns the camera the rectifier was made for, rectification
// included: the raw calibration consumers of camera_info may want.
func (r *Rectifier) Camera() calibration.Camera { return r.cam }

// Baseline returns the baseline P encodes (-Tx/fx'; 0 for a left or mono
// camera).
func (r *Rectifier) Baseline() float64 {
	_, b := r.cam.RectifiedIntrinsics()
	return b
}

// Intrinsics returns the rectified frames' model at the calibration's size.
func (r *Rectifier) Intrinsics() msgs.Intrinsics {
	k, _ := r.cam.RectifiedIntrinsics()
	return k
}

// prepare returns the maps for w x h frames, made on first use.
func (r *Rectifier) prepare(w, h int) (*prepared, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("rectify: %w", camera.ErrClosed)
	}
	if p, ok := r.sizes[[2]int{w, h}]; ok {
		return p, nil
	}
	c := r.cam
	if c.Width == 0 { // a calibration that does not say its size: the frames'
		c.Width, c.Height = w, h
	}
	c, err := c.Scaled(w, h)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	p := &prepared{cam: c, rot: c.R, remap: c.NeedsRemap()}
	p.intr, _ = c.RectifiedIntrinsics()
	if p.remap {
		if p.maps, err = calibration.NewMaps(c); err != nil {
			return nil, err
		}
		if cv.Available {
			if p.cv, err = cv.NewRemapper(p.maps); err != nil {
				return nil, err
			}
		}
	}
	if len(r.sizes) >= 4 { // a stream that keeps changing size: keep few
		for k, old := range r.sizes {
			if old.cv != nil {
				old.cv.Close()
			}
			delete(r.sizes, k)
		}
	}
	r.sizes[[2]int{w, h}] = p
	return p, nil
}

// Rectify returns the rectified frame of f: new pixels (f is not changed),
// Intrinsics the rectified P's, and its ground truth carried over (depth
// remapped to the nearest raw pixel and measured along the rectified axis,
// the pose rotated into the rectified frame, motion remapped).
func (r *Rectifier) Rectify(f *msgs.Frame) (*msgs.Frame, error) {
	if f.Width <= 0 || f.Height <= 0 || len(f.Pix) != f.Width*f.Height*3 {
		return nil, fmt.Errorf("%w: %d bytes for %dx%d RGB", ErrFrame, len(f.Pix), f.Width, f.Height)
	}
	p, err := r.prepare(f.Width, f.Height)
	if err != nil {
		return nil, err
	}
	out := *f
	k := p.intr
	out.Intrinsics = &k
	if !p.remap {
		return &out, nil
	}
	m := p.maps
	out.Width, out.Height = m.Width, m.Height
	out.Pix = make([]byte, m.Width*m.Height*3)
	if p.cv != nil {
		r.mu.Lock() // OpenCV's remap of one Remapper at a time
		err = p.cv.Remap(out.Pix, f.Pix)
		r.mu.Unlock()
	} else {
		err = m.Remap(out.Pix, f.Pix)
	}
	if err != nil {
		return nil, err
	}
	if gt := f.Truth; gt != nil {
		out.Truth = rectifyTruth(gt, m, p.rot)
	}
	return &out, nil
}

func rectifyTruth(gt *msgs.GroundTruth, m *calibration.Maps, rot [9]float64) *msgs.GroundTruth {
	t := &msgs.GroundTruth{}
	if len(gt.Depth) == m.SrcWidth*m.SrcHeight {
		t.Depth = make([]float32, m.Width*m.Height)
		if err := m.RemapDepth(t.Depth, gt.Depth); err != nil {
			t.Depth = nil
		}
	}
	// p_raw = R^T p_rect, so the rectified camera's pose is pose * R^T.
	rt := msgs.Pose{R: [9]float64{rot[0], rot[3], rot[6], rot[1], rot[4], rot[7], rot[2], rot[5], rot[8]}}
	t.Pose = gt.Pose.Compose(rt)
	if len(gt.Motion) == 3*m.SrcWidth*m.SrcHeight {
		t.Motion = make([]float32, 3*m.Width*m.Height)
		for i := range m.Width * m.Height {
			x, y := m.X[i], m.Y[i]
			if !(x > -0.5 && y > -0.5) {
				continue
			}
			xi, yi := int(x+0.5), int(y+0.5)
			if xi >= m.SrcWidth || yi >= m.SrcHeight {
				continue
			}
			copy(t.Motion[3*i:3*i+3], gt.Motion[3*(yi*m.SrcWidth+xi):])
		}
	}
	return t
}

// Close releases OpenCV's maps; Rectify fails after it.
func (r *Rectifier) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.sizes {
		if p.cv != nil {
			p.cv.Close()
		}
	}
	r.sizes, r.closed = nil, true
}

// Source is a camera.Source whose frames are rectified.
type Source struct {
	camera.Source
	Rectifier *Rectifier
}

// Read returns the next frame, rectified. A frame that does not fit the
// calibration is an error (wrapping ErrFrame), as a failing camera's.
func (s *Source) Read(ctx context.Context) (*msgs.Frame, error) {
	f, err := s.Source.Read(ctx)
	if err != nil {
		return nil, err
	}
	out, err := s.Rectifier.Rectify(f)
	if err != nil {
		return nil, fmt.Errorf("rectify: camera %s: %w", f.Camera, err)
	}
	return out, nil
}

// Feed returns a feed whose sources deliver f's frames rectified by r (one
// Rectifier for every reconnection: the maps are made once). Its Baseline
// is the one r's P encodes when that is set (a right camera), else f's.
func Feed(f *camera.Feed, r *Rectifier) *camera.Feed {
	out := *f
	open := f.Open
	out.Open = func() (camera.Source, error) {
		s, err := open()
		if err != nil {
			return nil, err
		}
		return &Source{Source: s, Rectifier: r}, nil
	}
	if b := r.Baseline(); b > 0 {
		out.Baseline = b
	}
	return &out
}

// Mono returns the camera to rectify a mono camera's frames with: its
// calibration's R and P, or, without them, plain undistortion to its own K
// (R the identity, P = [K|0]).
func Mono(c calibration.Camera) (calibration.Camera, error) {
	c = c.WithDefaultRectification()
	return c, c.Validate()
}

// Pair returns the cameras to rectify a stereo pair's frames with: the
// pair's rectification when its files give one (ROS files' R and P,
// OpenCV's R1 R2 P1 P2, KITTI's R_rect and P_rect), else the one
// calibration/cv's StereoRectify computes from the extrinsics (alpha as
// there: 0 shows valid pixels only) — which needs OpenCV, so a `-tags nocv`
// build returns cv.ErrNoOpenCV for such a pair.
func Pair(s calibration.Stereo, alpha float64) (left, right calibration.Camera, err error) {
	if !s.Rectified() {
		if s.Left.Width == 0 {
			return left, right, fmt.Errorf("%w: the pair has no rectification (R1 R2 P1 P2) and its file no image size to compute one for (image_width, image_height)", calibration.ErrSize)
		}
		if s, err = cv.StereoRectify(s, alpha); err != nil {
			return left, right, err
		}
	}
	if err := s.Validate(); err != nil {
		return left, right, err
	}
	return s.Left, s.Right, nil
}
