package kitti

import "errors"

// Errors returned by the package, wrapped with the file at fault; test with
// errors.Is.
var (
	// ErrCalib reports a calibration file that is missing, malformed, or
	// lacks a key the reader needs.
	ErrCalib = errors.New("kitti: bad calibration")
	// ErrLayout reports a folder that is not a KITTI raw drive: no
	// image_02/data, frames missing from the numbering, timestamps or oxts
	// that do not match the frames.
	ErrLayout = errors.New("kitti: bad folder layout")
	// ErrFrame reports a frame image that cannot be decoded.
	ErrFrame = errors.New("kitti: bad frame")
	// ErrOxts reports an oxts file that cannot be parsed.
	ErrOxts = errors.New("kitti: bad oxts record")
)
