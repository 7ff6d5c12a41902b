package msgs

import (
	"fmt"
	"time"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// SceneFlowField is the plain form of a parallax.v1.SceneFlow message: the
// 3D motion of the scene point seen at each pixel between two frames.
type SceneFlowField struct {
	// Stamp is the capture time of the reference (first) frame.
	Stamp time.Time
	// Next is the capture time of the second frame.
	Next time.Time
	// FrameID is the camera's optical frame at Stamp, the frame of Flow and Depth.
	FrameID string
	// Seq counts the messages of one camera from 0.
	Seq uint64
	// Width and Height are the size of the field in pixels.
	Width, Height int
	// Flow holds 3 values a pixel (dx, dy, dz) in metres, row-major; NaN
	// where unknown.
	Flow []float32
	// Depth is the z-depth at Stamp in metres, Width*Height values, or nil.
	Depth []float32
	// Disparity is the disparity at Stamp in pixels of this resolution,
	// Width*Height values, or nil.
	Disparity []float32
	// EgoMotionRemoved says Flow is motion in the world (zero for static
	// scenery) rather than relative to the moving camera.
	EgoMotionRemoved bool
}

// Proto checks the sizes and packs the field into a parallax.v1.SceneFlow.
func (f *SceneFlowField) Proto() (*parallaxv1.SceneFlow, error) {
	if err := checkDims(f.Width, f.Height, len(f.Flow), 3); err != nil {
		return nil, fmt.Errorf("scene flow: %w", err)
	}
	m := &parallaxv1.SceneFlow{
		Timestamp:        Timestamp(f.Stamp),
		FrameId:          f.FrameID,
		Width:            uint32(f.Width),
		Height:           uint32(f.Height),
		NextTimestamp:    Timestamp(f.Next),
		Flow:             AppendFloat32s(make([]byte, 0, 4*len(f.Flow)), f.Flow),
		Seq:              f.Seq,
		EgoMotionRemoved: f.EgoMotionRemoved,
	}
	if f.Depth != nil {
		if err := checkDims(f.Width, f.Height, len(f.Depth), 1); err != nil {
			return nil, fmt.Errorf("scene flow depth: %w", err)
		}
		m.Depth = AppendFloat32s(make([]byte, 0, 4*len(f.Depth)), f.Depth)
	}
	if f.Disparity != nil {
		if err := checkDims(f.Width, f.Height, len(f.Disparity), 1); err != nil {
			return nil, fmt.Errorf("scene flow disparity: %w", err)
		}
		m.Disparity = AppendFloat32s(make([]byte, 0, 4*len(f.Disparity)), f.Disparity)
	}
	return m, nil
}

// SceneFlowFromProto validates and unpacks a parallax.v1.SceneFlow. Empty
// depth or disparity becomes nil; any other length that does not match
// width x height returns ErrSize.
func SceneFlowFromProto(m *parallaxv1.SceneFlow) (SceneFlowField, error) {
	if m == nil {
		return SceneFlowField{}, fmt.Errorf("%w: scene flow", ErrMissingField)
	}
	w, h := int(m.GetWidth()), int(m.GetHeight())
	if w == 0 || h == 0 || w > MaxImageSide || h > MaxImageSide {
		return SceneFlowField{}, fmt.Errorf("%w: scene flow of %dx%d pixels, want 1 to %d each way", ErrSize, w, h, MaxImageSide)
	}
	unpack := func(name string, b []byte, per int, optional bool) ([]float32, error) {
		if optional && len(b) == 0 {
			return nil, nil
		}
		if want := w * h * per * 4; len(b) != want {
			return nil, fmt.Errorf("%w: scene flow %s has %d bytes, want %d for %dx%d pixels", ErrSize, name, len(b), want, w, h)
		}
		return Float32s(b)
	}
	f := SceneFlowField{
		FrameID: m.GetFrameId(), Seq: m.GetSeq(), Width: w, Height: h,
		EgoMotionRemoved: m.GetEgoMotionRemoved(),
	}
	var err error
	if f.Stamp, err = Time(m.GetTimestamp()); err != nil {
		return SceneFlowField{}, err
	}
	if f.Next, err = Time(m.GetNextTimestamp()); err != nil {
		return SceneFlowField{}, err
	}
	if f.Flow, err = unpack("flow", m.GetFlow(), 3, false); err != nil {
		return SceneFlowField{}, err
	}
	if f.Depth, err = unpack("depth", m.GetDepth(), 1, true); err != nil {
		return SceneFlowField{}, err
	}
	if f.Disparity, err = unpack("disparity", m.GetDisparity(), 1, true); err != nil {
		return SceneFlowField{}, err
	}
	return f, nil
}
