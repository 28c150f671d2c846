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

// A room's beats renew its entries, not every user's claim on a name: the
// claims are renewed once per claimRenew, so fifty people present cost a
// beat no GET or SET each, and their names stay theirs.
func TestPresenceBeatsRenewClaimsRarely(t *testing.T) {
	addr := redistest.Start(t).Addr // its own: the test counts commands
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	b := New(rdb, 100)
	defer b.Close()
	room := testkit.Room()
	const people, beats = 50, 10
	ttl := 15 * time.Second
	users := make([]realtime.User, people)
	for i := range users {
		users[i] = realtime.User{Session: "s" + strconv.Itoa(i), Name: "person" + strconv.Itoa(i)}
		if held, err := b.Claim(ctx, room, users[i], ttl); err != nil || !held {
			t.Fatal(held, err)
		}
	}
	before := redistest.Calls(t, rdb, "get", "set")
	for range beats {
		if err := b.Present(ctx, room, users, ttl); err != nil {
			t.Fatal(err)
		}
	}
	// The first beat renews the claims (a GET and a SET each), the other
	// nine none.
	if n := redistest.Calls(t, rdb, "get", "set") - before; n > 2*people {
		t.Errorf("%d beats of %d people ran %d GETs and SETs, want at most %d (one renewal)", beats, people, n, 2*people)
	}
	if held, err := b.Claim(ctx, room, realtime.User{Session: "other", Name: "person7"}, ttl); err != nil || held {
		t.Errorf("another session took a present person's name: %v %v", held, err)
	}
	left, err := rdb.PTTL(ctx, claimKey(room, realtime.NameKeys("person7")[0])).Result()
	if err != nil || left < claimHold-time.Minute {
		t.Errorf("the claim expires in %v (%v), want about claimHold (%v)", left, err, claimHold)
	}
}

// A claim set longer than the presence TTL ago, whose session has no live
// entry in the room (its instance died without a leave), is taken; one set
// within the TTL is not, present or not.
func TestStaleClaimIsTaken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	defer rdb.Close()
	b := New(rdb, 100)
	defer b.Close()
	room := testkit.Room()
	ttl := 15 * time.Second
	ann, other := realtime.User{Session: "s-ann", Name: "ann"}, realtime.User{Session: "s-other", Name: "ANN"}
	if held, err := b.Claim(ctx, room, ann, ttl); err != nil || !held {
		t.Fatal(held, err)
	}
	if held, _ := b.Claim(ctx, room, other, ttl); held {
		t.Fatal("a claim made just now was taken")
	}
	// Ann's claim ages past the TTL (as if made a minute ago) while her
	// entry is live: still hers.
	age := func() {
		for _, k := range claimKeys(room, ann) {
			if err := rdb.PExpire(ctx, k, claimHold-time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Present(ctx, room, []realtime.User{ann}, ttl); err != nil {
		t.Fatal(err)
	}
	age()
	if held, _ := b.Claim(ctx, room, other, ttl); held {
		t.Fatal("a present person's name was taken")
	}
	// Her entry lapses with her instance: the name is free.
	if err := rdb.ZAdd(ctx, presenceSetKey(room), redis.Z{Score: float64(time.Now().Add(-time.Second).UnixMilli()), Member: b.presenceMember(ann)}).Err(); err != nil {
		t.Fatal(err)
	}
	if held, err := b.Claim(ctx, room, other, ttl); err != nil || !held {
		t.Fatalf("a name whose holder left with their instance was not free: %v %v", held, err)
	}
}
