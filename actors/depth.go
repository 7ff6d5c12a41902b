package actors

import (
	"fmt"
	"sort"

	"github.com/parallax-robotics/parallax/calibration/cv"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// depthMethod makes a stream group's depth map from one frame set: the
// launch file's depth.method. A method is chosen and configured once, at
// Node.Start (so a bad configuration fails the start), and is then used by
// the group's perception actor on its inference goroutine, restarts
// included: it keeps no state of its own. The group's network sequence
// (seq) is passed in because odometry and the mono fallback run on it
// whatever the depth comes from. A new method is one type and one entry in
// depthMethods, under a name launch.DepthMethods lists.
type depthMethod interface {
	// estimate returns set's depth map and, when withMotion is set, the
	// reference camera's motion since the previous set.
	estimate(seq *perception.Sequence, set *FrameSet, withMotion bool) (perception.Estimate, error)
}

// depthGroup is what a method's constructor knows of its stream group.
type depthGroup struct {
	l        *launch.Launch
	cameras  []string // the reference camera first
	baseline float64  // the pair's, metres; 0 for a mono camera
}

// depthMethods are the depth methods by launch name.
var depthMethods = map[string]func(g depthGroup) (depthMethod, error){
	launch.DepthMono: func(depthGroup) (depthMethod, error) { return monoDepth{}, nil },
	launch.DepthSGBM: newSGBMDepth,
}

// groupDepth returns the method of a stream group: a stereo pair's
// depth.method, the network for a mono camera.
func groupDepth(l *launch.Launch, g []string, baselines map[string]float64) (depthMethod, error) {
	name := launch.DepthMono
	grp := depthGroup{l: l, cameras: g}
	if len(g) == 2 {
		name, grp.baseline = l.Depth.Method, baselines[g[1]]
	}
	mk, ok := depthMethods[name]
	if !ok {
		names := make([]string, 0, len(depthMethods))
		for n := range depthMethods {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("actors: %s:%d: depth.method %q: this build knows %v", l.File(), l.Line("depth.method"), name, names)
	}
	m, err := mk(grp)
	if err != nil {
		return nil, fmt.Errorf("actors: %s:%d: depth.method %s for %v: %w", l.File(), l.Line("depth.method"), name, g, err)
	}
	return m, nil
}

// monoDepth is the depth network on the reference frame (and the pose
// network for its motion), as perception.Sequence runs them.
type monoDepth struct{}

func (monoDepth) estimate(seq *perception.Sequence, set *FrameSet, withMotion bool) (perception.Estimate, error) {
	return seq.Next(set.Ref(), withMotion)
}

// sgbmDepth is OpenCV's StereoSGBM on the rectified pair, at the model's
// input size (each view centre-cropped and resized as the network's input
// is, so maps keep the size every sink, the NATS payload check and the
// learner's live error expect), made metric with the scaled focal length
// and the baseline. Pixels without a disparity are NaN. The motion still
// comes from the pose network; a set without its right frame (the right
// camera silent past stereo.mono_after) gets the network's depth.
type sgbmDepth struct {
	p        cv.SGBMParams
	baseline float64
}

func newSGBMDepth(g depthGroup) (depthMethod, error) {
	if len(g.cameras) != 2 {
		return nil, fmt.Errorf("sgbm needs a stereo pair")
	}
	if !cv.Available {
		return nil, cv.ErrNoOpenCV
	}
	if !(g.baseline > 0) {
		return nil, fmt.Errorf("the pair's baseline is unknown: set stereo.baseline or give the right camera a calibration")
	}
	s := g.l.Depth.SGBM
	p := cv.DefaultSGBM()
	p.NumDisparities, p.BlockSize, p.Uniqueness = s.NumDisparities, s.BlockSize, s.Uniqueness
	p.SpeckleWindow, p.SpeckleRange, p.WLSLambda, p.WLSSigma = s.SpeckleWindow, s.SpeckleRange, s.WLSLambda, s.WLSSigma
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return sgbmDepth{p: p, baseline: g.baseline}, nil
}

func (s sgbmDepth) estimate(seq *perception.Sequence, set *FrameSet, withMotion bool) (perception.Estimate, error) {
	if len(set.Frames) < 2 {
		return seq.Next(set.Ref(), withMotion)
	}
	var est perception.Estimate
	if withMotion {
		var err error
		if est.Motion, err = seq.Motion(set.Ref()); err != nil {
			return est, err
		}
	}
	w, h := seq.InputSize()
	l, r := set.Frames[0], set.Frames[1]
	k := perception.CropIntrinsics(l.Intrinsics, l.Width, l.Height, w, h)
	if k == nil {
		return est, fmt.Errorf("%w: %s #%d has no intrinsics: sgbm needs the rectified focal length", perception.ErrFrame, l.Camera, l.Seq)
	}
	lv, err := modelView(l, w, h)
	if err != nil {
		return est, err
	}
	rv, err := modelView(r, w, h)
	if err != nil {
		return est, err
	}
	d, err := cv.SGBM(lv, rv, s.p)
	if err != nil {
		return est, err
	}
	est.Depth = msgs.DepthMap{Width: d.Width, Height: d.Height, Depth: d.Depth(k.Fx, s.baseline), Intrinsics: k}
	return est, nil
}

// modelView is a frame as the network sees it: its centred crop with the
// model's aspect ratio (perception.CropFor), resized to w x h.
func modelView(f *msgs.Frame, w, h int) (cv.Image, error) {
	if f.Width < 1 || f.Height < 1 || len(f.Pix) != 3*f.Width*f.Height {
		return cv.Image{}, fmt.Errorf("%w: %s #%d: %dx%d with %d bytes", perception.ErrFrame, f.Camera, f.Seq, f.Width, f.Height, len(f.Pix))
	}
	x0, y0, cw, ch := perception.CropFor(f.Width, f.Height, w, h)
	pix := f.Pix
	if cw != f.Width || ch != f.Height {
		pix = make([]byte, 0, 3*cw*ch)
		for y := y0; y < y0+ch; y++ {
			pix = append(pix, f.Pix[3*(y*f.Width+x0):3*(y*f.Width+x0+cw)]...)
		}
	}
	return cv.Resize(cv.Image{Width: cw, Height: ch, Channels: 3, Pix: pix}, w, h)
}
