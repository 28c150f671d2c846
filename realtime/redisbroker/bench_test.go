package redisbroker

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit/redistest"
)

// BenchmarkRedisSend is the store-and-publish step: one Lua script that
// checks the nonce guard, numbers, appends, trims and publishes.
// redis-µs/op is Redis's own CPU per message.
func BenchmarkRedisSend(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b)})
	defer rdb.Close()
	before := redisMicros(b, rdb)
	benchmarkSend(b, rdb)
	b.StopTimer()
	b.ReportMetric((redisMicros(b, rdb)-before)/float64(b.N), "redis-µs/op")
}

// BenchmarkClusterSend is the same step on a Redis Cluster, where the
// script SPUBLISHes on the room's shard.
func BenchmarkClusterSend(b *testing.B) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.ClusterAddrs(b)})
	defer rdb.Close()
	benchmarkSend(b, rdb)
}

func benchmarkSend(b *testing.B, rdb redis.UniversalClient) {
	broker := New(rdb, 100)
	defer broker.Close()
	ctx := context.Background()
	room := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	m := realtime.Message{Name: "ann", Text: "hello, this is a message of a usual length", Time: time.Now()}
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
	broker := New(rdb, 100)
	defer broker.Close()
	room := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	m := realtime.Message{Name: "ann", Text: "hello, this is a message of a usual length", Time: time.Now()}
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
