// Package pytorch finds a Python interpreter with PyTorch for the
// reference checks and comparisons that run the project's networks side by
// side in PyTorch (tests, `parallax bench --compare-python`).
package pytorch
