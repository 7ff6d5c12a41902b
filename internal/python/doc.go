// Package python finds the Python interpreter for the reference checks and
// comparisons that run the project's code side by side with a Python
// library: PyTorch for the networks (tests, `parallax bench
// --compare-python`), python3-opencv for calibration and stereo.
package python
