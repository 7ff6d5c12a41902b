// Package kitti reads KITTI raw drive folders (the "sync" downloads) as
// replay sources: image_02/data/*.png (left colour) and image_03/data/*.png
// (right colour, optional), the timestamps.txt beside each data folder,
// calib_cam_to_cam.txt (in the drive folder or its date folder: P_rect_02
// and P_rect_03 give the rectified intrinsics and the stereo baseline,
// S_rect_0N the image size) and oxts/data/*.txt when present (ground-truth
// poses, as the KITTI devkit computes them, moved into the left camera's
// frame with calib_imu_to_velo.txt and calib_velo_to_cam.txt when present).
//
// Left out: depth from the projected velodyne scans (frames carry a
// ground-truth pose but no Truth.Depth), and the KITTI odometry layout
// (image_2/, times.txt, calib.txt).
//
// A Dataset's views are replay.Streams: replay.Player plays them as a
// camera.Source (kitti://folder in a launch file), and Dataset.Drive gives
// the learner.Drive for training and evaluation. Errors name the file at
// fault: a missing frame of the numbering, a timestamps.txt whose length
// does not match the frames, a calibration key missing or malformed.
package kitti
