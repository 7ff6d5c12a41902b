// Package viewer shows the node live: one HTTP listener (Viewer.Listen,
// 127.0.0.1:8765 by default) with
//
//	/             Foxglove's WebSocket protocol (a WebSocket upgrade), or the built-in page (a browser)
//	/feed         the page's own feed (WebSocket, same origin)
//	/static/...   the page's script and style (go:embed: nothing from elsewhere)
//	/metrics      Prometheus text exposition format 0.0.4
//	/healthz      200 when every camera streams and inference runs, else 503; never needs the token
//	/layout.json  a Foxglove layout for the node's rig
//
// A Viewer is a sink of the node: it has the method set of actors.Sink
// (Name, Open, Write, Close) and imports nothing but msgs, so actors needs
// nothing of it; the command that builds the node adds it to Node.Sinks
// (cmd/parallax does, from the launch file's viewer: section) and fills
// Viewer.Counters with the node's own counters. The node hands every sink
// every output on the sink's own goroutine; Write encodes what some client
// wants (only that: nothing is encoded for nobody) and queues it for each
// client without waiting, so no client, however slow, slows the node.
//
// # Foxglove WebSocket protocol
//
// The server speaks Foxglove's protocol (github.com/foxglove/ws-protocol,
// docs/spec.md) with either subprotocol name, foxglove.sdk.v1 or
// foxglove.websocket.v1, and answers with the one the client offered (a
// request offering neither gets 400). On connection a client gets serverInfo
// (name, capabilities ["time"], supportedEncodings [], metadata: namespace,
// cameras, stereo pair; sessionId) and one advertise with every channel:
// encoding "protobuf", schemaName the message's full name (foxglove.RawImage),
// schema the base64 of a binary google.protobuf.FileDescriptorSet holding the
// message's file and all its imports (msgs.FileDescriptorSet, as MCAP
// recordings embed it), schemaEncoding "protobuf". It handles subscribe
// ({subscriptions: [{id, channelId}]}) and unsubscribe ({subscriptionIds});
// anything else gets a status error. Data goes as binary MessageData: opcode
// 0x01, the subscription id (uint32 LE), the capture time in nanoseconds
// (uint64 LE), the serialized message; after each result a Time message
// (0x02, uint64 LE nanoseconds) carries its capture time. A client that
// subscribes to a latched channel (camera_info, tf, tf_static, path,
// learner.stats, diagnostics) gets its last message at once. When the node
// stops, clients get unadvertise for every channel and a status, then a
// going-away close. Client publishing, parameters and services are not
// offered.
//
// Channels, with the node's NATS subjects as topic names (so one layout
// fits the live node and its MCAP recordings):
//
//	<ns>.<cam>.depth        foxglove.RawImage 32FC1 metres      reference cameras (all but the stereo pair's right)
//	<ns>.<cam>.depth_color  foxglove.CompressedImage JPEG       the depth coloured with Turbo, see below
//	<ns>.<cam>.depth_mm     foxglove.RawImage 16UC1 millimetres 0 unknown, clamped at 65.535 m
//	<ns>.<cam>.points       foxglove.PointCloud                 every CloudStep-th pixel back-projected, camera frame, coloured by the image
//	<ns>.<cam>.image        foxglove.CompressedImage JPEG       every camera, at most ImageRate a second
//	<ns>.<cam>.camera_info  foxglove.CameraCalibration          every camera, at the depth map's size
//	<ns>.odom, .pose, .tf   parallax.v1.Odometry, foxglove.PoseInFrame, foxglove.FrameTransform (odom <- camera)
//	<ns>.tf_static          foxglove.FrameTransform             the right camera in the left's frame (stereo rigs), once a second
//	<ns>.path               foxglove.PosesInFrame               the whole trajectory in odom (at most PathLength poses, thinned evenly), once a second
//	<ns>.learner.stats      parallax.v1.LearnerStats            about once a second
//	<ns>.diagnostics        parallax.v1.Diagnostics             on change and once a second
//
// Foxglove's 3D panel finds the frames from tf and tf_static (odom ->
// left -> right), draws the point cloud in the camera's frame, the
// trajectory as a line (display type "line") and the camera frustum from
// camera_info; its Image panel shows depth_color with the camera_info. The
// layout on /layout.json (viewer/foxglove-layout.json for the demo) opens
// all of it.
//
// # Depth for eyes
//
// Foxglove draws a 32FC1 image as grey clamped at 1.0, which a depth map in
// metres turns white. depth_color (and the page) colour it with Turbo
// (Google's, from its published polynomial fit, colormap.go) over inverse
// depth: the near end of the range dark red, the far end dark blue, inverse
// depth so that the near range gets most of the colours; unknown pixels are
// black. The range is fixed with DepthMin and DepthMax, or automatic: the
// 2nd and 98th percentiles of each map's valid depths, smoothed over maps
// (a moving average, weight 0.3) so colours do not flicker. The page shows
// the range beside a colour bar. depth_mm (16UC1, the ROS convention) is
// for tools that expect depth-camera images.
//
// # Slow clients
//
// Each client has its own queue and writer goroutine. Control messages
// (serverInfo, advertise, status) go first, then small messages (odometry,
// transforms, calibration, stats, diagnostics, Time) in order, then large
// ones (images, depth, points, path), of which only the newest of each
// channel waits: a slow client gets fewer images, never old ones, and small
// messages are never starved by images. What waits is bounded by
// SendBuffer (small messages by a quarter of it, their oldest dropped
// first); what does not fit is dropped. Every drop is counted
// (parallax_viewer_dropped_total) and reported to that client, at most
// once a second, as a status warning with id "parallax.viewer.drops",
// removed (removeStatus) after 10 s without drops. A client that piles up
// 256 unread control messages is disconnected.
//
// # The page
//
// / in a browser shows the coloured depth of each reference camera with its
// range, the camera previews, the odometry path from above (x right, z
// forward, equal scales, a metre grid) and the learner's curves (loss and,
// with ground truth, live abs_rel against time), the diagnostics, the
// viewer's status messages to it, and the connection state (it reconnects
// by itself). Its feed, /feed, is a WebSocket of JSON text messages (op
// hello: the rig, the path so far, the learner's history, the diagnostics,
// the colour ranges; odom {p: [x, y, z], seq}; range {camera, min, max};
// learner {t, steps, sps, loss, absRel, version, rollbacks, adapting,
// stepSeconds}; diagnostics {status}; status and removeStatus as in
// Foxglove's protocol) and binary JPEGs (byte 0: 1 coloured depth, 2 camera
// preview; byte 1: the camera's index in hello.cameras; then the JPEG), with
// the same queues as Foxglove clients.
//
// # Metrics and health
//
// /metrics exports what the viewer sees (results per reference camera
// parallax_frames_out_total, the inference duration histogram
// parallax_inference_duration_seconds, the learner's steps, steps a
// second, mean step time, rollbacks, losses and live abs_rel, diagnostics
// levels, parallax_healthy, and its own clients, messages, bytes and drops)
// and, through Viewer.Counters, the node's (frames in and source drops per
// camera, unpaired and stale drops, frames processed, the capture-to-publish
// latency histogram parallax_latency_seconds, NATS publishes, errors and
// reconnections, camera reconnections, each sink's writes, errors and
// drops). /healthz answers 200 only when the last diagnostics are at most
// HealthTimeout old, every camera's latest status (camera/<name>) is OK,
// and every reference camera's perception status is OK with a result at
// most HealthTimeout old; its body lists each check.
//
// # Security
//
// On loopback the viewer needs nothing. Beyond it (any other address, or
// an empty host) Start refuses to listen without TLS (TLSCert and TLSKey:
// https and wss only) and a Token. With a token, every request but
// /healthz must carry it, as ?token=TOKEN (what Foxglove Studio and a
// browser can do: ws://host:8765/?token=TOKEN, https://host:8765/?token=TOKEN;
// the page passes it on to its feed and links) or as an
// "Authorization: Bearer TOKEN" header (Prometheus' authorization
// setting); it is compared in constant time. The Foxglove endpoint accepts
// any Origin, because Foxglove Studio runs from its own origin
// (app.foxglove.dev, the desktop app); the page's feed accepts only its own.
//
// # The WebSocket library
//
// github.com/coder/websocket (the maintained continuation of
// nhooyr.io/websocket, pinned in go.mod): no dependencies of its own,
// context-aware reads and writes (a cancelled context closes a connection
// blocked on a client that reads nothing, which is how Close stays bounded),
// writes safe from any goroutine, subprotocol negotiation that answers with
// the client's own token, and it builds with Go 1.26. gorilla/websocket
// works too but its last release is from 2024 and it needs a deadline per
// write; the standard library has no WebSocket server.
package viewer
