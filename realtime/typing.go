package realtime

import (
	"slices"
	"sync"
	"time"
)

// A room's typing signals reach its sockets on an instance in at most one
// frame per typingEvery: the first at once, those that follow together
// when it is up. In a room of 200 a typing frame is 200 writes on every
// instance, and people type before most messages: in a realistic day a
// busy room's typing frames went out at the cap, as many writes as its
// messages (docs/PERFORMANCE.md).
//
// A page shows a name for typingShown after the last frame that had it,
// or until that person's message arrives, and says it again every 2 s
// while its box holds text. So a name a frame had within typingShown goes
// again typingRepeat after that frame (whatever typingEvery says: the
// pages must not lose it), not at once, and not at all once their message
// came: most messages cost one typing frame, not two or three.
const (
	typingEvery  = 2 * time.Second
	typingRepeat = 3 * time.Second
	typingShown  = 5 * time.Second
	// maxTypingNames bounds the names of one frame; the page shows two
	// and a count anyway.
	maxTypingNames = 32
)

// roomTyping gathers a room's typing signals between frames. Its mutex
// guards the fields, is held for no I/O and is taken under no other lock.
type roomTyping struct {
	mu      sync.Mutex
	last    time.Time            // when the last frame went
	shown   map[string]time.Time // names of frames within typingShown, and when
	pending []typist             // names for the next frame, in arrival order
	timer   *time.Timer          // sends the next frame; nil: none waits
	at      time.Time            // when timer fires
}

// typist is a name waiting for a frame, and when it is due.
type typist struct {
	name string
	due  time.Time
}

// typed hands name's typing signal to the room's sockets: at once when no
// frame went within typingEvery and the name is not showing, else in a
// frame when it is due. Run's loop calls it.
func (h *Hub) typed(r *localRoom, name string) {
	t := &r.typing
	now := time.Now()
	t.mu.Lock()
	due := t.last.Add(typingEvery)
	if at, ok := t.shown[name]; ok && now.Sub(at) < typingShown {
		due = at.Add(typingRepeat)
	}
	if t.timer == nil && !due.After(now) {
		t.last = now
		t.show(now, name)
		t.mu.Unlock()
		h.sendTyping(r, []string{name}, &h.flushes)
		return
	}
	if i := slices.IndexFunc(t.pending, func(p typist) bool { return p.name == name }); i >= 0 {
		due = earlier(due, t.pending[i].due)
		t.pending[i].due = due
	} else if len(t.pending) < maxTypingNames {
		t.pending = append(t.pending, typist{name, due})
	}
	switch {
	case t.timer == nil:
		t.at = later(due, now)
		t.timer = time.AfterFunc(t.at.Sub(now), func() { h.typingDue(r) })
	case due.Before(t.at):
		t.at = later(due, now)
		t.timer.Reset(t.at.Sub(now))
	}
	t.mu.Unlock()
}

// typingDue sends the frame of the names waiting: those due and, as they
// cost nothing more, those that would be due later.
func (h *Hub) typingDue(r *localRoom) {
	t := &r.typing
	now := time.Now()
	t.mu.Lock()
	names := make([]string, len(t.pending))
	for i, p := range t.pending {
		names[i] = p.name
	}
	t.pending, t.timer = nil, nil
	if len(names) > 0 {
		t.last = now
		t.show(now, names...)
	}
	t.mu.Unlock()
	if len(names) == 0 {
		return // their messages came first
	}
	var fl flushList
	h.sendTyping(r, names, &fl)
}

// messaged forgets name's typing in the room: their message arrived, and
// a page stops showing a name when it does. Run's loop calls it.
func (h *Hub) messaged(r *localRoom, name string) {
	t := &r.typing
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.shown, name)
	t.pending = slices.DeleteFunc(t.pending, func(p typist) bool { return p.name == name })
	if len(t.pending) == 0 && t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// show records that a frame with names went at now, and forgets the
// names no page shows any more. t.mu is held.
func (t *roomTyping) show(now time.Time, names ...string) {
	if t.shown == nil {
		t.shown = map[string]time.Time{}
	}
	for n, at := range t.shown {
		if now.Sub(at) >= typingShown {
			delete(t.shown, n)
		}
	}
	for _, n := range names {
		t.shown[n] = now
	}
}

// sendTyping writes the frame saying names are typing to the room's
// sockets. Best effort: a socket that has a backlog is not sent it, nor
// dropped for it.
func (h *Hub) sendTyping(r *localRoom, names []string, fl *flushList) {
	out := renderAs(func(rr Renderer) []byte { return rr.Typing(names) })
	r.mu.RLock()
	for sock := range r.sockets {
		if !sock.hidden.Load() {
			fl.add(sock, sock.offer(out.by(sock)))
		}
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

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
