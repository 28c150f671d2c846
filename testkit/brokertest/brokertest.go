// Package brokertest is the conformance kit of realtime.Broker: every
// broker's tests run its suite, and the hub's tests run on every kind of
// broker through it. Brokers of Redis kinds need a redis-server, or a
// cluster, which testkit/redistest provides (or skips for).
package brokertest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/redisbroker"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/redistest"
)

// Factory makes brokers of one kind for one test.
type Factory struct {
	// Name says which kind, for subtest names.
	Name string
	// Shared reports whether the brokers it makes share their state, as
	// instances on one Redis do.
	Shared bool
	// Make makes a broker that keeps historySize messages per room; the
	// test's cleanup closes it.
	Make func(t *testing.T, historySize int) realtime.Broker
	// Lose deletes what the store holds of a room, as Redis restarting
	// empty or a FLUSHALL does; nil where the store cannot lose data.
	Lose func(t *testing.T, room string)
	// Client reaches the store itself; nil for the memory broker.
	Client func() redis.UniversalClient
}

// Memory is the in-memory broker.
func Memory(*testing.T) Factory {
	return Factory{Name: "memory", Make: func(t *testing.T, n int) realtime.Broker {
		b := realtime.NewMemoryBroker(n)
		t.Cleanup(func() { b.Close() })
		return b
	}}
}

// Redis is the Redis broker on one redis-server, with classic pub/sub.
func Redis(t *testing.T) Factory {
	return redisFactory("redis", oneRedis(redistest.Addr(t)))
}

// RedisSharded is the Redis broker on one Redis 7 with sharded pub/sub.
func RedisSharded(t *testing.T) Factory {
	return redisFactory("redis-sharded", oneRedis(redistest.Addr(t)), redisbroker.WithPubSub(redisbroker.ShardedPubSub))
}

// Cluster is the Redis broker on a Redis Cluster.
func Cluster(t *testing.T) Factory {
	seeds := redistest.ClusterAddrs(t)
	return redisFactory("cluster", func() redis.UniversalClient {
		// Options of its own: go-redis appends to Addrs.
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: slices.Clone(seeds)})
	})
}

// Kinds are every kind of broker, as subtests take them.
var Kinds = []func(*testing.T) Factory{Memory, Redis, RedisSharded, Cluster}

// kindNames names Kinds before they are made (making one may skip).
var kindNames = []string{"memory", "redis", "redis-sharded", "cluster"}

// ForEach runs body as a subtest on every kind of broker.
func ForEach(t *testing.T, body func(t *testing.T, f Factory)) {
	for i, kind := range Kinds {
		t.Run(kindNames[i], func(t *testing.T) { body(t, kind(t)) })
	}
}

func oneRedis(addr string) func() redis.UniversalClient {
	return func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: addr}) }
}

// redisFactory makes brokers sharing one Redis (or cluster), each on a
// client of its own from newClient, as instances have.
func redisFactory(name string, newClient func() redis.UniversalClient, opts ...redisbroker.Option) Factory {
	return Factory{Name: name, Shared: true, Make: func(t *testing.T, n int) realtime.Broker {
		c := newClient()
		b := redisbroker.New(c, n, opts...)
		t.Cleanup(func() {
			b.Close()
			c.Close()
		})
		return b
	}, Client: newClient, Lose: func(t *testing.T, room string) {
		c := newClient()
		defer c.Close()
		// One hash tag: one slot, so one DEL on a cluster too.
		keys := []string{"chat:{" + room + "}:seq", "chat:{" + room + "}:history"}
		if err := c.Del(t.Context(), keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}}
}

// Run runs the Broker contract on brokers from f.
func Run(t *testing.T, f Factory) {
	t.Run("NumbersAndStoresInOrder", func(t *testing.T) { numbersAndStoresInOrder(t, f) })
	t.Run("GuardStoresOnce", func(t *testing.T) { guardStoresOnce(t, f) })
	t.Run("RelaysOnlySubscribedRooms", func(t *testing.T) { relaysOnlySubscribedRooms(t, f) })
	t.Run("ConcurrentSendsGetDistinctContiguousSeqs", func(t *testing.T) { concurrentSendsGetDistinctContiguousSeqs(t, f) })
	t.Run("Presence", func(t *testing.T) { presence(t, f) })
	t.Run("Directory", func(t *testing.T) { directory(t, f) })
	t.Run("BindsANameToOneIdentity", func(t *testing.T) { bindsANameToOneIdentity(t, f) })
	t.Run("EndsAndSpendsCredentials", func(t *testing.T) { endsAndSpendsCredentials(t, f) })
	t.Run("ChangesMessages", func(t *testing.T) { changesMessages(t, f) })
	t.Run("RemovesPeople", func(t *testing.T) { removesPeople(t, f) })
	t.Run("FindsANamesOwner", func(t *testing.T) { findsANamesOwner(t, f) })
	t.Run("PrivateRooms", func(t *testing.T) { privateRooms(t, f) })
	t.Run("Reacts", func(t *testing.T) { reacts(t, f) })
	t.Run("Replies", func(t *testing.T) { replies(t, f) })
	t.Run("Attachments", func(t *testing.T) { attachments(t, f) })
}

func numbersAndStoresInOrder(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 5)
	room := testkit.Room()
	for i := 1; i <= 8; i++ {
		m, dup := send(t, ctx, b, room, "ann", "text "+strconv.Itoa(i), "")
		if dup || m.Seq != int64(i) {
			t.Fatalf("send %d: seq %d dup %v, want seq %d", i, m.Seq, dup, i)
		}
	}
	hist, err := b.History(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 5 {
		t.Fatalf("history has %d messages, want the last 5", len(hist))
	}
	for i, m := range hist {
		want := int64(4 + i)
		if m.Seq != want || m.Text != "text "+strconv.Itoa(int(want)) || m.Name != "ann" || m.Time.IsZero() {
			t.Errorf("history[%d] = %+v, want seq %d", i, m, want)
		}
	}
}

func guardStoresOnce(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	room := testkit.Room()
	first, dup := send(t, ctx, b, room, "ann", "hello", "sess1:n1")
	if dup {
		t.Fatal("first send reported as duplicate")
	}
	again, dup := send(t, ctx, b, room, "ann", "hello", "sess1:n1")
	if !dup || again.Seq != first.Seq {
		t.Fatalf("repeat: seq %d dup %v, want seq %d dup true", again.Seq, dup, first.Seq)
	}
	if _, dup := send(t, ctx, b, room, "bob", "hello", "sess2:n1"); dup {
		t.Fatal("another session's nonce was taken as a duplicate")
	}
	send(t, ctx, b, room, "ann", "no guard", "")
	send(t, ctx, b, room, "ann", "no guard", "")
	hist, err := b.History(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 {
		t.Fatalf("history has %d messages, want 4: %+v", len(hist), hist)
	}
}

func relaysOnlySubscribedRooms(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	room, other := testkit.Room(), testkit.Room()
	if err := b.Subscribe(ctx, room); err != nil {
		t.Fatal(err)
	}
	send(t, ctx, b, other, "zed", "elsewhere", "")
	if err := b.Announce(ctx, room, realtime.KindPresence, "ann"); err != nil {
		t.Fatal(err)
	}
	m, _ := send(t, ctx, b, room, "ann", "hi", "")

	ev := nextEvent(t, ctx, b)
	if ev.Room != room || ev.Kind != realtime.KindPresence || ev.Message.Name != "ann" {
		t.Fatalf("first event = %+v, want ann's presence in %s", ev, room)
	}
	ev = nextEvent(t, ctx, b)
	if ev.Room != room || ev.Kind != realtime.KindMessage || ev.Message.Seq != m.Seq || ev.Message.Text != "hi" {
		t.Fatalf("second event = %+v, want message %d", ev, m.Seq)
	}
	hist, _ := b.History(ctx, room)
	if len(hist) != 1 {
		t.Fatalf("notices must not be stored; history = %+v", hist)
	}

	if err := b.Unsubscribe(ctx, room); err != nil {
		t.Fatal(err)
	}
	// After unsubscribing, a message in room is not relayed; one in a
	// freshly subscribed room is, and it must be the next event.
	third := testkit.Room()
	if err := b.Subscribe(ctx, third); err != nil {
		t.Fatal(err)
	}
	send(t, ctx, b, room, "ann", "unheard", "")
	send(t, ctx, b, third, "ann", "heard", "")
	if ev := nextEvent(t, ctx, b); ev.Room != third || ev.Message.Text != "heard" {
		t.Fatalf("after unsubscribe got %+v, want the message in %s", ev, third)
	}
}

func concurrentSendsGetDistinctContiguousSeqs(t *testing.T, f Factory) {
	ctx := Context(t)
	brokers := []realtime.Broker{f.Make(t, 1000)}
	if f.Shared {
		brokers = append(brokers, f.Make(t, 1000))
	}
	room := testkit.Room()
	const perSender = 50
	var wg sync.WaitGroup
	seqs := make(chan int64, 4*perSender)
	for i := range 4 {
		b := brokers[i%len(brokers)]
		wg.Go(func() {
			for j := range perSender {
				m, _, err := b.Send(ctx, room, realtime.Message{Name: "s" + strconv.Itoa(i), Text: strconv.Itoa(j)}, "")
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- m.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d given twice", s)
		}
		seen[s] = true
	}
	for s := int64(1); s <= 4*perSender; s++ {
		if !seen[s] {
			t.Fatalf("seq %d missing", s)
		}
	}
	hist, _ := brokers[len(brokers)-1].History(ctx, room)
	for i, m := range hist {
		if m.Seq != int64(i+1) {
			t.Fatalf("history[%d].Seq = %d", i, m.Seq)
		}
	}
}

func presence(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	room := testkit.Room()
	if err := b.Present(ctx, room, []realtime.User{User("bob"), User("ann")}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := members(t, ctx, b, room); got != "ann,bob" {
		t.Fatalf("members %q, want ann,bob", got)
	}
	if err := b.Absent(ctx, room, User("bob")); err != nil {
		t.Fatal(err)
	}
	if got := members(t, ctx, b, room); got != "ann" {
		t.Fatalf("members %q after bob's absence, want ann", got)
	}
	if err := b.Present(ctx, room, []realtime.User{User("carol")}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := members(t, ctx, b, room); got != "ann,carol" {
		t.Fatalf("members %q, want ann,carol", got)
	}
	testkit.WaitFor(t, ctx, "carol's entry expires", func() bool { return members(t, ctx, b, room) == "ann" })

	if !f.Shared {
		return
	}
	// Two instances listing one user: listed once, until both let go.
	b2 := f.Make(t, 100)
	if err := b2.Present(ctx, room, []realtime.User{User("ann")}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := members(t, ctx, b2, room); got != "ann" {
		t.Fatalf("members %q, want ann once", got)
	}
	if err := b.Absent(ctx, room, User("ann")); err != nil {
		t.Fatal(err)
	}
	if got := members(t, ctx, b, room); got != "ann" {
		t.Fatalf("members %q, want ann, still present through the second instance", got)
	}
	if err := b2.Absent(ctx, room, User("ann")); err != nil {
		t.Fatal(err)
	}
	if got := members(t, ctx, b, room); got != "" {
		t.Fatalf("members %q, want none", got)
	}
}

// User is a user whose session is named after them.
func User(name string) realtime.User { return realtime.User{Name: name, Session: "session-" + name} }

// Context is the test's context with a 20 s deadline.
func Context(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func send(t *testing.T, ctx context.Context, b realtime.Broker, room, name, text, guard string) (realtime.Message, bool) {
	t.Helper()
	m, dup, err := b.Send(ctx, room, realtime.Message{Name: name, Text: text, Time: time.Now().UTC()}, guard)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return m, dup
}

func nextEvent(t *testing.T, ctx context.Context, b realtime.Broker) realtime.Event {
	t.Helper()
	select {
	case ev, ok := <-b.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-ctx.Done():
		t.Fatal("no event before the deadline")
	}
	return realtime.Event{}
}

func members(t *testing.T, ctx context.Context, b realtime.Broker, room string) string {
	t.Helper()
	users, err := b.Members(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(realtime.Names(users), ",")
}

// directory: rooms touched since a time are active, newest first per kind,
// at most limit of each; older ones are forgotten.
func directory(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 10)
	now := time.Now()
	quiet, busy, here, gone := testkit.Room(), testkit.Room(), testkit.Room(), testkit.Room()
	for _, c := range []struct {
		room    string
		at      time.Time
		message bool
	}{
		{quiet, now.Add(-2 * time.Hour), true},
		{busy, now.Add(-time.Minute), true},
		{here, now, false},
		{gone, now.Add(-time.Hour), false},
	} {
		if err := b.Touch(ctx, c.room, c.at, c.message); err != nil {
			t.Fatal(err)
		}
	}
	rooms, err := b.Active(ctx, now.Add(-3*time.Hour), now.Add(-time.Minute*30), 1000)
	if err != nil {
		t.Fatal(err)
	}
	has := func(room string) bool { return slices.Contains(rooms, room) }
	if !has(quiet) || !has(busy) || !has(here) || has(gone) {
		t.Fatalf("active %v: want quiet, busy and here, not gone", rooms)
	}
	if slices.Index(rooms, busy) > slices.Index(rooms, quiet) {
		t.Errorf("active %v: want the newest message first", rooms)
	}
	// Asked for the last hour, the room whose message was two hours ago is
	// not active.
	rooms, err = b.Active(ctx, now.Add(-time.Hour), now.Add(-time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(rooms, quiet) || !slices.Contains(rooms, busy) {
		t.Fatalf("active in the last hour %v: want busy, not quiet", rooms)
	}
}

// bindsANameToOneIdentity: a name, and every name that looks like it,
// belongs for good to the first identity that binds it, on every instance;
// an identity keeps its first name.
func bindsANameToOneIdentity(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	tag := testkit.Room() // names and identities of this run only: Redis keeps them
	ann, bob := "sub-ann-"+tag, "sub-bob-"+tag
	name := "Alice " + tag
	bind := func(b realtime.Broker, subject, name string) (string, error) {
		t.Helper()
		got, err := b.BindName(ctx, subject, name)
		if err != nil && !errors.Is(err, realtime.ErrNameTaken) {
			t.Fatalf("bind %q to %s: %v", name, subject, err)
		}
		return got, err
	}
	if got, err := bind(b, ann, ""); got != "" || err != nil {
		t.Fatalf("an identity with no name reads %q, %v; want \"\"", got, err)
	}
	if got, err := bind(b, ann, name); got != name || err != nil {
		t.Fatalf("first bind gave %q, %v; want %q", got, err, name)
	}
	if got, err := bind(b, ann, name); got != name || err != nil {
		t.Fatalf("binding again gave %q, %v; want %q", got, err, name)
	}
	if got, err := bind(b, ann, "Someone else "+tag); got != name || err != nil {
		t.Fatalf("a second name gave %q, %v; want the first, %q", got, err, name)
	}
	for _, lookalike := range []string{name, strings.ToUpper(name), strings.Replace(name, "l", "I", 1)} {
		if got, err := bind(b, bob, lookalike); !errors.Is(err, realtime.ErrNameTaken) {
			t.Fatalf("another identity bound %q: %q, %v; want ErrNameTaken", lookalike, got, err)
		}
	}
	if got, _ := bind(b, bob, ""); got != "" {
		t.Fatalf("a refused bind left bob with the name %q", got)
	}
	if !f.Shared {
		return
	}
	// Another instance sees the binding, and of identities binding one
	// name at once on two instances, exactly one gets it.
	b2 := f.Make(t, 100)
	if _, err := bind(b2, bob, strings.ToLower(name)); !errors.Is(err, realtime.ErrNameTaken) {
		t.Fatalf("another instance let bob take %q", strings.ToLower(name))
	}
	contested := "Carol " + tag
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won []string
	)
	for i := range 8 {
		broker := []realtime.Broker{b, b2}[i%2]
		subject := "sub-" + strconv.Itoa(i) + "-" + tag
		wg.Go(func() {
			got, err := broker.BindName(ctx, subject, contested)
			if err == nil && got == contested {
				mu.Lock()
				won = append(won, subject)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d identities got %q at once (%v); want exactly one", len(won), contested, won)
	}
}

// endsAndSpendsCredentials: a revoked credential's generation goes up on
// every instance and lapses with its ttl; of eight first uses of one id at
// once, over two instances, one is the first, and the id is free again
// once its ttl has passed.
func endsAndSpendsCredentials(t *testing.T, f Factory) {
	ctx := Context(t)
	a := f.Make(t, 100)
	b := a
	if f.Shared {
		b = f.Make(t, 100)
	}
	id := "session:" + testkit.Room() // Redis keeps them: this run's alone
	gen := func(br realtime.Broker) int64 {
		t.Helper()
		g, err := br.Generation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := gen(a); g != 0 {
		t.Fatalf("a credential never revoked is at generation %d, want 0", g)
	}
	for want := int64(1); want <= 2; want++ {
		g, err := a.Revoke(ctx, id, time.Hour)
		if err != nil || g != want {
			t.Fatalf("revoke: %d, %v; want generation %d", g, err, want)
		}
		if g := gen(b); g != want {
			t.Fatalf("the other instance reads generation %d, want %d", g, want)
		}
	}
	short := id + ":short"
	if _, err := a.Revoke(ctx, short, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, ctx, "a revocation to lapse with its ttl", func() bool {
		g, err := b.Generation(ctx, short)
		return err == nil && g == 0
	})

	once := "oidc-state:" + testkit.Room()
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for i := range 8 {
		br := a
		if i%2 == 1 {
			br = b
		}
		wg.Go(func() {
			first, err := br.FirstUse(ctx, once, 300*time.Millisecond)
			if err != nil {
				t.Error(err)
			}
			if first {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n != 1 {
		t.Fatalf("%d of 8 uses at once were the first, want 1", n)
	}
	testkit.WaitFor(t, ctx, "a used id to be free again after its ttl", func() bool {
		first, err := b.FirstUse(ctx, once, time.Minute)
		return err == nil && first
	})
}
