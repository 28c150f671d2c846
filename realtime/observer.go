package realtime

import "time"

// Observer is told what the hub does, for metrics. Its methods are called on
// hot paths and must be cheap.
type Observer interface {
	// Delivered counts messages handed to local sockets' queues.
	Delivered(n int)
	// FanOut times handing one message to every local socket of its room.
	FanOut(d time.Duration)
	// Dropped counts sockets dropped for not keeping up.
	Dropped()
	// RoomsActive reports how many rooms have local sockets.
	RoomsActive(n int)
	// BrokerError counts failed calls to the broker (Redis).
	BrokerError()
	// Resynced counts rooms sent their history again after events may have
	// been lost: a Redis outage, a failover, a slot that moved.
	Resynced()
}

// WithObserver has the hub report to o.
func WithObserver(o Observer) HubOption { return func(h *Hub) { h.obs = o } }

// noObserver is told everything and keeps nothing: the hub's default.
type noObserver struct{}

func (noObserver) Delivered(int)        {}
func (noObserver) FanOut(time.Duration) {}
func (noObserver) Dropped()             {}
func (noObserver) RoomsActive(int)      {}
func (noObserver) BrokerError()         {}
func (noObserver) Resynced()            {}
