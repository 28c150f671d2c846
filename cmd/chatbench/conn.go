package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// member is one simulated browser tab in a room: one session, one socket.
type member struct {
	idx      int // over the whole run; picks the instance, source and client IP
	room     *room
	name     string
	base     *url.URL
	urlIdx   int    // base's place in -urls: a storm's rejoin tries the next
	clientIP string // sent as X-Forwarded-For
	sender   bool
	client   *http.Client // the browser: its jar holds the session for rejoins

	// mu guards conn and pending while a storm may replace the socket; in
	// other runs conn is set once, before the reader and sender start.
	mu      sync.Mutex
	conn    *websocket.Conn
	pending map[int]int64 // storm senders: unanswered messages, number → send time
	joined  bool          // the first connect got its history
	// goneEarly: the server closed the socket before sending began; it
	// takes no part in the counts (see the disconnects instead).
	goneEarly bool

	// Read by the drain check while the reader runs.
	received atomic.Int64 // distinct messages of this run after the history
	sent     atomic.Int64 // frames written (senders)
	typed    atomic.Int64 // typing frames written (-typing)
	typists  atomic.Int64 // typing signals received
	accepted atomic.Int64 // replies that the message was stored
	refused  atomic.Int64 // replies with a reason

	// Owned by the reader goroutine; read by others after it has exited.
	last      int64 // highest seq seen, the history's last at first
	histories int
	dups      int64 // items at or below the highest seq seen
	foreign   int64 // live items not sent by this run
	resynced  int64 // messages of this run first seen in a later history
	lastRecv  int64 // unix nanos of the last delivery
	reasons   map[string]int
	readErr   error
	readPhase string      // the phase the server closed the socket in
	closedBy  atomic.Bool // the server ended the socket before we closed it
	storm     stormState
	firstSend int64 // owned by the sender goroutine
	sendErr   error

	// -proto socketio, owned by the reader: the message numbers received,
	// per sender of the room (senderSlot).
	seen []seenSet
}

// active reports whether the member connected and was still there when
// sending began: it then expects every message accepted in its room.
func (m *member) active() bool { return m.joined && !m.goneEarly }

// currentConn is the member's socket: a storm's rejoin replaces it.
func (m *member) currentConn() *websocket.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conn
}

// room is one chat room of the run and its members.
type room struct {
	name    string
	members []*member
}

// errStatus is an HTTP answer other than the one expected.
type errStatus struct {
	step string
	code int
}

func (e errStatus) Error() string { return fmt.Sprintf("%s: status %d", e.step, e.code) }

// connect signs in, optionally GETs the room page, opens the socket and
// reads its first frame, the history: once it is in, the member is
// registered in the room and will get every message sent afterwards.
func (m *member) connect(ctx context.Context, b *bench, transport *http.Transport) error {
	if b.cfg.socketIO() {
		return m.connectSIO(ctx, b, transport)
	}
	jar, _ := cookiejar.New(nil) // a jar of its own: one browser each
	m.client = &http.Client{
		Jar:       jar,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	if err := m.signIn(ctx, m.base); err != nil {
		return err
	}
	if b.cfg.page {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.roomURL(m.base), nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Forwarded-For", m.clientIP)
		if err := do(m.client, req, "room page", http.StatusOK); err != nil {
			return err
		}
	}
	conn, first, _, err := m.dial(ctx, m.base)
	if err != nil {
		return err
	}
	m.conn, m.joined = conn, true
	m.last = -1
	m.handle(first, time.Now().UnixNano(), b)
	return nil
}

func (m *member) roomURL(base *url.URL) string { return base.String() + "/rooms/" + m.room.name }

// signIn posts the sign-in form to base; the session cookie lands in the
// member's jar.
func (m *member) signIn(ctx context.Context, base *url.URL) error {
	origin := base.String()
	form := url.Values{"name": {m.name}, "room": {m.room.name}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, origin+"/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("X-Forwarded-For", m.clientIP)
	return do(m.client, req, "sign in", http.StatusSeeOther)
}

// dial opens the room's socket on base with the member's cookies and reads
// up to the history, which it returns. When the server closes the socket
// first, code is the close status (else -1).
func (m *member) dial(ctx context.Context, base *url.URL) (conn *websocket.Conn, first []byte, code websocket.StatusCode, err error) {
	wsURL := "ws" + strings.TrimPrefix(m.roomURL(base), "http") + "/ws"
	h := http.Header{"Origin": {base.String()}, "X-Forwarded-For": {m.clientIP}}
	conn, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: m.client, HTTPHeader: h})
	if err != nil {
		return nil, nil, -1, dialError(resp, err)
	}
	conn.SetReadLimit(1 << 20)
	// Until the history is in, a failure cuts the socket (a Read whose
	// context ends closes it).
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			conn.CloseNow()
			return nil, nil, websocket.CloseStatus(err), fmt.Errorf("before history: %s", closeErrKey(err))
		}
		if typ == websocket.MessageText && bytes.Contains(data, historyTag) {
			return conn, data, -1, nil
		}
	}
}

// dialError is why a WebSocket handshake failed: the status the server
// answered with, when it answered.
func dialError(resp *http.Response, err error) error {
	if resp != nil {
		return errStatus{"dial", resp.StatusCode}
	}
	return fmt.Errorf("dial: %w", err)
}

// do sends req and wants status back; the body is read to the end so that
// the connection can carry the next request.
func do(client *http.Client, req *http.Request, step string, want int) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return errStatus{step, resp.StatusCode}
	}
	return nil
}

// framePool holds read buffers: tens of thousands of sockets must not each
// keep one as large as the largest frame they ever got.
var framePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readLoop reads frames until the socket closes; in a storm it goes on
// with the socket a rejoin opens. It also keeps the socket answering the
// server's pings.
func (m *member) readLoop(ctx context.Context, b *bench) {
	conn := m.conn // set before this goroutine started
	for {
		err := m.readFrames(ctx, conn, b)
		if !b.cfg.storm() {
			m.lost(err, b)
			return
		}
		if conn = m.rejoin(ctx, b, err); conn == nil {
			return
		}
	}
}

// readFrames handles conn's frames until reading fails, or a Socket.IO
// server ends the session, and returns why.
func (m *member) readFrames(ctx context.Context, conn *websocket.Conn, b *bench) error {
	for {
		typ, r, err := conn.Reader(ctx)
		if err != nil {
			return err
		}
		buf := framePool.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(r)
		if err == nil && typ == websocket.MessageText {
			if b.cfg.socketIO() {
				err = m.receiveSIO(conn, buf.Bytes(), time.Now().UnixNano(), b)
			} else {
				m.handle(buf.Bytes(), time.Now().UnixNano(), b)
			}
		}
		framePool.Put(buf)
		if err != nil {
			return err
		}
	}
}

// lost records why the socket ended, and whether the server ended it.
func (m *member) lost(err error, b *bench) {
	m.readErr = err
	if !b.closing.Load() {
		m.readPhase = *b.phase.Load()
		m.closedBy.Store(true)
	}
}

// handle accounts for one frame received at now (unix nanos). The first
// history sets where the member starts; after that every item of this run
// with a higher seq than any seen is one delivery, anything else a
// duplicate. A later history (a resync) replaces the list: its new items
// count as delivered, its old ones are not duplicates.
func (m *member) handle(data []byte, now int64, b *bench) {
	if b.cfg.typing > 0 {
		m.typists.Add(int64(bytes.Count(data, typingSignal)))
	}
	if m.sender {
		if b.cfg.storm() {
			scanReplyNonces(data, func(nonce []byte, sent bool, reason []byte) { m.answered(b, nonce, sent, reason) })
		} else if n := scanReplies(data, m.refusedFor); n > 0 {
			m.accepted.Add(int64(n))
		}
	}
	first := m.last < 0
	m.histories += scanFrame(data, func(it item) {
		if first && it.history {
			m.last = max(m.last, it.seq)
			return
		}
		_, sent, ours := parsePayload(it.text, b.run)
		if !ours {
			if !it.history {
				m.foreign++
			}
			m.last = max(m.last, it.seq)
			return
		}
		if it.seq <= m.last {
			if !it.history {
				m.dups++
			}
			return
		}
		m.last = it.seq
		if it.history {
			m.resynced++
		}
		m.delivered(now, sent, b)
	})
	if first {
		m.last = max(m.last, 0)
	}
}

// delivered counts a first delivery to m at now of a message sent at sent
// (both unix nanos), whatever the protocol told it apart by.
func (m *member) delivered(now, sent int64, b *bench) {
	m.received.Add(1)
	m.lastRecv = now
	b.latency.record(m.idx, (now-sent)/1000)
}

// refusedFor counts a refusal of one of m's messages, by reason.
func (m *member) refusedFor(reason []byte) {
	m.refused.Add(1)
	if m.reasons == nil {
		m.reasons = make(map[string]int)
	}
	if len(m.reasons) < 16 {
		m.reasons[string(reason)]++
	} else {
		m.reasons["(other)"]++
	}
}

// sendLoop writes one message every 1/rate seconds from offset on, until
// stop closes, without waiting for replies: the receivers measure.
func (m *member) sendLoop(stop <-chan struct{}, b *bench, offset time.Duration) {
	paced(stop, b, m, offset, func(frame []byte, n int, now int64) bool {
		if err := write(m.conn, frame); err != nil {
			m.sendErr = err
			return false
		}
		if n == 0 {
			m.firstSend = now
		}
		m.sent.Add(1)
		return true
	})
}

// typingSignal marks a typing signal in a frame from the server.
var typingSignal = []byte(`data-signal="typing"`)

// typingLoop says that m is typing every -typing from offset on, until
// stop closes, as a page does while its box holds text.
func (m *member) typingLoop(stop <-chan struct{}, b *bench, offset time.Duration) {
	select {
	case <-time.After(offset):
	case <-stop:
		return
	}
	tick := time.NewTicker(b.cfg.typing)
	defer tick.Stop()
	frame := []byte(`{"typing":true}`)
	for {
		if write(m.conn, frame) != nil {
			return
		}
		m.typed.Add(1)
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// paced calls send with member m's n-th frame, stamped now, every 1/rate
// seconds from offset on, until stop closes or send returns false.
func paced(stop <-chan struct{}, b *bench, m *member, offset time.Duration, send func(frame []byte, n int, now int64) bool) {
	select {
	case <-time.After(offset):
	case <-stop:
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / b.cfg.rate))
	defer tick.Stop()
	buf := make([]byte, 0, 160)
	for n := 0; ; n++ {
		now := time.Now().UnixNano()
		buf = b.appendSend(buf[:0], m.idx, n, now)
		if !send(buf, n, now) {
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// appendSend appends the frame that sends member sender's n-th message,
// stamped sentNanos, in the run's protocol.
func (b *bench) appendSend(dst []byte, sender, n int, sentNanos int64) []byte {
	if b.cfg.socketIO() {
		return appendSIOSend(dst, b.run, sender, n, sentNanos)
	}
	return appendSendFrame(dst, b.run, sender, n, sentNanos)
}

// write sends one frame. Not the phase's context: a Write whose context
// ends closes the socket, and the socket must stay open for the drain.
func write(conn *websocket.Conn, frame []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, frame)
}

// closeErrKey names why a socket or a connection attempt failed, coarsely
// enough to be counted.
func closeErrKey(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Reason != "" && len(ce.Reason) <= 40 {
			return fmt.Sprintf("closed by server with %d %q", int(ce.Code), ce.Reason)
		}
		return fmt.Sprintf("closed by server with %d", int(ce.Code))
	}
	var es errStatus
	if errors.As(err, &es) {
		return es.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return "connection closed"
	}
	s := err.Error()
	if i := strings.Index(s, ": "); i > 0 && i < 30 {
		// Keep the step and the last cause; addresses and ports differ.
		last := s[strings.LastIndex(s, ": ")+2:]
		return s[:i] + ": " + last
	}
	return s
}
