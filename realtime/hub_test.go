package realtime_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/brokertest"
)

// countingRenderer renders events as short strings and counts its calls.
type countingRenderer struct{ messages, histories atomic.Int64 }

func (r *countingRenderer) Message(m realtime.Message) []byte {
	r.messages.Add(1)
	return fmt.Appendf(nil, "m%d:%s|", m.Seq, m.Text)
}

func (r *countingRenderer) Presence(entered, left, names []string) []byte {
	var b []byte
	for _, n := range entered {
		b = fmt.Appendf(b, "n:%s:%s|", realtime.KindEntered, n)
	}
	for _, n := range left {
		b = fmt.Appendf(b, "n:%s:%s|", realtime.KindLeft, n)
	}
	return append(b, r.MemberList(names)...)
}

func (r *countingRenderer) MemberList(names []string) []byte {
	return []byte("l:" + strings.Join(names, ",") + "|")
}

func (r *countingRenderer) Availability(ok bool) []byte {
	if ok {
		return []byte("a:ok|")
	}
	return []byte("a:down|")
}

func (r *countingRenderer) Typing(names []string) []byte { return realtime.TypingText(names) }
func (r *countingRenderer) Directory(rooms []realtime.RoomCount, room string) []byte {
	return realtime.DirectoryText(rooms, room)
}
func (r *countingRenderer) Changed(m realtime.Message) []byte {
	return []byte(fmt.Sprintf("c%d:%s:%s|", m.Seq, m.Text, m.Deleted))
}
func (r *countingRenderer) Removed(name string) []byte { return []byte("r:" + name + "|") }

func (r *countingRenderer) MessageList(msgs []realtime.Message) []byte {
	r.histories.Add(1)
	var b strings.Builder
	b.WriteString("h")
	for _, m := range msgs {
		fmt.Fprintf(&b, ":%d", m.Seq)
	}
	// Ended like the other parts: a joiner's history and what came while it
	// was read share one frame.
	return []byte(b.String() + "|")
}

// fastPresence keeps presence tests short: the rules are the same, the
// clock is faster.
var fastPresence = realtime.PresenceTiming{LeaveGrace: 300 * time.Millisecond, Beat: 100 * time.Millisecond, TTL: 600 * time.Millisecond, Batch: 50 * time.Millisecond}

func newHub(t *testing.T, b realtime.Broker, r realtime.Renderer) *realtime.Hub {
	h, stop := startHub(b, r)
	t.Cleanup(stop)
	return h
}

// startHub runs a hub on the fast presence clock until stop is called;
// stopping it without its sockets leaving is what a crash looks like to
// the other instances.
func startHub(b realtime.Broker, r realtime.Renderer) (*realtime.Hub, func()) {
	return realtime.StartHub(b, r, realtime.WithPresenceTiming(fastPresence))
}

// parts holds what is left of frames that joined several parts (a presence
// frame carries its notices and the member list, each ending in "|").
var (
	partsMu sync.Mutex
	parts   = map[*realtime.Socket][]string{}
)

// recvAny returns the next frame, or the next part of a joined frame,
// member lists included.
func recvAny(t *testing.T, ctx context.Context, sock *realtime.Socket) string {
	t.Helper()
	partsMu.Lock()
	if p := parts[sock]; len(p) > 0 {
		parts[sock] = p[1:]
		partsMu.Unlock()
		return p[0]
	}
	partsMu.Unlock()
	select {
	case b, ok := <-sock.Out():
		if !ok {
			t.Fatal("member's queue closed")
		}
		f := string(b)
		if !strings.Contains(f, "|") {
			return f
		}
		split := strings.Split(strings.TrimSuffix(f, "|"), "|")
		partsMu.Lock()
		parts[sock] = append(parts[sock], split[1:]...)
		partsMu.Unlock()
		return split[0]
	case <-ctx.Done():
		t.Fatal("no frame before the deadline")
	}
	return ""
}

// recv returns the next frame that is not a member list or availability.
func recv(t *testing.T, ctx context.Context, sock *realtime.Socket) string {
	t.Helper()
	for {
		if f := recvAny(t, ctx, sock); !strings.HasPrefix(f, "l:") && !strings.HasPrefix(f, "a:") {
			return f
		}
	}
}

// recvList returns the next member list, skipping other frames.
func recvList(t *testing.T, ctx context.Context, sock *realtime.Socket) string {
	t.Helper()
	for {
		if f := recvAny(t, ctx, sock); strings.HasPrefix(f, "l:") {
			return f
		}
	}
}

// recvUntil reads frames until one equals want, returning those before it.
func recvUntil(t *testing.T, ctx context.Context, sock *realtime.Socket, want string) []string {
	t.Helper()
	var before []string
	for {
		got := recv(t, ctx, sock)
		if got == want {
			return before
		}
		before = append(before, got)
	}
}

func TestHubHistoryFirstThenLiveRenderedOnce(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		b := f.Make(t, 100)
		r := &countingRenderer{}
		h := newHub(t, b, r)
		room := testkit.Room()
		if _, err := h.Send(ctx, room, realtime.Message{Name: "ann", Text: "before"}, ""); err != nil {
			t.Fatal(err)
		}
		var members []*realtime.Socket
		for i := range 5 {
			sock, err := h.Join(ctx, room, brokertest.User("user"+strconv.Itoa(i)), realtime.NewTestConn())
			if err != nil {
				t.Fatal(err)
			}
			defer sock.Leave()
			if got := recv(t, ctx, sock); got != "h:1" {
				t.Fatalf("first frame %q, want the history h:1", got)
			}
			members = append(members, sock)
		}
		before := r.messages.Load()
		if _, err := h.Send(ctx, room, realtime.Message{Name: "user0", Text: "live"}, ""); err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			// Entry notices of later joiners may come first.
			for _, f := range recvUntil(t, ctx, m, "m2:live") {
				if !strings.HasPrefix(f, "n:entered:") {
					t.Fatalf("unexpected frame %q before the live message", f)
				}
			}
		}
		if n := r.messages.Load() - before; n != 1 {
			t.Fatalf("message rendered %d times for 5 sockets, want once", n)
		}
	})
}

func TestHubNoticesGoToOthers(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		h := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		ann, err := h.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer ann.Leave()
		recv(t, ctx, ann) // history
		bob, err := h.Join(ctx, room, brokertest.User("bob"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		recv(t, ctx, bob)
		if got := recv(t, ctx, ann); got != "n:entered:bob" {
			t.Fatalf("ann got %q, want bob's entry", got)
		}
		bob.Leave()
		if got := recv(t, ctx, ann); got != "n:left:bob" {
			t.Fatalf("ann got %q, want bob's exit after the grace period", got)
		}
		// Ann's own entry never reached her: the next frame is a message.
		if _, err := h.Send(ctx, room, realtime.Message{Name: "ann", Text: "x"}, ""); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, ctx, ann); got != "m1:x" {
			t.Fatalf("ann got %q, want her message", got)
		}
	})
}

func TestHubDropsSlowMemberWithoutStallingRoom(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		h := newHub(t, f.Make(t, 1000), &countingRenderer{})
		room := testkit.Room()
		slow, err := h.Join(ctx, room, brokertest.User("slow"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Leave()
		fast, err := h.Join(ctx, room, brokertest.User("fast"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer fast.Leave()
		recv(t, ctx, fast)
		const n = realtime.DefaultQueueSize * 2
		for i := 1; i <= n; i++ {
			if _, err := h.Send(ctx, room, realtime.Message{Name: "fast", Text: strconv.Itoa(i)}, ""); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("m%d:%d", i, i)
			for _, f := range recvUntil(t, ctx, fast, want) {
				if !strings.HasPrefix(f, "n:") {
					t.Fatalf("fast got %q before %q", f, want)
				}
			}
		}
		// The slow member never read: its queue was closed, not grown.
		count := 0
		for range slow.Out() {
			count++
		}
		if !slow.Dropped() || count > realtime.DefaultQueueSize {
			t.Fatalf("slow member: dropped %v after %d frames", slow.Dropped(), count)
		}
	})
}

func TestHubInstancesShareRooms(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		if !f.Shared {
			t.Skip("brokers of this kind are single-instance")
		}
		ctx := brokertest.Context(t)
		h1 := newHub(t, f.Make(t, 100), &countingRenderer{})
		h2 := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		a, err := h1.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer a.Leave()
		recv(t, ctx, a)
		// Presence is recorded beside the join; the list follows it.
		recvList(t, ctx, a)
		b, err := h2.Join(ctx, room, brokertest.User("bob"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Leave()
		recv(t, ctx, b)
		if got := recv(t, ctx, a); got != "n:entered:bob" {
			t.Fatalf("ann got %q", got)
		}
		if _, err := h2.Send(ctx, room, realtime.Message{Name: "bob", Text: "from 2"}, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := h1.Send(ctx, room, realtime.Message{Name: "ann", Text: "from 1"}, ""); err != nil {
			t.Fatal(err)
		}
		for _, m := range []*realtime.Socket{a, b} {
			if got := recv(t, ctx, m); got != "m1:from 2" {
				t.Fatalf("got %q, want m1", got)
			}
			if got := recv(t, ctx, m); got != "m2:from 1" {
				t.Fatalf("got %q, want m2", got)
			}
		}
	})
}

// quietFor asserts that m gets no notice while the leave grace and a
// presence beat run out, then that the next frame is a sentinel message.
func quietFor(t *testing.T, ctx context.Context, h *realtime.Hub, sock *realtime.Socket, room string) {
	t.Helper()
	// Long enough for a pending leave to have fired and been read back.
	deadline := time.Now().Add(fastPresence.LeaveGrace + 3*fastPresence.Beat)
	for time.Now().Before(deadline) {
		select {
		case f, ok := <-sock.Out():
			if !ok {
				t.Fatal("queue closed")
			}
			if strings.Contains(string(f), "n:") {
				t.Fatalf("got notice %q, want none", f)
			}
		case <-time.After(time.Until(deadline)):
		}
	}
	msg, err := h.Send(ctx, room, realtime.Message{Name: "sentinel", Text: "end"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := recv(t, ctx, sock), fmt.Sprintf("m%d:end", msg.Seq); got != want {
		t.Fatalf("got %q, want the sentinel %q", got, want)
	}
}

func TestHubReloadMakesNoNoise(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		h := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		bob, err := h.Join(ctx, room, brokertest.User("bob"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer bob.Leave()
		recv(t, ctx, bob)
		ann, err := h.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		if got := recv(t, ctx, bob); got != "n:entered:ann" {
			t.Fatalf("bob got %q, want ann's entry", got)
		}
		// A reload: the socket closes and a new one opens at once.
		ann.Leave()
		ann, err = h.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer ann.Leave()
		quietFor(t, ctx, h, bob, room)
	})
}

func TestHubPresenceAcrossInstances(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		if !f.Shared {
			t.Skip("brokers of this kind are single-instance")
		}
		ctx := brokertest.Context(t)
		b1 := f.Make(t, 100)
		h1, crash := startHub(b1, &countingRenderer{})
		t.Cleanup(crash)
		h2 := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()

		bob, err := h2.Join(ctx, room, brokertest.User("bob"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer bob.Leave()
		recv(t, ctx, bob)
		// Two tabs of ann, one on each instance: listed once.
		tab1, err := h1.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		tab2, err := h2.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, ctx, "ann and bob listed", func() bool { return recvList(t, ctx, bob) == "l:ann,bob" })
		// Closing one tab is no departure.
		tab2.Leave()
		quietFor(t, ctx, h2, bob, room)

		// The instance holding ann's last tab dies: no leave, no heartbeat.
		_ = tab1
		crash()
		if got := recv(t, ctx, bob); got != "n:left:ann" {
			t.Fatalf("bob got %q, want ann to leave when her instance died", got)
		}
		if got := recvList(t, ctx, bob); got != "l:bob" {
			t.Fatalf("list %q, want bob alone", got)
		}
	})
}

func TestHubClaimsNames(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		h := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		alice := realtime.User{Name: "Alice", Session: "s1"}
		if held, err := h.Claim(ctx, room, alice); err != nil || !held {
			t.Fatalf("Alice could not claim her name in an empty room: %v %v", held, err)
		}
		sock, err := h.Join(ctx, room, alice, realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			u    realtime.User
			want bool
		}{
			{realtime.User{Name: "Alice", Session: "s2"}, false},
			{realtime.User{Name: "aLICE", Session: "s2"}, false},
			{realtime.User{Name: "\u0410lice", Session: "s2"}, false}, // Cyrillic А
			{realtime.User{Name: "AIice", Session: "s2"}, false},      // capital i
			{realtime.User{Name: "A1ice", Session: "s2"}, false},
			{realtime.User{Name: "Alice", Session: "s1"}, true}, // her own other tab
			{realtime.User{Name: "Bob", Session: "s2"}, true},
		} {
			if got, err := h.Claim(ctx, room, c.u); err != nil || got != c.want {
				t.Errorf("Claim(%+q) = %v, %v; want %v", c.u, got, err, c.want)
			}
		}
		if got, _ := h.Claim(ctx, testkit.Room(), realtime.User{Name: "Alice", Session: "s2"}); !got {
			t.Error("the name is taken in another room too")
		}
		// Her claim outlives its first TTL while she is present.
		deadline := time.Now().Add(2 * fastPresence.TTL)
		tick := time.NewTicker(fastPresence.Beat)
		for time.Now().Before(deadline) {
			if got, err := h.Claim(ctx, room, realtime.User{Name: "Alice", Session: "s3"}); err != nil || got {
				t.Fatalf("Alice's name was taken while she was present: %v %v", got, err)
			}
			<-tick.C
		}
		tick.Stop()
		sock.Leave()
		testkit.WaitFor(t, ctx, "Alice's name is free after she left", func() bool {
			got, err := h.Claim(ctx, room, realtime.User{Name: "ALICE", Session: "s2"})
			return err == nil && got
		})
	})
}

// A name stays its holder's while they are present on another instance,
// past the presence TTL, and is free once their instance died without a
// leave and its entries lapsed.
func TestHubClaimLapsesWithItsInstance(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		if !f.Shared {
			t.Skip("brokers of this kind are single-instance")
		}
		ctx := brokertest.Context(t)
		h1, crash := startHub(f.Make(t, 100), &countingRenderer{})
		t.Cleanup(crash)
		h2 := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		alice := realtime.User{Name: "Alice", Session: "s1"}
		if held, err := h1.Claim(ctx, room, alice); err != nil || !held {
			t.Fatalf("Alice could not claim her name: %v %v", held, err)
		}
		if _, err := h1.Join(ctx, room, alice, realtime.NewTestConn()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * fastPresence.TTL)
		tick := time.NewTicker(fastPresence.Beat)
		for time.Now().Before(deadline) {
			if got, err := h2.Claim(ctx, room, realtime.User{Name: "alice", Session: "s2"}); err != nil || got {
				t.Fatalf("Alice's name was taken on the other instance while she was present: %v %v", got, err)
			}
			<-tick.C
		}
		tick.Stop()
		crash()
		testkit.WaitFor(t, ctx, "Alice's name free after her instance died", func() bool {
			got, err := h2.Claim(ctx, room, realtime.User{Name: "alice", Session: "s2"})
			return err == nil && got
		})
	})
}

// Twenty sessions claim one name at the same moment over two instances:
// exactly one gets it.
func TestHubClaimIsAtomic(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		h1 := newHub(t, f.Make(t, 100), &countingRenderer{})
		h2 := h1
		if f.Shared {
			h2 = newHub(t, f.Make(t, 100), &countingRenderer{})
		}
		room := testkit.Room()
		var won atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 20 {
			h := []*realtime.Hub{h1, h2}[i%2]
			wg.Go(func() {
				<-start
				held, err := h.Claim(ctx, room, realtime.User{Name: "Alice", Session: "s" + strconv.Itoa(i)})
				if err != nil {
					t.Error(err)
				}
				if held {
					won.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Fatalf("%d of 20 simultaneous claims got the name, want 1", n)
		}
	})
}

// When the store loses a room (Redis restarted empty, a FLUSHALL), its
// numbering starts over. Sockets that stayed open showed higher numbers:
// they take the room's history afresh and miss none of the next messages.
func TestHubNumberingStartsOverWhenTheStoreLosesTheRoom(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		if f.Lose == nil {
			t.Skip("memory is not lost while the process lives")
		}
		ctx := brokertest.Context(t)
		h1 := newHub(t, f.Make(t, 100), &countingRenderer{})
		h2 := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		var members []*realtime.Socket
		for i, h := range []*realtime.Hub{h1, h2} {
			sock, err := h.Join(ctx, room, brokertest.User("u"+strconv.Itoa(i)), realtime.NewTestConn())
			if err != nil {
				t.Fatal(err)
			}
			defer sock.Leave()
			recvUntil(t, ctx, sock, "h")
			members = append(members, sock)
		}
		for i := 1; i <= 3; i++ {
			if _, err := h1.Send(ctx, room, realtime.Message{Name: "u0", Text: "old" + strconv.Itoa(i)}, ""); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range members {
			recvUntil(t, ctx, m, "m3:old3")
		}
		f.Lose(t, room)
		for i := 1; i <= 6; i++ {
			h := []*realtime.Hub{h1, h2}[i%2]
			if _, err := h.Send(ctx, room, realtime.Message{Name: "u0", Text: "new" + strconv.Itoa(i)}, ""); err != nil {
				t.Fatal(err)
			}
		}
		for i, m := range members {
			// The first new message comes as the room's new history (or
			// live, where the history was read before it); then each
			// message once, in order.
			// Presence notices may come at any point: they are not what
			// is looked at here.
			recvMessage := func() string {
				for {
					if f := recv(t, ctx, m); !strings.HasPrefix(f, "n:") {
						return f
					}
				}
			}
			got := recvMessage()
			next := 2
			switch {
			case got == "h:1":
			case strings.HasPrefix(got, "h:1:"):
				next = len(strings.Split(got, ":"))
			default:
				t.Fatalf("member %d: after the loss got %q, want the new history", i, got)
			}
			for ; next <= 6; next++ {
				want := "m" + strconv.Itoa(next) + ":new" + strconv.Itoa(next)
				if got := recvMessage(); got != want {
					t.Fatalf("member %d: got %q, want %q", i, got, want)
				}
			}
		}
	})
}

// A message whose publish was lost on the way (stored, never heard) leaves
// a gap in the room's live sequence: the instance sees it at the next
// message and sends its pages the history, which has it.
func TestHubGapInTheLiveSequenceResyncs(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		if f.Client == nil {
			t.Skip("the memory broker loses no publish")
		}
		ctx := brokertest.Context(t)
		h := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		sock, err := h.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Leave()
		for i := 1; i <= 3; i++ {
			if _, err := h.Send(ctx, room, realtime.Message{Name: "ann", Text: strconv.Itoa(i)}, ""); err != nil {
				t.Fatal(err)
			}
		}
		recvUntil(t, ctx, sock, "m3:3")
		// Message 4 is stored but its publish is lost.
		c := f.Client()
		defer c.Close()
		if err := c.Incr(ctx, "chat:{"+room+"}:seq").Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.RPush(ctx, "chat:{"+room+"}:history", `{"seq":4,"type":"message","name":"ann","text":"quiet"}`).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Send(ctx, room, realtime.Message{Name: "ann", Text: "5"}, ""); err != nil {
			t.Fatal(err)
		}
		recvUntil(t, ctx, sock, "h:1:2:3:4:5")
	})
}

// A crowd arriving costs each socket one presence frame per batch, not one
// per person: their notices and the list come together.
func TestHubPresenceFramesAtMostOnceABatch(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		slow := fastPresence
		slow.Batch = 300 * time.Millisecond
		b := f.Make(t, 100)
		h, stop := realtime.StartHub(b, &countingRenderer{}, realtime.WithPresenceTiming(slow))
		defer stop()
		room := testkit.Room()
		obs, err := h.Join(ctx, room, brokertest.User("observer"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer obs.Leave()
		recvList(t, ctx, obs)
		start := time.Now()
		for i := range 30 {
			sock, err := h.Join(ctx, room, brokertest.User("u"+strconv.Itoa(i)), realtime.NewTestConn())
			if err != nil {
				t.Fatal(err)
			}
			defer sock.Leave()
		}
		lists := 0
		for {
			got := recvList(t, ctx, obs)
			lists++
			if strings.Count(got, ",") == 30 {
				break
			}
		}
		if most := int(time.Since(start)/slow.Batch) + 1; lists > most {
			t.Fatalf("%d member lists in %v, want at most one per %v (%d)", lists, time.Since(start), slow.Batch, most)
		}
	})
}

// A room's history is bounded in bytes as well as in count: a hundred
// messages of 2,000 "<" are not all sent to every page.
func TestHubHistoryIsBoundedInBytes(t *testing.T) {
	ctx := brokertest.Context(t)
	b := realtime.NewMemoryBroker(100)
	defer b.Close()
	h := newHub(t, b, &countingRenderer{})
	room := testkit.Room()
	big := strings.Repeat("<", 2000)
	for i := range 100 {
		if _, err := h.Send(ctx, room, realtime.Message{Name: "ann", Text: big + strconv.Itoa(i)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := h.Recent(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 || len(msgs) > 20 || msgs[len(msgs)-1].Seq != 100 {
		t.Fatalf("history of %d messages, last %v: want the newest that fit 128 KiB of HTML", len(msgs), msgs[len(msgs)-1].Seq)
	}
}

// A room's typing signals reach a socket in at most one frame every 2 s on
// an instance: the first at once, those of the rest of those 2 s
// together when it is up, each name once.
func TestHubTypingGathered(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		h := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		ann, err := h.Join(ctx, room, brokertest.User("ann"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer ann.Leave()
		recv(t, ctx, ann) // history
		for _, name := range []string{"bob", "cat", "dan", "cat"} {
			if err := h.Typing(ctx, room, name); err != nil {
				t.Fatal(err)
			}
		}
		var frames []string
		var arrived []time.Time
		for len(frames) < 2 {
			select {
			case b := <-ann.Out():
				if f := string(b); strings.Contains(f, "t:") {
					frames = append(frames, f)
					arrived = append(arrived, time.Now())
				}
			case <-ctx.Done():
				t.Fatalf("typing frames so far %q", frames)
			}
		}
		if frames[0] != "t:bob|" || frames[1] != "t:cat|t:dan|" {
			t.Errorf("typing frames %q, want bob's at once, then cat and dan in one", frames)
		}
		// The second waits for the 2 s to be up (less what its own
		// delivery took: the first's may have been slower).
		if gap := arrived[1].Sub(arrived[0]); gap < 1800*time.Millisecond {
			t.Errorf("the gathered frame came %v after the first, want about 2 s", gap)
		}
	})
}

// nextFrame returns the next part of sock's frames that match, skipping
// the others.
func nextFrame(t *testing.T, ctx context.Context, sock *realtime.Socket, match func(string) bool) string {
	t.Helper()
	for {
		if f := recvAny(t, ctx, sock); match(f) {
			return f
		}
	}
}

// With WithDirectoryPush, the sockets that follow the directory are sent
// it, for their room, and again when it changes; the others never are.
func TestHubPushesTheDirectory(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		h, stop := realtime.StartHub(f.Make(t, 100), &countingRenderer{}, realtime.WithPresenceTiming(fastPresence), realtime.WithDirectoryPush(50*time.Millisecond))
		t.Cleanup(stop)
		a, b := testkit.Room(), testkit.Room()
		ann, err := h.Join(ctx, a, brokertest.User("ann"), realtime.NewTestConn(), realtime.FollowingDirectory())
		if err != nil {
			t.Fatal(err)
		}
		defer ann.Leave()
		bob, err := h.Join(ctx, a, brokertest.User("bob"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer bob.Leave()
		listed := func(room string, n int) func(string) bool {
			return func(f string) bool {
				return strings.HasPrefix(f, "d@"+a+":") && strings.Contains(f, fmt.Sprintf("%s=%d,", room, n))
			}
		}
		nextFrame(t, ctx, ann, listed(a, 2))
		cat, err := h.Join(ctx, b, brokertest.User("cat"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Leave()
		nextFrame(t, ctx, ann, listed(b, 1))
		// Bob, who does not follow it, was sent none meanwhile.
		for {
			select {
			case data := <-bob.Out():
				if strings.Contains(string(data), "d@") {
					t.Fatalf("bob was sent the directory: %q", data)
				}
				continue
			default:
			}
			break
		}
	})
}

// A hidden page's socket is sent neither who is typing nor the directory,
// and everything else as before; shown again, it is sent the directory
// that changed while it was hidden at the next look, and typing with the
// next frame.
func TestHubHiddenPagesGetNoTypingNorDirectory(t *testing.T) {
	ctx := brokertest.Context(t)
	b := realtime.NewMemoryBroker(100)
	t.Cleanup(func() { b.Close() })
	h, stop := realtime.StartHub(b, &countingRenderer{}, realtime.WithPresenceTiming(fastPresence), realtime.WithDirectoryPush(50*time.Millisecond))
	t.Cleanup(stop)
	a, other := testkit.Room(), testkit.Room()
	join := func(room, name string) *realtime.Socket {
		t.Helper()
		s, err := h.Join(ctx, room, brokertest.User(name), realtime.NewTestConn(), realtime.FollowingDirectory())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Leave)
		return s
	}
	send := func(text string) {
		t.Helper()
		if _, err := h.Send(ctx, a, realtime.Message{Name: "bob", Text: text}, ""); err != nil {
			t.Fatal(err)
		}
	}
	message := func(text string) func(string) bool {
		return func(f string) bool { return strings.HasSuffix(f, ":"+text) }
	}
	listed := func(room string) func(string) bool {
		return func(f string) bool { return strings.HasPrefix(f, "d@"+a+":") && strings.Contains(f, room+"=1,") }
	}
	typing := func(name string) func(string) bool {
		return func(f string) bool { return strings.HasPrefix(f, "t:") && strings.Contains(f, name) }
	}
	shown, hidden := join(a, "ann"), join(a, "hid")
	nextFrame(t, ctx, hidden, func(f string) bool { return strings.HasPrefix(f, "d@"+a+":") })
	hidden.SetVisible(false)
	// What was queued for it before it hid.
	send("before")
	nextFrame(t, ctx, hidden, message("before"))

	join(other, "cat") // the directory changes
	nextFrame(t, ctx, shown, listed(other))
	if err := h.Typing(ctx, a, "bob"); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, ctx, shown, typing("bob"))
	send("after")
	for f := ""; !message("after")(f); f = recvAny(t, ctx, hidden) {
		if strings.HasPrefix(f, "t:") || strings.HasPrefix(f, "d@") {
			t.Errorf("the hidden page was sent %q", f)
		}
	}

	hidden.SetVisible(true)
	nextFrame(t, ctx, hidden, listed(other))
	if err := h.Typing(ctx, a, "dan"); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, ctx, hidden, typing("dan"))
}

// A name a frame had lately goes again only when the pages would stop
// showing it (typingRepeat after that frame, not with each signal), and not
// at all once its message came: the pages stop showing it then.
func TestHubTypingRepeatsHeld(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		h := newHub(t, f.Make(t, 100), &countingRenderer{})
		room := testkit.Room()
		cat, err := h.Join(ctx, room, brokertest.User("cat"), realtime.NewTestConn())
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Leave()
		recv(t, ctx, cat) // history
		typing := func(name string) {
			t.Helper()
			if err := h.Typing(ctx, room, name); err != nil {
				t.Fatal(err)
			}
		}
		// next is the next typing or message frame, and when it came.
		next := func() (string, time.Time) {
			t.Helper()
			for {
				select {
				case b := <-cat.Out():
					if f := string(b); strings.HasPrefix(f, "t:") || strings.HasPrefix(f, "m") {
						return f, time.Now()
					}
				case <-ctx.Done():
					t.Fatal("no typing or message frame")
				}
			}
		}
		// after waits until d has passed since since.
		after := func(since time.Time, d time.Duration) {
			testkit.WaitFor(t, ctx, "time to pass", func() bool { return time.Since(since) >= d })
		}
		typing("ann")
		f1, at1 := next()
		if f1 != "t:ann|" {
			t.Fatalf("first frame %q, want ann typing at once", f1)
		}
		// Her next signals (the page sends one every 2 s) wait for the
		// repeat.
		after(at1, 1100*time.Millisecond)
		typing("ann")
		f2, at2 := next()
		if f2 != "t:ann|" || at2.Sub(at1) < 2500*time.Millisecond {
			t.Errorf("ann's repeat %q came %v after the first, want about %v", f2, at2.Sub(at1), 3*time.Second)
		}
		// A signal held for the repeat is dropped when her message comes.
		after(at2, 1100*time.Millisecond)
		typing("ann")
		if _, err := h.Send(ctx, room, realtime.Message{Name: "ann", Text: "hi"}, ""); err != nil {
			t.Fatal(err)
		}
		if f, _ := next(); !strings.HasSuffix(f, ":hi|") {
			t.Fatalf("frame %q, want ann's message", f)
		}
		typing("bob")
		if f, _ := next(); f != "t:bob|" {
			t.Errorf("frame %q after ann's message, want bob typing alone", f)
		}
	})
}
