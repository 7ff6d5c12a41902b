package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// collectFlags, when set, receives every command's flag set as it is made:
// completion runs each command with --help to learn its flags from the
// command itself, so the scripts never drift from the flags.
var collectFlags func(*cmdFlags)

// commandFlags returns each command's flag spellings.
func commandFlags() map[string][]string {
	out := map[string][]string{}
	for _, c := range commands() {
		var got *cmdFlags
		collectFlags = func(f *cmdFlags) { got = f }
		err := c.run(context.Background(), []string{"--help"}, io.Discard, io.Discard)
		collectFlags = nil
		if got != nil && errors.Is(err, flag.ErrHelp) {
			out[c.name] = got.flagNames()
		}
	}
	return out
}

// runCompletion prints a shell completion script for bash or zsh.
func runCompletion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("completion", "bash|zsh", stderr,
		"parallax completion bash > /etc/bash_completion.d/parallax",
		"source <(parallax completion bash)",
		"parallax completion zsh > \"${fpath[1]}/_parallax\"")
	shell, err := oneArg(fs, args, "the shell: bash or zsh")
	if err != nil {
		return err
	}
	flags := commandFlags()
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	switch shell {
	case "bash":
		writeBash(stdout, names, flags)
	case "zsh":
		fmt.Fprintln(stdout, "#compdef parallax")
		fmt.Fprintln(stdout, "autoload -U +X bashcompinit && bashcompinit")
		writeBash(stdout, names, flags)
	default:
		fmt.Fprintf(stderr, "parallax completion: %q: want bash or zsh\n", shell)
		return errUsage
	}
	return nil
}

// writeBash writes a bash completion function: the first words complete to
// commands (two-word ones too: camera serve, record info), then to the
// command's flags; files complete otherwise.
func writeBash(w io.Writer, names []string, flags map[string][]string) {
	top := map[string]bool{}
	for _, n := range names {
		top[strings.Fields(n)[0]] = true
	}
	var first []string
	for n := range top {
		first = append(first, n)
	}
	sort.Strings(first)
	fmt.Fprintln(w, "# parallax completion for bash (parallax completion bash)")
	fmt.Fprintln(w, "_parallax() {")
	fmt.Fprintln(w, `	local cur="${COMP_WORDS[COMP_CWORD]}" cmd="${COMP_WORDS[1]}" sub="${COMP_WORDS[2]}"`)
	fmt.Fprintf(w, "	if [[ $COMP_CWORD -eq 1 ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(first, " "))
	fmt.Fprintln(w, `	case "$cmd $sub" in`)
	for _, n := range names {
		if f := strings.Fields(n); len(f) == 2 {
			fmt.Fprintf(w, "	%q) cmd=%q ;;\n", n, n)
		}
	}
	fmt.Fprintln(w, "	esac")
	// Second words of two-word commands.
	subs := map[string][]string{}
	for _, n := range names {
		if f := strings.Fields(n); len(f) == 2 {
			subs[f[0]] = append(subs[f[0]], f[1])
		}
	}
	fmt.Fprintln(w, `	if [[ $COMP_CWORD -eq 2 && "$cur" != -* ]]; then`)
	fmt.Fprintln(w, `		case "$cmd" in`)
	for _, k := range sortedKeys(subs) {
		fmt.Fprintf(w, "		%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); [[ ${#COMPREPLY[@]} -gt 0 ]] && return ;;\n", k, strings.Join(subs[k], " "))
	}
	fmt.Fprintln(w, "		esac")
	fmt.Fprintln(w, "	fi")
	fmt.Fprintln(w, `	if [[ "$cur" == -* ]]; then`)
	fmt.Fprintln(w, `		case "$cmd" in`)
	for _, n := range names {
		fmt.Fprintf(w, "		%q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", n, strings.Join(flags[n], " "))
	}
	fmt.Fprintln(w, "		esac")
	fmt.Fprintln(w, "		return")
	fmt.Fprintln(w, "	fi")
	fmt.Fprintln(w, `	COMPREPLY=($(compgen -f -- "$cur"))`)
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -o filenames -F _parallax parallax")
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
