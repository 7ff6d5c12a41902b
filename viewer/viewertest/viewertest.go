// Package viewertest holds what the viewer's tests share with the node's
// (cmd/parallax): synthetic outputs, a Go client of Foxglove's WebSocket
// protocol that decodes from the advertised schemas alone, the Node.js
// client written against Foxglove's own package (testdata/js), and
// headless Chromium driven over its DevTools protocol for screenshots.
// Everything runs for real on this machine: no mocks.
package viewertest

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// Errors of the helpers.
var (
	// ErrMissingTool: node, the npm packages or Chromium are not installed
	// (make deps installs them).
	ErrMissingTool = errors.New("viewertest: a tool is missing: run make deps")
	// ErrProtocol: the server broke Foxglove's protocol.
	ErrProtocol = errors.New("viewertest: protocol")
)

// Size of the synthetic outputs.
const (
	Width, Height = 320, 96
)

// Rig is the synthetic rig: namespace "test", a stereo pair left and right
// with a 0.54 m baseline.
func Rig() *msgs.Rig {
	return &msgs.Rig{Namespace: "test", Cameras: []string{"left", "right"}, Left: "left", Right: "right",
		Baselines: map[string]float64{"right": 0.54}}
}

// Intrinsics of the synthetic camera (KITTI-like: fx = 0.58 width).
func Intrinsics() msgs.Intrinsics {
	return msgs.Intrinsics{Width: Width, Height: Height, Fx: 185.6, Fy: 185.6, Cx: 160, Cy: 48}
}

// Frame returns a frame of camera at stamp: a colour ramp, red growing to
// the right, green downwards, blue with seq.
func Frame(camera string, seq int, stamp time.Time) *msgs.Frame {
	k := Intrinsics()
	f := &msgs.Frame{Camera: camera, Seq: uint64(seq), Stamp: stamp, Width: Width, Height: Height,
		Pix: make([]byte, 3*Width*Height), Intrinsics: &k}
	for y := 0; y < Height; y++ {
		for x := 0; x < Width; x++ {
			i := 3 * (y*Width + x)
			f.Pix[i], f.Pix[i+1], f.Pix[i+2] = byte(x*255/Width), byte(y*255/Height), byte(seq*7)
		}
	}
	return f
}

// Result returns result seq of the pair: depth from 40 m at the top row to
// 2 m at the bottom (a road), its first row unknown (0); odometry moving
// 0.1 m forward a result on a gentle left curve.
func Result(seq int, stamp time.Time) *msgs.Result {
	k := Intrinsics()
	d := make([]float32, Width*Height)
	for y := 1; y < Height; y++ {
		z := float32(40 - 38*float64(y)/float64(Height-1))
		for x := 0; x < Width; x++ {
			d[y*Width+x] = z * (1 + 0.05*float32(math.Sin(float64(x)/20)))
		}
	}
	yaw := 0.01 * float64(seq)
	p := msgs.Identity()
	p.R = [9]float64{math.Cos(yaw), 0, math.Sin(yaw), 0, 1, 0, -math.Sin(yaw), 0, math.Cos(yaw)}
	p.T = [3]float64{-0.1 * float64(seq) * math.Sin(yaw/2), 0, 0.1 * float64(seq) * math.Cos(yaw/2)}
	return &msgs.Result{Frames: []*msgs.Frame{Frame("left", seq, stamp), Frame("right", seq, stamp)},
		Depth: msgs.DepthMap{Width: Width, Height: Height, Depth: d, Intrinsics: &k}, Odom: &p, Seq: uint64(seq),
		Inference: 20 * time.Millisecond}
}

// Diagnostics returns the node's diagnostics with every part OK (level)
// or the left camera at level.
func Diagnostics(left parallaxv1.DiagnosticStatus_Level) *parallaxv1.Diagnostics {
	return &parallaxv1.Diagnostics{Timestamp: msgs.Timestamp(time.Now()), Status: []*parallaxv1.DiagnosticStatus{
		{Name: "camera/left", Level: left, Message: "streaming: 320x96"},
		{Name: "camera/right", Level: parallaxv1.DiagnosticStatus_OK, Message: "streaming: 320x96"},
		{Name: "perception/left", Level: parallaxv1.DiagnosticStatus_OK, Message: "estimating"},
	}}
}

// LearnerStats returns learner stats at step steps.
func LearnerStats(steps int) *parallaxv1.LearnerStats {
	return &parallaxv1.LearnerStats{Timestamp: msgs.Timestamp(time.Now()), Steps: uint64(steps), StepsPerSecond: 2,
		Adapting: true, StepSeconds: 0.25, Losses: msgs.LossTerms(map[string]float64{"total": 0.2 - 0.001*float64(steps)}),
		DepthMetrics: &parallaxv1.DepthMetrics{AbsRel: 0.18 - 0.0005*float64(steps)}}
}

// Sink is what Feed writes to: a viewer, by its method.
type Sink interface {
	Write(msgs.Output) error
}

// Feed writes outputs to s as a node would, every period until ctx is
// done: both frames and a result each period, diagnostics and learner
// stats every tenth. It returns the number of results written, and the
// first write error.
func Feed(ctx context.Context, s Sink, period time.Duration) (int, error) {
	t := time.NewTicker(period)
	defer t.Stop()
	for i := 0; ; i++ {
		now := time.Now()
		r := Result(i, now)
		outs := []msgs.Output{{Frame: r.Frames[0]}, {Frame: r.Frames[1]}, {Result: r}}
		if i%10 == 0 {
			outs = append(outs, msgs.Output{Diagnostics: Diagnostics(parallaxv1.DiagnosticStatus_OK)},
				msgs.Output{LearnerStats: LearnerStats(i)})
		}
		for _, o := range outs {
			if err := s.Write(o); err != nil {
				return i, err
			}
		}
		select {
		case <-ctx.Done():
			return i + 1, nil
		case <-t.C:
		}
	}
}

// Channel is an advertised channel.
type Channel struct {
	ID             uint32 `json:"id"`
	Topic          string `json:"topic"`
	Encoding       string `json:"encoding"`
	SchemaName     string `json:"schemaName"`
	Schema         string `json:"schema"`
	SchemaEncoding string `json:"schemaEncoding"`

	desc protoreflect.MessageDescriptor
}

// Descriptor builds the channel's message descriptor from its schema
// alone: the base64 FileDescriptorSet, without Go's registry.
func (c *Channel) Descriptor() (protoreflect.MessageDescriptor, error) {
	if c.desc != nil {
		return c.desc, nil
	}
	b, err := base64.StdEncoding.DecodeString(c.Schema)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: schema is not base64: %v", ErrProtocol, c.Topic, err)
	}
	set := new(descriptorpb.FileDescriptorSet)
	if err := proto.Unmarshal(b, set); err != nil {
		return nil, fmt.Errorf("%w: %s: schema is not a FileDescriptorSet: %v", ErrProtocol, c.Topic, err)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: schema does not resolve: %v", ErrProtocol, c.Topic, err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(c.SchemaName))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s not in its schema: %v", ErrProtocol, c.Topic, c.SchemaName, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("%w: %s: %s is not a message", ErrProtocol, c.Topic, c.SchemaName)
	}
	c.desc = md
	return md, nil
}

// Decode decodes a payload of the channel with its schema alone.
func (c *Channel) Decode(payload []byte) (*dynamicpb.Message, error) {
	d, err := c.Descriptor()
	if err != nil {
		return nil, err
	}
	m := dynamicpb.NewMessage(d)
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, c.Topic, err)
	}
	return m, nil
}

// Client is a Go client of Foxglove's WebSocket protocol.
type Client struct {
	Conn        *websocket.Conn
	Subprotocol string
	ServerInfo  map[string]any
	Channels    map[string]*Channel // by topic
	subs        map[uint32]*Channel
	next        uint32
}

// Message is what the server sent: a JSON op (Op set, JSON the message),
// a MessageData (Channel set) or a Time (Time set).
type Message struct {
	Op      string
	JSON    map[string]any
	Channel *Channel
	Stamp   uint64
	Payload []byte
	Time    uint64
}

// Dial connects with the subprotocol and reads serverInfo and the first
// advertise.
func Dial(ctx context.Context, url, subprotocol string, opts *websocket.DialOptions) (*Client, error) {
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	o := *opts
	o.Subprotocols = []string{subprotocol}
	conn, _, err := websocket.Dial(ctx, url, &o)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(64 << 20)
	c := &Client{Conn: conn, Subprotocol: conn.Subprotocol(), Channels: map[string]*Channel{}, subs: map[uint32]*Channel{}}
	// serverInfo first, then advertise: wait for one with channels (a
	// viewer whose node has not started advertises none).
	for first := true; c.ServerInfo == nil || len(c.Channels) == 0; first = false {
		m, err := c.Next(ctx)
		if err != nil {
			conn.CloseNow()
			return nil, err
		}
		if first && m.Op != "serverInfo" {
			conn.CloseNow()
			return nil, fmt.Errorf("%w: first message %q, want serverInfo", ErrProtocol, m.Op)
		}
	}
	return c, nil
}

// Next reads the next message, keeping serverInfo and advertised channels.
func (c *Client) Next(ctx context.Context) (Message, error) {
	typ, data, err := c.Conn.Read(ctx)
	if err != nil {
		return Message{}, err
	}
	if typ == websocket.MessageText {
		var raw map[string]any
		if err := json.Unmarshal(data, &raw); err != nil {
			return Message{}, fmt.Errorf("%w: text message is not JSON: %v", ErrProtocol, err)
		}
		op, _ := raw["op"].(string)
		switch op {
		case "serverInfo":
			c.ServerInfo = raw
		case "advertise":
			var adv struct {
				Channels []*Channel `json:"channels"`
			}
			if err := json.Unmarshal(data, &adv); err != nil {
				return Message{}, fmt.Errorf("%w: advertise: %v", ErrProtocol, err)
			}
			for _, ch := range adv.Channels {
				c.Channels[ch.Topic] = ch
			}
		}
		return Message{Op: op, JSON: raw}, nil
	}
	if len(data) < 1 {
		return Message{}, fmt.Errorf("%w: empty binary message", ErrProtocol)
	}
	switch data[0] {
	case 0x01:
		if len(data) < 13 {
			return Message{}, fmt.Errorf("%w: MessageData of %d bytes", ErrProtocol, len(data))
		}
		sub := binary.LittleEndian.Uint32(data[1:])
		ch := c.subs[sub]
		if ch == nil {
			return Message{}, fmt.Errorf("%w: MessageData for subscription %d, never made", ErrProtocol, sub)
		}
		return Message{Channel: ch, Stamp: binary.LittleEndian.Uint64(data[5:]), Payload: data[13:]}, nil
	case 0x02:
		if len(data) != 9 {
			return Message{}, fmt.Errorf("%w: Time of %d bytes", ErrProtocol, len(data))
		}
		return Message{Time: binary.LittleEndian.Uint64(data[1:])}, nil
	}
	return Message{}, fmt.Errorf("%w: binary opcode %#x", ErrProtocol, data[0])
}

// Subscribe subscribes to the topics (all advertised).
func (c *Client) Subscribe(ctx context.Context, topics ...string) error {
	var subs []map[string]uint32
	for _, t := range topics {
		ch := c.Channels[t]
		if ch == nil {
			return fmt.Errorf("%w: %s not advertised", ErrProtocol, t)
		}
		c.next++
		c.subs[c.next] = ch
		subs = append(subs, map[string]uint32{"id": c.next, "channelId": ch.ID})
	}
	b, _ := json.Marshal(map[string]any{"op": "subscribe", "subscriptions": subs})
	return c.Conn.Write(ctx, websocket.MessageText, b)
}

// Close closes the connection without a handshake.
func (c *Client) Close() { c.Conn.CloseNow() }

// jsDir is testdata/js beside this package.
func jsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "js")
}

// NodeResult is what testdata/js/client.js prints.
type NodeResult struct {
	Subprotocol string         `json:"subprotocol"`
	ServerInfo  map[string]any `json:"serverInfo"`
	Advertised  []struct {
		ID             uint32 `json:"id"`
		Topic          string `json:"topic"`
		Encoding       string `json:"encoding"`
		SchemaName     string `json:"schemaName"`
		SchemaEncoding string `json:"schemaEncoding"`
		SchemaBytes    int    `json:"schemaBytes"`
	} `json:"advertised"`
	Received map[string]struct {
		SchemaName string           `json:"schemaName"`
		Count      int              `json:"count"`
		Samples    []map[string]any `json:"samples"`
	} `json:"received"`
	Statuses []map[string]any `json:"statuses"`
	Errors   []string         `json:"errors"`
}

// RunNode runs the Node.js client against url with the subprotocol,
// waiting for count messages of each topic within timeout.
func RunNode(ctx context.Context, url, subprotocol string, topics []string, count int, timeout time.Duration) (*NodeResult, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: node: %v", ErrMissingTool, err)
	}
	dir := jsDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@foxglove", "ws-protocol")); err != nil {
		return nil, fmt.Errorf("%w: %s/node_modules has no @foxglove/ws-protocol (npm ci there)", ErrMissingTool, dir)
	}
	topicList := ""
	for i, t := range topics {
		if i > 0 {
			topicList += ","
		}
		topicList += t
	}
	cmd := exec.CommandContext(ctx, node, "client.js", url, subprotocol, topicList, fmt.Sprint(count), fmt.Sprint(timeout.Milliseconds()))
	cmd.Dir = dir
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res NodeResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		return nil, fmt.Errorf("node client.js: %v (output %q, stderr %q): %v", err, out, stderr.String(), jerr)
	}
	if err != nil {
		return &res, fmt.Errorf("node client.js: %v (errors %v, stderr %q)", err, res.Errors, stderr.String())
	}
	return &res, nil
}

// limitedBuffer keeps the first 64 KiB written.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if n := 64<<10 - len(l.b); n > 0 {
		l.b = append(l.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// CheckNodeResult checks what the Node.js client decoded: the subprotocol,
// the advertised channels, and depth, odometry and points of camera cam
// in namespace ns.
func CheckNodeResult(t testing.TB, res *NodeResult, sp, ns, cam string) {
	t.Helper()
	if res.Subprotocol != sp || len(res.Errors) > 0 {
		t.Errorf("subprotocol %q (offered %q), errors %v", res.Subprotocol, sp, res.Errors)
	}
	if res.ServerInfo["op"] != "serverInfo" || len(res.Advertised) < 10 {
		t.Errorf("serverInfo %v, %d channels", res.ServerInfo, len(res.Advertised))
	}
	for _, a := range res.Advertised {
		if a.Encoding != "protobuf" || a.SchemaEncoding != "protobuf" || !strings.Contains(a.SchemaName, ".") || a.SchemaBytes < 100 {
			t.Errorf("advertised %+v", a)
		}
	}
	d := res.Received[ns+"."+cam+".depth"]
	if d.Count < 3 || d.SchemaName != "foxglove.RawImage" {
		t.Fatalf("depth: %+v", d)
	}
	for _, s := range d.Samples {
		w, _ := s["width"].(float64)
		h, _ := s["height"].(float64)
		lo, _ := s["min_m"].(float64)
		hi, _ := s["max_m"].(float64)
		if s["encoding"] != "32FC1" || s["frame_id"] != cam || s["bytes"] != w*h*4 || !(lo > 0 && hi > lo && hi <= 1000) {
			t.Errorf("depth sample %v", s)
		}
	}
	o := res.Received[ns+".odom"]
	if o.Count < 3 || o.Samples[0]["frame_id"] != "odom" || o.Samples[0]["child_frame_id"] != cam {
		t.Errorf("odom: %+v", o)
	}
	p := res.Received[ns+"."+cam+".points"]
	if p.Count < 3 || p.SchemaName != "foxglove.PointCloud" {
		t.Fatalf("points: %+v", p)
	}
	for _, s := range p.Samples {
		n, _ := s["points"].(float64)
		zmin, _ := s["z_min"].(float64)
		fields, _ := s["fields"].([]any)
		if s["frame_id"] != cam || s["point_stride"] != 16.0 || n < 100 || !(zmin > 0) || len(fields) != 7 {
			t.Errorf("points sample %v", s)
		}
	}
}

// SmallWindow dials with a 256 KiB socket receive buffer, so that a client
// that stops reading stalls the server's writes within a few messages
// (loopback buffers otherwise grow to megabytes). Not smaller: below the
// loopback MSS (64 KiB) Linux's receiver opens the window again only on
// zero-window probes, and the client would crawl after its stall too.
func SmallWindow() *websocket.DialOptions {
	d := &net.Dialer{Control: nil}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(256 << 10)
		}
		return c, err
	}}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}
}
