package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// withTimeouts serves the instances the test starts next under to instead
// of the production timeouts. Call it before startInstance: the instance
// stops before the production values come back.
func withTimeouts(t *testing.T, to httpTimeouts) {
	old := edgeTimeouts
	edgeTimeouts = to
	t.Cleanup(func() { edgeTimeouts = old })
}

// short are timeouts for tests that wait for them to pass.
var short = httpTimeouts{readHeader: time.Second, read: time.Second, idle: time.Second}

// hostOf is inst's host:port.
func hostOf(inst *instance) string { return strings.TrimPrefix(inst.URL, "http://") }

// untilClosed reads c until the server closes it, and says how long after
// since that took; an error when c is still open at limit after since.
func untilClosed(c net.Conn, r io.Reader, since time.Time, limit time.Duration) (time.Duration, error) {
	if err := c.SetReadDeadline(since.Add(limit)); err != nil {
		return 0, fmt.Errorf("set deadline: %w", err)
	}
	_, err := io.Copy(io.Discard, r)
	took := time.Since(since)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return took, fmt.Errorf("still open after %v", took.Round(time.Millisecond))
	}
	// A reset is the server closing too: it may not have read everything.
	return took, nil
}

// stalledPost sends a POST's headers and the start of its body, then
// nothing, and says how long the server took to close the connection.
func stalledPost(addr string, limit time.Duration) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := fmt.Fprintf(c, "POST /signin HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 64\r\n\r\nname=Ann&room=", addr); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	return untilClosed(c, c, start, limit)
}

// idleKeepAlive makes one request on a keep-alive connection, then sends
// nothing, and says how long after the response the server closed it.
func idleKeepAlive(addr string, limit time.Duration) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "GET /health HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, fmt.Errorf("read response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		return 0, fmt.Errorf("GET /health: %d, close %v, %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close, err)
	}
	return untilClosed(c, br, time.Now(), limit)
}

// A client that sends a POST's headers and part of its body, then stalls,
// is cut off at the read timeout.
func TestHTTPStalledBodyIsCut(t *testing.T) {
	withTimeouts(t, short)
	inst := startInstance(t, sharedEnv(""))
	took, err := stalledPost(hostOf(inst), short.read+5*time.Second)
	if err != nil {
		t.Fatalf("stalled POST: %v, want it closed at the %v read timeout", err, short.read)
	}
	if took < short.read*9/10 {
		t.Errorf("stalled POST closed after %v, before the %v read timeout", took, short.read)
	}
	t.Logf("stalled POST closed after %v (read timeout %v)", took.Round(time.Millisecond), short.read)
}

// A keep-alive connection that sends no next request is closed at the idle
// timeout.
func TestHTTPIdleKeepAliveIsClosed(t *testing.T) {
	withTimeouts(t, short)
	inst := startInstance(t, sharedEnv(""))
	took, err := idleKeepAlive(hostOf(inst), short.idle+5*time.Second)
	if err != nil {
		t.Fatalf("idle keep-alive connection: %v, want it closed at the %v idle timeout", err, short.idle)
	}
	if took < short.idle*9/10 {
		t.Errorf("idle connection closed after %v, before the %v idle timeout", took, short.idle)
	}
	t.Logf("idle keep-alive connection closed after %v (idle timeout %v)", took.Round(time.Millisecond), short.idle)
}

// A WebSocket quiet for longer than both timeouts still works: the
// deadlines net/http set before the upgrade do not reach the socket.
func TestHTTPIdleWebSocketOutlivesTheTimeouts(t *testing.T) {
	to := httpTimeouts{readHeader: time.Second, read: time.Second, idle: 2 * time.Second}
	withTimeouts(t, to)
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	_, ws := chattest.JoinAs(t, inst.URL, "Ann", room)
	// The socket idles while the server cuts a stalled POST and an idle
	// connection opened after it: by then its upgrade request's read
	// deadline is a second past.
	type result struct {
		what string
		err  error
	}
	done := make(chan result, 2)
	go func() {
		_, err := stalledPost(hostOf(inst), to.read+5*time.Second)
		done <- result{"stalled POST", err}
	}()
	go func() {
		_, err := idleKeepAlive(hostOf(inst), to.idle+5*time.Second)
		done <- result{"idle keep-alive connection", err}
	}()
	for range 2 {
		if r := <-done; r.err != nil {
			t.Fatalf("%s: %v", r.what, r.err)
		}
	}
	// Both ways still work: the server reads the message and sends it back.
	ws.Send("still here", "n1")
	ws.Until(`id="msg-1"`)
}

// The production timeouts close a stalled POST and an idle keep-alive
// connection within 30 s. Slow (about 25 s): skipped with -short.
func TestHTTPTimeoutsCutWithinHalfAMinute(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the production timeouts, about 25 s")
	}
	const limit = 30 * time.Second
	inst := startInstance(t, sharedEnv(""))
	type result struct {
		what string
		took time.Duration
		err  error
	}
	done := make(chan result, 2)
	go func() {
		took, err := stalledPost(hostOf(inst), limit)
		done <- result{"stalled POST", took, err}
	}()
	go func() {
		took, err := idleKeepAlive(hostOf(inst), limit)
		done <- result{"idle keep-alive connection", took, err}
	}()
	for range 2 {
		r := <-done
		if r.err != nil {
			t.Errorf("%s: %v, want it closed within %v", r.what, r.err, limit)
			continue
		}
		t.Logf("%s closed after %v", r.what, r.took.Round(time.Millisecond))
	}
}
