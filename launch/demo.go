package launch

import _ "embed"

//go:embed demo.yaml
var demoYAML []byte

// Demo returns the shipped launch/demo.yaml, built into the binary so that
// `parallax demo` needs no file: the synthetic stereo camera served over
// RTSP on 127.0.0.1:8554 and an embedded NATS server on 127.0.0.1:4222.
func Demo() (*Launch, error) {
	return Parse(demoYAML, "launch/demo.yaml")
}
