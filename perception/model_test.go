package perception

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func smallConfig() ModelConfig {
	return ModelConfig{Depth: DepthConfig{Size: SizeSmall}, Pose: PoseConfig{Size: SizeSmall}, Width: 128, Height: 64}
}

func TestModelConfig(t *testing.T) {
	c := ModelConfig{}.Fill()
	if c.Width != 640 || c.Height != 192 || c.Depth.Size != SizeDefault || c.Pose.Size != SizeDefault ||
		c.Depth.MinDepth != 0.1 || c.Depth.MaxDepth != 100 || c.Depth.InitDepth != 10 {
		t.Fatalf("defaults: %+v", c)
	}
	for _, bad := range []ModelConfig{
		{Width: 100, Height: 64}, {Width: 64, Height: 32}, {Width: 64, Height: 64, Depth: DepthConfig{Size: "x"}},
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
