package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// netProxy forwards TCP from a loopback listener to backend, delaying every
// chunk by delay in each direction (a 100 ms delay is a 200 ms round trip),
// until it is cut: then it closes every connection and refuses new ones until
// it is restored. Browser tests use it to behave like a phone on a slow
// network, which Chromium's own throttling does not do for WebSockets, and to
// drop the network the way a tunnel or a lift does.
//
// Each direction is a reader that stamps chunks with their due time and a
// writer that holds them until then, so data keeps its order, is never held
// longer than its due time, and the two directions never wait on each other.
// The TCP handshake itself is not delayed: the first request costs one round
// trip, not two.
type netProxy struct {
	ln      net.Listener
	backend string
	delay   time.Duration
	mu      sync.Mutex
	down    bool
	refusal int // connections refused while cut
	pairs   map[*netProxyPair]struct{}
	wg      sync.WaitGroup
}

// netProxyQueue bounds the chunks in flight per direction: a sender that
// outruns it blocks, as it would on a full TCP window, instead of growing
// memory without limit.
const netProxyQueue = 128

// netProxyChunk is data read from one side, to be written at due. The last
// chunk of a direction carries the error that ended it (io.EOF for a clean
// close) so the close, like the data, arrives after the delay.
type netProxyChunk struct {
	due  time.Time
	data []byte
	err  error
}

// netProxyPair is one client connection and its backend connection.
type netProxyPair struct {
	client, backend net.Conn
	dead            chan struct{} // closed by kill: writers drop what is queued
	killOnce        sync.Once
	left            atomic.Int32 // directions still forwarding
}

// kill closes both sockets at once, dropping whatever is queued, as a lost
// network would.
func (pr *netProxyPair) kill() {
	pr.killOnce.Do(func() {
		close(pr.dead)
		pr.client.Close()
		pr.backend.Close()
	})
}

// newNetProxy starts a proxy to backend ("http://127.0.0.1:port" or
// "127.0.0.1:port"); t's cleanup closes it and waits for all its goroutines.
func newNetProxy(t *testing.T, backend string, delay time.Duration) *netProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &netProxy{
		ln:      ln,
		backend: strings.TrimPrefix(backend, "http://"),
		delay:   delay,
		pairs:   map[*netProxyPair]struct{}{},
	}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

// URL is the proxy's address as a base URL for the browser.
func (p *netProxy) URL() string { return "http://" + p.ln.Addr().String() }

// conns counts open client connections, for tests that wait on a condition.
func (p *netProxy) conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}

// cut closes every connection now and refuses new ones until restore.
func (p *netProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for pr := range p.pairs {
		pr.kill()
		delete(p.pairs, pr)
	}
}

// restore accepts and forwards connections again.
func (p *netProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// refused counts the connections refused while cut: a client's attempts.
func (p *netProxy) refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refusal
}

// setBackend sends the connections made from now on to backend, as a load
// balancer that picks another instance does.
func (p *netProxy) setBackend(backend string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backend = strings.TrimPrefix(backend, "http://")
}

func (p *netProxy) serve() {
	dialer := net.Dialer{Timeout: 5 * time.Second}
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // the listener is closed
		}
		p.mu.Lock()
		down, backend := p.down, p.backend
		p.mu.Unlock()
		if down {
			p.mu.Lock()
			p.refusal++
			p.mu.Unlock()
			// Accept then close: the client sees a connection that dies at
			// once, as with no network, rather than hanging in connect.
			c.Close()
			continue
		}
		// Dial without the lock so a slow dial does not hold up cut.
		b, err := dialer.Dial("tcp", backend)
		if err != nil {
			c.Close()
			continue
		}
		pr := &netProxyPair{client: c, backend: b, dead: make(chan struct{})}
		pr.left.Store(2)
		p.mu.Lock()
		if p.down { // cut while dialing
			p.mu.Unlock()
			pr.kill()
			continue
		}
		p.pairs[pr] = struct{}{}
		p.mu.Unlock()
		p.forward(pr, b, c)
		p.forward(pr, c, b)
	}
}

// drop forgets pr and closes it.
func (p *netProxy) drop(pr *netProxyPair) {
	p.mu.Lock()
	delete(p.pairs, pr)
	p.mu.Unlock()
	pr.kill()
}

// forward starts the reader and writer for one direction, src to dst.
func (p *netProxy) forward(pr *netProxyPair, dst, src net.Conn) {
	q := make(chan netProxyChunk, netProxyQueue)
	p.wg.Go(func() { p.read(pr, src, q) })
	p.wg.Go(func() { p.write(pr, dst, q) })
}

// read stamps each chunk from src with its due time and queues it, ending
// with a chunk that carries the error that stopped it.
func (p *netProxy) read(pr *netProxyPair, src net.Conn, q chan<- netProxyChunk) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		var c netProxyChunk
		if n > 0 {
			c.data = bytes.Clone(buf[:n])
		}
		c.err = err
		if n == 0 && err == nil {
			continue
		}
		c.due = time.Now().Add(p.delay)
		select {
		case q <- c:
		case <-pr.dead:
			return
		}
		if err != nil {
			return
		}
	}
}

// write holds each chunk until it is due and writes it to dst. At the end
// of the stream it half-closes dst, so the other direction (a close frame
// in reply, say) still flows; when both directions are done, or on any
// error, the pair is closed.
func (p *netProxy) write(pr *netProxyPair, dst net.Conn, q <-chan netProxyChunk) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var c netProxyChunk
		select {
		case c = <-q:
		case <-pr.dead:
			return
		}
		if d := time.Until(c.due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-pr.dead:
				return
			}
		}
		if len(c.data) > 0 {
			if _, err := dst.Write(c.data); err != nil {
				p.drop(pr)
				return
			}
		}
		if c.err == nil {
			continue
		}
		tc, ok := dst.(*net.TCPConn)
		if c.err != io.EOF || !ok || tc.CloseWrite() != nil {
			// A reset or a failed half-close ends the whole pair.
			p.drop(pr)
			return
		}
		if pr.left.Add(-1) == 0 {
			p.drop(pr)
		}
		return
	}
}
