package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// privateCluster starts a cluster of the test's own, for tests that watch
// or stop its nodes, and two instances on it.
func privateCluster(t *testing.T) (c *redistest.Cluster, st store, a, b *instance) {
	c = redistest.StartCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: slices.Clone(c.Addrs)})
	t.Cleanup(func() { rdb.Close() })
	st = store{env: map[string]string{"REDIS_CLUSTER": strings.Join(c.Addrs, ",")}, rdb: rdb}
	env := metricsEnv(burst(st.shared()))
	return c, st, startInstance(t, env), startInstance(t, env)
}

// roomsOnShards returns one new room name per shard primary of c, each
// room's slot (CLUSTER KEYSLOT) served by a different primary.
func roomsOnShards(t *testing.T, ctx context.Context, c *redistest.Cluster, rdb *redis.ClusterClient, shards int) (rooms, primaries []string) {
	t.Helper()
	for range 1000 {
		room := testkit.Room()
		key := "chat:{" + room + "}:events"
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT: %v", err)
		}
		p, err := c.PrimaryOf(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(primaries, p) {
			t.Logf("room %s: slot %d on %s", room, slot, p)
			rooms, primaries = append(rooms, room), append(primaries, p)
		}
		if len(rooms) == shards {
			return rooms, primaries
		}
	}
	t.Fatalf("found rooms on only %d shards", len(rooms))
	return nil, nil
}

// shardSubscribers counts the connections on a node that hold shard
// channel subscriptions (CLIENT LIST's ssub field).
func shardSubscribers(t *testing.T, ctx context.Context, addr string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST on %s: %v", addr, err)
	}
	n := 0
	for line := range strings.Lines(list) {
		for f := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(f, "ssub="); ok && v != "0" {
				n++
			}
		}
	}
	return n
}

// Rooms on all three shards, two instances: every message is delivered once
// and stored in its room's list, and each instance holds one subscription
// connection per shard however many rooms and sockets it serves there.
func TestClusterRoomsOnEveryShard(t *testing.T) {
	c, st, a, b := privateCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rooms, primaries := roomsOnShards(t, ctx, c, st.rdb.(*redis.ClusterClient), 3)
	// A second room on the first shard: still one connection there.
	for {
		r := testkit.Room()
		if p, err := c.PrimaryOf(ctx, "chat:{"+r+"}:events"); err == nil && p == primaries[0] {
			rooms = append(rooms, r)
			break
		}
	}
	if _, body := chattest.NewUser(t, a.URL).Get("/ready"); body != "ready\n" {
		t.Errorf("/ready on a cluster with sharded pub/sub says %q", body)
	}
	for _, line := range a.Logs() {
		if strings.Contains(line, `"severity":"WARNING"`) {
			t.Errorf("a warning at start-up on a sound cluster: %s", line)
		}
	}

	const perUser = 20
	type member struct {
		room string
		who  string
		s    *chattest.Socket
	}
	var members []member
	for _, room := range rooms {
		for _, u := range []struct{ name, url string }{{"Ann", a.URL}, {"Bob", b.URL}, {"Cid", a.URL}} {
			_, s := chattest.JoinAs(t, u.url, u.name, room)
			members = append(members, member{room, u.name, s})
		}
	}
	for _, p := range primaries {
		if n := shardSubscribers(t, ctx, p); n != 2 {
			t.Errorf("primary %s has %d shard subscription connections, want 2 (one per instance)", p, n)
		}
	}

	for _, m := range members {
		if m.who == "Cid" {
			continue
		}
		go func() {
			for i := range perUser {
				write(ctx, m.s, fmt.Sprintf("%s-%s-%d", m.room, m.who, i), fmt.Sprintf("n%d", i))
			}
		}()
	}
	var wg sync.WaitGroup
	views := make([]*chattest.View, len(members))
	errs := make([]error, len(members))
	for i, m := range members {
		wg.Go(func() { views[i], errs[i] = m.s.Watch(ctx, 2*perUser) })
	}
	wg.Wait()
	for i, m := range members {
		v := views[i]
		if errs[i] != nil || len(v.Dups) > 0 || !v.Contiguous(2*perUser) {
			t.Errorf("%s in %s shows %v, duplicates %v (%v); want 1..%d once each", m.who, m.room, v.Seqs, v.Dups, errs[i], 2*perUser)
		}
	}
	for _, room := range rooms {
		seqs, texts := storedSeqs(t, st.rdb, room)
		if v := (&chattest.View{Seqs: seqs}); !v.Contiguous(2 * perUser) {
			t.Errorf("room %s stores %v, want 1..%d", room, seqs, 2*perUser)
		}
		for _, who := range []string{"Ann", "Bob"} {
			for i := range perUser {
				if want := fmt.Sprintf("%s-%s-%d", room, who, i); !slices.Contains(texts, want) {
					t.Errorf("room %s does not store %q", room, want)
				}
			}
		}
	}
}

// The primary of a busy room is stopped: once its replica has taken over,
// messages flow again within 10 s with the same instances, and nothing is
// shown twice. Every message acknowledged before a graceful stop is kept; a
// crash may lose the last ones, and then the pages show what is stored.
func TestClusterFailover(t *testing.T) {
	t.Run("graceful stop", func(t *testing.T) {
		testClusterFailover(t, (*redistest.Cluster).Stop, true)
	})
	t.Run("crash", func(t *testing.T) {
		testClusterFailover(t, (*redistest.Cluster).Crash, false)
	})
}

func testClusterFailover(t *testing.T, stop func(c *redistest.Cluster, addr string), keepsAcked bool) {
	c, st, a, b := privateCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	room := testkit.Room()
	primary, err := c.PrimaryOf(ctx, "chat:{"+room+"}:events")
	if err != nil {
		t.Fatal(err)
	}
	replica, err := c.ReplicaOf(ctx, primary)
	if err != nil {
		t.Fatal(err)
	}
	ann := chattest.NewUser(t, a.URL)
	ann.SignIn("Ann", room)
	annWS := ann.Dial(room)
	bob := chattest.NewUser(t, b.URL)
	bob.SignIn("Bob", room)
	bobWS := bob.Dial(room)

	// Ann posts without pause (the no-JS form: 303 is the acknowledgement);
	// stopping sets phase 1, and every post is recorded with its phase.
	var mu sync.Mutex
	var acked []string
	var ackedAt []time.Time
	phase := 0
	stopSending := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; ; i++ {
			select {
			case <-stopSending:
				return
			case <-time.After(20 * time.Millisecond):
			}
			mu.Lock()
			text := fmt.Sprintf("p%d-%d", phase, i)
			mu.Unlock()
			if tryPost(ctx, ann, room, text, "n"+strconv.Itoa(i)) {
				mu.Lock()
				acked = append(acked, text)
				ackedAt = append(ackedAt, time.Now())
				mu.Unlock()
			}
		}
	}()
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	testkit.WaitFor(t, ctx, "20 messages before the stop", func() bool { return ackedCount() >= 20 })

	mu.Lock()
	phase = 1
	mu.Unlock()
	stop(c, primary)
	stopped := ackedCount()
	if err := c.WaitPrimary(ctx, replica); err != nil {
		t.Fatalf("the replica %s did not take over: %v", replica, err)
	}
	tookOver := time.Now()
	t.Logf("replica %s took over; %d messages acknowledged before the stop", replica, stopped)
	testkit.WaitFor(t, ctx, "a message acknowledged after the takeover", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ackedAt) > 0 && ackedAt[len(ackedAt)-1].After(tookOver)
	})
	firstAfter := ""
	mu.Lock()
	for i, at := range ackedAt {
		if at.After(tookOver) {
			firstAfter = acked[i]
			break
		}
	}
	mu.Unlock()
	// Both pages, on both instances, show it: flow is back.
	seqs, texts := storedSeqs(t, st.rdb, room)
	seq := seqs[slices.Index(texts, firstAfter)]
	annView, bobView := &chattest.View{}, &chattest.View{}
	for _, w := range []struct {
		s *chattest.Socket
		v *chattest.View
	}{{annWS, annView}, {bobWS, bobView}} {
		if err := w.s.Feed(ctx, w.v, seq); err != nil {
			t.Fatalf("waiting for message %d on the page: %v", seq, err)
		}
	}
	if d := time.Since(tookOver); d > 10*time.Second {
		t.Errorf("messages flowed again %v after the takeover, want within 10 s", d)
	} else {
		t.Logf("messages flowed again %v after the takeover", d.Round(time.Millisecond))
	}
	for _, inst := range []*instance{a, b} {
		if n := scrape(t, scraper(t, inst))["chat_room_resyncs_total"]; n < 1 {
			t.Errorf("chat_room_resyncs_total is %v after a failover, want at least 1", n)
		}
	}
	testkit.WaitFor(t, ctx, "10 more messages", func() bool { return ackedCount() >= stopped+10 })
	close(stopSending)
	<-sent

	seqs, texts = storedSeqs(t, st.rdb, room)
	lost := 0
	for _, m := range acked[:stopped] {
		if !slices.Contains(texts, m) {
			lost++
			if keepsAcked {
				t.Errorf("message %q, acknowledged before the stop, is not in the history", m)
			}
		}
	}
	t.Logf("%d of %d messages acknowledged before the stop are not in the history", lost, stopped)
	for _, w := range []struct {
		s *chattest.Socket
		v *chattest.View
	}{{annWS, annView}, {bobWS, bobView}} {
		if err := w.s.Feed(ctx, w.v, seqs[len(seqs)-1]); err != nil {
			t.Fatalf("watch: %v", err)
		}
		if len(w.v.Dups) > 0 {
			t.Errorf("shown twice: %v", w.v.Dups)
		}
		// What the page shows is what is stored.
		if !slices.Equal(w.v.Seqs, seqs) {
			t.Errorf("the page shows %v, the history holds %v", w.v.Seqs, seqs)
		}
	}
	t.Logf("%d messages acknowledged in all, %d stored, %d history frames on Bob's page", len(acked), len(seqs), len(bobView.Histories))
}

// tryPost sends a message as u through the no-JS form and reports whether it
// was acknowledged (303); safe off the test goroutine.
func tryPost(ctx context.Context, u *chattest.User, room, text, nonce string) bool {
	form := url.Values{"text": {text}, "nonce": {nonce}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Base+"/rooms/"+room+"/messages", strings.NewReader(form.Encode()))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Base)
	resp, err := u.Client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusSeeOther
}

// write sends a message frame on s; safe off the test goroutine, where a
// failure shows as what the receivers miss.
func write(ctx context.Context, s *chattest.Socket, text, nonce string) {
	_ = s.Conn.Write(ctx, websocket.MessageText, chattest.Frame(text, nonce))
}

// A cluster whose servers lack sharded pub/sub (SPUBLISH and SSUBSCRIBE
// renamed away, as on a server older than Redis 7) is used with classic
// pub/sub: no message is lost, and the service says so in its first log
// line and in /ready rather than downgrading silently.
func TestClusterWithoutShardedPubSub(t *testing.T) {
	srv := redistest.StartOneNodeCluster(t, "--rename-command", "SPUBLISH", "", "--rename-command", "SSUBSCRIBE", "")
	env := sharedEnv("")
	env["REDIS_CLUSTER"] = srv.Addr
	a, b := startInstance(t, env), startInstance(t, env)
	for _, inst := range []*instance{a, b} {
		var first struct{ Severity, Message string }
		if err := json.Unmarshal([]byte(inst.Logs()[0]), &first); err != nil {
			t.Fatal(err)
		}
		if first.Severity != "WARNING" || !strings.Contains(first.Message, "refuses sharded pub/sub") {
			t.Errorf("first log line: %+v; want a WARNING that the cluster refuses sharded pub/sub", first)
		}
		resp, body := chattest.NewUser(t, inst.URL).Get("/ready")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "degraded") || !strings.Contains(body, "SPUBLISH") {
			t.Errorf("/ready: %d %q; want 200 saying it runs degraded without SPUBLISH", resp.StatusCode, body)
		}
	}
	room := testkit.Room()
	_, annWS := chattest.JoinAs(t, a.URL, "Ann", room)
	_, bobWS := chattest.JoinAs(t, b.URL, "Bob", room)
	annWS.Send("through classic pub/sub", "n1")
	bobWS.Until(">through classic pub/sub<")
	bobWS.Send("and back", "n1")
	annWS.Until(">and back<")
}

// A room's slot moves to another shard while two instances serve it: the
// old owner drops their subscriptions (SUNSUBSCRIBE), they subscribe again
// on the new owner, and the room goes on with nothing lost or shown twice.
func TestClusterSlotMove(t *testing.T) {
	c, st, a, b := privateCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rooms, primaries := roomsOnShards(t, ctx, c, st.rdb.(*redis.ClusterClient), 2)
	room, to := rooms[0], primaries[1]
	_, annWS := chattest.JoinAs(t, a.URL, "Ann", room)
	_, bobWS := chattest.JoinAs(t, b.URL, "Bob", room)
	annView, bobView := &chattest.View{}, &chattest.View{}
	feedBoth := func(seq int) {
		t.Helper()
		for _, w := range []struct {
			s *chattest.Socket
			v *chattest.View
		}{{annWS, annView}, {bobWS, bobView}} {
			if err := w.s.Feed(ctx, w.v, seq); err != nil {
				t.Fatalf("waiting for message %d: %v", seq, err)
			}
		}
	}
	annWS.Send("before the move", "n1")
	feedBoth(1)

	if err := c.MoveSlot(ctx, "chat:{"+room+"}:events", to); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, ctx, "both instances subscribed on the new owner", func() bool {
		return shardSubscribers(t, ctx, to) == 2
	})
	bobWS.Send("after the move", "n1")
	feedBoth(2)
	annWS.Send("and once more", "n2")
	feedBoth(3)
	for _, v := range []*chattest.View{annView, bobView} {
		if len(v.Dups) > 0 || !v.Contiguous(3) {
			t.Errorf("the page shows %v, duplicates %v; want 1..3 once each", v.Seqs, v.Dups)
		}
	}
	if seqs, _ := storedSeqs(t, st.rdb, room); !slices.Equal(seqs, []int{1, 2, 3}) {
		t.Errorf("the history holds %v, want 1..3", seqs)
	}
	if p, err := c.PrimaryOf(ctx, "chat:{"+room+"}:events"); err != nil || p != to {
		t.Errorf("the room is on %s (%v), want %s: the slot did not move", p, err, to)
	}
}
