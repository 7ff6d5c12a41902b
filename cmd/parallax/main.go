package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand: its flags are parsed by run itself, so that each
// command owns its flag set and its usage text.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run the node of a launch file: parallax run -f launch.yaml", runRun},
		{"sub", "subscribe to a subject and print each message decoded: parallax sub 'parallax.>'", runSub},
		{"demo", "run the pipeline on the built-in synthetic stereo camera and embedded NATS", runDemo},
		{"camera serve", "serve the synthetic camera over RTSP as H.264", runCameraServe},
		{"camera probe", "read a camera: codec, size, fps, decode time; --snapshot saves a PNG", runCameraProbe},
		{"eval", "score a checkpoint's depth and pose on a drive with ground truth (synth://, mcap://, kitti://)", runEval},
		{"depth", "depth on image files: SGBM on a stereo pair or the network on one image; writes disparity and depth PFM and a preview", runDepth},
		{"eval stereo", "score SGBM (or mono) on a stereo benchmark folder (KITTI, Middlebury, left/ right/ disp/): EPE, bad-1/2/3, D1-all", runEvalStereo},
		{"record", "record a launch's cameras and outputs (-f launch.yaml) or a node's topics (--nats URL) into MCAP", runRecord},
		{"record info", "describe a recording: channels, message counts, duration, schemas", runRecordInfo},
		{"record recover", "rebuild the index of a recording cut short (crash, power loss)", runRecordRecover},
		{"replay", "run the node on a recorded drive: parallax replay mcap://drive.mcap | kitti://FOLDER --rate 1", runReplay},
		{"train", "train depth and pose self-supervised: parallax train --source synth://?stereo=1 --mode stereo --out CKPT", runTrain},
		{"pretrain", "pre-train the depth encoder on unlabeled frames: parallax pretrain --source SOURCE --method simclr --steps N --out CKPT", runPretrain},
		{"calibrate", "calibrate a camera or stereo pair from chessboard images or RTSP cameras: writes ROS or OpenCV calibration files", runCalibrate},
		{"model push", "store a checkpoint in the fleet's JetStream model registry: parallax model push FAMILY CKPT", runModelPush},
		{"model pull", "fetch a model version (digest-checked): parallax model pull FAMILY [VERSION] -o CKPT", runModelPull},
		{"model list", "list model families, a family's versions, or its promotion history (--history)", runModelList},
		{"model promote", "make a version the one every node of the family validates and serves", runModelPromote},
		{"model rollback", "point a family back at the version it served before the current one", runModelRollback},
		{"fleet-train", "train the fleet's shared model off board on the robots' samples (JetStream) and promote versions that beat the current one", runFleetTrain},
		{"bench", "measure depth inference, adaptation steps, both at once and the node on this computer's CPU or GPU", runBench},
		{"version", "print the version, commit, libtorch and device of this binary", runVersion},
		{"completion", "print a shell completion script: parallax completion bash|zsh", runCompletion},
	}
}

// errUsage marks an error whose usage text has already been printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "parallax:", err)
		os.Exit(1)
	}
}

// dispatch finds the longest command name that prefixes args and runs it.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return dispatch(ctx, append(args[1:], "-h"), stdout, stderr)
		}
		usage(stdout)
		return nil
	}
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return len(cmds[i].name) > len(cmds[j].name) })
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(ctx, args[len(words):], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "parallax: unknown command %q\n\n", strings.Join(args, " "))
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Parallax: a self-supervised perception node for robots.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: parallax COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'parallax help COMMAND' for a command's flags.")
}

// parseFlags parses args with fs (flags anywhere; see cmdFlags.parse).
func parseFlags(fs *cmdFlags, args []string) error { return fs.parse(args) }
