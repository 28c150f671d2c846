package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per key: for sends, per session, SEND_RATE
// messages a second with a burst of SEND_BURST; for new rooms, per session
// and per address; for room pages and scrollback, per session (and
// address); for typing signals, per session and room, and per room and
// name. Buckets idle long enough to be full again are forgotten.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(r rate.Limit, burst int) *limiter {
	return &limiter{rate: r, burst: burst, buckets: make(map[string]*bucket)}
}

// allowAt takes a token for key now, if there is one.
func (l *limiter) allowAt(key string, now time.Time) bool {
	_, ok := l.reserveAt(key, now, 0)
	return ok
}

// reserve takes a token for key and says how long to wait before using it:
// a burst past the limit is slowed down rather than refused. When the wait
// would be longer than most, nothing is taken and ok is false.
func (l *limiter) reserve(key string, most time.Duration) (wait time.Duration, ok bool) {
	return l.reserveAt(key, time.Now(), most)
}

func (l *limiter) reserveAt(key string, now time.Time, most time.Duration) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.bucket(key, now)
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return 0, false
	}
	wait := r.DelayFrom(now)
	if wait > most {
		r.CancelAt(now)
		return 0, false
	}
	return wait, true
}

// allowOrRetry takes a token for key now, if there is one; if not, it says
// how long until there is (for Retry-After).
func (l *limiter) allowOrRetry(key string, now time.Time) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	r := l.bucket(key, now).lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// hasToken reports whether key has a token now, taking none.
func (l *limiter) hasToken(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	return b == nil || b.lim.TokensAt(now) >= 1
}

// take takes a token for key now, even into debt.
func (l *limiter) take(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	l.bucket(key, now).lim.ReserveN(now, 1)
}

// bucket must be called with l.mu held.
func (l *limiter) bucket(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b
}

// sweep must be called with l.mu held. A bucket idle long enough to be
// full again can be forgotten.
func (l *limiter) sweep(now time.Time) {
	refill := max(time.Duration(float64(l.burst)/float64(l.rate)*float64(time.Second)), time.Minute)
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > refill {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
}

// hasTokens reports whether key has n tokens now, taking none.
func (l *limiter) hasTokens(key string, n int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	return b == nil || b.lim.TokensAt(now) >= float64(n)
}

// takeN takes n tokens for key now, even into debt (n past the burst
// takes the whole burst).
func (l *limiter) takeN(key string, n int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	l.bucket(key, now).lim.ReserveN(now, min(n, l.burst))
}
