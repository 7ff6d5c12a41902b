package perception

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/sugarme/gotch/nn"
)

// The names of the sub-networks of the standard model (NewModel with no
// Nets): depth and ego-motion.
const (
	NetDepth = "depth"
	NetPose  = "pose"
)

// NetConfig is the architecture of one kind of sub-network: what a
// checkpoint records and what a loaded checkpoint must match. A new network
// is a new NetConfig (and its Net), registered once with RegisterNet; a
// Model is any set of them under names.
type NetConfig interface {
	// Kind names the network type in checkpoints ("depth", "pose").
	Kind() string
	// Filled returns the configuration with defaults filled in.
	Filled() NetConfig
	// Validate checks a filled configuration.
	Validate() error
	// ArchDiff describes the first difference between two filled
	// configurations of the same kind that changes the variables or what
	// the network computes ("size small != default"), or "" when none does.
	// Initialisation-only settings are not compared.
	ArchDiff(other NetConfig) string
	// Build makes the network with its variables under p, for inputs of
	// width x height pixels.
	Build(p *nn.Path, width, height int) (Net, error)
}

// Net is one sub-network of a Model.
type Net interface {
	// NetConfig returns the network's configuration, defaults filled in.
	NetConfig() NetConfig
}

var (
	netKindsMu sync.RWMutex
	netKinds   = map[string]func(json.RawMessage) (NetConfig, error){}
)

// RegisterNet makes a kind of network known to checkpoints: decode reads a
// configuration of that kind from its JSON (as json.Marshal wrote it). It
// panics when the kind is registered twice, as image.RegisterFormat's
// callers would want to know at start-up.
func RegisterNet(kind string, decode func(json.RawMessage) (NetConfig, error)) {
	netKindsMu.Lock()
	defer netKindsMu.Unlock()
	if _, dup := netKinds[kind]; dup {
		panic("perception: network kind " + kind + " registered twice")
	}
	netKinds[kind] = decode
}

// decodeAs is the usual decode function of RegisterNet: plain JSON into C.
func decodeAs[C NetConfig](data json.RawMessage) (NetConfig, error) {
	var c C
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	return c, nil
}

// NetKinds lists the registered kinds, sorted.
func NetKinds() []string {
	netKindsMu.RLock()
	defer netKindsMu.RUnlock()
	out := make([]string, 0, len(netKinds))
	for k := range netKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func decodeNet(kind string, data json.RawMessage) (NetConfig, error) {
	netKindsMu.RLock()
	decode := netKinds[kind]
	netKindsMu.RUnlock()
	if decode == nil {
		return nil, fmt.Errorf("%w: network kind %q (this build knows %v)", ErrConfig, kind, NetKinds())
	}
	c, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s network config: %v", ErrConfig, kind, err)
	}
	return c, nil
}

func init() {
	RegisterNet(DepthConfig{}.Kind(), decodeAs[DepthConfig])
	RegisterNet(PoseConfig{}.Kind(), decodeAs[PoseConfig])
	RegisterNet(EncoderConfig{}.Kind(), decodeAs[EncoderConfig])
	RegisterNet(ProjectionConfig{}.Kind(), decodeAs[ProjectionConfig])
	RegisterNet(ClassifierConfig{}.Kind(), decodeAs[ClassifierConfig])
	RegisterNet(InpaintConfig{}.Kind(), decodeAs[InpaintConfig])
}
