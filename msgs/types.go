package msgs

import (
	"math"
	"time"
)

// PixelCentre is where the centre of pixel (0,0) lies in msgs pixel
// coordinates: pixel (i,j) covers [i,i+1)x[j,j+1), so its centre is at
// (i+0.5, j+0.5). ROS, OpenCV, Foxglove, KITTI and Kalibr put the centre of
// pixel (0,0) at (0,0) instead. ToROSPixel and FromROSPixel are the one
// place Parallax converts between the two; everything that reads or writes a
// principal point or an image coordinate in the other convention (camera_info,
// launch files, calibration files, OpenCV) goes through them.
const PixelCentre = 0.5

// ToROSPixel converts an image coordinate (a principal point cx or cy, a
// corner's u or v) from the msgs convention to the ROS/OpenCV one.
func ToROSPixel(v float64) float64 { return v - PixelCentre }

// FromROSPixel converts an image coordinate from the ROS/OpenCV convention
// to the msgs one; FromROSPixel(ToROSPixel(v)) == v.
func FromROSPixel(v float64) float64 { return v + PixelCentre }

// Intrinsics is a pinhole camera model in pixels, for images of Width x Height.
// The principal point (Cx, Cy) uses the msgs convention (PixelCentre): pixel
// (0,0) covers [0,1)x[0,1), so the centre of that pixel is at (0.5, 0.5).
// Scaling the image scales Cx and Cy with it in this convention only.
type Intrinsics struct {
	Width, Height int
	Fx, Fy        float64
	Cx, Cy        float64
}

// Scaled returns the intrinsics of the same camera resampled to w x h pixels.
func (k Intrinsics) Scaled(w, h int) Intrinsics {
	sx := float64(w) / float64(k.Width)
	sy := float64(h) / float64(k.Height)
	return Intrinsics{Width: w, Height: h, Fx: k.Fx * sx, Fy: k.Fy * sy, Cx: k.Cx * sx, Cy: k.Cy * sy}
}

// Pose is a rigid transform from a camera frame to the world frame:
// p_world = R * p_camera + T. R is row-major. Camera axes follow the
// computer-vision convention: x right, y down, z forward (optical axis).
type Pose struct {
	R [9]float64
	T [3]float64
}

// Identity returns the identity pose.
func Identity() Pose {
	return Pose{R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}}
}

// Apply maps a point from the pose's local frame into its parent frame.
func (p Pose) Apply(v [3]float64) [3]float64 {
	r := p.R
	return [3]float64{
		r[0]*v[0] + r[1]*v[1] + r[2]*v[2] + p.T[0],
		r[3]*v[0] + r[4]*v[1] + r[5]*v[2] + p.T[1],
		r[6]*v[0] + r[7]*v[1] + r[8]*v[2] + p.T[2],
	}
}

// Compose returns p∘q: the transform that applies q first, then p.
func (p Pose) Compose(q Pose) Pose {
	var out Pose
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			out.R[i*3+j] = p.R[i*3]*q.R[j] + p.R[i*3+1]*q.R[3+j] + p.R[i*3+2]*q.R[6+j]
		}
	}
	t := p.Apply(q.T)
	out.T = t
	return out
}

// Inverse returns the inverse rigid transform.
func (p Pose) Inverse() Pose {
	var out Pose
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			out.R[i*3+j] = p.R[j*3+i]
		}
	}
	for i := 0; i < 3; i++ {
		out.T[i] = -(out.R[i*3]*p.T[0] + out.R[i*3+1]*p.T[1] + out.R[i*3+2]*p.T[2])
	}
	return out
}

// Quaternion returns the rotation as a unit quaternion (x, y, z, w), w >= 0.
func (p Pose) Quaternion() (x, y, z, w float64) {
	r := p.R
	tr := r[0] + r[4] + r[8]
	switch {
	case tr > 0:
		s := math.Sqrt(tr+1) * 2
		w, x, y, z = s/4, (r[7]-r[5])/s, (r[2]-r[6])/s, (r[3]-r[1])/s
	case r[0] > r[4] && r[0] > r[8]:
		s := math.Sqrt(1+r[0]-r[4]-r[8]) * 2
		w, x, y, z = (r[7]-r[5])/s, s/4, (r[1]+r[3])/s, (r[2]+r[6])/s
	case r[4] > r[8]:
		s := math.Sqrt(1+r[4]-r[0]-r[8]) * 2
		w, x, y, z = (r[2]-r[6])/s, (r[1]+r[3])/s, s/4, (r[5]+r[7])/s
	default:
		s := math.Sqrt(1+r[8]-r[0]-r[4]) * 2
		w, x, y, z = (r[3]-r[1])/s, (r[2]+r[6])/s, (r[5]+r[7])/s, s/4
	}
	if w < 0 {
		x, y, z, w = -x, -y, -z, -w
	}
	return x, y, z, w
}

// Frame is one decoded image from one camera, the unit every frame source
// produces and every consumer takes.
type Frame struct {
	// Camera is the name of the camera that produced the frame ("left", "front").
	Camera string
	// Seq counts the frames of one source from 0; a gap means frames were dropped.
	Seq uint64
	// Stamp is the capture time: the camera's clock mapped to wall time where the
	// source can (RTCP sender reports), else the receive time.
	Stamp time.Time
	// Width and Height are the image size in pixels.
	Width, Height int
	// Pix holds packed 8-bit RGB, row-major, 3*Width bytes a row.
	Pix []byte
	// Intrinsics is the camera model, or nil when the source does not know it.
	Intrinsics *Intrinsics
	// Truth is the ground truth of synthetic and annotated sources, nil otherwise.
	Truth *GroundTruth
}

// GroundTruth is what a synthetic or annotated source knows about a frame.
type GroundTruth struct {
	// Depth is the z-depth (distance along the optical axis) in metres,
	// Width*Height values row-major; 0 where unknown.
	Depth []float32
	// Pose is the camera-to-world transform at Stamp.
	Pose Pose
	// Motion is the per-pixel 3D motion of the scene point seen at each pixel
	// between this frame and the next, in metres in the world frame, 3 values
	// (x, y, z) a pixel; nil when the scene is static.
	Motion []float32
}
