package fleet

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"regexp"
	"time"

	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
)

// ErrSample is returned for bytes that are not a valid fleet sample, and for
// a learner sample that cannot be encoded (no target, no intrinsics).
var ErrSample = errors.New("fleet: bad sample")

// Sample wire format (one JetStream message per training tuple):
//
//	"PLXSMP1\n"            8 bytes of magic
//	header length           uint32, big endian
//	header                  JSON SampleHeader
//	frames                  each frame's PNG or JPEG file, in header order
//
// The header carries what a trainer needs besides the pixels (intrinsics,
// stereo baseline, the pose when the source knows it) and each file's size,
// so a damaged or truncated message is refused before any image decoding.
const sampleMagic = "PLXSMP1\n"

// MaxSampleBytes bounds an encoded sample: the cluster's max_payload.
const MaxSampleBytes = 8 << 20

// Frame roles of a sample, in learner.Sample's fields.
const (
	RoleTarget = "target"
	RolePrev   = "prev"
	RoleNext   = "next"
	RoleRight  = "right"
)

// Codecs of a sample's frames.
const (
	// CodecPNG is lossless: the photometric loss sees the robot's pixels.
	CodecPNG = "png"
	// CodecJPEG is about 4 times smaller at quality 90, with block
	// artefacts the photometric loss also fits.
	CodecJPEG = "jpeg"
)

var robotRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// CheckRobot checks a robot name: one lower-case subject token (it is the
// last token of the robot's sample subject).
func CheckRobot(robot string) error {
	if !robotRe.MatchString(robot) {
		return fmt.Errorf("fleet: robot name %q (want 1 to 64 of a-z 0-9 _ -, starting with a letter or digit)", robot)
	}
	return nil
}

// SampleHeader is the JSON header of an encoded sample.
type SampleHeader struct {
	// Robot is the robot that picked the tuple.
	Robot string `json:"robot"`
	// Seq counts the robot uploader's samples from 1 (with Boot, what
	// JetStream deduplicates a retried publish by).
	Seq uint64 `json:"seq"`
	// Boot identifies the uploader's run (its start, Unix nanoseconds).
	Boot int64 `json:"boot"`
	// Family is the model family the sample is for.
	Family string `json:"family,omitempty"`
	// Codec is CodecPNG or CodecJPEG.
	Codec string `json:"codec"`
	// Baseline is the stereo baseline in metres (with a right frame).
	Baseline float64 `json:"baseline,omitempty"`
	// Frames describe the frame files following the header, in order.
	Frames []FrameHeader `json:"frames"`
}

// FrameHeader describes one frame of a sample.
type FrameHeader struct {
	// Role is RoleTarget, RolePrev, RoleNext or RoleRight.
	Role   string    `json:"role"`
	Camera string    `json:"camera,omitempty"`
	Seq    uint64    `json:"seq"`
	Stamp  time.Time `json:"stamp"`
	Width  int       `json:"width"`
	Height int       `json:"height"`
	// Intrinsics is the camera model (calibration); required for the
	// target.
	Intrinsics *msgs.Intrinsics `json:"intrinsics,omitempty"`
	// Pose is the camera-to-world pose when the source knows it
	// (synthetic and annotated sources' ground truth).
	Pose *msgs.Pose `json:"pose,omitempty"`
	// Size is the byte size of the frame's file.
	Size int `json:"size"`
}

// EncodeOptions say how EncodeSample compresses frames.
type EncodeOptions struct {
	// Codec is CodecPNG (the default) or CodecJPEG.
	Codec string
	// Quality is the JPEG quality, 1 to 100. It defaults to 90.
	Quality int
}

func (o EncodeOptions) fill() (EncodeOptions, error) {
	if o.Codec == "" {
		o.Codec = CodecPNG
	}
	if o.Quality == 0 {
		o.Quality = 90
	}
	if o.Codec != CodecPNG && o.Codec != CodecJPEG {
		return o, fmt.Errorf("%w: codec %q (want png or jpeg)", ErrSample, o.Codec)
	}
	if o.Quality < 1 || o.Quality > 100 {
		return o, fmt.Errorf("%w: JPEG quality %d (want 1 to 100)", ErrSample, o.Quality)
	}
	return o, nil
}

// EncodeSample encodes a learner sample with its header fields (Robot, Seq,
// Boot, Family; Codec and Frames are filled in here).
func EncodeSample(h SampleHeader, s learner.Sample, o EncodeOptions) ([]byte, error) {
	o, err := o.fill()
	if err != nil {
		return nil, err
	}
	if err := CheckRobot(h.Robot); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSample, err)
	}
	if s.Target == nil || s.Target.Intrinsics == nil {
		return nil, fmt.Errorf("%w: the target frame and its intrinsics are required", ErrSample)
	}
	h.Codec, h.Frames, h.Baseline = o.Codec, nil, 0
	if s.Right != nil {
		h.Baseline = s.Baseline
	}
	var files bytes.Buffer
	for _, f := range []struct {
		role string
		fr   *msgs.Frame
	}{{RoleTarget, s.Target}, {RolePrev, s.Prev}, {RoleNext, s.Next}, {RoleRight, s.Right}} {
		if f.fr == nil {
			continue
		}
		fh, err := encodeFrame(&files, f.role, f.fr, o)
		if err != nil {
			return nil, err
		}
		h.Frames = append(h.Frames, fh)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSample, err)
	}
	out := make([]byte, 0, len(sampleMagic)+4+len(hdr)+files.Len())
	out = append(out, sampleMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(hdr)))
	out = append(out, hdr...)
	out = append(out, files.Bytes()...)
	if len(out) > MaxSampleBytes {
		return nil, fmt.Errorf("%w: %d bytes encoded (at most %d)", ErrSample, len(out), MaxSampleBytes)
	}
	return out, nil
}

func encodeFrame(w *bytes.Buffer, role string, f *msgs.Frame, o EncodeOptions) (FrameHeader, error) {
	fh := FrameHeader{Role: role, Camera: f.Camera, Seq: f.Seq, Stamp: f.Stamp, Width: f.Width, Height: f.Height,
		Intrinsics: f.Intrinsics}
	if f.Truth != nil {
		p := f.Truth.Pose
		fh.Pose = &p
	}
	if f.Width <= 0 || f.Height <= 0 || len(f.Pix) != 3*f.Width*f.Height {
		return fh, fmt.Errorf("%w: %s frame %dx%d with %d bytes of RGB", ErrSample, role, f.Width, f.Height, len(f.Pix))
	}
	img := &rgbImage{pix: f.Pix, w: f.Width, h: f.Height}
	before := w.Len()
	var err error
	if o.Codec == CodecJPEG {
		err = jpeg.Encode(w, img, &jpeg.Options{Quality: o.Quality})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, img)
	}
	if err != nil {
		return fh, fmt.Errorf("%w: %s frame: %v", ErrSample, role, err)
	}
	fh.Size = w.Len() - before
	return fh, nil
}

// check validates a header: the robot, codec and roles, every frame's
// size, and the target's calibration.
func (h SampleHeader) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrSample, fmt.Sprintf(format, a...))
	}
	if err := CheckRobot(h.Robot); err != nil {
		return bad("header robot: %v", err)
	}
	if h.Codec != CodecPNG && h.Codec != CodecJPEG {
		return bad("header codec %q (want png or jpeg)", h.Codec)
	}
	seen := map[string]bool{}
	for i, f := range h.Frames {
		switch f.Role {
		case RoleTarget, RolePrev, RoleNext, RoleRight:
		default:
			return bad("frame %d: role %q (want target, prev, next or right)", i, f.Role)
		}
		if seen[f.Role] {
			return bad("frame %d: a second %s frame", i, f.Role)
		}
		seen[f.Role] = true
		if f.Width <= 0 || f.Height <= 0 || f.Width > 8192 || f.Height > 8192 {
			return bad("%s frame: size %dx%d (want 1 to 8192 each)", f.Role, f.Width, f.Height)
		}
		if f.Size <= 0 || f.Size > MaxSampleBytes {
			return bad("%s frame: file size %d", f.Role, f.Size)
		}
		if k := f.Intrinsics; k != nil {
			for name, v := range map[string]float64{"fx": k.Fx, "fy": k.Fy, "cx": k.Cx, "cy": k.Cy} {
				if math.IsNaN(v) || math.IsInf(v, 0) || (v <= 0 && (name == "fx" || name == "fy")) {
					return bad("%s frame: intrinsics %s is %v", f.Role, name, v)
				}
			}
			if k.Width <= 0 || k.Height <= 0 {
				return bad("%s frame: intrinsics size %dx%d", f.Role, k.Width, k.Height)
			}
		}
	}
	switch {
	case !seen[RoleTarget]:
		return bad("no target frame")
	case h.Frames[0].Role != RoleTarget:
		return bad("the target frame is not first")
	case h.Frames[0].Intrinsics == nil:
		return bad("the target frame has no intrinsics")
	case seen[RoleRight] && !(h.Baseline > 0 && h.Baseline < 100):
		return bad("a right frame with baseline %v m (want above 0, below 100)", h.Baseline)
	}
	return nil
}

// DecodeSample decodes an encoded sample: its header and the learner
// sample (frames with their intrinsics; a frame with a pose carries it as
// its ground truth's Pose). Anything malformed returns ErrSample saying
// what.
func DecodeSample(data []byte) (SampleHeader, learner.Sample, error) {
	var h SampleHeader
	var s learner.Sample
	if len(data) > MaxSampleBytes {
		return h, s, fmt.Errorf("%w: %d bytes (at most %d)", ErrSample, len(data), MaxSampleBytes)
	}
	if len(data) < len(sampleMagic)+4 || string(data[:len(sampleMagic)]) != sampleMagic {
		return h, s, fmt.Errorf("%w: no PLXSMP1 magic (not a fleet sample)", ErrSample)
	}
	n := int(binary.BigEndian.Uint32(data[len(sampleMagic):]))
	rest := data[len(sampleMagic)+4:]
	if n > len(rest) {
		return h, s, fmt.Errorf("%w: header of %d bytes in a %d-byte message", ErrSample, n, len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(rest[:n]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, s, fmt.Errorf("%w: header: %v", ErrSample, err)
	}
	if err := h.check(); err != nil {
		return h, s, err
	}
	files := rest[n:]
	total := 0
	for _, f := range h.Frames {
		total += f.Size
	}
	if total != len(files) {
		return h, s, fmt.Errorf("%w: header lists %d bytes of frames, the message holds %d", ErrSample, total, len(files))
	}
	for _, fh := range h.Frames {
		fr, err := decodeFrame(h.Codec, fh, files[:fh.Size])
		if err != nil {
			return h, s, err
		}
		files = files[fh.Size:]
		switch fh.Role {
		case RoleTarget:
			s.Target = fr
		case RolePrev:
			s.Prev = fr
		case RoleNext:
			s.Next = fr
		case RoleRight:
			s.Right, s.Baseline = fr, h.Baseline
		}
	}
	return h, s, nil
}

func decodeFrame(codec string, fh FrameHeader, file []byte) (*msgs.Frame, error) {
	var img image.Image
	var err error
	if codec == CodecJPEG {
		img, err = jpeg.Decode(bytes.NewReader(file))
	} else {
		img, err = png.Decode(bytes.NewReader(file))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s frame: %s: %v", ErrSample, fh.Role, codec, err)
	}
	b := img.Bounds()
	if b.Dx() != fh.Width || b.Dy() != fh.Height {
		return nil, fmt.Errorf("%w: %s frame: the image is %dx%d, the header says %dx%d", ErrSample, fh.Role, b.Dx(), b.Dy(), fh.Width, fh.Height)
	}
	f := &msgs.Frame{Camera: fh.Camera, Seq: fh.Seq, Stamp: fh.Stamp, Width: fh.Width, Height: fh.Height,
		Pix: make([]byte, 3*fh.Width*fh.Height), Intrinsics: fh.Intrinsics}
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			f.Pix[i], f.Pix[i+1], f.Pix[i+2] = byte(r>>8), byte(g>>8), byte(bl>>8)
			i += 3
		}
	}
	if fh.Pose != nil {
		f.Truth = &msgs.GroundTruth{Pose: *fh.Pose}
	}
	return f, nil
}

// rgbImage is packed 8-bit RGB as an image.Image, so frames are encoded
// without a copy.
type rgbImage struct {
	pix  []byte
	w, h int
}

func (m *rgbImage) ColorModel() color.Model { return color.RGBAModel }
func (m *rgbImage) Bounds() image.Rectangle { return image.Rect(0, 0, m.w, m.h) }
func (m *rgbImage) At(x, y int) color.Color {
	i := 3 * (y*m.w + x)
	return color.RGBA{m.pix[i], m.pix[i+1], m.pix[i+2], 255}
}

// Opaque tells the PNG encoder there is no alpha: it writes RGB.
func (m *rgbImage) Opaque() bool { return true }
