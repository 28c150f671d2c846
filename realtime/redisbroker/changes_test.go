package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/redisbroker"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/redistest"
)

// With the archive: an edit and a deletion reach Firestore after the
// message they change, a deletion leaves the text nowhere (not in the
// archive stream that had not been drained yet, not in Firestore), a
// message older than the hot window is changed in the archive, and a room
// Redis lost comes back from Firestore as changed.
func TestChangesReachTheArchive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	archive := emulatorArchive(t)
	addr := redistest.Addr(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	// A window of 3: message 1 falls out of it after four sends.
	b := redisbroker.New(c, 3, redisbroker.WithArchive(archive, nil), redisbroker.WithArchiveStreamIdle(200*time.Millisecond))
	t.Cleanup(func() { b.Close() })
	room := testkit.Room()
	secret := "secret " + room
	for i := 1; i <= 4; i++ {
		if _, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Author: "sess-ann", Text: fmt.Sprint(secret, " ", i), Time: time.Now()}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Message 4 is deleted at once, maybe before the archivers took it:
	// its first entry in the stream goes with it.
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: 4, Author: "sess-ann", Delete: true}, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: 3, Author: "sess-ann", Text: "fixed", Time: time.Now()}, ""); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, ctx, "the archive to hold messages 1 to 4 as changed", func() bool {
		msgs, _, err := archive.Before(ctx, room, 100, 10)
		return err == nil && len(msgs) == 4 && msgs[2].Text == "fixed" && msgs[3].Deleted == realtime.DeletedByAuthor && msgs[3].Text == ""
	})
	// Message 1 is out of the hot window: the archive alone has it.
	m, _, err := b.Change(ctx, room, realtime.Change{Seq: 1, Author: "sess-ann", Delete: true}, "")
	if err != nil || m.Deleted != realtime.DeletedByAuthor {
		t.Fatalf("delete an archived message: %+v %v", m, err)
	}
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: 2, Author: "sess-bob", Delete: true}, ""); err == nil {
		t.Fatal("another's delete of a message was taken")
	}
	msgs, _, err := archive.Before(ctx, room, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text, secret) && m.Seq != 2 {
			t.Errorf("the archive still holds message %d's text: %+v", m.Seq, m)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	testkit.WaitFor(t, ctx, "the archive stream drained", func() bool {
		n, err := rdb.Exists(ctx, "chat:{"+room+"}:archive").Result()
		return err == nil && n == 0
	})
	// Redis loses the room; its window comes back changed.
	if err := rdb.Del(ctx, "chat:{"+room+"}:seq", "chat:{"+room+"}:history").Err(); err != nil {
		t.Fatal(err)
	}
	hist, err := b.History(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[1].Text != "fixed" || hist[1].Edited.IsZero() || hist[2].Deleted != realtime.DeletedByAuthor || hist[2].Author != "sess-ann" {
		t.Fatalf("restored window = %+v, want 2, 3 edited, 4 deleted", hist)
	}
}

// With the archive, a private room stays private when Redis loses its
// data: its info and members come back from Firestore at its next use,
// so its archived history never opens to strangers. A room created while
// the archive cannot keep it is not created.
func TestPrivateRoomsSurviveARedisWipe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	archive := emulatorArchive(t)
	addr := redistest.Addr(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	b := redisbroker.New(c, 20, redisbroker.WithArchive(archive, nil))
	t.Cleanup(func() { b.Close() })
	room := testkit.Room()
	if err := b.CreateRoom(ctx, room, realtime.RoomInfo{Visibility: realtime.Private, Creator: "m-ann"}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddMember(ctx, room, "m-bob"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Author: "m-ann", Text: "private words", Time: time.Now()}, ""); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	// Every key of the room, as FLUSHALL would (the index is another
	// slot's, and goes too).
	keys, err := rdb.Keys(ctx, "chat:{"+room+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, ctx, "the message archived", func() bool {
		msgs, err := archive.Latest(ctx, room, 1)
		return err == nil && len(msgs) == 1
	})
	if err := rdb.Del(ctx, append(keys, "chat:{!identity}:rooms:m-ann", "chat:{!identity}:rooms:m-bob")...).Err(); err != nil {
		t.Fatal(err)
	}
	info, err := b.RoomInfo(ctx, room)
	if err != nil || info.Visibility != realtime.Private || info.Creator != "m-ann" {
		t.Fatalf("after the wipe, RoomInfo = %+v %v, want private, Ann's", info, err)
	}
	for member, want := range map[string]bool{"m-ann": true, "m-bob": true, "m-carol": false} {
		if in, err := b.IsMember(ctx, room, member); err != nil || in != want {
			t.Errorf("after the wipe, IsMember(%s) = %v %v, want %v", member, in, err, want)
		}
	}
	if rooms, err := b.RoomsOf(ctx, "m-bob"); err != nil || len(rooms) != 1 || rooms[0] != room {
		t.Errorf("after the wipe, Bob's rooms = %v %v", rooms, err)
	}
	// And its name cannot be taken by someone else.
	if err := b.CreateRoom(ctx, room, realtime.RoomInfo{Visibility: realtime.Private, Creator: "m-mallory"}); !errors.Is(err, realtime.ErrRoomTaken) {
		t.Fatalf("creating the wiped room again: %v, want ErrRoomTaken", err)
	}
}

// Reactions and replies reach Firestore: a reaction to a message only the
// archive holds is kept there, and a reply in the hot window to such a
// message follows its edit and its deletion, in Redis and in the archive,
// and comes back with the window after Redis loses the room.
func TestReactionsAndRepliesReachTheArchive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	archive := emulatorArchive(t)
	addr := redistest.Addr(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	b := redisbroker.New(c, 3, redisbroker.WithArchive(archive, nil), redisbroker.WithArchiveStreamIdle(200*time.Millisecond))
	t.Cleanup(func() { b.Close() })
	room := testkit.Room()
	secret := "secret " + room
	orig, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Author: "sess-ann", Text: secret, Time: time.Now()}, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := b.Send(ctx, room, realtime.Message{Name: "bob", Author: "sess-bob", Text: fmt.Sprint("filler ", i), Time: time.Now()}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Message 1 is out of the window of 3 now.
	testkit.WaitFor(t, ctx, "the archive to hold message 1", func() bool {
		msgs, _, err := archive.Before(ctx, room, 2, 1)
		return err == nil && len(msgs) == 1
	})
	if m, _, err := b.Change(ctx, room, realtime.Change{Seq: orig.Seq, Author: "sess-bob", Name: "bob", React: "🎉"}, ""); err != nil || len(m.Reactions) != 1 {
		t.Fatalf("react to an archived message: %+v %v", m, err)
	}
	q := realtime.QuoteOf(orig)
	reply, _, err := b.Send(ctx, room, realtime.Message{Name: "bob", Author: "sess-bob", Text: "answer", Time: time.Now(), ReplyTo: orig.Seq, Quote: &q}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: orig.Seq, Author: "sess-ann", Text: "fixed", Time: time.Now()}, ""); err != nil {
		t.Fatal(err)
	}
	windowQuote := func() *realtime.Quote {
		hist, err := b.History(ctx, room)
		if err != nil || len(hist) == 0 || hist[len(hist)-1].Seq != reply.Seq {
			t.Fatalf("history = %+v err %v", hist, err)
		}
		return hist[len(hist)-1].Quote
	}
	if got := windowQuote(); got == nil || got.Text != "fixed" {
		t.Fatalf("the reply's quote after an edit of the archived original = %+v", got)
	}
	// The reply leaves the window before the original is deleted: the
	// archive's copy of it loses the quoted text too.
	for i := range 3 {
		if _, _, err := b.Send(ctx, room, realtime.Message{Name: "bob", Author: "sess-bob", Text: fmt.Sprint("later ", i), Time: time.Now()}, ""); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, ctx, "the archive to hold the reply", func() bool {
		msgs, _, err := archive.Before(ctx, room, reply.Seq+1, 1)
		return err == nil && len(msgs) == 1 && msgs[0].Seq == reply.Seq && msgs[0].Quote != nil && msgs[0].Quote.Text == "fixed"
	})
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: orig.Seq, Author: "sess-ann", Delete: true}, ""); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, ctx, "the archive to hold the reply quoting a deleted message, and no reactions on it", func() bool {
		msgs, _, err := archive.Before(ctx, room, reply.Seq+1, 10)
		if err != nil || len(msgs) != int(reply.Seq) {
			return false
		}
		first, last := msgs[0], msgs[len(msgs)-1]
		return first.Deleted != "" && first.Reactions == nil && last.Quote != nil && last.Quote.Deleted == realtime.DeletedByAuthor && last.ReplyTo == orig.Seq
	})
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for _, key := range []string{"chat:{" + room + "}:history", "chat:{" + room + "}:archive"} {
		vals, err := rdb.LRange(ctx, key, 0, -1).Result()
		if err != nil && !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatal(err)
		}
		for _, v := range vals {
			if strings.Contains(v, secret) {
				t.Errorf("%s still holds the deleted text: %s", key, v)
			}
		}
	}
	testkit.WaitFor(t, ctx, "the archive stream drained", func() bool {
		n, err := rdb.Exists(ctx, "chat:{"+room+"}:archive").Result()
		return err == nil && n == 0
	})
	if err := rdb.Del(ctx, "chat:{"+room+"}:seq", "chat:{"+room+"}:history").Err(); err != nil {
		t.Fatal(err)
	}
	if hist, err := b.History(ctx, room); err != nil || len(hist) != 3 || hist[0].Seq != reply.Seq+1 {
		t.Fatalf("the restored window = %+v err %v", hist, err)
	}
}
