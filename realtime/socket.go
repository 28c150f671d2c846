package realtime

import "sync"

// frame is one WebSocket message's bytes. seq is the message number it
// carries (0 for notices), and first whether that message starts the room's
// numbering (Message.First); a history frame carries its last message's seq,
// and history numbers the read it came from.
type frame struct {
	seq     int64
	first   bool
	data    []byte
	history uint64
}

// Socket is one socket in a room. Its writer reads Out until it is closed.
// Frames are queued under mu, never blocking: a socket whose queue is full
// is dropped instead (the room never waits for one reader).
type Socket struct {
	hub  *Hub
	room *room
	// User is who the socket belongs to.
	User User

	mu      sync.Mutex // guards the fields below; see Hub for the lock order
	out     chan []byte
	started bool
	backlog []frame // events that arrived before the history was read
	read    uint64  // the history read whose frame the page shows
	seen    int64   // highest seq the page shows
	closed  bool
	dropped bool
}

// Out carries the frames to write, history first. It is closed when the
// socket leaves or is dropped for being too slow.
func (s *Socket) Out() <-chan []byte { return s.out }

// Dropped reports whether the socket was dropped for not keeping up.
func (s *Socket) Dropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// offer queues data if the socket has joined and its queue is at most half
// full: for what may be missed (typing), never a reason to drop a socket.
func (s *Socket) offer(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed || len(s.out) > cap(s.out)/2 {
		return
	}
	s.push(data)
}

// Push queues a frame for this socket alone, such as a reply to its sender.
func (s *Socket) Push(data []byte) {
	s.deliver(frame{data: data})
}

// start queues the socket's first history, then what arrived meanwhile,
// all in one slot of the queue: a joiner that waited long for the history
// of a busy room is not dropped for what came in the meantime. It reports
// whether one of those events belongs to another numbering.
func (s *Socket) start(history frame) (behind bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	var data []byte
	if ok, _ := s.accept(history); ok {
		data = history.data
	}
	owned := false // frames are shared by every socket of a room: append to a copy
	for _, f := range s.backlog {
		ok, b := s.accept(f)
		behind = behind || b
		if !ok {
			continue
		}
		if !owned {
			data = append(make([]byte, 0, 2*(len(data)+len(f.data))), data...)
			owned = true
		}
		data = append(data, f.data...)
	}
	s.backlog = nil
	if data != nil {
		s.push(data)
	}
	return behind
}

// maxBacklog bounds the events kept for a socket while its history is read.
const maxBacklog = 1024

// deliver queues f, or keeps it until the history is queued. It reports
// whether f is a message of another numbering than the page shows.
func (s *Socket) deliver(f frame) (behind bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		if len(s.backlog) >= maxBacklog {
			s.drop()
			return false
		}
		s.backlog = append(s.backlog, f)
		return false
	}
	return s.enqueue(f)
}

// gone reports whether the socket has left or been dropped.
func (s *Socket) gone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// enqueue must be called with m.mu held. It queues f unless the page
// already shows it (accept).
func (s *Socket) enqueue(f frame) (behind bool) {
	ok, behind := s.accept(f)
	if ok {
		s.push(f.data)
	}
	return behind
}

// push must be called with m.mu held: it queues data, or drops the socket
// whose queue is full.
func (s *Socket) push(data []byte) {
	if s.closed {
		return
	}
	select {
	case s.out <- data:
	default:
		s.drop()
	}
}

// accept must be called with m.mu held. It reports whether the page needs
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

// drop must be called with m.mu held.
func (s *Socket) drop() {
	s.dropped = true
	s.closeOut()
	s.hub.obs.Dropped()
}

func (s *Socket) closeOut() {
	if !s.closed {
		s.closed = true
		close(s.out)
	}
}

// Leave unregisters the socket. When it was its user's last socket here, the
// user is unlisted after the leave grace unless a socket of theirs comes back;
// the last socket of the room unsubscribes it.
func (s *Socket) Leave() { s.leave(true) }

func (s *Socket) leave(wasPresent bool) {
	s.mu.Lock()
	s.closeOut()
	s.mu.Unlock()
	if s.room.remove(s) && wasPresent {
		s.hub.absentLater(s.room.name, s.User)
	}
	s.hub.release(s.room)
}
