package redisbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/firestorearchive"
	"github.com/chatrun/chat/realtime/redisbroker"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/brokertest"
	"github.com/chatrun/chat/testkit/redistest"
)

// countingArchive is the real archive (the emulator), counting the times
// a room's newest messages are asked for.
type countingArchive struct {
	*firestorearchive.Archive
	latest atomic.Int64
}

func (c *countingArchive) Latest(ctx context.Context, room string, limit int) ([]realtime.Message, error) {
	c.latest.Add(1)
	return c.Archive.Latest(ctx, room, limit)
}

// Opening a room reads; it writes nothing to the store. A made-up room
// leaves no key in Redis however often it is opened, and opening it again
// soon does not ask Firestore again; the room's first message numbers it
// from 1 as usual.
func TestReadingARoomWritesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	archive := &countingArchive{Archive: emulatorArchive(t)}
	c := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	b := redisbroker.New(c, 20, redisbroker.WithArchive(archive, nil))
	t.Cleanup(func() {
		b.Close()
		c.Close()
	})
	rooms := make([]string, 30)
	for i := range rooms {
		rooms[i] = testkit.Room()
	}
	for round := range 3 {
		for _, room := range rooms {
			if hist, err := b.History(ctx, room); err != nil || len(hist) != 0 {
				t.Fatalf("history of made-up room %s: %v, %v", room, hist, err)
			}
		}
		if keys, err := c.Keys(ctx, "*").Result(); err != nil || len(keys) != 0 {
			t.Fatalf("round %d: opening %d made-up rooms left keys in Redis: %v (%v)", round, len(rooms), keys, err)
		}
		if n := archive.latest.Load(); n != int64(len(rooms)) {
			t.Fatalf("round %d: Firestore was asked %d times for %d made-up rooms, want once each", round, n, len(rooms))
		}
	}
	m, _, err := b.Send(ctx, rooms[0], realtime.Message{Name: "ann", Text: "first", Time: time.Now()}, "")
	if err != nil || m.Seq != 1 || !m.First {
		t.Fatalf("first message of a room opened before: %+v, %v; want seq 1, first", m, err)
	}
}

// A room restored from Firestore keeps its messages' verified marks.
func TestRestoredRoomKeepsVerified(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	archive := emulatorArchive(t)
	room := testkit.Room()
	var stored []realtime.Message
	for i := range 4 {
		stored = append(stored, realtime.Message{Seq: int64(i + 1), Name: "ann", Text: fmt.Sprint("m", i+1),
			Time: time.Unix(1_700_000_000+int64(i), 0).UTC(), Verified: i%2 == 0})
	}
	if err := archive.Store(ctx, room, stored); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
	b := redisbroker.New(c, 20, redisbroker.WithArchive(archive, nil))
	t.Cleanup(func() {
		b.Close()
		c.Close()
	})
	for _, read := range []string{"restored", "read again from Redis"} {
		hist, err := b.History(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != len(stored) {
			t.Fatalf("%s: %d messages, want %d", read, len(hist), len(stored))
		}
		for i, m := range hist {
			if m.Seq != stored[i].Seq || m.Verified != stored[i].Verified {
				t.Errorf("%s: message %d verified %v, want %v", read, m.Seq, m.Verified, stored[i].Verified)
			}
		}
	}
}

// entry is a message as the send script stores it (record.go's JSON).
func entry(t *testing.T, seq int, text string) string {
	t.Helper()
	e, err := json.Marshal(map[string]any{"seq": seq, "type": "message", "name": "ann", "text": text, "ts": time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return string(e)
}

// storeBeforeTheUpgrade leaves room in Redis as a send of the old service
// did: n messages in its history and its archive stream, numbered, and the
// room in the archivers' set.
func storeBeforeTheUpgrade(t *testing.T, ctx context.Context, rdb *redis.Client, room string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		e := entry(t, i, fmt.Sprint(room, " m", i))
		if err := rdb.RPush(ctx, "chat:{"+room+"}:history", e).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "chat:{" + room + "}:archive", Values: []any{"e", e}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "chat:{"+room+"}:seq", n, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.SAdd(ctx, "chat:archive:rooms", room).Err(); err != nil {
		t.Fatal(err)
	}
}

// refusedFirst adds to the archivers' set a room whose name Firestore
// refuses, choosing the name among look-alikes so that it comes first in
// the set's order, which is the archivers' order: a pass that ended at it
// would archive no other room, so that this test fails for sure without
// the fix.
func refusedFirst(t *testing.T, ctx context.Context, rdb *redis.Client) string {
	t.Helper()
	for i := range 200 {
		room := fmt.Sprintf("__x%d__", i)
		if err := rdb.SAdd(ctx, "chat:archive:rooms", room).Err(); err != nil {
			t.Fatal(err)
		}
		rooms, err := rdb.SMembers(ctx, "chat:archive:rooms").Result()
		if err != nil {
			t.Fatal(err)
		}
		if rooms[0] == room {
			return room
		}
		if err := rdb.SRem(ctx, "chat:archive:rooms", room).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no reserved-looking name came first in the set")
	return ""
}

// A room whose messages Firestore refuses (a name it reserves, stored
// before the door refused such names) is set aside and reported, its
// messages kept in Redis for a later try, while two instances' archivers
// archive every other room and sends go on.
func TestRefusedRoomIsSetAsideOthersGoOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	archive := emulatorArchive(t)
	addr := redistest.Start(t).Addr
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	rooms := make([]string, 8)
	for i := range rooms {
		rooms[i] = testkit.Room()
		storeBeforeTheUpgrade(t, ctx, rdb, rooms[i], 3)
	}
	// More messages than an archiver reads at once (500): each instance's
	// first pass takes some of them, so that each meets the refusal (a
	// pass that stopped there would leave the other rooms to nobody).
	bad := refusedFirst(t, ctx, rdb)
	storeBeforeTheUpgrade(t, ctx, rdb, bad, 600)
	if order, err := rdb.SMembers(ctx, "chat:archive:rooms").Result(); err != nil || order[0] != bad {
		t.Fatalf("the archivers' set is in the order %v (%v), want %s first", order, err, bad)
	}

	var mu sync.Mutex
	var reports []string
	archived := func(_ int, err error) {
		if err != nil {
			mu.Lock()
			reports = append(reports, err.Error())
			mu.Unlock()
		}
	}
	var brokers []*redisbroker.Broker
	for range 2 {
		c := redis.NewClient(&redis.Options{Addr: addr})
		b := redisbroker.New(c, 20, redisbroker.WithArchive(archive, archived))
		t.Cleanup(func() {
			b.Close()
			c.Close()
		})
		brokers = append(brokers, b)
	}
	for i, room := range rooms {
		m, _, err := brokers[i%2].Send(ctx, room, realtime.Message{Name: "bob", Text: "after", Time: time.Now()}, "")
		if err != nil || m.Seq != 4 {
			t.Fatalf("send in %s: %+v, %v; want seq 4", room, m, err)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	testkit.WaitFor(t, wctx, "every ordinary room's 4 messages in Firestore within 10 s", func() bool {
		for _, room := range rooms {
			if msgs, err := archive.Latest(wctx, room, 10); err != nil || len(msgs) != 4 {
				return false
			}
		}
		return true
	})
	testkit.WaitFor(t, ctx, "the refused room reported as set aside", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(reports, func(r string) bool {
			return strings.Contains(r, fmt.Sprintf("room %q set aside", bad)) && strings.Contains(r, "Firestore refuses")
		})
	})
	if n, err := rdb.XLen(ctx, "chat:{"+bad+"}:archive").Result(); err != nil || n != 600 {
		t.Errorf("the refused room's stream holds %d entries (%v), want its 600 kept for a later try", n, err)
	}
}

// scanRoom lists the keys of room, on one Redis or on every primary of a
// cluster.
func scanRoom(t *testing.T, ctx context.Context, c redis.UniversalClient, room string) []string {
	t.Helper()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, n redis.Cmdable) error {
		it := n.Scan(ctx, 0, "chat:{"+room+"}:*", 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			keys = append(keys, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Nonce guards cost Redis what is active, not what was sent: a few
// sessions sending many messages leave at most two small hashes each in
// the room, which expire with the room (ROOM_TTL) or sooner; and each
// session's recent nonces (its resend window) are still recognised,
// answered with the original's number.
func TestGuardsAreBoundedBySessions(t *testing.T) {
	for name, newClient := range map[string]func(t *testing.T) redis.UniversalClient{
		"redis": func(t *testing.T) redis.UniversalClient {
			return redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
		},
		"cluster": func(t *testing.T) redis.UniversalClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.ClusterAddrs(t)})
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := brokertest.Context(t)
			c := newClient(t)
			const roomTTL = 10 * time.Minute
			b := redisbroker.New(c, 20, redisbroker.WithRoomTTL(roomTTL))
			t.Cleanup(func() {
				b.Close()
				c.Close()
			})
			room := testkit.Room()
			const sessions, each = 3, 300
			seqs := map[string]int64{}
			for i := range each {
				for s := range sessions {
					guard := fmt.Sprintf("S%d:nonce-%d", s, i)
					m, dup, err := b.Send(ctx, room, realtime.Message{Name: fmt.Sprint("u", s), Text: guard, Time: time.Now()}, guard)
					if err != nil || dup {
						t.Fatalf("send %s: dup %v, %v", guard, dup, err)
					}
					seqs[guard] = m.Seq
				}
			}
			keys := scanRoom(t, ctx, c, room)
			var guards []string
			fields := int64(0)
			for _, k := range keys {
				if !strings.Contains(k, ":guard") {
					continue
				}
				guards = append(guards, k)
				ttl, err := c.PTTL(ctx, k).Result()
				if err != nil {
					t.Fatal(err)
				}
				if ttl <= 0 || ttl > roomTTL {
					t.Errorf("guard key %s expires in %v, want within ROOM_TTL (%v)", k, ttl, roomTTL)
				}
				if n, err := c.HLen(ctx, k).Result(); err == nil {
					fields += n
				}
			}
			if len(guards) > 2*sessions {
				t.Fatalf("%d sessions sending %d messages each left %d guard keys, want at most %d", sessions, each, len(guards), 2*sessions)
			}
			if fields > 2*64*sessions {
				t.Errorf("the guards hold %d nonces, want at most %d", fields, 2*64*sessions)
			}
			// A page resends its unanswered messages: the newest 64 of each
			// session are known, whatever the others sent meanwhile.
			for s := range sessions {
				for i := each - 64; i < each; i++ {
					guard := fmt.Sprintf("S%d:nonce-%d", s, i)
					m, dup, err := b.Send(ctx, room, realtime.Message{Name: fmt.Sprint("u", s), Text: "again", Time: time.Now()}, guard)
					if err != nil || !dup || m.Seq != seqs[guard] {
						t.Fatalf("resend %s: seq %d dup %v (%v), want seq %d dup", guard, m.Seq, dup, err, seqs[guard])
					}
				}
			}
			if hist, err := b.History(ctx, room); err != nil || hist[len(hist)-1].Seq != sessions*each {
				t.Fatalf("resends were stored: the newest message is %d, want %d (%v)", hist[len(hist)-1].Seq, sessions*each, err)
			}
		})
	}
}
