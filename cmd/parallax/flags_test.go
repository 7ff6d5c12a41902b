package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden --help files")

// TestFlagsAnywhere: flags before or after the positional arguments,
// `--` ending the flags, one-letter spellings, deprecated spellings with a
// note, and a typo answered with the nearest flag.
func TestFlagsAnywhere(t *testing.T) {
	mk := func() (*cmdFlags, *bytes.Buffer, *string, *float64, *bool) {
		var errb bytes.Buffer
		fs := newFlags("test", "ARG...", &errb)
		out := fs.String("out", "", "output")
		fs.short("o", "out")
		rate := fs.Float64("rate", 1, "rate")
		fs.deprecate("speed", "rate")
		loop := fs.Bool("loop", false, "loop")
		return fs, &errb, out, rate, loop
	}
	for _, tc := range []struct {
		args []string
		pos  []string
		out  string
		rate float64
		loop bool
		note string
	}{
		{[]string{"a.mcap", "--rate", "0"}, []string{"a.mcap"}, "", 0, false, ""},
		{[]string{"--rate=2", "a", "b", "--loop"}, []string{"a", "b"}, "", 2, true, ""},
		{[]string{"a", "-o", "x.mcap", "b"}, []string{"a", "b"}, "x.mcap", 1, false, ""},
		{[]string{"--out", "y", "--", "--rate", "-o"}, []string{"--rate", "-o"}, "y", 1, false, ""},
		{[]string{"a", "--speed", "3"}, []string{"a"}, "", 3, false, "--speed is deprecated and will go: use --rate"},
	} {
		fs, errb, out, rate, loop := mk()
		if err := fs.parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if strings.Join(fs.Args(), ",") != strings.Join(tc.pos, ",") || *out != tc.out || *rate != tc.rate || *loop != tc.loop {
			t.Errorf("%v: args %q out %q rate %g loop %v", tc.args, fs.Args(), *out, *rate, *loop)
		}
		if !strings.Contains(errb.String(), tc.note) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errb.String(), tc.note)
		}
		if tc.note != "" && !fs.set()["rate"] {
			t.Errorf("%v: the deprecated spelling does not count as --rate", tc.args)
		}
	}
	fs, errb, _, _, _ := mk()
	if err := fs.parse([]string{"a", "--rtae", "2"}); !errors.Is(err, errUsage) || !strings.Contains(errb.String(), "unknown flag --rtae: did you mean --rate?") {
		t.Errorf("typo: %v, %q", err, errb.String())
	}
	fs, errb, _, _, _ = mk()
	if err := fs.parse([]string{"a", "--out"}); !errors.Is(err, errUsage) || !strings.Contains(errb.String(), "--out needs a value") {
		t.Errorf("missing value: %v, %q", err, errb.String())
	}
}

// TestHelpGolden: every command's --help, compared with
// testdata/help/<command>.golden (go test ./cmd/parallax -run TestHelpGolden
// -update rewrites them). Each ends with real examples.
func TestHelpGolden(t *testing.T) {
	for _, c := range commands() {
		var out, errb bytes.Buffer
		err := dispatch(context.Background(), append(strings.Fields(c.name), "--help"), &out, &errb)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s --help: %v", c.name, err)
			continue
		}
		got := errb.String()
		if !strings.Contains(got, "\nExamples:\n  parallax "+c.name) {
			t.Errorf("%s --help has no examples:\n%s", c.name, got)
		}
		path := filepath.Join("testdata", "help", strings.ReplaceAll(c.name, " ", "_")+".golden")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to write it)", err)
		}
		if got != string(want) {
			t.Errorf("%s --help differs from %s (run with -update if the change is meant):\n%s", c.name, path, got)
		}
	}
}

// TestVersion: the version names the libtorch the process runs on.
func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if err := dispatch(context.Background(), []string{"version"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	for _, want := range []string{"parallax ", "go       go1.", "libtorch ", "libtorch_cpu", "device   "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCompletion: the scripts name every command and its flags, and bash
// accepts the bash one.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		var out, errb bytes.Buffer
		if err := dispatch(context.Background(), []string{"completion", shell}, &out, &errb); err != nil {
			t.Fatal(err, errb.String())
		}
		s := out.String()
		for _, want := range []string{`"replay") COMPREPLY=($(compgen -W "--adapt --end`, "--rate", `"camera probe"`, "complete -o filenames -F _parallax parallax"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s completion lacks %q", shell, want)
			}
		}
		if shell == "bash" {
			script := filepath.Join(t.TempDir(), "c.bash")
			os.WriteFile(script, out.Bytes(), 0o644)
			cmd := []string{"-c", "source " + script + " && COMP_WORDS=(parallax replay --ra) && COMP_CWORD=2 && _parallax && echo ${COMPREPLY[@]}"}
			b, err := execCommand(10*time.Second, "bash", cmd...)
			if err != nil || strings.TrimSpace(string(b)) != "--rate" {
				t.Errorf("bash completes 'parallax replay --ra' to %q (%v)", b, err)
			}
		}
	}
	var errb bytes.Buffer
	if err := dispatch(context.Background(), []string{"completion", "fish"}, &bytes.Buffer{}, &errb); !errors.Is(err, errUsage) {
		t.Errorf("fish: %v", err)
	}
}

// execCommand runs a program with a timeout and returns its output.
func execCommand(timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// TestExamplesParse: every command line the README shows (code blocks and
// inline code) and every --help example uses flags its command knows, in
// their current spelling, flags after arguments included.
func TestExamplesParse(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	text := strings.ReplaceAll(string(readme), "\\\n", " ")
	for _, l := range strings.Split(text, "\n") {
		for _, prefix := range []string{"go run ./cmd/parallax ", "$ parallax ", "`parallax "} {
			for rest := l; ; {
				i := strings.Index(rest, prefix)
				if i < 0 {
					break
				}
				rest = rest[i+len(prefix):]
				cmd := rest
				if strings.HasPrefix(prefix, "`") {
					cmd, _, _ = strings.Cut(rest, "`")
				}
				lines = append(lines, "README: "+cmd)
			}
		}
	}
	for _, c := range commands() {
		var got *cmdFlags
		collectFlags = func(f *cmdFlags) { got = f }
		c.run(context.Background(), []string{"--help"}, io.Discard, io.Discard)
		collectFlags = nil
		for _, e := range got.examples {
			if strings.ContainsAny(e, "<>|") {
				continue // shell redirection in an example
			}
			lines = append(lines, "help of "+c.name+": "+strings.TrimPrefix(e, "parallax "))
		}
	}
	checked := 0
	for _, l := range lines {
		where, cmdline, _ := strings.Cut(l, ": ")
		words, err := shellWords(cmdline)
		if err != nil || len(words) == 0 {
			continue
		}
		var cmd *command
		for _, c := range commands() {
			w := strings.Fields(c.name)
			if len(words) >= len(w) && strings.Join(words[:len(w)], " ") == c.name && (cmd == nil || len(c.name) > len(cmd.name)) {
				c := c
				cmd = &c
			}
		}
		if cmd == nil {
			continue // prose such as `parallax train/eval --source`
		}
		args := words[len(strings.Fields(cmd.name)):]
		var got *cmdFlags
		collectFlags = func(f *cmdFlags) { got = f }
		cmd.run(context.Background(), []string{"--help"}, io.Discard, io.Discard)
		collectFlags = nil
		var errb bytes.Buffer
		got.stderr = &errb
		if err := got.parse(args); err != nil || errb.Len() > 0 {
			t.Errorf("%s: parallax %s: %v %s", where, cmdline, err, errb.String())
		}
		checked++
	}
	if checked < 30 {
		t.Errorf("only %d example command lines found", checked)
	}
	t.Logf("%d example command lines parse", checked)
}

// shellWords splits a command line as a POSIX shell would for the simple
// quoting the examples use: single and double quotes, backslash escapes.
func shellWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false
	var quote rune
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
