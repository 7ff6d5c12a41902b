package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/camera"
)

// Validate checks the configuration: every value against the parameter
// table, and the rules that tie values together (unique camera names, one
// left and one right camera, intrinsics or calibration, depth range, NATS
// authentication). It returns all problems joined, sorted by line when the
// Launch came from Parse. Parse calls it; call it again after changing a
// Launch in code. It does not touch the file system: see CheckFiles.
func (l *Launch) Validate() error {
	pr := &problems{file: l.file, lines: l.lines, bad: map[string]bool{}}
	l.validate(pr)
	return pr.err()
}

// has reports whether the parsed file gave key.
func (l *Launch) has(key string) bool {
	_, ok := l.lines[key]
	return ok
}

func camKey(i int, field string) string {
	if field == "" {
		return fmt.Sprintf("cameras[%d]", i)
	}
	return fmt.Sprintf("cameras[%d].%s", i, field)
}

func (l *Launch) validate(pr *problems) {
	for _, p := range params {
		if p.ptr == nil {
			continue
		}
		if !p.camera {
			l.checkParam(pr, p, p.Name, p.ptr(l, nil))
			continue
		}
		for i := range l.Cameras {
			key := camKey(i, strings.TrimPrefix(p.Name, "cameras[]."))
			if pr.bad[camKey(i, "")] {
				continue
			}
			l.checkParam(pr, p, key, p.ptr(l, &l.Cameras[i]))
		}
	}
	l.validateCameras(pr)
	l.validateStereo(pr)
	if l.Depth.Method == DepthSGBM && l.Stereo == nil && !pr.bad["depth.method"] {
		pr.add(ErrInvalid, "depth.method", "sgbm matches a stereo pair: give cameras with roles left and right, or use mono")
	}
	if l.Model.MinDepth >= l.Model.MaxDepth && !pr.bad["model.min_depth"] && !pr.bad["model.max_depth"] {
		key := "model.max_depth"
		if lineOf(l.lines, "model.min_depth") > lineOf(l.lines, key) {
			key = "model.min_depth"
		}
		pr.add(ErrInvalid, key, "min_depth %v is not below max_depth %v", l.Model.MinDepth, l.Model.MaxDepth)
	}
	if l.Learner.Replay >= l.Learner.Buffer && !pr.bad["learner.replay"] && !pr.bad["learner.buffer"] {
		pr.add(ErrInvalid, "learner.replay", "replay %d is not below buffer %d", l.Learner.Replay, l.Learner.Buffer)
	}
	l.validateNATS(pr)
	if l.Fleet != nil {
		if l.NATS.URL == "" {
			pr.add(ErrInvalid, "fleet", "the fleet registry lives on a JetStream cluster: set nats.url (the embedded server has no JetStream)")
		}
		if !l.Learner.Adapt {
			pr.add(ErrInvalid, "fleet", "fleet models are validated on the learner's held-out frames: set learner.adapt: true")
		}
		if (l.Fleet.Upload || l.Fleet.DeltaEvery > 0) && l.Fleet.Robot == "" {
			pr.add(ErrInvalid, "fleet.robot", "fleet.upload and fleet.delta_every publish on this robot's subjects: set fleet.robot")
		}
	}
	l.validateViewer(pr)
}

// validateViewer checks that a viewer beyond loopback has TLS and a token,
// and its colour range.
func (l *Launch) validateViewer(pr *problems) {
	v := l.Viewer
	if v == nil {
		return
	}
	if !pr.bad["viewer.listen"] && !loopback(v.Listen) {
		var miss []string
		if v.TLS == nil {
			miss = append(miss, "viewer.tls (cert and key)")
		}
		if v.Token == "" {
			miss = append(miss, "viewer.token")
		}
		if len(miss) > 0 {
			pr.add(ErrInvalid, "viewer.listen", "%s is not a loopback address: a viewer reachable from the network needs %s, or listen on 127.0.0.1",
				v.Listen, strings.Join(miss, " and "))
		}
	}
	if v.DepthMin > 0 && v.DepthMax > 0 && v.DepthMin >= v.DepthMax && !pr.bad["viewer.depth_min"] && !pr.bad["viewer.depth_max"] {
		pr.add(ErrInvalid, "viewer.depth_max", "depth_min %v is not below depth_max %v", v.DepthMin, v.DepthMax)
	}
	if (v.DepthMin > 0) != (v.DepthMax > 0) && !pr.bad["viewer.depth_min"] && !pr.bad["viewer.depth_max"] {
		pr.add(ErrInvalid, "viewer.depth_max", "give both depth_min and depth_max for a fixed colour range, or neither for the automatic one")
	}
}

// loopback reports whether a listen address accepts connections from this
// machine only (127.0.0.0/8, ::1, localhost); an empty host is every
// interface. (viewer.Loopback decides the same at start-up.)
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkParam checks one value against its row of the table.
func (l *Launch) checkParam(pr *problems, p *Param, key string, v any) {
	if v == nil || pr.bad[key] {
		return
	}
	if p.required {
		// A zero string or int is missing. A zero float may be a real
		// value (cx: 0), so it is missing only when its section came from
		// the file and the key did not.
		missing := false
		switch x := v.(type) {
		case *string:
			missing = *x == ""
		case *int:
			missing = *x == 0
		case *float64:
			parent := key[:max(strings.LastIndexByte(key, '.'), 0)]
			missing = *x == 0 && l.has(parent) && !l.has(key)
		}
		if missing {
			pr.add(ErrMissing, key, "required")
			return
		}
	}
	show := func(x any) string {
		if p.secret {
			return "the value"
		}
		return fmt.Sprint(x)
	}
	switch x := v.(type) {
	case *string:
		if len(p.enum) > 0 && !(p.camera && *x == "") && !oneOf(*x, p.enum) {
			pr.add(ErrInvalid, key, "%q is not one of %s%s", *x, strings.Join(p.enum, ", "), suggest(*x, p.enum))
			return
		}
	case *int:
		if p.hi > p.lo && (float64(*x) < p.lo || float64(*x) > p.hi) {
			pr.add(ErrInvalid, key, "%d is out of range: want %s", *x, p.Range)
			return
		}
		if p.multiple > 0 && *x%p.multiple != 0 {
			pr.add(ErrInvalid, key, "%d is not a multiple of %d", *x, p.multiple)
			return
		}
	case *float64:
		f := *x
		if math.IsNaN(f) || math.IsInf(f, 0) {
			pr.add(ErrInvalid, key, "%s is not a finite number", show(f))
			return
		}
		if p.hi > p.lo && !(p.zeroOK && f == 0) && (f < p.lo || f > p.hi) {
			pr.add(ErrInvalid, key, "%s is out of range: want %s", show(p.toFile(f)), p.Range)
			return
		}
	case *time.Duration:
		if p.hi > p.lo && (float64(*x) < p.lo || float64(*x) > p.hi) {
			pr.add(ErrInvalid, key, "%v is out of range: want %s", *x, p.Range)
			return
		}
	}
	if p.check != nil {
		if err := p.check(v); err != nil {
			e := pr.add(ErrInvalid, key, "%s", strings.TrimPrefix(err.Error(), "msgs: "))
			e.Cause = err
		}
	}
}

func (l *Launch) validateCameras(pr *problems) {
	if len(l.Cameras) == 0 {
		if !pr.bad["cameras"] {
			pr.add(ErrMissing, "cameras", "at least one camera is required")
		}
		return
	}
	if len(l.Cameras) > MaxCameras && !pr.bad["cameras"] {
		pr.add(ErrInvalid, "cameras", "%d cameras, more than %d", len(l.Cameras), MaxCameras)
	}
	names := map[string]int{}
	firstRole := map[string]int{}
	for i := range l.Cameras {
		c := &l.Cameras[i]
		if pr.bad[camKey(i, "")] {
			continue
		}
		if c.Name != "" {
			if j, dup := names[c.Name]; dup {
				pr.add(ErrConflict, camKey(i, "name"), "%q is already the name of cameras[%d]%s", c.Name, j, atLine(l, camKey(j, "name")))
			} else {
				names[c.Name] = i
			}
		}
		if c.Role == RoleLeft || c.Role == RoleRight {
			if j, dup := firstRole[c.Role]; dup {
				pr.add(ErrConflict, camKey(i, "role"), "a second %s camera (cameras[%d] is %s): a stereo pair has one left and one right camera", c.Role, j, c.Role)
			} else {
				firstRole[c.Role] = i
			}
		}
		l.validateSource(pr, i, c)
	}
	left, hasLeft := firstRole[RoleLeft]
	right, hasRight := firstRole[RoleRight]
	switch {
	case hasLeft && !hasRight:
		pr.add(ErrMissing, camKey(left, "role"), "a left camera needs a right camera: stereo takes both roles (use role mono for a single camera)")
	case hasRight && !hasLeft:
		pr.add(ErrMissing, camKey(right, "role"), "a right camera needs a left camera: stereo takes both roles (use role mono for a single camera)")
	}
}

// validateSource checks what depends on the kind of source: transport for
// RTSP only, and where the camera model comes from.
func (l *Launch) validateSource(pr *problems, i int, c *Camera) {
	s, d := scheme(c.URL), driverOf(c.URL)
	if pr.bad[camKey(i, "url")] || d == nil || checkCameraURL(c.URL) != nil {
		return // already reported
	}
	if c.Transport != "" && !d.Network && !pr.bad[camKey(i, "transport")] {
		pr.add(ErrConflict, camKey(i, "transport"), "applies to %s cameras only, this one is %s://", networkSchemes(), s)
	}
	switch {
	case c.Intrinsics != nil && c.Calibration != "":
		key := camKey(i, "calibration")
		if lineOf(l.lines, camKey(i, "intrinsics")) > lineOf(l.lines, key) {
			key = camKey(i, "intrinsics")
		}
		pr.add(ErrConflict, key, "give intrinsics or calibration, not both")
	case d.Model == camera.ModelOwn && c.Intrinsics != nil:
		pr.add(ErrConflict, camKey(i, "intrinsics"), "a %s:// camera knows its own model: set it in its URL instead (synth://: width, height, fx, fy, cx, cy)", s)
	case d.Model == camera.ModelNeeded && c.Intrinsics == nil && c.Calibration == "" && !l.stereoCalibrated(c):
		pr.add(ErrMissing, camKey(i, ""), "an %s:// camera needs intrinsics or calibration: the stream does not carry its camera model", s)
	}
	if c.CameraHeight != 0 && c.Role != RoleMono && c.Role != "" && !pr.bad[camKey(i, "camera_height")] {
		pr.add(ErrConflict, camKey(i, "camera_height"), "applies to mono cameras: a stereo pair's depth is metric from its baseline")
	}
}

// stereoCalibrated reports whether c is a camera of the pair and the pair
// has a stereo.calibration file.
func (l *Launch) stereoCalibrated(c *Camera) bool {
	return l.Stereo != nil && l.Stereo.Calibration != "" && (c.Role == RoleLeft || c.Role == RoleRight)
}

func (l *Launch) validateStereo(pr *problems) {
	st := l.Stereo
	var left, right []int
	for i, c := range l.Cameras {
		switch c.Role {
		case RoleLeft:
			left = append(left, i)
		case RoleRight:
			right = append(right, i)
		}
	}
	if st == nil {
		// Parse pairs one left and one right camera by itself; a Launch
		// built in code must say so.
		if len(left) == 1 && len(right) == 1 {
			pr.add(ErrMissing, "stereo", "cameras[%d] and cameras[%d] are left and right, but Stereo is nil", left[0], right[0])
		}
		return
	}
	if pr.bad["stereo"] {
		return
	}
	pair := [2]*Camera{}
	for k, side := range [2]struct {
		field, role, name string
	}{{"left", RoleLeft, st.Left}, {"right", RoleRight, st.Right}} {
		key := "stereo." + side.field
		if pr.bad[key] {
			continue
		}
		if side.name == "" {
			pr.add(ErrMissing, key, "no camera has role %s: a stereo pair needs a left and a right camera", side.role)
			continue
		}
		if l.nameCount(side.name) > 1 {
			continue // the duplicate name is the problem, reported at the camera
		}
		c := l.Camera(side.name)
		if c == nil {
			pr.add(ErrInvalid, key, "no camera is named %q", side.name)
			continue
		}
		if c.Role != side.role {
			role := c.Role
			if role == "" {
				role = RoleMono
			}
			pr.add(ErrConflict, key, "camera %q has role %s, want %s", side.name, role, side.role)
			continue
		}
		pair[k] = c
	}
	if st.Extrinsics != "" && st.Calibration == "" && !pr.bad["stereo.extrinsics"] {
		pr.add(ErrMissing, "stereo.extrinsics", "is read together with stereo.calibration, which is not given")
	}
	for k, c := range pair {
		if c == nil {
			continue
		}
		i := l.index(c)
		switch {
		case st.Calibration != "" && c.Calibration != "":
			pr.add(ErrConflict, camKey(i, "calibration"), "the pair's stereo.calibration (line %d) calibrates this camera: give one or the other", lineOf(l.lines, "stereo.calibration"))
		case st.Calibration != "" && c.Intrinsics != nil:
			pr.add(ErrConflict, camKey(i, "intrinsics"), "the pair's stereo.calibration (line %d) calibrates this camera: give one or the other", lineOf(l.lines, "stereo.calibration"))
		case st.Calibration == "" && c.Calibration == "" && c.Intrinsics != nil:
			if o := pair[1-k]; o != nil && o.Calibration != "" {
				pr.add(ErrMissing, camKey(i, "calibration"), "the other camera of the pair has a calibration file: a pair is rectified together, so this one needs one too (or give the pair one stereo.calibration)")
			}
		}
	}
	r := pair[1]
	if r == nil || pr.bad["stereo.baseline"] {
		return
	}
	switch {
	case st.Baseline == 0 && r.Intrinsics != nil && st.Calibration == "":
		pr.add(ErrMissing, "stereo.baseline", "required: the right camera's intrinsics are inline and carry no baseline")
	case st.Baseline != 0 && driverOf(r.URL) != nil && driverOf(r.URL).Model == camera.ModelOwn:
		pr.add(ErrConflict, "stereo.baseline", "the right camera is %s://, which sets its own baseline (synth://: baseline= in its URL)", scheme(r.URL))
	}
	if lc := pair[0]; lc != nil && lc.Intrinsics != nil && r.Intrinsics != nil &&
		(lc.Intrinsics.Width != r.Intrinsics.Width || lc.Intrinsics.Height != r.Intrinsics.Height) {
		i := l.index(r)
		pr.add(ErrConflict, camKey(i, "intrinsics"), "%dx%d, but the left camera is %dx%d: a rectified pair has one image size",
			r.Intrinsics.Width, r.Intrinsics.Height, lc.Intrinsics.Width, lc.Intrinsics.Height)
	}
}

func (l *Launch) nameCount(name string) int {
	n := 0
	for _, c := range l.Cameras {
		if c.Name == name {
			n++
		}
	}
	return n
}

func (l *Launch) index(c *Camera) int {
	for i := range l.Cameras {
		if &l.Cameras[i] == c {
			return i
		}
	}
	return -1
}

func (l *Launch) validateNATS(pr *problems) {
	n := &l.NATS
	var auths []string
	if n.URL != "" && checkNATSURL(n.URL) == nil {
		for _, u := range strings.Split(n.URL, ",") {
			if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.User != nil {
				auths = append(auths, "nats.url")
				break
			}
		}
	}
	for _, a := range []struct {
		key string
		set bool
	}{{"nats.credentials", n.Credentials != ""}, {"nats.token", n.Token != ""}, {"nats.nkey_file", n.NkeyFile != ""}} {
		if a.set {
			auths = append(auths, a.key)
		}
	}
	if n.URL == "" {
		for _, key := range auths {
			pr.add(ErrConflict, key, "applies to an external server, but nats.url is empty (the embedded server has no authentication)")
		}
		if n.TLS != nil {
			pr.add(ErrConflict, "nats.tls", "applies to an external server, but nats.url is empty")
		}
	} else {
		if len(auths) > 1 {
			last := auths[0]
			for _, k := range auths[1:] {
				if lineOf(l.lines, k) >= lineOf(l.lines, last) {
					last = k
				}
			}
			pr.add(ErrConflict, last, "give one way to authenticate, not %s", strings.Join(auths, " and "))
		}
		if l.has("nats.embedded") {
			pr.add(ErrConflict, "nats.embedded", "is used only when nats.url is empty")
		}
	}
	if t := n.TLS; t != nil {
		switch {
		case t.Cert != "" && t.Key == "":
			pr.add(ErrMissing, "nats.tls.key", "required with nats.tls.cert")
		case t.Key != "" && t.Cert == "":
			pr.add(ErrMissing, "nats.tls.cert", "required with nats.tls.key")
		}
	}
}

func atLine(l *Launch, key string) string {
	if n := lineOf(l.lines, key); n > 0 {
		return fmt.Sprintf(" (line %d)", n)
	}
	return ""
}

// CheckFiles checks that the files the launch file names exist: camera
// calibrations, recordings (mcap://, kitti://), the model checkpoint, NATS
// credentials and nkey seed, and TLS files. Relative paths are resolved
// against Dir. Like Parse it returns every problem, joined. The run command
// calls it after Load; Parse does not, so a launch file written for another
// machine can be checked anywhere.
func (l *Launch) CheckFiles() error {
	pr := &problems{file: l.file, lines: l.lines, bad: map[string]bool{}}
	type file struct {
		key, path string
		dir       bool
	}
	var files []file
	for i, c := range l.Cameras {
		if c.Calibration != "" {
			files = append(files, file{camKey(i, "calibration"), c.Calibration, false})
		}
		if i == 0 && l.Stereo != nil {
			files = append(files, file{"stereo.calibration", l.Stereo.Calibration, false}, file{"stereo.extrinsics", l.Stereo.Extrinsics, false})
		}
		if d, u, err := camera.Lookup(c.URL); err == nil && d.Path != camera.PathNone {
			files = append(files, file{camKey(i, "url"), camera.FilePath(u), d.Path == camera.PathFolder})
		}
	}
	files = append(files, file{"model.checkpoint", l.Model.Checkpoint, false}, file{"model.encoder_init", l.Model.EncoderInit, false},
		file{"nats.credentials", l.NATS.Credentials, false}, file{"nats.nkey_file", l.NATS.NkeyFile, false})
	if t := l.NATS.TLS; t != nil {
		files = append(files, file{"nats.tls.cert", t.Cert, false}, file{"nats.tls.key", t.Key, false}, file{"nats.tls.ca", t.CA, false})
	}
	if v := l.Viewer; v != nil && v.TLS != nil {
		files = append(files, file{"viewer.tls.cert", v.TLS.Cert, false}, file{"viewer.tls.key", v.TLS.Key, false})
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		full := l.Resolve(f.path)
		st, err := os.Stat(full)
		var e *Error
		switch {
		case errors.Is(err, fs.ErrNotExist):
			where := ""
			if abs, err := filepath.Abs(full); err == nil && abs != f.path {
				where = " (looked for " + abs + ")"
			}
			e = pr.add(ErrFile, f.key, "%s: no such file%s", f.path, where)
		case err != nil:
			e = pr.add(ErrFile, f.key, "%s: %v", f.path, unwrapPathErr(err))
		case f.dir && !st.IsDir():
			e = pr.add(ErrFile, f.key, "%s is not a folder", f.path)
		case !f.dir && !st.Mode().IsRegular():
			e = pr.add(ErrFile, f.key, "%s is not a regular file", f.path)
		}
		if e != nil && err != nil {
			e.Cause = err
		}
	}
	// Read the calibrations that are there: their problems name the
	// calibration file's line and field too.
	reported := map[string]bool{}
	for _, e := range pr.list {
		reported[e.Key] = true
	}
	l.readCalibrations(pr, reported)
	return pr.err()
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// networkSchemes names the schemes of network streams, "rtsp:// and
// rtsps://", from the camera registry.
func networkSchemes() string {
	var out []string
	for _, s := range camera.Schemes() {
		if d := driverOf(s + "://x"); d != nil && d.Network {
			out = append(out, s+"://")
		}
	}
	if len(out) <= 1 {
		return strings.Join(out, "")
	}
	return strings.Join(out[:len(out)-1], ", ") + " and " + out[len(out)-1]
}
