package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime/firestorearchive"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// leftByTheOldService leaves room in Redis as a send of the service before
// the upgrade did: n messages in its history and its archive stream,
// numbered, and the room in the archivers' set.
func leftByTheOldService(t *testing.T, ctx context.Context, rdb *redis.Client, room string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		e, err := json.Marshal(map[string]any{"seq": i, "type": "message", "name": "ann", "text": fmt.Sprint(room, " m", i), "ts": time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
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

// reservedRoomFirst adds to the archivers' set a room whose name Firestore
// reserves, chosen among look-alikes so that it comes first in the set's
// order, the archivers' order: a pass that ended at it would archive no
// other room, so that the test fails for sure without the fix.
func reservedRoomFirst(t *testing.T, ctx context.Context, rdb *redis.Client) string {
	t.Helper()
	for i := range 200 {
		room := fmt.Sprintf("__x%d__", i)
		if err := rdb.SAdd(ctx, "chat:archive:rooms", room).Err(); err != nil {
			t.Fatal(err)
		}
		if rooms, err := rdb.SMembers(ctx, "chat:archive:rooms").Result(); err != nil || rooms[0] == room {
			if err != nil {
				t.Fatal(err)
			}
			return room
		}
		if err := rdb.SRem(ctx, "chat:archive:rooms", room).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no reserved-looking name came first in the set")
	return ""
}

// A room whose name Firestore reserves (stored before the door refused
// such names) does not stop the archive for the others: over two
// instances on the real emulator, eight ordinary rooms' messages, old and
// new, are all in Firestore within 10 s, while the refused room is set
// aside, its messages kept in Redis, and named in the log and counted in
// the metrics.
func TestArchiveSetsARefusedRoomAsideOthersGoOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := redistest.Start(t)
	env := metricsEnv(firestoreEnv(t, srv.Addr))
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	rooms := make([]string, 8)
	for i := range rooms {
		rooms[i] = testkit.Room()
		leftByTheOldService(t, ctx, rdb, rooms[i], 3)
	}
	// More messages than an archiver reads at once (500), so that each
	// instance's first pass takes some and meets the refusal.
	bad := reservedRoomFirst(t, ctx, rdb)
	leftByTheOldService(t, ctx, rdb, bad, 600)

	a, b := startInstance(t, env), startInstance(t, env)
	for i, room := range rooms {
		u := chattest.NewUser(t, []*instance{a, b}[i%2].URL)
		u.SignIn(fmt.Sprint("Bob", i), room)
		post(t, u, room, "after the upgrade")
	}

	fs, err := firestore.NewClient(ctx, env["FIRESTORE_PROJECT"])
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	archive := firestorearchive.New(fs)
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

	var logged bool
	for _, inst := range []*instance{a, b} {
		for _, line := range inst.Logs() {
			if strings.Contains(line, `"severity":"WARNING"`) && strings.Contains(line, fmt.Sprintf(`room \"%s\" set aside`, bad)) {
				logged = true
			}
		}
		m := scrape(t, scraper(t, inst))
		if m["chat_archive_errors_total"] < 1 || m["chat_archive_backlog"] < 600 {
			t.Errorf("metrics: chat_archive_errors_total %v, chat_archive_backlog %v; want the refused room counted (at least 1, and its 600 waiting)",
				m["chat_archive_errors_total"], m["chat_archive_backlog"])
		}
	}
	if !logged {
		t.Errorf("no WARNING in the log names room %s as set aside", bad)
	}
	if n, err := rdb.XLen(ctx, "chat:{"+bad+"}:archive").Result(); err != nil || n != 600 {
		t.Errorf("the refused room's stream holds %d entries (%v), want its 600 kept for a later try", n, err)
	}
}

// A room name Firestore would refuse as a document id is refused at the
// door, with the reason next to the field; its page does not exist.
func TestReservedRoomNamesAreRefusedAtTheDoor(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	u := chattest.NewUser(t, inst.URL)
	resp := u.PostForm("/signin", url.Values{"name": {"Ann"}, "room": {"__x__"}})
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(page), "Room names cannot start and end with __.") {
		t.Fatalf("sign-in to room __x__: %d, want 422 saying \"Room names cannot start and end with __.\"", resp.StatusCode)
	}
	u.SignIn("Ann", "general")
	if resp, _ := u.Get("/rooms/__x__"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /rooms/__x__: %d, want 404", resp.StatusCode)
	}
}
