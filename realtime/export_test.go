package realtime

import (
	"context"
	"log/slog"
	"sync"
)

// What this package's external tests (realtime_test) use of its insides:
// exported here, for tests only.

// DefaultQueueSize is defaultQueueSize.
const DefaultQueueSize = defaultQueueSize

// PresenceTiming is presenceTiming.
type PresenceTiming = presenceTiming

// WithPresenceTiming is withPresenceTiming.
var WithPresenceTiming = withPresenceTiming

// StartHub runs a hub on b until stop is called; stopping it again does
// nothing. Stopping it without its sockets leaving is what a crash looks
// like to the other instances.
func StartHub(b Broker, r Renderer, opts ...HubOption) (h *Hub, stop func()) {
	h = NewHub(b, r, slog.New(slog.DiscardHandler), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	var once sync.Once
	return h, func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}
