package brokertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
)

// changesMessages: an author edits and deletes their own messages, a
// moderator deletes anyone's, nobody else changes one; each change is
// stored, relayed to every instance in order with the messages, applied
// once under its guard, and a deleted message's text is gone from the
// store, not hidden.
func changesMessages(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	room := testkit.Room()
	if err := other.Subscribe(ctx, room); err != nil {
		t.Fatal(err)
	}
	secret := "the old text " + testkit.Room()
	var sent []realtime.Message
	for i := range 3 {
		m, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Text: fmt.Sprint(secret, " ", i), Author: "sess-ann", Time: time.Now().UTC()}, "")
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
		if ev := nextEvent(t, ctx, other); ev.Kind != realtime.KindMessage || ev.Message.Author != "sess-ann" {
			t.Fatalf("message event = %+v, want ann's with its author", ev)
		}
	}

	edited, dup, err := b.Change(ctx, room, realtime.Change{Seq: sent[0].Seq, Author: "sess-ann", Text: "fixed", Time: time.Now()}, "sess-ann:e1")
	if err != nil || dup || edited.Text != "fixed" || edited.Edited.IsZero() || edited.Seq != sent[0].Seq || edited.Name != "ann" {
		t.Fatalf("edit: %+v dup %v err %v", edited, dup, err)
	}
	if ev := nextEvent(t, ctx, other); ev.Kind != realtime.KindChanged || ev.Message.Seq != sent[0].Seq || ev.Message.Text != "fixed" || ev.Message.Edited.IsZero() {
		t.Fatalf("edit event = %+v", ev)
	}
	if _, dup, err := b.Change(ctx, room, realtime.Change{Seq: sent[0].Seq, Author: "sess-ann", Text: "fixed twice", Time: time.Now()}, "sess-ann:e1"); err != nil || !dup {
		t.Fatalf("a repeated edit: dup %v err %v, want it applied once", dup, err)
	}
	for _, c := range []realtime.Change{
		{Seq: sent[1].Seq, Author: "sess-bob", Text: "not yours"},
		{Seq: sent[1].Seq, Author: "sess-bob", Delete: true},
		{Seq: sent[1].Seq, Author: "", Delete: true},
	} {
		if _, _, err := other.Change(ctx, room, c, ""); !errors.Is(err, realtime.ErrNotAuthor) {
			t.Fatalf("change %+v by another: %v, want ErrNotAuthor", c, err)
		}
	}
	gone, _, err := b.Change(ctx, room, realtime.Change{Seq: sent[1].Seq, Author: "sess-ann", Delete: true}, "sess-ann:d1")
	if err != nil || gone.Deleted != realtime.DeletedByAuthor || gone.Text != "" || gone.Seq != sent[1].Seq {
		t.Fatalf("delete: %+v err %v", gone, err)
	}
	if ev := nextEvent(t, ctx, other); ev.Kind != realtime.KindChanged || ev.Message.Deleted != realtime.DeletedByAuthor || ev.Message.Text != "" {
		t.Fatalf("delete event = %+v", ev)
	}
	for _, c := range []realtime.Change{
		{Seq: sent[1].Seq, Author: "sess-ann", Text: "back again"},
		{Seq: sent[1].Seq, Author: "sess-mod", Moderator: true, Delete: true},
		{Seq: 99, Author: "sess-ann", Delete: true},
	} {
		if _, _, err := b.Change(ctx, room, c, ""); !errors.Is(err, realtime.ErrNoMessage) {
			t.Fatalf("change %+v: %v, want ErrNoMessage", c, err)
		}
	}
	removed, _, err := other.Change(ctx, room, realtime.Change{Seq: sent[2].Seq, Author: "sess-mod", Moderator: true, Delete: true}, "")
	if err != nil || removed.Deleted != realtime.DeletedByModerator || removed.Text != "" {
		t.Fatalf("a moderator's delete: %+v err %v", removed, err)
	}
	if ev := nextEvent(t, ctx, other); ev.Kind != realtime.KindChanged || ev.Message.Deleted != realtime.DeletedByModerator {
		t.Fatalf("a moderator's delete event = %+v", ev)
	}

	hist, err := other.History(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fixed", "", ""}
	for i, m := range hist {
		if m.Seq != sent[i].Seq || m.Text != want[i] || m.Author != "sess-ann" || (i == 0) == m.Edited.IsZero() || (i > 0) != (m.Deleted != "") {
			t.Errorf("history[%d] = %+v, want seq %d text %q", i, m, sent[i].Seq, want[i])
		}
	}
	if len(hist) > 0 && !hist[0].First {
		t.Errorf("the room's first message, edited, lost its first mark: %+v", hist[0])
	}
	if f.Client != nil {
		if where := holding(t, f, room, secret); where != "" {
			t.Errorf("the store still holds the old text in %s", where)
		}
	}
}

// holding returns the first of room's Redis keys whose value holds text,
// "" when none does. A room's keys share one hash tag: on a cluster they
// are on one node, so every master is scanned.
func holding(t *testing.T, f Factory, room, text string) string {
	t.Helper()
	ctx := Context(t)
	c := f.Client()
	defer c.Close()
	var nodes []redis.Cmdable
	if cc, ok := c.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			nodes = append(nodes, n)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		nodes = append(nodes, c)
	}
	for _, n := range nodes {
		keys, err := scanAll(ctx, n, "chat:{"+room+"}:*")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			vals, err := values(ctx, n, k)
			if err != nil {
				t.Fatalf("read %s: %v", k, err)
			}
			for _, v := range vals {
				if strings.Contains(v, text) {
					return k
				}
			}
		}
	}
	return ""
}

func scanAll(ctx context.Context, n redis.Cmdable, pattern string) ([]string, error) {
	var keys []string
	var cursor uint64
	for {
		page, next, err := n.Scan(ctx, cursor, pattern, 100).Result()
		if err != nil {
			return nil, err
		}
		keys = append(keys, page...)
		if cursor = next; cursor == 0 {
			return keys, nil
		}
	}
}

// values returns every string a key holds, whatever its type.
func values(ctx context.Context, n redis.Cmdable, key string) ([]string, error) {
	typ, err := n.Type(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	switch typ {
	case "string":
		v, err := n.Get(ctx, key).Result()
		return []string{v}, err
	case "list":
		return n.LRange(ctx, key, 0, -1).Result()
	case "set":
		return n.SMembers(ctx, key).Result()
	case "zset":
		return n.ZRange(ctx, key, 0, -1).Result()
	case "hash":
		m, err := n.HGetAll(ctx, key).Result()
		var out []string
		for k, v := range m {
			out = append(out, k, v)
		}
		return out, err
	case "stream":
		entries, err := n.XRange(ctx, key, "-", "+").Result()
		var out []string
		for _, e := range entries {
			for k, v := range e.Values {
				out = append(out, k, fmt.Sprint(v))
			}
		}
		return out, err
	}
	return nil, nil
}

// removesPeople: a removal holds a session out of one room, on every
// instance, until its time; every instance in the room hears of it.
func removesPeople(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	room, elsewhere := testkit.Room(), testkit.Room()
	if err := other.Subscribe(ctx, room); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(ctx, room, "sess-troll", "troll", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ctx, other); ev.Kind != realtime.KindRemoved || ev.Room != room || ev.Message.Author != "sess-troll" || ev.Message.Name != "troll" {
		t.Fatalf("removal event = %+v", ev)
	}
	until, removed, err := other.Removed(ctx, room, "sess-troll")
	if err != nil || !removed || time.Until(until) < 59*time.Minute || time.Until(until) > time.Hour+time.Second {
		t.Fatalf("Removed = %v %v %v, want removed for an hour", until, removed, err)
	}
	for _, c := range [][2]string{{room, "sess-ann"}, {elsewhere, "sess-troll"}} {
		if _, removed, err := other.Removed(ctx, c[0], c[1]); err != nil || removed {
			t.Fatalf("Removed(%s, %s) = %v %v, want not removed", c[0], c[1], removed, err)
		}
	}
	if err := b.Remove(ctx, elsewhere, "sess-troll", "troll", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if until, removed, err := other.Removed(ctx, elsewhere, "sess-troll"); err != nil || !removed || !until.IsZero() {
		t.Fatalf("a removal for good: %v %v %v", until, removed, err)
	}
	if err := b.Remove(ctx, room, "sess-brief", "brief", time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, ctx, "a removal to end at its time", func() bool {
		_, removed, err := other.Removed(ctx, room, "sess-brief")
		return err == nil && !removed
	})
}

// findsANamesOwner: the identity a name is bound to, by that name or one
// that looks like it.
func findsANamesOwner(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	tag := strings.TrimPrefix(testkit.Room(), "room-")
	name := "Zed" + tag
	if _, err := b.BindName(ctx, "subject-"+tag, name); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{name, strings.ToUpper(name)} {
		if owner, err := b.NameOwner(ctx, n); err != nil || owner != "subject-"+tag {
			t.Errorf("NameOwner(%q) = %q %v, want subject-%s", n, owner, err, tag)
		}
	}
	if owner, err := b.NameOwner(ctx, "Nobody"+tag); err != nil || owner != "" {
		t.Errorf("NameOwner of an unbound name = %q %v", owner, err)
	}
}
