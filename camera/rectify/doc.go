// Package rectify undistorts and rectifies camera frames, so that
// perception and the learner always see ideal pinhole images: a stereo
// pair's two views row-aligned with one shared model and a known baseline,
// a mono camera's view undistorted.
//
// It is a camera.Source decorator (Source, Feed) rather than a stage in the
// actors: rectifying belongs to the camera (it is what the camera would
// deliver if its lens were perfect), every consumer downstream — stereo
// sync, perception, the learner, the recorder, the JPEG previews — then
// sees the same frames with no extra hop, and the node's only edit is to
// wrap the feeds of calibrated cameras when it opens them (actors'
// openCameras). The maps are computed once per frame size
// (calibration.NewMaps: initUndistortRectifyMap's mathematics) and every
// frame is remapped, with OpenCV when linked (calibration/cv's Remapper)
// and in Go otherwise; a `-tags nocv` build rectifies too, except a pair
// whose file gives no rectification (Pair needs OpenCV's stereoRectify
// then).
//
// A rectified frame's Intrinsics are its rectified P's (msgs pixel
// convention); the right camera's feed carries the baseline P encodes. The
// ground truth of synthetic frames is carried over: depth remapped and
// measured along the rectified optical axis, the pose rotated into the
// rectified frame.
//
// Recordings: the node's recorder records frames as the camera actors
// deliver them, so a calibrated camera's recording holds rectified frames
// (with their rectified camera_info, D = 0); replaying it needs no
// calibration, and the replay refuses one (it would rectify twice).
package rectify
