package viewer

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/parallax-robotics/parallax/msgs"
)

var update = flag.Bool("update", false, "rewrite foxglove-layout.json")

// demoRig is the rig of launch/demo.yaml.
func demoRig() *msgs.Rig {
	return &msgs.Rig{Namespace: "parallax", Cameras: []string{"left", "right"}, Left: "left", Right: "right",
		Baselines: map[string]float64{"right": 0.54}}
}

// TestLayoutFile keeps foxglove-layout.json equal to the demo's Layout
// (-update rewrites it), and checks that every topic a panel opens is one
// the viewer advertises.
func TestLayoutFile(t *testing.T) {
	rig := demoRig()
	got, err := Layout(rig)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("foxglove-layout.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("foxglove-layout.json")
	if err != nil {
		t.Fatalf("%v (go test ./viewer -run LayoutFile -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("foxglove-layout.json is not the demo's layout: go test ./viewer -run LayoutFile -update")
	}
	var l struct {
		ConfigByID map[string]map[string]any `json:"configById"`
		Layout     map[string]any            `json:"layout"`
	}
	if err := json.Unmarshal(got, &l); err != nil {
		t.Fatal(err)
	}
	ch, err := newChannels(rig)
	if err != nil {
		t.Fatal(err)
	}
	topics := map[string]bool{}
	for _, c := range ch.list {
		topics[c.Topic] = true
	}
	var panels []string
	var walk func(n any)
	walk = func(n any) {
		switch x := n.(type) {
		case string:
			panels = append(panels, x)
		case map[string]any:
			walk(x["first"])
			walk(x["second"])
		}
	}
	walk(l.Layout)
	if len(panels) != len(l.ConfigByID) {
		t.Errorf("the mosaic shows %d panels, %d are configured", len(panels), len(l.ConfigByID))
	}
	for _, p := range panels {
		cfg, ok := l.ConfigByID[p]
		if !ok {
			t.Errorf("panel %s has no configuration", p)
			continue
		}
		for topic := range asMap(cfg["topics"]) {
			if !topics[topic] {
				t.Errorf("%s shows %s, which is not advertised", p, topic)
			}
		}
		if im := asMap(cfg["imageMode"]); im != nil {
			for _, k := range []string{"imageTopic", "calibrationTopic"} {
				if tp, _ := im[k].(string); !topics[tp] {
					t.Errorf("%s %s %q is not advertised", p, k, tp)
				}
			}
		}
		for _, path := range asList(cfg["paths"]) {
			v, _ := asMap(path)["value"].(string)
			topic, _, _ := strings.Cut(strings.TrimPrefix(v, `"`), `"`)
			if !topics[topic] {
				t.Errorf("%s plots %q, whose topic is not advertised", p, v)
			}
		}
	}
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

// fuzzViewer is a viewer opened for the demo rig without a listener.
func fuzzViewer(t testing.TB) (*Viewer, *rigState) {
	v := &Viewer{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := v.defaults(); err != nil {
		t.Fatal(err)
	}
	st, err := v.newRigState(demoRig())
	if err != nil {
		t.Fatal(err)
	}
	v.state.Store(st)
	return v, st
}

// FuzzClientMessage feeds anything to a Foxglove client's request handler:
// it never panics, answers what it cannot do with a status, and keeps the
// subscriptions consistent (each channel's count is the clients' total).
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","subscriptions":[{"id":0,"channelId":1},{"id":1,"channelId":7}]}`,
		`{"op":"unsubscribe","subscriptionIds":[0,1,99]}`,
		`{"op":"subscribe","subscriptions":[{"id":4294967295,"channelId":4294967295}]}`,
		`{"op":"subscribe","subscriptions":[{"id":-1,"channelId":1.5}]}`,
		`{"op":"subscribe","subscriptions":null}`,
		`{"op":"advertise","channels":[{"id":1,"topic":"x","encoding":"json","schemaName":"x"}]}`,
		`{"op":"getParameters","parameterNames":[]}`,
		`{"op":`, `[]`, `null`, ``,
	} {
		f.Add(false, []byte(s))
	}
	f.Add(true, []byte{0x01, 1, 0, 0, 0, 'x'})
	v, st := fuzzViewer(f)
	f.Fuzz(func(t *testing.T, binary bool, data []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &client{v: v, kind: kindFoxglove, q: newSendQueue(1 << 20), ctx: ctx, cancel: cancel,
			subs: map[uint32]uint32{}, bySub: map[uint32]uint32{}}
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		// Twice: a repeated subscribe must be refused, not counted twice.
		c.handle(typ, data)
		c.handle(typ, data)
		if len(c.subs) != len(c.bySub) {
			t.Fatalf("%d channels subscribed, %d subscription ids", len(c.subs), len(c.bySub))
		}
		total := 0
		for _, ch := range st.ch.list {
			total += int(ch.subs.Load())
		}
		if total != len(c.subs) {
			t.Fatalf("channels count %d subscriptions, the client has %d", total, len(c.subs))
		}
		for chID, sub := range c.subs {
			if c.bySub[sub] != chID || st.ch.byID(chID) == nil {
				t.Fatalf("subscription %d -> channel %d inconsistent", sub, chID)
			}
		}
		// Leave the channels as found for the next input.
		for chID := range c.subs {
			st.ch.byID(chID).subs.Add(-1)
		}
	})
}
