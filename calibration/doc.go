// Package calibration holds Parallax's camera models and the calibration
// files robots come with: lens distortion, stereo extrinsics and
// rectification, readers and writers for the common formats, the
// rectification maps that turn raw frames into the ideal pinhole images
// perception and the learner assume, and the ground-plane scale of a
// monocular camera from its mounting height. It imports msgs only and is
// pure Go: every node can read calibrations and rectify frames, with or
// without OpenCV.
//
// # Models
//
// Camera is one camera: the raw image's camera matrix K and distortion
// (Model and D: PlumbBob k1 k2 p1 p2 k3, RationalPolynomial k1..k6,
// Equidistant fisheye k1..k4; Kalibr's radtan reads as PlumbBob with
// k3 = 0), and its rectification: R rotates the camera frame into the
// rectified frame, P projects the rectified image ([fx' 0 cx' Tx; ...],
// Tx = -fx' * baseline for a right camera). Stereo is a pair with the
// extrinsics between them (p_right = R p_left + T, as OpenCV's
// stereoCalibrate) and, once rectified, R1/P1 and R2/P2 in the cameras
// (Q from Stereo.Q). Distort, Project, Undistort and RectifyPixel follow
// OpenCV's formulas term for term.
//
// # Pixel convention
//
// Every matrix here is in the ROS/OpenCV convention: the centre of pixel
// (0,0) is at (0,0). msgs.Intrinsics puts it at (0.5, 0.5); the conversion
// is msgs.ToROSPixel and msgs.FromROSPixel and nothing else. Camera.Intrinsics,
// RectifiedIntrinsics, CameraFromIntrinsics and Scaled are where this
// package crosses over.
//
// # Formats
//
// Read and Parse tell the format by content (Detect; the extension breaks
// ties) and return a Set: its cameras and, for a stereo file, the pair.
// Write and WriteFile (atomic) write every format, and each reads back to
// the same numbers:
//
//   - ROS camera_info YAML (FormatROS; camera_calibration_parsers' layout:
//     image_width, image_height, camera_name, camera_matrix,
//     distortion_model, distortion_coefficients, rectification_matrix,
//     projection_matrix), one camera a file (WriteROS);
//   - OpenCV FileStorage YAML and XML (FormatOpenCVYAML, FormatOpenCVXML):
//     the stereo layout M1 D1 M2 D2 R T [R1 R2 P1 P2 Q] OpenCV's
//     stereo_calib writes (its intrinsics.yml and extrinsics.yml read
//     together: Read(a, b)), and the mono layout camera_matrix
//     distortion_coefficients of OpenCV's calibration sample;
//   - KITTI calib_cam_to_cam.txt (FormatKITTI; ParseKITTI also reads the
//     velodyne and IMU files camera/kitti needs);
//   - Kalibr camchain YAML (FormatKalibr; cam0, cam1 with T_cn_cnm1).
//
// Problems are *Error values naming the file, the line and the field
// ("calibration: left.yaml:7: camera_matrix.data: 8 values, want 9 (3x3)"),
// wrapping this package's sentinel errors. Bad input never panics: every
// reader has a fuzz target.
//
// # Rectification
//
// NewMaps computes, for every rectified pixel, the raw pixel it samples
// (what OpenCV's initUndistortRectifyMap computes, checked against it in
// calibration/cv's tests), and Maps.Remap resamples an RGB frame with
// them (bilinear, black outside) on all cores; Maps.RemapDepth carries a
// ground-truth depth map over, z measured along the rectified axis.
// camera/rectify applies them to a camera's frames.
//
// # What needs OpenCV
//
// Finding chessboards, calibrating, and rectifying a stereo pair whose file
// gives only R and T (stereoRectify) are OpenCV's: they live in
// calibration/cv, the only package that links OpenCV (through gocv and a
// small C++ shim), so that go vet and every other package build without
// it, and a `-tags nocv` build still reads files and rectifies.
//
// # Monocular scale
//
// GroundScale recovers the metric scale of a relative (monocular) depth
// map from the camera's known height above a visible ground plane: it
// back-projects the depth, keeps the pixels whose local normal points up,
// fits the plane robustly (RANSAC, then least squares on the inliers),
// takes the camera's height above it as the median |p·n| of the inliers,
// and returns camera_height / height; too little ground gives no scale.
package calibration
