package perception

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sugarme/gotch/ts"
)

// depthReferenceScript is DepthNet rebuilt in PyTorch with
// torch.nn.functional (reference_depthnet.py beside this file). It is
// embedded so that `parallax bench --compare-python` can run it from any
// directory, and so that the tests and the command run the same script.
//
//go:embed reference_depthnet.py
var depthReferenceScript []byte

// DepthReference is what reference_depthnet.py reports: the largest
// |PyTorch - Go| of each disparity scale, and PyTorch's median forward
// time per frame on the given thread count.
type DepthReference struct {
	MaxAbsDiff []float64 `json:"max_abs_diff"`
	MsPerFrame float64   `json:"ms_per_frame"`
	Torch      string    `json:"torch"`
	Threads    int       `json:"threads"`
}

// ExportDepthReference writes what the PyTorch reference needs into dir:
// m's depth weights (weights.json with widths, names, shapes and offsets;
// weights.bin, float32 little-endian), the input batch x (input.bin) and
// Go's disparities for it (go_out0..3.bin). Run it on a Worker.
func ExportDepthReference(dir string, m *Model, x *ts.Tensor) error {
	type tensorMeta struct {
		Name   string  `json:"name"`
		Shape  []int64 `json:"shape"`
		Offset int     `json:"offset"`
	}
	dn := m.Depth()
	if dn == nil {
		return fmt.Errorf("perception: ExportDepthReference: the model has no depth network")
	}
	wd := depthWidths[dn.Config().Size]
	xs, err := x.Size()
	if err != nil {
		return err
	}
	meta := struct {
		Enc        [5]int64     `json:"enc"`
		Dec        [5]int64     `json:"dec"`
		Numel      int          `json:"numel"`
		InputShape []int64      `json:"input_shape"`
		Tensors    []tensorMeta `json:"tensors"`
	}{Enc: wd.enc, Dec: wd.dec, InputShape: xs}
	var flat []float32
	for _, nv := range m.NamedVariables() {
		if !strings.HasPrefix(nv.Name, NetDepth+".") {
			continue
		}
		v, err := TensorFloat32s(nv.Tensor)
		if err != nil {
			return err
		}
		shape, err := nv.Tensor.Size()
		if err != nil {
			return err
		}
		meta.Tensors = append(meta.Tensors, tensorMeta{Name: nv.Name, Shape: shape, Offset: len(flat)})
		flat = append(flat, v...)
	}
	meta.Numel = len(flat)
	js, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.json"), js, 0o644); err != nil {
		return err
	}
	if err := writeFloat32s(filepath.Join(dir, "weights.bin"), flat); err != nil {
		return err
	}
	in, err := TensorFloat32s(x)
	if err != nil {
		return err
	}
	if err := writeFloat32s(filepath.Join(dir, "input.bin"), in); err != nil {
		return err
	}
	return NoGrad(func() error {
		out, err := dn.Forward(x, false)
		if err != nil {
			return err
		}
		defer func() {
			for _, d := range out {
				d.MustDrop()
			}
		}()
		for s, d := range out {
			v, err := TensorFloat32s(d)
			if err != nil {
				return err
			}
			if err := writeFloat32s(filepath.Join(dir, fmt.Sprintf("go_out%d.bin", s)), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeFloat32s(path string, v []float32) error {
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	return os.WriteFile(path, buf, 0o644)
}

// RunDepthReference runs the PyTorch reference with the interpreter python
// on what ExportDepthReference wrote into dir: it checks PyTorch's outputs
// against Go's and times iters forward passes on threads intra-op threads.
// The caller judges the numbers.
func RunDepthReference(ctx context.Context, python, dir string, threads, iters int) (DepthReference, error) {
	script := filepath.Join(dir, "reference_depthnet.py")
	if err := os.WriteFile(script, depthReferenceScript, 0o644); err != nil {
		return DepthReference{}, err
	}
	cmd := exec.CommandContext(ctx, python, script, dir, "--threads", fmt.Sprint(threads), "--iters", fmt.Sprint(iters))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return DepthReference{}, fmt.Errorf("perception: %s reference_depthnet.py: %w\n%s", python, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var r DepthReference
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		return DepthReference{}, fmt.Errorf("perception: reference_depthnet.py printed %q: %w", out, err)
	}
	if len(r.MaxAbsDiff) != NumScales {
		return r, fmt.Errorf("perception: reference_depthnet.py compared %d scales, want %d", len(r.MaxAbsDiff), NumScales)
	}
	return r, nil
}

// TimeDepthForward times m's depth network on x in no-grad mode on the
// worker: the median milliseconds per frame over iters batches after 3
// untimed ones (the median, as the Python reference takes, is robust on a
// shared machine).
func TimeDepthForward(w *Worker, m *Model, x *ts.Tensor, iters int) (float64, error) {
	if iters < 1 {
		return 0, errors.New("perception: TimeDepthForward: iters must be >= 1")
	}
	dn := m.Depth()
	if dn == nil {
		return 0, fmt.Errorf("perception: TimeDepthForward: the model has no depth network")
	}
	xs, err := x.Size()
	if err != nil {
		return 0, err
	}
	times := make([]float64, 0, iters)
	err = w.Do(func() error {
		return NoGrad(func() error {
			for i := 0; i < 3+iters; i++ {
				t0 := time.Now()
				out, err := dn.Forward(x, false)
				if err != nil {
					return err
				}
				for _, d := range out {
					d.MustDrop()
				}
				if i >= 3 {
					times = append(times, float64(time.Since(t0).Nanoseconds())/1e6)
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	sort.Float64s(times)
	return times[len(times)/2] / float64(xs[0]), nil
}
