package viewer

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"math"
	"slices"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// What the viewer makes of depth maps for eyes: Foxglove shows a 32FC1
// image only as grey clamped at 1.0, so it gets a Turbo-coloured JPEG, a
// 16UC1 image in millimetres and a point cloud as well.
const (
	// autoLow and autoHigh are the percentiles of a depth map's valid
	// values that bound the automatic colour range.
	autoLow, autoHigh = 0.02, 0.98
	// autoSmooth is the weight of a new frame's range in the running one
	// (an exponential moving average), so colours do not flicker.
	autoSmooth = 0.3
	// autoSamples bounds the values sorted for the percentiles.
	autoSamples = 4096
	// maxCloudPoints bounds a point cloud: the step grows to stay under.
	maxCloudPoints = 1 << 17
	// jpegQuality is the quality of the viewer's JPEGs (camera previews and
	// coloured depth).
	jpegQuality = 85
)

// validDepth reports whether d is a depth value (0, NaN and infinities
// mark unknown pixels).
func validDepth(d float32) bool { return d > 0 && !math.IsInf(float64(d), 0) }

// depthRange is the colour range of one camera's depth maps: fixed when
// min and max are set, else the running automatic one.
type depthRange struct {
	min, max float64 // fixed range; 0, 0: automatic
	lo, hi   float64 // the automatic range so far; 0 before the first map
	sample   []float32
}

// of returns the range to colour d with (lo < hi), updating the
// automatic one.
func (r *depthRange) of(d []float32) (lo, hi float64) {
	if r.min > 0 && r.max > r.min {
		return r.min, r.max
	}
	r.sample = r.sample[:0]
	step := max(1, len(d)/autoSamples)
	for i := 0; i < len(d); i += step {
		if validDepth(d[i]) {
			r.sample = append(r.sample, d[i])
		}
	}
	if len(r.sample) == 0 {
		if r.hi > r.lo {
			return r.lo, r.hi
		}
		return 1, 100
	}
	slices.Sort(r.sample)
	nlo := float64(r.sample[int(autoLow*float64(len(r.sample)-1))])
	nhi := float64(r.sample[int(autoHigh*float64(len(r.sample)-1))])
	if nhi < nlo*1.01 {
		nhi = nlo*1.01 + 1e-3
	}
	if r.hi <= r.lo {
		r.lo, r.hi = nlo, nhi
	} else {
		r.lo += autoSmooth * (nlo - r.lo)
		r.hi += autoSmooth * (nhi - r.hi)
	}
	return r.lo, r.hi
}

// colorDepth paints depth d (w x h) into img with Turbo over inverse depth
// between lo and hi: the nearest (lo and nearer) dark red, the farthest
// (hi and beyond) dark blue, inverse depth so that the near range, where
// detail matters, gets most of the colours. Unknown pixels are black.
func colorDepth(img *image.RGBA, w, h int, d []float32, lo, hi float64) {
	ilo, ihi := 1/hi, 1/lo // inverse depth: far is small
	scale := 255 / (ihi - ilo)
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < w; x++ {
			v := d[y*w+x]
			p := row[4*x : 4*x+4 : 4*x+4]
			if !validDepth(v) {
				p[0], p[1], p[2], p[3] = 0, 0, 0, 255
				continue
			}
			t := (1/float64(v) - ilo) * scale
			i := 0
			if t > 0 {
				i = min(int(t+0.5), 255)
			}
			c := turbo[i]
			p[0], p[1], p[2], p[3] = c[0], c[1], c[2], 255
		}
	}
}

// rgba returns img resized to w x h, reusing it when it has that size.
func rgba(img *image.RGBA, w, h int) *image.RGBA {
	if img != nil && img.Rect.Dx() == w && img.Rect.Dy() == h {
		return img
	}
	return image.NewRGBA(image.Rect(0, 0, w, h))
}

// rgbToRGBA copies packed RGB pixels into img (w x h).
func rgbToRGBA(img *image.RGBA, w, h int, pix []byte) {
	for y := 0; y < h; y++ {
		src := pix[3*w*y : 3*w*(y+1)]
		dst := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < w; x++ {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = src[3*x], src[3*x+1], src[3*x+2], 255
		}
	}
}

// encodeJPEG encodes img with buf as scratch and returns a fresh copy of
// the bytes (the payload is shared with clients' queues: buf is reused).
func encodeJPEG(buf *bytes.Buffer, img image.Image) ([]byte, error) {
	buf.Reset()
	if err := jpeg.Encode(buf, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// DepthMillimetres returns depth d (w x h, metres) as a 16UC1 image in
// millimetres, the ROS convention for depth cameras: 0 where unknown, depths
// beyond 65.535 m clamped to it.
func DepthMillimetres(stamp time.Time, frameID string, w, h int, d []float32) *foxglove.RawImage {
	data := make([]byte, 2*w*h)
	for i, v := range d[:w*h] {
		var mm uint16
		if validDepth(v) {
			mm = uint16(min(math.Round(float64(v)*1000), 65535))
		}
		binary.LittleEndian.PutUint16(data[2*i:], mm)
	}
	return &foxglove.RawImage{Timestamp: msgs.Timestamp(stamp), FrameId: frameID, Width: uint32(w), Height: uint32(h),
		Encoding: "16UC1", Step: uint32(2 * w), Data: data}
}

// cloudFields are the fields of the viewer's point clouds: position in
// metres, colour as 8-bit RGBA, 16 bytes a point.
var cloudFields = []*foxglove.PackedElementField{
	{Name: "x", Offset: 0, Type: foxglove.PackedElementField_FLOAT32},
	{Name: "y", Offset: 4, Type: foxglove.PackedElementField_FLOAT32},
	{Name: "z", Offset: 8, Type: foxglove.PackedElementField_FLOAT32},
	{Name: "red", Offset: 12, Type: foxglove.PackedElementField_UINT8},
	{Name: "green", Offset: 13, Type: foxglove.PackedElementField_UINT8},
	{Name: "blue", Offset: 14, Type: foxglove.PackedElementField_UINT8},
	{Name: "alpha", Offset: 15, Type: foxglove.PackedElementField_UINT8},
}

// cloudStride is the size of a point of cloudFields.
const cloudStride = 16

// PointCloud back-projects every step-th pixel (in x and y) of the depth
// map through its intrinsics into the camera's optical frame (x right,
// y down, z forward, metres) and colours each point by frame f's pixel it
// projects to (grey without a frame): the points of a foxglove.PointCloud
// in frame f.Camera. Unknown depths are skipped. It returns nil when the
// map has no intrinsics.
func PointCloud(dm *msgs.DepthMap, f *msgs.Frame, step int) *foxglove.PointCloud {
	k := dm.Intrinsics
	if k == nil || k.Fx <= 0 || k.Fy <= 0 || dm.Width <= 0 || dm.Height <= 0 {
		return nil
	}
	step = max(step, 1)
	for (dm.Width/step)*(dm.Height/step) > maxCloudPoints {
		step++
	}
	// The frame's pixel of a point: through its intrinsics when it has them
	// (the depth map may be a crop of it), else by scaling.
	var fx, fy, fcx, fcy float64
	colour := f != nil && len(f.Pix) >= 3*f.Width*f.Height && f.Width > 0
	if colour {
		if kf := f.Intrinsics; kf != nil && kf.Fx > 0 {
			fx, fy, fcx, fcy = kf.Fx, kf.Fy, kf.Cx, kf.Cy
		} else {
			sx, sy := float64(f.Width)/float64(dm.Width), float64(f.Height)/float64(dm.Height)
			fx, fy, fcx, fcy = k.Fx*sx, k.Fy*sy, k.Cx*sx, k.Cy*sy
		}
	}
	data := make([]byte, 0, cloudStride*(dm.Width/step+1)*(dm.Height/step+1))
	var p [cloudStride]byte
	for v := step / 2; v < dm.Height; v += step {
		for u := step / 2; u < dm.Width; u += step {
			z := dm.Depth[v*dm.Width+u]
			if !validDepth(z) {
				continue
			}
			// msgs.Intrinsics puts the centre of pixel (0, 0) at (0.5, 0.5).
			xn := (float64(u) + 0.5 - k.Cx) / k.Fx
			yn := (float64(v) + 0.5 - k.Cy) / k.Fy
			binary.LittleEndian.PutUint32(p[0:], math.Float32bits(float32(xn*float64(z))))
			binary.LittleEndian.PutUint32(p[4:], math.Float32bits(float32(yn*float64(z))))
			binary.LittleEndian.PutUint32(p[8:], math.Float32bits(z))
			p[12], p[13], p[14], p[15] = 160, 160, 160, 255
			if colour {
				fu := int(math.Floor(xn*fx + fcx))
				fv := int(math.Floor(yn*fy + fcy))
				if fu >= 0 && fu < f.Width && fv >= 0 && fv < f.Height {
					i := 3 * (fv*f.Width + fu)
					p[12], p[13], p[14] = f.Pix[i], f.Pix[i+1], f.Pix[i+2]
				}
			}
			data = append(data, p[:]...)
		}
	}
	stamp := time.Time{}
	frame := ""
	if f != nil {
		stamp, frame = f.Stamp, f.Camera
	}
	return &foxglove.PointCloud{Timestamp: msgs.Timestamp(stamp), FrameId: frame, Pose: msgs.FoxglovePose(msgs.Identity()),
		PointStride: cloudStride, Fields: cloudFields, Data: data}
}
