package main

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/coder/websocket"
)

// A reconnect storm (-storm-after): every member starts on the first URL;
// that instance is stopped while the senders keep the rooms busy, closes
// its sockets with 1012, and every member rejoins at once elsewhere, as
// pages behind Cloud Run's load balancer do after a deploy.

// stormState is one member's part of a storm; its reader goroutine owns it.
type stormState struct {
	closes     map[string]int // every server close a rejoin followed, by reason and phase
	closed1012 int            // sockets closed with 1012
	first1012  time.Time      // the first of them
	back       time.Time      // the history of the latest socket
	dropped    int            // sockets closed with 1013 after first1012, before or after their history
	attempts   int            // handshakes tried
	errs       map[string]int // why attempts failed
	rejoins    int            // histories that began a new socket: not resyncs
	caughtUp   int64          // messages of this run first seen in a rejoin's history
	resent     int64          // messages sent again under their nonce on a new socket
}

// rejoinAttempt bounds one handshake and its wait for the history.
const rejoinAttempt = 10 * time.Second

// The page's script waits this long, doubling to stormBackoffMax (±30%),
// before trying again; the bench waits so only once every URL has failed in
// a row, so that a dead instance is skipped at once as a load balancer would.
const (
	stormBackoff    = 500 * time.Millisecond
	stormBackoffMax = 8 * time.Second
)

// startStorm stops the first instance, when the bench was told how, and
// records when, start being when sending began.
func (b *bench) startStorm(rep *report, start time.Time) {
	b.setPhase("storm")
	if b.cfg.stormStop == nil {
		b.logf("storm: waiting for %s to be stopped", b.cfg.urls[0])
		return
	}
	rep.StormStopSeconds = time.Since(start).Seconds()
	if err := b.cfg.stormStop(); err != nil {
		rep.StormStopError = err.Error()
		b.logf("storm: stopping %s: %v", b.cfg.urls[0], err)
		return
	}
	b.logf("storm: stopping %s", b.cfg.urls[0])
}

// rejoin follows the server's close of a socket with err. After 1012 or
// 1013 it reconnects at once to the next URL with the same session (signing
// in there first if the jar holds no cookie for it), and goes on through
// the URLs until a socket's history is in. It returns that socket, or nil
// when the member is gone: another close, or the run ending first.
func (m *member) rejoin(ctx context.Context, b *bench, err error) *websocket.Conn {
	code := websocket.CloseStatus(err)
	if b.closing.Load() || code != websocket.StatusServiceRestart && code != websocket.StatusTryAgainLater {
		m.lost(err, b)
		return nil
	}
	b.reconnecting.Add(1)
	defer b.reconnecting.Add(-1)
	st := &m.storm
	st.closed(code, closeErrKey(err)+" while "+*b.phase.Load(), time.Now())

	urls := b.cfg.urls
	at := m.urlIdx
	backoff := stormBackoff
	for try := 1; ; try++ {
		if try > 1 && (try-1)%len(urls) == 0 {
			wait := time.Duration(float64(backoff) * (0.7 + 0.6*rand.Float64()))
			backoff = min(2*backoff, stormBackoffMax)
			if !sleep(ctx, wait) {
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
		at = (at + 1) % len(urls)
		base := urls[at]
		st.attempts++
		actx, cancel := context.WithTimeout(ctx, rejoinAttempt)
		var conn *websocket.Conn
		var first []byte
		code, err = -1, nil
		if len(m.client.Jar.Cookies(base)) == 0 {
			err = m.signIn(actx, base)
		}
		if err == nil {
			conn, first, code, err = m.dial(actx, base)
		}
		cancel()
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				break // the run is over, not the server's doing
			}
			if st.errs == nil {
				st.errs = make(map[string]int)
			}
			st.errs[closeErrKey(err)]++
			if code == websocket.StatusTryAgainLater && !st.first1012.IsZero() {
				st.dropped++
			}
			continue
		}

		// The history replaces what the member shows: what it brings
		// that was missed is the catch-up, not a resync.
		resynced := m.resynced
		m.handle(first, now.UnixNano(), b)
		st.rejoins++
		st.caughtUp += m.resynced - resynced
		m.resynced = resynced
		st.back = now
		m.urlIdx, m.base = at, base

		// Swapping the socket and taking the unanswered messages in one
		// step: a message the sender adds afterwards goes out on the new
		// socket from the sender itself, so none is sent twice here.
		m.mu.Lock()
		if b.closing.Load() {
			m.mu.Unlock()
			conn.CloseNow()
			return nil
		}
		m.conn = conn
		resend := make([]int, 0, len(m.pending))
		for n := range m.pending {
			resend = append(resend, n)
		}
		slices.Sort(resend)
		sentAt := make([]int64, len(resend))
		for i, n := range resend {
			sentAt[i] = m.pending[n]
		}
		m.mu.Unlock()
		m.resend(conn, b, resend, sentAt)
		return conn
	}
	// The server closed the socket and the member never got back.
	m.readErr, m.readPhase = err, *b.phase.Load()
	m.closedBy.Store(true)
	return nil
}

// closed counts one server close of an open socket at now.
func (st *stormState) closed(code websocket.StatusCode, why string, now time.Time) {
	if st.closes == nil {
		st.closes = make(map[string]int)
	}
	st.closes[why]++
	switch code {
	case websocket.StatusServiceRestart:
		st.closed1012++
		if st.first1012.IsZero() {
			st.first1012 = now
		}
	case websocket.StatusTryAgainLater:
		if !st.first1012.IsZero() {
			st.dropped++
		}
	}
}

// resend sends the unanswered messages again under their nonces, as the
// page does on reconnecting: the server stores each once whichever copy
// it gets, and answers each copy.
func (m *member) resend(conn *websocket.Conn, b *bench, numbers []int, sentAt []int64) {
	buf := make([]byte, 0, 160)
	for i, n := range numbers {
		buf = appendSendFrame(buf[:0], b.run, m.idx, n, sentAt[i])
		if err := write(conn, buf); err != nil {
			return // closing again: the next rejoin sends the rest
		}
		m.storm.resent++
	}
}

// stormSendLoop is sendLoop for a storm: each message stays pending until
// it is answered, and a socket closing under it is not the end of the
// sender: the reader's rejoin sends the pending messages again.
func (m *member) stormSendLoop(stop <-chan struct{}, b *bench, offset time.Duration) {
	paced(stop, b, m, offset, func(frame []byte, n int, now int64) bool {
		m.mu.Lock()
		m.pending[n] = now
		m.sent.Add(1)
		conn := m.conn
		m.mu.Unlock()
		if n == 0 {
			m.firstSend = now
		}
		// A failed write needs nothing more: the socket is closing, and
		// the rejoin sends the message again.
		_ = write(conn, frame)
		return true
	})
}

// answered settles a pending message from its reply. A reply whose nonce
// is not pending is not counted: a message is answered once.
func (m *member) answered(b *bench, nonce []byte, sent bool, reason []byte) {
	n, ok := messageNumber(nonce, b.run, m.idx)
	if !ok {
		return
	}
	m.mu.Lock()
	_, pending := m.pending[n]
	delete(m.pending, n)
	m.mu.Unlock()
	switch {
	case !pending:
	case sent:
		m.accepted.Add(1)
	default:
		m.refusedFor(reason)
	}
}

// messageNumber reads n from a nonce "<run>-<sender>-<n>" that
// appendSendFrame wrote for this run and sender.
func messageNumber(nonce []byte, run string, sender int) (int, bool) {
	rest, ok := bytes.CutPrefix(nonce, []byte(run+"-"))
	if !ok {
		return 0, false
	}
	idx, n, ok := bytes.Cut(rest, []byte("-"))
	if !ok {
		return 0, false
	}
	s, ok1 := parseDigits(idx)
	v, ok2 := parseDigits(n)
	if !ok1 || !ok2 || s != int64(sender) || v > math.MaxInt32 {
		return 0, false
	}
	return int(v), true
}

// scanReplyNonces calls visit for every reply in a frame with its nonce
// (empty when it has none), whether it says sent, and the reason of a
// refusal.
func scanReplyNonces(data []byte, visit func(nonce []byte, sent bool, reason []byte)) {
	for {
		i := bytes.Index(data, reply)
		if i < 0 {
			return
		}
		data = data[i+len(reply):]
		gt := bytes.IndexByte(data, '>')
		if gt < 0 {
			return
		}
		attrs := data[:gt]
		data = data[gt+1:]
		e := bytes.Index(data, pEnd)
		if e < 0 {
			e = len(data)
		}
		var nonce []byte
		if j := bytes.Index(attrs, nonceAttr); j >= 0 {
			nonce = attrs[j+len(nonceAttr):]
			if q := bytes.IndexByte(nonce, '"'); q >= 0 {
				nonce = nonce[:q]
			}
		}
		visit(nonce, bytes.Contains(attrs, sentMark), bytes.TrimSpace(data[:e]))
		data = data[e:]
	}
}

// nonceAttr starts a reply's nonce; the bench's nonces need no escaping.
var nonceAttr = []byte(`data-nonce="`)
