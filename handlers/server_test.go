package handlers

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/static"
)

// newTestServer serves a Server on the in-memory broker.
func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	broker := realtime.NewMemoryBroker(100)
	hub := realtime.NewHub(broker, Fragments{}, log)
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

// signedInHeader returns the headers of a signed-in browser on ts.
func signedInHeader(t *testing.T, ts *httptest.Server, name, room string) http.Header {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(ts.URL+"/signin", url.Values{"name": {name}, "room": {room}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := http.Header{"Origin": {ts.URL}}
	for _, c := range resp.Cookies() {
		h.Add("Cookie", c.String())
	}
	return h
}

func dialWS(t *testing.T, ts *httptest.Server, room string, h http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/rooms/"+room+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func (s *Server) openSockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sockets)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling server state: there is nothing to wait on
	}
}

// A peer that stops answering pings is let go.
func TestDeadPeersAreReaped(t *testing.T) {
	s, ts := newTestServer(t, Config{PingInterval: 100 * time.Millisecond})
	h := signedInHeader(t, ts, "Ann", "r")
	alive := dialWS(t, ts, "r", h)
	go func() { // reads, so it answers pings
		for {
			if _, _, err := alive.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	dialWS(t, ts, "r", h) // never reads: pings go unanswered
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
	h := signedInHeader(t, ts, "Ann", "r")
	first := dialWS(t, ts, "r", h)
	dialWS(t, ts, "r", h)
	waitUntil(t, "two sockets open", func() bool { return s.openSockets() == 2 })

	third := dialWS(t, ts, "r", h)
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
	other := h.Clone()
	other.Set("X-Forwarded-For", "203.0.113.9")
	dialWS(t, ts, "r", other)
	waitUntil(t, "the other address's socket open", func() bool { return s.openSockets() == 3 })

	first.CloseNow()
	waitUntil(t, "a place freed", func() bool { return s.openSockets() == 2 })
	dialWS(t, ts, "r", h)
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
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
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
	c := dialWS(t, ts, "r", signedInHeader(t, ts, "Ann", "r"))
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
