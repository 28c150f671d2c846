package handlers

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/static"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// newTestServer serves a Server on the in-memory broker. It wires hub and
// server itself, not through internal/app: that package imports handlers,
// and these tests, inside package handlers, would import it in a cycle.
func newTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	broker := realtime.NewMemoryBroker(100)
	hub := realtime.NewHub(broker, Fragments{Handle: AuthorHandles([]byte("test"))}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx)
	}()
	cfg.Chat, cfg.Static, cfg.Log = hub, static.FS, log
	cfg.Secret = []byte("test")
	cfg.SendRate, cfg.SendBurst = cmp.Or(cfg.SendRate, 5), cmp.Or(cfg.SendBurst, 10)
	s := New(cfg)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.CloseSockets(sctx)
		scancel()
		cancel()
		<-done
		broker.Close()
	})
	return s, ts
}

func (s *Server) openSockets() int {
	r := s.sockets
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sockets)
}

// waitUntil waits at most 5 s for cond.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	testkit.WaitFor(t, ctx, what, cond)
}

// A peer that stops answering pings is let go.
func TestDeadPeersAreReaped(t *testing.T) {
	s, ts := newTestServer(t, Config{PingInterval: 100 * time.Millisecond})
	ann := chattest.NewUser(t, ts.URL)
	ann.SignIn("Ann", "r")
	alive := ann.DialConn("r", nil)
	go func() { // reads, so it answers pings
		for {
			if _, _, err := alive.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	ann.DialConn("r", nil) // never reads: pings go unanswered
	waitUntil(t, "two sockets open", func() bool { return s.openSockets() == 2 })
	waitUntil(t, "the silent socket reaped", func() bool { return s.openSockets() == 1 })
	// The live one stays through several ping rounds.
	time.Sleep(300 * time.Millisecond) // three ping intervals
	if n := s.openSockets(); n != 1 {
		t.Fatalf("%d sockets open, want the live one", n)
	}
}

// One address may hold only so many sockets; the next is told why and
// asked to come back later. Behind a proxy, forwarded addresses count apart.
func TestSocketsPerIPAreCapped(t *testing.T) {
	s, ts := newTestServer(t, Config{MaxSocketsPerIP: 2, TrustProxy: true})
	ann := chattest.NewUser(t, ts.URL)
	ann.SignIn("Ann", "r")
	first := ann.DialConn("r", nil)
	ann.DialConn("r", nil)
	waitUntil(t, "two sockets open", func() bool { return s.openSockets() == 2 })

	third := ann.DialConn("r", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := third.Read(ctx)
	if err != nil || !strings.Contains(string(data), "Too many connections") {
		t.Fatalf("third socket got %q, %v", data, err)
	}
	if _, _, err := third.Read(ctx); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("third socket closed with %v, want 1013", err)
	}
	// Another address is not affected.
	other := ann.Header()
	other.Set("X-Forwarded-For", "203.0.113.9")
	ann.DialConn("r", other)
	waitUntil(t, "the other address's socket open", func() bool { return s.openSockets() == 3 })

	first.CloseNow()
	waitUntil(t, "a place freed", func() bool { return s.openSockets() == 2 })
	ann.DialConn("r", nil)
	waitUntil(t, "a socket in the freed place", func() bool { return s.openSockets() == 3 })
}

func TestSecurityHeaders(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	for _, path := range []string{"/", "/static/htmx.min.js", "/rooms/r", "/nowhere"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
}

// A socket that has been quiet for longer than the write timeout still gets
// its 1012 at shutdown: the deadline the writer left behind has passed.
func TestShutdownAfterIdleBeyondTheWriteDeadline(t *testing.T) {
	s, ts := newTestServer(t, Config{WriteTimeout: 100 * time.Millisecond})
	ann := chattest.NewUser(t, ts.URL)
	ann.SignIn("Ann", "r")
	c := ann.DialConn("r", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); err != nil { // the history, written under a deadline
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // idle past the deadline the writer set
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.CloseSockets(ctx)
	}()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusServiceRestart {
				t.Fatalf("closed with %v (%v), want 1012", code, err)
			}
			break
		}
	}
	<-done
}
