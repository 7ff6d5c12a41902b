package perception

import (
	"errors"
	"testing"

	"github.com/sugarme/gotch"
)

func TestParseDevice(t *testing.T) {
	real := cudaDeviceCount
	defer func() { cudaDeviceCount = real }()
	cuda := func(n uint) gotch.Device { return gotch.CudaBuilder(n) }
	cases := []struct {
		in    string
		gpus  int
		want  gotch.Device
		isErr error
	}{
		{"auto", 0, gotch.CPU, nil},
		{"auto", 2, cuda(0), nil},
		{"cpu", 0, gotch.CPU, nil},
		{" CPU ", 2, gotch.CPU, nil},
		{"cuda", 1, cuda(0), nil},
		{"cuda:1", 2, cuda(1), nil},
		{"CUDA:0", 1, cuda(0), nil},
		{"cuda", 0, gotch.Device{}, ErrNoCUDA},
		{"cuda:0", 0, gotch.Device{}, ErrNoCUDA},
		{"cuda:2", 2, gotch.Device{}, ErrNoCUDA},
		{"cuda:", 1, gotch.Device{}, ErrDevice},
		{"cuda:x", 1, gotch.Device{}, ErrDevice},
		{"cuda:-1", 1, gotch.Device{}, ErrDevice},
		{"gpu", 1, gotch.Device{}, ErrDevice},
		{"", 1, gotch.Device{}, ErrDevice},
	}
	for _, tc := range cases {
		n := tc.gpus
		cudaDeviceCount = func() int { return n }
		got, err := ParseDevice(tc.in)
		if tc.isErr != nil {
			if !errors.Is(err, tc.isErr) {
				t.Errorf("ParseDevice(%q) with %d GPUs: error %v, want %v", tc.in, n, err, tc.isErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDevice(%q) with %d GPUs = %v, %v; want %v", tc.in, n, got, err, tc.want)
		}
	}
}

// TestParseDeviceReal asks the linked libtorch: "auto" must agree with it.
func TestParseDeviceReal(t *testing.T) {
	var gpus int
	onWorker(t, func() error { gpus = cudaDeviceCount(); return nil })
	got, err := ParseDevice("auto")
	if err != nil {
		t.Fatal(err)
	}
	if gpus == 0 && got != gotch.CPU || gpus > 0 && !got.IsCuda() {
		t.Fatalf("auto = %v with %d GPUs", got, gpus)
	}
	if _, err := ParseDevice("cuda"); gpus == 0 && !errors.Is(err, ErrNoCUDA) {
		t.Fatalf("cuda without a GPU: %v, want ErrNoCUDA", err)
	}
}
