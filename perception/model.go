package perception

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// ModelConfig is the architecture of a Model: its input size and its named
// sub-networks. It is what a checkpoint records and what a loaded
// checkpoint must match.
type ModelConfig struct {
	// Width is the network input width in pixels, a multiple of 32, at
	// least 64. It defaults to 640.
	Width int
	// Height is the network input height in pixels, a multiple of 32, at
	// least 64. It defaults to 192.
	Height int
	// Nets are the sub-networks by name; a name is also the prefix of the
	// network's variables ("depth.enc0.conv0.weight"). It defaults to the
	// standard model: NetDepth (DepthConfig{}) and NetPose (PoseConfig{}).
	Nets map[string]NetConfig
}

// DepthPose is the standard model's configuration: a depth and a pose
// network for w x h inputs.
func DepthPose(w, h int, depth DepthConfig, pose PoseConfig) ModelConfig {
	return ModelConfig{Width: w, Height: h, Nets: map[string]NetConfig{NetDepth: depth, NetPose: pose}}
}

// netNameRe is what a sub-network name may look like: a variable-name
// prefix without dots.
var netNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Fill returns the configuration with defaults filled in (a copy: the
// receiver's map is not modified).
func (c ModelConfig) Fill() ModelConfig {
	if c.Width == 0 {
		c.Width = 640
	}
	if c.Height == 0 {
		c.Height = 192
	}
	if len(c.Nets) == 0 {
		c.Nets = map[string]NetConfig{NetDepth: DepthConfig{}, NetPose: PoseConfig{}}
	}
	nets := make(map[string]NetConfig, len(c.Nets))
	for name, n := range c.Nets {
		if n != nil {
			n = n.Filled()
		}
		nets[name] = n
	}
	c.Nets = nets
	return c
}

// Validate checks a filled configuration.
func (c ModelConfig) Validate() error {
	if c.Width < MinInputSize || c.Height < MinInputSize || c.Width%32 != 0 || c.Height%32 != 0 || c.Width > 8192 || c.Height > 8192 {
		return fmt.Errorf("%w: input %dx%d (want multiples of 32, %d..8192)", ErrConfig, c.Width, c.Height, MinInputSize)
	}
	if len(c.Nets) == 0 {
		return fmt.Errorf("%w: no sub-network", ErrConfig)
	}
	for _, name := range c.Names() {
		n := c.Nets[name]
		if !netNameRe.MatchString(name) {
			return fmt.Errorf("%w: sub-network name %q (want [a-z][a-z0-9_]*, at most 32 characters)", ErrConfig, name)
		}
		if n == nil {
			return fmt.Errorf("%w: sub-network %s has no configuration", ErrConfig, name)
		}
		if err := n.Validate(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// Names returns the sub-network names, sorted.
func (c ModelConfig) Names() []string {
	return slices.Sorted(maps.Keys(c.Nets))
}

// ArchDiff returns a description of the first architectural difference
// between a and b ("depth size small != default", "input 320x96 !=
// 640x192", "no pose network in the second"), or "" when they match. Both
// must be filled.
func ArchDiff(a, b ModelConfig) string {
	if a.Width != b.Width || a.Height != b.Height {
		return fmt.Sprintf("input %dx%d != %dx%d", a.Width, a.Height, b.Width, b.Height)
	}
	for _, name := range a.Names() {
		if _, ok := b.Nets[name]; !ok {
			return fmt.Sprintf("no %s network in the second", name)
		}
	}
	for _, name := range b.Names() {
		na, ok := a.Nets[name]
		if !ok {
			return fmt.Sprintf("no %s network in the first", name)
		}
		nb := b.Nets[name]
		if na.Kind() != nb.Kind() {
			return fmt.Sprintf("%s kind %s != %s", name, na.Kind(), nb.Kind())
		}
		if d := na.ArchDiff(nb); d != "" {
			return name + " " + d
		}
	}
	return ""
}

// Checkpoint JSON of a ModelConfig (format version 2): the input size and
// every sub-network with its kind and configuration, so a reader learns
// which networks a file holds before it reads a weight.
type modelJSON struct {
	Width  int                `json:"width"`
	Height int                `json:"height"`
	Nets   map[string]netJSON `json:"nets"`
}

type netJSON struct {
	Kind   string          `json:"kind"`
	Config json.RawMessage `json:"config"`
}

// legacyModelJSON is format version 1's architecture: a fixed depth and
// pose pair (assets/demo.ckpt was written so).
type legacyModelJSON struct {
	Depth  *DepthConfig
	Pose   *PoseConfig
	Width  int
	Height int
}

// MarshalJSON writes the version-2 form.
func (c ModelConfig) MarshalJSON() ([]byte, error) {
	out := modelJSON{Width: c.Width, Height: c.Height, Nets: map[string]netJSON{}}
	for name, n := range c.Nets {
		if n == nil {
			return nil, fmt.Errorf("%w: sub-network %s has no configuration", ErrConfig, name)
		}
		raw, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		out.Nets[name] = netJSON{Kind: n.Kind(), Config: raw}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the version-2 form, and version 1's depth and pose
// pair.
func (c *ModelConfig) UnmarshalJSON(data []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return err
	}
	if _, v2 := probe["nets"]; !v2 {
		var old legacyModelJSON
		if err := json.Unmarshal(data, &old); err != nil {
			return err
		}
		if old.Depth == nil || old.Pose == nil {
			return fmt.Errorf("%w: architecture without nets (nor version 1's Depth and Pose)", ErrConfig)
		}
		*c = DepthPose(old.Width, old.Height, *old.Depth, *old.Pose)
		return nil
	}
	var m modelJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	out := ModelConfig{Width: m.Width, Height: m.Height, Nets: map[string]NetConfig{}}
	for name, n := range m.Nets {
		nc, err := decodeNet(n.Kind, n.Config)
		if err != nil {
			return fmt.Errorf("sub-network %s: %w", name, err)
		}
		out.Nets[name] = nc
	}
	*c = out
	return nil
}

// Model holds named sub-networks and their variables in one VarStore:
// network "depth"'s variables are named "depth.…". Every method that
// touches tensors must run on a Worker (Worker.Do); a Model is not safe for
// concurrent use.
type Model struct {
	vs   *nn.VarStore
	nets map[string]Net
	cfg  ModelConfig
}

// NewModel makes a freshly initialised model on dev. Run it on a Worker.
func NewModel(cfg ModelConfig, dev gotch.Device) (*Model, error) {
	cfg = cfg.Fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{vs: nn.NewVarStore(dev), cfg: cfg, nets: map[string]Net{}}
	for _, name := range cfg.Names() {
		n, err := cfg.Nets[name].Build(m.vs.Root().Sub(name), cfg.Width, cfg.Height)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("perception: %s network: %w", name, err)
		}
		m.nets[name] = n
	}
	return m, nil
}

// Config returns the model's architecture, defaults filled in.
func (m *Model) Config() ModelConfig { return m.cfg }

// VarStore returns the store holding every variable, for optimisers.
func (m *Model) VarStore() *nn.VarStore { return m.vs }

// Net returns the named sub-network, or nil.
func (m *Model) Net(name string) Net { return m.nets[name] }

// Has reports whether the model has the named sub-network.
func (m *Model) Has(name string) bool { _, ok := m.nets[name]; return ok }

// Depth returns the NetDepth network, nil when the model has none.
func (m *Model) Depth() *DepthNet { n, _ := m.nets[NetDepth].(*DepthNet); return n }

// Pose returns the NetPose network, nil when the model has none.
func (m *Model) Pose() *PoseNet { n, _ := m.nets[NetPose].(*PoseNet); return n }

// Device returns the device the variables live on.
func (m *Model) Device() gotch.Device { return m.vs.Device() }

// NamedVariables returns the variables sorted by name, of the named
// sub-networks only when nets are given.
func (m *Model) NamedVariables(nets ...string) []ts.NamedTensor {
	vars := m.vs.Variables()
	out := make([]ts.NamedTensor, 0, len(vars))
	for name, v := range vars {
		if len(nets) > 0 && !slices.Contains(nets, NetOf(name)) {
			continue
		}
		v := v
		out = append(out, ts.NamedTensor{Name: name, Tensor: &v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NetOf returns the sub-network a variable name belongs to: the part
// before the first dot.
func NetOf(variable string) string {
	name, _, _ := strings.Cut(variable, ".")
	return name
}

// Close frees the variables. The model must not be used afterwards.
func (m *Model) Close() {
	if m == nil || m.vs == nil {
		return
	}
	for _, v := range m.vs.Variables() {
		v := v
		v.MustDrop()
	}
	m.vs = nil
}
