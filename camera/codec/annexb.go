package codec

// splitAnnexB returns the NAL units of an H.264/H.265 Annex-B byte stream
// without their start codes, as sub-slices of b. Bytes before the first start
// code and empty units are dropped; zero bytes before a start code (the
// leading zero of a 4-byte start code, trailing_zero_8bits) are trimmed.
func splitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1 // first byte of the current unit
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nals = appendNAL(nals, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		// A start code needs two zeroes: skip ahead past a non-zero byte.
		if b[i+2] > 1 {
			i += 3
		} else {
			i++
		}
	}
	if start >= 0 && start <= len(b) {
		nals = appendNAL(nals, b[start:])
	}
	return nals
}

func appendNAL(nals [][]byte, n []byte) [][]byte {
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1]
	}
	if len(n) == 0 {
		return nals
	}
	return append(nals, n)
}

// startCode is the 4-byte Annex-B start code put before each NAL unit.
var startCode = [4]byte{0, 0, 0, 1}
