package realtime

import "sync"

// roomQueue collects the rooms a loop must see to, each once however often
// it is asked for, and wakes the loop. Asking never blocks.
type roomQueue struct {
	mu    sync.Mutex
	rooms map[string]bool
	wake  chan struct{}
}

func newRoomQueue() *roomQueue {
	return &roomQueue{rooms: make(map[string]bool), wake: make(chan struct{}, 1)}
}

// add asks for room.
func (q *roomQueue) add(room string) {
	q.mu.Lock()
	q.rooms[room] = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// woken receives after add; then take returns what was asked for.
func (q *roomQueue) woken() <-chan struct{} { return q.wake }

// take returns the rooms asked for since the last take.
func (q *roomQueue) take() map[string]bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	rooms := q.rooms
	q.rooms = make(map[string]bool)
	return rooms
}
