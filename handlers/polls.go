package handlers

import (
	"bytes"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/views"
)

// Every page with JavaScript asks for the room directory every 5 s and for
// "Your rooms" every 8 s: in a realistic day those polls were three
// quarters of the chat's CPU (docs/PERFORMANCE.md). What they need is
// kept here, so that a poll costs neither a render nor a store read that
// the last one already paid for.

// directoryFragments keeps the rendered <ul id="rooms"> of the directory
// as this instance last read it, one per language and current room. A new
// read of the directory (at most every 2 s) that lists anything else
// drops them all.
//
// Its mutex guards the fields and is held for no I/O: a render happens
// outside it.
type directoryFragments struct {
	mu    sync.Mutex
	rooms []views.RoomCount // what frags were rendered from
	frags map[directoryKey][]byte
}

// directoryKey is one rendering of the directory: the reader's language
// and the room their page is in ("" for none).
type directoryKey struct {
	lang    i18n.Lang
	current string
}

// directoryFragmentsKept bounds the renderings kept: one per room in use
// and language is the most an honest crowd asks for, and current is
// whatever a request says.
const directoryFragmentsKept = 512

// get returns the rendering of rooms for k, if kept.
func (d *directoryFragments) get(rooms []views.RoomCount, k directoryKey) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Equal(d.rooms, rooms) {
		return nil, false
	}
	b, ok := d.frags[k]
	return b, ok
}

// put keeps b, the rendering of rooms for k.
func (d *directoryFragments) put(rooms []views.RoomCount, k directoryKey, b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frags == nil || !slices.Equal(d.rooms, rooms) || len(d.frags) >= directoryFragmentsKept {
		d.rooms = slices.Clone(rooms)
		d.frags = map[directoryKey][]byte{}
	}
	d.frags[k] = b
}

// directoryFragment writes the directory's <ul id="rooms"> for a page in
// current, rendered once per language, room and read of the directory.
// A list holding the reader's own private rooms is theirs alone and is
// rendered for them.
func (s *Server) directoryFragment(w http.ResponseWriter, r *http.Request, rooms []views.RoomCount, current string) {
	shared := !slices.ContainsFunc(rooms, func(c views.RoomCount) bool { return c.Private || c.DM })
	k := directoryKey{lang: i18n.From(r.Context()).Lang(), current: current}
	b, ok := []byte(nil), false
	if shared {
		b, ok = s.dirFrags.get(rooms, k)
	}
	if !ok {
		var buf bytes.Buffer
		if err := views.RoomList(rooms, current).Render(r.Context(), &buf); err != nil {
			s.log.Error("render fragment", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		b = buf.Bytes()
		if shared {
			s.dirFrags.put(rooms, k, b)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// generations keeps, for the polls alone, the sessions this instance found
// not signed out, for pollTrust: a poll then reads no generation from the
// store. A sign-out, announced to every instance, forgets its session
// here at once (and marks it so that a read already under way cannot put
// it back); a cut in the channel of announcements forgets them all, and
// pollTrust bounds what an announcement lost some other way costs. Pages,
// posts and sockets always read the store.
//
// Its mutex guards the map and is held for no I/O.
type generations struct {
	mu   sync.Mutex
	seen map[string]generationSeen // by session id
}

// generationSeen is what a read of a session's generation found, or a
// sign-out's mark.
type generationSeen struct {
	gen    int64
	at     time.Time
	signed bool // signed out: not to be trusted again until it expires
}

// pollTrust is how long a poll trusts a session found not signed out;
// generationsKept bounds the sessions kept.
const (
	pollTrust       = time.Minute
	generationsKept = 100_000
)

// trusted reports whether session, whose cookie carries gen, was found
// not signed out within pollTrust.
func (g *generations) trusted(session string, gen int64, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.seen[session]
	return ok && !e.signed && e.gen <= gen && now.Sub(e.at) < pollTrust
}

// found notes a read of session's stored generation, made at at; it does
// not replace a sign-out's mark.
func (g *generations) found(session string, gen int64, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.seen[session]; ok && e.signed && at.Sub(e.at) < pollTrust {
		return
	}
	if g.seen == nil || len(g.seen) >= generationsKept {
		g.seen = map[string]generationSeen{}
	}
	g.seen[session] = generationSeen{gen: gen, at: at}
}

// forgetAll trusts no session until it is read again.
func (g *generations) forgetAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.seen)
}

// signedOut marks session signed out as of now.
func (g *generations) signedOut(session string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil || len(g.seen) >= generationsKept {
		g.seen = map[string]generationSeen{}
	}
	g.seen[session] = generationSeen{at: now, signed: true}
}

// pollSession is session for a poll of a list (the directory, "Your
// rooms"): a session found not signed out within pollTrust is not read
// again.
func (s *Server) pollSession(r *http.Request) (Session, bool) {
	sess, ok := s.cookieSession(r)
	if !ok {
		return Session{}, false
	}
	now := time.Now()
	if s.gens.trusted(sess.ID, sess.Gen, now) {
		return sess, true
	}
	if s.revoked(r.Context(), sessionCredential(sess.ID), sess.Gen) {
		return Session{}, false
	}
	// Not newer than the cookie's: what trusted compares.
	s.gens.found(sess.ID, sess.Gen, now)
	return sess, true
}
