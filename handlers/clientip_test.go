package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit/chattest"
)

// Behind a proxy the last X-Forwarded-For entry, the proxy's own, is the
// client; without one the header is anyone's to write, and only the peer
// counts.
func TestClientIPTrustsForwardedForOnlyBehindAProxy(t *testing.T) {
	for _, c := range []struct {
		remote  string
		xff     []string // header lines
		trusted string   // want, behind a proxy
		direct  string   // want, without one
	}{
		{"192.0.2.1:1234", nil, "192.0.2.1", "192.0.2.1"},
		{"10.0.0.1:1234", []string{"198.51.100.7"}, "198.51.100.7", "10.0.0.1"},
		// A forged first entry is ignored behind a proxy.
		{"10.0.0.1:1234", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7", "10.0.0.1"},
		// So is a forged first line, when the proxy adds a line of its own.
		{"10.0.0.1:1234", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7", "10.0.0.1"},
		{"10.0.0.1:1234", []string{""}, "10.0.0.1", "10.0.0.1"},
		{"[2001:db8::1]:443", nil, "2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]:443", []string{"2001:db8::2"}, "2001:db8::2", "2001:db8::1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, true); got != c.trusted {
			t.Errorf("behind a proxy: clientIP(%s, XFF %q) = %q, want %q", c.remote, c.xff, got, c.trusted)
		}
		if got := clientIP(r, false); got != c.direct {
			t.Errorf("without a proxy: clientIP(%s, XFF %q) = %q, want %q", c.remote, c.xff, got, c.direct)
		}
	}
}

// Without a proxy, made-up X-Forwarded-For headers do not get a client past
// the per-address cap.
func TestSocketsPerIPCapIgnoresForwardedForWithoutTrustProxy(t *testing.T) {
	s, ts := newTestServer(t, Config{MaxSocketsPerIP: 2})
	ann := chattest.NewUser(t, ts.URL)
	ann.SignIn("Ann", "r")
	for i, xff := range []string{"203.0.113.1", "203.0.113.2"} {
		hi := ann.Header()
		hi.Set("X-Forwarded-For", xff)
		ann.DialConn("r", hi)
		waitUntil(t, "socket open", func() bool { return s.openSockets() == i+1 })
	}
	third := ann.Header()
	third.Set("X-Forwarded-For", "203.0.113.3")
	c := ann.DialConn("r", third)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, data, err := c.Read(ctx); err != nil || !strings.Contains(string(data), "Too many connections") {
		t.Fatalf("third socket got %q, %v", data, err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("third socket closed with %v, want 1013", err)
	}
}
