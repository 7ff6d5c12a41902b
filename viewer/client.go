package viewer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parallax-robotics/parallax/msgs"
)

const (
	textMessage   = websocket.MessageText
	binaryMessage = websocket.MessageBinary
)

// Binary opcodes of Foxglove's protocol, server to client.
const (
	opMessageData = 0x01
	opTime        = 0x02
)

// Foxglove status levels.
const (
	levelInfo    = 0
	levelWarning = 1
	levelError   = 2
)

const (
	// dropsStatusID is the id of the status that reports a client's drops;
	// removeStatus takes it back once it has had none for dropsClear.
	dropsStatusID = "parallax.viewer.drops"
	dropsClear    = 10 * time.Second
	// readLimit bounds a client's messages (subscribe lists).
	readLimit = 1 << 20
	// goodbyeTime bounds the flush of the last messages on Close.
	goodbyeTime = 300 * time.Millisecond
)

type clientKind int

const (
	kindFoxglove clientKind = iota
	kindPage
)

func (k clientKind) String() string {
	if k == kindPage {
		return "page"
	}
	return "foxglove"
}

// client is one WebSocket connection: a Foxglove client or a page. Its
// writer goroutine sends what its queue holds; its reader (Foxglove)
// handles subscriptions. Nothing the node does waits for it.
type client struct {
	v        *Viewer
	id       uint64
	kind     clientKind
	conn     *websocket.Conn
	q        *sendQueue
	ctx      context.Context
	cancel   context.CancelFunc
	remote   string
	protocol string
	written  chan struct{} // closed when the writer returns

	mu    sync.Mutex
	subs  map[uint32]uint32 // channel id -> subscription id
	bySub map[uint32]uint32 // subscription id -> channel id

	once sync.Once
}

// viewerStats are the viewer's counters over all clients, for /metrics.
type viewerStats struct {
	connections, sent, bytes, dropped atomic.Uint64
	foxglove, pages                   atomic.Int64
}

func (v *Viewer) newClient(kind clientKind, conn *websocket.Conn, r *http.Request) *client {
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{v: v, id: v.nextID.Add(1), kind: kind, conn: conn, q: newSendQueue(v.SendBuffer), ctx: ctx, cancel: cancel,
		remote: r.RemoteAddr, protocol: conn.Subprotocol(), written: make(chan struct{}),
		subs: map[uint32]uint32{}, bySub: map[uint32]uint32{}}
	c.q.total = &v.stats.dropped
	conn.SetReadLimit(readLimit)
	return c
}

// register adds c to the clients the outputs go to; false when the
// viewer is closing.
func (v *Viewer) register(c *client) bool {
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed {
		return false
	}
	v.cmu.Lock()
	v.clients[c] = struct{}{}
	v.cmu.Unlock()
	v.stats.connections.Add(1)
	if c.kind == kindPage {
		v.stats.pages.Add(1)
	} else {
		v.stats.foxglove.Add(1)
	}
	v.Logger.Info("viewer client connected", "client", c.id, "kind", c.kind.String(), "remote", c.remote, "subprotocol", c.protocol)
	return true
}

// close ends the connection and forgets the client's subscriptions.
func (c *client) close(reason error) {
	c.once.Do(func() {
		c.cancel()
		c.conn.CloseNow()
		v := c.v
		v.cmu.Lock()
		delete(v.clients, c)
		v.cmu.Unlock()
		c.mu.Lock()
		st := v.state.Load()
		for ch := range c.subs {
			if st != nil {
				if x := st.ch.byID(ch); x != nil {
					x.subs.Add(-1)
				}
			}
		}
		c.subs, c.bySub = map[uint32]uint32{}, map[uint32]uint32{}
		c.mu.Unlock()
		if c.kind == kindPage {
			v.stats.pages.Add(-1)
		} else {
			v.stats.foxglove.Add(-1)
		}
		attrs := []any{"client", c.id, "kind", c.kind.String(), "remote", c.remote, "dropped", c.q.drops()}
		if reason != nil && !errors.Is(reason, context.Canceled) {
			attrs = append(attrs, "reason", reason.Error())
		}
		v.Logger.Info("viewer client disconnected", attrs...)
	})
}

// goodbye tells a Foxglove client the channels are gone and every client
// that the node stops, lets the writer flush that for up to goodbyeTime,
// closes with "going away", and within goodbyeTime more closes for good.
func (c *client) goodbye(st *rigState) {
	if c.kind == kindFoxglove && st != nil {
		ids := make([]uint32, len(st.ch.list))
		for i, ch := range st.ch.list {
			ids[i] = ch.ID
		}
		c.sendJSON(map[string]any{"op": "unadvertise", "channelIds": ids})
	}
	c.sendJSON(statusMessage(levelInfo, "parallax: the node is stopping", ""))
	deadline := time.Now().Add(goodbyeTime)
	for c.q.pendingControl() > 0 && time.Now().Before(deadline) {
		select {
		case <-c.written:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.conn.Close(websocket.StatusGoingAway, "node stopping")
	}()
	t := time.NewTimer(goodbyeTime)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	// Cancelling the client's context closes the connection under any
	// Read or Write still blocked (a client that reads nothing).
	c.close(nil)
	<-done
}

// sendJSON queues a control message.
func (c *client) sendJSON(m any) {
	b, err := json.Marshal(m)
	if err != nil {
		c.v.Logger.Error("viewer: encoding a message", "err", err)
		return
	}
	c.q.putControl(item{typ: textMessage, data: b})
}

func statusMessage(level int, msg, id string) map[string]any {
	m := map[string]any{"op": "status", "level": level, "message": msg}
	if id != "" {
		m["id"] = id
	}
	return m
}

// writeLoop sends the queue's messages until the client goes, and reports
// the client's drops to it as a status warning, at most once a second
// (taken back with removeStatus after dropsClear without drops).
func (c *client) writeLoop() {
	defer close(c.written)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var buf []byte
	var reported uint64
	var lastStatus, lastDrop time.Time
	statusUp := false
	for {
		it, ok, closed := c.q.take(c.ctx, tick.C)
		if closed {
			if c.q.overflowed() {
				c.close(errors.New("it does not read its control messages"))
			}
			return
		}
		if ok {
			buf = append(append(buf[:0], it.hdr[:it.hlen]...), it.data...)
			if err := c.conn.Write(c.ctx, it.typ, buf); err != nil {
				c.close(err)
				return
			}
			c.v.stats.sent.Add(1)
			c.v.stats.bytes.Add(uint64(len(buf)))
			if cap(buf) > 4<<20 { // one huge message: do not keep its buffer
				buf = nil
			}
		}
		now := time.Now()
		d := c.q.drops()
		if d > reported {
			lastDrop = now
			if now.Sub(lastStatus) >= time.Second {
				c.sendJSON(statusMessage(levelWarning, fmt.Sprintf(
					"parallax viewer: dropped %d messages for this client (%d since the last report): its connection is slower than the data; only the newest message of each image, depth and point cloud channel waits for it",
					d, d-reported), dropsStatusID))
				reported, lastStatus, statusUp = d, now, true
			}
		} else if statusUp && now.Sub(lastDrop) >= dropsClear {
			c.sendJSON(map[string]any{"op": "removeStatus", "statusIds": []string{dropsStatusID}})
			statusUp = false
		}
	}
}

// subscription returns the client's subscription id for channel ch.
func (c *client) subscription(ch uint32) (uint32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.subs[ch]
	return id, ok
}

// putData queues a MessageData for the client when it subscribed to ch.
func (c *client) putData(ch *channel, stamp uint64, payload []byte) {
	sub, ok := c.subscription(ch.ID)
	if !ok {
		return
	}
	it := item{typ: binaryMessage, hlen: 13, data: payload}
	if ch.large {
		it.key = int(ch.ID)
	}
	it.hdr[0] = opMessageData
	binary.LittleEndian.PutUint32(it.hdr[1:], sub)
	binary.LittleEndian.PutUint64(it.hdr[5:], stamp)
	c.q.put(it)
}

// offered reports whether the request offers one of Subprotocols.
func offered(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			for _, s := range Subprotocols {
				if strings.EqualFold(strings.TrimSpace(p), s) {
					return true
				}
			}
		}
	}
	return false
}

// serveFoxglove runs one connection of Foxglove's WebSocket protocol.
func (v *Viewer) serveFoxglove(w http.ResponseWriter, r *http.Request) {
	if !offered(r) {
		http.Error(w, "viewer: Foxglove WebSocket protocol: offer the subprotocol "+strings.Join(Subprotocols, " or "), http.StatusBadRequest)
		return
	}
	// Any origin: Foxglove Studio runs on its own (https://app.foxglove.dev,
	// the desktop app); beyond loopback the token guards the data.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: Subprotocols, InsecureSkipVerify: true})
	if err != nil {
		v.Logger.Warn("viewer: WebSocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := v.newClient(kindFoxglove, conn, r)
	if !v.register(c) {
		conn.Close(websocket.StatusGoingAway, "node stopping")
		return
	}
	st := v.state.Load()
	if st != nil {
		c.q.putControl(item{typ: textMessage, data: st.info})
		c.q.putControl(item{typ: textMessage, data: st.advertise})
	} else {
		c.q.putControl(item{typ: textMessage, data: v.serverInfo(nil)})
		c.sendJSON(map[string]any{"op": "advertise", "channels": []any{}})
	}
	go c.writeLoop()
	c.readLoop()
	<-c.written
}

// clientOp is a JSON message of a Foxglove client.
type clientOp struct {
	Op            string `json:"op"`
	Subscriptions []struct {
		ID        *uint32 `json:"id"`
		ChannelID *uint32 `json:"channelId"`
	} `json:"subscriptions"`
	SubscriptionIDs []uint32 `json:"subscriptionIds"`
}

// readLoop handles the client's requests until it goes.
func (c *client) readLoop() {
	for {
		typ, data, err := c.conn.Read(c.ctx)
		if err != nil {
			c.close(err)
			return
		}
		c.handle(typ, data)
	}
}

// handle answers one message of a Foxglove client: subscribe and
// unsubscribe; anything else gets a status error.
func (c *client) handle(typ websocket.MessageType, data []byte) {
	if typ == websocket.MessageBinary {
		c.sendJSON(statusMessage(levelError, "parallax viewer: client binary messages (clientPublish, services) are not supported", ""))
		return
	}
	var op clientOp
	if err := json.Unmarshal(data, &op); err != nil {
		c.sendJSON(statusMessage(levelError, fmt.Sprintf("parallax viewer: a message is not JSON: %v", err), ""))
		return
	}
	switch op.Op {
	case "subscribe":
		c.subscribe(op)
	case "unsubscribe":
		c.unsubscribe(op.SubscriptionIDs)
	default:
		c.sendJSON(statusMessage(levelError, fmt.Sprintf("parallax viewer: op %q is not supported (only subscribe and unsubscribe)", op.Op), ""))
	}
}

func (c *client) subscribe(op clientOp) {
	st := c.v.state.Load()
	for _, s := range op.Subscriptions {
		if s.ID == nil || s.ChannelID == nil {
			c.sendJSON(statusMessage(levelError, "parallax viewer: a subscription needs an id and a channelId", ""))
			continue
		}
		id, chID := *s.ID, *s.ChannelID
		var ch *channel
		if st != nil {
			ch = st.ch.byID(chID)
		}
		if ch == nil {
			c.sendJSON(statusMessage(levelWarning, fmt.Sprintf("parallax viewer: no channel %d", chID), ""))
			continue
		}
		c.mu.Lock()
		_, dupID := c.bySub[id]
		_, dupCh := c.subs[chID]
		if !dupID && !dupCh {
			c.subs[chID], c.bySub[id] = id, chID
			ch.subs.Add(1)
		}
		c.mu.Unlock()
		switch {
		case dupID:
			c.sendJSON(statusMessage(levelError, fmt.Sprintf("parallax viewer: subscription id %d is in use", id), ""))
			continue
		case dupCh:
			c.sendJSON(statusMessage(levelError, fmt.Sprintf("parallax viewer: already subscribed to channel %d (%s)", chID, ch.Topic), ""))
			continue
		}
		// A latched channel's last message at once (calibration, the rig's
		// transform, the trajectory, the latest stats).
		if stamp, last := ch.latest(); last != nil {
			c.putData(ch, stamp, last)
		}
	}
}

func (c *client) unsubscribe(ids []uint32) {
	st := c.v.state.Load()
	for _, id := range ids {
		c.mu.Lock()
		chID, ok := c.bySub[id]
		if ok {
			delete(c.bySub, id)
			delete(c.subs, chID)
		}
		c.mu.Unlock()
		if !ok {
			c.sendJSON(statusMessage(levelWarning, fmt.Sprintf("parallax viewer: no subscription %d", id), ""))
			continue
		}
		if st != nil {
			if ch := st.ch.byID(chID); ch != nil {
				ch.subs.Add(-1)
			}
		}
	}
}

// serverInfo is the serverInfo message: the rig in its metadata.
func (v *Viewer) serverInfo(rig *msgs.Rig) []byte {
	meta := map[string]string{}
	if rig != nil {
		meta["namespace"] = string(rig.Namespace)
		meta["cameras"] = strings.Join(rig.Cameras, ",")
		if rig.Left != "" {
			meta["stereo.left"], meta["stereo.right"] = rig.Left, rig.Right
		}
	}
	b, _ := json.Marshal(map[string]any{"op": "serverInfo", "name": v.ServerName, "capabilities": []string{"time"},
		"supportedEncodings": []string{}, "metadata": meta, "sessionId": v.session})
	return b
}

// advertiseMessage is the advertise message of every channel.
func advertiseMessage(cs *channels) ([]byte, error) {
	return json.Marshal(map[string]any{"op": "advertise", "channels": cs.list})
}

// broadcastData sends payload on ch to every Foxglove client subscribed.
func (v *Viewer) broadcastData(ch *channel, stamp uint64, payload []byte) {
	v.cmu.Lock()
	defer v.cmu.Unlock()
	for c := range v.clients {
		if c.kind == kindFoxglove {
			c.putData(ch, stamp, payload)
		}
	}
}

// broadcastTime sends a Time message to every Foxglove client.
func (v *Viewer) broadcastTime(stamp uint64) {
	it := item{typ: binaryMessage, hlen: 9}
	it.hdr[0] = opTime
	binary.LittleEndian.PutUint64(it.hdr[1:], stamp)
	v.cmu.Lock()
	defer v.cmu.Unlock()
	for c := range v.clients {
		if c.kind == kindFoxglove {
			c.q.put(it)
		}
	}
}

// broadcastPage sends it to every page.
func (v *Viewer) broadcastPage(it item) {
	v.cmu.Lock()
	defer v.cmu.Unlock()
	for c := range v.clients {
		if c.kind == kindPage {
			c.q.put(it)
		}
	}
}
