package realtime

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// BeforeFunc reads a page of scrollback: up to limit messages of room
// numbered below before, oldest first, and whether older ones exist. Both
// Archive.Before and Hub.Before are one.
type BeforeFunc func(ctx context.Context, room string, before int64, limit int) ([]Message, bool, error)

// PageCache serves pages of scrollback, each bounded like the history a
// room page shows (maxHistoryBytes of escaped text, besides its count),
// and keeps the pages that can no longer change, so that readers paging
// back through one room cost the archive one read a page, not one a
// reader. It is bounded in entries and bytes (least recently used go
// first), an entry lives at most its ttl (the archive's retention may
// delete messages), and Forget drops a room's pages, for edits and
// deletes and for a room whose numbering started over.
type PageCache struct {
	read       BeforeFunc
	maxEntries int
	maxBytes   int
	ttl        time.Duration
	now        func() time.Time

	mu      sync.Mutex // guards the fields below; never held across a read
	lru     *list.List // of *cachedPage, most recently used first
	pages   map[pageKey]*list.Element
	rooms   map[string]map[pageKey]struct{} // each room's pages, for Forget
	bytes   int
	forgets uint64 // Forget calls so far: a read that overlapped one is not kept
}

type pageKey struct {
	room   string
	before int64
	limit  int
}

type cachedPage struct {
	key   pageKey
	msgs  []Message
	more  bool
	size  int
	until time.Time
}

// NewPageCache returns a cache of pages read by read, holding at most
// maxEntries pages and maxBytes of their text, each for at most ttl.
func NewPageCache(read BeforeFunc, maxEntries, maxBytes int, ttl time.Duration) *PageCache {
	return &PageCache{
		read:       read,
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		ttl:        ttl,
		now:        time.Now,
		lru:        list.New(),
		pages:      make(map[pageKey]*list.Element),
		rooms:      make(map[string]map[pageKey]struct{}),
	}
}

// Before returns up to limit messages of room numbered below before, oldest
// first, cut to the newest that fit maxHistoryBytes, and whether older ones
// exist (those cut off included). A page is read once and kept while it
// cannot change: complete (every number from its first to before-1, and
// either older ones exist or it starts at 1). A page the archive has not
// caught up with yet, or that ends past the newest message, is read again
// each time.
func (c *PageCache) Before(ctx context.Context, room string, before int64, limit int) ([]Message, bool, error) {
	key := pageKey{room, before, limit}
	c.mu.Lock()
	if e, ok := c.pages[key]; ok {
		p := e.Value.(*cachedPage)
		if c.now().Before(p.until) {
			c.lru.MoveToFront(e)
			c.mu.Unlock()
			return p.msgs, p.more, nil
		}
		c.remove(e)
	}
	forgets := c.forgets
	c.mu.Unlock()

	msgs, more, err := c.read(ctx, room, before, limit)
	if err != nil {
		return nil, false, err
	}
	settled := complete(msgs, before, more)
	fit := lastFitting(msgs)
	if len(fit) == 0 && len(msgs) > 0 {
		// A page shows one message at least, or it would lead to itself
		// (none comes near the bound).
		fit = msgs[len(msgs)-1:]
	}
	if len(fit) < len(msgs) {
		msgs, more = fit, true // the rest are the next page's
	}
	if settled {
		c.keep(key, msgs, more, forgets)
	}
	return msgs, more, nil
}

// complete reports whether a page read below before holds every message
// from its first to before-1, and reaches either older ones or the room's
// first message: what the archive holds of it then can no longer change
// but by an edit or a delete.
func complete(msgs []Message, before int64, more bool) bool {
	if len(msgs) == 0 || msgs[len(msgs)-1].Seq != before-1 || (!more && msgs[0].Seq != 1) {
		return false
	}
	for i, m := range msgs {
		if m.Seq != msgs[0].Seq+int64(i) {
			return false
		}
	}
	return true
}

// keep stores a page read while no Forget happened (one that did may hold
// what was edited or deleted meanwhile), then evicts past the bounds.
func (c *PageCache) keep(key pageKey, msgs []Message, more bool, forgets uint64) {
	size := 0
	for _, m := range msgs {
		size += len(m.Name) + len(m.Text) + messageOverhead
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != forgets || size > c.maxBytes {
		return
	}
	if e, ok := c.pages[key]; ok {
		c.remove(e)
	}
	p := &cachedPage{key: key, msgs: msgs, more: more, size: size, until: c.now().Add(c.ttl)}
	c.pages[key] = c.lru.PushFront(p)
	if c.rooms[key.room] == nil {
		c.rooms[key.room] = make(map[pageKey]struct{})
	}
	c.rooms[key.room][key] = struct{}{}
	c.bytes += size
	for c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

// messageOverhead is roughly what a cached message costs besides its name
// and text: the Message itself and the strings' headers.
const messageOverhead = 96

// remove must be called with c.mu held.
func (c *PageCache) remove(e *list.Element) {
	p := c.lru.Remove(e).(*cachedPage)
	delete(c.pages, p.key)
	if ks := c.rooms[p.key.room]; ks != nil {
		delete(ks, p.key)
		if len(ks) == 0 {
			delete(c.rooms, p.key.room)
		}
	}
	c.bytes -= p.size
}

// Forget drops every page kept of room: a message of it was edited or
// deleted, or its numbering started over.
func (c *PageCache) Forget(room string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	for k := range c.rooms[room] {
		c.remove(c.pages[k])
	}
}

// Size returns how many pages are kept, and the bytes of their text.
func (c *PageCache) Size() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}
