package redisbroker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/firestorearchive"
	"github.com/chatrun/chat/realtime/redisbroker"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/firestoretest"
	"github.com/chatrun/chat/testkit/redistest"
)

// emulatorArchive is an archive on the Firestore emulator, in a project of
// the test's own, warmed up: a cold emulator's first answer can take longer
// than a send waits for the archive, which these tests are not about. The
// warm-up has a deadline of its own, so that a cold emulator on a busy
// machine does not eat into what the test waits for.
func emulatorArchive(t *testing.T) *firestorearchive.Archive {
	t.Helper()
	t.Setenv("FIRESTORE_EMULATOR_HOST", firestoretest.Host(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fs, err := firestore.NewClient(context.Background(), firestoretest.Project())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	archive := firestorearchive.New(fs)
	if _, err := archive.Latest(ctx, "warm-up", 1); err != nil {
		t.Fatal(err)
	}
	return archive
}

// Two instances' archivers drain a room's stream into Firestore, each
// message once; a drained stream leaves no key behind (rooms long gone
// leave nothing in Redis), and messages sent after it went are archived
// too, whichever archiver finds them first.
func TestArchiversDrainAndLeaveNoKeys(t *testing.T) {
	archive := emulatorArchive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := redistest.Addr(t)

	var mu sync.Mutex
	var errs []error
	archived := func(_ int, err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	var brokers []*redisbroker.Broker
	for range 2 {
		c := redis.NewClient(&redis.Options{Addr: addr})
		b := redisbroker.New(c, 20, redisbroker.WithArchive(archive, archived), redisbroker.WithArchiveStreamIdle(500*time.Millisecond))
		t.Cleanup(func() {
			b.Close()
			c.Close()
		})
		brokers = append(brokers, b)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	room := testkit.Room()
	stream := "chat:{" + room + "}:archive"

	sent := 0
	for round := range 3 {
		for range 5 {
			sent++
			m := realtime.Message{Name: "ann", Text: fmt.Sprint("m", sent), Time: time.Now()}
			if _, _, err := brokers[sent%2].Send(ctx, room, m, ""); err != nil {
				t.Fatal(err)
			}
		}
		testkit.WaitFor(t, ctx, fmt.Sprintf("round %d: the %d messages in Firestore, and no stream left", round, sent), func() bool {
			msgs, _, err := archive.Before(ctx, room, 1<<40, 100)
			if err != nil || len(msgs) != sent {
				return false
			}
			n, err := rdb.Exists(ctx, stream).Result()
			return err == nil && n == 0
		})
		msgs, _, _ := archive.Before(ctx, room, 1<<40, 100)
		var seqs []int64
		for _, m := range msgs {
			seqs = append(seqs, m.Seq)
		}
		want := make([]int64, sent)
		for i := range want {
			want[i] = int64(i + 1)
		}
		if !slices.Equal(seqs, want) {
			t.Fatalf("round %d: Firestore holds %v, want 1..%d once each", round, seqs, sent)
		}
		if in, err := rdb.SIsMember(ctx, "chat:archive:rooms", room).Result(); err != nil || in {
			t.Fatalf("round %d: the room is still in the archivers' set (%v)", round, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("the archivers reported errors: %v", errs)
	}
}

// A counter Redis lost while the room's hot window survived (an evicted
// key) goes on from the newest number anywhere: the hot window's, even
// when the archive is behind it.
func TestLostCounterGoesOnFromTheNewest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	archive := emulatorArchive(t)
	addr := redistest.Addr(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	b := redisbroker.New(c, 20, redisbroker.WithArchive(archive, nil))
	t.Cleanup(func() {
		b.Close()
		c.Close()
	})
	room := testkit.Room()
	send := func(text string) int64 {
		t.Helper()
		m, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Text: text, Time: time.Now()}, "")
		if err != nil {
			t.Fatal(err)
		}
		return m.Seq
	}
	for i := range 5 {
		send(fmt.Sprint("m", i+1))
	}
	testkit.WaitFor(t, ctx, "5 messages in Firestore", func() bool {
		msgs, _ := archive.Latest(ctx, room, 10)
		return len(msgs) == 5
	})
	// The archive is now behind the hot window by three, at most.
	for i := range 3 {
		send(fmt.Sprint("m", i+6))
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.Del(ctx, "chat:{"+room+"}:seq").Err(); err != nil {
		t.Fatal(err)
	}
	if seq := send("after the counter was lost"); seq != 9 {
		t.Fatalf("the message after the counter was lost is number %d, want 9", seq)
	}
	hist, err := b.History(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 9 || hist[0].Seq != 1 || hist[8].Seq != 9 {
		t.Fatalf("the hot window holds %d messages after the restore, want 1..9 once each", len(hist))
	}
}
