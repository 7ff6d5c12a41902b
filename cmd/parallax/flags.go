package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parallax-robotics/parallax/launch"
)

// The command line's flag handling, one small layer over the standard
// flag package rather than a CLI library: each command keeps declaring its
// flags as it always did (fs.String, fs.Duration, ...), and this adds what
// robotics users expect from ros2 or ffmpeg: flags before or after the
// positional arguments (`parallax replay drive.mcap --rate 0`), `--` to end
// the flags, one-letter spellings (-o for --out), old spellings that keep
// working with a deprecation note, the nearest known flag for a typo, and
// --help that ends with real examples. cobra or kong would bring the same
// at the cost of a second way to declare flags across a dozen commands;
// this is about 200 lines.

// cmdFlags is one command's flag set.
type cmdFlags struct {
	*flag.FlagSet
	name, synopsis string
	examples       []string
	stderr         io.Writer
	deprecated     map[string]string // old spelling -> flag name
	shorts         map[string]string // one-letter spelling -> flag name
	positional     []string
}

// newFlags returns the flag set of command name: its usage line shows
// synopsis, and --help ends with the examples.
func newFlags(name, synopsis string, stderr io.Writer, examples ...string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed by parse and usage
	f := &cmdFlags{FlagSet: fs, name: name, synopsis: synopsis, examples: examples, stderr: stderr,
		deprecated: map[string]string{}, shorts: map[string]string{}}
	// The flag package calls Usage on every error: parse prints what it
	// wants itself (the usage only for --help).
	fs.Usage = func() {}
	if collectFlags != nil {
		collectFlags(f)
	}
	return f
}

// deprecate makes old another spelling of the flag name: it sets the same
// value and prints a note saying what to type instead.
func (f *cmdFlags) deprecate(old, name string) {
	fl := f.Lookup(name)
	if fl == nil {
		panic("parallax: deprecate " + old + ": no flag " + name)
	}
	f.Var(fl.Value, old, "deprecated: use --"+name)
	f.deprecated[old] = name
}

// short adds a one-letter spelling of the flag name (-o for --out).
func (f *cmdFlags) short(s, name string) {
	fl := f.Lookup(name)
	if fl == nil {
		panic("parallax: short -" + s + ": no flag " + name)
	}
	f.Var(fl.Value, s, "")
	f.shorts[s] = name
}

// parse reads args: flags anywhere, positional arguments collected in
// order (Args), everything after "--" positional. An unknown flag names the
// nearest known one; a deprecated spelling prints a note.
func (f *cmdFlags) parse(args []string) error {
	f.positional = nil
	for len(args) > 0 {
		if err := f.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.usage()
				return err
			}
			fmt.Fprintf(f.stderr, "parallax %s: %s\n", f.name, f.explain(err))
			fmt.Fprintf(f.stderr, "Run 'parallax %s --help' for its flags and examples.\n", f.name)
			return errUsage
		}
		rest := f.FlagSet.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			f.positional = append(f.positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		f.positional = append(f.positional, rest[0])
		args = rest[1:]
	}
	f.Visit(func(fl *flag.Flag) {
		if name, ok := f.deprecated[fl.Name]; ok {
			fmt.Fprintf(f.stderr, "parallax %s: --%s is deprecated and will go: use --%s\n", f.name, fl.Name, name)
		}
	})
	return nil
}

// explain turns the flag package's errors into ones that say what to type.
func (f *cmdFlags) explain(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var known []string
		f.VisitAll(func(fl *flag.Flag) {
			if _, dep := f.deprecated[fl.Name]; !dep {
				known = append(known, fl.Name)
			}
		})
		if best := launch.Nearest(name, known); best != "" {
			return fmt.Sprintf("unknown flag --%s: did you mean --%s?", name, best)
		}
		return fmt.Sprintf("unknown flag --%s", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Sprintf("flag %s needs a value (%s VALUE or %s=VALUE)", dashes(strings.TrimLeft(name, "-")), dashes(strings.TrimLeft(name, "-")), dashes(strings.TrimLeft(name, "-")))
	}
	return msg
}

// dashes spells a flag as the help shows it: -o, --out.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// Args returns the positional arguments.
func (f *cmdFlags) Args() []string { return f.positional }

// NArg is the number of positional arguments.
func (f *cmdFlags) NArg() int { return len(f.positional) }

// Arg returns positional argument i, "" when there is none.
func (f *cmdFlags) Arg(i int) string {
	if i < 0 || i >= len(f.positional) {
		return ""
	}
	return f.positional[i]
}

// set reports which flags the command line set, by their flag names (a
// deprecated or one-letter spelling counts as its flag).
func (f *cmdFlags) set() map[string]bool {
	out := map[string]bool{}
	f.Visit(func(fl *flag.Flag) {
		name := fl.Name
		if n, ok := f.deprecated[name]; ok {
			name = n
		}
		if n, ok := f.shorts[name]; ok {
			name = n
		}
		out[name] = true
	})
	return out
}

// usage prints the usage line, every flag (one-letter spellings beside
// their long ones, deprecated spellings left out), and the examples.
func (f *cmdFlags) usage() {
	w := f.stderr
	fmt.Fprintf(w, "Usage: parallax %s %s\n", f.name, f.synopsis)
	short := map[string]string{}
	for s, n := range f.shorts {
		short[n] = s
	}
	var lines [][2]string
	f.VisitAll(func(fl *flag.Flag) {
		if _, dep := f.deprecated[fl.Name]; dep {
			return
		}
		if _, sh := f.shorts[fl.Name]; sh {
			return
		}
		typ, text := flag.UnquoteUsage(fl)
		spell := "    " + dashes(fl.Name)
		if s, ok := short[fl.Name]; ok {
			spell = "-" + s + ", --" + fl.Name
		}
		if typ != "" {
			spell += " " + typ
		}
		if d := fl.DefValue; d != "" && d != "0" && d != "false" && d != "0s" {
			text += fmt.Sprintf(" (default %s)", d)
		}
		lines = append(lines, [2]string{spell, text})
	})
	sort.Slice(lines, func(i, j int) bool { return strings.TrimLeft(lines[i][0], " -") < strings.TrimLeft(lines[j][0], " -") })
	if len(lines) > 0 {
		fmt.Fprintln(w, "\nFlags (before or after the arguments; -- ends them):")
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n        %s\n", l[0], l[1])
		}
	}
	if len(f.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range f.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// flagNames lists a command's flag spellings for shell completion.
func (f *cmdFlags) flagNames() []string {
	var out []string
	f.VisitAll(func(fl *flag.Flag) {
		if _, dep := f.deprecated[fl.Name]; !dep {
			out = append(out, dashes(fl.Name))
		}
	})
	sort.Strings(out)
	return out
}

// nodeFlags are the flags every command that runs a node shares: where it
// publishes (--nats, --listen, --ns) and which weights it starts from
// (--model). Given, they override the launch file.
type nodeFlags struct {
	nats, listen, ns, model *string
}

// addNodeFlags registers the shared node flags; what says what the
// defaults are ("the launch file's") and model what --model's is.
func addNodeFlags(fs *cmdFlags, what, model string) *nodeFlags {
	return &nodeFlags{
		nats:   fs.String("nats", "", "publish to this external NATS server, nats://[user:pass@]host:4222 (default: "+what+")"),
		listen: fs.String("listen", "", "address of the embedded NATS server, host:port, port 0 for a free one (default: "+what+")"),
		ns:     fs.String("ns", "", "namespace of the subjects (default: "+what+")"),
		model:  fs.String("model", "", "checkpoint the networks start from (default: "+model+")"),
	}
}

// apply writes the given node flags into l and checks the result.
func (n *nodeFlags) apply(l *launch.Launch, set map[string]bool) error {
	if set["nats"] {
		l.NATS.URL = *n.nats
	}
	if set["listen"] {
		l.NATS.URL = ""
		l.NATS.Embedded.Listen = *n.listen
	}
	if set["ns"] {
		l.Namespace = *n.ns
	}
	if set["model"] {
		// Relative to where the user typed it, not to the launch file.
		p, err := filepath.Abs(*n.model)
		if err != nil {
			return err
		}
		l.Model.Checkpoint = p
	}
	return l.Validate()
}
