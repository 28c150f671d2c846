package handlers

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Every page polled "Your rooms" every 8 s: with the directory sent over
// the socket, those requests were a third of the chat's CPU in a realistic
// day (docs/PERFORMANCE.md), most of it the requests themselves. A room
// page's socket now brings the list instead: every myRoomsEvery the
// instance reads the person's rooms (from what it keeps: no Redis while
// nothing changed) and sends the list when it differs from the last one
// sent, and at least every myRoomsResend; the page's script polls only
// while none came for 40 s.
const (
	myRoomsEvery  = 8 * time.Second
	myRoomsResend = 30 * time.Second
)

// myRoomsSender sends one socket its person's "Your rooms". A timer, not a
// goroutine, between sends; its mutex guards the fields and is held for
// no I/O.
type myRoomsSender struct {
	s    *Server
	ctx  context.Context // the socket's: its language
	sess Session
	room string
	sock *realtime.Socket

	mu       sync.Mutex
	timer    *time.Timer
	stopped  bool
	lastList []views.MyRoom // the list last sent
	sent     time.Time
}

// sendMyRooms starts sending sock its person's list, from a random point
// of the first period so that sockets do not send in step; stop ends it.
func (s *Server) sendMyRooms(ctx context.Context, sess Session, room string, sock *realtime.Socket) (stop func()) {
	m := &myRoomsSender{s: s, ctx: ctx, sess: sess, room: room, sock: sock}
	m.mu.Lock()
	m.timer = time.AfterFunc(rand.N(myRoomsEvery), m.send)
	m.mu.Unlock()
	return m.stop
}

func (m *myRoomsSender) send() {
	// A store that cannot answer is not logged for every socket every
	// 8 s: the page's poll goes again after 40 s and says it.
	list, err := m.s.readMyRooms(m.ctx, m.sess, m.room)
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.timer.Reset(myRoomsEvery)
	now := time.Now()
	// Rendered only when it may be sent: a list unchanged since the last
	// one sent waits for the resend.
	due := err == nil && (!slices.Equal(list.Rooms, m.lastList) || now.Sub(m.sent) >= myRoomsResend)
	m.mu.Unlock()
	if !due {
		return
	}
	frame := framed(m.ctx, views.MyRoomListOOB(*list))
	// Not taken (the socket has not joined yet, or has a backlog): sent
	// again next time.
	if m.sock.Offer(frame) {
		m.mu.Lock()
		m.lastList, m.sent = list.Rooms, now
		m.mu.Unlock()
	}
}

func (m *myRoomsSender) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	m.timer.Stop()
}
