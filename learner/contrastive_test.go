package learner

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/torchtest"
)

// rows makes an [N,D] tensor of rows.
func rows(t testing.TB, r [][]float32) *ts.Tensor {
	t.Helper()
	var flat []float32
	for _, x := range r {
		flat = append(flat, x...)
	}
	return tensor(t, flat, int64(len(r)), int64(len(r[0])))
}

// basis returns n unit rows e_off .. e_{off+n-1} of width d, scaled by k.
func basis(n, d, off int, k float32) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
		out[i][off+i] = k
	}
	return out
}

func scalar(t testing.TB, x *ts.Tensor) float64 {
	t.Helper()
	v := values(t, x)
	if len(v) != 1 {
		t.Fatalf("%d values, want 1", len(v))
	}
	return v[0]
}

// TestInfoNCEHandComputed: identical views of mutually orthogonal samples
// give log(1 + (2N-2) e^{-1/t}) (each positive at cosine 1, every negative
// at 0), views orthogonal to each other and collapsed embeddings give
// log(2N-1) (no view tells its positive from a negative), opposite views
// log(1 + (2N-2) e^{1/t}); the scale of the embeddings does not matter.
func TestInfoNCEHandComputed(t *testing.T) {
	torchtest.LockThread(t)
	const n, tau = 4, 0.5
	same := make([][]float32, n)
	for i := range same {
		same[i] = []float32{1, 2, 3, 4}
	}
	neg := basis(n, n, 0, -1)
	for _, tc := range []struct {
		name   string
		z1, z2 [][]float32
		want   float64
	}{
		{"identical", basis(n, n, 0, 1), basis(n, n, 0, 3), math.Log(1 + (2*n-2)*math.Exp(-1/tau))},
		{"orthogonal", basis(n, 2*n, 0, 1), basis(n, 2*n, n, 2), math.Log(2*n - 1)},
		{"collapsed", same, same, math.Log(2*n - 1)},
		{"opposite", basis(n, n, 0, 1), neg, math.Log(1 + (2*n-2)*math.Exp(1/tau))},
	} {
		got := scalar(t, owned(t)(InfoNCE(rows(t, tc.z1), rows(t, tc.z2), tau)))
		if math.Abs(got-tc.want) > 1e-5 {
			t.Errorf("%s: InfoNCE %.6f, want %.6f", tc.name, got, tc.want)
		}
	}
	// MoCo's form: q = k, a queue orthogonal to both.
	q := rows(t, basis(2, 6, 0, 1))
	queue := rows(t, basis(4, 6, 2, 1))
	got := scalar(t, owned(t)(InfoNCEQueue(q, q, queue, tau)))
	if want := math.Log(1 + 4*math.Exp(-1/tau)); math.Abs(got-want) > 1e-5 {
		t.Errorf("InfoNCEQueue q = k: %.6f, want %.6f", got, want)
	}
	got = scalar(t, owned(t)(InfoNCEQueue(q, rows(t, basis(2, 6, 4, 1)), rows(t, basis(2, 6, 2, 1)), tau)))
	if want := math.Log(3); math.Abs(got-want) > 1e-5 {
		t.Errorf("InfoNCEQueue q orthogonal to k and queue: %.6f, want log 3", got)
	}
	got = scalar(t, owned(t)(CrossEntropy(rows(t, [][]float32{{0, 0}, {0, float32(math.Log(3))}}), []int{0, 1})))
	if want := (math.Log(2) + math.Log(4.0/3)) / 2; math.Abs(got-want) > 1e-6 {
		t.Errorf("CrossEntropy %.6f, want %.6f", got, want)
	}
}

// TestBarlowTwinsHandComputed: decorrelated embeddings (zero-mean
// orthogonal ±1 columns, the same in both views) give C = I and a loss of
// 0; collapsed ones where every dimension carries the same signal give
// C = all ones and lambda D(D-1); constant embeddings (no signal at all)
// give C = 0 and D.
func TestBarlowTwinsHandComputed(t *testing.T) {
	torchtest.LockThread(t)
	const lambda = 0.01
	// Columns 2..4 of the 4x4 Hadamard matrix.
	dec := [][]float32{{1, 1, 1}, {-1, 1, -1}, {1, -1, -1}, {-1, -1, 1}}
	col := [][]float32{{1, 1, 1}, {-1, -1, -1}, {1, 1, 1}, {-1, -1, -1}}
	cst := [][]float32{{2, 5, 7}, {2, 5, 7}, {2, 5, 7}, {2, 5, 7}}
	eps := 1 - 1/math.Sqrt(1+BarlowEps)/math.Sqrt(1+BarlowEps) // C_ii = 1/(1+eps)
	for _, tc := range []struct {
		name string
		z    [][]float32
		want float64
	}{
		{"decorrelated", dec, 3 * eps * eps},
		{"collapsed", col, 3*eps*eps + lambda*6*(1-eps)*(1-eps)},
		{"constant", cst, 3},
	} {
		got := scalar(t, owned(t)(BarlowTwinsLoss(rows(t, tc.z), rows(t, tc.z), lambda)))
		if math.Abs(got-tc.want) > 1e-5 {
			t.Errorf("%s: Barlow Twins %.7f, want %.7f", tc.name, got, tc.want)
		}
	}
}

// TestContrastiveBadInput: errors, not panics.
func TestContrastiveBadInput(t *testing.T) {
	torchtest.LockThread(t)
	one := rows(t, [][]float32{{1, 2}})
	two := rows(t, [][]float32{{1, 2}, {3, 4}})
	three := rows(t, [][]float32{{1, 2, 3}, {3, 4, 5}})
	img := tensor(t, make([]float32, 12), 1, 3, 2, 2)
	for name, err := range map[string]error{
		"InfoNCE one sample":     second(InfoNCE(one, one, 0.5)),
		"InfoNCE shapes":         second(InfoNCE(two, three, 0.5)),
		"InfoNCE temperature":    second(InfoNCE(two, two, 0)),
		"InfoNCE nil":            second(InfoNCE(nil, two, 0.5)),
		"InfoNCEQueue width":     second(InfoNCEQueue(two, two, three, 0.5)),
		"Barlow rank":            second(BarlowTwinsLoss(img, img, 0.1)),
		"Barlow lambda":          second(BarlowTwinsLoss(two, two, -1)),
		"CrossEntropy label":     second(CrossEntropy(two, []int{0, 2})),
		"CrossEntropy label len": second(CrossEntropy(two, []int{0})),
	} {
		if !errors.Is(err, ErrLossInput) {
			t.Errorf("%s: %v, want ErrLossInput", name, err)
		}
	}
}

func second(_ *ts.Tensor, err error) error { return err }

// TestEmbeddingStd: 0 for a collapsed embedding, sqrt(1/N - 1/N²) per
// dimension for N orthonormal rows.
func TestEmbeddingStd(t *testing.T) {
	col := [][]float32{{1, 2}, {2, 4}, {3, 6}}
	for _, v := range EmbeddingStd(col) {
		if v > 1e-7 {
			t.Errorf("collapsed: std %g", v)
		}
	}
	want := math.Sqrt(1.0/4 - 1.0/16)
	for _, v := range EmbeddingStd(basis(4, 4, 0, 2)) {
		if math.Abs(v-want) > 1e-7 {
			t.Errorf("orthonormal: std %g, want %g", v, want)
		}
	}
}

// TestContrastiveMatchesPyTorchReference recomputes InfoNCE, InfoNCEQueue
// and BarlowTwinsLoss and their input gradients in PyTorch
// (scripts/reference_pretrain_losses.py) on random embeddings.
func TestContrastiveMatchesPyTorchReference(t *testing.T) {
	torchtest.LockThread(t)
	py := torchtest.Python(t)
	dir := t.TempDir()
	r := rand.New(rand.NewSource(11))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	const n, d, k, tau, lambda = 6, 5, 9, 0.3, 0.02
	in := map[string]*ts.Tensor{
		"z1": tensor(t, randn(n*d), n, d), "z2": tensor(t, randn(n*d), n, d),
		"q": tensor(t, randn(n*d), n, d), "k": tensor(t, randn(n*d), n, d), "queue": tensor(t, randn(k*d), k, d),
	}
	shapes := map[string][]int64{}
	for name, x := range in {
		shapes[name] = writeTensor(t, dir, name, x)
	}
	js, _ := json.Marshal(map[string]any{"shapes": shapes, "temperature": tau, "lambda": lambda})
	if err := os.WriteFile(filepath.Join(dir, "params.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("..", "scripts", "reference_pretrain_losses.py"), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s reference_pretrain_losses.py: %v\n%s", py, err, out)
	}
	grads := func(loss func() (*ts.Tensor, error), wrt ...string) (float64, [][]float64) {
		for _, name := range wrt {
			if err := in[name].RequiresGrad_(true); err != nil {
				t.Fatal(err)
			}
		}
		l := owned(t)(loss())
		if err := l.Backward(); err != nil {
			t.Fatal(err)
		}
		var gs [][]float64
		for _, name := range wrt {
			g := owned(t)(in[name].Grad(false))
			gs = append(gs, append([]float64(nil), values(t, g)...))
			if err := g.Zero_(); err != nil {
				t.Fatal(err)
			}
			if err := in[name].RequiresGrad_(false); err != nil {
				t.Fatal(err)
			}
		}
		return scalar(t, l), gs
	}
	check := func(name string, got []float64) {
		t.Helper()
		ref := readFloats(t, filepath.Join(dir, "ref_"+name+".bin"))
		if len(ref) != len(got) {
			t.Fatalf("%s: %d values, reference %d", name, len(got), len(ref))
		}
		worst := 0.0
		for i := range got {
			worst = math.Max(worst, math.Abs(got[i]-ref[i])/(1e-3+math.Abs(ref[i])))
		}
		t.Logf("%s: max relative |Go - PyTorch| = %.2g over %d values (first: Go %.6g, PyTorch %.6g)", name, worst, len(got), got[0], ref[0])
		if worst > 2e-4 {
			t.Errorf("%s: relative difference %g > 2e-4", name, worst)
		}
	}
	l, g := grads(func() (*ts.Tensor, error) { return InfoNCE(in["z1"], in["z2"], tau) }, "z1", "z2")
	check("infonce", []float64{l})
	check("grad_infonce_z1", g[0])
	check("grad_infonce_z2", g[1])
	l, g = grads(func() (*ts.Tensor, error) { return InfoNCEQueue(in["q"], in["k"], in["queue"], tau) }, "q")
	check("infonce_queue", []float64{l})
	check("grad_queue_q", g[0])
	l, g = grads(func() (*ts.Tensor, error) { return BarlowTwinsLoss(in["z1"], in["z2"], lambda) }, "z1", "z2")
	check("barlow", []float64{l})
	check("grad_barlow_z1", g[0])
	check("grad_barlow_z2", g[1])
}
