package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// startNetProxyEcho serves TCP on loopback, echoing each connection back to
// itself and half-closing when the client does; t's cleanup stops it.
func startNetProxyEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				io.Copy(c, c)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// netProxyWait polls cond every 10 ms until it holds or 5 s pass.
func netProxyWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// dialNetProxy connects to the proxy with a deadline on every read and write,
// so a broken proxy fails the test instead of hanging it.
func dialNetProxy(t *testing.T, p *netProxy) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

// netProxyEcho writes msg and reads it back.
func netProxyEcho(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != msg {
		t.Fatalf("echo: got %q, want %q", got, msg)
	}
}

// The proxy delays each direction, keeps bytes in order, cuts open
// connections and refuses new ones until restored, and forgets connections
// once they are closed. No Chromium or Redis needed.
func TestNetProxy(t *testing.T) {
	t.Parallel()
	const delay = 50 * time.Millisecond
	p := newNetProxy(t, "http://"+startNetProxyEcho(t), delay)

	// (1) A round trip takes at least the delay each way. This measures the
	// proxy itself, so a duration assertion is the point here.
	c := dialNetProxy(t, p)
	start := time.Now()
	netProxyEcho(t, c, "ping")
	if rtt := time.Since(start); rtt < 2*delay || rtt > 5*time.Second {
		t.Errorf("round trip took %v, want at least %v", rtt, 2*delay)
	}

	// (2) 1 MiB in small writes comes back identical and in order; the
	// client's half-close flows through to the echo server and back.
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>8)
	}
	b := dialNetProxy(t, p)
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		for rest := big; len(rest) > 0; {
			n := min(len(rest), 1000)
			if _, err := b.Write(rest[:n]); err != nil {
				writeErr = err
				return
			}
			rest = rest[n:]
		}
		writeErr = b.CloseWrite()
	})
	got, err := io.ReadAll(b)
	wg.Wait()
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("1 MiB came back as %d bytes, not identical", len(got))
	}
	b.Close()

	// (3) A cut ends the open connection promptly: a read sees EOF or an
	// error, not its deadline. A new connection is refused or closed
	// without an echo.
	netProxyEcho(t, c, "still up")
	p.cut()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the cut, read gave %d bytes, err %v; want EOF or a reset", n, err)
	}
	if d, err := net.DialTimeout("tcp", p.ln.Addr().String(), 5*time.Second); err == nil {
		d.SetDeadline(time.Now().Add(5 * time.Second))
		d.Write([]byte("anyone?")) // may fail: the proxy has closed it
		if n, err := d.Read(make([]byte, 16)); n > 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("while cut, a new connection read %d bytes, err %v; want it closed", n, err)
		}
		d.Close()
	}
	if n := p.conns(); n != 0 {
		t.Errorf("while cut, %d connections are open", n)
	}

	// (4) Restored, new connections work again.
	p.restore()
	r := dialNetProxy(t, p)
	netProxyEcho(t, r, "back")

	// (5) Connections are counted while open and forgotten once closed.
	more := []net.Conn{r, dialNetProxy(t, p), dialNetProxy(t, p)}
	for _, m := range more[1:] {
		netProxyEcho(t, m, "hi")
	}
	netProxyWait(t, "3 open connections", func() bool { return p.conns() == 3 })
	for _, m := range more {
		m.Close()
	}
	netProxyWait(t, "no open connections", func() bool { return p.conns() == 0 })

	// (6) With no delay it is a plain forwarder.
	z := newNetProxy(t, startNetProxyEcho(t), 0)
	netProxyEcho(t, dialNetProxy(t, z), "no delay")
}
