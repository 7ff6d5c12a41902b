package viewer

import (
	"encoding/json"

	"github.com/parallax-robotics/parallax/msgs"
)

// Layout returns a Foxglove layout (Studio: Layouts, Import from file)
// for rig's topics: a 3D panel (the first reference camera's point cloud,
// its camera frustum, the trajectory, in the odometry frame), the coloured
// depth and the camera image, plots of the learner's loss, live abs_rel
// and steps a second, and the diagnostics. It works on the viewer's
// WebSocket and on MCAP recordings of the same node alike (the topics keep
// their names; a recording has no viewer-only topic, depth_color, points or
// path, and those panels stay empty). viewer/foxglove-layout.json is the
// demo's (a test keeps it equal to Layout of the demo's rig); the viewer
// serves its own rig's on /layout.json.
func Layout(rig *msgs.Rig) ([]byte, error) {
	ns := string(rig.Namespace)
	ref := referenceCameras(rig)[0]
	topic := func(suffix string) string { return msgs.RecordingTopic(ns, ref, suffix) }
	stats := `"` + rig.Namespace.LearnerStats() + `"`
	plot := func(title string, paths ...map[string]any) map[string]any {
		return map[string]any{"title": title, "paths": paths, "showLegend": true, "showXAxisLabels": true,
			"showYAxisLabels": true, "isSynced": true, "xAxisVal": "timestamp"}
	}
	path := func(value, label string) map[string]any {
		return map[string]any{"value": value, "label": label, "enabled": true, "timestampMethod": "receiveTime"}
	}
	config := map[string]any{
		"3D!parallax": map[string]any{
			"followTf":   ref,
			"followMode": "follow-position",
			"scene":      map[string]any{"backgroundColor": "#101418", "transforms": map[string]any{"showLabel": true, "axisScale": 0.5}},
			"cameraState": map[string]any{"distance": 25, "perspective": true, "phi": 55, "thetaOffset": 180,
				"targetOffset": []float64{0, 0, 0}, "fovy": 45, "near": 0.1, "far": 2000},
			"topics": map[string]any{
				topic(SuffixPoints):                 map[string]any{"visible": true, "colorMode": "rgba-fields", "pointSize": 3},
				topic(msgs.KindCameraInfo.String()): map[string]any{"visible": true, "distance": 1},
				ns + "." + SuffixPath:               map[string]any{"visible": true, "type": "line", "lineWidth": 0.08, "gradient": []string{"#2a7fff", "#ffb000"}},
				rig.Namespace.Pose():                map[string]any{"visible": true, "type": "axis", "axisScale": 1},
				topic(SuffixDepthColor):             map[string]any{"visible": false},
				topic(msgs.KindImage.String()):      map[string]any{"visible": false},
				rig.Namespace.TF():                  map[string]any{"visible": true},
				ns + "." + SuffixTFStatic:           map[string]any{"visible": true},
				topic(msgs.KindDepth.String()):      map[string]any{"visible": false},
				topic(SuffixDepthMM):                map[string]any{"visible": false},
				rig.Namespace.Diagnostics():         map[string]any{"visible": false},
				rig.Namespace.LearnerStats():        map[string]any{"visible": false},
				rig.Namespace.Odom():                map[string]any{"visible": false},
			},
			"layers": map[string]any{
				"grid": map[string]any{"layerId": "foxglove.Grid", "instanceId": "grid", "visible": true, "frameLocked": true,
					"label": "Grid", "size": 100, "divisions": 20, "lineWidth": 1, "color": "#3c4650",
					"position": []float64{0, 0, 0}, "rotation": []float64{90, 0, 0}, "order": 1},
			},
		},
		"Image!depth": map[string]any{"imageMode": map[string]any{"imageTopic": topic(SuffixDepthColor),
			"calibrationTopic": topic(msgs.KindCameraInfo.String())}},
		"Image!camera": map[string]any{"imageMode": map[string]any{"imageTopic": topic(msgs.KindImage.String()),
			"calibrationTopic": topic(msgs.KindCameraInfo.String())}},
		"Plot!loss":   plot("learner loss", path(stats+`.losses[:]{name=="total"}.value`, "total loss")),
		"Plot!absrel": plot("live abs_rel (ground truth)", path(stats+".depth_metrics.abs_rel", "abs_rel")),
		"Plot!steps":  plot("learner steps/s", path(stats+".steps_per_second", "steps/s")),
		"RawMessages!diagnostics": map[string]any{"topicPath": `"` + rig.Namespace.Diagnostics() + `"`,
			"diffEnabled": false, "expansion": "all", "showFullMessageForDiff": false},
	}
	layout := map[string]any{
		"direction": "row", "splitPercentage": 55,
		"first": map[string]any{"direction": "column", "splitPercentage": 65, "first": "3D!parallax",
			"second": map[string]any{"direction": "row", "splitPercentage": 50, "first": "Image!depth", "second": "Image!camera"}},
		"second": map[string]any{"direction": "column", "splitPercentage": 70,
			"first": map[string]any{"direction": "column", "splitPercentage": 33, "first": "Plot!loss",
				"second": map[string]any{"direction": "column", "splitPercentage": 50, "first": "Plot!absrel", "second": "Plot!steps"}},
			"second": "RawMessages!diagnostics"},
	}
	b, err := json.MarshalIndent(map[string]any{"configById": config, "globalVariables": map[string]any{},
		"userNodes": map[string]any{}, "playbackConfig": map[string]any{"speed": 1}, "layout": layout}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
