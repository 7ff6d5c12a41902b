package viewer

import (
	"encoding/json"
	"testing"

	"github.com/parallax-robotics/parallax/internal/fuzzseed"
)

// TestFuzzSeeds builds FuzzClientMessage's seed corpus from the requests a
// Foxglove client (@foxglove/ws-protocol, as testdata/js/client.js and
// Foxglove Studio use it) sends to the demo rig's viewer: one subscribe per
// advertised channel, the whole layout subscribed at once, and the
// unsubscribe that follows; see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	_, st := fuzzViewer(t)
	if len(st.ch.list) < 4 {
		t.Fatalf("the demo rig advertises %d channels", len(st.ch.list))
	}
	type sub struct {
		ID        uint32 `json:"id"`
		ChannelID uint32 `json:"channelId"`
	}
	msg := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c := fuzzseed.New(t, "FuzzClientMessage")
	var all []sub
	var ids []uint32
	for i, ch := range st.ch.list {
		s := sub{ID: uint32(i), ChannelID: ch.ID}
		all = append(all, s)
		ids = append(ids, s.ID)
		if i < 4 {
			c.Add("subscribe-"+sanitize(ch.Topic), false, msg(map[string]any{"op": "subscribe", "subscriptions": []sub{s}}))
		}
	}
	c.Add("subscribe-all", false, msg(map[string]any{"op": "subscribe", "subscriptions": all}))
	c.Add("unsubscribe-all", false, msg(map[string]any{"op": "unsubscribe", "subscriptionIds": ids}))
	c.Close()
}

// sanitize turns a topic into a seed name.
func sanitize(topic string) string {
	b := []byte(topic)
	for i, r := range b {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
		case r >= 'A' && r <= 'Z':
			b[i] = r - 'A' + 'a'
		default:
			b[i] = '-'
		}
	}
	return string(b)
}
