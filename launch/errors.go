package launch

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Errors of Parse, Validate and CheckFiles. Each problem is an *Error that
// wraps one of these; the error returned joins them (errors.Join), so test
// with errors.Is and errors.As.
var (
	// ErrSyntax reports text that is not YAML, or more than one document.
	ErrSyntax = errors.New("launch: YAML syntax error")
	// ErrUnknownKey reports a key the schema does not have (often a typo).
	ErrUnknownKey = errors.New("launch: unknown key")
	// ErrDuplicateKey reports a key given twice in one mapping.
	ErrDuplicateKey = errors.New("launch: duplicate key")
	// ErrType reports a value of the wrong YAML type (a list for a number).
	ErrType = errors.New("launch: wrong type")
	// ErrInvalid reports a value outside its range or set of choices.
	ErrInvalid = errors.New("launch: invalid value")
	// ErrMissing reports a required key that is absent.
	ErrMissing = errors.New("launch: missing value")
	// ErrConflict reports values that are fine alone but not together.
	ErrConflict = errors.New("launch: conflicting values")
	// ErrFile reports a file named in the launch file that cannot be used.
	ErrFile = errors.New("launch: file not usable")
)

// maxErrors caps how many problems one Parse reports: a file that is not a
// launch file at all (or a fuzzer's) should not produce megabytes of errors.
const maxErrors = 50

// Error is one problem in a launch file.
type Error struct {
	// File is the name given to Parse or Load; empty for a Launch built in code.
	File string
	// Line is the 1-based line of the offending key or value; 0 when unknown.
	Line int
	// Key is the path of the offending key, e.g. "cameras[1].transport";
	// empty for the document as a whole.
	Key string
	// Msg says what is wrong. It never holds a secret.
	Msg string
	// Err is the sentinel (ErrInvalid, ...).
	Err error
	// Cause is the underlying error, if any (e.g. a msgs validation error).
	Cause error
}

// Error formats the problem as "launch: file:line: key: msg".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("launch: ")
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// problems collects Errors for one file.
type problems struct {
	file  string
	lines map[string]int
	list  []*Error
	// dropped counts problems not recorded once maxCollected were.
	dropped int
	// bad marks keys whose value failed to decode, so Validate does not
	// report them a second time (as missing, say).
	bad map[string]bool
}

func (p *problems) record(e *Error) *Error {
	if len(p.list) >= maxCollected {
		p.dropped++
		return e
	}
	p.list = append(p.list, e)
	return e
}

// add records a problem at key; the line is that of key or, when key has no
// line of its own (a missing key), of the nearest enclosing section.
func (p *problems) add(sentinel error, key, format string, args ...any) *Error {
	return p.record(&Error{File: p.file, Line: lineOf(p.lines, key), Key: key, Msg: fmt.Sprintf(format, args...), Err: sentinel})
}

// at records a problem at an explicit line.
func (p *problems) at(line int, sentinel error, key, format string, args ...any) *Error {
	return p.record(&Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...), Err: sentinel})
}

// err joins the problems, sorted by line then key, capped at maxErrors.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Key, b.Key)
	})
	list := p.list
	var errs []error
	if len(list) > maxErrors || p.dropped > 0 {
		n := min(len(list), maxErrors)
		extra := len(list) - n + p.dropped
		list = list[:n]
		for _, e := range list {
			errs = append(errs, e)
		}
		errs = append(errs, &Error{File: p.file, Msg: fmt.Sprintf("%d more problems not shown", extra), Err: list[0].Err})
		return errors.Join(errs...)
	}
	for _, e := range list {
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// lineOf returns the line of key, or of its closest ancestor that has one.
func lineOf(lines map[string]int, key string) int {
	for key != "" {
		if n, ok := lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}
