package learner

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Objective is a self-supervised training objective: a batch in, named
// loss terms out, and the sub-networks whose variables it trains. The
// Trainer runs any objective through one step (forward, backward, clipping,
// Adam, the non-finite guard), and Fit, the Adapter, `parallax train`,
// `demo --pretrain` and `bench` run the Trainer: a new objective is one new
// type, nothing else changes. Monodepth2 is the first.
type Objective interface {
	// Name identifies the objective in checkpoints and logs
	// ("monodepth2/stereo"); a checkpoint resumes only under the same name.
	Name() string
	// Needs says which frames each sample must carry besides its target.
	Needs() Needs
	// Trains returns the sub-networks (perception.ModelConfig.Nets names)
	// whose variables the objective trains, or an error naming the network
	// a model of cfg lacks.
	Trains(cfg perception.ModelConfig) ([]string, error)
	// Loss runs the networks on the batch and builds the loss. Every tensor
	// it makes, the returned ones included, belongs to s (the Trainer
	// frees the graph after the backward pass). It runs on the model's
	// Worker, with grad mode on for a step and off for a validation.
	Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error)
}

// StatefulObjective is an Objective with state of its own besides the
// model's weights (MoCo's queue of keys): Trainer.Save writes it to the
// checkpoint section SectionObjective and Trainer.Resume restores it, so a
// resumed run continues exactly. Such an objective is a pointer, used by one
// Trainer.
type StatefulObjective interface {
	Objective
	// MarshalState encodes the state.
	MarshalState() ([]byte, error)
	// CheckState reports whether data is a state LoadState would accept,
	// changing nothing.
	CheckState(data []byte) error
	// LoadState replaces the state with data, or returns an error and
	// changes nothing.
	LoadState(data []byte) error
}

// Loss is an objective's loss on one batch.
type Loss struct {
	// Total is the scalar the step minimises.
	Total *ts.Tensor
	// Terms are the weighted scalar terms that add up to Total, by name
	// ("photometric", "smoothness"): <ns>.learner.stats reports them.
	Terms []Term
}

// Term is one named part of a Loss.
type Term struct {
	Name  string
	Value *ts.Tensor
}

// Guarded is implemented by objectives that name the term the online
// learner's gates and drift guard compare across weights and tuples
// (Monodepth2: "photometric", which the smoothness prior does not blur).
// Without it the guard compares the total.
type Guarded interface {
	GuardTerm() string
}

// guardTerm is the term the Adapter watches for o.
func guardTerm(o Objective) string {
	if g, ok := o.(Guarded); ok {
		return g.GuardTerm()
	}
	return TermTotal
}

// TermTotal is the name StepStats gives the total in Terms.
const TermTotal = "total"

// Needs says which frames a training sample must carry besides its target.
type Needs struct {
	// Prev and Next are the same camera's previous and next frames.
	Prev, Next bool
	// Right is the right view of a rectified stereo pair, with its baseline.
	Right bool
}

// Temporal reports whether a neighbouring frame is needed.
func (n Needs) Temporal() bool { return n.Prev || n.Next }

// String lists the needed frames ("prev+next+right"), "target" for none.
func (n Needs) String() string {
	var p []string
	for _, x := range []struct {
		on   bool
		name string
	}{{n.Prev, "prev"}, {n.Next, "next"}, {n.Right, "right"}} {
		if x.on {
			p = append(p, x.name)
		}
	}
	if len(p) == 0 {
		return "target"
	}
	return strings.Join(p, "+")
}

// requireNets checks cfg has the named networks, for Objective.Trains.
func requireNets(objective string, cfg perception.ModelConfig, nets ...string) error {
	for _, n := range nets {
		if _, ok := cfg.Nets[n]; !ok {
			return fmt.Errorf("%w: objective %s needs a %s network, the model has %v", ErrTrainConfig, objective, n, cfg.Names())
		}
	}
	return nil
}
