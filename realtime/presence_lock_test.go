package realtime

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// slowPresence is a memory broker whose Present and Absent wait until
// released, as on a Redis that answers slowly; it counts the calls in
// flight.
type slowPresence struct {
	*MemoryBroker
	release  chan struct{}
	mu       sync.Mutex
	inFlight map[string]int // calls waiting, by kind
	changed  chan struct{}
}

func newSlowPresence() *slowPresence {
	return &slowPresence{MemoryBroker: NewMemoryBroker(100), release: make(chan struct{}),
		inFlight: map[string]int{}, changed: make(chan struct{}, 1000)}
}

func (b *slowPresence) wait(kind string) {
	b.mu.Lock()
	b.inFlight[kind]++
	b.mu.Unlock()
	b.changed <- struct{}{}
	<-b.release
	b.mu.Lock()
	b.inFlight[kind]--
	b.mu.Unlock()
	b.changed <- struct{}{}
}

func (b *slowPresence) Present(ctx context.Context, room string, users []User, ttl time.Duration) error {
	b.wait("present")
	return b.MemoryBroker.Present(ctx, room, users, ttl)
}

func (b *slowPresence) Absent(ctx context.Context, room string, u User) error {
	b.wait("absent")
	return b.MemoryBroker.Absent(ctx, room, u)
}

// until waits until cond holds of the calls in flight.
func (b *slowPresence) until(t *testing.T, what string, cond func(map[string]int) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		ok := cond(b.inFlight)
		b.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-b.changed:
		case <-deadline:
			t.Fatalf("waiting for %s: in flight %v", what, b.inFlight)
		}
	}
}

// Presence of different rooms proceeds in parallel: the first joins of
// eight rooms all reach the broker at once, and a leave in another room is
// not kept waiting behind them. (One instance-wide lock held across the
// broker's answer made them wait in turn: 8 × 300 ms for 8 joins.)
func TestPresenceOfRoomsProceedsInParallel(t *testing.T) {
	b := newSlowPresence()
	defer b.Close()
	h, stop := StartHub(b, textRenderer{}, withPresenceTiming(presenceTiming{LeaveGrace: time.Millisecond, Beat: time.Hour, TTL: 2 * time.Hour}))
	defer func() {
		close(b.release) // the hub's last presence writes wait on the broker
		stop()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A leaver in room "l": present first (released at once), then gone.
	leaverJoined := make(chan *Socket)
	go func() {
		sock, err := h.Join(ctx, "l", User{Name: "leaver", Session: "l"}, NewTestConn())
		if err != nil {
			t.Error(err)
		}
		leaverJoined <- sock
	}()
	b.until(t, "the leaver's join", func(n map[string]int) bool { return n["present"] == 1 })
	b.release <- struct{}{}
	leaver := <-leaverJoined

	var joined []*Socket
	for i := range 8 {
		sock, err := h.Join(ctx, fmt.Sprint("r", i), User{Name: "u", Session: fmt.Sprint("s", i)}, NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, sock)
	}
	b.until(t, "eight first joins at the broker at once", func(n map[string]int) bool { return n["present"] == 8 })
	leaver.Leave()
	b.until(t, "the leave at the broker beside them", func(n map[string]int) bool { return n["absent"] == 1 })
	for range 9 {
		b.release <- struct{}{}
	}
	b.until(t, "the broker answered them all", func(n map[string]int) bool { return n["present"] == 0 && n["absent"] == 0 })
	for _, sock := range joined {
		sock.Leave()
	}
}
