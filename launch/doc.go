// Package launch reads and checks Parallax launch files: the YAML file that
// says which cameras a node reads, how they pair into a stereo rig, which
// network runs on which device, what it publishes and where (NATS), and how
// the learner adapts online.
//
// The format follows ROS 2 image_pipeline: every parameter is snake_case and
// has a default, a range and a description, all kept in one table (Params)
// that drives both the checks and the generated PARAMETERS.md. A minimal file
// names one camera:
//
//	cameras:
//	  - name: front
//	    url: synth://
//
// Parse reports every problem it finds at once, each naming the file, the
// line and the key, sorted by line:
//
//	launch: robot.yaml:7: cameras[0]: unknown key "trasport" (did you mean "transport"?)
//	launch: robot.yaml:12: cameras[1].transport: "tcpx" is not one of tcp, udp
//
// Parse and Validate look only at the text; CheckFiles checks that the files
// the launch file names (calibrations, checkpoint, NATS credentials, TLS
// keys, recordings) exist, and reads the calibrations (Calibrations: any
// format package calibration reads, per camera or one stereo.calibration for
// the pair), whose problems name the launch file's line and key and the
// calibration file's line and field:
//
//	launch: robot.yaml:24: cameras[0].calibration: calib/left.yaml:9: camera_matrix.data: 8 values for 3 rows and 3 cols
//
// They are separate steps so a launch file written for another machine
// (robot.example.yaml) can be checked anywhere, and the run command calls
// CheckFiles before it starts anything; the node reads the calibrations
// again at start-up.
//
// Secrets (passwords in URLs, the NATS token) never appear in errors or in
// String; Marshal, which writes a file back, keeps them.
//
// launch imports msgs, calibration (the calibration files), camera (the
// registry that checks camera URLs) and yaml.v3.
package launch
