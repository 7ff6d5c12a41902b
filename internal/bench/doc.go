// Package bench is the harness behind `parallax bench`: it measures, on
// the device the node would use, depth inference at each size, adaptation
// steps of each batch size (learner.Fit on a cached synthetic drive), both
// at once on two workers as the live node runs them (flat out, and with
// depth paced like a camera), and the whole node (actors.Node) on a
// synth:// stereo camera with adaptation on. Run returns a Report, whose
// JSON form is what `parallax bench --json` prints and gpubundle/run.sh
// collects.
package bench
