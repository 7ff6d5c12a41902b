package cv

// The declarations of stereo matching both builds share: SGBM's parameters
// and the disparity it returns (opencv_sgbm.go computes it; nocv.go
// returns ErrNoOpenCV).

import (
	"errors"
	"fmt"
	"math"
)

// ErrSGBM reports SGBM parameters OpenCV would reject or that make no sense.
var ErrSGBM = errors.New("calibration/cv: bad SGBM parameters")

// SGBMParams are cv::StereoSGBM's parameters (StereoSGBM::create's names),
// always run in MODE_SGBM_3WAY (OpenCV's fastest full mode: eight paths'
// worth of smoothing from three passes), with an optional WLS filter.
type SGBMParams struct {
	// MinDisparity is the smallest disparity searched, in pixels (usually
	// 0); NumDisparities the number searched, a positive multiple of 16.
	MinDisparity   int `json:"min_disparity"`
	NumDisparities int `json:"num_disparities"`
	// BlockSize is the odd matched block side, 1 to 11 (3 to 11 usual).
	BlockSize int `json:"block_size"`
	// P1 and P2 penalise disparity changes of 1 and of more between
	// neighbours; 0 picks OpenCV's sample's 8*cn*BlockSize² and
	// 32*cn*BlockSize² (cn: the images' channels).
	P1 int `json:"p1"`
	P2 int `json:"p2"`
	// Disp12MaxDiff is the largest left-right disagreement kept, in
	// pixels; negative turns the check off.
	Disp12MaxDiff int `json:"disp12_max_diff"`
	// PreFilterCap clips the x-derivative prefilter (1 to 63).
	PreFilterCap int `json:"pre_filter_cap"`
	// Uniqueness is the margin in percent by which the best cost must beat
	// the second best (0 to 100; 5 to 15 usual): ambiguous pixels become
	// invalid.
	Uniqueness int `json:"uniqueness"`
	// SpeckleWindow is the largest blob of disparities (in pixels) that is
	// removed as noise when it differs from its surroundings; 0 turns
	// speckle filtering off. SpeckleRange is the largest disparity
	// variation within one blob, in pixels (OpenCV multiplies it by 16
	// for its fixed point).
	SpeckleWindow int `json:"speckle_window"`
	SpeckleRange  int `json:"speckle_range"`
	// WLSLambda > 0 filters the disparity with ximgproc's weighted least
	// squares filter (Min et al. 2014; 8000 usual), guided by the left
	// image, WLSSigma its colour sensitivity (0.8 to 2.0 usual). It fills
	// most holes SGBM leaves with a smoothed value.
	WLSLambda float64 `json:"wls_lambda"`
	WLSSigma  float64 `json:"wls_sigma"`
}

// DefaultSGBM returns the parameters `depth.sgbm` defaults to: OpenCV's
// stereo_match sample's (block 5, uniqueness 10, speckle window 100 and
// range 2 px, disp12MaxDiff 1, preFilterCap 63) with 64 disparities, WLS
// off (sigma 1.5 once a lambda turns it on).
func DefaultSGBM() SGBMParams {
	return SGBMParams{NumDisparities: 64, BlockSize: 5, Disp12MaxDiff: 1, PreFilterCap: 63, Uniqueness: 10,
		SpeckleWindow: 100, SpeckleRange: 2, WLSSigma: 1.5}
}

// Penalties returns P1 and P2 for images of cn channels: the set ones, or
// OpenCV's sample's defaults.
func (p SGBMParams) Penalties(cn int) (p1, p2 int) {
	p1, p2 = p.P1, p.P2
	if p1 == 0 {
		p1 = 8 * cn * p.BlockSize * p.BlockSize
	}
	if p2 == 0 {
		p2 = 32 * cn * p.BlockSize * p.BlockSize
	}
	return p1, p2
}

// Validate reports the first parameter OpenCV would reject, named as the
// launch file names it (depth.sgbm.<name>).
func (p SGBMParams) Validate() error {
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("%w: %s %v: want %s", ErrSGBM, name, v, want)
	}
	switch {
	case p.NumDisparities <= 0 || p.NumDisparities%16 != 0 || p.NumDisparities > 1024:
		return bad("num_disparities", p.NumDisparities, "a multiple of 16 from 16 to 1024")
	case p.MinDisparity < -1024 || p.MinDisparity > 1024:
		return bad("min_disparity", p.MinDisparity, "-1024 to 1024")
	case p.BlockSize < 1 || p.BlockSize > 11 || p.BlockSize%2 == 0:
		return bad("block_size", p.BlockSize, "odd, 1 to 11")
	case p.P1 < 0 || p.P2 < 0 || (p.P1 > 0 && p.P2 > 0 && p.P2 <= p.P1):
		return bad("p1/p2", fmt.Sprintf("%d/%d", p.P1, p.P2), "0 (the default) or 0 < p1 < p2")
	case p.PreFilterCap < 1 || p.PreFilterCap > 63:
		return bad("pre_filter_cap", p.PreFilterCap, "1 to 63")
	case p.Uniqueness < 0 || p.Uniqueness > 100:
		return bad("uniqueness", p.Uniqueness, "0 to 100 (percent)")
	case p.SpeckleWindow < 0 || p.SpeckleWindow > 100000:
		return bad("speckle_window", p.SpeckleWindow, "0 (off) to 100000 pixels")
	case p.SpeckleRange < 0 || p.SpeckleRange > 1024:
		return bad("speckle_range", p.SpeckleRange, "0 to 1024 pixels")
	case !(p.WLSLambda >= 0) || math.IsInf(p.WLSLambda, 0) || p.WLSLambda > 1e6:
		return bad("wls_lambda", p.WLSLambda, "0 (off) to 1e6")
	case p.WLSLambda > 0 && (!(p.WLSSigma > 0) || p.WLSSigma > 100):
		return bad("wls_sigma", p.WLSSigma, "above 0 and up to 100")
	}
	return nil
}

// Image is an 8-bit image of 1 (grey) or 3 (RGB) channels, row-major.
type Image struct {
	Width, Height, Channels int
	Pix                     []byte
}

func (m Image) check(name string) error {
	if m.Width <= 0 || m.Height <= 0 || (m.Channels != 1 && m.Channels != 3) || len(m.Pix) != m.Width*m.Height*m.Channels {
		return fmt.Errorf("%w: %s image: %d bytes for %dx%d with %d channels (want 1 or 3)", ErrImage, name, len(m.Pix), m.Width, m.Height, m.Channels)
	}
	return nil
}

// Disparity is a left view's disparity in pixels (x_left - x_right of the
// same point in a rectified pair), row-major; NaN where the matcher found
// none (occlusions, texture too weak, ambiguous or speckle-filtered).
type Disparity struct {
	Width, Height int
	D             []float32
}

// Depth converts the disparity to metric z-depth, fx*baseline/d (fx the
// rectified focal length in pixels, baseline in metres). Pixels without a
// disparity, or with one of 0 or less (a point at or beyond infinity), are
// NaN: never a made-up value.
func (d Disparity) Depth(fx, baseline float64) []float32 {
	out := make([]float32, len(d.D))
	fb := fx * baseline
	nan := float32(math.NaN())
	for i, v := range d.D {
		if v > 0 {
			out[i] = float32(fb / float64(v))
		} else {
			out[i] = nan
		}
	}
	return out
}

// fromFixed converts OpenCV's fixed-point disparity (1/16 px) into pixels,
// NaN below minDisparity (SGBM writes (minDisparity-1)*16 where it has
// none).
func fromFixed(w, h int, fixed []int16, minDisparity int) Disparity {
	out := Disparity{Width: w, Height: h, D: make([]float32, len(fixed))}
	lo := int16(16 * minDisparity)
	nan := float32(math.NaN())
	for i, v := range fixed {
		if v < lo {
			out.D[i] = nan
		} else {
			out.D[i] = float32(v) / 16
		}
	}
	return out
}
