package realtime

import (
	"context"
	"sync"
	"time"
)

// credentialBook is the in-memory broker's Credentials: one instance is the
// whole deployment. Entries go when their ttl has passed, checked as they
// are read and swept as they are written, so memory follows what is live.
type credentialBook struct {
	mu    sync.Mutex // guards the maps; held for map work only
	gens  map[string]credentialEntry
	used  map[string]time.Time // id -> until
	now   func() time.Time
	sweep int // writes since the last sweep
}

type credentialEntry struct {
	gen   int64
	until time.Time
}

func newCredentialBook() *credentialBook {
	return &credentialBook{gens: map[string]credentialEntry{}, used: map[string]time.Time{}, now: time.Now}
}

// Generation implements Credentials.
func (c *credentialBook) Generation(_ context.Context, id string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.gens[id]
	if !ok || !c.now().Before(e.until) {
		return 0, nil
	}
	return e.gen, nil
}

// Revoke implements Credentials.
func (c *credentialBook) Revoke(_ context.Context, id string, ttl time.Duration) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	e := c.gens[id]
	if !now.Before(e.until) {
		e.gen = 0
	}
	e.gen++
	e.until = now.Add(ttl)
	c.gens[id] = e
	c.swept(now)
	return e.gen, nil
}

// FirstUse implements Credentials.
func (c *credentialBook) FirstUse(_ context.Context, id string, ttl time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if until, ok := c.used[id]; ok && now.Before(until) {
		return false, nil
	}
	c.used[id] = now.Add(ttl)
	c.swept(now)
	return true, nil
}

// swept drops expired entries once every 256 writes: amortised, never a
// scan per call.
func (c *credentialBook) swept(now time.Time) {
	if c.sweep++; c.sweep < 256 {
		return
	}
	c.sweep = 0
	for id, e := range c.gens {
		if !now.Before(e.until) {
			delete(c.gens, id)
		}
	}
	for id, until := range c.used {
		if !now.Before(until) {
			delete(c.used, id)
		}
	}
}
