package msgs

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// Timestamp converts t to a protobuf timestamp. The zero time.Time becomes
// nil (an unset field), so "unknown" survives the round trip instead of
// turning into the year 1.
func Timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Time converts a protobuf timestamp to a time.Time in UTC. nil (unset)
// becomes the zero time.Time rather than the Unix epoch that
// (*timestamppb.Timestamp).AsTime gives. Out-of-range seconds or nanoseconds
// return ErrInvalidTimestamp.
func Time(ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrInvalidTimestamp, err)
	}
	return ts.AsTime(), nil
}
