package transport

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// Accept completes r's WebSocket handshake (websocket.Accept, which refuses
// a browser Origin other than the host with 403) on a connection with small
// buffers, and returns it with its wire: the hub's frames go to the wire,
// whose writes give up after writeTimeout; coder/websocket's go through it.
// OnEnd must say what the wire's End does before the wire goes to the hub.
func Accept(w http.ResponseWriter, r *http.Request, writeTimeout time.Duration) (*websocket.Conn, *Wire, error) {
	hj := &smallBuffers{ResponseWriter: w, writeTimeout: writeTimeout}
	conn, err := websocket.Accept(hj, r, nil)
	if err != nil {
		return nil, nil, err
	}
	return conn, hj.wire, nil
}

// Buffer sizes of a socket after the hijack. net/http's are 4 KiB each way,
// most of what an idle socket costs. A frame from the page mostly fits in
// the read buffer (a longer one is read past it, straight into the
// message); coder/websocket writes only control frames (at most 127 bytes:
// the server's are unmasked) and the refusals before a socket joins, which
// may take two writes.
const (
	socketReadBuf    = 256
	socketControlBuf = 128
)

// smallBuffers hands coder/websocket the hijacked connection with small
// buffers in place of net/http's, its writes going through the socket's
// wire.
type smallBuffers struct {
	http.ResponseWriter
	writeTimeout time.Duration
	wire         *Wire
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.wire = newWire(conn, w.writeTimeout, nil)
	// The 101 response may still sit in net/http's buffer.
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	ctl := w.wire.control()
	return ctl, bufio.NewReadWriter(carryOver(brw.Reader, conn), bufio.NewWriterSize(ctl, socketControlBuf)), nil
}

// carryOver returns a small reader on conn that holds, buffered, the bytes
// net/http had already read past the handshake: the client's first frame
// may have come with the handshake or right after the 101. coder/websocket
// keeps only what the reader has buffered (it resets the reader onto the
// connection), so bytes merely waiting in an underlying reader would be lost.
func carryOver(old *bufio.Reader, conn net.Conn) *bufio.Reader {
	n := old.Buffered()
	if n == 0 {
		return bufio.NewReaderSize(conn, socketReadBuf)
	}
	b, _ := old.Peek(n)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn), max(socketReadBuf, n))
	// The first read takes all n bytes from memory: it never waits on conn.
	_, _ = br.Peek(n)
	return br
}
