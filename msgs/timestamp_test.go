package msgs

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestTimestamp(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
	}{
		{"zero", time.Time{}},
		{"nanoseconds", testStamp},
		{"before epoch", time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC)},
		{"other zone", time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := Timestamp(tt.in)
			if tt.in.IsZero() != (ts == nil) {
				t.Fatalf("Timestamp(%v) = %v; the zero time and only it must become nil", tt.in, ts)
			}
			got, err := Time(ts)
			if err != nil || !got.Equal(tt.in) {
				t.Fatalf("Time(Timestamp(%v)) = %v, %v", tt.in, got, err)
			}
			if !got.IsZero() && got.Location() != time.UTC {
				t.Fatalf("location %v, want UTC", got.Location())
			}
		})
	}
	for _, ts := range []*timestamppb.Timestamp{{Nanos: -1}, {Nanos: 1e9}, {Seconds: 1 << 62}} {
		if _, err := Time(ts); !errors.Is(err, ErrInvalidTimestamp) {
			t.Errorf("Time(%v) error %v, want ErrInvalidTimestamp", ts, err)
		}
	}
}
