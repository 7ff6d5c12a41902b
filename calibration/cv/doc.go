// Package cv is Parallax's OpenCV: chessboard detection, camera and stereo
// calibration, stereo rectification, and a fast remap, through gocv
// (gocv.io/x/gocv v0.31.0, which builds against Debian 12's OpenCV 4.6)
// and a small C++ shim (shim.cpp) for what gocv v0.31 lacks:
// stereoCalibrate, stereoRectify, cv::fisheye's calibrate, stereoCalibrate,
// stereoRectify, projectPoints, undistortPoints and initUndistortRectifyMap,
// convertMaps, StereoSGBM (with ximgproc's WLS disparity filter, from
// Debian's libopencv-contrib-dev), and a remap over Go-owned buffers.
//
// # Stereo matching
//
// SGBM (opencv_sgbm.go, stereo.go) runs cv::StereoSGBM in MODE_SGBM_3WAY
// with uniqueness, left-right and speckle filtering, and optionally the WLS
// filter, on a rectified pair; its fixed-point disparity (1/16 px) comes
// back in pixels with NaN where there is none, and Disparity.Depth makes
// it metric (fx*baseline/d, NaN where d <= 0). scripts/sgbm_reference.py
// runs python3-opencv's StereoSGBM with the same parameters: the reference
// `parallax depth --method sgbm` is checked against on Middlebury's aloe
// pair.
//
// # Why a package of its own
//
// Everything that links OpenCV is here and nowhere else. The camera models,
// the file formats, the rectification maps (NewMaps: what
// initUndistortRectifyMap computes) and their remap are pure Go in package
// calibration; so `go vet ./...` and every package that only reads
// calibrations build without OpenCV's headers, and a `-tags nocv` build
// (nocv.go, like camera/codec's nocodec) still reads every format and
// rectifies frames with the R and P a file gives. What needs OpenCV returns
// ErrNoOpenCV there, naming the tag: finding chessboards and calibrating
// (parallax calibrate), and rectifying a stereo pair whose file gives only
// R and T (StereoRectify). The declarations both builds share are in
// types.go; flow.go (Calibrate, ViewRMS, Epipolar) is pure Go on top of the
// OpenCV calls.
//
// # Calibrating
//
// FindCorners (findChessboardCorners + cornerSubPix), CalibrateCamera
// (calibrateCamera or fisheye::calibrate), StereoCalibrate (with
// CALIB_FIX_INTRINSIC after each camera's own calibration, or refining
// all), StereoRectify (CALIB_ZERO_DISPARITY, alpha) and Calibrate, the
// whole flow, run exactly the steps of scripts/calib_reference.py (python3-
// opencv), which the tests compare against on OpenCV's own stereo sample
// (Debian's opencv-doc: examples/data/left01..14.jpg, right01..14.jpg).
//
// # Memory
//
// gocv Mats are closed by hand (defer m.Close()); the shim takes Mats as
// cv::Mat* and point sets as flat arrays valid for the call, so no Go
// pointer is kept by C++ after a call returns. A Remapper holds OpenCV
// memory until Close.
package cv
