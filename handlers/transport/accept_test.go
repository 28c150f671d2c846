package transport

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The bytes net/http read past the handshake are the socket's first: they
// are buffered at once, without waiting on the connection, and the
// connection's bytes follow them.
func TestCarryOverKeepsTheBytesReadPastTheHandshake(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	old := bufio.NewReader(strings.NewReader("first"))
	if _, err := old.Peek(1); err != nil {
		t.Fatal(err)
	}
	br := carryOver(old, server)
	if n := br.Buffered(); n != len("first") {
		t.Fatalf("%d bytes buffered, want the %d read past the handshake", n, len("first"))
	}
	go func() {
		_, _ = client.Write([]byte("second"))
	}()
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len("firstsecond"))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "firstsecond" {
		t.Fatalf("read %q, want %q", got, "firstsecond")
	}
}

// With nothing read past the handshake, the reader is a small one on the
// connection.
func TestCarryOverWithNothingBuffered(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	br := carryOver(bufio.NewReader(strings.NewReader("")), server)
	if br.Size() != socketReadBuf || br.Buffered() != 0 {
		t.Fatalf("size %d, %d buffered; want %d, none", br.Size(), br.Buffered(), socketReadBuf)
	}
}
