// Package msgs is Parallax's message contract: the plain domain types every
// part of the node shares (Frame, Intrinsics, Pose, GroundTruth), the NATS
// subjects Parallax publishes on, and the conversions between the domain
// types and the protobuf messages on those subjects.
//
// # The contract
//
// The .proto files under msgs/proto are the public, versioned contract.
// Where Foxglove has a well-known schema, msgs/proto/foxglove declares it
// with Foxglove's own package, names and field numbers, so Foxglove Studio
// and any protobuf client read the messages and MCAP recordings as they are;
// Parallax's own messages are in the package parallax.v1, which changes only
// compatibly (new fields, new numbers). The generated Go code is in
// msgs/foxglove and msgs/parallaxv1; regenerate it with
//
//	go generate ./msgs
//
// (scripts/genproto.sh; it needs protoc). TestGeneratedUpToDate fails when
// the committed code is stale.
//
// # Subjects
//
// Subjects are ROS-style names with dots under a namespace ns from the launch
// file. Every payload is one serialized protobuf message.
//
//	subject                        message                       rate             content
//	<ns>.<camera>.camera_info      foxglove.CameraCalibration    with each depth  pinhole model of the published (rectified) images (D = 0, R = I)
//	<ns>.<camera>.image            foxglove.CompressedImage      camera rate      the (rectified) camera image, JPEG, for viewers
//	<ns>.<camera>.depth            foxglove.RawImage             inference rate   z-depth, encoding 32FC1, metres
//	<ns>.<camera>.scene_flow       parallax.v1.SceneFlow         inference rate   per-pixel 3D motion to the next frame, metres
//	<ns>.<camera>.optical_flow     parallax.v1.OpticalFlow       inference rate   per-pixel motion from the previous frame to this one, pixels
//	<ns>.<camera>.optical_flow_image foxglove.RawImage           inference rate   the optical flow on a colour wheel, rgb8, for viewers
//	<ns>.odom                      parallax.v1.Odometry          inference rate   camera pose in the odometry frame, velocities
//	<ns>.pose                      foxglove.PoseInFrame          inference rate   the odometry pose, for Foxglove's 3D panel
//	<ns>.tf                        foxglove.FrameTransform       inference rate   the odometry pose as odom <- camera transform
//	<ns>.learner.stats             parallax.v1.LearnerStats      about 1 Hz       steps, losses, replay buffer, live depth error
//	<ns>.diagnostics               parallax.v1.Diagnostics       about 1 Hz       OK/WARN/ERROR/STALE per part
//	<ns>.<camera>.calibration      foxglove.CameraCalibration    with each depth  the raw camera the node rectifies: raw K, D, R, rectified P
//
// The namespace is one or more tokens joined by dots ("robot1",
// "fleet.robot1"); a camera name is one token. Tokens use ASCII letters,
// digits, '_' and '-' (ValidateNamespace, ValidateName). Namespace builds the
// subjects, ParseSubject takes one apart, and Kind.NewMessage gives the
// message type to decode a subject's payload into.
//
// # Recordings
//
// A recording (package record, MCAP) keeps the node's outputs on their
// subjects and its camera inputs on topics of their own, RecordingTopic
// <ns>.<camera>.<suffix>:
//
//	topic                          message                       content
//	<ns>.<camera>.raw.image        foxglove.RawImage             the frames as received, rgb8, lossless
//	<ns>.<camera>.raw.camera_info  foxglove.CameraCalibration    the camera at the frames' size (the right camera's P: baseline)
//	<ns>.<camera>.truth.depth      foxglove.RawImage             ground-truth z-depth, 32FC1, synthetic sources
//	<ns>.<camera>.truth.pose       foxglove.PoseInFrame          ground-truth camera-to-world pose, frame "world"
//
// and a metadata record "parallax" (MetadataName) naming the namespace, the
// cameras and the stereo pair (MetadataKey*). FrameMessages gives the
// messages that record a Frame; SplitRecordingTopic takes a topic apart.
//
// # Conventions
//
//   - Lengths in metres, angles in radians, times as google.protobuf.Timestamp
//     (the capture time of the image a result was computed from).
//   - Camera optical frames: x right, y down, z forward along the optical
//     axis. The frame_id of a camera's messages is the camera name.
//   - Depth is z-depth (distance along the optical axis), not range along the
//     ray; 0 or NaN where unknown (stereo matching, depth.method sgbm, marks
//     the pixels it could not match NaN).
//   - A pose maps points from its child frame to its parent frame:
//     p_parent = R p_child + t (msgs.Pose is camera-to-world the same way).
//   - Matrices are row-major. Packed float arrays are little-endian IEEE-754
//     float32 without padding, rows top to bottom.
//   - Pixel coordinates: msgs.Intrinsics puts the centre of the top-left pixel
//     at (0.5, 0.5), ROS and Foxglove (CameraCalibration) at (0, 0);
//     CameraCalibration and IntrinsicsFromCalibration convert.
//
// # Conversions
//
// DepthImage and DepthFromImage (32FC1, also reads 16UC1 millimetres),
// FrameImage and FrameFromImage (rgb8; also reads bgr8, rgba8, bgra8, mono8),
// CameraCalibration and IntrinsicsFromCalibration, FoxglovePose and
// PoseFromFoxglove, PoseInFrame, FrameTransform, Odometry and OdometryPose,
// SceneFlowField.Proto and SceneFlowFromProto, LossTerms and Loss,
// Timestamp and Time. FileDescriptorSet gives the self-contained schema of a
// message for MCAP recordings and the Foxglove WebSocket protocol. Decoders
// validate sizes, encodings and values and return errors wrapping this
// package's sentinel errors; they never panic on bad input.
package msgs
