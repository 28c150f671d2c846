package realtime

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

// benchRenderer stands in for the HTML fragments: a fixed-size frame.
type benchRenderer struct{}

func (benchRenderer) Message(m Message) []byte             { return make([]byte, 300) }
func (benchRenderer) Presence(_, _, _ []string) []byte     { return nil }
func (benchRenderer) MessageList([]Message) []byte         { return nil }
func (benchRenderer) MemberList([]string) []byte           { return nil }
func (benchRenderer) Availability(bool) []byte             { return nil }
func (benchRenderer) Typing([]string) []byte               { return nil }
func (benchRenderer) Directory([]RoomCount, string) []byte { return nil }
func (benchRenderer) Changed(Message) []byte               { return nil }
func (benchRenderer) Removed(string) []byte                { return nil }

// BenchmarkFanOut1000 hands one message to the queues of 1,000 local
// sockets in a room, while a reader per socket drains its queue, as the
// writers do.
func BenchmarkFanOut1000(b *testing.B) {
	const sockets = 1000
	broker := NewMemoryBroker(100)
	defer broker.Close()
	h := NewHub(broker, benchRenderer{}, slog.New(slog.DiscardHandler))
	h.queueSize = 1024
	ctx := context.Background()
	var readers sync.WaitGroup
	var members []*Socket
	for i := range sockets {
		sock, err := h.Join(ctx, "bench", User{Name: strconv.Itoa(i), Session: strconv.Itoa(i)}, NewTestConn())
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, sock)
		readers.Go(func() {
			for range sock.Out() {
			}
		})
	}
	ev := Event{Room: "bench", Kind: KindMessage, Message: Message{Name: "a", Text: "hello", Time: time.Now()}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev.Message.Seq = int64(i + 1)
		h.dispatch(ev)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*sockets)/b.Elapsed().Seconds(), "deliveries/s")
	for _, sock := range members {
		if sock.Dropped() {
			b.Fatal("a socket was dropped: the readers did not keep up")
		}
		sock.leave(false)
		sock.conn.End(false) // as a handler closes its connection
	}
	readers.Wait()
}

// countedRenderer is benchRenderer counting its messages.
type countedRenderer struct {
	benchRenderer
	n *int
}

func (r countedRenderer) Message(m Message) []byte { *r.n++; return r.benchRenderer.Message(m) }

// BenchmarkFanOutLanguages is BenchmarkFanOut1000 with the room's 1,000
// sockets reading one, two or ten languages: the renders per message
// (renders/op) follow the languages, not the sockets.
func BenchmarkFanOutLanguages(b *testing.B) {
	for _, langs := range []int{1, 2, 10} {
		b.Run(strconv.Itoa(langs), func(b *testing.B) {
			const sockets = 1000
			broker := NewMemoryBroker(100)
			defer broker.Close()
			renders := 0
			renderers := map[string]Renderer{}
			for l := range langs {
				renderers[strconv.Itoa(l)] = countedRenderer{n: &renders}
			}
			h := NewHub(broker, renderers["0"], slog.New(slog.DiscardHandler), WithLanguages(renderers, "0"))
			h.queueSize = 1024
			ctx := context.Background()
			var readers sync.WaitGroup
			var members []*Socket
			for i := range sockets {
				sock, err := h.Join(ctx, "bench", User{Name: strconv.Itoa(i), Session: strconv.Itoa(i)}, NewTestConn(), InLanguage(strconv.Itoa(i%langs)))
				if err != nil {
					b.Fatal(err)
				}
				members = append(members, sock)
				readers.Go(func() {
					for range sock.Out() {
					}
				})
			}
			ev := Event{Room: "bench", Kind: KindMessage, Message: Message{Name: "a", Text: "hello", Time: time.Now()}}
			renders = 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ev.Message.Seq = int64(i + 1)
				h.dispatch(ev)
			}
			b.StopTimer()
			b.ReportMetric(float64(renders)/float64(b.N), "renders/op")
			for _, sock := range members {
				sock.leave(false)
				sock.conn.End(false)
			}
			readers.Wait()
		})
	}
}
