package handlers

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatrun/chat/testkit/chattest"
)

// rawSocket is a WebSocket client written by hand, so that a test controls
// exactly which bytes go in which TCP write.
type rawSocket struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

// upgradeRequest is the handshake of a browser signed in with h.
func upgradeRequest(host, room string, h http.Header) []byte {
	key := make([]byte, 16)
	rand.Read(key)
	var b strings.Builder
	fmt.Fprintf(&b, "GET /rooms/%s/ws HTTP/1.1\r\nHost: %s\r\n", room, host)
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\n", base64.StdEncoding.EncodeToString(key))
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// clientFrame is a masked text frame, as a browser sends it.
func clientFrame(payload string) []byte {
	f := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	f = append(f, mask...)
	for i := range len(payload) {
		f = append(f, payload[i]^mask[i%4])
	}
	return f
}

// dialRaw opens a TCP connection to ts and writes first, in one write.
func dialRaw(t *testing.T, addr string, first []byte) *rawSocket {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write(first); err != nil {
		t.Fatal(err)
	}
	return &rawSocket{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// switched reads the handshake's response and fails unless it is a 101.
func (s *rawSocket) switched() {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		s.t.Fatalf("handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		s.t.Fatalf("handshake: %s", resp.Status)
	}
}

// until reads server frames until one holds want, and fails on a close
// frame, an error or the deadline.
func (s *rawSocket) until(want string) {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var head [2]byte
		if _, err := io.ReadFull(s.br, head[:]); err != nil {
			s.t.Fatalf("waiting for %q: %v", want, err)
		}
		n := uint64(head[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(s.br, ext[:]); err != nil {
				s.t.Fatal(err)
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(s.br, ext[:]); err != nil {
				s.t.Fatal(err)
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(s.br, payload); err != nil {
			s.t.Fatal(err)
		}
		switch head[0] & 0x0f {
		case 0x8:
			code := 0
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			s.t.Fatalf("closed with %d while waiting for %q", code, want)
		case 0x1:
			if strings.Contains(string(payload), want) {
				return
			}
		}
	}
}

// A message that arrives together with the handshake, or the instant the
// socket opens, may already sit in net/http's read buffer when the
// connection is hijacked: it must reach the socket all the same.
func TestFirstFrameSurvivesTheHandshake(t *testing.T) {
	_, ts := newTestServer(t, Config{MaxSocketsPerIP: 1000, SendRate: 1000, SendBurst: 1000})
	room := "handshake"
	ann := chattest.NewUser(t, ts.URL)
	ann.SignIn("Ann", room)
	h := ann.Header()
	addr := strings.TrimPrefix(ts.URL, "http://")
	const rounds = 200
	for i := range rounds {
		for _, together := range []bool{true, false} {
			text := fmt.Sprintf("first-%d-%t", i, together)
			frame := clientFrame(fmt.Sprintf(`{"text":%q,"nonce":%q,"headers":{}}`, text, text))
			first := upgradeRequest(addr, room, h)
			if together {
				first = append(first, frame...)
			}
			s := dialRaw(t, addr, first)
			s.switched()
			if !together {
				if _, err := s.conn.Write(frame); err != nil {
					t.Fatal(err)
				}
			}
			s.until(`<p class="text" dir="auto">` + text + `</p>`)
			s.conn.Close()
		}
	}
}
