package msgs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

// protocVersionLine is the header line naming protoc's version; it is the
// only part of the output that depends on which protoc ran, so it is not
// compared.
var protocVersionLine = regexp.MustCompile(`(?m)^// \tprotoc +v.*$`)

// TestGeneratedUpToDate regenerates the Go code from the .proto files into a
// temporary directory and compares it with the committed code. It fails,
// rather than skips, without protoc: `make deps` installs it.
func TestGeneratedUpToDate(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatalf("protoc is needed to check the generated code: %v (run `make deps` or apt-get install protobuf-compiler)", err)
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "../scripts/genproto.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/genproto.sh: %v\n%s", err, b)
	}
	for _, dir := range []string{"foxglove", "parallaxv1"} {
		committed, _ := filepath.Glob(filepath.Join(dir, "*.pb.go"))
		fresh, _ := filepath.Glob(filepath.Join(out, "msgs", dir, "*.pb.go"))
		names := func(paths []string) []string {
			var n []string
			for _, p := range paths {
				n = append(n, filepath.Base(p))
			}
			sort.Strings(n)
			return n
		}
		if got, want := names(committed), names(fresh); !equalStrings(got, want) {
			t.Errorf("msgs/%s has %v, the .proto files generate %v: run go generate ./msgs", dir, got, want)
			continue
		}
		for _, p := range fresh {
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, filepath.Base(p)))
			if err != nil {
				t.Fatal(err)
			}
			got = protocVersionLine.ReplaceAll(got, nil)
			want = protocVersionLine.ReplaceAll(want, nil)
			if !bytes.Equal(got, want) {
				t.Errorf("msgs/%s/%s is stale: run go generate ./msgs", dir, filepath.Base(p))
			}
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
