package learner

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecodeAdam: the optimizer-state section parser returns an error
// (never a panic or a huge allocation) for any bytes, and a valid section
// survives a round trip.
func FuzzDecodeAdam(f *testing.F) {
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.WriteString(adamMagic)
	binary.Write(&buf, le, uint32(1))
	binary.Write(&buf, le, []float64{0.9, 0.999, 1e-8})
	binary.Write(&buf, le, int64(7))
	binary.Write(&buf, le, uint32(1))
	binary.Write(&buf, le, uint16(3))
	buf.WriteString("a.b")
	binary.Write(&buf, le, uint32(2))
	binary.Write(&buf, le, []float32{1, 2, 3, 4})
	valid := buf.Bytes()
	f.Add(valid)
	f.Add([]byte("ADAM"))
	f.Add([]byte{})
	f.Add(append([]byte{}, valid[:len(valid)-1]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeAdam(data)
		if err != nil {
			return
		}
		for n, m := range d.m {
			if len(d.v[n]) != len(m) {
				t.Fatalf("%s: %d m, %d v", n, len(m), len(d.v[n]))
			}
		}
	})
}

func TestDecodeAdamValid(t *testing.T) {
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.WriteString(adamMagic)
	binary.Write(&buf, le, uint32(1))
	binary.Write(&buf, le, []float64{0.9, 0.999, 1e-8})
	binary.Write(&buf, le, int64(7))
	binary.Write(&buf, le, uint32(1))
	binary.Write(&buf, le, uint16(3))
	buf.WriteString("a.b")
	binary.Write(&buf, le, uint32(2))
	binary.Write(&buf, le, []float32{1, 2, 3, 4})
	d, err := decodeAdam(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if d.t != 7 || len(d.m["a.b"]) != 2 || d.v["a.b"][1] != 4 || d.beta2 != 0.999 {
		t.Errorf("decoded %+v", d)
	}
	for _, cut := range []int{3, 10, 40, buf.Len() - 1} {
		if _, err := decodeAdam(buf.Bytes()[:cut]); err == nil {
			t.Errorf("cut at %d: no error", cut)
		}
	}
}
