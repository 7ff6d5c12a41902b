package calibration

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors of the readers, writers and models. Reader problems are *Error
// values (file, line, field) wrapping one of these; test with errors.Is.
var (
	// ErrSyntax reports text that is not the file's format (bad YAML, XML,
	// a KITTI line that is not "key: values").
	ErrSyntax = errors.New("calibration: syntax error")
	// ErrFormat reports a file whose format cannot be told from its content
	// or extension, or that holds none of the layouts this package reads.
	ErrFormat = errors.New("calibration: unknown format")
	// ErrMissing reports a field the layout needs that is absent.
	ErrMissing = errors.New("calibration: missing field")
	// ErrInvalid reports a value of the wrong shape or out of range (a
	// camera matrix with 8 values, a negative focal length, a rotation that
	// is not one).
	ErrInvalid = errors.New("calibration: invalid value")
	// ErrUnsupported reports a camera or distortion model this package
	// does not implement (Kalibr's omni, OpenCV's thin-prism terms).
	ErrUnsupported = errors.New("calibration: unsupported model")
	// ErrCameras reports a file with the wrong number of cameras for the
	// use: a stereo file given for one camera, a mono file for a pair.
	ErrCameras = errors.New("calibration: wrong number of cameras")
	// ErrSize reports image sizes that do not agree (a rectified pair of two
	// sizes, frames of another aspect ratio than the calibration).
	ErrSize = errors.New("calibration: image size mismatch")
)

// Error is one problem in a calibration file: where it is and what is
// wrong. Its message reads "calibration: FILE:LINE: FIELD: MSG".
type Error struct {
	// File is the file's name as given to the reader ("" for a reader).
	File string
	// Line is the 1-based line of the field, 0 when unknown (a missing
	// field of a format without lines, a whole-file problem).
	Line int
	// Field is the path of the field ("camera_matrix.data", "cam1.T_cn_cnm1",
	// "P_rect_02"); "" for the file as a whole.
	Field string
	// Msg says what is wrong.
	Msg string
	// Err is the sentinel (ErrMissing, ErrInvalid, ...).
	Err error
}

// Error formats the problem.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("calibration: ")
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// errAt makes an *Error.
func errAt(file string, line int, field string, sentinel error, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// withFile fills the file (and, when unset, line and field) of err's
// *Error, or wraps a plain error as one: model checks run without knowing
// where their values came from.
func withFile(err error, file string, line int, field string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.File == "" {
			c.File = file
		}
		if c.Line == 0 {
			c.Line = line
		}
		if c.Field == "" {
			c.Field = field
		} else if field != "" && !strings.HasPrefix(c.Field, field) {
			c.Field = field + "." + c.Field
		}
		return &c
	}
	return &Error{File: file, Line: line, Field: field, Msg: err.Error(), Err: ErrInvalid}
}

func asError(err error, target **Error) bool { return errors.As(err, target) }
