//go:build !nocv

#include "shim.h"

#include <cstring>
#include <exception>
#include <stdexcept>
#include <vector>

#include <opencv2/calib3d.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/ximgproc/disparity_filter.hpp>

namespace {

void set_err(char *err, int errlen, const char *msg) {
    if (err == nullptr || errlen <= 0) {
        return;
    }
    std::strncpy(err, msg, errlen - 1);
    err[errlen - 1] = 0;
}

cv::Mat &M(void *p) { return *static_cast<cv::Mat *>(p); }

void views(const float *obj, const float *img, const int *counts, int nviews,
           std::vector<std::vector<cv::Point3f>> &o, std::vector<std::vector<cv::Point2f>> &i) {
    o.resize(nviews);
    i.resize(nviews);
    size_t k = 0;
    for (int v = 0; v < nviews; v++) {
        for (int p = 0; p < counts[v]; p++, k++) {
            if (obj != nullptr) {
                o[v].emplace_back(obj[3 * k], obj[3 * k + 1], obj[3 * k + 2]);
            }
            i[v].emplace_back(img[2 * k], img[2 * k + 1]);
        }
    }
}

cv::Mat vecs(const std::vector<cv::Mat> &vs) {
    cv::Mat out((int)vs.size(), 3, CV_64F);
    for (size_t v = 0; v < vs.size(); v++) {
        cv::Mat m;
        vs[v].reshape(1, 3).convertTo(m, CV_64F);
        for (int j = 0; j < 3; j++) {
            out.at<double>((int)v, j) = m.at<double>(j);
        }
    }
    return out;
}

} // namespace

#define PK_TRY try {
#define PK_CATCH                                                                                   \
    }                                                                                              \
    catch (const std::exception &e) {                                                              \
        set_err(err, errlen, e.what());                                                            \
        return 0;                                                                                  \
    }                                                                                              \
    catch (...) {                                                                                  \
        set_err(err, errlen, "unknown C++ exception");                                             \
        return 0;                                                                                  \
    }                                                                                              \
    return 1;

extern "C" {

int pk_calibrate_camera(const float *obj, const float *img, const int *counts, int nviews,
                        int width, int height, void *K, void *D, void *rvecs, void *tvecs,
                        int flags, int fisheye, double *rms, char *err, int errlen) {
    PK_TRY
    std::vector<std::vector<cv::Point3f>> o;
    std::vector<std::vector<cv::Point2f>> i;
    views(obj, img, counts, nviews, o, i);
    std::vector<cv::Mat> rv, tv;
    if (fisheye) {
        std::vector<std::vector<cv::Point3d>> od(o.size());
        std::vector<std::vector<cv::Point2d>> id(i.size());
        for (size_t v = 0; v < o.size(); v++) {
            for (auto &p : o[v]) od[v].emplace_back(p.x, p.y, p.z);
            for (auto &p : i[v]) id[v].emplace_back(p.x, p.y);
        }
        cv::TermCriteria crit(cv::TermCriteria::COUNT + cv::TermCriteria::EPS, 100, 1e-10);
        *rms = cv::fisheye::calibrate(od, id, cv::Size(width, height), M(K), M(D), rv, tv, flags, crit);
    } else {
        *rms = cv::calibrateCamera(o, i, cv::Size(width, height), M(K), M(D), rv, tv, flags);
    }
    M(rvecs) = vecs(rv);
    M(tvecs) = vecs(tv);
    PK_CATCH
}

int pk_stereo_calibrate(const float *obj, const float *img1, const float *img2, const int *counts,
                        int nviews, int width, int height, void *K1, void *D1, void *K2, void *D2,
                        void *R, void *T, void *perView, int flags, int fisheye, double *rms,
                        char *err, int errlen) {
    PK_TRY
    std::vector<std::vector<cv::Point3f>> o;
    std::vector<std::vector<cv::Point2f>> i1, i2;
    views(obj, img1, counts, nviews, o, i1);
    std::vector<std::vector<cv::Point3f>> unused;
    views(nullptr, img2, counts, nviews, unused, i2);
    cv::TermCriteria crit(cv::TermCriteria::COUNT + cv::TermCriteria::EPS, 100, 1e-6);
    if (fisheye) {
        std::vector<std::vector<cv::Point3d>> od(o.size());
        std::vector<std::vector<cv::Point2d>> a(o.size()), b(o.size());
        for (size_t v = 0; v < o.size(); v++) {
            for (auto &p : o[v]) od[v].emplace_back(p.x, p.y, p.z);
            for (auto &p : i1[v]) a[v].emplace_back(p.x, p.y);
            for (auto &p : i2[v]) b[v].emplace_back(p.x, p.y);
        }
        cv::Mat r, t;
        *rms = cv::fisheye::stereoCalibrate(od, a, b, M(K1), M(D1), M(K2), M(D2), cv::Size(width, height), r, t, flags, crit);
        r.convertTo(M(R), CV_64F);
        t.reshape(1, 3).convertTo(M(T), CV_64F);
    } else {
        cv::Mat E, F, r, t, pv;
        *rms = cv::stereoCalibrate(o, i1, i2, M(K1), M(D1), M(K2), M(D2), cv::Size(width, height), r, t, E, F, pv, flags, crit);
        r.convertTo(M(R), CV_64F);
        t.reshape(1, 3).convertTo(M(T), CV_64F);
        pv.convertTo(M(perView), CV_64F);
    }
    PK_CATCH
}

int pk_stereo_rectify(void *K1, void *D1, void *K2, void *D2, int width, int height, void *R,
                      void *T, void *R1, void *R2, void *P1, void *P2, void *Q, int flags,
                      double alpha, int fisheye, char *err, int errlen) {
    PK_TRY
    cv::Size size(width, height);
    if (fisheye) {
        cv::fisheye::stereoRectify(M(K1), M(D1), M(K2), M(D2), size, M(R), M(T), M(R1), M(R2), M(P1), M(P2), M(Q), flags, size, alpha, 1.0);
    } else {
        cv::stereoRectify(M(K1), M(D1), M(K2), M(D2), size, M(R), M(T), M(R1), M(R2), M(P1), M(P2), M(Q), flags, alpha, size);
    }
    PK_CATCH
}

int pk_init_map(void *K, void *D, void *R, void *P, int width, int height, int fisheye,
                void *mapx, void *mapy, char *err, int errlen) {
    PK_TRY
    cv::Size size(width, height);
    if (fisheye) {
        cv::fisheye::initUndistortRectifyMap(M(K), M(D), M(R), M(P), size, CV_32FC1, M(mapx), M(mapy));
    } else {
        cv::initUndistortRectifyMap(M(K), M(D), M(R), M(P), size, CV_32FC1, M(mapx), M(mapy));
    }
    PK_CATCH
}

int pk_convert_maps(void *mapx, void *mapy, void *map1, void *map2, char *err, int errlen) {
    PK_TRY
    cv::convertMaps(M(mapx), M(mapy), M(map1), M(map2), CV_16SC2, false);
    PK_CATCH
}

int pk_remap(const unsigned char *src, int sw, int sh, unsigned char *dst, int dw, int dh,
             void *map1, void *map2, char *err, int errlen) {
    PK_TRY
    cv::Mat s(sh, sw, CV_8UC3, const_cast<unsigned char *>(src));
    cv::Mat d(dh, dw, CV_8UC3, dst);
    cv::remap(s, d, M(map1), M(map2), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar());
    if (d.data != dst) {
        throw std::runtime_error("remap reallocated its output");
    }
    PK_CATCH
}

int pk_project_points(const float *obj, int n, const double *rvec, const double *tvec, void *K,
                      void *D, int fisheye, double *img, char *err, int errlen) {
    PK_TRY
    std::vector<cv::Point3d> o;
    for (int k = 0; k < n; k++) {
        o.emplace_back(obj[3 * k], obj[3 * k + 1], obj[3 * k + 2]);
    }
    cv::Mat r(3, 1, CV_64F, const_cast<double *>(rvec)), t(3, 1, CV_64F, const_cast<double *>(tvec));
    std::vector<cv::Point2d> out;
    if (fisheye) {
        cv::fisheye::projectPoints(o, out, r, t, M(K), M(D));
    } else {
        cv::projectPoints(o, r, t, M(K), M(D), out);
    }
    for (int k = 0; k < n; k++) {
        img[2 * k] = out[k].x;
        img[2 * k + 1] = out[k].y;
    }
    PK_CATCH
}

int pk_undistort_points(const double *in, int n, void *K, void *D, void *R, void *P, int fisheye,
                        double *out, char *err, int errlen) {
    PK_TRY
    cv::Mat src(n, 1, CV_64FC2, const_cast<double *>(in));
    cv::Mat dst;
    if (fisheye) {
        cv::fisheye::undistortPoints(src, dst, M(K), M(D), M(R), M(P));
    } else {
        cv::undistortPoints(src, dst, M(K), M(D), M(R), M(P));
    }
    cv::Mat d;
    dst.reshape(1, n).convertTo(d, CV_64F);
    for (int k = 0; k < n; k++) {
        out[2 * k] = d.at<double>(k, 0);
        out[2 * k + 1] = d.at<double>(k, 1);
    }
    PK_CATCH
}

int pk_stereo_sgbm(const unsigned char *left, const unsigned char *right, int width, int height,
                   int channels, int minDisparity, int numDisparities, int blockSize, int P1, int P2,
                   int disp12MaxDiff, int preFilterCap, int uniqueness, int speckleWindow,
                   int speckleRange, int mode, double wlsLambda, double wlsSigma, short *disp,
                   char *err, int errlen) {
    PK_TRY
    int type = channels == 3 ? CV_8UC3 : CV_8UC1;
    cv::Mat l(height, width, type, const_cast<unsigned char *>(left));
    cv::Mat r(height, width, type, const_cast<unsigned char *>(right));
    cv::Ptr<cv::StereoSGBM> m =
        cv::StereoSGBM::create(minDisparity, numDisparities, blockSize, P1, P2, disp12MaxDiff,
                               preFilterCap, uniqueness, speckleWindow, speckleRange, mode);
    cv::Mat dl;
    m->compute(l, r, dl);
    if (wlsLambda > 0) {
        // The WLS filter of ximgproc (Min et al. 2014) smooths the left
        // disparity guided by the left image and uses the right matcher's
        // disparity for its left-right confidence.
        cv::Ptr<cv::StereoMatcher> rm = cv::ximgproc::createRightMatcher(m);
        cv::Mat dr;
        rm->compute(r, l, dr);
        cv::Ptr<cv::ximgproc::DisparityWLSFilter> f = cv::ximgproc::createDisparityWLSFilter(m);
        f->setLambda(wlsLambda);
        f->setSigmaColor(wlsSigma);
        cv::Mat filtered;
        f->filter(dl, l, filtered, dr);
        dl = filtered;
    }
    if (dl.type() != CV_16SC1 || dl.rows != height || dl.cols != width) {
        throw std::runtime_error("StereoSGBM returned a disparity of another type or size");
    }
    cv::Mat out(height, width, CV_16SC1, disp);
    dl.copyTo(out);
    if (out.data != reinterpret_cast<unsigned char *>(disp)) {
        throw std::runtime_error("copying the disparity reallocated its output");
    }
    PK_CATCH
}

} // extern "C"
