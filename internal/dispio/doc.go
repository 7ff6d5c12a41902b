// Package dispio reads and writes disparity and depth maps in the formats
// stereo benchmarks use, and scores a disparity map against ground truth:
//
//   - PFM (Portable Float Map, Middlebury's convention): a "Pf" header, width
//     and height, a scale whose sign gives the byte order (negative: little
//     endian), then float32 rows from the bottom of the image to the top.
//     Middlebury marks unknown ground truth with +Inf; Parallax writes NaN
//     where it has no estimate.
//   - 16-bit PNG in KITTI's convention: disparity*256, 0 = unknown; and 8-bit
//     PNG disparities in pixels (Middlebury 2005/2006 and OpenCV's aloeGT.png),
//     0 = unknown.
//   - 32-bit float TIFF (EncodeTIFF; DecodeTIFF reads that subset back), for
//     tools that read 32FC1 images from TIFF (OpenCV, GDAL).
//   - a colour-mapped PNG preview with a scale bar (Preview).
//
// Maps are row-major float32 from the top row, like msgs.DepthMap and the
// 32FC1 images the node publishes; unknown values are NaN once read.
//
// It is a package of its own, free of cgo, so that `parallax depth` and
// `parallax eval` share it, and so its parsers can be fuzzed on their own
// (FuzzDecodePFM, FuzzDecodePNG, FuzzDecodeTIFF): they read files users hand the tool.
package dispio
