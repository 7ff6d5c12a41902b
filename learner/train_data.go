package learner

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// batchTensors is one batch of Samples on the model's device at its input
// size: images [B,3,H,W] in [0,1], the intrinsics of the crop and resize
// [B,3,3], and per-sample stereo constants.
type batchTensors struct {
	tgt, prev, next, right *ts.Tensor
	K, invK                *ts.Tensor
	// fxB is fx*baseline per sample [B,1,1,1] (pixel disparity = fxB/depth);
	// stereoT and stereoTInv the left->right and right->left target-to-
	// source transforms [B,4,4].
	fxB, stereoT, stereoTInv *ts.Tensor
	b                        int
}

func (bt *batchTensors) free() {
	for _, x := range []*ts.Tensor{bt.tgt, bt.prev, bt.next, bt.right, bt.K, bt.invK, bt.fxB, bt.stereoT, bt.stereoTInv} {
		if x != nil {
			x.MustDrop()
		}
	}
	*bt = batchTensors{}
}

// checkBatch checks a batch has what mode needs, before any tensor work.
func checkBatch(batch []Sample, mode Mode) error {
	if len(batch) == 0 {
		return fmt.Errorf("%w: empty batch", ErrTrainInput)
	}
	temporal, stereo := SampleNeeds(mode)
	for i, s := range batch {
		if s.Target == nil {
			return fmt.Errorf("%w: sample %d has no target frame", ErrTrainInput, i)
		}
		if s.Target.Intrinsics == nil {
			return fmt.Errorf("%w: sample %d: target frame has no intrinsics (training needs the camera model)", ErrTrainInput, i)
		}
		if temporal && (s.Prev == nil || s.Next == nil) {
			return fmt.Errorf("%w: sample %d: mode %s needs the previous and next frames", ErrTrainInput, i, mode)
		}
		if stereo {
			if s.Right == nil {
				return fmt.Errorf("%w: sample %d: mode %s needs the right view", ErrTrainInput, i, mode)
			}
			if math.IsNaN(s.Baseline) || math.IsInf(s.Baseline, 0) || s.Baseline <= 0 || s.Baseline > 100 {
				return fmt.Errorf("%w: sample %d: stereo baseline %v m (want 0 < baseline <= 100)", ErrTrainInput, i, s.Baseline)
			}
		}
		for _, f := range []struct {
			name string
			f    *msgs.Frame
		}{{"target", s.Target}, {"prev", s.Prev}, {"next", s.Next}, {"right", s.Right}} {
			if f.f == nil {
				continue
			}
			if f.f.Width < 1 || f.f.Height < 1 || len(f.f.Pix) != 3*f.f.Width*f.f.Height {
				return fmt.Errorf("%w: sample %d: %s frame %dx%d with %d bytes (want packed RGB)", ErrTrainInput, i, f.name, f.f.Width, f.f.Height, len(f.f.Pix))
			}
			if f.f.Width != s.Target.Width || f.f.Height != s.Target.Height {
				return fmt.Errorf("%w: sample %d: %s frame %dx%d, target %dx%d (one camera, one size)", ErrTrainInput, i, f.name, f.f.Width, f.f.Height, s.Target.Width, s.Target.Height)
			}
		}
	}
	return nil
}

// makeBatch converts the samples to tensors on dev at mw x mh: each frame
// centre-cropped to the model's aspect ratio (perception.CropFor, as the
// Estimator does), resized bilinearly, intrinsics cropped and scaled alike.
// Run it on a Worker; the caller frees the result.
func makeBatch(batch []Sample, mode Mode, mw, mh int, dev gotch.Device) (bt *batchTensors, err error) {
	if err := checkBatch(batch, mode); err != nil {
		return nil, err
	}
	bt = &batchTensors{b: len(batch)}
	defer func() {
		if err != nil {
			bt.free()
			bt = nil
		}
	}()
	temporal, stereo := SampleNeeds(mode)
	view := func(get func(Sample) *msgs.Frame) (*ts.Tensor, error) {
		frames := make([]*msgs.Frame, len(batch))
		for i, s := range batch {
			frames[i] = get(s)
		}
		return imagesTensor(frames, mw, mh, dev)
	}
	if bt.tgt, err = view(func(s Sample) *msgs.Frame { return s.Target }); err != nil {
		return nil, err
	}
	if temporal {
		if bt.prev, err = view(func(s Sample) *msgs.Frame { return s.Prev }); err != nil {
			return nil, err
		}
		if bt.next, err = view(func(s Sample) *msgs.Frame { return s.Next }); err != nil {
			return nil, err
		}
	}
	ks := make([]msgs.Intrinsics, len(batch))
	for i, s := range batch {
		f := s.Target
		x0, y0, cw, ch := perception.CropFor(f.Width, f.Height, mw, mh)
		k := *f.Intrinsics
		if k.Width < 1 || k.Height < 1 {
			// Intrinsics without a size describe the frame itself.
			k.Width, k.Height = f.Width, f.Height
		}
		if k.Width != f.Width || k.Height != f.Height {
			k = k.Scaled(f.Width, f.Height)
		}
		k.Cx -= float64(x0)
		k.Cy -= float64(y0)
		k.Width, k.Height = cw, ch
		ks[i] = k.Scaled(mw, mh)
	}
	if bt.K, bt.invK, err = perception.IntrinsicsTensor(ks, dev); err != nil {
		return nil, err
	}
	if stereo {
		if bt.right, err = view(func(s Sample) *msgs.Frame { return s.Right }); err != nil {
			return nil, err
		}
		fxb := make([]float32, len(batch))
		fwd := make([]msgs.Pose, len(batch))
		inv := make([]msgs.Pose, len(batch))
		for i, s := range batch {
			fxb[i] = float32(ks[i].Fx * s.Baseline)
			fwd[i], inv[i] = msgs.Identity(), msgs.Identity()
			// Target-to-source: the right camera sits at +baseline along x,
			// so left points move by -baseline into it (and back).
			fwd[i].T[0] = -s.Baseline
			inv[i].T[0] = s.Baseline
		}
		if bt.fxB, err = floatTensor(fxb, []int64{int64(len(batch)), 1, 1, 1}, dev); err != nil {
			return nil, err
		}
		if bt.stereoT, err = perception.PoseTensor(fwd, dev); err != nil {
			return nil, err
		}
		if bt.stereoTInv, err = perception.PoseTensor(inv, dev); err != nil {
			return nil, err
		}
	}
	return bt, nil
}

// imagesTensor stacks frames into [B,3,mh,mw] float32 in [0,1], prepared
// exactly as the Estimator prepares them for inference
// (perception.FramesTensor), so the networks train on the pixels they serve.
func imagesTensor(frames []*msgs.Frame, mw, mh int, dev gotch.Device) (*ts.Tensor, error) {
	x, _, err := perception.FramesTensor(frames, mw, mh, dev)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTrainInput, err)
	}
	return x, nil
}

// floatTensor copies vals into a float32 tensor of shape on dev (one memcpy).
func floatTensor(vals []float32, shape []int64, dev gotch.Device) (*ts.Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if n != int64(len(vals)) {
		return nil, fmt.Errorf("learner: %d values for shape %v", len(vals), shape)
	}
	t, err := ts.Empty(shape, gotch.Float, gotch.CPU)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		p, err := t.DataPtr()
		if err != nil {
			t.MustDrop()
			return nil, err
		}
		copy(unsafe.Slice((*float32)(p), n), vals)
	}
	if !dev.IsCuda() {
		return t, nil
	}
	c, err := t.To(dev, true)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// scalarValue reads a one-element tensor.
func scalarValue(t *ts.Tensor) (float64, error) {
	v, err := perception.TensorFloat32s(t)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("learner: %d values where one was expected", len(v))
	}
	return float64(v[0]), nil
}
