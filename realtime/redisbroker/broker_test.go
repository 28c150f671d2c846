package redisbroker_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/brokertest"
)

// Brokers and their pub/sub connections must stop all they start.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The Redis broker keeps the Broker contract on one Redis, with classic
// and with sharded pub/sub, and on a Redis Cluster.
func TestBroker(t *testing.T) {
	for name, kind := range map[string]func(*testing.T) brokertest.Factory{
		"redis": brokertest.Redis, "redis-sharded": brokertest.RedisSharded, "cluster": brokertest.Cluster,
	} {
		t.Run(name, func(t *testing.T) { brokertest.Run(t, kind(t)) })
	}
}

// Every key of a room expires: a room nobody writes in for ROOM_TTL goes
// away by itself. Messages are stored as written, without HTML escaping.
func TestRoomKeysExpire(t *testing.T) {
	for name, kind := range map[string]func(*testing.T) brokertest.Factory{
		"redis": brokertest.Redis, "cluster": brokertest.Cluster,
	} {
		t.Run(name, func(t *testing.T) {
			f := kind(t)
			ctx := brokertest.Context(t)
			b := f.Make(t, 100)
			room := testkit.Room()
			ann := brokertest.User("ann")
			if held, err := b.Claim(ctx, room, ann, 15*time.Second); err != nil || !held {
				t.Fatal(held, err)
			}
			if err := b.Present(ctx, room, []realtime.User{ann}, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Text: `<b>"&"</b>`, Time: time.Now()}, "s1:g1"); err != nil {
				t.Fatal(err)
			}
			c := f.Client()
			defer c.Close()
			for _, k := range []string{"seq", "history", "guards:s1", "presence", "name:ann"} {
				key := "chat:{" + room + "}:" + k
				ttl, err := c.PTTL(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				if ttl <= 0 || ttl > realtime.DefaultRoomTTL {
					t.Errorf("%s expires in %v, want within ROOM_TTL (%v)", key, ttl, realtime.DefaultRoomTTL)
				}
				if (k == "seq" || k == "history") && ttl < realtime.DefaultRoomTTL-time.Minute {
					t.Errorf("%s expires in %v, want ROOM_TTL (%v) from the last message", key, ttl, realtime.DefaultRoomTTL)
				}
			}
			entry, err := c.LIndex(ctx, "chat:{"+room+"}:history", -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(entry, `"text":"<b>\"&\"</b>"`) {
				t.Errorf("stored entry %s: want the text as written, not HTML-escaped", entry)
			}
		})
	}
}

// MembersOf reads many rooms in one go and says what Members says of each,
// on one Redis and on a cluster (where the rooms live on several shards).
func TestMembersOf(t *testing.T) {
	for name, kind := range map[string]func(*testing.T) brokertest.Factory{
		"redis": brokertest.Redis, "cluster": brokertest.Cluster,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := brokertest.Context(t)
			b := kind(t).Make(t, 10)
			rooms := []string{testkit.Room(), testkit.Room(), testkit.Room(), testkit.Room()}
			for i, room := range rooms[:3] {
				var users []realtime.User
				for j := range i + 1 {
					users = append(users, brokertest.User(fmt.Sprint("u", j)))
				}
				if err := b.Present(ctx, room, users, 15*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			got, err := b.(realtime.MembersOf).MembersOf(ctx, rooms)
			if err != nil {
				t.Fatal(err)
			}
			for i, room := range rooms {
				want, err := b.Members(ctx, room)
				if err != nil {
					t.Fatal(err)
				}
				if len(got[room]) != []int{1, 2, 3, 0}[i] || !slices.Equal(got[room], want) {
					t.Errorf("room %d: MembersOf %v, Members %v", i, got[room], want)
				}
			}
		})
	}
}
