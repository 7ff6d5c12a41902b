package camera

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/parallax-robotics/parallax/camera/codec"
)

// pushResult says what one RTP packet led to.
type pushResult int

const (
	// pushNone: the packet was consumed; no frame is complete yet.
	pushNone pushResult = iota
	// pushFrame: a frame was decoded.
	pushFrame
	// pushDepacketizeError: the payload could not be reassembled (a lost or
	// malformed packet); the partial access unit was thrown away.
	pushDepacketizeError
	// pushDecodeError: the access unit was complete but did not decode.
	pushDecodeError
	// pushSkipped: a complete access unit was skipped because no keyframe
	// has been seen yet, so it could not decode.
	pushSkipped
)

// trackDecoder turns the RTP packets of one video format into RGB images:
// RTP depacketizing (gortsplib) followed by decoding (camera/codec).
type trackDecoder struct {
	codec codec.Codec
	// depack reassembles one access unit (H.26x NAL units, or one JPEG as a
	// single element) from RTP packets.
	depack func(*rtp.Packet) ([][]byte, error)
	// benign tells the errors of depack that are no loss apart from real
	// ones: "wait for the next packet", and a fragment seen before any start
	// because the client joined in the middle of a frame.
	benign func(error) bool
	// randomAccess reports whether an access unit can start decoding; nil
	// for intra-only codecs.
	randomAccess func([][]byte) bool
	// params are the parameter sets from the SDP (VPS, SPS, PPS), put in
	// front of the first keyframe in case the stream only sends them out of
	// band.
	params  [][]byte
	started bool
	dec     *codec.Decoder
}

func newTrackDecoder(forma format.Format) (*trackDecoder, error) {
	t := &trackDecoder{}
	switch f := forma.(type) {
	case *format.H264:
		d, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		t.codec = codec.H264
		t.depack = d.Decode
		t.benign = func(err error) bool {
			return errors.Is(err, rtph264.ErrMorePacketsNeeded) ||
				errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious)
		}
		t.randomAccess = h264.IsRandomAccess
		sps, pps := f.SafeParams()
		t.params = nonEmpty(sps, pps)
	case *format.H265:
		d, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		t.codec = codec.H265
		t.depack = d.Decode
		t.benign = func(err error) bool {
			return errors.Is(err, rtph265.ErrMorePacketsNeeded) ||
				errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious)
		}
		t.randomAccess = h265.IsRandomAccess
		vps, sps, pps := f.SafeParams()
		t.params = nonEmpty(vps, sps, pps)
	case *format.MJPEG:
		d, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		t.codec = codec.MJPEG
		t.depack = func(pkt *rtp.Packet) ([][]byte, error) {
			jpeg, err := d.Decode(pkt)
			if err != nil {
				return nil, err
			}
			return [][]byte{jpeg}, nil
		}
		t.benign = func(err error) bool {
			return errors.Is(err, rtpmjpeg.ErrMorePacketsNeeded) ||
				errors.Is(err, rtpmjpeg.ErrNonStartingPacketAndNoPrevious)
		}
	default:
		return nil, fmt.Errorf("%w: codec %s", ErrNoVideoTrack, forma.Codec())
	}
	dec, err := codec.NewDecoder(t.codec)
	if err != nil {
		return nil, err
	}
	t.dec = dec
	return t, nil
}

func nonEmpty(bs ...[]byte) [][]byte {
	var out [][]byte
	for _, b := range bs {
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// push feeds one RTP packet. The image is valid when the result is pushFrame.
func (t *trackDecoder) push(pkt *rtp.Packet) (*codec.RGB, pushResult) {
	au, err := t.depack(pkt)
	if err != nil {
		if t.benign(err) {
			return nil, pushNone
		}
		return nil, pushDepacketizeError
	}
	if len(au) == 0 {
		return nil, pushNone
	}
	if !t.started && t.randomAccess != nil {
		if !t.randomAccess(au) {
			return nil, pushSkipped
		}
		if len(t.params) > 0 {
			au = append(append([][]byte(nil), t.params...), au...)
		}
	}
	t.started = true
	img, err := t.dec.Decode(au)
	if err != nil {
		return nil, pushDecodeError
	}
	if img == nil {
		return nil, pushNone
	}
	return img, pushFrame
}

func (t *trackDecoder) close() {
	if t.dec != nil {
		t.dec.Close()
		t.dec = nil
	}
}
