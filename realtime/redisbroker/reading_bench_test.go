package redisbroker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit/redistest"
)

// redisMicros is the CPU Redis spent on commands so far, in µs, as INFO
// commandstats counts it.
func redisMicros(b *testing.B, rdb *redis.Client) float64 {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, line := range strings.Split(info, "\n") {
		_, rest, ok := strings.Cut(line, "usec=")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(rest[:strings.IndexByte(rest, ',')], 64)
		total += v
	}
	return total
}

// BenchmarkArrived is what every stored message costs Redis for unread
// counts and push (Broker.Arrived, the sender's read marker included), in
// a room that readers people have been in: redis-µs/op is Redis's own
// CPU per message. It must not grow with the readers.
func BenchmarkArrived(b *testing.B) {
	for _, readers := range []int{10, 1000} {
		for _, text := range []string{"a message without a mention", "@user7 a message with a mention"} {
			b.Run(fmt.Sprintf("readers=%d/mention=%v", readers, strings.HasPrefix(text, "@")), func(b *testing.B) {
				rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b)})
				defer rdb.Close()
				broker := New(rdb, 100)
				defer broker.Close()
				ctx := context.Background()
				room := fmt.Sprintf("bench-%d", time.Now().UnixNano())
				for i := range readers {
					if err := broker.MarkRead(ctx, room, "s:"+strconv.Itoa(i), "user"+strconv.Itoa(i), 0); err != nil {
						b.Fatal(err)
					}
				}
				m, _, err := broker.Send(ctx, room, realtime.Message{Name: "user0", Text: text, Time: time.Now()}, "")
				if err != nil {
					b.Fatal(err)
				}
				before := redisMicros(b, rdb)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := broker.Arrived(ctx, room, m, "s:0"); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric((redisMicros(b, rdb)-before)/float64(b.N), "redis-µs/op")
			})
		}
	}
}
