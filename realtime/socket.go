package realtime

import (
	"sync"
	"sync/atomic"
)

// Conn is the connection a socket's frames are written to. A frame is
// whole and ready to write (the Renderer's bytes), so that the same bytes
// go to every socket of a room and frames waiting together are written
// joined, in one write.
//
// A socket has at most one writer at a time: TryWrite and Write are never
// called at once for one Conn.
type Conn interface {
	// TryWrite writes as much of p as the connection takes at once,
	// without waiting, and returns how many bytes it took. When that is a
	// part of p, the rest follows with Write before anything else.
	TryWrite(p []byte) (int, error)
	// Write writes all of p, waiting at most the connection's write
	// timeout.
	Write(p []byte) error
	// End is called once, in a goroutine of its own, when the socket will
	// write no more: it left while a write was under way, a write failed,
	// or (tooSlow) it fell defaultQueueSize frames behind and was dropped,
	// and then the page should come back and catch up from the history.
	End(tooSlow bool)
}

// frame is one event's bytes. seq is the message number it carries (0 for
// notices), and first whether that message starts the room's numbering
// (Message.First); a history frame carries its last message's seq, and
// history numbers the read it came from.
type frame struct {
	seq     int64
	first   bool
	out     *rendition // the event, in every language
	data    []byte     // or bytes for one socket alone (out nil)
	history uint64
}

// in returns f's bytes as socket s reads them.
func (f frame) in(s *Socket) []byte {
	if f.out == nil {
		return f.data
	}
	return f.out.by(s)
}

// Socket is one socket in a room.
//
// Writing. Frames are queued under mu, never blocking, and whoever queues
// a frame onto an idle socket flushes it after letting go of every lock:
// the write is tried at once without waiting (the hub's event loop writes
// most frames itself, with no goroutine woken per delivery), and what the
// connection does not take at once is left to a goroutine that lives only
// until the queue is empty. An idle socket has no writer goroutine. A
// socket whose queue is full is dropped instead (the room never waits for
// one reader).
type Socket struct {
	hub  *Hub
	room *localRoom
	conn Conn
	// User is who the socket belongs to.
	User User
	// lang is the language the socket reads (InLanguage), and render
	// the Renderer of that language.
	lang   string
	render Renderer
	// directory: the socket is sent the directory (FollowingDirectory);
	// directorySent: it was, at least once (the directory loop's alone).
	directory     bool
	directorySent bool
	// hidden: the page is not shown (SetVisible): typing and the
	// directory, which nobody would see there, are not sent to it.
	hidden atomic.Bool

	mu      sync.Mutex // guards the fields below; see Hub for the lock order
	queue   [][]byte   // frames waiting to be written, at most hub.queueSize
	writing bool       // a flush or the writer goroutine owns the writes
	ended   bool       // conn.End has been called
	started bool
	backlog []frame // events that arrived before the history was read
	read    uint64  // the history read whose frame the page shows
	seen    int64   // highest seq the page shows
	closed  bool
	dropped bool
}

// SetVisible says whether the socket's page is shown. A hidden page (a
// background tab, a locked phone) is not sent who is typing nor the
// directory: written to every page of a room, they are most of what
// sockets are sent, and nobody sees them there. It is sent the directory
// at the hub's next look once shown; messages, presence and the rest go
// to every page alike.
func (s *Socket) SetVisible(visible bool) {
	s.hidden.Store(!visible)
}

// Dropped reports whether the socket was dropped for not keeping up.
func (s *Socket) Dropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// flushList holds the sockets that a queueing left to flush: they are
// flushed once the locks held while queueing are let go.
type flushList []*Socket

// add keeps s to flush when flush is true.
func (l *flushList) add(s *Socket, flush bool) {
	if flush {
		*l = append(*l, s)
	}
}

// flush writes what every socket in the list has queued, and empties it.
// It must be called with no lock held.
func (l *flushList) flush() {
	for i, s := range *l {
		s.flush()
		(*l)[i] = nil
	}
	*l = (*l)[:0]
}

// offer queues data if the socket has joined and its queue is at most half
// full: for what may be missed (typing), never a reason to drop a socket.
// It reports whether the caller must flush the socket.
func (s *Socket) offer(data []byte) (flush bool) {
	_, flush = s.offered(data)
	return flush
}

// offered is offer, and reports whether data was queued at all: a socket
// that has not joined yet, or has a backlog, is not sent it.
func (s *Socket) offered(data []byte) (queued, flush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed || len(s.queue) > s.hub.queueSize/2 {
		return false, false
	}
	return true, s.push(data)
}

// Offer writes a frame for this socket alone that it may miss, such as a
// list the page refreshes by itself too: a socket that has not joined
// yet or has a backlog is not sent it, nor dropped for it. It reports
// whether the frame was taken. It must be called with no lock of the
// hub's held.
func (s *Socket) Offer(data []byte) bool {
	queued, flush := s.offered(data)
	if flush {
		s.flush()
	}
	return queued
}

// Push writes a frame for this socket alone, such as a reply to its
// sender. It must be called with no lock of the hub's held.
func (s *Socket) Push(data []byte) {
	if _, flush := s.deliver(frame{data: data}); flush {
		s.flush()
	}
}

// start queues the socket's first history, then what arrived meanwhile,
// all in one slot of the queue: a joiner that waited long for the history
// of a busy room is not dropped for what came in the meantime. It reports
// whether one of those events belongs to another numbering, and whether
// the caller must flush the socket.
func (s *Socket) start(history frame) (behind, flush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	var data []byte
	if ok, _ := s.accept(history); ok {
		data = history.in(s)
	}
	owned := false // frames are shared by every socket of a room: append to a copy
	for _, f := range s.backlog {
		ok, b := s.accept(f)
		behind = behind || b
		if !ok {
			continue
		}
		if !owned {
			data = append(make([]byte, 0, 2*len(data)+len(f.in(s))), data...)
			owned = true
		}
		data = append(data, f.in(s)...)
	}
	s.backlog = nil
	if data != nil {
		flush = s.push(data)
	}
	return behind, flush
}

// maxBacklog bounds the events kept for a socket while its history is read.
const maxBacklog = 1024

// deliver queues f, or keeps it until the history is queued. It reports
// whether f is a message of another numbering than the page shows, and
// whether the caller must flush the socket.
func (s *Socket) deliver(f frame) (behind, flush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		if len(s.backlog) >= maxBacklog {
			s.drop()
			return false, false
		}
		s.backlog = append(s.backlog, f)
		return false, false
	}
	ok, behind := s.accept(f)
	if ok {
		flush = s.push(f.in(s))
	}
	return behind, flush
}

// gone reports whether the socket has left or been dropped.
func (s *Socket) gone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// push must be called with s.mu held: it queues data, or drops the socket
// whose queue is full. It reports whether the caller must flush the
// socket: it was idle, and the caller now owns its writes.
func (s *Socket) push(data []byte) (flush bool) {
	if s.closed || len(data) == 0 {
		return false
	}
	if len(s.queue) >= s.hub.queueSize {
		s.drop()
		return false
	}
	s.queue = append(s.queue, data)
	if s.writing {
		return false
	}
	s.writing = true
	return true
}

// accept must be called with s.mu held. It reports whether the page needs
// f, and takes note that it will show it:
//
//   - A history frame replaces what the page shows, so it sets what the
//     socket has seen exactly, even lower than before (a failover that lost
//     the last messages numbers the next ones again). A frame from a read
//     that started before the one the page shows is dropped: it is older,
//     and would take away messages already sent on top of the newer one.
//   - A message at or below seen is in the history the page was sent,
//     unless it starts the room's numbering anew: then the page shows a
//     numbering that is gone. It is not queued, and accept reports it
//     (behind): the page needs the room's history afresh.
func (s *Socket) accept(f frame) (ok, behind bool) {
	if s.closed {
		return false, false
	}
	switch {
	case f.history != 0:
		if f.history < s.read {
			return false, false
		}
		s.read, s.seen = f.history, f.seq
	case f.seq != 0:
		if f.seq <= s.seen {
			return false, f.first
		}
		s.seen = f.seq
	}
	return true, false
}

// drop must be called with s.mu held.
func (s *Socket) drop() {
	s.dropped = true
	s.closed = true
	s.queue = nil
	s.hub.obs.Dropped()
	// A writer blocked in a write sees it only when that write ends.
	s.end(true)
}

// end must be called with s.mu held: the connection is told, once, that
// the socket will write no more.
func (s *Socket) end(tooSlow bool) {
	if !s.ended {
		s.ended = true
		go s.conn.End(tooSlow)
	}
}

// next must be called with s.mu held, by the owner of the writes. It takes
// what is queued, joined into one write; with nothing queued, or the
// socket closed, it gives up the writes and returns nil.
func (s *Socket) next() []byte {
	if s.closed || len(s.queue) == 0 {
		s.writing = false
		return nil
	}
	q := s.queue
	defer func() {
		clear(q)
		s.queue = q[:0]
	}()
	if len(q) == 1 {
		return q[0]
	}
	n := 0
	for _, b := range q {
		n += len(b)
	}
	// Frames are shared by every socket of a room: join them in a copy.
	data := make([]byte, 0, n)
	for _, b := range q {
		data = append(data, b...)
	}
	return data
}

// maxFlushRounds bounds the writes a flush makes before it leaves the rest
// to a goroutine: frames that keep arriving while it writes must not hold
// the hub's event loop on one socket.
const maxFlushRounds = 2

// flush writes what is queued, without waiting: what the connection does
// not take at once is left to the writer goroutine. The caller owns the
// writes (push said so) and holds no lock.
func (s *Socket) flush() {
	for range maxFlushRounds {
		s.mu.Lock()
		data := s.next()
		s.mu.Unlock()
		if data == nil {
			return
		}
		n, err := s.conn.TryWrite(data)
		if err != nil {
			s.failed()
			return
		}
		if n < len(data) {
			go s.writeLoop(data[n:])
			return
		}
	}
	go s.writeLoop(nil)
}

// writeLoop writes rest, then what is queued, waiting as long as the
// connection's write timeout allows, until the queue is empty.
func (s *Socket) writeLoop(rest []byte) {
	data := rest
	for {
		if len(data) > 0 {
			if err := s.conn.Write(data); err != nil {
				s.failed()
				return
			}
		}
		s.mu.Lock()
		data = s.next()
		s.mu.Unlock()
		if data == nil {
			return
		}
	}
}

// failed gives up a socket whose write failed: the connection is ended,
// and its reader then leaves the room.
func (s *Socket) failed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.queue = nil
	s.writing = false
	s.end(false)
}

// Leave unregisters the socket. When it was its user's last socket here, the
// user is unlisted after the leave grace unless a socket of theirs comes back;
// the last socket of the room unsubscribes it.
func (s *Socket) Leave() { s.leave(true) }

func (s *Socket) leave(wasPresent bool) {
	s.mu.Lock()
	s.closed = true
	s.queue = nil
	if s.writing {
		// A writer blocked in a write ends with the connection. Without
		// one, the caller closes the connection its own way (a join that
		// failed tells the page why first).
		s.end(false)
	}
	s.mu.Unlock()
	if s.room.remove(s) && wasPresent {
		s.hub.absentLater(s.room.name, s.User)
	}
	s.hub.release(s.room)
}
