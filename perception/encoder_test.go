package perception

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// pretrainConfig is a pre-training model: a small encoder and a projection
// head on its pooled feature.
func pretrainConfig(w, h int) ModelConfig {
	return ModelConfig{Width: w, Height: h, Nets: map[string]NetConfig{
		NetEncoder:   EncoderConfig{Size: SizeSmall},
		"projection": ProjectionConfig{In: 128, Hidden: 32, Out: 16},
	}}
}

func valuesOf(t *testing.T, x *ts.Tensor) []float32 {
	t.Helper()
	v, err := TensorFloat32s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestDepthNetVariableNames: the depth net's encoder moved into Encoder
// without renaming a variable: assets/demo.ckpt (written before) still
// loads, and its encoder's features are what Forward's decoder reads.
func TestDepthNetVariableNames(t *testing.T) {
	onWorker(t, func() error {
		m, _, err := LoadModel(filepath.Join("..", "assets", "demo.ckpt"), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		for i, nv := range m.NamedVariables(NetDepth)[:4] {
			if want := []string{"depth.dec0.upconv0.bias", "depth.dec0.upconv0.weight", "depth.dec0.upconv1.bias", "depth.dec0.upconv1.weight"}[i]; nv.Name != want {
				t.Errorf("variable %d: %s, want %s", i, nv.Name, want)
			}
		}
		if m.EncoderOf(NetDepth) == nil || m.EncoderOf(NetPose) != nil {
			t.Error("EncoderOf: the depth net has an encoder, the pose net none")
		}
		return nil
	})
}

// TestLoadEncoder: a pre-training checkpoint's encoder goes into a fresh
// depth model's encoder (at another input size), bit for bit, and nothing
// else of the depth model changes; a depth checkpoint's encoder goes into
// a pre-training model; mismatches are refused before any weight moves.
func TestLoadEncoder(t *testing.T) {
	dir := t.TempDir()
	onWorker(t, func() error {
		ManualSeed(1)
		pre, err := NewModel(pretrainConfig(128, 64), gotch.CPU)
		if err != nil {
			return err
		}
		defer pre.Close()
		if got := pre.NamedVariables(NetEncoder)[0].Name; got != "encoder.enc0.conv0.bias" {
			t.Errorf("first encoder variable %s", got)
		}
		path := filepath.Join(dir, "pre.ckpt")
		if err := pre.Save(path, CheckpointMeta{}); err != nil {
			return err
		}
		c, err := ReadCheckpoint(path)
		if err != nil {
			return err
		}
		ManualSeed(2)
		dm, err := NewModel(DepthPose(192, 64, DepthConfig{Size: SizeSmall}, PoseConfig{Size: SizeSmall}), gotch.CPU)
		if err != nil {
			return err
		}
		defer dm.Close()
		before := map[string][]float32{}
		for _, nv := range dm.NamedVariables() {
			before[nv.Name] = valuesOf(t, nv.Tensor)
		}
		src, err := dm.LoadEncoder(c, NetDepth)
		if err != nil || src != NetEncoder {
			t.Fatalf("LoadEncoder: %q, %v", src, err)
		}
		pv := map[string][]float32{}
		for _, nv := range pre.NamedVariables(NetEncoder) {
			pv[nv.Name] = valuesOf(t, nv.Tensor)
		}
		copied := 0
		for _, nv := range dm.NamedVariables() {
			got := valuesOf(t, nv.Tensor)
			rest, isEnc := strings.CutPrefix(nv.Name, "depth.enc")
			switch {
			case isEnc:
				copied++
				if d := maxDiff(got, pv["encoder.enc"+rest]); d != 0 {
					t.Errorf("%s differs from the pre-trained encoder by %g", nv.Name, d)
				}
			case maxDiff(got, before[nv.Name]) != 0:
				t.Errorf("%s changed", nv.Name)
			}
		}
		if copied != 20 {
			t.Errorf("%d encoder variables copied, want 20", copied)
		}
		// The same input gives the same features through either encoder.
		x, err := randImage(3, 2, 64, 192)
		if err != nil {
			return err
		}
		defer x.MustDrop()
		fa, err := pre.EncoderOf(NetEncoder).Forward(x)
		if err != nil {
			return err
		}
		defer dropAll(fa)
		fb, err := dm.EncoderOf(NetDepth).Forward(x)
		if err != nil {
			return err
		}
		defer dropAll(fb)
		for i := range fa {
			if d := maxDiff(valuesOf(t, fa[i]), valuesOf(t, fb[i])); d != 0 {
				t.Errorf("stage %d features differ by %g", i, d)
			}
		}
		if s := sizeOf(fa[4]); s[0] != 2 || s[1] != 128 || s[2] != 2 || s[3] != 6 {
			t.Errorf("stage 4 feature %v, want [2 128 2 6]", s)
		}

		// A depth checkpoint's encoder into the pre-training model.
		dpath := filepath.Join(dir, "depth.ckpt")
		if err := dm.Save(dpath, CheckpointMeta{}); err != nil {
			return err
		}
		dc, err := ReadCheckpoint(dpath)
		if err != nil {
			return err
		}
		if src, err := pre.LoadEncoder(dc, NetEncoder); err != nil || src != NetDepth {
			t.Errorf("depth checkpoint into the encoder: %q, %v", src, err)
		}

		// Refusals, each leaving the model untouched.
		fp, err := dm.Fingerprint()
		if err != nil {
			return err
		}
		ManualSeed(3)
		big, err := NewModel(ModelConfig{Width: 64, Height: 64, Nets: map[string]NetConfig{NetEncoder: EncoderConfig{Size: SizeDefault}}}, gotch.CPU)
		if err != nil {
			return err
		}
		defer big.Close()
		bpath := filepath.Join(dir, "big.ckpt")
		if err := big.Save(bpath, CheckpointMeta{}); err != nil {
			return err
		}
		bc, err := ReadCheckpoint(bpath)
		if err != nil {
			return err
		}
		poseOnly := &Checkpoint{Header: CheckpointHeader{Arch: ModelConfig{Width: 64, Height: 64, Nets: map[string]NetConfig{NetPose: PoseConfig{}}}.Fill()}}
		for _, tc := range []struct {
			name string
			c    *Checkpoint
			net  string
		}{
			{"another size", bc, NetDepth},
			{"no encoder in the checkpoint", poseOnly, NetDepth},
			{"no encoder in the destination", c, NetPose},
			{"no such network", c, "nope"},
			{"no weights", &Checkpoint{Header: c.Header}, NetDepth},
		} {
			if _, err := dm.LoadEncoder(tc.c, tc.net); !errors.Is(err, ErrArchMismatch) && !errors.Is(err, ErrCheckpointCorrupt) {
				t.Errorf("%s: %v, want ErrArchMismatch or ErrCheckpointCorrupt", tc.name, err)
			}
		}
		if fp2, _ := dm.Fingerprint(); fp2 != fp {
			t.Error("a refused LoadEncoder changed the model")
		}
		return nil
	})
}

// TestEncoderSource: which network of a checkpoint LoadEncoder reads.
func TestEncoderSource(t *testing.T) {
	for _, tc := range []struct {
		nets map[string]NetConfig
		want string
	}{
		{map[string]NetConfig{NetEncoder: EncoderConfig{}, "key": EncoderConfig{}}, NetEncoder},
		{map[string]NetConfig{NetDepth: DepthConfig{}, NetPose: PoseConfig{}}, NetDepth},
		{map[string]NetConfig{"other": EncoderConfig{}, "head": ClassifierConfig{In: 2, Classes: 2}}, "other"},
		{map[string]NetConfig{"a": EncoderConfig{}, "b": EncoderConfig{}}, ""},
		{map[string]NetConfig{NetPose: PoseConfig{}}, ""},
	} {
		got, err := EncoderSource(ModelConfig{Width: 64, Height: 64, Nets: tc.nets}.Fill())
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("%v: %q, %v; want %q", tc.nets, got, err, tc.want)
		}
	}
}

// TestHeads: the heads' shapes, their refusals of bad inputs and
// configurations, and a model of them through a checkpoint.
func TestHeads(t *testing.T) {
	for _, bad := range []NetConfig{
		ProjectionConfig{}, ProjectionConfig{In: 8, Out: -1}, ClassifierConfig{In: 8, Classes: 1},
		ClassifierConfig{In: 8, Hidden: -1, Classes: 4}, InpaintConfig{Size: "huge"}, EncoderConfig{Size: "x"},
	} {
		if err := bad.Filled().Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%#v: %v, want ErrConfig", bad, err)
		}
	}
	if d := (ProjectionConfig{In: 8, Hidden: 4, Out: 2}).ArchDiff(ProjectionConfig{In: 8, Hidden: 4, Out: 3}); d == "" {
		t.Error("projection widths differ, ArchDiff says nothing")
	}
	dir := t.TempDir()
	onWorker(t, func() error {
		cfg := ModelConfig{Width: 192, Height: 64, Nets: map[string]NetConfig{
			NetEncoder: EncoderConfig{Size: SizeSmall},
			"proj":     ProjectionConfig{In: 128},
			"lin":      ClassifierConfig{In: 128, Classes: 4},
			"mlp":      ClassifierConfig{In: 128, Hidden: 16, Classes: 24},
			"inpaint":  InpaintConfig{Size: SizeSmall},
		}}
		m, err := NewModel(cfg, gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		x, err := randImage(4, 3, 64, 192)
		if err != nil {
			return err
		}
		defer x.MustDrop()
		feats, err := m.EncoderOf(NetEncoder).Forward(x)
		if err != nil {
			return err
		}
		defer dropAll(feats)
		pooled, err := feats[4].MeanDim([]int64{2, 3}, false, gotch.Float, false)
		if err != nil {
			return err
		}
		defer pooled.MustDrop()
		for name, want := range map[string][]int64{"proj": {3, 128}, "lin": {3, 4}, "mlp": {3, 24}} {
			y, err := m.Net(name).(*MLP).Forward(pooled)
			if err != nil {
				return err
			}
			if s := sizeOf(y); s[0] != want[0] || s[1] != want[1] {
				t.Errorf("%s: %v, want %v", name, s, want)
			}
			y.MustDrop()
		}
		if _, err := m.Net("lin").(*MLP).Forward(feats[4]); !errors.Is(err, ErrInputShape) {
			t.Errorf("MLP on a 4-d tensor: %v", err)
		}
		img, err := m.Net("inpaint").(*InpaintNet).Forward(feats[4])
		if err != nil {
			return err
		}
		defer img.MustDrop()
		if s := sizeOf(img); s[0] != 3 || s[1] != 3 || s[2] != 64 || s[3] != 192 {
			t.Errorf("inpaint: %v, want [3 3 64 192]", s)
		}
		if _, err := m.Net("inpaint").(*InpaintNet).Forward(feats[3]); !errors.Is(err, ErrInputShape) {
			t.Errorf("inpaint on the wrong stage: %v", err)
		}
		small, err := randImage(5, 1, 32, 32)
		if err != nil {
			return err
		}
		defer small.MustDrop()
		f32, err := m.EncoderOf(NetEncoder).Forward(small)
		if err != nil {
			return err
		}
		if s := sizeOf(f32[4]); s[2] != 1 || s[3] != 1 {
			t.Errorf("a 32x32 input gives %v at stage 4, want 1x1", s)
		}
		dropAll(f32)
		odd, err := randImage(5, 1, 48, 64)
		if err != nil {
			return err
		}
		defer odd.MustDrop()
		if _, err := m.EncoderOf(NetEncoder).Forward(odd); !errors.Is(err, ErrInputShape) {
			t.Errorf("48 rows: %v, want ErrInputShape", err)
		}
		path := filepath.Join(dir, "heads.ckpt")
		if err := m.Save(path, CheckpointMeta{}); err != nil {
			return err
		}
		m2, _, err := LoadModel(path, gotch.CPU)
		if err != nil {
			return err
		}
		defer m2.Close()
		a, _ := m.Fingerprint()
		b, _ := m2.Fingerprint()
		if a != b || ArchDiff(m.Config(), m2.Config()) != "" {
			t.Errorf("heads checkpoint round trip: fingerprints %x %x, diff %q", a, b, ArchDiff(m.Config(), m2.Config()))
		}
		return nil
	})
}
