package realtime

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// touchCounter is a memory broker that counts the directory notes that
// someone is in a room.
type touchCounter struct {
	*MemoryBroker
	present atomic.Int64
}

func (b *touchCounter) Touch(ctx context.Context, room string, at time.Time, message bool) error {
	if !message {
		b.present.Add(1)
	}
	return b.MemoryBroker.Touch(ctx, room, at, message)
}

// A crowd joining one room tells the directory once per presence beat, not
// once a joiner, and the room is listed.
func TestCrowdJoiningTellsTheDirectoryOnce(t *testing.T) {
	b := &touchCounter{MemoryBroker: NewMemoryBroker(100)}
	defer b.Close()
	// A beat far longer than the test: only the joins note the room. A
	// batch as long: the list the pages were sent names the joiners the
	// first read found, and the others only an hour later.
	h, stop := StartHub(b, textRenderer{}, WithPresenceTiming(presenceTiming{LeaveGrace: time.Minute, Beat: time.Hour, TTL: 2 * time.Hour, Batch: time.Hour}))
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const joiners = 20
	for i := range joiners {
		sock, err := h.Join(ctx, "crowd", User{Name: fmt.Sprint("u", i), Session: fmt.Sprint("s", i)}, NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Leave()
	}
	// Each join records its presence in the background: wait for all.
	for {
		names, err := h.MemberNames(ctx, "crowd")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) == joiners {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d joiners listed", len(names), joiners)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if n := b.present.Load(); n != 1 {
		t.Errorf("%d joiners noted the room in the directory %d times, want 1", joiners, n)
	}
	// The directory counts everyone with a socket here at once, not only
	// those the pages' list names yet.
	rooms, err := h.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 1 || rooms[0] != (RoomCount{Room: "crowd", Members: joiners}) {
		t.Errorf("directory: %+v, want crowd with %d", rooms, joiners)
	}
}
