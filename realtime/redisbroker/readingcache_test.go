package redisbroker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/redistest"
)

// An instance that hears the announcements of changes answers a poll of a
// person's rooms from what it keeps, reading nothing from Redis; a read
// mark, a level or a mention made on another instance reaches it as soon
// as it is announced, and a message there as soon as its room's head is
// read again.
func TestReadingKeptWhileHearingChanges(t *testing.T) {
	addr := redistest.Start(t).Addr // its own: the test counts every command
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newBroker := func() *Broker {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		b := New(rdb, 100)
		t.Cleanup(func() {
			b.Close()
			rdb.Close()
		})
		if err := b.Subscribe(ctx, realtime.SignOutsRoom); err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := newBroker(), newBroker()
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	room, ann := testkit.Room(), "s:ann"
	send := func(on *Broker, text string) {
		m, _, err := on.Send(ctx, room, realtime.Message{Name: "bob", Text: text, Time: time.Now()}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := on.Arrived(ctx, room, m, "s:bob"); err != nil {
			t.Fatal(err)
		}
	}
	send(a, "hello")
	if err := a.MarkRead(ctx, room, ann, "ann", 1); err != nil {
		t.Fatal(err)
	}
	standing := func(on *Broker) string {
		r := onlyRoomOf(t, ctx, on, ann)
		return strconv.FormatInt(r.Read, 10) + "/" + strconv.FormatInt(r.Newest, 10) + " @" + strconv.Itoa(r.Mentions) + " " + string(r.Level)
	}
	wait := func(on *Broker, want string) {
		t.Helper()
		var got string
		testkit.WaitFor(t, ctx, "ann's standing "+want, func() bool { got = standing(on); return got == want })
	}
	wait(b, "1/1 @0 mentions")
	before := redistest.Calls(t, admin)
	for range 20 {
		if got := standing(b); got != "1/1 @0 mentions" {
			t.Fatalf("kept standing %q", got)
		}
	}
	// Its room's head is read again every headsFresh at most (GET and
	// HGET), and a client may say HELLO on a new connection: a few
	// commands, where reading anything per poll would be 20 or more.
	if n := redistest.Calls(t, admin) - before; n >= 10 {
		t.Errorf("20 polls of a kept list ran %d commands in Redis, want a few", n)
	}
	// Changes made on a: a mention, a level, a read mark.
	send(a, "@ann look")
	wait(b, "1/2 @1 mentions")
	if err := a.SetLevel(ctx, room, ann, realtime.LevelAll); err != nil {
		t.Fatal(err)
	}
	wait(b, "1/2 @1 all")
	// What she read is raised in place on every instance that keeps her
	// rooms: none reads them again.
	before = redistest.Calls(t, admin, "zrange", "hmget")
	if err := a.MarkRead(ctx, room, ann, "", 2); err != nil {
		t.Fatal(err)
	}
	wait(b, "2/2 @0 all")
	if n := redistest.Calls(t, admin, "zrange", "hmget") - before; n != 0 {
		t.Errorf("what she read had her rooms read again (%d ZRANGE and HMGET), want none", n)
	}

	// Her own message raises her read mark on every instance, past the
	// mention she had not read, and neither reads her rooms again.
	send(a, "@ann again")
	wait(b, "2/3 @1 all")
	wait(a, "2/3 @1 all")
	before = redistest.Calls(t, admin, "zrange", "hmget")
	m, _, err := a.Send(ctx, room, realtime.Message{Name: "ann", Text: "here", Time: time.Now()}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Arrived(ctx, room, m, ann); err != nil {
		t.Fatal(err)
	}
	wait(b, "4/4 @0 all")
	wait(a, "4/4 @0 all")
	// The one HMGET is Arrived's own, of the room's reading hash.
	if n := redistest.Calls(t, admin, "zrange", "hmget") - before; n != 1 {
		t.Errorf("her own message had her rooms read again (%d ZRANGE and HMGET, one of them Arrived's), want none", n)
	}
	// The mention she read so is gone from what is kept, not only hidden
	// while nothing is unread.
	send(a, "after")
	wait(b, "4/5 @0 all")
}

// A message sent as the handlers send it (SendCounted) is one round trip
// to Redis, and raises its sender's read mark on every instance without
// an announcement of its own: an instance that follows the room reads it
// on the message (its "reader"), one that does not with the room's head,
// and neither reads the sender's rooms again.
func TestOwnMessageReadEverywhereInOneRoundTrip(t *testing.T) {
	addr := redistest.Start(t).Addr // its own: the test counts every command
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	room, ann := testkit.Room(), "s:ann"
	newBroker := func(rooms ...string) *Broker {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		b := New(rdb, 100)
		t.Cleanup(func() {
			b.Close()
			rdb.Close()
		})
		go func() { // what a hub does: take every event
			for range b.Events() {
			}
		}()
		for _, r := range append(rooms, realtime.SignOutsRoom) {
			if err := b.Subscribe(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	// a sends; follows follows the room (a page of it is open there);
	// apart keeps ann's rooms only for a page of hers in another room.
	a, follows, apart := newBroker(room), newBroker(room), newBroker()
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	if _, _, _, err := a.SendCounted(ctx, room, realtime.Message{Name: "bob", Text: "hello", Time: time.Now()}, "", "s:bob"); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkRead(ctx, room, ann, "ann", 1); err != nil {
		t.Fatal(err)
	}
	standing := func(on *Broker) string {
		r := onlyRoomOf(t, ctx, on, ann)
		return strconv.FormatInt(r.Read, 10) + "/" + strconv.FormatInt(r.Newest, 10)
	}
	wait := func(on *Broker, want string) {
		t.Helper()
		var got string
		testkit.WaitFor(t, ctx, "ann's standing "+want, func() bool { got = standing(on); return got == want })
	}
	all := []*Broker{a, follows, apart}
	for _, on := range all {
		wait(on, "1/1")
	}
	// Until each keeps her rooms: a read under way when her read mark's
	// announcement came (a's own, heard back) is not kept.
	testkit.WaitFor(t, ctx, "ann's rooms kept everywhere", func() bool {
		n := redistest.Calls(t, admin, "zrange")
		for _, on := range all {
			standing(on)
		}
		return redistest.Calls(t, admin, "zrange") == n
	})
	calls := func() map[string]int64 {
		out := map[string]int64{}
		for _, c := range []string{"evalsha", "eval", "publish", "incr", "zrange", "hmget", "hget", "hset", "hexists", "exists"} {
			out[c] = redistest.Calls(t, admin, c)
		}
		return out
	}
	before := calls()
	m, dup, notify, err := a.SendCounted(ctx, room, realtime.Message{Name: "ann", Text: "mine", Time: time.Now()}, "ann:n1", ann)
	if err != nil || dup || len(notify) != 0 || m.Seq != 2 {
		t.Fatalf("SendCounted = seq %d dup %v tell %q, %v; want seq 2 stored, nobody told", m.Seq, dup, notify, err)
	}
	sent := calls()
	// One script: its INCR (the seq) and its PUBLISH (the message); no
	// version raised, nothing else published.
	// Inside it, the room's reading hash is read once and written once
	// (its last message, her read mark), and the nonce looked up in the
	// session's two guard hashes and added to one.
	for c, want := range map[string]int64{"evalsha": 1, "eval": 0, "publish": 1, "incr": 1,
		"hmget": 1, "hset": 2, "hget": 2, "hexists": 0, "exists": 0} {
		if n := sent[c] - before[c]; n != want {
			t.Errorf("a message cost %d %s, want %d", n, c, want)
		}
	}
	for _, on := range all {
		wait(on, "2/2")
	}
	if n := calls()["zrange"] + calls()["hmget"] - sent["zrange"] - sent["hmget"]; n != 0 {
		t.Errorf("her own message had her rooms read again (%d ZRANGE and HMGET), want none", n)
	}
}

// onlyRoomOf is what on keeps of person's reading, who is in one room.
func onlyRoomOf(t *testing.T, ctx context.Context, on *Broker, person string) realtime.RoomReading {
	t.Helper()
	rooms, err := on.ReadingOf(ctx, person)
	if err != nil || len(rooms) != 1 {
		t.Fatalf("ReadingOf(%q): %v %v", person, rooms, err)
	}
	return rooms[0]
}
