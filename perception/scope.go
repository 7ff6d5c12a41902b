package perception

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// Scope runs a chain of tensor ops: it stops at the first error, and Free
// drops every tensor it made (and every scalar) unless Keep took it out.
// gotch never frees a tensor by itself, so each function that builds a
// graph from many small ops runs them in a Scope and keeps only its
// results. The zero Scope is ready to use; Fn names the function in errors.
// A Scope is not safe for concurrent use (tensors belong to one worker's
// thread anyway).
type Scope struct {
	// Fn prefixes the errors ("Photometric", "step").
	Fn string

	err     error
	tmp     []*ts.Tensor
	scalars []*ts.Scalar
}

// NewScope returns a Scope whose errors name fn.
func NewScope(fn string) *Scope { return &Scope{Fn: fn} }

// Do runs f unless an earlier step failed, and records its result to be
// freed. After a failure it returns nil and runs nothing.
func (s *Scope) Do(f func() (*ts.Tensor, error)) *ts.Tensor {
	if s.err != nil {
		return nil
	}
	x, err := f()
	if err != nil {
		s.Fail(err)
		return nil
	}
	s.tmp = append(s.tmp, x)
	return x
}

// Add records tensors made elsewhere (a network's outputs) to be freed
// with the scope's own.
func (s *Scope) Add(xs ...*ts.Tensor) {
	for _, x := range xs {
		if x != nil {
			s.tmp = append(s.tmp, x)
		}
	}
}

// Fail records err as the scope's error (the first one wins); later Do
// calls run nothing.
func (s *Scope) Fail(err error) {
	if s.err == nil && err != nil {
		s.err = fmt.Errorf("%s: %w", s.Fn, err)
	}
}

// Err returns the first error, or nil.
func (s *Scope) Err() error { return s.err }

// Keep takes x out of the scope: the caller owns it now.
func (s *Scope) Keep(x *ts.Tensor) *ts.Tensor {
	for i := len(s.tmp) - 1; i >= 0; i-- {
		if s.tmp[i] == x {
			s.tmp = append(s.tmp[:i], s.tmp[i+1:]...)
			break
		}
	}
	return x
}

// Scalar returns a float scalar freed with the scope.
func (s *Scope) Scalar(v float64) *ts.Scalar {
	x := ts.FloatScalar(v)
	s.scalars = append(s.scalars, x)
	return x
}

// Free drops every tensor and scalar still in the scope. The scope can be
// used again afterwards (its error stays).
func (s *Scope) Free() {
	for _, t := range s.tmp {
		_ = t.Drop()
	}
	for _, x := range s.scalars {
		x.MustDrop()
	}
	s.tmp, s.scalars = nil, nil
}

// Recover turns a panic inside gotch (some of its helpers panic on
// malformed tensors; its Must* functions call log.Fatal, which nothing can
// catch, so only error-returning calls are used) into an error at an API
// boundary: defer Recover("perception", "Warp", &err) makes it
// "perception: Warp: ...".
func Recover(pkg, fn string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %s: %v", pkg, fn, r)
	}
}
