package msgs

import (
	"fmt"
	"math"
	"time"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// OpticalFlowField is the plain form of a parallax.v1.OpticalFlow message:
// where the scene point seen at each pixel of one frame lies in the next.
type OpticalFlowField struct {
	// Stamp is the capture time of the reference (first) frame.
	Stamp time.Time
	// Next is the capture time of the second frame.
	Next time.Time
	// FrameID is the camera's optical frame.
	FrameID string
	// Seq counts the messages of one camera from 0.
	Seq uint64
	// Width and Height are the size of the field in pixels.
	Width, Height int
	// Flow holds 2 values a pixel (dx, dy) in pixels of this size,
	// interleaved, row-major; NaN where unknown.
	Flow []float32
}

// Proto checks the size and packs the field into a parallax.v1.OpticalFlow.
func (f *OpticalFlowField) Proto() (*parallaxv1.OpticalFlow, error) {
	if err := checkDims(f.Width, f.Height, len(f.Flow), 2); err != nil {
		return nil, fmt.Errorf("optical flow: %w", err)
	}
	return &parallaxv1.OpticalFlow{
		Timestamp:     Timestamp(f.Stamp),
		FrameId:       f.FrameID,
		Width:         uint32(f.Width),
		Height:        uint32(f.Height),
		NextTimestamp: Timestamp(f.Next),
		Flow:          AppendFloat32s(make([]byte, 0, 4*len(f.Flow)), f.Flow),
		Seq:           f.Seq,
	}, nil
}

// OpticalFlowFromProto validates and unpacks a parallax.v1.OpticalFlow; a
// flow whose length does not match width x height returns ErrSize.
func OpticalFlowFromProto(m *parallaxv1.OpticalFlow) (OpticalFlowField, error) {
	if m == nil {
		return OpticalFlowField{}, fmt.Errorf("%w: optical flow", ErrMissingField)
	}
	w, h := int(m.GetWidth()), int(m.GetHeight())
	if w == 0 || h == 0 || w > MaxImageSide || h > MaxImageSide {
		return OpticalFlowField{}, fmt.Errorf("%w: optical flow of %dx%d pixels, want 1 to %d each way", ErrSize, w, h, MaxImageSide)
	}
	if want := w * h * 8; len(m.GetFlow()) != want {
		return OpticalFlowField{}, fmt.Errorf("%w: optical flow has %d bytes, want %d for %dx%d pixels", ErrSize, len(m.GetFlow()), want, w, h)
	}
	f := OpticalFlowField{FrameID: m.GetFrameId(), Seq: m.GetSeq(), Width: w, Height: h}
	var err error
	if f.Stamp, err = Time(m.GetTimestamp()); err != nil {
		return OpticalFlowField{}, err
	}
	if f.Next, err = Time(m.GetNextTimestamp()); err != nil {
		return OpticalFlowField{}, err
	}
	if f.Flow, err = Float32s(m.GetFlow()); err != nil {
		return OpticalFlowField{}, err
	}
	return f, nil
}

// FlowImage draws a flow field as an rgb8 foxglove.RawImage on the usual
// colour wheel (Middlebury's and KITTI's preview convention): the hue is
// the direction (right red, down yellow-green, left cyan, up blue-violet),
// the saturation the length relative to maxLen, white for no motion, black
// where unknown (NaN). maxLen <= 0 scales to the field's longest vector,
// so a still scene shows its noise; Foxglove shows the picture as is.
func FlowImage(f *OpticalFlowField, maxLen float64) (*foxglove.RawImage, error) {
	if err := checkDims(f.Width, f.Height, len(f.Flow), 2); err != nil {
		return nil, fmt.Errorf("optical flow image: %w", err)
	}
	if maxLen <= 0 {
		for i := 0; i+1 < len(f.Flow); i += 2 {
			if l := math.Hypot(float64(f.Flow[i]), float64(f.Flow[i+1])); l > maxLen && !math.IsInf(l, 0) {
				maxLen = l
			}
		}
		if maxLen <= 0 {
			maxLen = 1
		}
	}
	n := f.Width * f.Height
	pix := make([]byte, 3*n)
	for i := 0; i < n; i++ {
		dx, dy := float64(f.Flow[2*i]), float64(f.Flow[2*i+1])
		if math.IsNaN(dx) || math.IsNaN(dy) {
			continue
		}
		r, g, b := flowColour(dx, dy, maxLen)
		pix[3*i], pix[3*i+1], pix[3*i+2] = r, g, b
	}
	return &foxglove.RawImage{
		Timestamp: Timestamp(f.Stamp),
		FrameId:   f.FrameID,
		Width:     uint32(f.Width),
		Height:    uint32(f.Height),
		Encoding:  "rgb8",
		Step:      uint32(3 * f.Width),
		Data:      pix,
	}, nil
}

// flowColour is the colour of one flow vector: hue from its angle,
// saturation from its length over maxLen (capped at 1), full value.
func flowColour(dx, dy, maxLen float64) (r, g, b byte) {
	sat := math.Min(math.Hypot(dx, dy)/maxLen, 1)
	hue := math.Atan2(dy, dx) / (2 * math.Pi) // -0.5 .. 0.5
	if hue < 0 {
		hue++
	}
	h6 := hue * 6
	sector := int(h6) % 6
	frac := h6 - math.Floor(h6)
	// HSV with V = 1: the channels between 1-sat and 1.
	lo, dn, up := 1-sat, 1-sat*frac, 1-sat*(1-frac)
	var rf, gf, bf float64
	switch sector {
	case 0:
		rf, gf, bf = 1, up, lo
	case 1:
		rf, gf, bf = dn, 1, lo
	case 2:
		rf, gf, bf = lo, 1, up
	case 3:
		rf, gf, bf = lo, dn, 1
	case 4:
		rf, gf, bf = up, lo, 1
	default:
		rf, gf, bf = 1, lo, dn
	}
	q := func(v float64) byte { return byte(math.Round(255 * v)) }
	return q(rf), q(gf), q(bf)
}
