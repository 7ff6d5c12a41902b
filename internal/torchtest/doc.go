// Package torchtest holds the helpers that the libtorch tests of several
// packages share (test helpers cannot be imported across packages from
// _test.go files): pinning a test to its OS thread, and finding a Python
// with PyTorch for the reference checks.
package torchtest
