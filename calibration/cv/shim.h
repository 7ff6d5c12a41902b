// The C++ shim of package cv: the OpenCV calls gocv v0.31 lacks
// (stereoCalibrate, stereoRectify, cv::fisheye's calibration, projection
// and maps, convertMaps), StereoSGBM with ximgproc's WLS filter, and a remap
// over caller-owned buffers. Matrices
// are gocv Mats, passed as cv::Mat* (void* here); point sets are flat
// float arrays owned by the caller for the duration of the call, so no Go
// pointer outlives a call (cgo's rules). Every function catches OpenCV's
// exceptions and returns 0 with the message in err, 1 on success.
#ifndef PARALLAX_CALIBRATION_CV_SHIM_H
#define PARALLAX_CALIBRATION_CV_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

// pk_calibrate_camera calibrates one camera from nviews views of counts[i]
// points each: obj holds x,y,z per point, img u,v, all views concatenated.
// K (3x3) and D are outputs (inputs with CALIB_USE_INTRINSIC_GUESS);
// rvecs and tvecs become nviews x 3 CV_64F. fisheye selects
// cv::fisheye::calibrate.
int pk_calibrate_camera(const float *obj, const float *img, const int *counts, int nviews,
                        int width, int height, void *K, void *D, void *rvecs, void *tvecs,
                        int flags, int fisheye, double *rms, char *err, int errlen);

// pk_stereo_calibrate runs cv::stereoCalibrate (its overload with per-view
// errors: perView becomes nviews x 2) or cv::fisheye::stereoCalibrate
// (perView left empty). K1 D1 K2 D2 are in-out, R (3x3) and T (3x1) out.
int pk_stereo_calibrate(const float *obj, const float *img1, const float *img2, const int *counts,
                        int nviews, int width, int height, void *K1, void *D1, void *K2, void *D2,
                        void *R, void *T, void *perView, int flags, int fisheye, double *rms,
                        char *err, int errlen);

// pk_stereo_rectify runs cv::stereoRectify (alpha) or
// cv::fisheye::stereoRectify (alpha as the balance), with flags
// (CALIB_ZERO_DISPARITY).
int pk_stereo_rectify(void *K1, void *D1, void *K2, void *D2, int width, int height, void *R,
                      void *T, void *R1, void *R2, void *P1, void *P2, void *Q, int flags,
                      double alpha, int fisheye, char *err, int errlen);

// pk_init_map runs initUndistortRectifyMap (or the fisheye one) into two
// CV_32FC1 maps of width x height.
int pk_init_map(void *K, void *D, void *R, void *P, int width, int height, int fisheye,
                void *mapx, void *mapy, char *err, int errlen);

// pk_convert_maps turns CV_32FC1 maps into remap's fast fixed-point form
// (CV_16SC2 and CV_16UC1).
int pk_convert_maps(void *mapx, void *mapy, void *map1, void *map2, char *err, int errlen);

// pk_remap remaps packed 8-bit RGB src (sw x sh) into dst (dw x dh) with
// fixed-point maps, bilinear, black outside.
int pk_remap(const unsigned char *src, int sw, int sh, unsigned char *dst, int dw, int dh,
             void *map1, void *map2, char *err, int errlen);

// pk_project_points projects obj (n x 3) with rvec, tvec (3 values each)
// through K and D (or the fisheye model) into img (n x 2).
int pk_project_points(const float *obj, int n, const double *rvec, const double *tvec, void *K,
                      void *D, int fisheye, double *img, char *err, int errlen);

// pk_undistort_points maps n raw pixels (u,v pairs) through K, D, R, P
// (cv::undistortPoints, or the fisheye one) into out.
int pk_undistort_points(const double *in, int n, void *K, void *D, void *R, void *P, int fisheye,
                        double *out, char *err, int errlen);

// pk_stereo_sgbm runs cv::StereoSGBM (the parameters of StereoSGBM::create)
// on two width x height 8-bit images of 1 or 3 channels and writes the
// left view's disparity, CV_16S fixed point (1/16 px; minDisparity-1 where
// none), into disp (width*height). wlsLambda > 0 filters it with
// ximgproc's DisparityWLSFilter (lambda, sigma colour) on the left and
// right matchers' disparities.
int pk_stereo_sgbm(const unsigned char *left, const unsigned char *right, int width, int height,
                   int channels, int minDisparity, int numDisparities, int blockSize, int P1, int P2,
                   int disp12MaxDiff, int preFilterCap, int uniqueness, int speckleWindow,
                   int speckleRange, int mode, double wlsLambda, double wlsSigma, short *disp,
                   char *err, int errlen);

#ifdef __cplusplus
}
#endif

#endif
