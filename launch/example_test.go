package launch_test

import (
	"fmt"

	"github.com/parallax-robotics/parallax/launch"
)

func ExampleParse() {
	l, err := launch.Parse([]byte(`
cameras:
  - name: front
    url: rtsp://admin:secret@192.168.1.64/stream
    calibration: calib/front.yaml
`), "robot.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l.Cameras[0], l.Cameras[0].Transport, l.Resolve(l.Cameras[0].Calibration))
	// Output: front (mono) rtsp://admin:xxxxx@192.168.1.64/stream tcp calib/front.yaml
}

func ExampleParse_errors() {
	_, err := launch.Parse([]byte(`
cameras:
  - name: front
    url: rtsp://admin:secret@192.168.1.64/stream
    trasport: udp
  - name: front
    url: http://192.168.1.65/stream
model:
  width: 300
`), "robot.yaml")
	fmt.Println(err)
	// Output:
	// launch: robot.yaml:3: cameras[0]: an rtsp:// camera needs intrinsics or calibration: the stream does not carry its camera model
	// launch: robot.yaml:5: cameras[0]: unknown key "trasport" (did you mean "transport"?)
	// launch: robot.yaml:6: cameras[1].name: "front" is already the name of cameras[0] (line 3)
	// launch: robot.yaml:7: cameras[1].url: scheme "http" is not one of kitti, mcap, rtsp, rtsps, synth
	// launch: robot.yaml:9: model.width: 300 is not a multiple of 32
}

func ExampleLaunch_CheckFiles() {
	l, err := launch.Load("robot.example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	// The example names files that exist only on the robot.
	err = l.CheckFiles()
	fmt.Println(err != nil)
	// Output: true
}
