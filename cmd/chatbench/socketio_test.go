package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// sioHub stands in for the tutorial's Node.js service, speaking the part of
// Socket.IO 4 that the service and chatbench use: Engine.IO's open packet,
// pings that must be answered, 40, signin and sendMessage with their acks,
// message events to every socket of the room (the sender's included) and
// notification events. Its rooms are shared by every instance serving it,
// as the Redis adapter shares them. It parses with encoding/json, not with
// chatbench's scanner, so that the two check each other.
type sioHub struct {
	pingEvery   time.Duration
	pongTimeout time.Duration // an unanswered ping this old closes the socket, as Engine.IO does

	// Faults, by the number (from 1) of a sendMessage over the hub: not
	// delivered to the last member of its room, delivered to it twice,
	// or refused as the service refuses a socket not signed in. 0: none.
	drop, double, refuse int

	mu      sync.Mutex
	rooms   map[string][]*sioTestConn
	conns   []*sioTestConn
	sends   int
	timeout atomic.Int64 // sockets closed for a missed pong
}

// sioTestConn is one client socket of the hub.
type sioTestConn struct {
	ws    *websocket.Conn
	user  string
	room  string
	pongs atomic.Int64
}

// sioInstances serves hub on n loopback instances until the test ends.
func sioInstances(t *testing.T, hub *sioHub, n int) []string {
	t.Helper()
	hub.rooms = map[string][]*sioTestConn{}
	var urls []string
	for range n {
		ts := httptest.NewServer(hub)
		t.Cleanup(ts.Close)
		urls = append(urls, ts.URL)
	}
	return urls
}

func (h *sioHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.URL.Path != "/socket.io/" || q.Get("EIO") != "4" || q.Get("transport") != "websocket" {
		http.NotFound(w, r)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := &sioTestConn{ws: ws}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer ws.CloseNow()
	c.send(fmt.Sprintf(`0{"sid":"s%p","upgrades":[],"pingInterval":%d,"pingTimeout":%d,"maxPayload":1000000}`,
		c, h.pingEvery.Milliseconds(), h.pongTimeout.Milliseconds()))
	var pending atomic.Int64 // when the unanswered ping was sent; 0: none
	go h.ping(ctx, c, &pending)
	defer h.leave(c)
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		switch p := string(data); {
		case p == "3":
			pending.Store(0)
			c.pongs.Add(1)
		case p == "40":
			c.send(`40{"sid":"x"}`)
		case strings.HasPrefix(p, "42"):
			h.event(c, p[2:])
		}
	}
}

// ping sends a ping every pingEvery, one at a time, and closes the socket
// when one goes unanswered for pongTimeout.
func (h *sioHub) ping(ctx context.Context, c *sioTestConn, pending *atomic.Int64) {
	tick := time.NewTicker(h.pingEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		switch sent := pending.Load(); {
		case sent != 0 && time.Since(time.Unix(0, sent)) > h.pongTimeout:
			h.timeout.Add(1)
			c.ws.Close(websocket.StatusPolicyViolation, "ping timeout")
			return
		case sent == 0:
			pending.Store(time.Now().UnixNano())
			c.send("2")
		}
	}
}

// event handles an event packet after its "42": an ack id, then the array.
func (h *sioHub) event(c *sioTestConn, p string) {
	n := 0
	for n < len(p) && p[n] >= '0' && p[n] <= '9' {
		n++
	}
	ack := p[:n]
	var args []json.RawMessage
	var name string
	if json.Unmarshal([]byte(p[n:]), &args) != nil || len(args) < 2 || json.Unmarshal(args[0], &name) != nil || ack == "" {
		c.ws.Close(websocket.StatusProtocolError, "bad event")
		return
	}
	switch name {
	case "signin":
		var in struct{ User, Room string }
		if json.Unmarshal(args[1], &in) != nil {
			c.ws.Close(websocket.StatusProtocolError, "bad signin")
			return
		}
		h.join(c, in.User, in.Room)
		// The history is the room's earlier messages, here a message
		// of another run that must not be counted.
		c.send("43" + ack + `[null,{"room":"` + in.Room + `","messages":[{"user":"old","text":"b zzzzzzzz 0 1 0"}]}]`)
	case "sendMessage":
		var text string
		if json.Unmarshal(args[1], &text) != nil {
			c.ws.Close(websocket.StatusProtocolError, "bad sendMessage")
			return
		}
		if h.broadcast(c, text) {
			c.send("43" + ack + "[]")
		} else {
			c.send("43" + ack + `["User session not found."]`)
		}
	}
}

// join puts c in room and tells the others, as the service does.
func (h *sioHub) join(c *sioTestConn, user, room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.user, c.room = user, room
	note := event("notification", map[string]string{"title": "Someone's here", "description": user + " just entered the room"})
	for _, o := range h.rooms[room] {
		o.send(note)
	}
	h.rooms[room] = append(h.rooms[room], c)
}

// leave takes c out of its room and tells the others.
func (h *sioHub) leave(c *sioTestConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.room == "" {
		return
	}
	h.rooms[c.room] = slices.DeleteFunc(h.rooms[c.room], func(o *sioTestConn) bool { return o == c })
	note := event("notification", map[string]string{"title": "Someone just left", "description": c.user + " just left the room"})
	for _, o := range h.rooms[c.room] {
		o.send(note)
	}
}

// broadcast sends text from c to every socket of its room, in one order for
// all (the lock), with the faults the hub was told to make; false when the
// message is refused.
func (h *sioHub) broadcast(c *sioTestConn, text string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sends++
	if h.sends == h.refuse || c.room == "" {
		return false
	}
	msg := event("message", map[string]string{"user": c.user, "text": text})
	members := h.rooms[c.room]
	for i, o := range members {
		last := i == len(members)-1
		switch {
		case last && h.sends == h.drop:
		case last && h.sends == h.double:
			o.send(msg)
			o.send(msg)
		default:
			o.send(msg)
		}
	}
	return true
}

// send writes one packet; a failure is the reader's to see.
func (c *sioTestConn) send(packet string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, []byte(packet))
}

// event renders a server-sent event packet.
func event(name string, arg any) string {
	data, err := json.Marshal([]any{name, arg})
	if err != nil {
		panic(err)
	}
	return "42" + string(data)
}

// minPongs is the fewest pongs any socket of the hub sent.
func (h *sioHub) minPongs() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	least := int64(-1)
	for _, c := range h.conns {
		if n := c.pongs.Load(); least < 0 || n < least {
			least = n
		}
	}
	return least
}

// Two instances over one set of rooms, as two Node processes over one
// Redis: every message reaches every member of its room once, the sender
// included, with every ping answered.
func TestSocketIOExactCounts(t *testing.T) {
	hub := &sioHub{pingEvery: 100 * time.Millisecond, pongTimeout: 2 * time.Second}
	urls := sioInstances(t, hub, 2)
	rep, _ := benchJSON(t, "-proto", "socketio", "-urls", strings.Join(urls, ","), "-rooms", "3", "-members", "3",
		"-senders", "2", "-rate", "20", "-duration", "1s", "-drain", "5s", "-sources", "2")
	checkExact(t, rep, 9, 3)
	// 6 senders at 20/s for 1 s.
	if rep.Sent < 90 || rep.Sent > 132 {
		t.Errorf("sent %d; want about 120", rep.Sent)
	}
	if rep.Proto != "socketio" || rep.Page {
		t.Errorf("proto %q, page %v; want socketio without a page", rep.Proto, rep.Page)
	}
	if n := hub.minPongs(); n < 1 || hub.timeout.Load() != 0 {
		t.Errorf("fewest pongs on a socket %d, ping timeouts %d; want every socket answering", n, hub.timeout.Load())
	}
	noBenchGoroutines(t)
}

// A server that drops a message to one member, doubles another and
// refuses a third is reported so: lost, duplicated, refused.
func TestSocketIOFaultsAreCounted(t *testing.T) {
	hub := &sioHub{pingEvery: time.Second, pongTimeout: 5 * time.Second, drop: 3, double: 5, refuse: 7}
	urls := sioInstances(t, hub, 1)
	// The lost message keeps the drain waiting to its end.
	rep, _ := benchJSON(t, "-proto", "socketio", "-urls", urls[0], "-rooms", "1", "-members", "3",
		"-rate", "20", "-duration", "1s", "-drain", "1s")
	if rep.Sent < 10 || rep.Accepted != rep.Sent-1 || rep.Refused != 1 || rep.RefusalReasons["User session not found."] != 1 {
		t.Errorf("sent %d, accepted %d, refused %d %v; want one refused as not signed in",
			rep.Sent, rep.Accepted, rep.Refused, rep.RefusalReasons)
	}
	if want := 3 * rep.Accepted; rep.Expected != want || rep.Received != want-1 || rep.Lost != 1 || rep.Duplicated != 1 {
		t.Errorf("expected %d, received %d, lost %d, duplicated %d; want %d, %d, 1, 1",
			rep.Expected, rep.Received, rep.Lost, rep.Duplicated, want, want-1)
	}
	if rep.Unexpected != 0 || rep.Foreign != 0 || rep.Drained {
		t.Errorf("unexpected %d, foreign %d, drained %v; want 0, 0, false", rep.Unexpected, rep.Foreign, rep.Drained)
	}
}

// Held idle for several of the server's ping timeouts, every socket stays:
// the pings are answered while nothing else happens.
func TestSocketIOIdleAnswersPings(t *testing.T) {
	hub := &sioHub{pingEvery: 100 * time.Millisecond, pongTimeout: 300 * time.Millisecond}
	urls := sioInstances(t, hub, 1)
	rep, _ := benchJSON(t, "-proto", "socketio", "-urls", urls[0], "-rooms", "2", "-members", "3", "-idle", "1s")
	if rep.Connections != 6 || rep.Disconnects != 0 || hub.timeout.Load() != 0 {
		t.Errorf("connections %d, disconnects %d %v, ping timeouts %d; want 6, 0, 0",
			rep.Connections, rep.Disconnects, rep.DisconnectReasons, hub.timeout.Load())
	}
	if n := hub.minPongs(); n < 3 {
		t.Errorf("fewest pongs on a socket %d; want a ping answered every 100 ms for 1 s", n)
	}
	noBenchGoroutines(t)
}

func TestSocketIOConfig(t *testing.T) {
	for _, args := range [][]string{
		{"-proto", "socket.io"},
		{"-proto", "socketio", "-storm-after", "1s", "-duration", "5s"},
		{"-proto", "socketio", "-typing", "1s"},
	} {
		if _, err := parseConfig(args, nil); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	c, err := parseConfig([]string{"-proto", "socketio", "-idle", "1s"}, nil)
	if err != nil || !c.socketIO() {
		t.Errorf("-proto socketio: %+v, %v", c, err)
	}
	if c, _ := parseConfig(nil, nil); c.proto != protoChat {
		t.Errorf("default -proto %q; want chat", c.proto)
	}
}

// handleSIO is what counts in a Socket.IO run: deliveries told apart by
// sender and number, duplicates, others' messages, acks and pings.
func TestMemberHandleSIO(t *testing.T) {
	b := &bench{run: "run1", maxMessages: 100}
	r := &room{}
	for i := range 4 {
		r.members = append(r.members, &member{idx: 8 + i, room: r}) // the room's first member is 8
	}
	m := r.members[2]
	m.sender, m.seen = true, make([]seenSet, 2) // senders 8 and 9
	now := time.Now().Add(time.Second).UnixNano()
	msg := func(sender, n int) []byte {
		text := appendCountedPayload(nil, "run1", sender, n, time.Now().UnixNano())
		return []byte(event("message", map[string]string{"user": "u", "text": string(text)}))
	}
	for _, p := range [][]byte{
		msg(8, 0), msg(9, 0), msg(8, 1), msg(8, 1), // one duplicate
		msg(9, 2), msg(9, 1), // out of order: both count
		msg(10, 0), msg(7, 0), // not a sender of the room
		msg(8, 100), // beyond any number sent
		[]byte(event("message", map[string]string{"user": "x", "text": "hello"})),
		[]byte(event("message", map[string]string{"user": "x", "text": "b run0 8 1 3"})),
		[]byte(event("notification", map[string]string{"title": "t", "description": "b run1 8 1 7"})),
		[]byte(`431[]`), []byte(`432["User session not found."]`), []byte(`430[null,null]`),
		[]byte(`42["message"`), []byte(``),
	} {
		if answer, err := m.handleSIO(p, now, b); answer != nil || err != nil {
			t.Errorf("%s: answer %q, %v", p, answer, err)
		}
	}
	if got := m.received.Load(); got != 5 {
		t.Errorf("received %d; want 5 (8:0, 9:0, 8:1, 9:2, 9:1)", got)
	}
	if m.dups != 1 || m.foreign != 5 || m.accepted.Load() != 1 || m.refused.Load() != 1 || m.reasons["User session not found."] != 1 {
		t.Errorf("dups %d (want 1), foreign %d (5), accepted %d (1), refused %d (1) %v",
			m.dups, m.foreign, m.accepted.Load(), m.refused.Load(), m.reasons)
	}
	if s := b.latency.summary(); s.count != 5 || s.p50 < 950_000 || s.max > 1_000_000 {
		t.Errorf("latency %+v; want 5 samples of about 1 s", s)
	}
	if answer, err := m.handleSIO([]byte("2"), now, b); !bytes.Equal(answer, []byte("3")) || err != nil {
		t.Errorf("ping: answer %q, %v; want 3", answer, err)
	}
	for _, p := range []string{"41", "1"} {
		if _, err := m.handleSIO([]byte(p), now, b); err != errSIODisconnected {
			t.Errorf("%s: %v; want disconnected", p, err)
		}
	}
	// A receiver that is not a sender counts no ack.
	o := r.members[3]
	o.seen = make([]seenSet, 2)
	o.handleSIO([]byte(`431[]`), now, b)
	if o.accepted.Load() != 0 {
		t.Error("an ack counted for a member that sends nothing")
	}
}

// BenchmarkHandleSIO is the generator's cost per Socket.IO delivery.
func BenchmarkHandleSIO(b *testing.B) {
	bn := &bench{run: "run1", maxMessages: 1 << 20}
	r := &room{}
	m := &member{room: r, seen: make([]seenSet, 1)}
	r.members = []*member{m}
	frames := make([][]byte, 1000)
	for i := range frames {
		text := appendCountedPayload(nil, "run1", 0, i, time.Now().UnixNano())
		frames[i] = []byte(event("message", map[string]string{"user": "m0-0-run1", "text": string(text)}))
	}
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(frames) == 0 {
			clear(m.seen[0])
		}
		m.handleSIO(frames[i%len(frames)], now, bn)
	}
}
