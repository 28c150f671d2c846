package main

import (
	"bytes"
	"strconv"
)

// The subset of Socket.IO 4 over Engine.IO 4 that the tutorial's Node.js
// service speaks on a WebSocket: one packet per WebSocket message, an
// Engine.IO type digit first, and for an Engine.IO message ('4') a
// Socket.IO type digit, then an optional ack id, then JSON. Only the
// default namespace is used and nothing is binary. As for the chat's
// frames, plain byte scanning: the generator parses every delivery.

// sioPath is the WebSocket endpoint of a Socket.IO 4 server.
const sioPath = "/socket.io/?EIO=4&transport=websocket"

// sioKind is what a packet is, as far as the bench is concerned.
type sioKind uint8

const (
	sioOther        sioKind = iota // well formed, of no interest: pong, noop, binary, another namespace
	sioOpen                        // Engine.IO open: 0{"sid":…}
	sioClose                       // Engine.IO close: 1
	sioPing                        // Engine.IO ping: 2, to answer with 3
	sioConnect                     // Socket.IO connected: 40{"sid":…}
	sioDisconnect                  // Socket.IO disconnected by the server: 41
	sioEvent                       // Socket.IO event: 42[ack id]["name",args…]
	sioAck                         // Socket.IO ack: 43<ack id>[args…]
	sioConnectError                // Socket.IO connection refused: 44{"message":…}
)

// sioPacket is one packet read from the socket.
type sioPacket struct {
	kind sioKind
	ack  int64  // the ack id; -1 when there is none
	data []byte // the JSON after the type and ack id; aliases the frame
}

// Packets the bench writes as they are.
var (
	sioPong          = []byte("3")
	sioConnectPacket = []byte("40")
)

// sioMessageEvent names the event that carries a chat message.
var sioMessageEvent = []byte("message")

// signinAck is the ack id of the signin event; a member's n-th message is
// sent with n+1, so every later ack answers a message.
const signinAck = 0

// parseSIO reads one packet; ok is false when it is not a packet as
// Engine.IO 4 writes them (empty, an unknown type, an event or ack without
// its array, an ack without its id).
func parseSIO(data []byte) (p sioPacket, ok bool) {
	p.ack = -1
	if len(data) == 0 {
		return p, false
	}
	switch data[0] {
	case '0':
		p.kind, p.data = sioOpen, data[1:]
		return p, len(p.data) > 0 && p.data[0] == '{'
	case '1':
		p.kind = sioClose
		return p, true
	case '2':
		p.kind = sioPing
		return p, true
	case '3', '5', '6': // pong, upgrade, noop
		return p, true
	case '4':
		return parseSIOMessage(data[1:])
	}
	return p, false
}

// parseSIOMessage reads the Socket.IO packet an Engine.IO message carries.
func parseSIOMessage(data []byte) (p sioPacket, ok bool) {
	p.ack = -1
	if len(data) == 0 {
		return p, false
	}
	t, rest := data[0], data[1:]
	if len(rest) > 0 && rest[0] == '/' {
		return p, true // another namespace: the service uses only "/"
	}
	switch t {
	case '0':
		// Socket.IO 4 sends the session id; older servers nothing.
		p.kind, p.data = sioConnect, rest
		return p, len(rest) == 0 || rest[0] == '{'
	case '1':
		p.kind = sioDisconnect
		return p, true
	case '4':
		p.kind, p.data = sioConnectError, rest
		return p, len(rest) > 0 && rest[0] == '{'
	case '5', '6': // binary event or ack: nothing the service sends
		return p, true
	case '2':
		p.kind = sioEvent
	case '3':
		p.kind = sioAck
	default:
		return p, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n > 0 {
		id, ok := parseDigits(rest[:n])
		if !ok {
			return p, false
		}
		p.ack = id
	}
	p.data = rest[n:]
	if len(p.data) < 2 || p.data[0] != '[' || p.data[len(p.data)-1] != ']' {
		return p, false
	}
	return p, p.kind == sioEvent || p.ack >= 0
}

// sioEventArgs splits an event's array ["name",args…] into the name and
// the arguments' JSON (empty when there are none).
func sioEventArgs(data []byte) (name, args []byte, ok bool) {
	if len(data) < 4 || data[0] != '[' || data[1] != '"' || data[len(data)-1] != ']' {
		return nil, nil, false
	}
	rest := data[2 : len(data)-1]
	q := bytes.IndexByte(rest, '"')
	if q < 0 {
		return nil, nil, false
	}
	name, rest = rest[:q], rest[q+1:]
	switch {
	case len(rest) == 0:
		return name, nil, true
	case rest[0] == ',':
		return name, rest[1:], true
	}
	return nil, nil, false
}

// textKey starts the text of a message event's {"user":…,"text":…}. A
// user name holding it would be JSON-escaped, its quotes preceded by '\'.
var textKey = []byte(`"text":"`)

// sioMessageText returns the text of a message event's arguments, up to
// its first quote: a bench payload holds no quote or backslash, so one of
// this run is whole, and any other text is someone else's either way.
func sioMessageText(args []byte) ([]byte, bool) {
	i := bytes.Index(args, textKey)
	if i < 0 {
		return nil, false
	}
	text := args[i+len(textKey):]
	q := bytes.IndexByte(text, '"')
	if q < 0 {
		return nil, false
	}
	return text[:q], true
}

// sioAckError returns the first argument of an ack's array [err, …], the
// error by the service's convention: nil when it is absent or null, a
// string's contents, or else the arguments' JSON as they are.
func sioAckError(data []byte) []byte {
	if len(data) < 2 || data[0] != '[' || data[len(data)-1] != ']' {
		return nil
	}
	args := bytes.TrimSpace(data[1 : len(data)-1])
	if len(args) == 0 || bytes.HasPrefix(args, []byte("null")) {
		return nil
	}
	if args[0] == '"' {
		if q := bytes.IndexByte(args[1:], '"'); q >= 0 {
			return args[1 : 1+q]
		}
	}
	return args
}

// appendSIOSignin appends the signin event of user to room, awaiting the
// ack signinAck. The bench's names and rooms need no JSON escaping.
func appendSIOSignin(dst []byte, user, room string) []byte {
	dst = append(dst, "42"...)
	dst = strconv.AppendInt(dst, signinAck, 10)
	dst = append(dst, `["signin",{"user":"`...)
	dst = append(dst, user...)
	dst = append(dst, `","room":"`...)
	dst = append(dst, room...)
	return append(dst, `"}]`...)
}

// appendSIOSend appends the sendMessage event of sender's n-th message,
// stamped sentNanos, awaiting the ack n+1. Its text is a counted payload:
// Socket.IO gives a message no seq of its own.
func appendSIOSend(dst []byte, run string, sender, n int, sentNanos int64) []byte {
	dst = append(dst, "42"...)
	dst = strconv.AppendInt(dst, int64(n)+1, 10)
	dst = append(dst, `["sendMessage","`...)
	dst = appendCountedPayload(dst, run, sender, n, sentNanos)
	return append(dst, `"]`...)
}

// seenSet is which message numbers of one sender a receiver has had: one
// bit each, growing with the highest number seen.
type seenSet []uint64

// add records n and reports whether it is new. n must not be negative,
// and the caller bounds it: the set grows to n/64 words.
func (s *seenSet) add(n int64) bool {
	w := int(n >> 6)
	if w >= len(*s) {
		*s = append(*s, make([]uint64, w+1-len(*s))...)
	}
	bit := uint64(1) << (n & 63)
	if (*s)[w]&bit != 0 {
		return false
	}
	(*s)[w] |= bit
	return true
}
