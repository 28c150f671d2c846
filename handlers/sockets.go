package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/handlers/transport"
	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/views"
)

// The sockets open on this server: whose each is and where (to close a
// session's at sign-out), how many each address holds (to cap them), and
// their handlers (to close every socket and wait for them at shutdown).

type trackResult int

const (
	tracked trackResult = iota
	trackDraining
	trackTooMany
)

// trackedSocket is what the server keeps of an open socket: the connection
// under it (for deadlines), and whose it is, where (to close it at
// sign-out).
type trackedSocket struct {
	wire    *transport.Wire
	session string // "" before a sign-in: nothing to sign out
	room    string
	lang    *i18n.Printer // the language of the socket's page
}

// ctx is what the socket's own notices render in: its page's language.
func (ts trackedSocket) ctx() context.Context {
	return i18n.WithPrinter(context.Background(), ts.lang)
}

// socketRegistry is a server's open sockets, each tracked from its
// handshake until its handler ends.
type socketRegistry struct {
	maxPerIP int     // sockets one address may hold open here; set once
	metrics  Metrics // told of each socket tracked and let go, under mu

	// mu guards sockets, perIP and draining. It is held only to read or
	// change them, never across a socket's I/O: sockets are written to and
	// closed after it is let go. (Setting a write deadline, at a drain,
	// waits for nothing.)
	mu       sync.Mutex
	sockets  map[*websocket.Conn]trackedSocket
	perIP    map[string]int // open sockets per client address; none: absent
	draining bool           // set by drain for good: no socket is tracked after it

	// active counts the socket handlers still running: one per socket
	// tracked, until it is untracked. It is added to under mu, and never
	// once draining is set, so that wait may wait on it.
	active sync.WaitGroup
}

func newSocketRegistry(maxPerIP int, metrics Metrics) *socketRegistry {
	return &socketRegistry{
		maxPerIP: maxPerIP,
		metrics:  metrics,
		sockets:  make(map[*websocket.Conn]trackedSocket),
		perIP:    make(map[string]int),
	}
}

// track registers a socket from ip, unless the server is draining or ip has
// too many sockets open here already.
func (r *socketRegistry) track(conn *websocket.Conn, ts trackedSocket, ip string) trackResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return trackDraining
	}
	if r.perIP[ip] >= r.maxPerIP {
		return trackTooMany
	}
	r.perIP[ip]++
	r.sockets[conn] = ts
	r.active.Add(1)
	r.metrics.SocketOpened()
	return tracked
}

// untrack lets go of a socket that track registered, once its handler is
// done with it.
func (r *socketRegistry) untrack(conn *websocket.Conn, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sockets, conn)
	if r.perIP[ip]--; r.perIP[ip] <= 0 {
		delete(r.perIP, ip)
	}
	r.metrics.SocketClosed()
	r.active.Done()
}

// openSocket is a tracked socket with its connection.
type openSocket struct {
	conn *websocket.Conn
	ts   trackedSocket
}

// ofSession returns the sockets of session open here now.
func (r *socketRegistry) ofSession(session string) []openSocket {
	r.mu.Lock()
	defer r.mu.Unlock()
	var open []openSocket
	for c, ts := range r.sockets {
		if ts.session == session {
			open = append(open, openSocket{c, ts})
		}
	}
	return open
}

// drain stops tracking sockets for good and returns the connections of
// those open, each with a write deadline writeTimeout from now.
func (r *socketRegistry) drain(writeTimeout time.Duration) []*websocket.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.draining = true
	conns := make([]*websocket.Conn, 0, len(r.sockets))
	for c, ts := range r.sockets {
		conns = append(conns, c)
		// Bounds the close frame's own write; a write under way holds the
		// connection until it ends or its own deadline passes.
		_ = ts.wire.SetWriteDeadline(time.Now().Add(writeTimeout))
	}
	return conns
}

// wait waits for the handlers of the sockets tracked to end, or for ctx to.
func (r *socketRegistry) wait(ctx context.Context) {
	handled := make(chan struct{})
	go func() {
		r.active.Wait()
		close(handled)
	}()
	select {
	case <-handled:
	case <-ctx.Done():
	}
}

// EndSession closes this instance's sockets of a session signed out, on
// any instance: each page is told "Your session has ended." and its socket
// closed with 1008, so it stops and offers to sign in again; this
// instance's polls stop trusting the session. "" says that sign-outs may
// have been lost: the polls trust no session until they read it again.
// It returns at
// once (the hub's event loop calls it); the writes go on in goroutines.
func (s *Server) EndSession(session string) {
	if session == "" {
		s.gens.forgetAll() // sign-outs may have been lost: trust none
		return
	}
	s.gens.signedOut(session, time.Now())
	for _, e := range s.sockets.ofSession(session) {
		go func() {
			// The notice goes whole, between the hub's frames, then the
			// close frame, after which the wire writes nothing.
			ctx := e.ts.ctx()
			_ = e.ts.wire.Last(framed(ctx, views.SignInAgainOOB(e.ts.room, i18n.T(ctx, "socket.session_ended"))))
			e.conn.Close(websocket.StatusPolicyViolation, "signed out")
		}()
	}
}

// CloseSockets closes every socket with 1012 (service restart), so htmx
// reconnects, through the load balancer, to another instance, and waits for
// their handlers to finish. http.Server's Shutdown neither closes nor waits
// for hijacked connections. Sockets still open when ctx ends are cut.
func (s *Server) CloseSockets(ctx context.Context) {
	conns := s.sockets.drain(s.writeTimeout)

	var wg sync.WaitGroup
	for _, c := range conns {
		// Close waits for the peer's answer; close all at once.
		wg.Go(func() { c.Close(websocket.StatusServiceRestart, "server restarting") })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.CloseNow()
		}
		<-done
	}
	// The handlers end once their reads fail, but one may be waiting on a
	// broker that does not answer: the drain ends at ctx all the same.
	s.sockets.wait(ctx)
}
