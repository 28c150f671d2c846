package realtime

import (
	"slices"
	"sync"
	"time"
)

// A room's typing signals reach its sockets on an instance in at most one
// frame per typingEvery: the first at once, those that follow within the
// second together when it is up. In a room of 200 a typing signal is 200
// writes on every instance, and people type before most messages: in a
// realistic day typing cost the chat four times what the messages did
// (docs/PERFORMANCE.md).
const (
	typingEvery = time.Second
	// maxTypingNames bounds the names of one frame; the page shows two
	// and a count anyway.
	maxTypingNames = 32
)

// roomTyping gathers a room's typing signals between frames. Its mutex
// guards the fields, is held for no I/O and is taken under no other lock.
type roomTyping struct {
	mu      sync.Mutex
	last    time.Time   // when the last frame went
	pending []string    // names for the next frame
	timer   *time.Timer // sends the next frame; nil: none waits
}

// typed hands name's typing signal to the room's sockets: at once when no
// frame went within typingEvery, else in the frame that goes when it is up.
// Run's loop calls it.
func (h *Hub) typed(r *localRoom, name string) {
	t := &r.typing
	now := time.Now()
	t.mu.Lock()
	if t.timer == nil && now.Sub(t.last) >= typingEvery {
		t.last = now
		t.mu.Unlock()
		h.sendTyping(r, []string{name}, &h.flushes)
		return
	}
	if !slices.Contains(t.pending, name) && len(t.pending) < maxTypingNames {
		t.pending = append(t.pending, name)
	}
	if t.timer == nil {
		t.timer = time.AfterFunc(t.last.Add(typingEvery).Sub(now), func() { h.typingDue(r) })
	}
	t.mu.Unlock()
}

// typingDue sends the frame of the names gathered since the last one.
func (h *Hub) typingDue(r *localRoom) {
	t := &r.typing
	t.mu.Lock()
	names := t.pending
	t.pending, t.timer, t.last = nil, nil, time.Now()
	t.mu.Unlock()
	var fl flushList
	h.sendTyping(r, names, &fl)
}

// sendTyping writes the frame saying names are typing to the room's
// sockets. Best effort: a socket that has a backlog is not sent it, nor
// dropped for it.
func (h *Hub) sendTyping(r *localRoom, names []string, fl *flushList) {
	out := renderAs(func(rr Renderer) []byte { return rr.Typing(names) })
	r.mu.RLock()
	for sock := range r.sockets {
		fl.add(sock, sock.offer(out.by(sock)))
	}
	r.mu.RUnlock()
	fl.flush()
}

// stop drops the frame waiting, if any: the hub has stopped.
func (t *roomTyping) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
		t.timer, t.pending = nil, nil
	}
}
