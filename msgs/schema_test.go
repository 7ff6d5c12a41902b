package msgs

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// foxgloveSchemas is Foxglove's definition of the well-known schemas Parallax
// declares, copied field by field from foxglove/foxglove-sdk
// schemas/proto/foxglove/*.proto ("name number type", repeated fields
// prefixed "repeated "). Our .proto files must match it exactly or Foxglove
// decodes our messages wrong.
var foxgloveSchemas = map[string][]string{
	"foxglove.RawImage": {
		"timestamp 1 google.protobuf.Timestamp", "frame_id 7 string", "width 2 fixed32", "height 3 fixed32",
		"encoding 4 string", "step 5 fixed32", "data 6 bytes",
	},
	"foxglove.CompressedImage": {
		"timestamp 1 google.protobuf.Timestamp", "frame_id 4 string", "data 2 bytes", "format 3 string",
	},
	"foxglove.CameraCalibration": {
		"timestamp 1 google.protobuf.Timestamp", "frame_id 9 string", "width 2 fixed32", "height 3 fixed32",
		"distortion_model 4 string", "repeated D 5 double", "repeated K 6 double", "repeated R 7 double",
		"repeated P 8 double",
	},
	"foxglove.PoseInFrame": {
		"timestamp 1 google.protobuf.Timestamp", "frame_id 2 string", "pose 3 foxglove.Pose",
	},
	"foxglove.FrameTransform": {
		"timestamp 1 google.protobuf.Timestamp", "parent_frame_id 2 string", "child_frame_id 3 string",
		"translation 4 foxglove.Vector3", "rotation 5 foxglove.Quaternion",
	},
	"foxglove.PointCloud": {
		"timestamp 1 google.protobuf.Timestamp", "frame_id 2 string", "pose 3 foxglove.Pose", "point_stride 4 fixed32",
		"repeated fields 5 foxglove.PackedElementField", "data 6 bytes",
	},
	"foxglove.PackedElementField": {"name 1 string", "offset 2 fixed32", "type 3 foxglove.PackedElementField.NumericType"},
	"foxglove.PosesInFrame": {
		"timestamp 1 google.protobuf.Timestamp", "frame_id 2 string", "repeated poses 3 foxglove.Pose",
	},
	"foxglove.Pose":       {"position 1 foxglove.Vector3", "orientation 2 foxglove.Quaternion"},
	"foxglove.Vector3":    {"x 1 double", "y 2 double", "z 3 double"},
	"foxglove.Quaternion": {"x 1 double", "y 2 double", "z 3 double", "w 4 double"},
}

// foxgloveEnums is Foxglove's definition of the enums of those schemas
// ("NAME number"), from the same files.
var foxgloveEnums = map[string][]string{
	"foxglove.PackedElementField.NumericType": {
		"UNKNOWN 0", "UINT8 1", "INT8 2", "UINT16 3", "INT16 4", "UINT32 5", "INT32 6", "FLOAT32 7", "FLOAT64 8",
	},
}

func TestFoxgloveSchemasMatchFoxglove(t *testing.T) {
	msgs := []proto.Message{
		&foxglove.RawImage{}, &foxglove.CompressedImage{}, &foxglove.CameraCalibration{},
		&foxglove.PoseInFrame{}, &foxglove.FrameTransform{}, &foxglove.Pose{},
		&foxglove.Vector3{}, &foxglove.Quaternion{},
		&foxglove.PointCloud{}, &foxglove.PackedElementField{}, &foxglove.PosesInFrame{},
	}
	enums := 0
	if len(msgs) != len(foxgloveSchemas) {
		t.Fatalf("checking %d messages, table has %d", len(msgs), len(foxgloveSchemas))
	}
	for _, m := range msgs {
		md := m.ProtoReflect().Descriptor()
		want, ok := foxgloveSchemas[string(md.FullName())]
		if !ok {
			t.Errorf("%s is not in the table", md.FullName())
			continue
		}
		// Foxglove's file layout: foxglove/<Message>.proto, proto3.
		if got, wantPath := md.ParentFile().Path(), "foxglove/"+string(md.Name())+".proto"; got != wantPath {
			t.Errorf("%s is declared in %s, Foxglove declares it in %s", md.FullName(), got, wantPath)
		}
		if md.Syntax() != protoreflect.Proto3 {
			t.Errorf("%s: syntax %v, want proto3", md.FullName(), md.Syntax())
		}
		var got []string
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			got = append(got, describeField(fields.Get(i)))
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s fields:\n got  %v\n want %v", md.FullName(), got, want)
		}
		for i := 0; i < md.Enums().Len(); i++ {
			ed := md.Enums().Get(i)
			want, ok := foxgloveEnums[string(ed.FullName())]
			if !ok {
				t.Errorf("enum %s is not in the table", ed.FullName())
				continue
			}
			enums++
			var got []string
			for j := 0; j < ed.Values().Len(); j++ {
				v := ed.Values().Get(j)
				got = append(got, fmt.Sprintf("%s %d", v.Name(), v.Number()))
			}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("%s values:\n got  %v\n want %v", ed.FullName(), got, want)
			}
		}
	}
	if enums != len(foxgloveEnums) {
		t.Errorf("checked %d enums, table has %d", enums, len(foxgloveEnums))
	}
}

func describeField(f protoreflect.FieldDescriptor) string {
	typ := f.Kind().String()
	if md := f.Message(); md != nil {
		typ = string(md.FullName())
	}
	if ed := f.Enum(); ed != nil {
		typ = string(ed.FullName())
	}
	s := fmt.Sprintf("%s %d %s", f.Name(), f.Number(), typ)
	if f.Cardinality() == protoreflect.Repeated {
		s = "repeated " + s
	}
	return s
}

// TestFileDescriptorSet checks that every subject's schema, as MCAP stores
// it, is self-contained: a reader with nothing but the set decodes a message.
func TestFileDescriptorSet(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			m := k.NewMessage()
			set := FileDescriptorSet(m)
			// Dependencies come before their users.
			seen := map[string]bool{}
			for _, f := range set.File {
				for _, dep := range f.Dependency {
					if !seen[dep] {
						t.Fatalf("%s comes before its dependency %s", f.GetName(), dep)
					}
				}
				seen[f.GetName()] = true
			}
			b, err := proto.Marshal(set)
			if err != nil {
				t.Fatal(err)
			}
			// Rebuild the descriptors from the bytes alone, without the
			// generated code's registry.
			back := new(descriptorpb.FileDescriptorSet)
			if err := proto.Unmarshal(b, back); err != nil {
				t.Fatal(err)
			}
			files, err := protodesc.NewFiles(back)
			if err != nil {
				t.Fatal(err)
			}
			d, err := files.FindDescriptorByName(protoreflect.FullName(k.MessageName()))
			if err != nil {
				t.Fatal(err)
			}
			// A real message decodes through the dynamic descriptor.
			sample := sampleMessage(t, k)
			wire, err := proto.Marshal(sample)
			if err != nil {
				t.Fatal(err)
			}
			dyn := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
			if err := proto.Unmarshal(wire, dyn); err != nil {
				t.Fatal(err)
			}
			again, err := proto.Marshal(dyn)
			if err != nil {
				t.Fatal(err)
			}
			back2 := k.NewMessage()
			if err := proto.Unmarshal(again, back2); err != nil || !proto.Equal(back2, sample) {
				t.Fatalf("dynamic round trip changed the message: %v", err)
			}
		})
	}
}

// TestFileDescriptorSetViewerMessages: the schemas of the Foxglove messages
// only viewers get (the point cloud, the trajectory) are self-contained too,
// imports and the nested enum included.
func TestFileDescriptorSetViewerMessages(t *testing.T) {
	for _, m := range []proto.Message{
		&foxglove.PointCloud{
			Timestamp: Timestamp(testStamp), FrameId: "left", Pose: FoxglovePose(Identity()), PointStride: 16,
			Fields: []*foxglove.PackedElementField{{Name: "x", Offset: 0, Type: foxglove.PackedElementField_FLOAT32},
				{Name: "red", Offset: 12, Type: foxglove.PackedElementField_UINT8}},
			Data: make([]byte, 32),
		},
		&foxglove.PosesInFrame{Timestamp: Timestamp(testStamp), FrameId: OdomFrame,
			Poses: []*foxglove.Pose{FoxglovePose(Identity()), FoxglovePose(testPoses()[5])}},
	} {
		name := m.ProtoReflect().Descriptor().FullName()
		t.Run(string(name), func(t *testing.T) {
			b, err := proto.Marshal(FileDescriptorSet(m))
			if err != nil {
				t.Fatal(err)
			}
			back := new(descriptorpb.FileDescriptorSet)
			if err := proto.Unmarshal(b, back); err != nil {
				t.Fatal(err)
			}
			files, err := protodesc.NewFiles(back)
			if err != nil {
				t.Fatal(err)
			}
			d, err := files.FindDescriptorByName(name)
			if err != nil {
				t.Fatal(err)
			}
			wire, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			dyn := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
			if err := proto.Unmarshal(wire, dyn); err != nil {
				t.Fatal(err)
			}
			again, err := proto.Marshal(dyn)
			if err != nil {
				t.Fatal(err)
			}
			back2 := m.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(again, back2); err != nil || !proto.Equal(back2, m) {
				t.Fatalf("dynamic round trip changed the message: %v", err)
			}
		})
	}
}

// sampleMessage returns a filled message of the kind.
func sampleMessage(t *testing.T, k Kind) proto.Message {
	t.Helper()
	p := testPoses()[5]
	switch k {
	case KindCameraInfo:
		m, err := CameraCalibration(testStamp, "left", Intrinsics{Width: 4, Height: 2, Fx: 3, Fy: 3, Cx: 2, Cy: 1}, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		return m
	case KindCalibration:
		return &foxglove.CameraCalibration{Timestamp: Timestamp(testStamp), FrameId: "right", Width: 4, Height: 2, DistortionModel: "plumb_bob",
			D: []float64{-0.2, 0.05, 0, 0, 0}, K: []float64{3, 0, 1.5, 0, 3, 0.5, 0, 0, 1}, R: []float64{1, 0, 0, 0, 1, 0, 0, 0, 1},
			P: []float64{3, 0, 1.5, -0.3, 0, 3, 0.5, 0, 0, 0, 1, 0}}
	case KindImage:
		return &foxglove.CompressedImage{Timestamp: Timestamp(testStamp), FrameId: "left", Format: "jpeg", Data: []byte{0xff, 0xd8, 0xff, 0xd9}}
	case KindDepth:
		m, err := DepthImage(testStamp, "left", 2, 1, []float32{1.5, 2})
		if err != nil {
			t.Fatal(err)
		}
		return m
	case KindSceneFlow:
		m, err := (&SceneFlowField{Stamp: testStamp, Width: 1, Height: 1, Flow: []float32{1, 2, 3}}).Proto()
		if err != nil {
			t.Fatal(err)
		}
		return m
	case KindOpticalFlow, KindOpticalFlowImage:
		f := &OpticalFlowField{Stamp: testStamp, Next: testStamp, FrameID: "left", Width: 2, Height: 1, Flow: []float32{1, -2, 0, 0.5}}
		var m proto.Message
		var err error
		if k == KindOpticalFlow {
			m, err = f.Proto()
		} else {
			m, err = FlowImage(f, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		return m
	case KindOdom:
		return Odometry(testStamp, "odom", "left", 3, p)
	case KindPose:
		return PoseInFrame(testStamp, "odom", p)
	case KindTF:
		return FrameTransform(testStamp, "odom", "left", p)
	case KindLearnerStats:
		return &parallaxv1.LearnerStats{
			Timestamp: Timestamp(testStamp), Steps: 1200, StepsPerSecond: 4.5,
			Losses:     []*parallaxv1.LossTerm{{Name: "photometric", Value: 0.12}, {Name: "total", Value: 0.13}},
			BufferFill: 64, BufferCapacity: 256, Rollbacks: 1, SkippedStatic: 30, LearningRate: 1e-4,
			DepthMetrics:   &parallaxv1.DepthMetrics{AbsRel: 0.2, Rmse: 4.1, A1: 0.7, Pixels: 12345, MedianScaled: true, Frames: 8},
			WeightsVersion: 3,
		}
	case KindDiagnostics:
		return &parallaxv1.Diagnostics{
			Timestamp: Timestamp(testStamp),
			Status: []*parallaxv1.DiagnosticStatus{
				{Level: parallaxv1.DiagnosticStatus_WARN, Name: "parallax/camera/left", Message: "reconnecting",
					HardwareId: "rtsp://127.0.0.1:8554/left", Values: []*parallaxv1.KeyValue{{Key: "fps", Value: "0"}}},
				{Level: parallaxv1.DiagnosticStatus_STALE, Name: "parallax/learner"},
			},
		}
	}
	t.Fatalf("no sample for %v", k)
	return nil
}
