package redisbroker_test

import (
	"testing"
	"time"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/brokertest"
)

// A created room's info and members never expire (a private room stays
// private), its invitations expire with the last one, and each member's
// index of rooms lives under {!identity}.
func TestPrivateRoomKeys(t *testing.T) {
	for name, kind := range map[string]func(*testing.T) brokertest.Factory{
		"redis": brokertest.Redis, "cluster": brokertest.Cluster,
	} {
		t.Run(name, func(t *testing.T) {
			f := kind(t)
			ctx := brokertest.Context(t)
			b := f.Make(t, 100).(realtime.Rooms)
			room := testkit.Room()
			member := "m-" + room
			if err := b.CreateRoom(ctx, room, realtime.RoomInfo{Visibility: realtime.Private, Creator: member}); err != nil {
				t.Fatal(err)
			}
			if err := b.AddInvite(ctx, room, "inv", time.Hour); err != nil {
				t.Fatal(err)
			}
			c := f.Client()
			defer c.Close()
			for key, typ := range map[string]string{
				"chat:{" + room + "}:info":         "string",
				"chat:{" + room + "}:members":      "set",
				"chat:{" + room + "}:invites":      "zset",
				"chat:{!identity}:rooms:" + member: "set",
			} {
				if got, err := c.Type(ctx, key).Result(); err != nil || got != typ {
					t.Errorf("%s is a %q (%v), want a %s", key, got, err, typ)
				}
				ttl, err := c.PTTL(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				if key == "chat:{"+room+"}:invites" {
					if ttl <= 59*time.Minute || ttl > time.Hour {
						t.Errorf("%s expires in %v, want with its last invitation, in an hour", key, ttl)
					}
				} else if ttl != -1 {
					t.Errorf("%s expires in %v, want never", key, ttl)
				}
			}
		})
	}
}
