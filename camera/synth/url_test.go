package synth

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Config
		err  error
		says string // part of the error message
	}{
		{url: "synth://", want: Config{}},
		{url: "synth:///", want: Config{}},
		{url: "synth://?seed=7&stereo=1&width=320&height=96&fps=15&speed=8",
			want: Config{Seed: 7, Stereo: true, Width: 320, Height: 96, FPS: 15, Speed: 8}},
		{url: "synth://?seed=-3&style=desert&path=robot&density=2.5&sun_elevation=20&sun_azimuth=-45&ambient=0.5&exposure=0.2&baseline=0.3&fx=200&fy=210&cx=150&cy=40",
			want: Config{Seed: -3, Style: StyleDesert, Path: PathRobot, Density: 2.5, SunElevation: 20, SunAzimuth: -45,
				Ambient: 0.5, Exposure: 0.2, Baseline: 0.3, Fx: 200, Fy: 210, Cx: 150, Cy: 40}},
		{url: "synth://?stereo=false", want: Config{}},
		{url: "synth://?samples=2", want: Config{Samples: 2}},
		{url: "synth://?samples=9", err: ErrInvalidURL, says: "samples"},
		{url: "rtsp://host/cam", err: ErrInvalidURL, says: "scheme"},
		{url: "synth://host?seed=1", err: ErrInvalidURL, says: "only a query"},
		{url: "synth://?sed=1", err: ErrInvalidURL, says: `unknown key "sed"`},
		{url: "synth://?seed=1&seed=2", err: ErrInvalidURL, says: "2 times"},
		{url: "synth://?seed=x", err: ErrInvalidURL, says: "seed"},
		{url: "synth://?width=7", err: ErrInvalidURL, says: "width"},
		{url: "synth://?stereo=maybe", err: ErrInvalidURL, says: "stereo"},
		{url: "synth://?fps=NaN", err: ErrInvalidURL, says: "fps"},
		{url: "synth://?speed=-1", err: ErrInvalidConfig, says: "Speed"},
		{url: "synth://?style=mars", err: ErrInvalidConfig, says: "Style"},
		{url: "synth://?seed=%zz", err: ErrInvalidURL, says: ""},
	} {
		got, err := ParseURL(tc.url)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s: error %v, want %v mentioning %q", tc.url, err, tc.err, tc.says)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.url, got, tc.want)
		}
		back, err := ParseURL(got.URL())
		if err != nil || back != got {
			t.Errorf("%s: round trip through %s gave %+v, %v", tc.url, got.URL(), back, err)
		}
	}
}

// FuzzParseURL checks that ParseURL never panics, that what it accepts
// builds a world, and that accepted configs survive a round trip.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"synth://", "synth://?seed=7&stereo=1&width=320&height=96&fps=15&speed=8",
		"synth://?style=suburb&path=robot&density=3", "synth://?fx=1e308", "synth://?width=99999",
		"synth://?exposure=-1&sun_azimuth=720", "http://x", "synth://?a=%", "synth:?seed=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%q: error %v wraps no sentinel", s, err)
			}
			return
		}
		back, err := ParseURL(c.URL())
		if err != nil || back != c {
			t.Fatalf("%q: round trip through %q gave %+v, %v; want %+v", s, c.URL(), back, err, c)
		}
		d := c.withDefaults()
		if err := d.validate(); err != nil {
			t.Fatalf("%q: accepted but invalid: %v", s, err)
		}
		// Building worlds is slow for a fuzzer; build only small ones.
		if d.Width*d.Height <= 64*64 {
			w, err := NewWorld(c)
			if err != nil {
				t.Fatalf("%q: accepted but NewWorld failed: %v", s, err)
			}
			w.Render(1)
		}
	})
}
