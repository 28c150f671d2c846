package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/chatrun/chat/handlers"
	"github.com/chatrun/chat/internal/app"
	"github.com/chatrun/chat/realtime/redisbroker"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/redistest"
)

// A tiny day on two instances over Redis: 40 people in rooms of 5 to 15,
// each with a page in two rooms, writing every few seconds, typing, pages
// reloading several times a minute, a tenth of them on a 200 ms round trip,
// half with a focused page reporting what they read, and every page
// polling: each message reaches every page of its room once,
// reloaded pages catching up from their history, and the report carries
// what the servers and Redis spent.
func TestDayNothingLostOrDoubled(t *testing.T) {
	addr := redistest.Addr(t)
	urls := []string{dayInstance(t, addr), dayInstance(t, addr)}
	people, seconds := 40, 10
	if raceEnabled {
		people = 20
	}
	cfg, err := parseConfig([]string{"-json", "-allow-remote", "-urls", strings.Join(urls, ","), "-day",
		"-day-people", strconv.Itoa(people), "-day-room-min", "5", "-day-room-max", "15",
		"-day-duration", strconv.Itoa(seconds) + "s", "-day-message-every", "3s",
		"-day-reload-per-min", "3", "-day-slow-share", "0.1", "-day-focused-share", "0.5", "-day-redis", addr,
		"-drain", "20s", "-room-prefix", testkit.Room(), "-pids", strconv.Itoa(os.Getpid())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := runDay(ctx, cfg, &out); err != nil {
		t.Fatalf("day: %v\n%s", err, out.String())
	}
	var rep dayReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	var text strings.Builder
	_ = rep.writeText(&text)
	t.Logf("report:\n%s", text.String())

	socks := people * 2
	if rep.Connections != socks || rep.ConnectFailed != 0 {
		t.Fatalf("connections %d, failed %d (%v); want %d", rep.Connections, rep.ConnectFailed, rep.ConnectErrors, socks)
	}
	if rep.Sent == 0 || rep.Accepted != rep.Sent || rep.Refused != 0 || rep.Unanswered != 0 {
		t.Errorf("sent %d, accepted %d, refused %d (%v), unanswered %d; want all accepted",
			rep.Sent, rep.Accepted, rep.Refused, rep.RefusalReason, rep.Unanswered)
	}
	if rep.Pages != socks || rep.Expected == 0 || rep.Received != rep.Expected {
		t.Errorf("pages %d, expected %d, received %d; want %d pages and every delivery", rep.Pages, rep.Expected, rep.Received, socks)
	}
	if rep.Lost != 0 || rep.Duplicated != 0 || rep.Unexpected != 0 || rep.Foreign != 0 || rep.Disconnects != 0 || !rep.Drained {
		t.Errorf("lost %d, duplicated %d, unexpected %d, foreign %d, disconnects %d (%v), drained %v; want 0 and drained",
			rep.Lost, rep.Duplicated, rep.Unexpected, rep.Foreign, rep.Disconnects, rep.Disconnect, rep.Drained)
	}
	// Pages reload 3 times a minute each: about 40 reloads in 10 s.
	if rep.Reloaded == 0 || len(rep.ReloadErrors) != 0 {
		t.Errorf("reloads %d, errors %v; want some and none failed", rep.Reloaded, rep.ReloadErrors)
	}
	if rep.TypingSent == 0 || rep.TypingRecv == 0 || rep.Polled == 0 || rep.PollErrors != 0 {
		t.Errorf("typing sent %d, received %d; polls %d, failed %d", rep.TypingSent, rep.TypingRecv, rep.Polled, rep.PollErrors)
	}
	// A focused page reports every few seconds: its heartbeat (from a
	// random phase within 15 s) and what it read after each message.
	if rep.Reads == 0 || rep.ReadErrors != 0 {
		t.Errorf("reads %d, failed %d; want some and none failed", rep.Reads, rep.ReadErrors)
	}
	if rep.LatencyCount == 0 || rep.LatencyP50 <= 0 || rep.LatencyP50 > rep.LatencyP99 || rep.LatencyP99 > rep.LatencyMax {
		t.Errorf("latency: %d samples, p50 %g p99 %g max %g ms", rep.LatencyCount, rep.LatencyP50, rep.LatencyP99, rep.LatencyMax)
	}
	if rep.RedisError != "" || rep.RedisMemory == 0 || len(rep.RedisCommands) == 0 || len(rep.Servers) != 1 || rep.ChatRSSKB == 0 {
		t.Errorf("redis %q: memory %d, commands %v; servers %v", rep.RedisError, rep.RedisMemory, rep.RedisCommands, rep.Servers)
	}
	for _, k := range []string{"people", "rooms", "room_min", "room_max", "rooms_each", "seed", "message_every_s", "messages",
		"typing", "typing_share", "reloads", "reload_per_min", "polls", "focused_share", "background", "reads_done", "slow_share", "slow_rtt_ms", "duration_s",
		"expected", "received", "lost", "duplicated", "latency_p50_ms", "latency_p99_ms",
		"chat_cpu_s", "redis_cpu_s", "redis_used_memory", "redis_commands",
		"chat_cpu_pct_per_1000", "redis_cpu_pct_per_1000", "chat_mib_per_1000", "redis_mib_per_1000"} {
		if !strings.Contains(out.String(), `"`+k+`":`) {
			t.Errorf("key %q missing from %s", k, out.String())
		}
	}
	noBenchGoroutines(t)
}

// dayInstance serves the chat in-process on the Redis at addr until the
// test ends, with the room directory on as cmd/chat's default has it (the
// pages poll it), wired as startStoppable wires the others.
func dayInstance(t *testing.T, addr string) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	broker := redisbroker.New(rdb, 100)
	chat := app.New(broker, handlers.Config{
		Secret:        []byte("shared-secret"),
		SendRate:      rate.Limit(1000),
		SendBurst:     1000,
		TrustProxy:    true, // each simulated browser has an address of its own
		RoomDirectory: true,
	}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := chat.Start(ctx)
	ts := httptest.NewServer(chat.Handler())
	t.Cleanup(func() {
		ts.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		chat.CloseSockets(cctx)
		ccancel()
		cancel()
		<-hubDone
		broker.Close()
		rdb.Close()
	})
	return ts.URL
}

// The layout is the seed's alone, every room within its bounds (the last
// may take a remainder), and every person in distinct rooms.
func TestDayLayout(t *testing.T) {
	for _, c := range []struct{ people, each, lo, hi int }{{2000, 2, 20, 200}, {40, 2, 5, 15}, {7, 3, 2, 5}, {1, 1, 1, 1}} {
		sizes, rooms := dayLayout(c.people, c.each, c.lo, c.hi, 7)
		again, _ := dayLayout(c.people, c.each, c.lo, c.hi, 7)
		if !slices.Equal(sizes, again) {
			t.Errorf("%+v: sizes %v then %v", c, sizes, again)
		}
		total := 0
		for i, n := range sizes {
			total += n
			if n > c.hi+c.lo-1 || (n < c.lo && len(sizes) > 1) || (n > c.hi && i != len(sizes)-1) {
				t.Errorf("%+v: room %d of %d people", c, i, n)
			}
		}
		if total != c.people*c.each {
			t.Errorf("%+v: %d places; want %d", c, total, c.people*c.each)
		}
		for p, rs := range rooms {
			s := slices.Clone(rs)
			slices.Sort(s)
			if len(s) != c.each || len(slices.Compact(s)) != c.each {
				t.Errorf("%+v: person %d in rooms %v", c, p, rs)
			}
		}
	}
}

func TestDayConfig(t *testing.T) {
	for _, args := range [][]string{
		{"-day", "-day-people", "0"},
		{"-day", "-day-people", "100", "-day-room-max", "100"},
		{"-day", "-day-room-min", "30", "-day-room-max", "20"},
		{"-day", "-day-typing-share", "1.5"},
		{"-day", "-day-redis", "10.0.0.1:6379"},
		{"-day", "-proto", "socketio"},
		{"-day", "-idle", "5s"},
	} {
		if _, err := parseConfig(args, nil); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	c, err := parseConfig([]string{"-day"}, nil)
	if err != nil || !c.day.on || c.day.people != 2000 || c.day.duration != 5*time.Minute || c.day.seed != 1 || !c.day.messages {
		t.Errorf("-day: %+v, %v", c.day, err)
	}
}
