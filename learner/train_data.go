package learner

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// Batch is one batch of Samples on the model's device at its input size,
// what an Objective's Loss gets: images [B,3,H,W] in [0,1] (each frame
// prepared exactly as the Estimator prepares it for inference), the
// intrinsics of the crop and resize, and per-sample stereo constants. The
// fields an objective's Needs did not ask for are nil. The Trainer owns
// and frees it.
type Batch struct {
	// Size is B, the number of samples.
	Size int
	// Width and Height are the image size (the model input).
	Width, Height int
	// Target, Prev, Next and Right are the samples' views.
	Target, Prev, Next, Right *ts.Tensor
	// K and InvK are the target camera's intrinsics [B,3,3] at the input
	// size and their inverse.
	K, InvK *ts.Tensor
	// FxB is fx*baseline per sample [B,1,1,1] (pixel disparity =
	// FxB/depth); StereoT and StereoTInv are the left->right and
	// right->left target-to-source transforms [B,4,4]. Stereo only.
	FxB, StereoT, StereoTInv *ts.Tensor
	// Step is the Trainer's step count before this step (Trainer.Steps),
	// what an objective that draws random numbers (augmentations, masks)
	// seeds them with, so a resumed run draws what the uninterrupted one
	// would have.
	Step int64
	// Validation is true for Trainer.Validate: no gradient, and an
	// objective with state (MoCo's key encoder and queue) leaves it alone.
	Validation bool
}

func (bt *Batch) free() {
	for _, x := range []*ts.Tensor{bt.Target, bt.Prev, bt.Next, bt.Right, bt.K, bt.InvK, bt.FxB, bt.StereoT, bt.StereoTInv} {
		if x != nil {
			x.MustDrop()
		}
	}
	*bt = Batch{}
}

// checkBatch checks a batch has what mode needs, before any tensor work.
func checkBatch(batch []Sample, needs Needs) error {
	if len(batch) == 0 {
		return fmt.Errorf("%w: empty batch", ErrTrainInput)
	}
	for i, s := range batch {
		if s.Target == nil {
			return fmt.Errorf("%w: sample %d has no target frame", ErrTrainInput, i)
		}
		if s.Target.Intrinsics == nil {
			return fmt.Errorf("%w: sample %d: target frame has no intrinsics (training needs the camera model)", ErrTrainInput, i)
		}
		if (needs.Prev && s.Prev == nil) || (needs.Next && s.Next == nil) {
			return fmt.Errorf("%w: sample %d: the objective needs the %s frames", ErrTrainInput, i, needs)
		}
		if needs.Right {
			if s.Right == nil {
				return fmt.Errorf("%w: sample %d: the objective needs the right view", ErrTrainInput, i)
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
func makeBatch(batch []Sample, needs Needs, mw, mh int, dev gotch.Device) (bt *Batch, err error) {
	if err := checkBatch(batch, needs); err != nil {
		return nil, err
	}
	bt = &Batch{Size: len(batch), Width: mw, Height: mh}
	defer func() {
		if err != nil {
			bt.free()
			bt = nil
		}
	}()
	view := func(get func(Sample) *msgs.Frame) (*ts.Tensor, error) {
		frames := make([]*msgs.Frame, len(batch))
		for i, s := range batch {
			frames[i] = get(s)
		}
		return imagesTensor(frames, mw, mh, dev)
	}
	if bt.Target, err = view(func(s Sample) *msgs.Frame { return s.Target }); err != nil {
		return nil, err
	}
	if needs.Prev {
		if bt.Prev, err = view(func(s Sample) *msgs.Frame { return s.Prev }); err != nil {
			return nil, err
		}
	}
	if needs.Next {
		if bt.Next, err = view(func(s Sample) *msgs.Frame { return s.Next }); err != nil {
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
	if bt.K, bt.InvK, err = perception.IntrinsicsTensor(ks, dev); err != nil {
		return nil, err
	}
	if needs.Right {
		if bt.Right, err = view(func(s Sample) *msgs.Frame { return s.Right }); err != nil {
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
		if bt.FxB, err = perception.FloatTensor(fxb, []int64{int64(len(batch)), 1, 1, 1}, dev); err != nil {
			return nil, err
		}
		if bt.StereoT, err = perception.PoseTensor(fwd, dev); err != nil {
			return nil, err
		}
		if bt.StereoTInv, err = perception.PoseTensor(inv, dev); err != nil {
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
