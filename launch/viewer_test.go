package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestViewerSection: the viewer section is off unless given, fills its
// defaults, refuses to listen beyond loopback without TLS and a token,
// checks its colour range, and its token is a secret.
func TestViewerSection(t *testing.T) {
	const cams = "cameras: [{name: c, url: synth://}]\n"
	for _, tc := range []struct {
		name, src string
		check     func(*Launch) bool
		err       string // "" when valid; else a substring of the error
	}{
		{"absent: off", cams, func(l *Launch) bool { return l.Viewer == nil }, ""},
		{"empty section: defaults", cams + "viewer:\n", func(l *Launch) bool {
			v := l.Viewer
			return v != nil && v.Listen == "127.0.0.1:8765" && v.CloudStep == 4 && v.ImageRate == 10 && v.TLS == nil && v.DepthMin == 0
		}, ""},
		{"loopback needs nothing", cams + "viewer: {listen: 'localhost:0'}\n", nil, ""},
		{"ipv6 loopback", cams + "viewer: {listen: '[::1]:9000'}\n", nil, ""},
		{"every interface, nothing", cams + "viewer: {listen: ':8765'}\n", nil,
			`t.yaml:2: viewer.listen: :8765 is not a loopback address: a viewer reachable from the network needs viewer.tls (cert and key) and viewer.token`},
		{"network, token only", cams + "viewer: {listen: '0.0.0.0:8765', token: s3cret}\n", nil, "needs viewer.tls (cert and key), or listen"},
		{"network, tls only", cams + "viewer: {listen: '192.0.2.1:8765', tls: {cert: c.pem, key: k.pem}}\n", nil, "needs viewer.token, or listen"},
		{"network, tls and token", cams + "viewer: {listen: '0.0.0.0:8765', token: s3cret, tls: {cert: c.pem, key: k.pem}}\n",
			func(l *Launch) bool { return l.Viewer.TLS.Cert == "c.pem" && l.Viewer.Token == "s3cret" }, ""},
		{"tls without key", cams + "viewer: {tls: {cert: c.pem}}\n", nil, "viewer.tls.key: required"},
		{"fixed range", cams + "viewer: {depth_min: 1, depth_max: 40}\n", func(l *Launch) bool { return l.Viewer.DepthMax == 40 }, ""},
		{"range upside down", cams + "viewer: {depth_min: 40, depth_max: 1}\n", nil, "depth_min 40 is not below depth_max 1"},
		{"half a range", cams + "viewer: {depth_min: 2}\n", nil, "give both depth_min and depth_max"},
		{"cloud step out of range", cams + "viewer: {cloud_step: 0}\n", nil, "viewer.cloud_step: 0 is out of range"},
		{"bad listen", cams + "viewer: {listen: 8765}\n", nil, `viewer.listen: "8765" is not host:port`},
		{"unknown key", cams + "viewer: {lisen: x}\n", nil, `unknown key "lisen" (did you mean "listen"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse([]byte(tc.src), "t.yaml")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil && !tc.check(l) {
				t.Errorf("parsed %+v", l.Viewer)
			}
			// What Marshal writes parses back to the same section.
			b, err := l.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(b, "back.yaml")
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if (l.Viewer == nil) != (back.Viewer == nil) || (l.Viewer != nil && back.Viewer.Listen != l.Viewer.Listen) {
				t.Errorf("round trip changed the viewer: %+v -> %+v", l.Viewer, back.Viewer)
			}
			if l.Viewer != nil && l.Viewer.Token != "" && strings.Contains(l.String(), l.Viewer.Token) {
				t.Errorf("String shows the viewer token:\n%s", l.String())
			}
		})
	}
}

// TestViewerTLSFiles: CheckFiles looks for the viewer's certificate and key.
func TestViewerTLSFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "v.yaml")
	src := "cameras: [{name: c, url: synth://}]\nviewer:\n  tls: {cert: c.pem, key: k.pem}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = l.CheckFiles()
	if !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), "viewer.tls.key: k.pem: no such file") || strings.Contains(err.Error(), "c.pem") {
		t.Fatalf("CheckFiles: %v", err)
	}
}
