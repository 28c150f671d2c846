package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per session: SEND_RATE messages a second with a
// burst of SEND_BURST.
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
	// A bucket idle long enough to be full again can be forgotten.
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
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
