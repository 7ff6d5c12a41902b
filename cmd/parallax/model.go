package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parallax-robotics/parallax/fleet"
)

// The model commands: the fleet's model registry on JetStream (package
// fleet). Each connects, does one thing, and prints what it did.

// registryFlags are the flags every model command shares.
type registryFlags struct {
	url, bucket *string
	timeout     *time.Duration
	auth        *natsAuth
}

func addRegistryFlags(fs *cmdFlags) *registryFlags {
	return &registryFlags{
		url:     fs.String("nats", nats.DefaultURL, "NATS server(s) with JetStream, comma-separated for a cluster; user:pass@ in it are used and redacted"),
		bucket:  fs.String("bucket", fleet.DefaultBucket, "the registry's JetStream bucket (Object Store and KeyValue)"),
		timeout: fs.Duration("timeout", 30*time.Second, "give up after this long"),
		auth:    addNATSAuth(fs),
	}
}

// open connects and binds the registry (create: make it when missing,
// with replicas copies).
func (r *registryFlags) open(ctx context.Context, name string, create bool, replicas int) (*fleet.Registry, *nats.Conn, context.CancelFunc, error) {
	nc, err := r.auth.connect(*r.url, "parallax "+name)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: cannot reach the NATS server at %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *r.timeout)
	var reg *fleet.Registry
	if create {
		reg, err = fleet.Open(ctx, nc, fleet.Config{Bucket: *r.bucket, Replicas: replicas})
	} else {
		reg, err = fleet.Bind(ctx, nc, *r.bucket)
	}
	if err != nil {
		cancel()
		nc.Close()
		return nil, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return reg, nc, func() { cancel(); nc.Close() }, nil
}

// operator names who moves a pointer: user@host.
func operator() string {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	return who + "@" + host
}

func runModelPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model push", "FAMILY CHECKPOINT [flags]", stderr,
		"parallax model push street runs/street.ckpt --trained-on robot7 --samples 12000 --score 0.182 --score-name abs_rel",
		"parallax model push street fleet.ckpt --promote --reason 'beats the current on the held-out drives'",
		"parallax model push street m.ckpt --nats nats://a:4222,nats://b:4222,nats://c:4222 --replicas 3")
	reg := addRegistryFlags(fs)
	trainedOn := fs.String("trained-on", "", "where it was trained: a robot, a host, a data set")
	samples := fs.Int64("samples", 0, "how many training samples it saw")
	score := fs.String("score", "", "its validation score, lower is better (a held-out error)")
	scoreName := fs.String("score-name", "", "what the score is (abs_rel, photometric)")
	parent := fs.String("parent", "", "digest of the version it was trained from")
	promote := fs.Bool("promote", false, "make it the family's current version too")
	reason := fs.String("reason", "", "why (recorded in the audit trail with --promote)")
	replicas := fs.Int("replicas", 1, "copies of the registry's buckets when this push creates them (3 on a 3-server cluster)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 2, "the family and the checkpoint file"); err != nil {
		return err
	}
	family, path := fs.Arg(0), fs.Arg(1)
	if err := fleet.CheckFamily(family); err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("model push: %w", err)
	}
	v := fleet.Version{TrainedOn: *trainedOn, Samples: *samples, ScoreName: *scoreName, Parent: *parent}
	if *score != "" {
		f, err := strconv.ParseFloat(*score, 64)
		if err != nil {
			return fmt.Errorf("model push: --score %q is not a number", *score)
		}
		v.Score = &f
	}
	r, _, done, err := reg.open(ctx, "model push", true, *replicas)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, *reg.timeout)
	defer cancel()
	start := time.Now()
	v, uploaded, err := r.Push(ctx, family, data, v)
	if err != nil {
		return fmt.Errorf("model push: %s: %w", path, err)
	}
	if uploaded {
		el := time.Since(start)
		fmt.Fprintf(stdout, "pushed %s %s (%s, %.1f MB in %.2fs)\n", family, v.Digest, v.Arch, float64(v.Size)/1e6, el.Seconds())
	} else {
		fmt.Fprintf(stdout, "%s %s is already in the registry (pushed %s)\n", family, v.Digest, v.Pushed.Format(time.RFC3339))
	}
	if *promote {
		p, err := r.Promote(ctx, family, v.Digest, operator(), *reason)
		if err != nil {
			return fmt.Errorf("model push: %w", err)
		}
		fmt.Fprintf(stdout, "promoted %s %s (revision %d)\n", family, fleet.ShortDigest(p.Digest), p.Revision)
	}
	return nil
}

func runModelPull(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model pull", "FAMILY [VERSION] -o FILE [flags]", stderr,
		"parallax model pull street -o street.ckpt",
		"parallax model pull street 3f2a9c1b -o old.ckpt")
	reg := addRegistryFlags(fs)
	out := fs.String("out", "", "where to write the checkpoint (atomically)")
	fs.short("o", "out")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 1 {
		fs.positional = append(fs.positional, "current")
	}
	if err := wantArgs(fs, 2, "the family (and optionally a version: a digest, a prefix of it, or current)"); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("model pull: --out FILE is required")
	}
	r, _, done, err := reg.open(ctx, "model pull", false, 0)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, *reg.timeout)
	defer cancel()
	family := fs.Arg(0)
	d, err := r.Resolve(ctx, family, fs.Arg(1))
	if err != nil {
		return fmt.Errorf("model pull: %w", err)
	}
	start := time.Now()
	data, v, err := r.Pull(ctx, family, d)
	if err != nil {
		return fmt.Errorf("model pull: %w", err)
	}
	el := time.Since(start)
	if err := writeAtomic(*out, data); err != nil {
		return fmt.Errorf("model pull: %w", err)
	}
	fmt.Fprintf(stdout, "pulled %s %s (%s, %.1f MB in %.2fs, digest checked) to %s\n", family, v.Digest, v.Arch, float64(len(data))/1e6, el.Seconds(), *out)
	return nil
}

// writeAtomic writes data to a temporary file beside path, fsyncs it and
// renames it over path: a crash leaves the old file or the new one.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func runModelList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model list", "[FAMILY] [flags]", stderr,
		"parallax model list",
		"parallax model list street",
		"parallax model list street --history")
	reg := addRegistryFlags(fs)
	history := fs.Bool("history", false, "print the family's promotions and rollbacks (the audit trail) instead of its versions")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return wantArgs(fs, 1, "the family")
	}
	r, _, done, err := reg.open(ctx, "model list", false, 0)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, *reg.timeout)
	defer cancel()
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	defer tw.Flush()
	if fs.NArg() == 0 {
		fams, err := r.Families(ctx)
		if err != nil {
			return fmt.Errorf("model list: %w", err)
		}
		fmt.Fprintln(tw, "FAMILY\tVERSIONS\tCURRENT")
		for _, f := range fams {
			vs, err := r.List(ctx, f)
			if err != nil {
				return fmt.Errorf("model list: %w", err)
			}
			cur := "-"
			if p, err := r.Current(ctx, f); err == nil {
				cur = fleet.ShortDigest(p.Digest)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", f, len(vs), cur)
		}
		return nil
	}
	family := fs.Arg(0)
	if *history {
		h, err := r.History(ctx, family)
		if err != nil {
			return fmt.Errorf("model list: %w", err)
		}
		fmt.Fprintln(tw, "REVISION\tAT\tACTION\tVERSION\tFROM\tBY\tREASON")
		for _, p := range h {
			from := "-"
			if p.From != "" {
				from = fleet.ShortDigest(p.From)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Revision, p.At.Format(time.RFC3339), p.Action, fleet.ShortDigest(p.Digest), from, p.By, p.Reason)
		}
		return nil
	}
	vs, err := r.List(ctx, family)
	if err != nil {
		return fmt.Errorf("model list: %w", err)
	}
	cur := ""
	if p, err := r.Current(ctx, family); err == nil {
		cur = p.Digest
	}
	fmt.Fprintln(tw, "\tVERSION\tPUSHED\tARCH\tSTEPS\tTRAINED ON\tSAMPLES\tSCORE\tMB")
	for _, v := range vs {
		mark := ""
		if v.Digest == cur {
			mark = "*"
		}
		score := "-"
		if v.Score != nil {
			score = strconv.FormatFloat(*v.Score, 'g', 4, 64)
			if v.ScoreName != "" {
				score += " " + v.ScoreName
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%.1f\n", mark, v.Short(), v.Pushed.Format(time.RFC3339), v.Arch, v.Steps,
			strings.TrimSpace(v.TrainedOn+" "), v.Samples, score, float64(v.Size)/1e6)
	}
	return nil
}

func runModelPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model promote", "FAMILY VERSION [flags]", stderr,
		"parallax model promote street 3f2a9c1b --reason 'beats v12 on every held-out drive'")
	reg := addRegistryFlags(fs)
	reason := fs.String("reason", "", "why (recorded in the audit trail)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 2, "the family and the version (a digest or a prefix of it)"); err != nil {
		return err
	}
	r, _, done, err := reg.open(ctx, "model promote", false, 0)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, *reg.timeout)
	defer cancel()
	family := fs.Arg(0)
	d, err := r.Resolve(ctx, family, fs.Arg(1))
	if err != nil {
		return fmt.Errorf("model promote: %w", err)
	}
	p, err := r.Promote(ctx, family, d, operator(), *reason)
	if err != nil {
		return fmt.Errorf("model promote: %w", err)
	}
	fmt.Fprintf(stdout, "%s now serves %s (revision %d; was %s)\n", family, fleet.ShortDigest(p.Digest), p.Revision, orNone(p.From))
	return nil
}

func runModelRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model rollback", "FAMILY [flags]", stderr,
		"parallax model rollback street --reason 'depth spikes at dusk on robot3'")
	reg := addRegistryFlags(fs)
	reason := fs.String("reason", "", "why (recorded in the audit trail)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, "the family"); err != nil {
		return err
	}
	r, _, done, err := reg.open(ctx, "model rollback", false, 0)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, *reg.timeout)
	defer cancel()
	p, err := r.Rollback(ctx, fs.Arg(0), operator(), *reason)
	if err != nil {
		return fmt.Errorf("model rollback: %w", err)
	}
	fmt.Fprintf(stdout, "%s rolled back to %s (revision %d; was %s)\n", fs.Arg(0), fleet.ShortDigest(p.Digest), p.Revision, orNone(p.From))
	return nil
}

func orNone(d string) string {
	if d == "" {
		return "none"
	}
	return fleet.ShortDigest(d)
}
