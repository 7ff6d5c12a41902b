//go:build !nocv

package cv

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// sgbm3Way is StereoSGBM::MODE_SGBM_3WAY.
const sgbm3Way = 2

// SGBM computes the left view's disparity of a rectified pair with
// cv::StereoSGBM in MODE_SGBM_3WAY (and ximgproc's WLS filter when
// p.WLSLambda > 0): the same call as python3-opencv's
// cv2.StereoSGBM_create(...).compute(left, right) (scripts/sgbm_reference.py).
// Both images must have the same size and channels.
func SGBM(left, right Image, p SGBMParams) (Disparity, error) {
	if err := p.Validate(); err != nil {
		return Disparity{}, err
	}
	if err := left.check("left"); err != nil {
		return Disparity{}, err
	}
	if err := right.check("right"); err != nil {
		return Disparity{}, err
	}
	if left.Width != right.Width || left.Height != right.Height || left.Channels != right.Channels {
		return Disparity{}, fmt.Errorf("%w: left %dx%dx%d and right %dx%dx%d differ", ErrImage,
			left.Width, left.Height, left.Channels, right.Width, right.Height, right.Channels)
	}
	p1, p2 := p.Penalties(left.Channels)
	fixed := make([]int16, left.Width*left.Height)
	err := call("StereoSGBM", func(e *C.char, n C.int) C.int {
		return C.pk_stereo_sgbm((*C.uchar)(&left.Pix[0]), (*C.uchar)(&right.Pix[0]), C.int(left.Width), C.int(left.Height),
			C.int(left.Channels), C.int(p.MinDisparity), C.int(p.NumDisparities), C.int(p.BlockSize), C.int(p1), C.int(p2),
			C.int(p.Disp12MaxDiff), C.int(p.PreFilterCap), C.int(p.Uniqueness), C.int(p.SpeckleWindow), C.int(p.SpeckleRange),
			sgbm3Way, C.double(p.WLSLambda), C.double(p.WLSSigma), (*C.short)(&fixed[0]), e, n)
	})
	if err != nil {
		return Disparity{}, err
	}
	return fromFixed(left.Width, left.Height, fixed, p.MinDisparity), nil
}

// Resize resizes an 8-bit image to w x h with cv::resize: INTER_AREA when
// shrinking (it averages, so fine texture does not alias into false
// matches), INTER_LINEAR when enlarging.
func Resize(m Image, w, h int) (Image, error) {
	if err := m.check("input"); err != nil {
		return Image{}, err
	}
	if w <= 0 || h <= 0 {
		return Image{}, fmt.Errorf("%w: resizing to %dx%d", ErrImage, w, h)
	}
	if w == m.Width && h == m.Height {
		return m, nil
	}
	typ := gocv.MatTypeCV8UC1
	if m.Channels == 3 {
		typ = gocv.MatTypeCV8UC3
	}
	src, err := gocv.NewMatFromBytes(m.Height, m.Width, typ, m.Pix)
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	interp := gocv.InterpolationArea
	if w > m.Width || h > m.Height {
		interp = gocv.InterpolationLinear
	}
	gocv.Resize(src, &dst, image.Pt(w, h), 0, 0, interp)
	return Image{Width: w, Height: h, Channels: m.Channels, Pix: dst.ToBytes()}, nil
}
