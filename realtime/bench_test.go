package realtime

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime/redistest"
)

// benchRenderer stands in for the HTML fragments: a fixed-size frame.
type benchRenderer struct{}

func (benchRenderer) Message(m Message) []byte        { return make([]byte, 300) }
func (benchRenderer) Notice(EventKind, string) []byte { return nil }
func (benchRenderer) History([]Message) []byte        { return nil }
func (benchRenderer) Members([]string) []byte         { return nil }
func (benchRenderer) Availability(bool) []byte        { return nil }

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
	var members []*Member
	for i := range sockets {
		m, err := h.Join(ctx, "bench", User{Name: strconv.Itoa(i), Session: strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, m)
		readers.Go(func() {
			for range m.Out() {
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
	for _, m := range members {
		if m.Dropped() {
			b.Fatal("a socket was dropped: the readers did not keep up")
		}
		m.leave(false)
	}
	readers.Wait()
}

// BenchmarkRedisSend is the store-and-publish step: one Lua script that
// checks the nonce guard, numbers, appends, trims and publishes.
func BenchmarkRedisSend(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b)})
	defer rdb.Close()
	benchmarkSend(b, rdb)
}

// BenchmarkClusterSend is the same step on a Redis Cluster, where the
// script SPUBLISHes on the room's shard.
func BenchmarkClusterSend(b *testing.B) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.ClusterAddrs(b)})
	defer rdb.Close()
	benchmarkSend(b, rdb)
}

func benchmarkSend(b *testing.B, rdb redis.UniversalClient) {
	broker := NewRedisBroker(rdb, 100)
	defer broker.Close()
	ctx := context.Background()
	room := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	m := Message{Name: "ann", Text: "hello, this is a message of a usual length", Time: time.Now()}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := broker.Send(ctx, room, m, "s:"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisSendParallel is the same from many goroutines, as many
// sockets send at once: go-redis pipelines them over its pool.
func BenchmarkRedisSendParallel(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b)})
	defer rdb.Close()
	broker := NewRedisBroker(rdb, 100)
	defer broker.Close()
	room := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	m := Message{Name: "ann", Text: "hello, this is a message of a usual length", Time: time.Now()}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, _, err := broker.Send(ctx, room, m, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
