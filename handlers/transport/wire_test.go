package transport

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wirePair opens a WebSocket over loopback and returns the server's wire
// and coder/websocket connection, and the client's connection.
func wirePair(t *testing.T) (*Wire, *websocket.Conn, *websocket.Conn) {
	t.Helper()
	type server struct {
		w    *Wire
		conn *websocket.Conn
	}
	got := make(chan server, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, wire, err := Accept(w, r, 5*time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		wire.OnEnd(func(bool) {})
		got <- server{wire, conn}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	client.SetReadLimit(1 << 20)
	t.Cleanup(func() { client.CloseNow() })
	s := <-got
	t.Cleanup(func() { s.conn.CloseNow() })
	return s.w, s.conn, client
}

// Frames of every header length read back whole, and a control frame
// written while a frame is half written waits for its end: the client sees
// intact messages in order and answers the ping.
func TestWireFramesAndControlFramesDoNotInterleave(t *testing.T) {
	w, server, client := wirePair(t)
	// A small send buffer, and a client not reading yet: the big frame
	// cannot go at once.
	if err := w.conn.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	sizes := []int{0, 125, 126, 65535, 65536, 300_000}
	var frames [][]byte
	for i, n := range sizes {
		buf := make([]byte, MaxFrameHeader, MaxFrameHeader+n)
		buf = append(buf, bytes.Repeat([]byte{byte('a' + i)}, n)...)
		frames = append(frames, TextFrame(buf))
	}
	all := bytes.Join(frames, nil)
	n, err := w.TryWrite(all)
	if err != nil {
		t.Fatal(err)
	}
	if n == len(all) {
		t.Fatalf("TryWrite took all %d bytes: the test needs a partial write", n)
	}
	// Half a frame is out: the wire stays reserved for the rest.
	if w.mu.TryLock() {
		t.Fatal("after a partial TryWrite the wire is free for another writer")
	}
	// While the rest is pending, coder/websocket pings through the same
	// connection; its frame must wait for the end of the frame under way.
	// (The server reads, to see the pong.)
	server.CloseRead(context.Background())
	pinged := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pinged <- server.Ping(ctx)
	}()
	read := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i, want := range sizes {
			typ, p, err := client.Read(ctx)
			if err != nil {
				read <- err
				return
			}
			if typ != websocket.MessageText || len(p) != want || (want > 0 && (p[0] != byte('a'+i) || p[want-1] != byte('a'+i))) {
				t.Errorf("message %d: type %v, %d bytes, want %d", i, typ, len(p), want)
			}
		}
		// Reading on lets the client answer the ping.
		_, _, err := client.Read(ctx)
		read <- err
	}()
	if err := w.Write(all[n:]); err != nil {
		t.Fatal(err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("ping: %v", err)
	}
	server.CloseNow()
	if err := <-read; err == nil {
		t.Fatal("the client read more than was sent")
	}
}

// A write to a connection the peer has closed fails rather than waiting.
func TestWireWriteToAClosedPeerFails(t *testing.T) {
	w, _, client := wirePair(t)
	client.CloseNow()
	frame := TextFrame(append(make([]byte, MaxFrameHeader), "hello"...))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := w.TryWrite(frame); err != nil {
			return
		}
		if err := w.Write(frame); err != nil {
			return
		}
	}
	t.Fatal("writes to a closed peer kept succeeding")
}

// Once a close frame has gone out, no data frame follows it on the wire
// (a browser would fail the connection, 1006, instead of taking the
// close's code): what the hub writes after it is dropped.
func TestWireWritesNothingAfterACloseFrame(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w := newWire(server, 5*time.Second, nil)
	frame := TextFrame(append(make([]byte, MaxFrameHeader), "hello"...))
	if err := w.Write(frame); err != nil {
		t.Fatal(err)
	}
	closeFrame := []byte{0x88, 0x02, 0x03, 0xf4} // 1012, no reason
	if _, err := w.control().Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	if n, err := w.TryWrite(frame); n != len(frame) || err != nil {
		t.Fatalf("TryWrite after the close frame = %d, %v; want the frame taken (dropped), no error", n, err)
	}
	if err := w.Write(frame); err != nil {
		t.Fatalf("Write after the close frame: %v", err)
	}
	server.Close()
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]byte(nil), frame...), closeFrame...); !bytes.Equal(got, want) {
		t.Fatalf("the peer read % x, want the frame then the close frame alone: % x", got, want)
	}
}
