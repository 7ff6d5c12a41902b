package msgs

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestParallaxV1Compatible guards the versioned contract: every message,
// field (name, number, type, cardinality) and enum value of parallax.v1 in
// testdata/parallax_v1.golden must still exist unchanged. Additions are fine
// and recorded with -update; a removal or change is a breaking change that
// belongs in a new package, parallax.v2.
func TestParallaxV1Compatible(t *testing.T) {
	files := []protoreflect.FileDescriptor{
		parallaxv1.File_parallax_v1_diagnostics_proto,
		parallaxv1.File_parallax_v1_learner_stats_proto,
		parallaxv1.File_parallax_v1_odometry_proto,
		parallaxv1.File_parallax_v1_scene_flow_proto,
	}
	var lines []string
	for _, fd := range files {
		if fd.Package() != "parallax.v1" {
			t.Errorf("%s is in package %s, want parallax.v1", fd.Path(), fd.Package())
		}
		lines = append(lines, describeMessages(fd.Messages())...)
		lines = append(lines, describeEnums(fd.Enums())...)
	}
	slices.Sort(lines)
	golden := filepath.Join("testdata", "parallax_v1.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with go test ./msgs -run Compatible -update)", err)
	}
	want := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("breaking change to parallax.v1: %q is gone or changed; keep it, or start parallax.v2", w)
		}
	}
	for _, l := range lines {
		if !slices.Contains(want, l) {
			t.Errorf("%q is new: record it with go test ./msgs -run Compatible -update", l)
		}
	}
}

func describeMessages(ms protoreflect.MessageDescriptors) []string {
	var out []string
	for i := 0; i < ms.Len(); i++ {
		m := ms.Get(i)
		out = append(out, fmt.Sprintf("message %s", m.FullName()))
		for j := 0; j < m.Fields().Len(); j++ {
			f := m.Fields().Get(j)
			typ := f.Kind().String()
			switch {
			case f.Message() != nil:
				typ = string(f.Message().FullName())
			case f.Enum() != nil:
				typ = string(f.Enum().FullName())
			}
			out = append(out, fmt.Sprintf("field %s = %d %s %s", f.FullName(), f.Number(), f.Cardinality(), typ))
		}
		out = append(out, describeMessages(m.Messages())...)
		out = append(out, describeEnums(m.Enums())...)
	}
	return out
}

func describeEnums(es protoreflect.EnumDescriptors) []string {
	var out []string
	for i := 0; i < es.Len(); i++ {
		e := es.Get(i)
		for j := 0; j < e.Values().Len(); j++ {
			v := e.Values().Get(j)
			out = append(out, fmt.Sprintf("enum %s %s = %d", e.FullName(), v.Name(), v.Number()))
		}
	}
	return out
}
