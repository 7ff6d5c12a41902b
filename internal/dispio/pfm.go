package dispio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Errors of this package; wrapped with details, test with errors.Is.
var (
	// ErrFormat reports a file that is not a map this package reads.
	ErrFormat = errors.New("dispio: bad map file")
	// ErrSize reports a map whose size does not match its data, or another
	// map's size.
	ErrSize = errors.New("dispio: bad map size")
)

// MaxPixels bounds the maps Decode accepts (a 16k x 16k image): a header
// cannot make it allocate more.
const MaxPixels = 1 << 28

// Map is a single-channel float map, row-major from the top row; NaN where
// unknown.
type Map struct {
	Width, Height int
	Data          []float32
}

// check reports a map whose data does not hold Width*Height values.
func (m Map) check() error {
	if m.Width <= 0 || m.Height <= 0 || m.Width*m.Height > MaxPixels || len(m.Data) != m.Width*m.Height {
		return fmt.Errorf("%w: %d values for %dx%d", ErrSize, len(m.Data), m.Width, m.Height)
	}
	return nil
}

// EncodePFM encodes m as a little-endian greyscale PFM ("Pf", scale -1),
// rows bottom to top as the format (and Middlebury) wants.
func EncodePFM(m Map) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	head := fmt.Sprintf("Pf\n%d %d\n-1\n", m.Width, m.Height)
	out := make([]byte, len(head), len(head)+4*len(m.Data))
	copy(out, head)
	for y := m.Height - 1; y >= 0; y-- {
		for _, v := range m.Data[y*m.Width : (y+1)*m.Width] {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	}
	return out, nil
}

// DecodePFM decodes a PFM: greyscale "Pf", or colour "PF" of which it keeps
// the first channel (some tools write disparity three times). Either byte
// order; rows come back top to bottom. Values are kept as stored
// (Middlebury's +Inf for unknown included): Score treats non-finite ground
// truth as unknown.
func DecodePFM(data []byte) (Map, error) {
	rest := data
	var fields [4][]byte
	// Four whitespace-separated header tokens, then exactly one whitespace
	// byte before the raster.
	for i := range fields {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		end := bytes.IndexAny(rest, " \t\r\n")
		if end <= 0 {
			return Map{}, fmt.Errorf("%w: PFM header ends after %d of its 4 fields (Pf, width, height, scale)", ErrFormat, i)
		}
		fields[i], rest = rest[:end], rest[end+1:]
	}
	var channels int
	switch string(fields[0]) {
	case "Pf":
		channels = 1
	case "PF":
		channels = 3
	default:
		return Map{}, fmt.Errorf("%w: PFM magic %q, want Pf (greyscale) or PF (colour)", ErrFormat, truncate(fields[0]))
	}
	w, err1 := strconv.Atoi(string(fields[1]))
	h, err2 := strconv.Atoi(string(fields[2]))
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 || w > MaxPixels || h > MaxPixels || w*h > MaxPixels {
		return Map{}, fmt.Errorf("%w: PFM size %q x %q: want positive integers, at most %d pixels", ErrFormat, truncate(fields[1]), truncate(fields[2]), MaxPixels)
	}
	scale, err := strconv.ParseFloat(string(fields[3]), 64)
	if err != nil || scale == 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		return Map{}, fmt.Errorf("%w: PFM scale %q: want a non-zero number (negative: little endian)", ErrFormat, truncate(fields[3]))
	}
	var order binary.ByteOrder = binary.BigEndian
	if scale < 0 {
		order = binary.LittleEndian
	}
	need := 4 * channels * w * h
	if len(rest) < need {
		return Map{}, fmt.Errorf("%w: PFM %dx%d with %d channel(s) needs %d bytes of pixels, the file has %d", ErrFormat, w, h, channels, need, len(rest))
	}
	m := Map{Width: w, Height: h, Data: make([]float32, w*h)}
	for y := 0; y < h; y++ {
		row := rest[4*channels*w*(h-1-y):]
		for x := 0; x < w; x++ {
			m.Data[y*w+x] = math.Float32frombits(order.Uint32(row[4*channels*x:]))
		}
	}
	return m, nil
}

// truncate shortens a header token for an error message.
func truncate(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}
