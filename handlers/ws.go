package handlers

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// writeTimeout bounds one frame's write; a peer that takes longer is dead.
const writeTimeout = 10 * time.Second

// socket serves GET /rooms/{room}/ws: history first, then live events; each
// text frame from the page is a message to store and broadcast.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	room, ok := s.roomParam(w, r, false)
	if !ok {
		return
	}
	sess, signedIn := s.sessions.read(r)
	// Accept refuses a browser Origin other than the host with 403.
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	// A read that fails (the peer went away, or only half-closed) does not
	// close the connection: without this it would stay open.
	defer conn.CloseNow()
	if !s.track(conn) {
		conn.Close(websocket.StatusServiceRestart, "server restarting")
		return
	}
	defer s.untrack(conn)
	conn.SetReadLimit(maxFrame)
	ctx := r.Context()

	if !signedIn {
		// A refused handshake makes htmx retry for ever; 1008 makes it stop.
		s.write(ctx, conn, renderBytes(views.SignInAgainOOB(room)))
		conn.Close(websocket.StatusPolicyViolation, "sign in again")
		return
	}

	m, err := s.chat.Join(ctx, room, sess.Name)
	if err != nil {
		s.log.Error("join room", "room", room, "err", err)
		conn.Close(websocket.StatusTryAgainLater, "chat unavailable")
		return
	}

	var wg sync.WaitGroup
	wg.Go(func() { s.writeLoop(ctx, conn, m) })
	s.readLoop(ctx, conn, room, sess, m)
	m.Leave()
	wg.Wait()
}

// writeLoop is the socket's only writer: it drains the member's bounded
// queue. A member dropped for being slow is closed with 1013, so htmx
// reconnects and catches up from the history.
func (s *Server) writeLoop(ctx context.Context, conn *websocket.Conn, m *realtime.Member) {
	for data := range m.Out() {
		if err := s.write(ctx, conn, data); err != nil {
			conn.CloseNow()
			return
		}
	}
	if m.Dropped() {
		conn.Close(websocket.StatusTryAgainLater, "too slow")
	}
}

func (s *Server) write(ctx context.Context, conn *websocket.Conn, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, data)
}

// incoming is the JSON object htmx's ws extension sends for the form: its
// fields plus a headers object, which is ignored.
type incoming struct {
	Text  *string `json:"text"`
	Nonce *string `json:"nonce"`
}

func (s *Server) readLoop(ctx context.Context, conn *websocket.Conn, room string, sess Session, m *realtime.Member) {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return // closed by the peer, too large (1009), or the server shut down
		}
		if typ != websocket.MessageText {
			m.Push(renderBytes(views.SendErrorOOB("Messages must be text.")))
			continue
		}
		var in incoming
		if err := json.Unmarshal(data, &in); err != nil {
			m.Push(renderBytes(views.SendErrorOOB("That message could not be read.")))
			continue
		}
		if in.Text == nil {
			m.Push(renderBytes(views.SendErrorOOB("Type a message first.")))
			continue
		}
		nonce := ""
		if in.Nonce != nil {
			nonce = *in.Nonce
		}
		refusal, err := s.send(ctx, room, sess, *in.Text, nonce)
		switch {
		case errors.Is(err, errUnavailable):
			m.Push(renderBytes(views.SendErrorOOB("Not sent: the chat is unavailable. Try again.")))
		case refusal != "":
			m.Push(renderBytes(views.SendErrorOOB(refusal)))
		default:
			m.Push(renderBytes(views.SentOOB(room, rand.Text())))
		}
	}
}

func (s *Server) track(conn *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.sockets[conn] = struct{}{}
	s.active.Add(1)
	return true
}

func (s *Server) untrack(conn *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sockets, conn)
	s.active.Done()
}

// CloseSockets closes every socket with 1012 (service restart), so htmx
// reconnects, through the load balancer, to another instance, and waits for
// their handlers to finish. http.Server's Shutdown neither closes nor waits
// for hijacked connections. Sockets still open when ctx ends are cut.
func (s *Server) CloseSockets(ctx context.Context) {
	s.mu.Lock()
	s.draining = true
	conns := make([]*websocket.Conn, 0, len(s.sockets))
	for c := range s.sockets {
		conns = append(conns, c)
	}
	s.mu.Unlock()

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
	s.active.Wait()
}
