package chattest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Socket is a test client of a room's WebSocket. A goroutine reads its
// frames into a channel, so that waiting for a frame never closes the
// socket (a Read whose context ends does).
type Socket struct {
	t testing.TB
	// Conn is the connection, for a test to write to or cut as it likes.
	Conn   *websocket.Conn
	frames chan string // closed when the socket is
	err    error       // why it closed; read it only after frames is closed
}

// NewSocket reads conn's frames from now on, and closes it when the test
// ends.
func NewSocket(t testing.TB, conn *websocket.Conn) *Socket {
	conn.SetReadLimit(1 << 20)
	s := &Socket{t: t, Conn: conn, frames: make(chan string, 4096)}
	go func() {
		defer close(s.frames)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				s.err = err
				return
			}
			s.frames <- string(data)
		}
	}()
	t.Cleanup(func() { conn.CloseNow() })
	return s
}

// Read returns the next frame, or an error when ctx ends or the socket
// closes; it may be used off the test goroutine.
func (s *Socket) Read(ctx context.Context) (string, error) {
	select {
	case f, ok := <-s.frames:
		if !ok {
			return "", fmt.Errorf("socket closed: %w", s.err)
		}
		return f, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Next returns the next frame, failing the test after 10 s.
func (s *Socket) Next() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := s.Read(ctx)
	if err != nil {
		s.t.Fatalf("read frame: %v", err)
	}
	return f
}

// Until reads frames until one contains want, and returns it.
func (s *Socket) Until(want string) string {
	s.t.Helper()
	for {
		if f := s.Next(); strings.Contains(f, want) {
			return f
		}
	}
}

// UntilAll reads frames until each of wants has been in one, and returns
// the frame each was found in.
func (s *Socket) UntilAll(wants ...string) map[string]string {
	s.t.Helper()
	found := map[string]string{}
	for len(found) < len(wants) {
		f := s.Next()
		for _, w := range wants {
			if _, ok := found[w]; !ok && strings.Contains(f, w) {
				found[w] = f
			}
		}
	}
	return found
}

// Frame is the JSON frame htmx's ws extension sends for the message form.
func Frame(text, nonce string) []byte {
	b, _ := json.Marshal(map[string]any{"text": text, "nonce": nonce, "headers": map[string]string{"HX-Request": "true"}})
	return b
}

// Send writes the frame the page sends for text under nonce.
func (s *Socket) Send(text, nonce string) {
	s.t.Helper()
	s.SendRaw(Frame(text, nonce))
}

// SendRaw writes frame as a text message, failing the test after 10 s.
func (s *Socket) SendRaw(frame []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Conn.Write(ctx, websocket.MessageText, frame); err != nil {
		s.t.Fatalf("write frame: %v", err)
	}
}

// CloseStatus reads until the socket closes and returns its close status,
// failing the test after 10 s.
func (s *Socket) CloseStatus() websocket.StatusCode {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.frames:
			if !ok {
				return websocket.CloseStatus(s.err)
			}
		case <-timeout:
			s.t.Fatal("the socket did not close within 10 s")
		}
	}
}

// Watch applies every frame to a new view until the view shows seq, or ctx
// ends.
func (s *Socket) Watch(ctx context.Context, seq int) (*View, error) {
	v := &View{}
	return v, s.Feed(ctx, v, seq)
}

// Feed applies frames to v until it shows seq, or ctx ends.
func (s *Socket) Feed(ctx context.Context, v *View, seq int) error {
	for !v.Has(seq) {
		f, err := s.Read(ctx)
		if err != nil {
			return err
		}
		v.Apply(f)
	}
	return nil
}
