package synth

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Errors returned by NewWorld and ParseURL. They are wrapped with the name of
// the offending field or key; test them with errors.Is.
var (
	// ErrInvalidConfig is returned for a Config field out of range.
	ErrInvalidConfig = errors.New("synth: invalid config")
	// ErrInvalidURL is returned by ParseURL for a malformed synth:// URL.
	ErrInvalidURL = errors.New("synth: invalid URL")
	// ErrUnknownView is returned for a view name other than left, right or mono.
	ErrUnknownView = errors.New("synth: unknown view")
)

// Path kinds accepted by Config.Path.
const (
	// PathCar drives in the right lane at car height (1.65 m) with gentle
	// lane changes and suspension bobbing.
	PathCar = "car"
	// PathRobot wanders across the road at robot height (0.6 m), slower and
	// with a stronger sway.
	PathRobot = "robot"
)

// Styles accepted by Config.Style. A style is a palette and a mood: another
// style is a clearly different world for domain-shift experiments.
const (
	// StyleUrban is grey asphalt, red brick and beige plaster, a high sun.
	StyleUrban = "urban"
	// StyleSuburb is pale asphalt, green verges, white and pastel houses.
	StyleSuburb = "suburb"
	// StyleDesert is a sandy old town: ochre walls, dusty road, a low warm sun.
	StyleDesert = "desert"
)

// Limits on the image size, so a typo cannot ask for a terabyte frame.
const (
	minSize = 8
	maxSize = 8192
)

// Config describes a synthetic world, its camera rig and its drive. The zero
// value is a valid config: every zero field takes its documented default.
type Config struct {
	// Seed selects the world: layout, textures, lighting phase and the start
	// of the drive. Equal seeds and fields give byte-identical frames.
	// It defaults to 0, which is a seed like any other.
	Seed int64
	// Width and Height are the image size in pixels, each 8 to 8192.
	// They default to 320 and 96.
	Width, Height int
	// Stereo renders a right view as well: the left camera shifted by
	// Baseline along its x axis (rectified, identical intrinsics).
	// It defaults to false (mono).
	Stereo bool
	// Baseline is the stereo baseline in metres. It defaults to 0.54 m (KITTI).
	Baseline float64
	// FPS is the frame rate: frame i is taken at time i/FPS.
	// It defaults to 15.
	FPS float64
	// Speed is the speed in m/s along the road centreline; the camera's own
	// speed differs from it by its lane offset and sway (by under 15%).
	// It defaults to 8 m/s for PathCar and 1.5 m/s for PathRobot.
	Speed float64
	// Fx and Fy are the focal lengths in pixels. They default to 0.58*Width
	// (KITTI's ratio) and to Fx.
	Fx, Fy float64
	// Cx and Cy are the principal point in pixels (pixel (0,0) covers
	// [0,1)x[0,1)). They default to Width/2 and Height/2.
	Cx, Cy float64
	// Path is the kind of drive: PathCar or PathRobot. It defaults to PathCar.
	Path string
	// Style is the palette and mood of the world: StyleUrban, StyleSuburb or
	// StyleDesert. It defaults to StyleUrban.
	Style string
	// Density scales the number of posts, bollards and crates along the road
	// and the number of recessed plots between outer buildings, above 0 and up to 4.
	// It defaults to 1.
	Density float64
	// SunElevation and SunAzimuth are the sun direction in degrees
	// (elevation 5 to 90, azimuth any). Zero means a direction drawn from the
	// seed within the style's range.
	SunElevation, SunAzimuth float64
	// Ambient is the share of light that reaches every surface regardless of
	// its orientation, 0.05 to 1. It defaults to the style's value (0.35 to 0.45).
	Ambient float64
	// Samples is the number of rays per pixel side, 1 to 4: 2 renders 2x2
	// stratified rays a pixel and averages them (anti-aliased edges, at about
	// 4x the time). Depth is always that of the pixel centre.
	// It defaults to 1.
	Samples int
	// Exposure is the amplitude of the slow brightness drift along the
	// drive, 0 (none) to 0.5. It defaults to 0.12; a negative value means none.
	Exposure float64
	// K1, K2, P1, P2 and K3 are a lens distortion both views are rendered
	// with, OpenCV's plumb_bob model (radial k1 k2 k3, tangential p1 p2) on
	// normalised image coordinates, each within ±1 (k1 = -0.2 is a
	// typical wide-angle lens's barrel). The frames are then raw, as a real
	// camera's: their Intrinsics give only the pinhole part (Fx, Fy, Cx,
	// Cy), and World.Calibration gives the model that rectifies them;
	// ground truth stays exact (each pixel's depth along the raw optical
	// axis). They default to 0: an ideal pinhole.
	K1, K2, P1, P2, K3 float64
	// RightYaw, RightPitch and RightRoll rotate the right camera about its
	// own centre, in degrees within ±10, so the pair is not rectified: yaw
	// about its y axis (positive looks right), pitch about its x axis
	// (positive looks down), roll about its optical axis (applied in that
	// order, as the left camera's pitch and roll). The right camera's
	// ground-truth pose includes the rotation. They default to 0: a
	// rectified pair.
	RightYaw, RightPitch, RightRoll float64
}

// Distorted reports whether the config renders through a lens distortion.
func (c Config) Distorted() bool {
	return c.K1 != 0 || c.K2 != 0 || c.P1 != 0 || c.P2 != 0 || c.K3 != 0
}

// Unrectified reports whether the right camera is rotated.
func (c Config) Unrectified() bool { return c.RightYaw != 0 || c.RightPitch != 0 || c.RightRoll != 0 }

// withDefaults returns the config with every zero field set to its default.
// Fields that depend on the seed (sun) are resolved by NewWorld.
func (c Config) withDefaults() Config {
	if c.Width == 0 {
		c.Width = 320
	}
	if c.Height == 0 {
		c.Height = 96
	}
	if c.Baseline == 0 {
		c.Baseline = 0.54
	}
	if c.FPS == 0 {
		c.FPS = 15
	}
	if c.Path == "" {
		c.Path = PathCar
	}
	if c.Speed == 0 {
		if c.Path == PathRobot {
			c.Speed = 1.5
		} else {
			c.Speed = 8
		}
	}
	if c.Fx == 0 {
		c.Fx = 0.58 * float64(c.Width)
	}
	if c.Fy == 0 {
		c.Fy = c.Fx
	}
	if c.Cx == 0 {
		c.Cx = float64(c.Width) / 2
	}
	if c.Cy == 0 {
		c.Cy = float64(c.Height) / 2
	}
	if c.Style == "" {
		c.Style = StyleUrban
	}
	if c.Samples == 0 {
		c.Samples = 1
	}
	if c.Density == 0 {
		c.Density = 1
	}
	if c.Exposure == 0 {
		c.Exposure = 0.12
	} else if c.Exposure < 0 {
		c.Exposure = 0
	}
	return c
}

func bad(field string, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// validate checks a config after defaults were applied.
func (c Config) validate() error {
	if c.Width < minSize || c.Width > maxSize {
		return bad("Width", "is %d, want %d to %d", c.Width, minSize, maxSize)
	}
	if c.Height < minSize || c.Height > maxSize {
		return bad("Height", "is %d, want %d to %d", c.Height, minSize, maxSize)
	}
	if c.Samples < 1 || c.Samples > 4 {
		return bad("Samples", "is %d, want 1 to 4", c.Samples)
	}
	checks := []struct {
		name   string
		v      float64
		lo, hi float64
	}{
		{"Baseline", c.Baseline, 0.01, 10},
		{"FPS", c.FPS, 0.1, 1000},
		{"Speed", c.Speed, 0.01, 40},
		{"Fx", c.Fx, 1, 100 * float64(c.Width)},
		{"Fy", c.Fy, 1, 100 * float64(c.Height+c.Width)},
		{"Cx", c.Cx, -float64(c.Width), 2 * float64(c.Width)},
		{"Cy", c.Cy, -float64(c.Height), 2 * float64(c.Height)},
		{"Density", c.Density, 0, 4},
		{"Exposure", c.Exposure, 0, 0.5},
		{"K1", c.K1, -1, 1}, {"K2", c.K2, -1, 1}, {"P1", c.P1, -1, 1}, {"P2", c.P2, -1, 1}, {"K3", c.K3, -1, 1},
		{"RightYaw", c.RightYaw, -10, 10}, {"RightPitch", c.RightPitch, -10, 10}, {"RightRoll", c.RightRoll, -10, 10},
	}
	for _, k := range checks {
		if !finite(k.v) || k.v < k.lo || k.v > k.hi {
			return bad(k.name, "is %v, want %v to %v", k.v, k.lo, k.hi)
		}
	}
	if !finite(c.SunElevation) || (c.SunElevation != 0 && (c.SunElevation < 5 || c.SunElevation > 90)) {
		return bad("SunElevation", "is %v, want 0 (from the seed) or 5 to 90 degrees", c.SunElevation)
	}
	if !finite(c.SunAzimuth) {
		return bad("SunAzimuth", "is %v, want a finite angle in degrees", c.SunAzimuth)
	}
	if !finite(c.Ambient) || (c.Ambient != 0 && (c.Ambient < 0.05 || c.Ambient > 1)) {
		return bad("Ambient", "is %v, want 0 (style default) or 0.05 to 1", c.Ambient)
	}
	if c.Unrectified() && !c.Stereo {
		return bad("RightYaw", "(and RightPitch, RightRoll) rotate the right camera: they need Stereo")
	}
	if c.Path != PathCar && c.Path != PathRobot {
		return bad("Path", "is %q, want %q or %q", c.Path, PathCar, PathRobot)
	}
	if _, ok := palettes[c.Style]; !ok {
		return bad("Style", "is %q, want %q, %q or %q", c.Style, StyleUrban, StyleSuburb, StyleDesert)
	}
	return nil
}

// urlKeys maps each synth:// query key to the setter of its Config field.
var urlKeys = map[string]func(c *Config, v string) error{
	"seed": func(c *Config, v string) (err error) { c.Seed, err = strconv.ParseInt(v, 10, 64); return },
	"width": func(c *Config, v string) (err error) {
		c.Width, err = parseSize(v)
		return
	},
	"height": func(c *Config, v string) (err error) {
		c.Height, err = parseSize(v)
		return
	},
	"stereo": func(c *Config, v string) (err error) { c.Stereo, err = parseBool(v); return },
	"samples": func(c *Config, v string) (err error) {
		c.Samples, err = strconv.Atoi(v)
		if err == nil && (c.Samples < 1 || c.Samples > 4) {
			err = fmt.Errorf("%d is not within 1 to 4", c.Samples)
		}
		return
	},
	"baseline":      floatKey(func(c *Config) *float64 { return &c.Baseline }),
	"fps":           floatKey(func(c *Config) *float64 { return &c.FPS }),
	"speed":         floatKey(func(c *Config) *float64 { return &c.Speed }),
	"fx":            floatKey(func(c *Config) *float64 { return &c.Fx }),
	"fy":            floatKey(func(c *Config) *float64 { return &c.Fy }),
	"cx":            floatKey(func(c *Config) *float64 { return &c.Cx }),
	"cy":            floatKey(func(c *Config) *float64 { return &c.Cy }),
	"density":       floatKey(func(c *Config) *float64 { return &c.Density }),
	"sun_elevation": floatKey(func(c *Config) *float64 { return &c.SunElevation }),
	"sun_azimuth":   floatKey(func(c *Config) *float64 { return &c.SunAzimuth }),
	"ambient":       floatKey(func(c *Config) *float64 { return &c.Ambient }),
	"exposure":      floatKey(func(c *Config) *float64 { return &c.Exposure }),
	"k1":            floatKey(func(c *Config) *float64 { return &c.K1 }),
	"k2":            floatKey(func(c *Config) *float64 { return &c.K2 }),
	"p1":            floatKey(func(c *Config) *float64 { return &c.P1 }),
	"p2":            floatKey(func(c *Config) *float64 { return &c.P2 }),
	"k3":            floatKey(func(c *Config) *float64 { return &c.K3 }),
	"right_yaw":     floatKey(func(c *Config) *float64 { return &c.RightYaw }),
	"right_pitch":   floatKey(func(c *Config) *float64 { return &c.RightPitch }),
	"right_roll":    floatKey(func(c *Config) *float64 { return &c.RightRoll }),
	"path":          func(c *Config, v string) error { c.Path = v; return nil },
	"style":         func(c *Config, v string) error { c.Style = v; return nil },
}

func floatKey(field func(c *Config) *float64) func(c *Config, v string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		if !finite(f) {
			return errors.New("not a finite number")
		}
		*field(c) = f
		return nil
	}
}

func parseSize(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, err
	}
	if n < minSize || n > maxSize {
		return 0, fmt.Errorf("%d is not within %d to %d", n, minSize, maxSize)
	}
	return n, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (1/0, true/false)", v)
}

// URLKeys lists the query keys ParseURL accepts, sorted.
func URLKeys() []string {
	keys := make([]string, 0, len(urlKeys))
	for k := range urlKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseURL turns a synth:// URL into a Config, for command lines and launch
// files that name sources by URL:
//
//	synth://?seed=7&stereo=1&width=320&height=96&fps=15&speed=8&style=suburb
//
// The keys are the snake_case names of the Config fields (see URLKeys).
// Missing keys keep their defaults; an unknown or repeated key, a bad value,
// or a host or path after synth:// is an error naming it. The returned
// config is validated as NewWorld would.
func ParseURL(raw string) (Config, error) {
	var c Config
	u, err := url.Parse(raw)
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if u.Scheme != "synth" {
		return c, fmt.Errorf("%w: scheme is %q, want \"synth\"", ErrInvalidURL, u.Scheme)
	}
	if u.Opaque != "" || u.Host != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return c, fmt.Errorf("%w: %q: only a query may follow synth://", ErrInvalidURL, raw)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, fmt.Errorf("%w: query: %v", ErrInvalidURL, err)
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the first bad key deterministically
	for _, k := range keys {
		set, ok := urlKeys[k]
		if !ok {
			return c, fmt.Errorf("%w: unknown key %q (known: %s)", ErrInvalidURL, k, strings.Join(URLKeys(), ", "))
		}
		if len(q[k]) != 1 {
			return c, fmt.Errorf("%w: key %q given %d times", ErrInvalidURL, k, len(q[k]))
		}
		if err := set(&c, q[k][0]); err != nil {
			return c, fmt.Errorf("%w: %s=%q: %v", ErrInvalidURL, k, q[k][0], err)
		}
	}
	if err := c.withDefaults().validate(); err != nil {
		return c, err
	}
	return c, nil
}

// URL returns the synth:// URL of the config: ParseURL(c.URL()) gives c back
// for any valid config. Zero fields are left out.
func (c Config) URL() string {
	q := url.Values{}
	if c.Seed != 0 {
		q.Set("seed", strconv.FormatInt(c.Seed, 10))
	}
	if c.Width != 0 {
		q.Set("width", strconv.Itoa(c.Width))
	}
	if c.Height != 0 {
		q.Set("height", strconv.Itoa(c.Height))
	}
	if c.Stereo {
		q.Set("stereo", "1")
	}
	if c.Samples != 0 {
		q.Set("samples", strconv.Itoa(c.Samples))
	}
	for _, f := range []struct {
		k string
		v float64
	}{
		{"baseline", c.Baseline}, {"fps", c.FPS}, {"speed", c.Speed},
		{"fx", c.Fx}, {"fy", c.Fy}, {"cx", c.Cx}, {"cy", c.Cy},
		{"density", c.Density}, {"sun_elevation", c.SunElevation},
		{"sun_azimuth", c.SunAzimuth}, {"ambient", c.Ambient}, {"exposure", c.Exposure},
		{"k1", c.K1}, {"k2", c.K2}, {"p1", c.P1}, {"p2", c.P2}, {"k3", c.K3},
		{"right_yaw", c.RightYaw}, {"right_pitch", c.RightPitch}, {"right_roll", c.RightRoll},
	} {
		if f.v != 0 {
			q.Set(f.k, strconv.FormatFloat(f.v, 'g', -1, 64))
		}
	}
	if c.Path != "" {
		q.Set("path", c.Path)
	}
	if c.Style != "" {
		q.Set("style", c.Style)
	}
	return "synth://?" + q.Encode()
}

func viewError(view string, stereo bool) error {
	if stereo {
		return fmt.Errorf("%w: %q, a stereo rig has %q and %q", ErrUnknownView, view, ViewLeft, ViewRight)
	}
	return fmt.Errorf("%w: %q, a mono rig has %q (or %q)", ErrUnknownView, view, ViewMono, ViewLeft)
}
