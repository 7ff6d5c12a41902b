package procmem

import "testing"

// TestResidentAndPeak: after a reset, a fresh 64 MiB that is touched shows
// in the resident size, and the peak is at least that size.
func TestResidentAndPeak(t *testing.T) {
	r0, err := Resident()
	if err != nil {
		t.Fatal(err)
	}
	if err := ResetPeak(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	r1, err := Resident()
	if err != nil {
		t.Fatal(err)
	}
	p1, err := Peak()
	if err != nil {
		t.Fatal(err)
	}
	if r1-r0 < 60<<20 || p1 < r1 {
		t.Fatalf("resident %d -> %d after touching 64 MiB, peak %d", r0, r1, p1)
	}
}
