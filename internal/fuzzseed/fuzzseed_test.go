package fuzzseed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryTargetHasCorpus walks the module's source for fuzz targets and
// fails for each one without a seed corpus in its package's testdata/fuzz.
func TestEveryTargetHasCorpus(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	targets, err := Targets(root)
	if err != nil {
		t.Fatal(err)
	}
	// The project has 29 targets; far fewer means the walk went wrong.
	if len(targets) < 20 {
		t.Fatalf("found %d fuzz targets under %s, want at least 20", len(targets), root)
	}
	for _, tg := range targets {
		if err := CheckCorpus(tg); err != nil {
			t.Error(err)
		}
	}
	if !t.Failed() {
		t.Logf("%d fuzz targets, each with a seed corpus", len(targets))
	}
}

func TestCheckCorpusCatches(t *testing.T) {
	dir := t.TempDir()
	tg := Target{Dir: dir, File: filepath.Join(dir, "x_test.go"), Line: 3, Name: "FuzzX"}
	if err := CheckCorpus(tg); err == nil || !strings.Contains(err.Error(), "FuzzX has no seed corpus") {
		t.Errorf("missing corpus: %v", err)
	}
	cd := filepath.Join(dir, "testdata", "fuzz", "FuzzX")
	if err := os.MkdirAll(cd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckCorpus(tg); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty corpus: %v", err)
	}
	if err := os.WriteFile(filepath.Join(cd, "bad"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckCorpus(tg); err == nil || !strings.Contains(err.Error(), "not a corpus file") {
		t.Errorf("bad file: %v", err)
	}
	b, _ := Marshal([]byte("x"))
	if err := os.WriteFile(filepath.Join(cd, "bad"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckCorpus(tg); err != nil {
		t.Errorf("good corpus: %v", err)
	}
}

func TestTargetsFindsFuzzFunctions(t *testing.T) {
	dir := t.TempDir()
	src := "package p\n\nimport \"testing\"\n\nfunc FuzzA(f *testing.F) {}\n\n// func FuzzB(f *testing.F) in a comment\nfunc FuzzC(ff *testing.F) {}\nfunc Fuzzy() {}\n"
	if err := os.WriteFile(filepath.Join(dir, "p_test.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "third_party"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "third_party", "q_test.go"), []byte("func FuzzQ(f *testing.F) {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Targets(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range got {
		names = append(names, tg.Name)
	}
	if strings.Join(names, ",") != "FuzzA,FuzzC" {
		t.Errorf("targets %v, want FuzzA, FuzzC", names)
	}
}

// TestMarshalLikeGo checks the encoding against corpus lines go test
// itself writes.
func TestMarshalLikeGo(t *testing.T) {
	b, err := Marshal([]byte("a\x00\""), "s\n", uint32(7), 1.5, byte(2), true, int(-3))
	if err != nil {
		t.Fatal(err)
	}
	want := Header + "\n[]byte(\"a\\x00\\\"\")\nstring(\"s\\n\")\nuint32(7)\nfloat64(1.5)\nbyte('\\x02')\nbool(true)\nint(-3)\n"
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	if _, err := Marshal(struct{}{}); err == nil {
		t.Error("a struct accepted")
	}
}
