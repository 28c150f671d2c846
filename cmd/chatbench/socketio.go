package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// -proto socketio: each member is a Socket.IO client of the tutorial's
// Node.js service (nodejs-docs-samples, run/websockets). It signs in to
// its room with the signin event, sends with sendMessage, and counts the
// message events of its room: the service sends each to every socket in
// the room, the sender's own included, as the chat does, so a receiver
// expects every accepted message of its room exactly as in a chat run.
// Socket.IO gives a message no seq: a delivery is told apart by its
// sender and the sender's number for it, both in its text.

// sioReadLimit bounds one packet from the server. The service answers
// signin with the room's whole history, which grows by every message ever
// sent there: one Redis key per room, never trimmed.
const sioReadLimit = 64 << 20

// errSIODisconnected: the server ended the Socket.IO session (41, or
// Engine.IO's close) on a socket it left open.
var errSIODisconnected = errors.New("disconnected by server")

// connectSIO opens the member's Socket.IO socket and signs in to its room.
// Once signin is answered, the member has joined the room and gets every
// message sent afterwards. There is no form, page or cookie: the service
// knows a member by its socket alone.
func (m *member) connectSIO(ctx context.Context, b *bench, transport *http.Transport) error {
	m.client = &http.Client{Transport: transport}
	m.seen = make([]seenSet, b.cfg.senders)
	origin := m.base.String()
	h := http.Header{"Origin": {origin}, "X-Forwarded-For": {m.clientIP}}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(origin, "http")+sioPath,
		&websocket.DialOptions{HTTPClient: m.client, HTTPHeader: h})
	if err != nil {
		return dialError(resp, err)
	}
	conn.SetReadLimit(sioReadLimit)
	// Until signin is answered, a failure cuts the socket (a Read whose
	// context ends closes it).
	if err := m.joinSIO(ctx, conn, b); err != nil {
		conn.CloseNow()
		return err
	}
	m.conn, m.joined = conn, true
	return nil
}

// joinSIO takes a new socket from Engine.IO's open packet to the answer to
// signin, as a Socket.IO client and the tutorial's page do: connect to the
// default namespace, then sign in with the member's name and room.
func (m *member) joinSIO(ctx context.Context, conn *websocket.Conn, b *bench) error {
	if _, err := m.awaitSIO(ctx, conn, b, "open", sioOpen, -1); err != nil {
		return err
	}
	if err := conn.Write(ctx, websocket.MessageText, sioConnectPacket); err != nil {
		return fmt.Errorf("connect: %s", closeErrKey(err))
	}
	if _, err := m.awaitSIO(ctx, conn, b, "connect", sioConnect, -1); err != nil {
		return err
	}
	if err := conn.Write(ctx, websocket.MessageText, appendSIOSignin(nil, m.name, m.room.name)); err != nil {
		return fmt.Errorf("signin: %s", closeErrKey(err))
	}
	ack, err := m.awaitSIO(ctx, conn, b, "signin", sioAck, signinAck)
	if err != nil {
		return err
	}
	// The answer is (error, history): the history is not counted, as
	// nothing of this run was sent before every member joined.
	if reason := sioAckError(ack.data); reason != nil {
		return fmt.Errorf("signin: refused %.40s", reason)
	}
	return nil
}

// awaitSIO reads conn until a packet of kind want comes (an ack: with the
// id ack), handling any other as the reader does; step names what is
// awaited, in errors.
func (m *member) awaitSIO(ctx context.Context, conn *websocket.Conn, b *bench, step string, want sioKind, ack int64) (sioPacket, error) {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return sioPacket{}, fmt.Errorf("before %s: %s", step, closeErrKey(err))
		}
		if typ != websocket.MessageText {
			continue
		}
		p, ok := parseSIO(data)
		switch {
		case ok && p.kind == want && (want != sioAck || p.ack == ack):
			return p, nil // data is Read's own: p may keep it
		case ok && p.kind == sioConnectError:
			return p, fmt.Errorf("before %s: connect refused %.40s", step, p.data)
		}
		if err := m.receiveSIO(conn, data, time.Now().UnixNano(), b); err != nil {
			return sioPacket{}, fmt.Errorf("before %s: %s", step, closeErrKey(err))
		}
	}
}

// receiveSIO handles one packet read from conn at now (unix nanos) and
// writes its answer, if it needs one.
func (m *member) receiveSIO(conn *websocket.Conn, data []byte, now int64, b *bench) error {
	answer, err := m.handleSIO(data, now, b)
	if err == nil && answer != nil {
		err = write(conn, answer)
	}
	return err
}

// handleSIO accounts for one packet received at now (unix nanos), as
// handle does for the chat's frames, and returns what must be written back
// (a pong to a ping; nil: nothing). The error is errSIODisconnected when
// the server ended the session.
//
// A packet the bench cannot read is passed over: it counts nothing, and a
// message event garbled so is then counted lost.
func (m *member) handleSIO(data []byte, now int64, b *bench) (answer []byte, err error) {
	p, ok := parseSIO(data)
	if !ok {
		return nil, nil
	}
	switch p.kind {
	case sioPing:
		// Engine.IO drops a socket that misses a pong within its
		// pingTimeout: an idle run would lose every socket.
		return sioPong, nil
	case sioClose, sioDisconnect:
		return nil, errSIODisconnected
	case sioAck:
		if m.sender && p.ack > signinAck {
			m.answeredSIO(p.data)
		}
	case sioEvent:
		// Notifications (someone entered or left) are not deliveries.
		if name, args, ok := sioEventArgs(p.data); ok && bytes.Equal(name, sioMessageEvent) {
			m.deliverSIO(args, now, b)
		}
	}
	return nil, nil
}

// answeredSIO counts the ack of one of the sender's messages: accepted
// when it holds no error, else refused for that reason. As in a chat run
// outside a storm, acks are counted, not matched to their messages.
func (m *member) answeredSIO(data []byte) {
	if reason := sioAckError(data); reason != nil {
		m.refusedFor(reason)
		return
	}
	m.accepted.Add(1)
}

// deliverSIO accounts for one message event, whose arguments are args. A
// message of this run from a sender of the member's room is delivered the
// first time its number from that sender comes, and duplicated after;
// anything else is someone else's.
func (m *member) deliverSIO(args []byte, now int64, b *bench) {
	text, ok := sioMessageText(args)
	if !ok {
		m.foreign++
		return
	}
	sender, n, sent, ours := parseCountedPayload(text, b.run)
	slot := m.room.senderSlot(sender)
	if !ours || slot < 0 || slot >= len(m.seen) || n >= b.maxMessages {
		m.foreign++
		return
	}
	if !m.seen[slot].add(n) {
		m.dups++
		return
	}
	m.delivered(now, sent, b)
}

// senderSlot is the place in the room of the member whose idx is sender:
// its senders are its first members, their idx consecutive. It is out of
// [0, -senders) for a member of another room or no sender.
func (r *room) senderSlot(sender int) int { return sender - r.members[0].idx }
