// Package transport is the WebSocket transport under the chat's sockets,
// the one syscall-level code in the repository: the handshake that hands
// coder/websocket the hijacked connection with small buffers (Accept), and
// the wire, through which the hub's frames and coder/websocket's control
// frames reach the socket without interleaving (Wire).
package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// Wire is a socket's connection, written by two writers: the hub's frames,
// whole WebSocket messages it writes itself (realtime.Conn), and
// coder/websocket's control frames (ping, close), which reach it through
// control(). Each frame is written whole under mu, so the two never
// interleave.
//
// The hub's frames bypass coder/websocket: a server's frames are not
// masked, so a room's event is framed once and the same bytes go to every
// socket, most of them in one non-blocking write from the hub's event loop.
type Wire struct {
	conn    net.Conn
	raw     syscall.RawConn // nil when conn is not a plain socket (TLS): every write then waits in Write
	timeout time.Duration
	end     func(tooSlow bool)

	// mu is held across one frame's write. A TryWrite that wrote part of
	// its frame keeps it held for the Write of the rest (mid), which the
	// socket's single writer makes next.
	mu  sync.Mutex
	mid bool // guarded by mu's holder
	// closing is set once a close frame has gone out (guarded by mu): no
	// data frame may follow it (RFC 6455, 5.5.1), or the browser fails the
	// connection (1006) instead of taking the close's code. Frames for a
	// closing socket are dropped as if written; the page catches up from
	// the history when it reconnects.
	closing bool
}

func newWire(conn net.Conn, timeout time.Duration, end func(tooSlow bool)) *Wire {
	w := &Wire{conn: conn, timeout: timeout, end: end}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// TryWrite writes what the socket's send buffer takes now, never waiting:
// not for the buffer, and not for a control frame being written.
func (w *Wire) TryWrite(p []byte) (int, error) {
	if w.raw == nil || !w.mu.TryLock() {
		return 0, nil
	}
	if w.closing {
		w.mu.Unlock()
		return len(p), nil
	}
	var n int
	var werr error
	err := w.raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), p)
		return true // never wait for the socket to be writable
	})
	if err == nil && werr != nil && !errors.Is(werr, syscall.EAGAIN) && !errors.Is(werr, syscall.EINTR) {
		err = werr
	}
	n = max(n, 0)
	if err != nil {
		w.mu.Unlock()
		return 0, err
	}
	if n > 0 && n < len(p) {
		w.mid = true // the rest follows in Write, with mu still held
		return n, nil
	}
	w.mu.Unlock()
	return n, nil
}

// Write writes all of p, giving up after the write timeout.
func (w *Wire) Write(p []byte) error {
	if !w.mid {
		w.mu.Lock()
	}
	w.mid = false
	defer w.mu.Unlock()
	if w.closing {
		return nil // never the rest of a frame: a close frame waits for that
	}
	if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return err
	}
	_, err := w.conn.Write(p)
	// A deadline left in the past would fail the next TryWrite.
	if derr := w.conn.SetWriteDeadline(time.Time{}); err == nil {
		err = derr
	}
	return err
}

// Last writes p, a whole frame, outside the socket's own writer: the last
// word before the server closes the socket (a sign-out's notice). It waits
// for a frame under way, even one a TryWrite left half written, since that
// frame's writer holds mu until it ends.
func (w *Wire) Last(p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return nil
	}
	if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return err
	}
	_, err := w.conn.Write(p)
	if derr := w.conn.SetWriteDeadline(time.Time{}); err == nil {
		err = derr
	}
	return err
}

// End is realtime.Conn's: the socket writes no more.
func (w *Wire) End(tooSlow bool) { w.end(tooSlow) }

// OnEnd sets what End does. It is set once, before the wire is handed to
// the hub, which alone calls End.
func (w *Wire) OnEnd(end func(tooSlow bool)) { w.end = end }

// SetWriteDeadline sets the connection's write deadline at once, without
// the wire's lock: a frame under way does not hold it back.
func (w *Wire) SetWriteDeadline(t time.Time) error { return w.conn.SetWriteDeadline(t) }

// control returns the connection as coder/websocket writes to it: each
// write (a whole control frame, which fits its write buffer) waits for the
// frame being written to end.
func (w *Wire) control() net.Conn { return controlConn{Conn: w.conn, w: w} }

type controlConn struct {
	net.Conn
	w *Wire
}

func (c controlConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if len(p) > 0 && p[0]&0x0f == opClose {
		c.w.closing = true
	}
	return c.Conn.Write(p)
}

// opClose is the opcode of a close frame.
const opClose = 0x8

// MaxFrameHeader is the longest header of an unmasked WebSocket frame.
const MaxFrameHeader = 10

// TextFrame returns payload as one unmasked, final WebSocket text frame.
// payload must start MaxFrameHeader bytes into its buffer's capacity (see
// handlers' framed), so that the header is written in front of it in place.
func TextFrame(buf []byte) []byte {
	payload := buf[MaxFrameHeader:]
	var h [MaxFrameHeader]byte
	h[0] = 0x81 // FIN, text
	n := 2
	switch l := len(payload); {
	case l < 126:
		h[1] = byte(l)
	case l <= 0xFFFF:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(l))
		n = 4
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(l))
		n = 10
	}
	start := MaxFrameHeader - n
	copy(buf[start:], h[:n])
	return buf[start:]
}
