package realtime

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// heldBroker is a memory broker whose next History, once held, reads the
// history at once but returns it only when released: a slow read.
type heldBroker struct {
	*MemoryBroker
	hold    chan struct{} // a value here holds the next History
	read    chan struct{} // told when a held History has read
	release chan struct{}
}

func (b *heldBroker) History(ctx context.Context, room string) ([]Message, error) {
	msgs, err := b.MemoryBroker.History(ctx, room)
	select {
	case <-b.hold:
		b.read <- struct{}{}
		<-b.release
	default:
	}
	return msgs, err
}

// textRenderer renders frames as short strings.
type textRenderer struct{}

func (textRenderer) Message(m Message) []byte         { return fmt.Appendf(nil, "m%d|", m.Seq) }
func (textRenderer) Presence(_, _, _ []string) []byte { return nil }
func (textRenderer) MemberList([]string) []byte       { return nil }
func (textRenderer) Availability(bool) []byte         { return []byte("a|") }
func (textRenderer) Typing(names []string) []byte     { return typingText(names) }
func (textRenderer) Directory(rooms []RoomCount, room string) []byte {
	return directoryText(rooms, room)
}
func (textRenderer) Changed(m Message) []byte {
	return []byte("c" + m.Text + "|")
}
func (textRenderer) Removed(name string) []byte { return []byte("r:" + name + "|") }
func (textRenderer) MessageList(msgs []Message) []byte {
	var b strings.Builder
	b.WriteString("h")
	for _, m := range msgs {
		fmt.Fprintf(&b, ":%d", m.Seq)
	}
	return []byte(b.String() + "|")
}

// shown applies sock's frames to what a page would show, in order, until the
// page shows want; it returns the histories the page was sent meanwhile.
func shown(t *testing.T, sock *Socket, want string) (histories []string) {
	t.Helper()
	var page []string
	deadline := time.After(10 * time.Second)
	for {
		var data []byte
		select {
		case data = <-sock.Out():
		case <-deadline:
			t.Fatalf("the page shows %v, never %s", page, want)
		}
		for _, f := range strings.Split(strings.TrimSuffix(string(data), "|"), "|") {
			switch {
			case strings.HasPrefix(f, "h"):
				page = strings.Split(f, ":")[1:]
				histories = append(histories, f)
			case strings.HasPrefix(f, "m"):
				page = append(page, f[1:])
			}
		}
		if strings.Join(page, ",") == want {
			return histories
		}
	}
}

// A socket that joins while its room resyncs reads a newer history than
// the resync's. The resync's older history must not replace it: the socket
// would then lose the messages between the two reads, which are not sent
// to it again.
func TestResyncDoesNotTakeMessagesOffANewerJoin(t *testing.T) {
	b := &heldBroker{MemoryBroker: NewMemoryBroker(100), hold: make(chan struct{}, 1), read: make(chan struct{}), release: make(chan struct{})}
	defer b.Close()
	h, stop := StartHub(b, textRenderer{})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const room = "r"
	ann, err := h.Join(ctx, room, User{Name: "ann", Session: "a"}, NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Leave()
	for i := range 3 {
		if _, err := h.Send(ctx, room, Message{Name: "ann", Text: fmt.Sprint(i)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	shown(t, ann, "1,2,3")

	// A resync reads messages 1 to 3, and is slow to return.
	b.hold <- struct{}{}
	h.mu.Lock()
	r := h.rooms[room]
	h.mu.Unlock()
	h.resync(r)
	<-b.read
	// Meanwhile message 4 is sent, and Bob joins and reads 1 to 4.
	if _, err := h.Send(ctx, room, Message{Name: "ann", Text: "3"}, ""); err != nil {
		t.Fatal(err)
	}
	bob, err := h.Join(ctx, room, User{Name: "bob", Session: "b"}, NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave()
	close(b.release)
	if _, err := h.Send(ctx, room, Message{Name: "ann", Text: "4"}, ""); err != nil {
		t.Fatal(err)
	}
	shown(t, ann, "1,2,3,4,5")
	// Bob's page never goes back to the resync's older history: message 4
	// would vanish from it, and with a socket that only ever raises what it
	// has seen, never come back.
	if hs := shown(t, bob, "1,2,3,4,5"); len(hs) != 1 || hs[0] != "h:1:2:3:4" {
		t.Fatalf("bob was sent the histories %q, want only his own h:1:2:3:4", hs)
	}
}

// stuckBroker is a memory broker whose History of one room does not answer
// until the caller gives up.
type stuckBroker struct {
	*MemoryBroker
	stuck    string
	asked    chan struct{}
	answered atomic.Bool // the stuck read has given up
}

func (b *stuckBroker) History(ctx context.Context, room string) ([]Message, error) {
	if room == b.stuck {
		b.asked <- struct{}{}
		<-ctx.Done()
		b.answered.Store(true)
		return nil, ctx.Err()
	}
	return b.MemoryBroker.History(ctx, room)
}

// A resync whose read of the history does not answer stalls no other room,
// and gives up at its deadline; the live messages of its own room that came
// meanwhile still reach its pages.
func TestStuckResyncStallsNoOtherRoom(t *testing.T) {
	b := &stuckBroker{MemoryBroker: NewMemoryBroker(100), asked: make(chan struct{}, 1)}
	defer b.Close()
	h, stop := StartHub(b, textRenderer{})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slow, err := h.Join(ctx, "slow", User{Name: "ann", Session: "a"}, NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Leave()
	fast, err := h.Join(ctx, "fast", User{Name: "bob", Session: "b"}, NewTestConn())
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Leave()
	b.stuck = "slow"
	h.mu.Lock()
	r := h.rooms["slow"]
	h.mu.Unlock()
	h.resync(r)
	<-b.asked

	if _, err := h.Send(ctx, "slow", Message{Name: "ann", Text: "held"}, ""); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := h.Send(ctx, "fast", Message{Name: "bob", Text: fmt.Sprint(i)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	shown(t, fast, "1,2,3")
	if b.answered.Load() {
		t.Error("the other room's messages waited for the stuck read")
	}
	// The stuck read gives up; the message held meanwhile follows.
	shown(t, slow, "1")
}

// The memory broker forgets a room untouched for its room TTL, as Redis
// expires its keys, unless someone is in it.
func TestMemoryBrokerForgetsIdleRooms(t *testing.T) {
	b := NewMemoryBroker(100, WithMemoryRoomTTL(20*time.Millisecond))
	defer b.Close()
	ctx := context.Background()
	if _, _, err := b.Send(ctx, "idle", Message{Name: "ann", Text: "hello"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Send(ctx, "kept", Message{Name: "bob", Text: "hi"}, ""); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		// Any write looks for rooms to forget.
		if _, _, err := b.Send(ctx, "busy", Message{Name: "cy", Text: "x"}, ""); err != nil {
			t.Fatal(err)
		}
		b.mu.Lock()
		_, idle := b.rooms["idle"]
		_, kept := b.rooms["kept"]
		b.mu.Unlock()
		if !kept {
			t.Fatal("a room with a subscriber was forgotten")
		}
		if !idle {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("an idle room was kept past its TTL")
		}
	}
	if msgs, _ := b.History(ctx, "idle"); len(msgs) != 0 {
		t.Fatalf("a forgotten room still has %d messages", len(msgs))
	}
}

// typingText is a typing frame as the test renderers write it: "t:name|"
// for each name.
func typingText(names []string) []byte {
	var b []byte
	for _, n := range names {
		b = append(b, "t:"+n+"|"...)
	}
	return b
}

// directoryText is a directory frame as the test renderers write it:
// "d@room:" then "name=members," for each room.
func directoryText(rooms []RoomCount, room string) []byte {
	b := []byte("d@" + room + ":")
	for _, r := range rooms {
		b = append(b, fmt.Sprintf("%s=%d,", r.Room, r.Members)...)
	}
	return append(b, '|')
}
