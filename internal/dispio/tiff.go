package dispio

import (
	"encoding/binary"
	"fmt"
	"math"
)

// TIFF tags EncodeTIFF writes (baseline TIFF 6.0 plus SampleFormat).
const (
	tagWidth        = 256
	tagHeight       = 257
	tagBits         = 258
	tagCompression  = 259
	tagPhotometric  = 262
	tagStripOffsets = 273
	tagSamples      = 277
	tagRowsPerStrip = 278
	tagStripBytes   = 279
	tagPlanar       = 284
	tagSampleFormat = 339
)

// EncodeTIFF encodes m as a single-channel 32-bit float TIFF (little
// endian, uncompressed, one strip, SampleFormat IEEE float), rows top to
// bottom: what OpenCV's imread(IMREAD_UNCHANGED), GDAL and image viewers
// read as a 32FC1 depth image.
func EncodeTIFF(m Map) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	const nTags = 11
	ifd := 8
	data := ifd + 2 + 12*nTags + 4
	out := make([]byte, data, data+4*len(m.Data))
	copy(out, "II*\x00")
	le := binary.LittleEndian
	le.PutUint32(out[4:], uint32(ifd))
	le.PutUint16(out[ifd:], nTags)
	entry := func(i int, tag, typ uint16, v uint32) {
		e := out[ifd+2+12*i:]
		le.PutUint16(e, tag)
		le.PutUint16(e[2:], typ)
		le.PutUint32(e[4:], 1)
		if typ == 3 { // SHORT, left-justified in the value field
			le.PutUint16(e[8:], uint16(v))
		} else {
			le.PutUint32(e[8:], v)
		}
	}
	const short, long = 3, 4
	for i, t := range []struct {
		tag, typ uint16
		v        uint32
	}{
		{tagWidth, long, uint32(m.Width)}, {tagHeight, long, uint32(m.Height)}, {tagBits, short, 32},
		{tagCompression, short, 1}, {tagPhotometric, short, 1}, {tagStripOffsets, long, uint32(data)},
		{tagSamples, short, 1}, {tagRowsPerStrip, long, uint32(m.Height)}, {tagStripBytes, long, uint32(4 * len(m.Data))},
		{tagPlanar, short, 1}, {tagSampleFormat, short, 3},
	} {
		entry(i, t.tag, t.typ, t.v)
	}
	for _, v := range m.Data {
		out = le.AppendUint32(out, math.Float32bits(v))
	}
	return out, nil
}

// DecodeTIFF decodes what EncodeTIFF writes: a little-endian, uncompressed,
// single-strip, single-channel float32 TIFF. Other TIFFs are refused with
// the tag that differs.
func DecodeTIFF(data []byte) (Map, error) {
	le := binary.LittleEndian
	if len(data) < 8 || string(data[:4]) != "II*\x00" {
		return Map{}, fmt.Errorf("%w: not a little-endian TIFF", ErrFormat)
	}
	ifd := int(le.Uint32(data[4:]))
	if ifd < 8 || ifd+2 > len(data) {
		return Map{}, fmt.Errorf("%w: TIFF directory at %d outside the file", ErrFormat, ifd)
	}
	n := int(le.Uint16(data[ifd:]))
	if ifd+2+12*n > len(data) {
		return Map{}, fmt.Errorf("%w: TIFF directory of %d entries runs past the file", ErrFormat, n)
	}
	tags := map[uint16]uint32{}
	for i := 0; i < n; i++ {
		e := data[ifd+2+12*i:]
		v := le.Uint32(e[8:])
		if le.Uint16(e[2:]) == 3 {
			v = uint32(le.Uint16(e[8:]))
		}
		tags[le.Uint16(e)] = v
	}
	for _, want := range []struct {
		tag  uint16
		v    uint32
		name string
	}{{tagBits, 32, "BitsPerSample 32"}, {tagCompression, 1, "Compression 1 (none)"}, {tagSamples, 1, "SamplesPerPixel 1"}, {tagSampleFormat, 3, "SampleFormat 3 (float)"}} {
		if tags[want.tag] != want.v {
			return Map{}, fmt.Errorf("%w: TIFF tag %d is %d, this reader wants %s", ErrFormat, want.tag, tags[want.tag], want.name)
		}
	}
	w, h := int(tags[tagWidth]), int(tags[tagHeight])
	if w <= 0 || h <= 0 || w*h > MaxPixels || (tags[tagRowsPerStrip] != 0 && int(tags[tagRowsPerStrip]) < h) {
		return Map{}, fmt.Errorf("%w: TIFF of %dx%d in strips of %d rows: this reader wants one strip", ErrFormat, w, h, tags[tagRowsPerStrip])
	}
	off := int(tags[tagStripOffsets])
	if off < 0 || off+4*w*h > len(data) || off+4*w*h < off {
		return Map{}, fmt.Errorf("%w: TIFF strip at %d of %d bytes runs past the file", ErrFormat, off, 4*w*h)
	}
	m := Map{Width: w, Height: h, Data: make([]float32, w*h)}
	for i := range m.Data {
		m.Data[i] = math.Float32frombits(le.Uint32(data[off+4*i:]))
	}
	return m, nil
}
