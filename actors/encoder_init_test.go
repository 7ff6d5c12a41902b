package actors

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

// TestLoadModelEncoderInit: with model.encoder_init and no checkpoint the
// node's depth net starts from the pre-trained encoder's weights; a
// missing file is an error naming the option.
func TestLoadModelEncoderInit(t *testing.T) {
	w, err := perception.NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path := filepath.Join(t.TempDir(), "rot.ckpt")
	var want []float32
	err = w.Do(func() error {
		mc, err := learner.PretrainModel(learner.Rotation{}, 128, 64, perception.SizeSmall)
		if err != nil {
			return err
		}
		perception.ManualSeed(42)
		m, err := perception.NewModel(mc, gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		for _, nv := range m.NamedVariables(perception.NetEncoder) {
			if strings.HasPrefix(nv.Name, perception.NetEncoder+".enc") && strings.HasSuffix(nv.Name, ".weight") {
				want, err = perception.TensorFloat32s(nv.Tensor)
				break
			}
		}
		if err != nil {
			return err
		}
		return m.Save(path, perception.CheckpointMeta{})
	})
	if err != nil {
		t.Fatal(err)
	}
	l := launch.Defaults()
	l.Model.Width, l.Model.Height, l.Model.Size = 128, 64, perception.SizeSmall
	l.Model.EncoderInit = path
	n := &Node{worker: w}
	if err := n.loadModel(l, gotch.CPU); err != nil {
		t.Fatal(err)
	}
	defer w.Do(func() error { n.model.Close(); return nil })
	if !strings.Contains(n.modelOf, "encoder from "+path) {
		t.Errorf("modelOf %q", n.modelOf)
	}
	var got []float32
	err = w.Do(func() error {
		for _, nv := range n.model.NamedVariables(perception.NetDepth) {
			if strings.HasPrefix(nv.Name, perception.NetDepth+".enc") && strings.HasSuffix(nv.Name, ".weight") {
				var err error
				got, err = perception.TensorFloat32s(nv.Tensor)
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("the depth net's first encoder variable (%d values) is not the pre-trained one (%d)", len(got), len(want))
	}
	l.Model.EncoderInit = filepath.Join(filepath.Dir(path), "nope.ckpt")
	n2 := &Node{worker: w}
	if err := n2.loadModel(l, gotch.CPU); err == nil || !strings.Contains(err.Error(), "model.encoder_init") {
		t.Errorf("missing encoder_init: %v", err)
	}
}
