package launch

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics; whatever it accepts validates, and
// Marshal writes a file that Parse reads back to the same values.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"*.yaml", "testdata/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(stereoRig))
	f.Add([]byte("cameras: [{name: c, url: synth://}]\nnats: {url: 'tls://u:p@h:4222', tls: {cert: a, key: b}}\nserve: {}\nstereo:\n"))
	f.Add([]byte("x: &a [*a]\ncameras: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if l != nil {
				t.Fatal("a Launch with an error")
			}
			_ = err.Error()
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v\n%s", err, data)
		}
		out, err := l.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		l2, err := Parse(out, "fuzz.yaml")
		if err != nil {
			t.Fatalf("re-parse of Marshal: %v\ninput:\n%s\nmarshalled:\n%s", err, data, out)
		}
		if !sameLaunch(reflect.ValueOf(*l), reflect.ValueOf(*l2)) {
			t.Fatalf("round trip changed values:\n%+v\n%+v\nmarshalled:\n%s", l, l2, out)
		}
		_ = l.String()
	})
}

// sameLaunch compares exported fields; floats may differ in the last bits
// because cx and cy pass through -0.5 and +0.5 on the way.
func sameLaunch(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameLaunch(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			if !sameLaunch(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !sameLaunch(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Float64:
		x, y := a.Float(), b.Float()
		return x == y || math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(x))
	case reflect.String:
		return a.String() == b.String()
	default:
		return a.Interface() == b.Interface()
	}
}

func BenchmarkParseDemo(b *testing.B) {
	data, err := os.ReadFile("demo.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, "demo.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseErrors(b *testing.B) {
	data, err := os.ReadFile("testdata/bad_many.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "bad_many.yaml"); err == nil {
			b.Fatal("accepted")
		}
	}
}
