package realtime

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
)

// What this package's external tests (realtime_test) use of its insides:
// exported here, for tests only.

// DefaultQueueSize is defaultQueueSize.
const DefaultQueueSize = defaultQueueSize

// PresenceTiming is presenceTiming.
type PresenceTiming = presenceTiming

// WithPresenceTiming is withPresenceTiming.
var WithPresenceTiming = withPresenceTiming

// StartHub runs a hub on b until stop is called; stopping it again does
// nothing. Stopping it without its sockets leaving is what a crash looks
// like to the other instances.
func StartHub(b Broker, r Renderer, opts ...HubOption) (h *Hub, stop func()) {
	h = NewHub(b, r, slog.New(slog.DiscardHandler), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	var once sync.Once
	return h, func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// TestConn is a Conn for tests: each write arrives on Out, which is closed
// once the socket ends. It takes one write at a time, so a test that stops
// reading is a slow reader.
type TestConn struct {
	out   chan []byte
	done  chan struct{}
	mu    sync.RWMutex // held for reading by writes, for writing by End's close of out
	ended sync.Once
}

// NewTestConn returns a TestConn.
func NewTestConn() *TestConn {
	return &TestConn{out: make(chan []byte, 1), done: make(chan struct{})}
}

var errTestConnEnded = errors.New("test conn ended")

// TryWrite takes p if Out has room.
func (c *TestConn) TryWrite(p []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	select {
	case <-c.done:
		return 0, errTestConnEnded
	default:
	}
	select {
	case c.out <- bytes.Clone(p):
		return len(p), nil
	default:
		return 0, nil
	}
}

// Write waits until Out takes p, or the conn ends.
func (c *TestConn) Write(p []byte) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	select {
	case <-c.done:
		return errTestConnEnded
	default:
	}
	select {
	case c.out <- bytes.Clone(p):
		return nil
	case <-c.done:
		return errTestConnEnded
	}
}

// End closes Out once no write is under way. A test may call it too, to
// close a socket's connection as its handler would after Leave; the first
// call counts.
func (c *TestConn) End(bool) {
	c.ended.Do(func() {
		close(c.done)
		c.mu.Lock()
		close(c.out)
		c.mu.Unlock()
	})
}

// Out returns what a socket joined with a TestConn was written.
func (s *Socket) Out() <-chan []byte { return s.conn.(*TestConn).out }

// TypingText is the test renderers' typing frame.
var TypingText = typingText

// DirectoryText is the test renderers' directory frame.
var DirectoryText = directoryText
