package perception

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func smallConfig() ModelConfig {
	return DepthPose(128, 64, DepthConfig{Size: SizeSmall}, PoseConfig{Size: SizeSmall})
}

// withDepth and withPose return c with its depth or pose config edited.
func withDepth(c ModelConfig, edit func(*DepthConfig)) ModelConfig {
	d := c.Nets[NetDepth].(DepthConfig)
	edit(&d)
	return DepthPose(c.Width, c.Height, d, c.Nets[NetPose].(PoseConfig))
}

func withPose(c ModelConfig, edit func(*PoseConfig)) ModelConfig {
	p := c.Nets[NetPose].(PoseConfig)
	edit(&p)
	return DepthPose(c.Width, c.Height, c.Nets[NetDepth].(DepthConfig), p)
}

func TestModelConfig(t *testing.T) {
	c := ModelConfig{}.Fill()
	d, _ := c.Nets[NetDepth].(DepthConfig)
	p, _ := c.Nets[NetPose].(PoseConfig)
	if c.Width != 640 || c.Height != 192 || len(c.Nets) != 2 || d.Size != SizeDefault || p.Size != SizeDefault ||
		d.MinDepth != 0.1 || d.MaxDepth != 100 || d.InitDepth != 10 {
		t.Fatalf("defaults: %+v", c)
	}
	for _, bad := range []ModelConfig{
		{Width: 100, Height: 64}, {Width: 64, Height: 32}, DepthPose(64, 64, DepthConfig{Size: "x"}, PoseConfig{}),
		{Width: 64, Height: 64, Nets: map[string]NetConfig{"Bad.Name": PoseConfig{}}},
	} {
		if _, err := NewModel(bad, gotch.CPU); !errors.Is(err, ErrConfig) {
			t.Errorf("NewModel(%+v): %v, want ErrConfig", bad, err)
		}
	}
}

// TestGradientsReachEveryParameter: one backward through both networks
// gives every variable a non-zero, finite gradient.
func TestGradientsReachEveryParameter(t *testing.T) {
	onWorker(t, func() error {
		m, err := NewModel(smallConfig(), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		a, err := randImage(1, 2, 64, 128)
		if err != nil {
			return err
		}
		defer a.MustDrop()
		b, err := randImage(2, 2, 64, 128)
		if err != nil {
			return err
		}
		defer b.MustDrop()
		disps, err := m.Depth().Forward(a, true)
		if err != nil {
			return err
		}
		vec, err := m.Pose().Forward(a, b)
		if err != nil {
			dropAll(disps)
			return err
		}
		mat, err := PoseMatrix(vec)
		vec.MustDrop()
		if err != nil {
			dropAll(disps)
			return err
		}
		// loss = sum of the mean disparities + sum of the pose matrices.
		terms := append(disps, mat)
		var loss *ts.Tensor
		for _, x := range terms {
			s, err := x.MeanDim([]int64{0, 1, 2}, false, gotch.Float, true)
			if err != nil {
				return err
			}
			s, err = s.Sum(gotch.Float, true)
			if err != nil {
				return err
			}
			if loss == nil {
				loss = s
			} else if loss, err = loss.Add(s, true); err != nil {
				return err
			} else {
				s.MustDrop()
			}
		}
		defer loss.MustDrop()
		if err := loss.Backward(); err != nil {
			return err
		}
		vars := m.NamedVariables()
		if len(vars) < 40 {
			return fmt.Errorf("only %d variables", len(vars))
		}
		var depthVars, poseVars int
		for _, nv := range vars {
			g, err := nv.Tensor.Grad(false)
			if err != nil {
				return fmt.Errorf("%s: %w", nv.Name, err)
			}
			var sum float64
			for _, x := range g.Float64Values(true) {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return fmt.Errorf("%s: gradient %g", nv.Name, x)
				}
				sum += math.Abs(x)
			}
			if sum == 0 {
				return fmt.Errorf("%s: zero gradient", nv.Name)
			}
			switch {
			case strings.HasPrefix(nv.Name, "depth."):
				depthVars++
			case strings.HasPrefix(nv.Name, "pose."):
				poseVars++
			default:
				return fmt.Errorf("variable %s outside depth. and pose.", nv.Name)
			}
		}
		// 5 stages x 2 + 5 levels x 2 + 4 heads convs, weight and bias each;
		// 7 + 1 pose convs.
		if depthVars != 2*(10+10+4) || poseVars != 2*8 {
			return fmt.Errorf("%d depth and %d pose variables, want 48 and 16", depthVars, poseVars)
		}
		return nil
	})
}

// toyHead is a sub-network kind made only for the test: one 1x1
// convolution. It shows a new network needs nothing but its NetConfig, Net
// and one RegisterNet call.
type toyHead struct{ Channels int64 }

func (toyHead) Kind() string        { return "toyhead" }
func (c toyHead) Filled() NetConfig { c.Channels = max(c.Channels, 1); return c }
func (c toyHead) Validate() error   { return nil }
func (c toyHead) ArchDiff(o NetConfig) string {
	if n := o.(toyHead).Channels; n != c.Channels {
		return fmt.Sprintf("channels %d != %d", c.Channels, n)
	}
	return ""
}
func (c toyHead) Build(p *nn.Path, w, h int) (Net, error) {
	conv, err := newConv(p.Sub("conv"), 3, c.Channels, 1, 1, false)
	return &toyHeadNet{cfg: c, conv: conv}, err
}

type toyHeadNet struct {
	cfg  toyHead
	conv *conv2d
}

func (n *toyHeadNet) NetConfig() NetConfig { return n.cfg }

func init() { RegisterNet("toyhead", decodeAs[toyHead]) }

// TestModelOfNamedNets: a model of a depth network and a new kind of
// network under its own name round-trips through a checkpoint whose header
// lists both; the header's JSON names each network's kind.
func TestModelOfNamedNets(t *testing.T) {
	cfg := ModelConfig{Width: 64, Height: 64, Nets: map[string]NetConfig{
		NetDepth: DepthConfig{Size: SizeSmall}, "head": toyHead{Channels: 4}}}
	path := filepath.Join(t.TempDir(), "m.ckpt")
	onWorker(t, func() error {
		m, err := NewModel(cfg, gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		if m.Pose() != nil || m.Depth() == nil || m.Net("head") == nil {
			return fmt.Errorf("nets: depth %v pose %v head %v", m.Depth() != nil, m.Pose() != nil, m.Net("head") != nil)
		}
		if n := len(m.NamedVariables("head")); n != 2 {
			return fmt.Errorf("head has %d variables, want weight and bias", n)
		}
		if err := m.Save(path, CheckpointMeta{}); err != nil {
			return err
		}
		c, err := ReadCheckpoint(path)
		if err != nil {
			return err
		}
		if got := c.Header.Arch.Names(); !slices.Equal(got, []string{"depth", "head"}) {
			return fmt.Errorf("header lists %v", got)
		}
		m2, _, err := LoadModel(path, gotch.CPU)
		if err != nil {
			return err
		}
		defer m2.Close()
		a, _ := m.Fingerprint()
		b, _ := m2.Fingerprint()
		if a != b {
			return fmt.Errorf("loaded weights differ")
		}
		return nil
	})
	raw, err := json.Marshal(cfg.Fill())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"head":{"kind":"toyhead","config":{"Channels":4}}`) {
		t.Errorf("header JSON: %s", raw)
	}
}

// TestLegacyArchJSON: format version 1's header (a fixed depth and pose
// pair, as assets/demo.ckpt has it) reads as the standard model; an
// unknown network kind is a clear error.
func TestLegacyArchJSON(t *testing.T) {
	var c ModelConfig
	v1 := `{"Depth":{"Size":"small","MinDepth":0.1,"MaxDepth":100,"InitDepth":10},"Pose":{"Size":"small","ForwardPrior":0},"Width":320,"Height":96}`
	if err := json.Unmarshal([]byte(v1), &c); err != nil {
		t.Fatal(err)
	}
	want := DepthPose(320, 96, DepthConfig{Size: SizeSmall}, PoseConfig{Size: SizeSmall}).Fill()
	if d := ArchDiff(c.Fill(), want); d != "" {
		t.Fatalf("v1 header: %s", d)
	}
	err := json.Unmarshal([]byte(`{"width":64,"height":64,"nets":{"x":{"kind":"warp-drive","config":{}}}}`), &c)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `network kind "warp-drive"`) {
		t.Fatalf("unknown kind: %v", err)
	}
}

// TestManualSeed: the same seed gives the same initial weights.
func TestManualSeed(t *testing.T) {
	fp := func(seed int64) uint64 {
		var f uint64
		onWorker(t, func() error {
			ManualSeed(seed)
			m, err := NewModel(smallConfig(), gotch.CPU)
			if err != nil {
				return err
			}
			defer m.Close()
			f, err = m.Fingerprint()
			return err
		})
		return f
	}
	if a, b, c := fp(7), fp(7), fp(8); a != b || a == c {
		t.Fatalf("fingerprints: seed 7 %x and %x, seed 8 %x", a, b, c)
	}
}
