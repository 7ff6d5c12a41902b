package launch

import (
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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

// FuzzRoundTrip fills a launch file's values from the fuzzer (written with
// proper YAML quoting, so they reach the checks rather than the YAML
// parser): whatever is accepted round-trips through Marshal, and String
// never shows the password or the token.
func FuzzRoundTrip(f *testing.F) {
	f.Add("parallax", "left", "rtsp://u:pw0123456789@127.0.0.1:8554/left", "tcp", 185.6, 159.5, 320, "10ms", 0.54, "nats://h:4222", "token0123456789")
	f.Add("parallax", "left", "rtsp://u:pw0123456789@127.0.0.1:99999/left", "tcpx", 185.6, 159.5, 320, "10ms", 0.54, "", "token0123456789")
	f.Add("a.b", "c", "synth://?seed=1", "", 1.0, 0.0, 32, "0s", 0.0, "", "")
	f.Add("x", "y", "mcap://a.mcap", "udp", 1e300, -1e-300, 4096, "1s", 10.0, "tls://a:1,tls://b:2", "")
	f.Fuzz(func(t *testing.T, ns, name, camURL, transport string, fx, cx float64, width int, tol string, baseline float64, natsURL, token string) {
		str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
		num := func(v float64) *yaml.Node {
			return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v, 'g', -1, 64)}
		}
		m := func(kv ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: kv} }
		cam := func(n, role string) *yaml.Node {
			c := m(str("name"), str(n), str("url"), str(camURL), str("role"), str(role),
				str("intrinsics"), m(str("width"), num(float64(width)), str("height"), num(96), str("fx"), num(fx), str("fy"), num(fx), str("cx"), num(cx), str("cy"), num(cx)))
			if transport != "" {
				c.Content = append(c.Content, str("transport"), str(transport))
			}
			return c
		}
		doc := m(str("namespace"), str(ns),
			str("cameras"), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{cam(name, "left"), cam(name+"r", "right")}},
			str("stereo"), m(str("baseline"), num(baseline), str("sync_tolerance"), str(tol)),
			str("model"), m(str("width"), num(float64(width))),
			str("nats"), m(str("url"), str(natsURL), str("token"), str(token)))
		data, err := yaml.Marshal(doc)
		if err != nil {
			return
		}
		l, err := Parse(data, "rt.yaml")
		// The secrets are the camera password and the token, when long
		// enough not to match the fixed words of a message by chance, and
		// found nowhere else in the file.
		public := ns + "\x00" + name + "\x00" + transport + "\x00" + tol + "\x00" + natsURL
		if i := strings.LastIndex(camURL, "@"); i >= 0 {
			public += "\x00" + camURL[i:]
		}
		var secrets []string
		if u, perr := url.Parse(camURL); perr == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				secrets = append(secrets, p)
			}
		}
		secrets = append(secrets, token)
		secrets = slices.DeleteFunc(secrets, func(s string) bool {
			return len(s) < 10 || strings.Contains(public, s) || strings.Count(camURL, s) > 1
		})
		if err != nil {
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error shows secret %q: %v", s, err)
				}
			}
			return
		}
		out, err := l.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		l2, err := Parse(out, "rt.yaml")
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if !sameLaunch(reflect.ValueOf(*l), reflect.ValueOf(*l2)) {
			t.Fatalf("round trip changed values:\n%s\n%s", out, l2)
		}
		s := l.String()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Fatalf("String shows secret %q:\n%s", sec, s)
			}
		}
	})
}
