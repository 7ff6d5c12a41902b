package calibration

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Format is a calibration file format.
type Format int

// The formats Read and Write know.
const (
	// FormatUnknown is the zero Format.
	FormatUnknown Format = iota
	// FormatROS is ROS's camera_info YAML (camera_calibration_parsers):
	// one camera a file.
	FormatROS
	// FormatOpenCVYAML is OpenCV's FileStorage YAML (%YAML:1.0, matrices
	// as !!opencv-matrix).
	FormatOpenCVYAML
	// FormatOpenCVXML is OpenCV's FileStorage XML (<opencv_storage>).
	FormatOpenCVXML
	// FormatKITTI is KITTI's calib_cam_to_cam.txt ("key: values" lines).
	FormatKITTI
	// FormatKalibr is Kalibr's camchain YAML (cam0, cam1, ...).
	FormatKalibr
)

var formatNames = map[Format]string{
	FormatROS: "ros", FormatOpenCVYAML: "opencv-yaml", FormatOpenCVXML: "opencv-xml",
	FormatKITTI: "kitti", FormatKalibr: "kalibr",
}

// String returns the format's name: ros, opencv-yaml, opencv-xml, kitti,
// kalibr ("unknown" for FormatUnknown).
func (f Format) String() string {
	if s, ok := formatNames[f]; ok {
		return s
	}
	return "unknown"
}

// ParseFormat reads a format name as String writes it; "opencv" means
// opencv-yaml and "xml" opencv-xml.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "opencv", "yml":
		return FormatOpenCVYAML, nil
	case "xml":
		return FormatOpenCVXML, nil
	case "camera_info", "yaml":
		return FormatROS, nil
	}
	for f, n := range formatNames {
		if n == strings.ToLower(s) {
			return f, nil
		}
	}
	return FormatUnknown, fmt.Errorf("%w: %q (want ros, opencv-yaml, opencv-xml, kitti or kalibr)", ErrFormat, s)
}

// MaxFileSize bounds a calibration file. The largest real ones (OpenCV's,
// with per-view extrinsics) are a few tens of kilobytes.
const MaxFileSize = 1 << 20

// Set is what a calibration file holds: one or more cameras and, for a
// stereo file, the pair.
type Set struct {
	// Format is the file's format.
	Format Format
	// Files are the files read.
	Files []string
	// Cameras are the file's cameras in its order.
	Cameras []Camera
	// Stereo is the stereo pair the file describes (OpenCV's M1 D1 M2 D2 R
	// T, Kalibr's cam0 and cam1, KITTI's colour cameras 02 and 03), or nil.
	Stereo *Stereo
}

func (s *Set) name() string { return strings.Join(s.Files, " + ") }

// Mono returns the file's only camera; a file of several cameras (a stereo
// file) returns ErrCameras.
func (s *Set) Mono() (Camera, error) {
	if len(s.Cameras) != 1 {
		return Camera{}, errAt(s.name(), 0, "", ErrCameras, "holds %d cameras, want one (give a stereo file as the pair's stereo.calibration)", len(s.Cameras))
	}
	return s.Cameras[0], nil
}

// ForRole returns the camera of a role in a rig: "left" and "right" pick
// the pair's cameras from a stereo file, and any role takes the only
// camera of a mono file. "mono" picks a stereo file's left camera.
func (s *Set) ForRole(role string) (Camera, error) {
	if len(s.Cameras) == 1 {
		return s.Cameras[0], nil
	}
	if s.Stereo == nil {
		return Camera{}, errAt(s.name(), 0, "", ErrCameras, "holds %d cameras and no stereo pair", len(s.Cameras))
	}
	if role == "right" {
		return s.Stereo.Right, nil
	}
	return s.Stereo.Left, nil
}

// Pair returns the stereo pair; a file without one returns ErrCameras.
func (s *Set) Pair() (Stereo, error) {
	if s.Stereo == nil {
		return Stereo{}, errAt(s.name(), 0, "", ErrCameras, "holds %d camera(s) and no stereo pair: give it per camera (cameras[].calibration)", len(s.Cameras))
	}
	return *s.Stereo, nil
}

var (
	kittiLineRE = regexp.MustCompile(`(?m)^\s*(calib_time|corner_dist|[SKDRTP]_0[0-9]|[SRP]_rect_0[0-9]|P[0-3]|Tr|Tr_velo_to_cam)\s*:`)
	rosKeyRE    = regexp.MustCompile(`(?m)^(camera_matrix|projection_matrix|distortion_model|distortion_coefficients|rectification_matrix)\s*:`)
	kalibrRE    = regexp.MustCompile(`(?m)^cam[0-9]+\s*:`)
)

// Detect tells a file's format from its content, and from its name's
// extension when the content does not say: XML with <opencv_storage> is
// OpenCV XML; %YAML:1.0 or !!opencv-matrix OpenCV YAML; top-level cam0:
// keys Kalibr; camera_matrix with distortion_model or projection_matrix
// ROS; KITTI's keys (P_rect_02:, calib_time:) KITTI.
func Detect(data []byte, name string) Format {
	head := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case bytes.HasPrefix(head, []byte("<?xml")) || bytes.HasPrefix(head, []byte("<opencv_storage")):
		return FormatOpenCVXML
	case bytes.HasPrefix(head, []byte("%YAML:")) || bytes.Contains(data, []byte("!!opencv-matrix")):
		return FormatOpenCVYAML
	case kalibrRE.Match(data) && bytes.Contains(data, []byte("intrinsics")):
		return FormatKalibr
	case rosKeyRE.Match(data):
		return FormatROS
	case kittiLineRE.Match(data) && !bytes.Contains(data, []byte("rows")):
		return FormatKITTI
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".xml":
		return FormatOpenCVXML
	case ".txt":
		return FormatKITTI
	}
	return FormatUnknown
}

// Parse reads a calibration file's content; name is used in errors and,
// when the content does not tell, for the format (Detect).
func Parse(data []byte, name string) (*Set, error) {
	if len(data) > MaxFileSize {
		return nil, errAt(name, 0, "", ErrSyntax, "larger than %d bytes", MaxFileSize)
	}
	f := Detect(data, name)
	var s *Set
	var err error
	switch f {
	case FormatROS:
		s, err = parseROS(data, name)
	case FormatOpenCVYAML, FormatOpenCVXML:
		var st *storage
		if st, err = parseStorage(data, name, f); err == nil {
			s, err = st.set()
		}
	case FormatKITTI:
		s, err = parseKITTISet(data, name)
	case FormatKalibr:
		s, err = parseKalibr(data, name)
	default:
		if ext := strings.ToLower(filepath.Ext(name)); ext == ".yaml" || ext == ".yml" {
			if _, err := parseYAMLRoot(data, name); err != nil {
				return nil, err // a YAML file that does not parse: say where
			}
		}
		return nil, errAt(name, 0, "", ErrFormat, "neither ROS camera_info, OpenCV FileStorage (YAML, XML), KITTI calib_cam_to_cam.txt nor a Kalibr camchain")
	}
	if err != nil {
		return nil, err
	}
	s.Format, s.Files = f, []string{name}
	return s, nil
}

// Read reads one calibration file, or several OpenCV FileStorage files
// whose keys together make one calibration (stereo_calib's intrinsics.yml
// and extrinsics.yml). Errors name the file, the line and the field.
func Read(paths ...string) (*Set, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no file given", ErrMissing)
	}
	datas := make([][]byte, len(paths))
	for i, p := range paths {
		d, err := readLimited(p)
		if err != nil {
			return nil, err
		}
		datas[i] = d
	}
	if len(paths) == 1 {
		return Parse(datas[0], paths[0])
	}
	var merged *storage
	for i, p := range paths {
		f := Detect(datas[i], p)
		if f != FormatOpenCVYAML && f != FormatOpenCVXML {
			return nil, errAt(p, 0, "", ErrFormat, "is %s: only OpenCV FileStorage files are read together", f)
		}
		st, err := parseStorage(datas[i], p, f)
		if err != nil {
			return nil, err
		}
		if merged == nil {
			merged = st
			continue
		}
		if err := merged.merge(st); err != nil {
			return nil, err
		}
	}
	s, err := merged.set()
	if err != nil {
		return nil, err
	}
	s.Format, s.Files = merged.format, paths
	return s, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("calibration: %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, errAt(path, 0, "", ErrSyntax, "larger than %d bytes", MaxFileSize)
	}
	return data, nil
}

// Write writes the set in format f. ROS camera_info holds one camera: a
// set of two needs WriteROS per camera. Every writer's output reads back
// to the same numbers (Parse).
func Write(w io.Writer, f Format, s *Set) error {
	switch f {
	case FormatROS:
		c, err := s.Mono()
		if err != nil {
			return fmt.Errorf("%w: ROS camera_info holds one camera a file: write each camera of the pair with WriteROS", ErrCameras)
		}
		return WriteROS(w, c)
	case FormatOpenCVYAML, FormatOpenCVXML:
		return writeOpenCV(w, f, s)
	case FormatKITTI:
		return writeKITTI(w, s)
	case FormatKalibr:
		return writeKalibr(w, s)
	}
	return fmt.Errorf("%w: %v", ErrFormat, f)
}

// WriteFile writes the set to path atomically (a temporary file in the same
// folder, synced, then renamed over path).
func WriteFile(path string, f Format, s *Set) error {
	var b bytes.Buffer
	if err := Write(&b, f, s); err != nil {
		return err
	}
	return WriteFileAtomic(path, b.Bytes())
}

// WriteFileAtomic writes data to path through a synced temporary file in
// the same folder renamed over path, so a crash leaves the old file or the
// new one, never half of one.
func WriteFileAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	return nil
}
