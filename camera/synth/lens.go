package synth

import (
	"math"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/msgs"
)

// lens is the distortion a World renders with: each pixel's ray is the
// undistorted direction of the distorted pixel, so the image is what a
// real camera with this lens would take.
type lens struct {
	cam  calibration.Camera
	k    msgs.Intrinsics
	cent []float32 // undistorted normalised (x, y) of every pixel centre
}

func newLens(c Config, k msgs.Intrinsics) (*lens, error) {
	l := &lens{cam: calibration.CameraFromIntrinsics(k), k: k}
	l.cam.D = []float64{c.K1, c.K2, c.P1, c.P2, c.K3}
	l.cent = make([]float32, 2*k.Width*k.Height)
	for j := 0; j < k.Height; j++ {
		for i := 0; i < k.Width; i++ {
			x, y, ok := l.undistort(float64(i)+0.5, float64(j)+0.5)
			if !ok {
				return nil, bad("K1", "(with K2, P1, P2, K3) does not invert at pixel (%d, %d): a distortion this strong folds the image", i, j)
			}
			l.cent[2*(j*k.Width+i)] = float32(x)
			l.cent[2*(j*k.Width+i)+1] = float32(y)
		}
	}
	return l, nil
}

// undistort returns the undistorted normalised coordinates of the image
// point (x, y) in msgs pixel coordinates.
func (l *lens) undistort(x, y float64) (float64, float64, bool) {
	return l.cam.Undistort((x-l.k.Cx)/l.k.Fx, (y-l.k.Cy)/l.k.Fy)
}

// box returns the bounding box, in undistorted normalised coordinates, of
// the image rectangle [x0,x1]x[y0,y1] (msgs pixels): the undistorted image
// of a rectangle is bounded by that of its border, sampled every pixel and
// padded by a pixel's worth.
func (l *lens) box(x0, y0, x1, y1 float64) (a0, b0, a1, b1 float64) {
	a0, b0, a1, b1 = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	add := func(x, y float64) {
		u, v, ok := l.undistort(x, y)
		if !ok {
			u, v = (x-l.k.Cx)/l.k.Fx, (y-l.k.Cy)/l.k.Fy
		}
		a0, a1 = math.Min(a0, u), math.Max(a1, u)
		b0, b1 = math.Min(b0, v), math.Max(b1, v)
	}
	nx := int(math.Ceil(x1-x0)) + 1
	ny := int(math.Ceil(y1-y0)) + 1
	for i := 0; i < nx; i++ {
		x := x0 + (x1-x0)*float64(i)/float64(nx-1)
		add(x, y0)
		add(x, y1)
	}
	for j := 0; j < ny; j++ {
		y := y0 + (y1-y0)*float64(j)/float64(ny-1)
		add(x0, y)
		add(x1, y)
	}
	px, py := 1/l.k.Fx, 1/l.k.Fy
	return a0 - px, b0 - py, a1 + px, b1 + py
}

// Calibration returns the rig's calibration, as a calibration file would
// hold it: each view's raw camera (K in the ROS pixel convention, the
// plumb_bob D of K1..K3) and, for a stereo rig, the extrinsics between the
// views (p_right = R p_left + T) and the ideal rectification: R1 the
// identity, R2 the right camera's rotation undone, P1 and P2 the
// undistorted pinhole (Fx, Fy, Cx, Cy) with P2's Tx = -Fx*Baseline. So
// rectifying the frames with it gives the frames of the same world
// rendered without distortion and rotation, and the node's camera_info is
// that rig's. A mono rig's camera has R the identity and P [K|0].
func (w *World) Calibration() *calibration.Set {
	cam := calibration.CameraFromIntrinsics(w.intr)
	c := w.cfg
	cam.D = []float64{c.K1, c.K2, c.P1, c.P2, c.K3}
	cam = cam.WithDefaultRectification()
	if !c.Stereo {
		cam.Name = ViewMono
		return &calibration.Set{Cameras: []calibration.Camera{cam}}
	}
	left, right := cam, cam
	left.Name, right.Name = ViewLeft, ViewRight
	right.D = append([]float64(nil), cam.D...)
	rel := w.right  // right camera in the left frame: p_left = Rr p_right + t
	right.R = rel.R // the right camera's frame into the rectified (left-aligned) one
	right.P[3] = -right.P[0] * c.Baseline
	inv := rel.Inverse() // p_right = Rr^T p_left - Rr^T t
	ext := &calibration.Extrinsics{R: inv.R, T: inv.T}
	st := &calibration.Stereo{Left: left, Right: right, Extrinsics: ext}
	return &calibration.Set{Cameras: []calibration.Camera{left, right}, Stereo: st}
}
