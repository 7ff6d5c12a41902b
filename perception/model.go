package perception

import (
	"fmt"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// ModelConfig is the architecture of a Model: what a checkpoint records and
// what a loaded checkpoint must match.
type ModelConfig struct {
	// Depth configures the depth network.
	Depth DepthConfig
	// Pose configures the pose network.
	Pose PoseConfig
	// Width is the network input width in pixels, a multiple of 32, at
	// least 64. It defaults to 640.
	Width int
	// Height is the network input height in pixels, a multiple of 32, at
	// least 64. It defaults to 192.
	Height int
}

// Fill returns the configuration with defaults filled in.
func (c ModelConfig) Fill() ModelConfig {
	c.Depth.fill()
	c.Pose.fill()
	if c.Width == 0 {
		c.Width = 640
	}
	if c.Height == 0 {
		c.Height = 192
	}
	return c
}

// Validate checks a filled configuration.
func (c ModelConfig) Validate() error {
	if c.Width < MinInputSize || c.Height < MinInputSize || c.Width%32 != 0 || c.Height%32 != 0 || c.Width > 8192 || c.Height > 8192 {
		return fmt.Errorf("%w: input %dx%d (want multiples of 32, %d..8192)", ErrConfig, c.Width, c.Height, MinInputSize)
	}
	if err := c.Depth.validate(); err != nil {
		return err
	}
	return c.Pose.validate()
}

// Model holds the depth and pose networks and their variables in one
// VarStore: depth variables are named "depth.…", pose variables "pose.…".
// Every method that touches tensors must run on a Worker (Worker.Do); a
// Model is not safe for concurrent use.
type Model struct {
	vs    *nn.VarStore
	depth *DepthNet
	pose  *PoseNet
	cfg   ModelConfig
}

// NewModel makes a freshly initialised model on dev. Run it on a Worker.
func NewModel(cfg ModelConfig, dev gotch.Device) (*Model, error) {
	cfg = cfg.Fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	vs := nn.NewVarStore(dev)
	m := &Model{vs: vs, cfg: cfg}
	var err error
	if m.depth, err = NewDepthNet(vs.Root().Sub("depth"), cfg.Depth); err != nil {
		m.Close()
		return nil, err
	}
	if m.pose, err = NewPoseNet(vs.Root().Sub("pose"), cfg.Pose); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Config returns the model's architecture, defaults filled in.
func (m *Model) Config() ModelConfig { return m.cfg }

// VarStore returns the store holding every variable, for optimisers.
func (m *Model) VarStore() *nn.VarStore { return m.vs }

// Depth returns the depth network.
func (m *Model) Depth() *DepthNet { return m.depth }

// Pose returns the pose network.
func (m *Model) Pose() *PoseNet { return m.pose }

// Device returns the device the variables live on.
func (m *Model) Device() gotch.Device { return m.vs.Device() }

// NamedVariables returns the variables sorted by name.
func (m *Model) NamedVariables() []ts.NamedTensor {
	vars := m.vs.Variables()
	out := make([]ts.NamedTensor, 0, len(vars))
	for name, v := range vars {
		v := v
		out = append(out, ts.NamedTensor{Name: name, Tensor: &v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
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
