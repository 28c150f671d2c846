package realtime

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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

func (textRenderer) Message(m Message) []byte        { return fmt.Appendf(nil, "m%d|", m.Seq) }
func (textRenderer) Notice(EventKind, string) []byte { return nil }
func (textRenderer) Members([]string) []byte         { return nil }
func (textRenderer) Availability(bool) []byte        { return []byte("a|") }
func (textRenderer) History(msgs []Message) []byte {
	var b strings.Builder
	b.WriteString("h")
	for _, m := range msgs {
		fmt.Fprintf(&b, ":%d", m.Seq)
	}
	return []byte(b.String() + "|")
}

// shown applies m's frames to what a page would show, in order, until the
// page shows want; it returns the histories the page was sent meanwhile.
func shown(t *testing.T, m *Member, want string) (histories []string) {
	t.Helper()
	var page []string
	deadline := time.After(10 * time.Second)
	for {
		var data []byte
		select {
		case data = <-m.Out():
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
	h := NewHub(b, textRenderer{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	const room = "r"
	ann, err := h.Join(ctx, room, User{Name: "ann", Session: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Leave()
	for i := range 3 {
		if _, err := h.Send(ctx, room, "ann", fmt.Sprint(i), ""); err != nil {
			t.Fatal(err)
		}
	}
	shown(t, ann, "1,2,3")

	// A resync reads messages 1 to 3, and is slow to return.
	b.hold <- struct{}{}
	h.askResync(room)
	<-b.read
	// Meanwhile message 4 is sent, and Bob joins and reads 1 to 4.
	if _, err := h.Send(ctx, room, "ann", "3", ""); err != nil {
		t.Fatal(err)
	}
	bob, err := h.Join(ctx, room, User{Name: "bob", Session: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave()
	close(b.release)
	if _, err := h.Send(ctx, room, "ann", "4", ""); err != nil {
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
